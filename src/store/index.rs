//! The per-shard in-memory index: bucket → key → its versions.
//!
//! How a record changes it is a rule on the records alone, the same live
//! and in recovery: a version replaces an entry of the same version id
//! unless that entry's order is higher (then the record is stale), and
//! the highest order among a key's versions is current. A version delete
//! removes its version id if that version's order is lower than its own.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::rc::Rc;

use super::record::Extent;
use super::types::{BucketId, ListItem, ObjectMeta, VersionItem};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub bucket: BucketId,
    pub key: String,
    pub version_id: u128,
    pub meta: ObjectMeta,
    pub extents: Vec<Extent>,
    /// Sequence number of the record that holds this entry now (a
    /// relocation or metadata update moves it to a newer record).
    pub commit_seq: u64,
    /// The version's place among its key's versions: the sequence number
    /// of the record that first committed it, kept through relocations and
    /// metadata updates. The key's current version has the highest.
    pub order: u64,
    /// A delete marker: a version with no data that hides the older ones.
    pub delete_marker: bool,
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

/// One bucket's versions. Every key with any version has its current one
/// (the highest order, possibly a delete marker) in `keys`; older ones sit
/// in `older`, newest first. Unversioned buckets never fill `older`.
#[derive(Default)]
struct BucketIndex {
    keys: BTreeMap<String, Rc<ObjectEntry>>,
    older: HashMap<String, Vec<Rc<ObjectEntry>>>,
    /// Bytes of every version.
    bytes: u64,
    /// Keys whose current version is an object, not a delete marker.
    objects: u64,
    /// Versions in `older`.
    noncurrent: u64,
}

impl BucketIndex {
    /// All versions of `key`, newest first, taken out of the index.
    fn take_versions(&mut self, key: &str) -> Vec<Rc<ObjectEntry>> {
        let Some(cur) = self.keys.remove(key) else {
            debug_assert!(!self.older.contains_key(key));
            return Vec::new();
        };
        self.objects -= !cur.delete_marker as u64;
        let mut all = vec![cur];
        if let Some(rest) = self.older.remove(key) {
            self.noncurrent -= rest.len() as u64;
            all.extend(rest);
        }
        for v in &all {
            self.bytes -= v.meta.size;
        }
        all
    }

    /// Puts `key`'s versions (sorted newest first) back.
    fn put_versions(&mut self, key: &str, mut all: Vec<Rc<ObjectEntry>>) {
        debug_assert!(all.windows(2).all(|w| w[0].order > w[1].order));
        if all.is_empty() {
            return;
        }
        for v in &all {
            self.bytes += v.meta.size;
        }
        let rest = all.split_off(1);
        let cur = all.pop().expect("one version left");
        self.objects += !cur.delete_marker as u64;
        if !rest.is_empty() {
            self.noncurrent += rest.len() as u64;
            self.older.insert(key.to_string(), rest);
        }
        self.keys.insert(key.to_string(), cur);
    }

    /// Whether `key` has a single version, `version_id` (or none at all):
    /// the unversioned case, handled without gathering versions.
    fn only_version(&self, key: &str, version_id: u128) -> bool {
        (self.older.is_empty() || !self.older.contains_key(key))
            && self
                .keys
                .get(key)
                .is_none_or(|c| c.version_id == version_id)
    }
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
    /// Builds an index in bulk from entries sorted by (bucket, key, order
    /// descending), such as a checkpoint's; None if they are not.
    pub fn from_sorted(entries: Vec<Rc<ObjectEntry>>) -> Option<Index> {
        let sorted = entries.windows(2).all(|w| {
            (w[0].bucket, &w[0].key) < (w[1].bucket, &w[1].key)
                || ((w[0].bucket, &w[0].key) == (w[1].bucket, &w[1].key) && w[0].order > w[1].order)
        });
        if !sorted {
            return None;
        }
        let mut index = Index::default();
        let mut rest = entries.as_slice();
        while let Some(first) = rest.first() {
            let n = rest.iter().take_while(|e| e.bucket == first.bucket).count();
            let (run, tail) = rest.split_at(n);
            let mut b = BucketIndex::default();
            let mut keys = Vec::with_capacity(run.len());
            let mut at = run;
            while let Some(cur) = at.first() {
                let m = at.iter().take_while(|e| e.key == cur.key).count();
                let (versions, after) = at.split_at(m);
                b.objects += !cur.delete_marker as u64;
                b.bytes += versions.iter().map(|v| v.meta.size).sum::<u64>();
                if m > 1 {
                    b.noncurrent += (m - 1) as u64;
                    b.older.insert(cur.key.clone(), versions[1..].to_vec());
                }
                keys.push((cur.key.clone(), cur.clone()));
                at = after;
            }
            b.keys = keys.into_iter().collect();
            index.buckets.insert(first.bucket, b);
            rest = tail;
        }
        Some(index)
    }

    /// The key's current version if it is an object (not a delete marker).
    pub fn get(&self, bucket: BucketId, key: &str) -> Option<Rc<ObjectEntry>> {
        self.current(bucket, key).filter(|e| !e.delete_marker)
    }

    /// The key's current version, delete markers included.
    pub fn current(&self, bucket: BucketId, key: &str) -> Option<Rc<ObjectEntry>> {
        self.buckets.get(&bucket)?.keys.get(key).cloned()
    }

    /// One version of the key, current or not, delete markers included.
    pub fn version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Option<Rc<ObjectEntry>> {
        let b = self.buckets.get(&bucket)?;
        let cur = b.keys.get(key)?;
        if cur.version_id == version_id {
            return Some(cur.clone());
        }
        b.older
            .get(key)?
            .iter()
            .find(|v| v.version_id == version_id)
            .cloned()
    }

    /// Every version of the key, newest first.
    pub fn versions(&self, bucket: BucketId, key: &str) -> Vec<Rc<ObjectEntry>> {
        let Some(b) = self.buckets.get(&bucket) else {
            return Vec::new();
        };
        let Some(cur) = b.keys.get(key) else {
            return Vec::new();
        };
        let mut all = vec![cur.clone()];
        all.extend(b.older.get(key).into_iter().flatten().cloned());
        all
    }

    /// Applies a version record: `entry` replaces the key's version of the
    /// same id unless that one has a higher order. Ok(the replaced
    /// version), or Err(entry) back when it is stale and was not inserted.
    pub fn insert(
        &mut self,
        entry: Rc<ObjectEntry>,
    ) -> Result<Option<Rc<ObjectEntry>>, Rc<ObjectEntry>> {
        let b = self.buckets.entry(entry.bucket).or_default();
        if b.only_version(&entry.key, entry.version_id) {
            // The unversioned path: at most one version, the one replaced.
            if let Some(old) = b.keys.get(&entry.key) {
                if old.order > entry.order {
                    return Err(entry);
                }
            }
            b.bytes += entry.meta.size;
            b.objects += !entry.delete_marker as u64;
            let old = b.keys.insert(entry.key.clone(), entry);
            if let Some(o) = &old {
                b.bytes -= o.meta.size;
                b.objects -= !o.delete_marker as u64;
            }
            return Ok(old);
        }
        let key = entry.key.clone();
        let mut all = b.take_versions(&key);
        let same = all.iter().position(|v| v.version_id == entry.version_id);
        if let Some(i) = same {
            if all[i].order > entry.order {
                b.put_versions(&key, all);
                return Err(entry);
            }
        }
        let replaced = same.map(|i| all.remove(i));
        let at = all.partition_point(|v| v.order > entry.order);
        all.insert(at, entry);
        b.put_versions(&key, all);
        Ok(replaced)
    }

    /// Applies a version delete of order `order`: removes the key's version
    /// `version_id` if its order is lower; returns the removed version.
    pub fn remove_version(
        &mut self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
        order: u64,
    ) -> Option<Rc<ObjectEntry>> {
        let b = self.buckets.get_mut(&bucket)?;
        let removed = if b.only_version(key, version_id) {
            if b.keys.get(key)?.order > order {
                return None;
            }
            let old = b.keys.remove(key)?;
            b.bytes -= old.meta.size;
            b.objects -= !old.delete_marker as u64;
            Some(old)
        } else {
            let mut all = b.take_versions(key);
            let i = all
                .iter()
                .position(|v| v.version_id == version_id && v.order < order);
            let removed = i.map(|i| all.remove(i));
            b.put_versions(key, all);
            removed
        };
        if b.keys.is_empty() {
            debug_assert!(b.older.is_empty() && b.bytes == 0);
            self.buckets.remove(&bucket);
        }
        removed
    }

    /// (objects, bytes): keys whose current version is an object, and the
    /// bytes of every version.
    pub fn bucket_stats(&self, bucket: BucketId) -> (u64, u64) {
        self.buckets
            .get(&bucket)
            .map_or((0, 0), |b| (b.objects, b.bytes))
    }

    /// Whether the bucket holds no version at all (delete markers count).
    pub fn is_bucket_empty(&self, bucket: BucketId) -> bool {
        self.buckets.get(&bucket).is_none_or(|b| b.keys.is_empty())
    }

    /// Forgets a bucket; returns its versions (so the caller can account garbage).
    pub fn drop_bucket(&mut self, bucket: BucketId) -> Vec<Rc<ObjectEntry>> {
        self.buckets
            .remove(&bucket)
            .map(|b| {
                let mut all: Vec<_> = b.keys.into_values().collect();
                all.extend(b.older.into_values().flatten());
                all
            })
            .unwrap_or_default()
    }

    pub fn bucket_ids(&self) -> Vec<BucketId> {
        self.buckets.keys().copied().collect()
    }

    /// Every version of every key, in (bucket, key, newest first) order.
    pub fn entries(&self) -> impl Iterator<Item = &Rc<ObjectEntry>> {
        self.buckets.values().flat_map(|b| {
            b.keys.iter().flat_map(move |(k, cur)| {
                std::iter::once(cur).chain(b.older.get(k).into_iter().flatten())
            })
        })
    }

    /// Keys whose current version is an object.
    pub fn object_count(&self) -> u64 {
        self.buckets.values().map(|b| b.objects).sum()
    }

    /// Versions that are not their key's current one.
    pub fn noncurrent_count(&self) -> u64 {
        self.buckets.values().map(|b| b.noncurrent).sum()
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
            // A key whose current version is a delete marker is not listed,
            // and does not make its roll-up appear: only an object does.
            if e.delete_marker {
                cursor = Bound::Excluded(key.clone());
                continue;
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

    /// Lists `bucket`'s versions for ListObjectVersions: keys under `prefix`
    /// in UTF-8 byte order, each key's versions newest first, rolled up at
    /// the first `delimiter` after the prefix. Starts after `key_marker`'s
    /// version `version_marker` when given (then with that key's older
    /// versions), else after every version of `key_marker`. At most
    /// `limit` rows; a roll-up counts as one.
    pub fn list_versions(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<u128>,
        limit: usize,
    ) -> Vec<VersionItem> {
        let mut out = Vec::new();
        let Some(b) = self.buckets.get(&bucket) else {
            return out;
        };
        let row = |e: &Rc<ObjectEntry>, is_latest: bool| VersionItem::Version {
            key: e.key.clone(),
            version_id: e.version_id,
            is_latest,
            delete_marker: e.delete_marker,
            size: e.meta.size,
            etag: e.meta.etag.clone(),
            mtime_millis: e.meta.mtime_millis,
        };
        // The rest of the marker key's versions, if the marker names one.
        if let (Some(k), Some(v)) = (key_marker, version_marker) {
            let in_range = k.starts_with(prefix) && common_prefix(k, prefix, delimiter).is_none();
            let versions = self.versions(bucket, k);
            if let Some(i) = versions.iter().position(|e| e.version_id == v) {
                if in_range {
                    for e in &versions[i + 1..] {
                        if out.len() == limit {
                            return out;
                        }
                        out.push(row(e, false));
                    }
                }
            }
        }
        let mut cursor: Bound<String> = match key_marker {
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
            let Some((key, cur)) = b.keys.range::<str, _>(range).next() else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            match common_prefix(key, prefix, delimiter) {
                Some(cp) => {
                    if key_marker.is_none_or(|a| cp > a) {
                        out.push(VersionItem::CommonPrefix(cp.to_string()));
                    }
                    match prefix_successor(cp) {
                        Some(next) => cursor = Bound::Included(next),
                        None => break,
                    }
                }
                None => {
                    out.push(row(cur, true));
                    for e in b.older.get(key).into_iter().flatten() {
                        if out.len() == limit {
                            break;
                        }
                        out.push(row(e, false));
                    }
                    cursor = Bound::Excluded(key.clone());
                }
            }
        }
        out
    }
}
