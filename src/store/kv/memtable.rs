//! The memtable: the newest writes, an ordered map of key → (seq, value or
//! tombstone) with its byte size, until it is frozen and written as a run.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use super::block::Entry;

/// RAM an entry costs beyond its key and value bytes (its share of a
/// B-tree node, the key's Vec and the value's Bytes headers).
pub const MEMTABLE_ENTRY_OVERHEAD_BYTES: usize = 64;

#[derive(Debug, Clone)]
pub struct MemValue {
    pub seq: u64,
    /// None: a tombstone.
    pub value: Option<Bytes>,
}

#[derive(Default)]
pub struct Memtable {
    map: BTreeMap<Vec<u8>, MemValue>,
    bytes: usize,
    frozen: bool,
}

fn cost(key: &[u8], v: &MemValue) -> usize {
    MEMTABLE_ENTRY_OVERHEAD_BYTES + key.len() + v.value.as_ref().map_or(0, |b| b.len())
}

impl Memtable {
    pub fn put(&mut self, key: &[u8], seq: u64, value: Option<Bytes>) {
        assert!(!self.frozen, "write to a frozen memtable");
        let v = MemValue { seq, value };
        self.bytes += cost(key, &v);
        if let Some(old) = self.map.insert(key.to_vec(), v) {
            debug_assert!(old.seq <= seq, "seq went back for a key");
            self.bytes -= cost(key, &old);
        }
    }

    pub fn get(&self, key: &[u8]) -> Option<&MemValue> {
        self.map.get(key)
    }

    /// The first entry at or after `from` (after it when `!inclusive`).
    pub fn first_from(&self, from: &[u8], inclusive: bool) -> Option<Entry> {
        let lower = if inclusive {
            Bound::Included(from)
        } else {
            Bound::Excluded(from)
        };
        let (k, v) = self
            .map
            .range::<[u8], _>((lower, Bound::Unbounded))
            .next()?;
        Some(Entry {
            key: k.clone(),
            seq: v.seq,
            value: v.value.clone(),
        })
    }

    /// RAM the entries take (an estimate: see `MEMTABLE_ENTRY_OVERHEAD_BYTES`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// No more writes: it is about to become a run.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_write_wins_and_bytes_follow_the_contents() {
        let mut m = Memtable::default();
        m.put(b"a", 1, Some(Bytes::from_static(b"one")));
        m.put(b"b", 2, None);
        let before = m.bytes();
        assert_eq!(before, 2 * MEMTABLE_ENTRY_OVERHEAD_BYTES + 2 + 3);
        m.put(b"a", 3, Some(Bytes::from_static(b"three")));
        assert_eq!(m.bytes(), before + 2);
        assert_eq!(
            m.get(b"a").and_then(|v| v.value.clone()).as_deref(),
            Some(&b"three"[..])
        );
        assert!(m.get(b"b").expect("tombstone").value.is_none());
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn first_from_seeks() {
        let mut m = Memtable::default();
        for k in [&b"b"[..], b"d", b"f"] {
            m.put(k, 1, Some(Bytes::new()));
        }
        assert_eq!(m.first_from(b"", true).expect("b").key, b"b");
        assert_eq!(m.first_from(b"b", false).expect("d").key, b"d");
        assert_eq!(m.first_from(b"c", true).expect("d").key, b"d");
        assert!(m.first_from(b"f", false).is_none());
    }
}
