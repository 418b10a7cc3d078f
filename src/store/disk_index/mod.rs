//! The on-disk object index (docs/INDEX.md): the per-shard index of object
//! versions kept in `kv` runs on the shard's own files, so RAM holds
//! budgets (memtable, block cache, fences, filters) and per-bucket counts,
//! nothing per object.
//!
//! It applies the same rules as the in-memory `index::Index`, on the
//! tables `C` (a key's current version) and `V` (its noncurrent versions,
//! newest first): a version replaces an entry of the same version id
//! unless that entry's order is higher (then the record is stale), the
//! highest order among a key's versions is current, and a version delete
//! removes its version id if that version's order is lower than its own.
//!
//! Every change reads the rows it replaces and applies one kv batch, with
//! the key's apply lock held across both: the store's key lock lets
//! unconditional writes of one key apply concurrently (their versions are
//! placed by order, in any order of application), and a read of the rows
//! must not go stale across the reads' awaits. Different keys' changes
//! interleave, and their batches may come out of sequence order.

pub mod keys;
mod list;
mod rows;
pub mod value;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;

use self::keys::{noncurrent_key, object_key, CURRENT, NONCURRENT};
use self::rows::Rows;
use self::value::{decode_entry, encode_entry};
use super::index::ObjectEntry;
use super::kv::{Batch, Kv, KvConfig};
use super::types::{BucketId, StoreError};

pub use self::list::VersionWalk;
use super::log::Notify;

/// Keys whose rows are being read and rewritten now.
#[derive(Default)]
struct ApplyLocks {
    held: RefCell<std::collections::HashMap<(BucketId, String), Rc<Notify>>>,
}

struct ApplyGuard<'a> {
    locks: &'a ApplyLocks,
    key: (BucketId, String),
}

impl ApplyLocks {
    async fn lock(&self, bucket: BucketId, key: &str) -> ApplyGuard<'_> {
        let k = (bucket, key.to_string());
        loop {
            let busy = self.held.borrow().get(&k).cloned();
            match busy {
                Some(released) => released.notified().await,
                None => {
                    self.held.borrow_mut().insert(k.clone(), Rc::default());
                    return ApplyGuard {
                        locks: self,
                        key: k,
                    };
                }
            }
        }
    }
}

impl Drop for ApplyGuard<'_> {
    fn drop(&mut self) {
        if let Some(released) = self.locks.held.borrow_mut().remove(&self.key) {
            released.notify_all();
        }
    }
}

/// A bucket's counts on this shard, kept in RAM (per bucket, not per
/// object) and made durable with each manifest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketCounts {
    /// Keys with a current version (delete markers included).
    pub keys: u64,
    /// Keys whose current version is an object.
    pub objects: u64,
    /// Bytes of every version.
    pub bytes: u64,
    /// Versions that are not their key's current one.
    pub noncurrent: u64,
}

impl BucketCounts {
    fn count(&mut self, e: &ObjectEntry, current: bool, add: bool) {
        let key = current as u64;
        let object = (current && !e.delete_marker) as u64;
        let noncurrent = (!current) as u64;
        if add {
            self.keys += key;
            self.bytes += e.meta.size;
            self.objects += object;
            self.noncurrent += noncurrent;
        } else {
            debug_assert!(self.keys >= key && self.bytes >= e.meta.size);
            self.keys -= key;
            self.bytes -= e.meta.size;
            self.objects -= object;
            self.noncurrent -= noncurrent;
        }
    }
}

/// What applying a version did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The version is in; it replaced this entry of its version id, if any.
    Inserted(Option<Rc<ObjectEntry>>),
    /// A newer record of the version is applied already: nothing changed.
    Stale,
}

/// The version of the derived-counts encoding in a manifest.
const DERIVED_VERSION: u8 = 1;

pub struct DiskIndex {
    kv: Kv,
    dir: PathBuf,
    counts: RefCell<BTreeMap<BucketId, BucketCounts>>,
    /// The highest record sequence number applied: a dropped bucket's
    /// tombstones carry it, so no row's sequence goes back.
    max_seq: Cell<u64>,
    /// The store's own derived state, as of the durable manifest.
    extra: Vec<u8>,
    applying: ApplyLocks,
    /// The segment log compaction is emptying, if any.
    watch: RefCell<Option<Rc<SegmentWatch>>>,
}

/// A segment compaction is emptying: the versions written since the watch
/// began that still name it (its data, or their commit record in it). A
/// version the compaction's scan of the index missed (a current version
/// demoted to noncurrent past the scan, a write that committed meanwhile)
/// shows up here, so the segment is not freed under it.
pub struct SegmentWatch {
    segment: u32,
    commits: HashSet<u64>,
    touched: RefCell<HashSet<(BucketId, String, u128)>>,
}

impl SegmentWatch {
    fn note(&self, e: &ObjectEntry) {
        if self.commits.contains(&e.commit_seq)
            || e.extents.iter().any(|x| x.segment == self.segment)
        {
            self.touched
                .borrow_mut()
                .insert((e.bucket, e.key.clone(), e.version_id));
        }
    }

    /// Versions written meanwhile that name the segment.
    pub fn touched(&self) -> Vec<(BucketId, String, u128)> {
        self.touched.borrow().iter().cloned().collect()
    }
}

impl DiskIndex {
    /// Opens the index in `cfg.dir` at its durable state; the caller replays
    /// the log from `log_position()`.
    pub async fn open(cfg: KvConfig) -> Result<DiskIndex, StoreError> {
        let dir = cfg.dir.clone();
        let kv = Kv::open(cfg).await?;
        let (counts, extra) = decode_derived(&kv.derived())
            .ok_or_else(|| super::kv::codec::corrupt(&dir, 0, "index manifest counts"))?;
        // Every record before the durable position is applied: no row of
        // the runs has a later sequence number.
        let max_seq = kv.log_position();
        Ok(DiskIndex {
            kv,
            dir,
            counts: RefCell::new(counts),
            max_seq: Cell::new(max_seq),
            extra,
            applying: ApplyLocks::default(),
            watch: RefCell::new(None),
        })
    }

    /// The log position the durable index holds every record before.
    pub fn log_position(&self) -> u64 {
        self.kv.log_position()
    }

    /// What the store stored beside the counts at the durable manifest.
    pub fn extra(&self) -> &[u8] {
        &self.extra
    }

    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    fn corrupt(&self, what: &'static str) -> StoreError {
        super::kv::codec::corrupt(&self.dir, 0, what)
    }

    fn decode(&self, bucket: BucketId, key: &str, v: &[u8]) -> Result<Rc<ObjectEntry>, StoreError> {
        decode_entry(bucket, key, v).map_err(|what| self.corrupt(what))
    }

    /// The key's current version, delete markers included.
    pub async fn current(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        match self.kv.get(&object_key(CURRENT, bucket, key)).await? {
            Some(v) => self.decode(bucket, key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// The key's current version if it is an object (not a delete marker).
    pub async fn get(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        Ok(self
            .current(bucket, key)
            .await?
            .filter(|e| !e.delete_marker))
    }

    /// The key's noncurrent versions, newest first, as (row key, entry).
    async fn older(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Vec<(Vec<u8>, Rc<ObjectEntry>)>, StoreError> {
        let start = object_key(NONCURRENT, bucket, key);
        let mut rows = Rows::open(&self.kv, &start).await?;
        let mut out = Vec::new();
        while let Some((row, v)) = rows.head() {
            if !row.starts_with(&start) {
                break;
            }
            let e = self.decode(bucket, key, v)?;
            debug_assert_eq!(row, &noncurrent_key(bucket, key, e.order));
            out.push((row.clone(), e));
            rows.advance().await?;
        }
        Ok(out)
    }

    /// One version of the key, current or not, delete markers included.
    pub async fn version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        let Some(cur) = self.current(bucket, key).await? else {
            return Ok(None);
        };
        if cur.version_id == version_id {
            return Ok(Some(cur));
        }
        let older = self.older(bucket, key).await?;
        Ok(older
            .into_iter()
            .map(|(_, e)| e)
            .find(|e| e.version_id == version_id))
    }

    /// Every version of the key, newest first.
    pub async fn versions(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Vec<Rc<ObjectEntry>>, StoreError> {
        let Some(cur) = self.current(bucket, key).await? else {
            return Ok(Vec::new());
        };
        let mut all = vec![cur];
        all.extend(self.older(bucket, key).await?.into_iter().map(|(_, e)| e));
        Ok(all)
    }

    /// Starts watching `segment` (with the sequence numbers of the
    /// commit records it holds) for compaction. One compaction runs at a
    /// time (the shard's compactor), so there is one watch at most.
    pub fn watch_segment(&self, segment: u32, commits: HashSet<u64>) -> Rc<SegmentWatch> {
        let w = Rc::new(SegmentWatch {
            segment,
            commits,
            touched: RefCell::default(),
        });
        let earlier = self.watch.borrow_mut().replace(w.clone());
        debug_assert!(earlier.is_none(), "two compactions watch at once");
        w
    }

    /// Ends `watch` (and only it).
    pub fn unwatch_segment(&self, watch: &Rc<SegmentWatch>) {
        let mut current = self.watch.borrow_mut();
        if current.as_ref().is_some_and(|w| Rc::ptr_eq(w, watch)) {
            current.take();
        }
    }

    /// Puts a version's row into `batch`, telling the segment watch.
    fn put_entry(&self, batch: &mut Batch, row: &[u8], e: &ObjectEntry) {
        if let Some(w) = &*self.watch.borrow() {
            w.note(e);
        }
        batch.put(row, encode_entry(e));
    }

    fn note_seq(&self, seq: u64) {
        self.max_seq.set(self.max_seq.get().max(seq));
    }

    /// Applies a version record of sequence number `seq` (`entry.commit_seq`
    /// is where the entry lives now; `entry.order` its place among the
    /// key's versions).
    pub async fn insert(&self, entry: Rc<ObjectEntry>, seq: u64) -> Result<Applied, StoreError> {
        debug_assert!(entry.order <= seq);
        let (bucket, key) = (entry.bucket, entry.key.as_str());
        let _applying = self.applying.lock(bucket, key).await;
        let c_row = object_key(CURRENT, bucket, key);
        let mut batch = Batch::new(seq);
        let Some(cur) = self.current(bucket, key).await? else {
            self.put_entry(&mut batch, &c_row, &entry);
            self.kv.apply(&batch)?;
            self.note_seq(seq);
            self.counts
                .borrow_mut()
                .entry(bucket)
                .or_default()
                .count(&entry, true, true);
            return Ok(Applied::Inserted(None));
        };
        if cur.version_id == entry.version_id {
            // The unversioned path: the key's version replaced in place.
            if cur.order > entry.order {
                return Ok(Applied::Stale);
            }
            if cur.order != entry.order {
                // Its order changes: no noncurrent version may sit between.
                debug_assert!(self
                    .older(bucket, key)
                    .await?
                    .first()
                    .is_none_or(|(_, o)| o.order < entry.order));
            }
            self.put_entry(&mut batch, &c_row, &entry);
            self.kv.apply(&batch)?;
            self.note_seq(seq);
            let mut counts = self.counts.borrow_mut();
            let b = counts.entry(bucket).or_default();
            b.count(&cur, true, false);
            b.count(&entry, true, true);
            return Ok(Applied::Inserted(Some(cur)));
        }
        let same = self
            .older(bucket, key)
            .await?
            .into_iter()
            .find(|(_, e)| e.version_id == entry.version_id);
        if same.as_ref().is_some_and(|(_, e)| e.order > entry.order) {
            return Ok(Applied::Stale);
        }
        if let Some((row, _)) = &same {
            batch.delete(row);
        }
        let promoted = entry.order > cur.order;
        if promoted {
            // A new current version: the old one is demoted.
            self.put_entry(&mut batch, &c_row, &entry);
            self.put_entry(&mut batch, &noncurrent_key(bucket, key, cur.order), &cur);
        } else {
            self.put_entry(
                &mut batch,
                &noncurrent_key(bucket, key, entry.order),
                &entry,
            );
        }
        self.kv.apply(&batch)?;
        self.note_seq(seq);
        let mut counts = self.counts.borrow_mut();
        let b = counts.entry(bucket).or_default();
        if let Some((_, old)) = &same {
            b.count(old, false, false);
        }
        if promoted {
            b.count(&cur, true, false);
            b.count(&entry, true, true);
            b.count(&cur, false, true);
        } else {
            b.count(&entry, false, true);
        }
        Ok(Applied::Inserted(same.map(|(_, e)| e)))
    }

    /// Applies a version delete of order `order` (record `seq`): removes the
    /// key's version `version_id` if its order is lower; returns it.
    pub async fn remove_version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
        order: u64,
        seq: u64,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        let _applying = self.applying.lock(bucket, key).await;
        let Some(cur) = self.current(bucket, key).await? else {
            return Ok(None);
        };
        let mut batch = Batch::new(seq);
        if cur.version_id == version_id {
            if cur.order > order {
                return Ok(None);
            }
            // The newest older version, if any, becomes current.
            let next = self.older(bucket, key).await?.into_iter().next();
            let c_row = object_key(CURRENT, bucket, key);
            match &next {
                Some((row, n)) => {
                    batch.delete(row);
                    self.put_entry(&mut batch, &c_row, n);
                }
                None => {
                    batch.delete(&c_row);
                }
            }
            self.kv.apply(&batch)?;
            self.note_seq(seq);
            let mut counts = self.counts.borrow_mut();
            let b = counts.entry(bucket).or_default();
            b.count(&cur, true, false);
            if let Some((_, n)) = &next {
                b.count(n, false, false);
                b.count(n, true, true);
            }
            if b.keys == 0 {
                debug_assert_eq!(*b, BucketCounts::default());
                counts.remove(&bucket);
            }
            return Ok(Some(cur));
        }
        let found = self
            .older(bucket, key)
            .await?
            .into_iter()
            .find(|(_, e)| e.version_id == version_id && e.order < order);
        let Some((row, old)) = found else {
            return Ok(None);
        };
        batch.delete(&row);
        self.kv.apply(&batch)?;
        self.note_seq(seq);
        self.counts
            .borrow_mut()
            .entry(bucket)
            .or_default()
            .count(&old, false, false);
        Ok(Some(old))
    }

    /// (objects, bytes): keys whose current version is an object, and the
    /// bytes of every version.
    pub fn bucket_stats(&self, bucket: BucketId) -> (u64, u64) {
        self.counts
            .borrow()
            .get(&bucket)
            .map_or((0, 0), |b| (b.objects, b.bytes))
    }

    /// Versions of the bucket that are not their key's current one.
    pub fn bucket_noncurrent(&self, bucket: BucketId) -> u64 {
        self.counts
            .borrow()
            .get(&bucket)
            .map_or(0, |b| b.noncurrent)
    }

    /// Whether the bucket holds no version at all (delete markers count).
    pub fn is_bucket_empty(&self, bucket: BucketId) -> bool {
        self.counts
            .borrow()
            .get(&bucket)
            .is_none_or(|b| b.keys == 0)
    }

    pub fn bucket_ids(&self) -> Vec<BucketId> {
        self.counts.borrow().keys().copied().collect()
    }

    /// Keys whose current version is an object.
    pub fn object_count(&self) -> u64 {
        self.counts.borrow().values().map(|b| b.objects).sum()
    }

    /// Versions that are not their key's current one.
    pub fn noncurrent_count(&self) -> u64 {
        self.counts.borrow().values().map(|b| b.noncurrent).sum()
    }

    pub fn counts(&self) -> BTreeMap<BucketId, BucketCounts> {
        self.counts.borrow().clone()
    }

    /// Forgets a bucket; returns its versions (so the caller can account
    /// garbage). Reads and tombstones every row of the bucket: deleted
    /// buckets are empty but for writes that raced their deletion.
    pub async fn drop_bucket(&self, bucket: BucketId) -> Result<Vec<Rc<ObjectEntry>>, StoreError> {
        let mut walk = VersionWalk::new(self, bucket).await?;
        let mut gone = Vec::new();
        let mut batch = Batch::new(self.max_seq.get());
        while let Some((current, e)) = walk.next_row().await? {
            let row = match current {
                true => object_key(CURRENT, bucket, &e.key),
                false => noncurrent_key(bucket, &e.key, e.order),
            };
            batch.delete(&row);
            gone.push(e);
        }
        self.kv.apply(&batch)?;
        self.counts.borrow_mut().remove(&bucket);
        Ok(gone)
    }

    /// Every version of every bucket, in (bucket, key, newest first) order.
    pub async fn entries(&self) -> Result<Vec<Rc<ObjectEntry>>, StoreError> {
        let mut out = Vec::new();
        for bucket in self.bucket_ids() {
            let mut walk = VersionWalk::new(self, bucket).await?;
            while let Some(e) = walk.next().await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Makes the active memtable read-only as "the log up to `log_position`"
    /// (the caller guarantees that: every record before it applied, none
    /// after), with the counts as of now and the store's `extra` state.
    pub fn freeze(&self, log_position: u64, extra: &[u8]) {
        let derived = encode_derived(&self.counts.borrow(), extra);
        self.kv.freeze(log_position, derived);
    }

    /// Writes the oldest frozen memtable as a run and makes it durable.
    pub async fn flush(&self) -> Result<bool, StoreError> {
        self.kv.flush().await
    }

    /// One merge of runs, if one is due.
    pub async fn merge_step(&self) -> Result<bool, StoreError> {
        self.kv.merge_step().await
    }

    pub fn memtable_full(&self) -> bool {
        self.kv.memtable_full()
    }

    pub fn close(self) {
        self.kv.close();
    }
}

fn encode_derived(counts: &BTreeMap<BucketId, BucketCounts>, extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + counts.len() * 40 + extra.len());
    out.push(DERIVED_VERSION);
    out.extend_from_slice(&(counts.len() as u64).to_le_bytes());
    for (id, c) in counts {
        for v in [*id, c.keys, c.objects, c.bytes, c.noncurrent] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(extra);
    out
}

/// The counts and the store's extra state of a manifest; an empty blob is
/// a fresh index.
fn decode_derived(b: &[u8]) -> Option<(BTreeMap<BucketId, BucketCounts>, Vec<u8>)> {
    if b.is_empty() {
        return Some((BTreeMap::new(), Vec::new()));
    }
    let (&version, rest) = b.split_first()?;
    if version != DERIVED_VERSION {
        return None;
    }
    let mut words = rest
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")));
    let n = words.next()?;
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let id = words.next()?;
        let c = BucketCounts {
            keys: words.next()?,
            objects: words.next()?,
            bytes: words.next()?,
            noncurrent: words.next()?,
        };
        counts.insert(id, c);
    }
    let used = 1 + 8 + (n as usize).checked_mul(40)?;
    Some((counts, b.get(used..)?.to_vec()))
}
