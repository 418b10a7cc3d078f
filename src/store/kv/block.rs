//! Data blocks: prefix-compressed sorted entries in a 4 KiB block (or, for
//! one entry too large for a block, a span of whole blocks of its own),
//! ending in a trailer with the payload length, the entry count and a
//! CRC32C over everything before the CRC.
//!
//! Entry: varint shared-prefix length, varint suffix length, varint value
//! tag (0 = tombstone, n + 1 = a value of n bytes), varint seq, suffix,
//! value.

use std::path::Path;

use bytes::Bytes;

use super::codec::{corrupt, le_u32_at, put_varint, varint_len, Reader};
use crate::store::align::{align_up, AlignedBuf, BLOCK_BYTES};
use crate::store::types::StoreError;

/// Payload length u32, entry count u32, CRC32C u32.
pub const BLOCK_TRAILER_BYTES: usize = 12;
/// Entry bytes a single 4 KiB block holds.
pub const BLOCK_PAYLOAD_BYTES: usize = BLOCK_BYTES - BLOCK_TRAILER_BYTES;
/// Longest key the kv layer stores (an S3 key of 1024 bytes escaped, plus
/// the index's table prefix and suffixes, fits with room to spare).
pub const MAX_KEY_BYTES: usize = 3 * 1024;
/// Longest value stored inline (larger index values are stored by the index
/// layer as a reference to their log record).
pub const MAX_VALUE_BYTES: usize = 512 * 1024;
/// Largest encoded entry: four varints, the key and the value.
pub const MAX_ENTRY_BYTES: usize = 4 * 10 + MAX_KEY_BYTES + MAX_VALUE_BYTES;
/// Largest block span (a block holding one maximal entry).
pub const MAX_SPAN_BYTES: usize = align_up(
    (MAX_ENTRY_BYTES + BLOCK_TRAILER_BYTES) as u64,
    BLOCK_BYTES as u64,
) as usize;

/// One key's newest state in a source: a value or a tombstone (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    /// The caller's sequence number of the write (its log record's).
    pub seq: u64,
    pub value: Option<Bytes>,
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Encoded size of an entry after a key sharing `shared` bytes with it.
fn entry_len(shared: usize, key: &[u8], seq: u64, value: Option<&[u8]>) -> usize {
    let suffix = key.len() - shared;
    let vlen = value.map_or(0, |v| v.len());
    let tag = value.map_or(0, |v| v.len() as u64 + 1);
    varint_len(shared as u64)
        + varint_len(suffix as u64)
        + varint_len(tag)
        + varint_len(seq)
        + suffix
        + vlen
}

/// Builds one block from entries added in strictly increasing key order.
#[derive(Default)]
pub struct BlockBuilder {
    payload: Vec<u8>,
    last_key: Vec<u8>,
    count: u32,
}

impl BlockBuilder {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn last_key(&self) -> &[u8] {
        &self.last_key
    }

    /// Whether the entry fits this block; an empty block takes any entry
    /// (one too large for a block gets a span of its own).
    pub fn fits(&self, key: &[u8], seq: u64, value: Option<&[u8]>) -> bool {
        let shared = common_prefix(&self.last_key, key);
        self.is_empty()
            || self.payload.len() + entry_len(shared, key, seq, value) <= BLOCK_PAYLOAD_BYTES
    }

    pub fn add(&mut self, key: &[u8], seq: u64, value: Option<&[u8]>) {
        assert!(key.len() <= MAX_KEY_BYTES, "key of {} bytes", key.len());
        assert!(value.is_none_or(|v| v.len() <= MAX_VALUE_BYTES));
        debug_assert!(
            self.is_empty() || key > self.last_key.as_slice(),
            "keys out of order"
        );
        debug_assert!(self.fits(key, seq, value));
        let shared = if self.is_empty() {
            0
        } else {
            common_prefix(&self.last_key, key)
        };
        let before = self.payload.len();
        put_varint(&mut self.payload, shared as u64);
        put_varint(&mut self.payload, (key.len() - shared) as u64);
        put_varint(&mut self.payload, value.map_or(0, |v| v.len() as u64 + 1));
        put_varint(&mut self.payload, seq);
        self.payload.extend_from_slice(&key[shared..]);
        self.payload.extend_from_slice(value.unwrap_or_default());
        debug_assert_eq!(
            self.payload.len() - before,
            entry_len(shared, key, seq, value)
        );
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.count += 1;
    }

    /// Bytes the finished block takes on disk.
    pub fn span_bytes(&self) -> usize {
        align_up(
            (self.payload.len() + BLOCK_TRAILER_BYTES) as u64,
            BLOCK_BYTES as u64,
        ) as usize
    }

    /// Appends the finished block (payload, zero padding, trailer) to `out`
    /// and empties the builder.
    pub fn finish_into(&mut self, out: &mut AlignedBuf) {
        debug_assert!(!self.is_empty());
        let span = self.span_bytes();
        debug_assert!(span <= MAX_SPAN_BYTES && span <= out.remaining());
        let start = out.len();
        out.extend_from_slice(&self.payload);
        let mut pad = span - self.payload.len() - BLOCK_TRAILER_BYTES;
        while pad > 0 {
            let n = pad.min(BLOCK_BYTES);
            out.extend_from_slice(&[0u8; BLOCK_BYTES][..n]);
            pad -= n;
        }
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        let crc = crc32c::crc32c(&out.as_slice()[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        debug_assert_eq!(out.len() - start, span);
        self.payload.clear();
        self.last_key.clear();
        self.count = 0;
    }
}

/// Checks a block span's CRC and trailer; returns its payload length and
/// entry count. `offset` (the span's place in `path`) is for the error.
pub fn verify_block(span: &[u8], path: &Path, offset: u64) -> Result<(usize, u32), StoreError> {
    let n = span.len();
    if n < BLOCK_BYTES || !n.is_multiple_of(BLOCK_BYTES) || n > MAX_SPAN_BYTES {
        return Err(corrupt(path, offset, "index block has a bad length"));
    }
    if crc32c::crc32c(&span[..n - 4]) != le_u32_at(span, n - 4) {
        return Err(corrupt(path, offset, "index block fails its CRC"));
    }
    let payload = le_u32_at(span, n - BLOCK_TRAILER_BYTES) as usize;
    let count = le_u32_at(span, n - 8);
    if payload > n - BLOCK_TRAILER_BYTES || count == 0 {
        return Err(corrupt(path, offset, "index block trailer out of range"));
    }
    Ok((payload, count))
}

/// Walks the entries of a verified block in order.
pub struct BlockIter<'a> {
    block: &'a Bytes,
    reader: Reader<'a>,
    left: u32,
    path: &'a Path,
    offset: u64,
}

impl<'a> BlockIter<'a> {
    pub fn new(block: &'a Bytes, path: &'a Path, offset: u64) -> Result<Self, StoreError> {
        let (payload, count) = verify_block(block, path, offset)?;
        Ok(BlockIter {
            block,
            reader: Reader::new(&block[..payload]),
            left: count,
            path,
            offset,
        })
    }

    /// The next entry: its key replaces `key`'s contents; returns (seq,
    /// value). None after the last entry.
    pub fn next_into(
        &mut self,
        key: &mut Vec<u8>,
    ) -> Result<Option<(u64, Option<Bytes>)>, StoreError> {
        if self.left == 0 {
            if !self.reader.is_empty() {
                return Err(self.bad("index block has bytes after its last entry"));
            }
            return Ok(None);
        }
        let first = self.reader.pos() == 0;
        let (shared, suffix, tag, seq) = (|| {
            let r = &mut self.reader;
            Some((
                r.len_at_most(MAX_KEY_BYTES)?,
                r.len_at_most(MAX_KEY_BYTES)?,
                r.varint()?,
                r.varint()?,
            ))
        })()
        .ok_or_else(|| self.bad("index entry header truncated"))?;
        if shared > key.len() || (first && shared != 0) || shared + suffix > MAX_KEY_BYTES {
            return Err(self.bad("index entry prefix out of range"));
        }
        let prev_len = key.len();
        let suffix = self
            .reader
            .take(suffix)
            .ok_or_else(|| self.bad("index key truncated"))?;
        let ordered = first
            || suffix
                .first()
                .is_some_and(|&b| shared == prev_len || b > key[shared]);
        if !ordered {
            return Err(self.bad("index keys out of order in a block"));
        }
        key.truncate(shared);
        key.extend_from_slice(suffix);
        let value = match tag {
            0 => None,
            t => {
                let len = usize::try_from(t - 1)
                    .ok()
                    .filter(|&n| n <= MAX_VALUE_BYTES);
                let len = len.ok_or_else(|| self.bad("index value length out of range"))?;
                let start = self.reader.pos();
                self.reader
                    .take(len)
                    .ok_or_else(|| self.bad("index value truncated"))?;
                Some(self.block.slice(start..start + len))
            }
        };
        self.left -= 1;
        Ok(Some((seq, value)))
    }

    fn bad(&self, what: &'static str) -> StoreError {
        corrupt(self.path, self.offset, what)
    }
}

/// Every entry of a block span, in order.
pub fn decode_block(block: &Bytes, path: &Path, offset: u64) -> Result<Vec<Entry>, StoreError> {
    let mut it = BlockIter::new(block, path, offset)?;
    let mut out = Vec::new();
    let mut key = Vec::new();
    while let Some((seq, value)) = it.next_into(&mut key)? {
        out.push(Entry {
            key: key.clone(),
            seq,
            value,
        });
    }
    Ok(out)
}

/// The entry for `want` in a block span, if the block holds it.
pub fn find_in_block(
    block: &Bytes,
    path: &Path,
    offset: u64,
    want: &[u8],
) -> Result<Option<Entry>, StoreError> {
    let mut it = BlockIter::new(block, path, offset)?;
    let mut key = Vec::with_capacity(want.len());
    while let Some((seq, value)) = it.next_into(&mut key)? {
        match key.as_slice().cmp(want) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Equal => return Ok(Some(Entry { key, seq, value })),
            std::cmp::Ordering::Greater => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (key, seq, value or tombstone)
    type TestEntry<'a> = (&'a [u8], u64, Option<&'a [u8]>);

    fn build(entries: &[TestEntry]) -> Bytes {
        let mut b = BlockBuilder::default();
        for (k, s, v) in entries {
            assert!(b.fits(k, *s, *v));
            b.add(k, *s, *v);
        }
        let mut out = AlignedBuf::new(b.span_bytes());
        b.finish_into(&mut out);
        assert!(b.is_empty());
        out.into_bytes()
    }

    const P: &str = "/test/run";

    #[test]
    fn entries_round_trip_with_prefixes_and_tombstones() {
        let entries: [TestEntry; 5] = [
            (b"", 1, Some(b"empty key")),
            (b"apple", 2, Some(b"")),
            (b"apples", 3, None),
            (b"apricot", 9, Some(b"v")),
            (b"b", u64::MAX, Some(&[0xff; 100])),
        ];
        let block = build(&entries);
        assert_eq!(block.len(), BLOCK_BYTES);
        let got = decode_block(&block, Path::new(P), 0).expect("decode");
        assert_eq!(got.len(), entries.len());
        for (g, (k, s, v)) in got.iter().zip(entries) {
            assert_eq!((g.key.as_slice(), g.seq, g.value.as_deref()), (k, s, v));
        }
        for (k, s, v) in entries {
            let e = find_in_block(&block, Path::new(P), 0, k)
                .expect("find")
                .expect("present");
            assert_eq!((e.seq, e.value.as_deref()), (s, v));
        }
        for absent in [&b"a"[..], b"applf", b"c", b"apple\0"] {
            assert_eq!(
                find_in_block(&block, Path::new(P), 0, absent).expect("find"),
                None
            );
        }
    }

    #[test]
    fn a_full_block_refuses_the_next_entry_and_a_large_one_gets_a_span() {
        let mut b = BlockBuilder::default();
        let mut i = 0u32;
        let value = [7u8; 100];
        while b.fits(&i.to_be_bytes(), 1, Some(&value)) {
            b.add(&i.to_be_bytes(), 1, Some(&value));
            i += 1;
        }
        assert!(i > 30, "{i} entries of ~110 bytes in 4 KiB");
        assert_eq!(b.span_bytes(), BLOCK_BYTES);
        let big = vec![1u8; 3 * BLOCK_BYTES];
        let block = build(&[(&b"k"[..], 5, Some(&big[..]))]);
        assert_eq!(block.len(), 4 * BLOCK_BYTES);
        let got = decode_block(&block, Path::new(P), 0).expect("decode");
        assert_eq!(got[0].value.as_deref(), Some(&big[..]));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let block = build(&[
            (&b"alpha"[..], 1, Some(&b"one"[..])),
            (&b"beta"[..], 2, None),
        ]);
        for at in 0..block.len() {
            let mut bad = block.to_vec();
            bad[at] ^= 0x5a;
            let bad = Bytes::from(bad);
            assert!(
                matches!(
                    decode_block(&bad, Path::new(P), 4096),
                    Err(StoreError::Corrupt { offset: 4096, .. })
                ),
                "flip at {at} undetected"
            );
        }
    }

    #[test]
    fn bad_lengths_are_refused() {
        for len in [0, 100, BLOCK_BYTES + 1] {
            let b = Bytes::from(vec![0u8; len]);
            assert!(verify_block(&b, Path::new(P), 0).is_err(), "{len}");
        }
        // All zeros: the CRC of zeros is not zero.
        assert!(verify_block(&vec![0u8; BLOCK_BYTES], Path::new(P), 0).is_err());
    }
}
