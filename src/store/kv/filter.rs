//! A run's Bloom filter: about `FILTER_BITS_PER_KEY` bits per key and
//! `FILTER_PROBES` probes (~1 % false positives), so a lookup of a key a run
//! does not hold reads nothing from it.
//!
//! Encoding: the probe count (one byte), then the bit array. The key hash
//! is part of the format: changing it means a new run format version.

/// Bits of filter per key.
pub const FILTER_BITS_PER_KEY: usize = 10;
/// Probes per key: ln 2 × bits per key, rounded down.
pub const FILTER_PROBES: u8 = 6;
/// Smallest bit array (an empty run still gets a valid filter).
const MIN_FILTER_BITS: usize = 64;
/// Most probes a stored filter may ask for.
const MAX_FILTER_PROBES: u8 = 30;

/// The key hash filters use: FNV-1a, then a 64-bit finaliser (MurmurHash3's
/// fmix64) so keys differing only in their last bytes spread over all bits.
pub fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Probe positions by double hashing (Kirsch–Mitzenmacher).
fn probes(hash: u64, k: u8, bits: u64) -> impl Iterator<Item = u64> {
    let h1 = hash & 0xffff_ffff;
    let h2 = (hash >> 32) | 1;
    (0..u64::from(k)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

/// Encodes a filter over the given key hashes.
pub fn build_filter(hashes: &[u64]) -> Vec<u8> {
    let bits = (hashes.len() * FILTER_BITS_PER_KEY)
        .max(MIN_FILTER_BITS)
        .next_multiple_of(8);
    let mut out = vec![0u8; 1 + bits / 8];
    out[0] = FILTER_PROBES;
    for &h in hashes {
        for bit in probes(h, FILTER_PROBES, bits as u64) {
            out[1 + (bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    out
}

/// A decoded filter, held in RAM while its run is open.
pub struct Filter {
    probes: u8,
    bits: Box<[u8]>,
}

impl Filter {
    /// None when the encoding is malformed.
    pub fn decode(b: &[u8]) -> Option<Filter> {
        let (&k, bits) = b.split_first()?;
        if k == 0 || k > MAX_FILTER_PROBES || bits.len() * 8 < MIN_FILTER_BITS {
            return None;
        }
        Some(Filter {
            probes: k,
            bits: bits.into(),
        })
    }

    /// False only when the key is certainly absent.
    pub fn may_contain(&self, hash: u64) -> bool {
        let nbits = self.bits.len() as u64 * 8;
        probes(hash, self.probes, nbits)
            .all(|bit| self.bits[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }

    pub fn bytes(&self) -> usize {
        self.bits.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(range: std::ops::Range<u32>) -> Vec<u64> {
        range
            .map(|i| key_hash(format!("bucket/key-{i:08}").as_bytes()))
            .collect()
    }

    #[test]
    fn every_added_key_is_found_and_few_others_are() {
        let added = keys(0..10_000);
        let f = Filter::decode(&build_filter(&added)).expect("decode");
        assert!(added.iter().all(|&h| f.may_contain(h)));
        let false_hits = keys(10_000..30_000)
            .iter()
            .filter(|&&h| f.may_contain(h))
            .count();
        // ~1 % expected at 10 bits per key; 2 % leaves room for the hash's luck.
        assert!(false_hits < 400, "{false_hits} false positives in 20000");
        assert_eq!(f.bytes(), 1 + 10_000 * FILTER_BITS_PER_KEY / 8);
    }

    #[test]
    fn an_empty_filter_is_valid_and_says_no() {
        let f = Filter::decode(&build_filter(&[])).expect("decode");
        assert!(!f.may_contain(key_hash(b"anything")));
    }

    #[test]
    fn malformed_encodings_are_refused() {
        assert!(Filter::decode(&[]).is_none());
        assert!(Filter::decode(&[0; 9]).is_none());
        assert!(Filter::decode(&[6; 4]).is_none());
        assert!(Filter::decode(&[31; 9]).is_none());
    }

    #[test]
    fn the_hash_is_stable() {
        // Stored filters depend on it: a change here needs a format bump.
        // Values computed independently (FNV-1a 64, then fmix64).
        assert_eq!(key_hash(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(key_hash(b"bucket/key"), 0xe2c6_c6cb_587f_f682);
    }
}
