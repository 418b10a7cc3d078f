//! Sealing a plaintext stream into AES-256-GCM chunks and opening a run of
//! stored chunks back into plaintext (`layout.rs` has the format).
//!
//! Nonces are random (96 bits) rather than counters: a multipart upload's
//! parts share the object's data key, and a part may be uploaded again
//! under the same number, so a counter would repeat. At 2^26 chunks per
//! 5 TiB object the chance of a repeat is below 2^-45. The additional data
//! binds each chunk to its index and to whether it ends its stream, so
//! chunks cannot be reordered, and a stream cannot be cut at a chunk
//! boundary, without failing authentication.

use super::layout::{ChunkRef, CHUNK_PLAIN_BYTES, NONCE_BYTES, TAG_BYTES};
use bytes::{BufMut, Bytes, BytesMut};
use ring::aead::{Aad, LessSafeKey, Nonce, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::VecDeque;

const C: usize = CHUNK_PLAIN_BYTES as usize;
const N: usize = NONCE_BYTES as usize;
const T: usize = TAG_BYTES as usize;

fn aad(index: u64, last: bool) -> [u8; 9] {
    let mut a = [0u8; 9];
    a[..8].copy_from_slice(&index.to_le_bytes());
    a[8] = last as u8;
    a
}

/// Encrypts one stream. Plaintext goes straight into the buffer it is
/// sealed in (after room for the nonce), so each byte is copied once.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
    /// `nonce room ‖ plaintext` of the chunk being filled.
    pending: BytesMut,
    index: u64,
}

/// Why a chunk could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// The OS random source failed (no nonce).
    Random,
    /// A chunk failed authentication: wrong key, or damaged data.
    Authentication,
    /// The stored bytes ended before, or ran past, the planned chunks.
    Length,
}

/// First chunk's starting room: small bodies (most PUTs) do not pay for a
/// 64 KiB buffer; a larger one grows it once, and later chunks start full size.
const FIRST_CHUNK_ROOM: usize = 4096;

impl Sealer {
    pub fn new(key: LessSafeKey) -> Sealer {
        Sealer {
            key,
            rng: SystemRandom::new(),
            pending: chunk_buffer(FIRST_CHUNK_ROOM),
            index: 0,
        }
    }

    /// Adds plaintext; appends to `out` each chunk it completes. A full
    /// chunk is sealed only when a byte past it arrives, because the last
    /// chunk of the stream is marked as such.
    pub fn push(&mut self, mut plain: &[u8], out: &mut Vec<Bytes>) -> Result<(), ChunkError> {
        while !plain.is_empty() {
            if self.pending.len() == N + C {
                let chunk = self.seal(false, chunk_buffer(C))?;
                out.push(chunk);
            }
            let room = N + C - self.pending.len();
            let take = room.min(plain.len());
            self.pending.put_slice(&plain[..take]);
            plain = &plain[take..];
        }
        Ok(())
    }

    /// Seals the last chunk (possibly empty).
    pub fn finish(mut self) -> Result<Bytes, ChunkError> {
        self.seal(true, BytesMut::new())
    }

    /// Seals the pending chunk; `next` becomes the one to fill.
    fn seal(&mut self, last: bool, next: BytesMut) -> Result<Bytes, ChunkError> {
        let mut buf = std::mem::replace(&mut self.pending, next);
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| ChunkError::Random)?;
        buf[..N].copy_from_slice(&nonce);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(self.index, last)),
                &mut buf[N..],
            )
            .map_err(|_| ChunkError::Authentication)?;
        buf.put_slice(tag.as_ref());
        self.index += 1;
        Ok(buf.freeze())
    }
}

/// A buffer for a chunk of up to `plain` bytes (it grows if more come):
/// room for the nonce, the plaintext and the tag.
fn chunk_buffer(plain: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(N + plain + T);
    b.put_bytes(0, N);
    b
}

/// Decrypts a planned run of stored chunks (`layout::window`) fed in
/// pieces of any size, and yields the plaintext of `[skip, skip + want)`.
pub struct Opener {
    key: LessSafeKey,
    chunks: VecDeque<ChunkRef>,
    buf: BytesMut,
    skip: u64,
    want: u64,
}

impl Opener {
    pub fn new(key: LessSafeKey, chunks: Vec<ChunkRef>, skip: u64, want: u64) -> Opener {
        Opener {
            key,
            chunks: chunks.into(),
            buf: BytesMut::new(),
            skip,
            want,
        }
    }

    /// Adds stored bytes; appends to `out` the plaintext of the chunks
    /// they complete — all of them as one piece, so a response goes out in
    /// as few sends as an unencrypted one (pieces of up to a log record).
    pub fn push(&mut self, stored: &[u8], out: &mut VecDeque<Bytes>) -> Result<(), ChunkError> {
        self.buf.extend_from_slice(stored);
        // Open every complete chunk in place, each plaintext moved down to
        // follow the previous one (`open_within`), so they end up contiguous.
        let (mut read, mut written) = (0usize, 0usize);
        while let Some(chunk) = self.chunks.front().copied() {
            let need = chunk.stored() as usize;
            if self.buf.len() - read < need {
                break;
            }
            let mut nonce = [0u8; NONCE_LEN];
            nonce.copy_from_slice(&self.buf[read..read + N]);
            let plain = self
                .key
                .open_within(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad(chunk.index, chunk.last)),
                    &mut self.buf[written..read + need],
                    (read + N - written)..,
                )
                .map_err(|_| ChunkError::Authentication)?
                .len();
            debug_assert_eq!(plain as u64, chunk.plain);
            self.chunks.pop_front();
            written += plain;
            read += need;
        }
        if self.chunks.is_empty() && self.buf.len() > read {
            return Err(ChunkError::Length);
        }
        if read == 0 {
            return Ok(());
        }
        let mut plain = self.buf.split_to(read).freeze().slice(..written);
        let skip = self.skip.min(plain.len() as u64) as usize;
        self.skip -= skip as u64;
        let _ = plain.split_to(skip);
        plain.truncate(self.want.min(plain.len() as u64) as usize);
        self.want -= plain.len() as u64;
        if !plain.is_empty() {
            out.push_back(plain);
        }
        Ok(())
    }

    /// Checks that every planned chunk arrived and every wanted byte went out.
    pub fn finish(&self) -> Result<(), ChunkError> {
        if self.chunks.is_empty() && self.buf.is_empty() && self.want == 0 {
            Ok(())
        } else {
            Err(ChunkError::Length)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{stored_len, window};
    use super::*;
    use ring::aead::{UnboundKey, AES_256_GCM};

    fn key(b: u8) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[b; 32]).expect("key"))
    }

    fn seal_stream(plain: &[u8], piece: usize) -> Vec<u8> {
        let mut s = Sealer::new(key(7));
        let mut out = Vec::new();
        for p in plain.chunks(piece.max(1)) {
            s.push(p, &mut out).expect("seal");
        }
        out.push(s.finish().expect("seal"));
        out.concat()
    }

    fn open_range(
        parts: &[u64],
        stored: &[u8],
        start: u64,
        end: u64,
        piece: usize,
        k: u8,
    ) -> Result<Vec<u8>, ChunkError> {
        let w = window(parts, start, end);
        let mut o = Opener::new(key(k), w.chunks, w.skip, end - start);
        let mut out = VecDeque::new();
        for p in stored[w.stored_start as usize..w.stored_end as usize].chunks(piece) {
            o.push(p, &mut out)?;
        }
        o.finish()?;
        Ok(out.into_iter().flat_map(|b| b.to_vec()).collect())
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_whole_and_ranges() {
        for n in [0, 1, 100, C - 1, C, C + 1, 3 * C + 17] {
            let plain = data(n);
            let stored = seal_stream(&plain, 1000);
            assert_eq!(stored.len() as u64, stored_len(n as u64), "{n}");
            if n == 0 {
                continue;
            }
            let got = open_range(&[n as u64], &stored, 0, n as u64, 4096, 7).expect("open");
            assert_eq!(got, plain, "{n}");
            let (a, b) = (n as u64 / 3, (2 * n as u64 / 3).max(n as u64 / 3 + 1));
            let got = open_range(&[n as u64], &stored, a, b, 777, 7).expect("open");
            assert_eq!(got, &plain[a as usize..b as usize]);
        }
    }

    #[test]
    fn parts_back_to_back() {
        let (a, b) = (data(C + 10), data(5));
        let mut stored = seal_stream(&a, 4096);
        stored.extend(seal_stream(&b, 4096));
        let all: Vec<u8> = [a.clone(), b.clone()].concat();
        let parts = [a.len() as u64, b.len() as u64];
        let got = open_range(&parts, &stored, 3, all.len() as u64, 65536, 7).expect("open");
        assert_eq!(got, &all[3..]);
    }

    #[test]
    fn wrong_key_and_tampering_fail() {
        let plain = data(2 * C);
        let stored = seal_stream(&plain, C);
        let n = plain.len() as u64;
        assert_eq!(
            open_range(&[n], &stored, 0, n, 4096, 8),
            Err(ChunkError::Authentication)
        );
        let mut bad = stored.clone();
        bad[N + 5] ^= 1;
        assert_eq!(
            open_range(&[n], &bad, 0, n, 4096, 7),
            Err(ChunkError::Authentication)
        );
        // Swapping the two chunks fails: the index and last flag are bound.
        let cs = C + N + T;
        let swapped = [&stored[cs..], &stored[..cs]].concat();
        assert_eq!(
            open_range(&[n], &swapped, 0, n, 4096, 7),
            Err(ChunkError::Authentication)
        );
        // Cutting the stream after its first chunk fails: that chunk is not marked last.
        assert_eq!(
            open_range(&[C as u64], &stored[..cs], 0, C as u64, 4096, 7),
            Err(ChunkError::Authentication)
        );
    }

    proptest::proptest! {
        /// Whatever bytes arrive, in whatever pieces, against whatever plan,
        /// the opener answers Ok or an error; it never panics.
        #[test]
        fn opener_never_panics_on_garbage(
            parts in proptest::collection::vec(0u64..3 * C as u64, 1..4),
            a in proptest::prelude::any::<u64>(),
            b in proptest::prelude::any::<u64>(),
            stored in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..(3 * C)),
            piece in 1usize..70_000,
        ) {
            let total: u64 = parts.iter().sum();
            proptest::prop_assume!(total > 0);
            let (s, e) = (a % total, b % total + 1);
            proptest::prop_assume!(s < e);
            let w = window(&parts, s, e);
            let mut o = Opener::new(key(7), w.chunks, w.skip, e - s);
            let mut out = VecDeque::new();
            let mut failed = false;
            for p in stored.chunks(piece) {
                if o.push(p, &mut out).is_err() {
                    failed = true;
                    break;
                }
            }
            // Random bytes never authenticate: nothing is accepted as plaintext.
            proptest::prop_assert!(failed || o.finish().is_err() || stored.is_empty() && out.is_empty());
        }
    }

    #[test]
    fn nonces_differ_between_streams() {
        let a = seal_stream(b"same", 10);
        let b = seal_stream(b"same", 10);
        assert_ne!(a, b);
    }
}
