//! Byte encodings shared by blocks, runs and manifests: LEB128 varints,
//! little-endian fixed integers and a bounds-checked reader over borrowed
//! bytes. A reader never panics on bad input; it reports `None` and the
//! caller turns that into a `StoreError::Corrupt` naming file and offset.

use std::path::Path;

use crate::store::types::StoreError;

/// Longest LEB128 encoding of a u64.
pub const MAX_VARINT_BYTES: usize = 10;

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over borrowed bytes; every read is bounds-checked.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..MAX_VARINT_BYTES {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            let bits = u64::from(b & 0x7f);
            if i == MAX_VARINT_BYTES - 1 && b > 1 {
                return None;
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A varint that must fit `usize` and be at most `max`.
    pub fn len_at_most(&mut self, max: usize) -> Option<usize> {
        let v = self.varint()?;
        usize::try_from(v).ok().filter(|&n| n <= max)
    }

    pub fn bytes(&mut self, max: usize) -> Option<&'a [u8]> {
        let n = self.len_at_most(max)?;
        self.take(n)
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

/// Reads a little-endian u32 at `at` (callers checked the length).
pub fn le_u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The error for index bytes that fail a check: which file, where, what.
pub fn corrupt(path: &Path, offset: u64, what: &'static str) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        offset,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        let values = [0, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX];
        for v in values {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Some(v));
            assert!(r.is_empty());
        }
    }

    #[test]
    fn truncated_and_overlong_varints_are_refused() {
        assert_eq!(Reader::new(&[0x80]).varint(), None);
        assert_eq!(Reader::new(&[0xff; 11]).varint(), None);
        // Ten bytes whose last carries more than u64's top bit.
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(Reader::new(&over).varint(), None);
    }

    #[test]
    fn reads_past_the_end_are_none() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u32(), None);
        assert_eq!(r.take(3), Some(&[1u8, 2, 3][..]));
        assert_eq!(r.take(1), None);
        assert_eq!(Reader::new(&[5, 1]).bytes(16), None);
        assert_eq!(Reader::new(&[1, 9]).bytes(0), None);
    }
}
