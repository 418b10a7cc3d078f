//! The per-shard in-memory index: bucket → key → latest committed object.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use super::record::Extent;
use super::types::{BucketId, ListItem, ObjectMeta};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub bucket: BucketId,
    pub key: String,
    pub version_id: u128,
    pub meta: ObjectMeta,
    pub extents: Vec<Extent>,
    pub commit_seq: u64,
}

impl ObjectEntry {
    /// Bytes of the object in the log: its size, or for an encrypted
    /// object the size of its ciphertext chunks.
    pub fn stored_len(&self) -> u64 {
        match self.meta.sse {
            None => self.meta.size,
            Some(_) => self.extents.iter().map(|x| x.payload_len as u64).sum(),
        }
    }
}

#[derive(Default)]
struct BucketIndex {
    keys: BTreeMap<String, Rc<ObjectEntry>>,
    bytes: u64,
}

#[derive(Default)]
pub struct Index {
    buckets: BTreeMap<BucketId, BucketIndex>,
}

/// The smallest string greater than every string that starts with `prefix`
/// (None when no such string exists). UTF-8 byte order is code point order,
/// so bumping the last char that can be bumped gives it.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut s = prefix.to_string();
    while let Some(c) = s.pop() {
        let mut next = c as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        if let Some(n) = char::from_u32(next) {
            s.push(n);
            return Some(s);
        }
    }
    None
}

/// The roll-up of `key` under `prefix`/`delimiter`, if any: `prefix..=first delimiter`.
fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

impl Index {
    /// Builds an index in bulk from entries sorted by (bucket, key), such as
    /// a checkpoint's; None if they are not strictly sorted.
    pub fn from_sorted(entries: Vec<Rc<ObjectEntry>>) -> Option<Index> {
        let sorted = entries
            .windows(2)
            .all(|w| (w[0].bucket, &w[0].key) < (w[1].bucket, &w[1].key));
        if !sorted {
            return None;
        }
        let mut index = Index::default();
        let mut rest = entries.as_slice();
        while let Some(first) = rest.first() {
            let n = rest.iter().take_while(|e| e.bucket == first.bucket).count();
            let (run, tail) = rest.split_at(n);
            let b = BucketIndex {
                keys: run.iter().map(|e| (e.key.clone(), e.clone())).collect(),
                bytes: run.iter().map(|e| e.meta.size).sum(),
            };
            debug_assert_eq!(b.keys.len(), run.len());
            index.buckets.insert(first.bucket, b);
            rest = tail;
        }
        Some(index)
    }

    pub fn get(&self, bucket: BucketId, key: &str) -> Option<Rc<ObjectEntry>> {
        self.buckets.get(&bucket)?.keys.get(key).cloned()
    }

    /// Inserts `entry` unless a newer commit of the key is present (newest
    /// sequence number wins). Ok(the replaced entry), or Err(entry) back
    /// when it is older than the one present and was not inserted.
    pub fn insert(
        &mut self,
        entry: Rc<ObjectEntry>,
    ) -> Result<Option<Rc<ObjectEntry>>, Rc<ObjectEntry>> {
        let b = self.buckets.entry(entry.bucket).or_default();
        if let Some(old) = b.keys.get(&entry.key) {
            if old.commit_seq > entry.commit_seq {
                return Err(entry);
            }
        }
        b.bytes += entry.meta.size;
        let old = b.keys.insert(entry.key.clone(), entry);
        if let Some(o) = &old {
            b.bytes -= o.meta.size;
        }
        Ok(old)
    }

    /// Removes the key if its entry is older than `seq`; returns the removed entry.
    pub fn remove(&mut self, bucket: BucketId, key: &str, seq: u64) -> Option<Rc<ObjectEntry>> {
        let b = self.buckets.get_mut(&bucket)?;
        if b.keys.get(key)?.commit_seq > seq {
            return None;
        }
        let old = b.keys.remove(key)?;
        b.bytes -= old.meta.size;
        if b.keys.is_empty() {
            self.buckets.remove(&bucket);
        }
        Some(old)
    }

    pub fn bucket_stats(&self, bucket: BucketId) -> (u64, u64) {
        self.buckets
            .get(&bucket)
            .map_or((0, 0), |b| (b.keys.len() as u64, b.bytes))
    }

    pub fn is_bucket_empty(&self, bucket: BucketId) -> bool {
        self.buckets.get(&bucket).is_none_or(|b| b.keys.is_empty())
    }

    /// Forgets a bucket; returns its entries (so the caller can account garbage).
    pub fn drop_bucket(&mut self, bucket: BucketId) -> Vec<Rc<ObjectEntry>> {
        self.buckets
            .remove(&bucket)
            .map(|b| b.keys.into_values().collect())
            .unwrap_or_default()
    }

    pub fn bucket_ids(&self) -> Vec<BucketId> {
        self.buckets.keys().copied().collect()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Rc<ObjectEntry>> {
        self.buckets.values().flat_map(|b| b.keys.values())
    }

    pub fn object_count(&self) -> u64 {
        self.buckets.values().map(|b| b.keys.len() as u64).sum()
    }

    /// Lists `bucket` in UTF-8 byte order: keys under `prefix`, rolled up at
    /// the first `delimiter` after the prefix, strictly after `after`, at most
    /// `limit` rows (roll-ups count). Roll-ups are skipped with range seeks.
    pub fn list(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<ListItem> {
        let mut out = Vec::new();
        let Some(b) = self.buckets.get(&bucket) else {
            return out;
        };
        let mut cursor: Bound<String> = match after {
            Some(a) if a >= prefix => {
                let is_rollup =
                    common_prefix(a, prefix, delimiter).is_some_and(|cp| cp.len() == a.len());
                match (is_rollup, prefix_successor(a)) {
                    (false, _) => Bound::Excluded(a.to_string()),
                    (true, Some(next)) => Bound::Included(next),
                    (true, None) => return out,
                }
            }
            _ => Bound::Included(prefix.to_string()),
        };
        while out.len() < limit {
            let range = (cursor.as_ref().map(|s| s.as_str()), Bound::Unbounded);
            let Some((key, e)) = b.keys.range::<str, _>(range).next() else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            match common_prefix(key, prefix, delimiter) {
                Some(cp) => {
                    if after.is_none_or(|a| cp > a) {
                        out.push(ListItem::CommonPrefix(cp.to_string()));
                    }
                    match prefix_successor(cp) {
                        Some(next) => cursor = Bound::Included(next),
                        None => break,
                    }
                }
                None => {
                    out.push(ListItem::Object {
                        key: key.clone(),
                        size: e.meta.size,
                        etag: e.meta.etag.clone(),
                        mtime_millis: e.meta.mtime_millis,
                    });
                    cursor = Bound::Excluded(key.clone());
                }
            }
        }
        out
    }
}
