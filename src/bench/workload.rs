//! What each connection does next: the operation, the key, the object size,
//! and the object's bytes — all deterministic from the key, so `--verify`
//! needs no record of what was written.

use super::config::{OpKind, WorkloadKind};
use bytes::Bytes;

/// Pattern bytes shared by all objects; an object is a window into it.
pub const PATTERN_BYTES: usize = 1 << 20;
/// Distinct window offsets, so neighbouring keys differ in content.
const PATTERN_OFFSETS: u64 = 4093;

/// xorshift64*: fast, seedable, good enough to pick keys and operations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is negligible for our n.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }
}

/// Picks from weighted entries.
fn pick<T: Copy>(entries: &[(T, u32)], roll: u64) -> T {
    let total: u64 = entries.iter().map(|e| u64::from(e.1)).sum();
    let mut r = roll % total;
    for &(v, w) in entries {
        if r < u64::from(w) {
            return v;
        }
        r -= u64::from(w);
    }
    unreachable!("roll below total weight")
}

fn mix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The immutable description of a run, shared by every connection.
pub struct Workload {
    pub kind: WorkloadKind,
    pub mix: Vec<(OpKind, u32)>,
    pub sizes: Vec<(u64, u32)>,
    pub objects: u64,
    pub prefix: String,
    pattern: Bytes,
}

impl Workload {
    pub fn new(
        kind: WorkloadKind,
        mix: Vec<(OpKind, u32)>,
        sizes: Vec<(u64, u32)>,
        objects: u64,
        prefix: String,
    ) -> Workload {
        assert!(objects > 0, "at least one object");
        let mut rng = Rng::new(0x5EED);
        let mut pattern = Vec::with_capacity(PATTERN_BYTES + PATTERN_OFFSETS as usize);
        while pattern.len() < PATTERN_BYTES + PATTERN_OFFSETS as usize {
            pattern.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        Workload {
            kind,
            mix,
            sizes,
            objects,
            prefix,
            pattern: Bytes::from(pattern),
        }
    }

    /// The next operation a connection performs.
    pub fn next_op(&self, rng: &mut Rng) -> OpKind {
        match self.kind {
            WorkloadKind::Put => OpKind::Put,
            WorkloadKind::Get => OpKind::Get,
            WorkloadKind::Delete => OpKind::Delete,
            WorkloadKind::List => OpKind::List,
            WorkloadKind::Mixed => pick(&self.mix, rng.next_u64()),
        }
    }

    pub fn key(&self, index: u64) -> String {
        format!("{}{index:08x}", self.prefix)
    }

    /// The size of object `index`, fixed by the index.
    pub fn size_of(&self, index: u64) -> u64 {
        pick(&self.sizes, mix64(index))
    }

    /// The largest size the distribution can produce.
    pub fn max_size(&self) -> u64 {
        self.sizes.iter().map(|s| s.0).max().unwrap_or(0)
    }

    /// The body of object `index`: a zero-copy window into the pattern when
    /// it fits, otherwise the pattern repeated.
    pub fn body_of(&self, index: u64) -> Bytes {
        let size = self.size_of(index) as usize;
        let offset = (mix64(index ^ 0xB0D1) % PATTERN_OFFSETS) as usize;
        if size <= PATTERN_BYTES {
            return self.pattern.slice(offset..offset + size);
        }
        let mut out = Vec::with_capacity(size);
        while out.len() < size {
            let take = (size - out.len()).min(PATTERN_BYTES);
            out.extend_from_slice(&self.pattern[offset..offset + take]);
        }
        Bytes::from(out)
    }

    /// Whether `got` is exactly object `index`'s content.
    pub fn verify(&self, index: u64, got: &[u8]) -> bool {
        let want = self.body_of(index);
        want.as_ref() == got
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(sizes: Vec<(u64, u32)>) -> Workload {
        let mix = vec![(OpKind::Get, 90), (OpKind::Put, 10)];
        Workload::new(WorkloadKind::Mixed, mix, sizes, 100, "p/".into())
    }

    #[test]
    fn content_is_deterministic_and_differs_between_keys() {
        let w = wl(vec![(4096, 1)]);
        assert_eq!(w.body_of(7), w.body_of(7));
        assert_ne!(w.body_of(7), w.body_of(8));
        assert!(w.verify(7, &w.body_of(7)));
        assert!(!w.verify(7, &w.body_of(8)));
        assert_eq!(w.body_of(3).len(), 4096);
        assert_eq!(w.key(255), "p/000000ff");
    }

    #[test]
    fn distribution_and_mix_follow_weights() {
        let w = wl(vec![(10, 70), (20, 30)]);
        let small = (0..10_000).filter(|&i| w.size_of(i) == 10).count();
        assert!((6_500..7_500).contains(&small), "{small}");
        let mut rng = Rng::new(1);
        let gets = (0..10_000)
            .filter(|_| w.next_op(&mut rng) == OpKind::Get)
            .count();
        assert!((8_700..9_300).contains(&gets), "{gets}");
        let big = wl(vec![(PATTERN_BYTES as u64 * 2 + 5, 1)]);
        assert_eq!(big.body_of(1).len(), PATTERN_BYTES * 2 + 5);
    }
}
