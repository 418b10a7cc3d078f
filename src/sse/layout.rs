//! Where the bytes of an encrypted object sit: pure arithmetic shared by the
//! store (stored sizes) and the server (which chunks a range needs).
//!
//! An encrypted stream (a whole PUT, or one multipart part) is a run of
//! chunks. Chunk `i` holds plaintext bytes `[i·C, min((i+1)·C, len))` as
//! `nonce (12) ‖ ciphertext ‖ tag (16)`; the last chunk may be short, and an
//! empty stream is one empty chunk (so its tag still authenticates "empty").
//! A multipart object is its parts' streams back to back, in part order.

/// Plaintext bytes per chunk.
pub const CHUNK_PLAIN_BYTES: u64 = 64 * 1024;
pub const NONCE_BYTES: u64 = 12;
pub const TAG_BYTES: u64 = 16;
/// Stored bytes a chunk adds to its plaintext.
pub const CHUNK_OVERHEAD_BYTES: u64 = NONCE_BYTES + TAG_BYTES;
/// Stored bytes of a full chunk.
pub const CHUNK_STORED_BYTES: u64 = CHUNK_PLAIN_BYTES + CHUNK_OVERHEAD_BYTES;

/// Chunks in a stream of `plain` bytes (at least one).
pub const fn chunk_count(plain: u64) -> u64 {
    if plain == 0 {
        1
    } else {
        plain.div_ceil(CHUNK_PLAIN_BYTES)
    }
}

/// Stored bytes of a stream of `plain` plaintext bytes (saturating: no
/// object comes near, but a damaged length must not overflow).
pub const fn stored_len(plain: u64) -> u64 {
    plain.saturating_add(chunk_count(plain) * CHUNK_OVERHEAD_BYTES)
}

/// The plaintext length of a stream of `stored` bytes, or `None` if no
/// plaintext length encrypts to exactly that many bytes.
pub fn plain_len(stored: u64) -> Option<u64> {
    let chunks = stored.div_ceil(CHUNK_STORED_BYTES).max(1);
    let plain = stored.checked_sub(chunks * CHUNK_OVERHEAD_BYTES)?;
    (stored_len(plain) == stored).then_some(plain)
}

/// One chunk to read and open: which stream (part) it is in, its index in
/// that stream, and its plaintext length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    pub index: u64,
    pub plain: u64,
    /// Last chunk of its stream (bound into the tag).
    pub last: bool,
}

impl ChunkRef {
    pub fn stored(&self) -> u64 {
        self.plain + CHUNK_OVERHEAD_BYTES
    }
}

/// The chunks that cover plaintext `[start, end)` of an object whose streams
/// have plaintext sizes `parts`, and where they are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Stored byte range to read: `[stored_start, stored_end)`.
    pub stored_start: u64,
    pub stored_end: u64,
    /// Plaintext bytes to drop from the first chunk.
    pub skip: u64,
    /// The chunks in stored order.
    pub chunks: Vec<ChunkRef>,
}

/// Plans the read of plaintext `[start, end)`; `parts` are the plaintext
/// sizes of the object's streams (one entry for a single PUT).
/// `start < end <= sum(parts)` is the caller's to ensure.
pub fn window(parts: &[u64], start: u64, end: u64) -> Window {
    debug_assert!(start < end, "an empty read needs no window");
    debug_assert!(end <= parts.iter().sum::<u64>(), "read past the object");
    let mut w = Window {
        stored_start: 0,
        stored_end: 0,
        skip: 0,
        chunks: Vec::new(),
    };
    let (mut plain_at, mut stored_at) = (0u64, 0u64);
    let mut started = false;
    for &part in parts {
        let part_end = plain_at + part;
        if part_end <= start {
            plain_at = part_end;
            stored_at += stored_len(part);
            continue;
        }
        let count = chunk_count(part);
        let first = if started {
            0
        } else {
            (start - plain_at) / CHUNK_PLAIN_BYTES
        };
        for index in first..count {
            let chunk_start = plain_at + index * CHUNK_PLAIN_BYTES;
            if chunk_start >= end {
                break;
            }
            let plain = CHUNK_PLAIN_BYTES.min(part - index * CHUNK_PLAIN_BYTES);
            if !started {
                started = true;
                w.stored_start = stored_at + index * CHUNK_STORED_BYTES;
                w.skip = start - chunk_start;
            }
            w.chunks.push(ChunkRef {
                index,
                plain,
                last: index + 1 == count,
            });
            w.stored_end = stored_at + index * CHUNK_STORED_BYTES + plain + CHUNK_OVERHEAD_BYTES;
        }
        plain_at = part_end;
        stored_at += stored_len(part);
        if plain_at >= end {
            break;
        }
    }
    debug_assert!(started, "a non-empty range covers at least one chunk");
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const C: u64 = CHUNK_PLAIN_BYTES;

    #[test]
    fn sizes() {
        assert_eq!(stored_len(0), 28);
        assert_eq!(stored_len(1), 29);
        assert_eq!(stored_len(C), C + 28);
        assert_eq!(stored_len(C + 1), C + 1 + 56);
        for p in [0, 1, 100, C - 1, C, C + 1, 5 * C, 5 * C + 7] {
            assert_eq!(plain_len(stored_len(p)), Some(p), "{p}");
        }
        // Lengths no plaintext encrypts to.
        for s in [0, 27, C + 29, C + 28 + 28] {
            assert_eq!(plain_len(s), None, "{s}");
        }
    }

    #[test]
    fn window_inside_one_chunk() {
        let w = window(&[10 * C], C + 5, C + 10);
        assert_eq!(w.stored_start, C + 28);
        assert_eq!(w.stored_end, 2 * (C + 28));
        assert_eq!(w.skip, 5);
        assert_eq!(
            w.chunks,
            vec![ChunkRef {
                index: 1,
                plain: C,
                last: false
            }]
        );
    }

    #[test]
    fn window_across_parts() {
        // Parts of 1.5 chunks and 1 chunk: chunks (0,C),(1,C/2,last),(0,C,last).
        let parts = [C + C / 2, C];
        let w = window(&parts, C + 1, C + C / 2 + 3);
        assert_eq!(w.stored_start, C + 28);
        assert_eq!(w.stored_end, stored_len(C + C / 2) + C + 28);
        assert_eq!(w.skip, 1);
        assert_eq!(w.chunks.len(), 2);
        assert!(w.chunks[0].last && w.chunks[1].last);
        assert_eq!(w.chunks[1].index, 0);
    }

    #[test]
    fn window_skips_empty_parts() {
        let parts = [0, 5, 0, 5];
        let w = window(&parts, 0, 10);
        assert_eq!(w.stored_start, 28, "the empty first part is not read");
        assert_eq!(
            w.chunks.iter().map(|c| c.plain).collect::<Vec<_>>(),
            [5, 0, 5]
        );
        assert_eq!(w.stored_end, 28 + 33 + 28 + 33);
    }

    proptest! {
        #[test]
        fn window_matches_a_chunk_walk(
            parts in proptest::collection::vec(0u64..4 * C, 1..5),
            a in any::<u64>(), b in any::<u64>(),
        ) {
            let total: u64 = parts.iter().sum();
            prop_assume!(total > 0);
            let (mut s, mut e) = (a % total, b % total + 1);
            if s >= e { std::mem::swap(&mut s, &mut e); s = s.min(e - 1); }
            prop_assume!(s < e);
            // Reference: every chunk with its plaintext and stored offsets.
            let mut all = Vec::new();
            let (mut p, mut st) = (0u64, 0u64);
            for &part in &parts {
                let n = chunk_count(part);
                for i in 0..n {
                    let plain = C.min(part - i * C);
                    all.push((p, st, ChunkRef { index: i, plain, last: i + 1 == n }));
                    p += plain;
                    st += plain + 28;
                }
            }
            prop_assert_eq!(st, parts.iter().map(|&x| stored_len(x)).sum::<u64>());
            let want: Vec<_> = all.iter()
                .filter(|(p0, _, c)| *p0 < e && p0 + c.plain > s)
                .collect();
            let w = window(&parts, s, e);
            prop_assert_eq!(w.chunks.clone(), want.iter().map(|x| x.2).collect::<Vec<_>>());
            prop_assert_eq!(w.stored_start, want[0].1);
            prop_assert_eq!(w.skip, s - want[0].0);
            let last = want[want.len() - 1];
            prop_assert_eq!(w.stored_end, last.1 + last.2.stored());
        }
    }
}
