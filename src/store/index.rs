//! The per-shard in-memory index: bucket → key → its versions.
//!
//! How a record changes it is a rule on the records alone, the same live
//! and in recovery: a version replaces an entry of the same version id
//! unless that entry's order is higher (then the record is stale), and
//! the highest order among a key's versions is current. A version delete
//! removes its version id if that version's order is lower than its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::rc::Rc;

use super::record::Extent;
use super::types::{BucketId, ListItem, ObjectMeta, VersionItem, NULL_VERSION};

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

/// A noncurrent version, with its id and order beside it so scans of a
/// key's history stay in one contiguous vector.
struct Older {
    version_id: u128,
    order: u64,
    entry: Rc<ObjectEntry>,
}

/// One bucket's versions. Every key with any version has its current one
/// (the highest order, possibly a delete marker) in `keys`; older ones sit
/// in `older`, oldest first (a new version demotes the current one with a
/// push). Unversioned buckets never fill `older`.
#[derive(Default)]
struct BucketIndex {
    keys: BTreeMap<String, Rc<ObjectEntry>>,
    older: HashMap<String, Vec<Older>>,
    /// Bytes of every version.
    bytes: u64,
    /// Keys whose current version is an object, not a delete marker.
    objects: u64,
    /// Versions in `older`.
    noncurrent: u64,
    /// The ids of the versions in `older` other than `null` (ids are unique
    /// in a bucket): a new version's id is found absent without scanning
    /// its key's history.
    older_ids: HashSet<u128>,
}

impl BucketIndex {
    /// Counts `e` in (or, `add` false, out of) the byte total and, when it
    /// is current, the object count.
    fn count(&mut self, e: &ObjectEntry, current: bool, add: bool) {
        let object = (current && !e.delete_marker) as u64;
        let noncurrent = (!current) as u64;
        if add {
            self.bytes += e.meta.size;
            self.objects += object;
            self.noncurrent += noncurrent;
        } else {
            self.bytes -= e.meta.size;
            self.objects -= object;
            self.noncurrent -= noncurrent;
        }
    }

    /// Puts `e` among the key's older versions, keeping them oldest first.
    fn add_older(&mut self, e: Rc<ObjectEntry>) {
        self.count(&e, false, true);
        if e.version_id != NULL_VERSION {
            let fresh = self.older_ids.insert(e.version_id);
            debug_assert!(fresh, "version id {:x} twice in a bucket", e.version_id);
        }
        let v = Older {
            version_id: e.version_id,
            order: e.order,
            entry: e,
        };
        let older = match self.older.get_mut(v.entry.key.as_str()) {
            Some(o) => o,
            None => self.older.entry(v.entry.key.clone()).or_default(),
        };
        let at = older.partition_point(|o| o.order < v.order);
        older.insert(at, v);
    }

    /// Takes the key's older version `version_id` out, if its order is
    /// below `below` (None: whatever its order).
    fn take_older(
        &mut self,
        key: &str,
        version_id: u128,
        below: Option<u64>,
    ) -> Option<Rc<ObjectEntry>> {
        let older = self.older.get_mut(key)?;
        let i = older.iter().position(|v| v.version_id == version_id)?;
        if below.is_some_and(|b| older[i].order >= b) {
            return None;
        }
        let e = older.remove(i).entry;
        if older.is_empty() {
            self.older.remove(key);
        }
        self.older_ids.remove(&e.version_id);
        self.count(&e, false, false);
        Some(e)
    }
}

#[derive(Default)]
pub struct Index {
    buckets: BTreeMap<BucketId, BucketIndex>,
}

/// The smallest string greater than every string that starts with `prefix`
/// (None when no such string exists). UTF-8 byte order is code point order,
/// so bumping the last char that can be bumped gives it.
pub(super) fn prefix_successor(prefix: &str) -> Option<String> {
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
pub(super) fn common_prefix<'a>(
    key: &'a str,
    prefix: &str,
    delimiter: Option<&str>,
) -> Option<&'a str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Where a listing under `prefix` resumes after `after`: past the key, or
/// past every key of the roll-up `after` names. None when nothing can
/// follow it.
pub(super) fn start_cursor(
    after: Option<&str>,
    prefix: &str,
    delimiter: Option<&str>,
) -> Option<Bound<String>> {
    match after {
        Some(a) if a >= prefix => {
            let is_rollup =
                common_prefix(a, prefix, delimiter).is_some_and(|cp| cp.len() == a.len());
            match (is_rollup, prefix_successor(a)) {
                (false, _) => Some(Bound::Excluded(a.to_string())),
                (true, Some(next)) => Some(Bound::Included(next)),
                (true, None) => None,
            }
        }
        _ => Some(Bound::Included(prefix.to_string())),
    }
}

/// A ListObjectVersions row of version `e`.
pub(super) fn version_row(e: &ObjectEntry, is_latest: bool) -> VersionItem {
    VersionItem::Version {
        key: e.key.clone(),
        version_id: e.version_id,
        is_latest,
        delete_marker: e.delete_marker,
        size: e.meta.size,
        etag: e.meta.etag.clone(),
        mtime_millis: e.meta.mtime_millis,
    }
}

/// A version listing that resumes at `(key, version id)` first lists the
/// rest of that key's `versions` (newest first) after the marker's, when
/// the key is listed as itself (under the prefix, not rolled up). False
/// when `limit` rows are reached.
pub(super) fn rest_of_marker_key(
    versions: &[Rc<ObjectEntry>],
    (key, version_id): (&str, u128),
    prefix: &str,
    delimiter: Option<&str>,
    limit: usize,
    out: &mut Vec<VersionItem>,
) -> bool {
    let in_range = key.starts_with(prefix) && common_prefix(key, prefix, delimiter).is_none();
    let Some(i) = versions.iter().position(|e| e.version_id == version_id) else {
        return true;
    };
    if in_range {
        for e in &versions[i + 1..] {
            if out.len() == limit {
                return false;
            }
            out.push(version_row(e, false));
        }
    }
    true
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
                    b.older_ids.extend(
                        versions[1..]
                            .iter()
                            .map(|e| e.version_id)
                            .filter(|&v| v != NULL_VERSION),
                    );
                    b.older.insert(
                        cur.key.clone(),
                        versions[1..]
                            .iter()
                            .rev()
                            .map(|e| Older {
                                version_id: e.version_id,
                                order: e.order,
                                entry: e.clone(),
                            })
                            .collect(),
                    );
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
            .map(|v| v.entry.clone())
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
        all.extend(
            b.older
                .get(key)
                .into_iter()
                .flatten()
                .rev()
                .map(|v| v.entry.clone()),
        );
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
        let Some(cur) = b.keys.get(entry.key.as_str()).cloned() else {
            b.count(&entry, true, true);
            b.keys.insert(entry.key.clone(), entry);
            return Ok(None);
        };
        if cur.version_id == entry.version_id {
            // The unversioned path: the key's version replaced in place.
            if cur.order > entry.order {
                return Err(entry);
            }
            b.count(&cur, true, false);
            b.count(&entry, true, true);
            // In place: no new key string for an overwrite.
            if let Some(slot) = b.keys.get_mut(cur.key.as_str()) {
                *slot = entry;
            }
            return Ok(Some(cur));
        }
        // A key's history is scanned only for `null`, or for an id the bucket
        // holds (a relocation, a metadata update, recovery): a new id is not there.
        let maybe_there =
            entry.version_id == NULL_VERSION || b.older_ids.contains(&entry.version_id);
        let same = maybe_there
            .then(|| b.older.get(entry.key.as_str()))
            .flatten()
            .and_then(|o| o.iter().find(|v| v.version_id == entry.version_id))
            .map(|v| v.order);
        if same.is_some_and(|order| order > entry.order) {
            return Err(entry);
        }
        let replaced = same.and_then(|_| b.take_older(&entry.key, entry.version_id, None));
        if entry.order > cur.order {
            // A new current version: the old one is demoted.
            b.count(&cur, true, false);
            b.count(&entry, true, true);
            let old = b
                .keys
                .get_mut(cur.key.as_str())
                .map(|slot| std::mem::replace(slot, entry));
            debug_assert!(old.as_ref().is_some_and(|o| Rc::ptr_eq(o, &cur)));
            b.add_older(cur);
        } else {
            b.add_older(entry);
        }
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
        let cur = b.keys.get(key)?;
        let removed = if cur.version_id == version_id {
            if cur.order > order {
                return None;
            }
            let cur = cur.clone();
            b.count(&cur, true, false);
            // The newest older version, if any, becomes current.
            let next = b.older.get_mut(key).and_then(|o| o.pop()).map(|o| o.entry);
            if let Some(n) = &next {
                b.older_ids.remove(&n.version_id);
            }
            if b.older.get(key).is_some_and(|o| o.is_empty()) {
                b.older.remove(key);
            }
            match next {
                Some(n) => {
                    b.count(&n, false, false);
                    b.count(&n, true, true);
                    if let Some(slot) = b.keys.get_mut(key) {
                        *slot = n;
                    }
                }
                None => {
                    b.keys.remove(key);
                }
            }
            Some(cur)
        } else {
            b.take_older(key, version_id, Some(order))
        };
        if b.keys.is_empty() {
            debug_assert!(b.older.is_empty() && b.bytes == 0 && b.noncurrent == 0);
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

    /// Versions of the bucket that are not their key's current one (a
    /// versioned bucket's bytes count them; its object count does not).
    pub fn bucket_noncurrent(&self, bucket: BucketId) -> u64 {
        self.buckets.get(&bucket).map_or(0, |b| b.noncurrent)
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
                all.extend(b.older.into_values().flatten().map(|o| o.entry));
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
                std::iter::once(cur)
                    .chain(b.older.get(k).into_iter().flatten().rev().map(|o| &o.entry))
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
        let Some(mut cursor) = start_cursor(after, prefix, delimiter) else {
            return out;
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
                        content_type: e.meta.content_type.clone(),
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
        if let (Some(k), Some(v)) = (key_marker, version_marker) {
            let versions = self.versions(bucket, k);
            if !rest_of_marker_key(&versions, (k, v), prefix, delimiter, limit, &mut out) {
                return out;
            }
        }
        let Some(mut cursor) = start_cursor(key_marker, prefix, delimiter) else {
            return out;
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
                    out.push(version_row(cur, true));
                    for e in b
                        .older
                        .get(key)
                        .into_iter()
                        .flatten()
                        .rev()
                        .map(|o| &o.entry)
                    {
                        if out.len() == limit {
                            break;
                        }
                        out.push(version_row(e, false));
                    }
                    cursor = Bound::Excluded(key.clone());
                }
            }
        }
        out
    }

    /// Up to `limit` keys of `bucket` after `after`, in order, whatever
    /// their current version (lifecycle walks markers too).
    pub fn keys_after(&self, bucket: BucketId, after: Option<&str>, limit: usize) -> Vec<String> {
        let Some(b) = self.buckets.get(&bucket) else {
            return Vec::new();
        };
        let from = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        b.keys
            .range::<str, _>((from, Bound::Unbounded))
            .take(limit)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Checks every bucket's counters and version lists against a recount
    /// (tests): the current version is the highest order, older ones are
    /// sorted oldest first, and `older_ids` names exactly the non-null ones.
    #[cfg(test)]
    pub(crate) fn assert_consistent(&self) {
        for (id, b) in &self.buckets {
            assert!(!b.keys.is_empty(), "bucket {id} kept with no keys");
            let (mut bytes, mut objects, mut noncurrent) = (0, 0, 0);
            let mut ids = HashSet::new();
            for (key, cur) in &b.keys {
                bytes += cur.meta.size;
                objects += !cur.delete_marker as u64;
                let older = b.older.get(key).map(Vec::as_slice).unwrap_or(&[]);
                assert!(
                    b.older.get(key).is_none_or(|o| !o.is_empty()),
                    "{key}: empty history kept"
                );
                assert!(
                    older.windows(2).all(|w| w[0].order < w[1].order),
                    "{key}: history out of order"
                );
                assert!(
                    older.last().is_none_or(|o| o.order < cur.order),
                    "{key}: older version is current"
                );
                for o in older {
                    assert_eq!((o.version_id, o.order), (o.entry.version_id, o.entry.order));
                    bytes += o.entry.meta.size;
                    noncurrent += 1;
                    if o.version_id != NULL_VERSION {
                        assert!(
                            ids.insert(o.version_id),
                            "{key}: id {:x} twice",
                            o.version_id
                        );
                    }
                }
            }
            assert!(
                b.older.keys().all(|k| b.keys.contains_key(k)),
                "history without a current version"
            );
            assert_eq!(
                (b.bytes, b.objects, b.noncurrent),
                (bytes, objects, noncurrent),
                "bucket {id} counters"
            );
            assert_eq!(b.older_ids, ids, "bucket {id} older_ids");
        }
    }
}
