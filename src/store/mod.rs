//! The per-shard storage engine: an append-only O_DIRECT log, an in-memory
//! index rebuilt by scanning it, group commit.
//!
//! An object is a run of Data records followed by a Commit record that names
//! them; it becomes visible only once its Commit is durable.

pub mod align;
mod bucket_gate;
pub mod cache;
pub mod checkpoint;
pub mod compaction;
pub mod damage;
pub mod disk_index;
pub mod file;
pub mod index;
pub mod index_state;
mod keylock;
pub mod kv;
pub mod log;
pub mod multipart;
pub mod object_index;
pub mod record;
pub mod recovery;
mod room_wait;
pub mod space;
pub mod types;
pub mod verify;

#[cfg(test)]
pub(crate) mod tests;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;

use bytes::Bytes;

use crate::util::pieces::merge_small;

pub use crate::types::BucketFence;
pub use bucket_gate::WRITE_FENCE_WAIT;
pub use file::{Backing, MemDisk, MemDiskHandle, SimDisk, SimDiskHandle, SimFaults};
pub use index::ObjectEntry;
pub use multipart::{PartInfo, Upload, UploadId, UploadItem, MAX_PART_NUMBER};
pub use record::{Extent, FORMAT_VERSION, MAX_DATA_RECORD_BYTES};
pub use types::*;

use align::{align_down, align_up, AlignedBuf, BLOCK_BYTES};
use bucket_gate::{Admission, BucketGates};
pub use cache::CacheStats;
use cache::RecordCache;
use disk_index::Applied;
use keylock::{KeyGuard, KeyLocks, KeyMode};
use log::{Log, LogConfig, Notify};
use multipart::Uploads;
pub use object_index::IndexKind;
use object_index::ObjectIndex;
use record::{
    decode_record, record_bytes, CommitRec, DeleteRec, RecordKind, VersionOp, VersionRec,
    HEADER_BYTES,
};
use space::{AppendClass, Space};

/// Default size of one preallocated segment file.
pub const SEGMENT_BYTES: u64 = 256 * 1024 * 1024;
/// Default size of each of the two log write buffers.
pub const WRITE_BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// Default per-shard record cache (`--cache-mib`).
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Objects larger than the cache budget divided by this are read around it.
const CACHE_OBJECT_FRACTION: u64 = 16;

pub struct StoreConfig {
    /// The shard dir (`DATA/shard-NNN`).
    pub dir: PathBuf,
    pub shard: u32,
    /// Recorded in every segment header.
    pub shard_count: u32,
    pub segment_bytes: u64,
    pub write_buffer_bytes: usize,
    pub direct_io: bool,
    /// Where the shard's files live: the file system, the simulated disk
    /// (tests) or memory (`serve --memory`).
    pub backing: Backing,
    /// Operator cap on segment bytes (`--max-data-bytes`, per shard).
    pub max_data_bytes: Option<u64>,
    /// Bytes of verified record payloads the shard keeps in memory (0: none).
    pub cache_bytes: usize,
    /// Open even when records that had been durable are damaged, dropping
    /// them (`--accept-data-loss`); otherwise such damage fails the open.
    pub accept_data_loss: bool,
    /// Where the index of object versions lives (`--index`).
    pub index: IndexKind,
    /// On-disk index: memtable budget (`--index-memtable-mib`).
    pub index_memtable_bytes: usize,
    /// On-disk index: block cache budget (`--index-cache-mib`).
    pub index_cache_bytes: usize,
}

impl StoreConfig {
    pub fn new(dir: impl Into<PathBuf>, shard: u32) -> Self {
        StoreConfig {
            dir: dir.into(),
            shard,
            shard_count: 1,
            segment_bytes: SEGMENT_BYTES,
            write_buffer_bytes: WRITE_BUFFER_BYTES,
            direct_io: true,
            backing: Backing::Files,
            max_data_bytes: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
            accept_data_loss: false,
            index: default_index_kind(),
            index_memtable_bytes: kv::DEFAULT_MEMTABLE_BYTES,
            index_cache_bytes: kv::DEFAULT_INDEX_CACHE_BYTES,
        }
    }
}

/// The index kind a new `StoreConfig` gets. Unit tests follow their
/// thread's choice (`tests::on_index`), else `RINGSTORE_TEST_INDEX`
/// (`memory` or `disk`), so the whole store suite runs on either.
fn default_index_kind() -> IndexKind {
    #[cfg(test)]
    if let Some(kind) = tests::TEST_INDEX.with(|k| k.get()) {
        return kind;
    }
    #[cfg(test)]
    if std::env::var("RINGSTORE_TEST_INDEX").is_ok_and(|v| v == "disk") {
        return IndexKind::Disk;
    }
    IndexKind::default()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub objects: u64,
    /// Data-record bytes referenced by visible objects.
    pub live_bytes: u64,
    pub segments: u64,
    /// Record bytes in the log not referenced by a visible object.
    pub garbage_bytes: u64,
    pub damaged_records: u64,
    /// Visible objects whose data records recovery found damaged.
    pub damaged_objects: u64,
    /// Completed log flushes (write + fdatasync) since open.
    pub flushes: u64,
    /// Next segments prepared ahead by zero-filling, and by preallocation
    /// only (`log::ZERO_FILL_BELOW_AVG_FLUSH_BYTES`), since open.
    pub spares_zero_filled: u64,
    pub spares_preallocated: u64,
}

struct StoreInner {
    log: Rc<Log>,
    index: ObjectIndex,
    /// Multipart uploads in progress.
    uploads: RefCell<Uploads>,
    /// Keys with a commit or delete in flight, and their ordering (keylock.rs).
    keys: Rc<KeyLocks>,
    /// Which buckets writes may enter, and DeleteBucket's fences (bucket_gate.rs).
    gates: Rc<BucketGates>,
    /// Live data-record bytes per segment (compaction input).
    live_per_segment: RefCell<BTreeMap<u32, u64>>,
    /// Open writers counted by the first segment they wrote data into: their
    /// data is in no index yet, so compaction must leave those segments (and
    /// every later one) alone until the writer commits or is dropped.
    writer_segments: RefCell<BTreeMap<u32, usize>>,
    /// Hot record payloads (see cache.rs).
    cache: RefCell<RecordCache>,
    /// When a foreground read, write or delete last began.
    last_foreground: Cell<std::time::Instant>,
    /// Open readers per segment they may read: an entry they hold can name
    /// extents that compaction has since copied elsewhere, so the old
    /// segment is not freed until they are done (see `ReadPin`).
    reader_segments: RefCell<BTreeMap<u32, usize>>,
    /// Signalled when a segment's last reader pin goes away.
    readers_released: Notify,
    /// Upload id -> segment of its Init record, for Init records still in
    /// the log (open or ended uploads): compaction carries an ended upload's
    /// Abort/Complete forward while its Init survives in another segment.
    init_segments: RefCell<HashMap<UploadId, u32>>,
    /// False when recovery started from a checkpoint: Init records before it
    /// are then not in `init_segments`, and compaction carries ends forward
    /// whenever it cannot rule an Init out.
    inits_complete: bool,
    /// Record bytes of the log at open (recovery's count).
    recovered_bytes: u64,
    /// The same per segment, where recovery knows it (an on-disk index's
    /// state, or a full scan).
    recovered_per_segment: BTreeMap<u32, u64>,
    /// Each bucket's versioning state (from the catalog; absent: unversioned).
    versioning: RefCell<HashMap<BucketId, Versioning>>,
    /// Low bits of the next version id (random start: ids stay unique
    /// across restarts within one millisecond).
    version_counter: Cell<u64>,
    /// A checkpoint is being written (one at a time).
    checkpoint_writing: Cell<bool>,
    /// Size of the last checkpoint written (paces the next one).
    checkpoint_bytes: Cell<u64>,
    /// Record bytes of segments compaction freed since open.
    freed_bytes: Cell<u64>,
    /// On-disk index: the segment its durable state starts replay from
    /// (None until it has one); compaction frees only older segments.
    index_durable_segment: Cell<Option<u32>>,
    /// Bytes of the on-disk index's files held in `Space`.
    index_file_bytes: Cell<u64>,
    /// Damaged ranges recovery dropped (with `accept_data_loss`).
    damaged_records: u64,
    /// Visible objects whose data recovery found damaged or missing.
    damaged_objects: u64,
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        self.log.shutdown();
    }
}

/// A cheap-clone handle to one shard's store. Not Send: it lives on its shard.
#[derive(Clone)]
pub struct Store {
    inner: Rc<StoreInner>,
}

impl Store {
    /// Creates the shard dir if needed, recovers the index from the log and
    /// starts the flusher.
    pub async fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        if cfg.backing.is_files() {
            crate::util::private_fs::create_private_dir_all(&cfg.dir).map_err(|source| {
                StoreError::Io {
                    op: "mkdir",
                    path: cfg.dir.clone(),
                    offset: 0,
                    source,
                }
            })?;
        }
        let cache = RefCell::new(RecordCache::new(cfg.cache_bytes));
        let log_cfg = LogConfig {
            dir: cfg.dir,
            shard: cfg.shard,
            shard_count: cfg.shard_count,
            segment_bytes: cfg.segment_bytes,
            write_buffer_bytes: cfg.write_buffer_bytes,
            direct_io: cfg.direct_io,
            backing: cfg.backing,
            max_data_bytes: cfg.max_data_bytes,
            accept_data_loss: cfg.accept_data_loss,
        };
        let kv_cfg = kv::KvConfig {
            dir: log_cfg.dir.join(index_state::INDEX_DIR),
            backing: log_cfg.backing.clone(),
            direct_io: log_cfg.direct_io,
            memtable_bytes: cfg.index_memtable_bytes,
            cache_bytes: cfg.index_cache_bytes,
            merge_pace: kv::merge::MergePace::FULL_SPEED,
        };
        let rec = match cfg.index {
            IndexKind::Memory => checkpoint::recover(&log_cfg).await?,
            IndexKind::Disk => index_state::recover(&log_cfg, kv_cfg).await?,
        };
        // Before anything is written: a refused open leaves the log as found.
        recovery::judge(&log_cfg, &rec)?;
        let space = Rc::new(Space::new(
            &log_cfg.dir,
            log_cfg.backing.clone(),
            log_cfg.segment_bytes,
            log_cfg.shard_count,
            log_cfg.max_data_bytes,
        ));
        space.hold(checkpoint::file_bytes(&log_cfg));
        let log = Log::open(log_cfg, rec.segments, rec.resume, space).await?;
        let mut live = match (rec.live, rec.index.in_memory()) {
            (Some(mut live), _) => {
                // Segments freed since the index's durable state.
                live.retain(|seg, _| log.segments.borrow().contains_key(seg));
                live
            }
            (None, Some(m)) => {
                let mut live = BTreeMap::new();
                for e in m.entries() {
                    account(&mut live, e, true);
                }
                live
            }
            (None, None) => {
                debug_assert!(false, "an on-disk index recovers its live counts");
                BTreeMap::new()
            }
        };
        let index_durable_segment = rec
            .index
            .on_disk()
            .and_then(|d| index_state::IndexState::decode(d.extra()))
            .map(|st| st.first_segment);
        for u in rec.uploads.iter() {
            account_extents(&mut live, u.extents(), true);
        }
        let store = Store {
            inner: Rc::new(StoreInner {
                log,
                index: rec.index,
                uploads: RefCell::new(rec.uploads),
                keys: Rc::default(),
                gates: Rc::default(),
                live_per_segment: RefCell::new(live),
                writer_segments: RefCell::new(BTreeMap::new()),
                cache,
                last_foreground: Cell::new(std::time::Instant::now()),
                reader_segments: RefCell::new(BTreeMap::new()),
                readers_released: Notify::default(),
                init_segments: RefCell::new(rec.init_segments),
                inits_complete: rec.inits_complete,
                recovered_bytes: rec.used_bytes,
                recovered_per_segment: rec.scanned_per_segment,
                versioning: RefCell::new(HashMap::new()),
                checkpoint_writing: Cell::new(false),
                checkpoint_bytes: Cell::new(0),
                version_counter: Cell::new(random_u64()),
                freed_bytes: Cell::new(0),
                index_durable_segment: Cell::new(index_durable_segment),
                index_file_bytes: Cell::new(0),
                damaged_records: rec.media_damage.len() as u64,
                damaged_objects: rec.damaged_objects,
            }),
        };
        store.hold_index_bytes();
        // An on-disk index rebuilt from the log is written at once, so the
        // next start replays only the tail.
        if store.inner.index.on_disk().is_some()
            && store.inner.index_durable_segment.get().is_none()
        {
            index_state::freeze_and_flush(&store, 1, AppendClass::Write).await?;
        }
        Ok(store)
    }

    /// A clean shutdown's last step: waits until everything appended is
    /// durable and confirmed by a Sync record, so recovery treats damage
    /// anywhere in the log, the last records included, as media damage.
    /// The store takes writes again afterwards (the flusher keeps running).
    pub async fn close(&self) -> Result<(), StoreError> {
        self.inner.log.confirm().await
    }

    /// Starts a new object; nothing is visible until `commit`.
    /// When a foreground read, write or delete last began (compaction yields to it).
    pub(crate) fn last_foreground(&self) -> std::time::Instant {
        self.inner.last_foreground.get()
    }

    fn note_foreground(&self) {
        self.inner.last_foreground.set(std::time::Instant::now());
    }

    pub fn writer(&self, bucket: BucketId, key: &str) -> ObjectWriter {
        self.note_foreground();
        ObjectWriter {
            store: self.clone(),
            bucket,
            key: key.to_string(),
            extents: Vec::new(),
            size: 0,
            pending: Vec::new(),
            pending_bytes: 0,
            pin: SegmentPin {
                store: self.clone(),
                first: None,
            },
            part: None,
        }
    }

    /// The key's current version if it is an object (not a delete marker).
    pub async fn get(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        self.inner.index.get(bucket, key).await
    }

    /// Streams stored bytes `[start, end_exclusive)` of `entry` (for an
    /// encrypted object, ciphertext: `crate::sse::layout` maps ranges).
    /// The reader pins the segments `entry` names until it ends or is
    /// dropped, so compaction cannot free them under it.
    pub fn reader(&self, entry: Rc<ObjectEntry>, start: u64, end_exclusive: u64) -> ObjectReader {
        self.note_foreground();
        let end = end_exclusive.min(entry.stored_len());
        ObjectReader {
            store: self.clone(),
            pin: ReadPin::new(self, &entry),
            entry,
            pos: start.min(end),
            end,
            extent: 0,
            extent_start: 0,
        }
    }

    /// Rewrites the metadata (tags, for now) of the key's current object,
    /// or of its version `version_id`, without touching its data: a new
    /// version record re-references the same extents with the version's
    /// own order (so a noncurrent version stays noncurrent), made durable
    /// before the index changes. NotFound when there is no such object;
    /// a delete marker has no metadata to change (MethodNotAllowed).
    pub async fn update_meta(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: Option<u128>,
        change: impl FnOnce(&mut ObjectMeta),
    ) -> Result<Rc<ObjectEntry>, StoreError> {
        let _admitted = self.admit(bucket).await?;
        // Read-modify-write of the entry: no other write of the key may land in between.
        let guard = self.lock_key(bucket, key, KeyMode::Exclusive).await;
        let old = match version_id {
            None => self.get(bucket, key).await?,
            Some(v) => self.get_version(bucket, key, v).await?,
        }
        .ok_or(StoreError::NotFound)?;
        if old.delete_marker {
            return Err(StoreError::DeleteMarker {
                version_id: old.version_id,
                mtime_millis: old.meta.mtime_millis,
            });
        }
        let mut meta = old.meta.clone();
        change(&mut meta);
        debug_assert_eq!(meta.size, old.meta.size, "metadata updates keep the data");
        let rec = CommitRec {
            bucket,
            key: key.to_string(),
            version_id: old.version_id,
            meta,
            extents: old.extents.clone(),
        };
        self.write_version(&guard, AppendClass::Write, rec, old.order, false)
            .await
    }

    /// Appends a version record of explicit `order` (0: its own sequence
    /// number), waits until it is durable and applies it.
    pub(crate) async fn write_version(
        &self,
        guard: &KeyGuard,
        class: AppendClass,
        rec: CommitRec,
        order: u64,
        marker: bool,
    ) -> Result<Rc<ObjectEntry>, StoreError> {
        let v = VersionRec {
            order,
            op: VersionOp::Put {
                commit: Box::new(rec),
                marker,
            },
        };
        let payload = one_record(v.encode())?;
        let loc = self.append(class, RecordKind::Version, &payload).await?;
        self.inner.log.commit_barrier(loc.seq).await?;
        let order = v.order_at(loc.seq);
        let VersionOp::Put { commit, marker } = v.op else {
            unreachable!("built as a put above");
        };
        self.install_version(guard, *commit, loc.seq, order, marker)
            .await
    }

    /// Writes a delete marker `version_id` for the key, stamped now, and
    /// applies it (it becomes the key's current version). The caller holds the key.
    async fn write_marker(
        &self,
        guard: &KeyGuard,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<Rc<ObjectEntry>, StoreError> {
        let rec = CommitRec {
            bucket,
            key: key.to_string(),
            version_id,
            meta: ObjectMeta {
                mtime_millis: crate::util::time::unix_now_millis(),
                ..ObjectMeta::default()
            },
            extents: Vec::new(),
        };
        self.write_version(guard, AppendClass::Marker, rec, 0, true)
            .await
    }

    /// Makes a durable Commit record (order: its sequence number) visible.
    pub(crate) async fn install_commit(
        &self,
        guard: &KeyGuard,
        rec: CommitRec,
        seq: u64,
    ) -> Result<Rc<ObjectEntry>, StoreError> {
        self.install_version(guard, rec, seq, seq, false).await
    }

    /// Makes a durable version record visible: by the index's rule (a
    /// version replaces its id's older entry; the highest order is
    /// current), with the live-byte counts following. A `null` version
    /// whose key already shows a newer record of that version changes
    /// nothing: last writer wins. Returns the committed entry either way.
    pub(crate) async fn install_version(
        &self,
        guard: &KeyGuard,
        rec: CommitRec,
        seq: u64,
        order: u64,
        marker: bool,
    ) -> Result<Rc<ObjectEntry>, StoreError> {
        debug_assert!(order <= seq);
        debug_assert!(!marker || rec.extents.is_empty());
        let entry = Rc::new(ObjectEntry {
            bucket: rec.bucket,
            key: rec.key,
            version_id: rec.version_id,
            meta: rec.meta,
            extents: rec.extents,
            commit_seq: seq,
            order,
            delete_marker: marker,
        });
        if !guard.newest(seq, entry.version_id == NULL_VERSION) {
            return Ok(entry);
        }
        let inserted = self.inner.index.insert(entry.clone(), seq).await?;
        let mut live = self.inner.live_per_segment.borrow_mut();
        match inserted {
            Applied::Inserted(replaced) => {
                account(&mut live, &entry, true);
                if let Some(old) = replaced {
                    debug_assert!(old.order <= order);
                    account(&mut live, &old, false);
                }
            }
            // Only a relocation or metadata update can meet its own
            // version at a higher order, and both hold the key
            // exclusively, having just read that version.
            Applied::Stale => debug_assert!(false, "index holds a newer entry of the version"),
        }
        Ok(entry)
    }

    /// Makes a durable version delete of `order` visible, unless (for the
    /// `null` version) a newer record of it was applied.
    async fn install_delete(
        &self,
        guard: &KeyGuard,
        bucket: BucketId,
        key: &str,
        version_id: u128,
        seq: u64,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        if !guard.newest(seq, version_id == NULL_VERSION) {
            return Ok(None);
        }
        let old = self
            .inner
            .index
            .remove_version(bucket, key, version_id, seq, seq)
            .await?;
        if let Some(old) = &old {
            debug_assert!(old.order < seq);
            account(&mut self.inner.live_per_segment.borrow_mut(), old, false);
        }
        Ok(old)
    }

    /// Deletes the key as its bucket's versioning says: Unversioned, the
    /// object goes (Ok(false) without writing if it does not exist);
    /// Enabled, a delete marker with a new version id becomes current;
    /// Suspended, a `null` delete marker replaces the `null` version.
    pub async fn delete(&self, bucket: BucketId, key: &str) -> Result<bool, StoreError> {
        Ok(self.delete_object(bucket, key).await?.existed)
    }

    /// `delete`, saying what it did.
    pub async fn delete_object(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<DeleteOutcome, StoreError> {
        self.retry_for_room(|| self.delete_object_once(bucket, key))
            .await
    }

    async fn delete_object_once(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<DeleteOutcome, StoreError> {
        self.note_foreground();
        let _admitted = self.admit(bucket).await?;
        let version_id = match self.versioning(bucket) {
            Versioning::Unversioned => {
                let seq = self.delete_seq(bucket, key).await?;
                return Ok(DeleteOutcome {
                    existed: seq.is_some(),
                    delete_marker: false,
                    version_id: None,
                });
            }
            Versioning::Enabled => self.new_version_id(),
            Versioning::Suspended => NULL_VERSION,
        };
        // A marker is written whether or not the key has an object (as S3 does).
        let guard = self.lock_key(bucket, key, KeyMode::Shared).await;
        let existed = self.get(bucket, key).await?.is_some();
        self.write_marker(&guard, bucket, key, version_id).await?;
        Ok(DeleteOutcome {
            existed,
            delete_marker: true,
            version_id: Some(version_id),
        })
    }

    /// Removes one version of the key for good (DELETE ?versionId). If it
    /// was current, the next newest becomes current. Writes nothing when
    /// there is no such version (S3 answers that as a success too).
    pub async fn delete_version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<DeleteOutcome, StoreError> {
        self.retry_for_room(|| self.delete_version_once(bucket, key, version_id))
            .await
    }

    async fn delete_version_once(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<DeleteOutcome, StoreError> {
        self.note_foreground();
        let _admitted = self.admit(bucket).await?;
        let guard = self.lock_key(bucket, key, KeyMode::Exclusive).await;
        let found = self.get_version(bucket, key, version_id).await?;
        if let Some(found) = &found {
            self.write_delete(&guard, bucket, key, version_id).await?;
            debug_assert!(self.get_version(bucket, key, version_id).await?.is_none());
            debug_assert!(found.version_id == version_id);
        }
        Ok(DeleteOutcome {
            existed: found.is_some(),
            delete_marker: found.is_some_and(|f| f.delete_marker),
            version_id: Some(version_id),
        })
    }

    /// `delete` in an unversioned bucket, returning the Delete record's
    /// sequence number (None when nothing was written). Unconditional, so
    /// it shares the key with other unconditional writes and is ordered
    /// among them by that number. The caller holds an admission.
    pub(crate) async fn delete_seq(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<u64>, StoreError> {
        let guard = self.lock_key(bucket, key, KeyMode::Shared).await;
        if self.get(bucket, key).await?.is_none() {
            return Ok(None);
        }
        self.write_delete(&guard, bucket, key, NULL_VERSION)
            .await
            .map(Some)
    }

    /// Appends a Delete record of the key's version `version_id`, waits
    /// until it is durable and applies it; returns its sequence number. The
    /// caller holds the key.
    async fn write_delete(
        &self,
        guard: &KeyGuard,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<u64, StoreError> {
        let rec = DeleteRec {
            bucket,
            key: key.to_string(),
            version_id,
            delete_marker: false,
        };
        let loc = self
            .append(AppendClass::Delete, RecordKind::Delete, &rec.encode())
            .await?;
        self.inner.log.commit_barrier(loc.seq).await?;
        self.install_delete(guard, bucket, key, version_id, loc.seq)
            .await?;
        Ok(loc.seq)
    }

    /// Expires the key only while its current object is still the one
    /// committed at `commit_seq` (lifecycle expiry must never delete a
    /// newer write): removed when unversioned, hidden behind a delete
    /// marker when versioning is on (as S3's expiration does). The key is
    /// held exclusively from the check to the record's application, so no
    /// write of it can slip in between (see `keylock`). Background work:
    /// does not count as foreground activity.
    pub async fn delete_if_unchanged(
        &self,
        bucket: BucketId,
        key: &str,
        commit_seq: u64,
    ) -> Result<bool, StoreError> {
        let _admitted = self.admit(bucket).await?;
        let guard = self.lock_key(bucket, key, KeyMode::Exclusive).await;
        let Some(current) = self.get(bucket, key).await? else {
            return Ok(false);
        };
        if current.commit_seq != commit_seq {
            return Ok(false);
        }
        let version_id = match self.versioning(bucket) {
            Versioning::Unversioned => {
                self.write_delete(&guard, bucket, key, current.version_id)
                    .await?;
                debug_assert!(self.get(bucket, key).await?.is_none());
                return Ok(true);
            }
            Versioning::Enabled => self.new_version_id(),
            Versioning::Suspended => NULL_VERSION,
        };
        self.write_marker(&guard, bucket, key, version_id).await?;
        debug_assert!(self.get(bucket, key).await?.is_none());
        Ok(true)
    }

    /// The key's current version, delete markers included.
    pub async fn current(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        self.inner.index.current(bucket, key).await
    }

    /// One version of the key (delete markers included).
    pub async fn get_version(
        &self,
        bucket: BucketId,
        key: &str,
        version_id: u128,
    ) -> Result<Option<Rc<ObjectEntry>>, StoreError> {
        self.inner.index.version(bucket, key, version_id).await
    }

    /// Every version of the key, newest first.
    pub async fn versions(
        &self,
        bucket: BucketId,
        key: &str,
    ) -> Result<Vec<Rc<ObjectEntry>>, StoreError> {
        self.inner.index.versions(bucket, key).await
    }

    /// The versioning state writes and deletes of `bucket` follow here.
    pub fn versioning(&self, bucket: BucketId) -> Versioning {
        self.inner
            .versioning
            .borrow()
            .get(&bucket)
            .copied()
            .unwrap_or_default()
    }

    /// Sets every bucket's versioning state (from the catalog; buckets not
    /// named are unversioned).
    pub fn set_versioning(&self, states: HashMap<BucketId, Versioning>) {
        *self.inner.versioning.borrow_mut() = states;
    }

    /// A new version id: the time in milliseconds, the shard and a counter,
    /// so ids sort by creation and never repeat or equal `null` (0).
    pub fn new_version_id(&self) -> u128 {
        let millis = crate::util::time::unix_now_millis().max(1) as u128;
        let n = self.inner.version_counter.get().wrapping_add(1);
        self.inner.version_counter.set(n);
        let shard = self.inner.log.config().shard as u128 & 0xffff;
        let id = (millis << 64) | (shard << 48) | (n as u128 & 0xffff_ffff_ffff);
        debug_assert_ne!(id, NULL_VERSION);
        id
    }

    /// The version id a new object of `bucket` gets: a new one when
    /// versioning is Enabled, else `null`.
    pub(crate) fn version_for_write(&self, bucket: BucketId) -> u128 {
        match self.versioning(bucket) {
            Versioning::Enabled => self.new_version_id(),
            Versioning::Unversioned | Versioning::Suspended => NULL_VERSION,
        }
    }

    /// Up to `limit` keys after `after`, delete-marked ones included.
    pub async fn keys_after(
        &self,
        bucket: BucketId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.index.keys_after(bucket, after, limit).await
    }

    /// Lists versions (ListObjectVersions); see `Index::list_versions`.
    pub async fn list_versions(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        version_marker: Option<u128>,
        limit: usize,
    ) -> Result<Vec<VersionItem>, StoreError> {
        self.inner
            .index
            .list_versions(bucket, prefix, delimiter, key_marker, version_marker, limit)
            .await
    }

    pub async fn list(
        &self,
        bucket: BucketId,
        prefix: &str,
        delimiter: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ListItem>, StoreError> {
        self.inner
            .index
            .list(bucket, prefix, delimiter, after, limit)
            .await
    }

    /// (objects, bytes) of a bucket on this shard.
    pub fn bucket_stats(&self, bucket: BucketId) -> (u64, u64) {
        self.inner.index.bucket_stats(bucket)
    }

    /// Noncurrent versions of a bucket on this shard.
    pub fn bucket_noncurrent(&self, bucket: BucketId) -> u64 {
        self.inner.index.bucket_noncurrent(bucket)
    }

    pub fn is_bucket_empty(&self, bucket: BucketId) -> bool {
        self.inner.index.is_bucket_empty(bucket)
    }

    /// Bucket ids present in the index (recovery may find ids the catalog no longer knows).
    pub fn bucket_ids(&self) -> Vec<BucketId> {
        self.inner.index.bucket_ids()
    }

    /// Forgets every object of a deleted bucket (their records become
    /// garbage). An on-disk index reads the bucket's rows to tombstone
    /// them: that runs as a task of its own (the bucket's writes are
    /// refused already).
    pub fn drop_bucket(&self, bucket: BucketId) {
        let uploads = self.inner.uploads.borrow_mut().drop_bucket(bucket);
        for u in &uploads {
            account_extents(
                &mut self.inner.live_per_segment.borrow_mut(),
                u.extents(),
                false,
            );
        }
        let store = self.clone();
        let dropping = async move {
            match store.inner.index.drop_bucket(bucket).await {
                Ok(gone) => {
                    let mut live = store.inner.live_per_segment.borrow_mut();
                    for e in &gone {
                        account(&mut live, e, false);
                    }
                }
                Err(e) => tracing::error!(bucket, "dropping a deleted bucket's index failed: {e}"),
            }
        };
        match self.inner.index.kind() {
            // Ready at its first poll: done before this returns.
            IndexKind::Memory => {
                let done = futures_util::FutureExt::now_or_never(dropping);
                debug_assert!(done.is_some());
            }
            IndexKind::Disk => {
                monoio::spawn(dropping);
            }
        }
    }

    /// Whether a failed flush has fenced this shard's writes (it answers
    /// them 503 until restarted); for readiness checks.
    pub fn writes_fenced(&self) -> bool {
        self.inner.log.is_fenced()
    }

    /// Follows the catalog replica: `live` are its bucket ids, `next_id`
    /// the id its next bucket gets. Writes into any other bucket are
    /// refused from now on (NoSuchBucket), and the index of a bucket that
    /// was live and is deleted now is dropped. Until the first call every
    /// bucket is live (a store used without a catalog).
    pub fn set_live_buckets(&self, live: &std::collections::HashSet<BucketId>, next_id: BucketId) {
        for bucket in self.inner.gates.set_live(live, next_id) {
            self.drop_bucket(bucket);
        }
    }

    /// Admits a write into `bucket` (see bucket_gate.rs): every operation
    /// that appends a record naming a bucket holds one until its record is
    /// applied or has failed.
    pub(crate) async fn admit(&self, bucket: BucketId) -> Result<Admission, StoreError> {
        self.inner.gates.admit(bucket, WRITE_FENCE_WAIT).await
    }

    /// DeleteBucket's step on this shard for attempt `token`: fences the
    /// bucket (writes wait), waits up to `drain` for writes admitted before
    /// the fence, then says whether any version of the bucket is here.
    /// Empty leaves the fence up, for the deleting shard to lift with
    /// [`Store::unfence_bucket`] or to make moot by deleting the bucket;
    /// NotEmpty lifts it at once.
    pub fn fence_bucket(
        &self,
        bucket: BucketId,
        token: u64,
        drain: std::time::Duration,
    ) -> impl std::future::Future<Output = BucketFence> + 'static {
        // Up at the call, not when the future first runs: a lifting that
        // arrives right behind the fence must find it.
        self.inner.gates.fence(bucket, token);
        let store = self.clone();
        async move {
            let gates = &store.inner.gates;
            // Not empty now is an answer that stays right whatever the
            // writes already admitted do next (DeleteBucket is ordered
            // before them).
            if store.is_bucket_empty(bucket) {
                if !gates.drained(bucket, drain).await {
                    return BucketFence::Busy;
                }
                if store.is_bucket_empty(bucket) {
                    return BucketFence::Empty;
                }
            }
            gates.unfence(bucket, token);
            BucketFence::NotEmpty
        }
    }

    /// Lifts DeleteBucket attempt `token`'s fence on `bucket`, if it holds one.
    pub fn unfence_bucket(&self, bucket: BucketId, token: u64) {
        self.inner.gates.unfence(bucket, token);
    }

    pub fn stats(&self) -> StoreStats {
        let log = self.inner.log.stats();
        let live_bytes: u64 = self.inner.live_per_segment.borrow().values().sum();
        let used = self.used_bytes();
        // Not an invariant: a damaged Data record an object still names is
        // live but was not counted as used by recovery.
        StoreStats {
            objects: self.inner.index.object_count(),
            live_bytes,
            segments: log.segments,
            garbage_bytes: used.saturating_sub(live_bytes),
            damaged_records: self.inner.damaged_records,
            damaged_objects: self.inner.damaged_objects,
            flushes: log.flushes,
            spares_zero_filled: log.spares_zero_filled,
            spares_preallocated: log.spares_preallocated,
        }
    }

    /// Live data bytes per segment (input for compaction).
    pub fn live_bytes_per_segment(&self) -> BTreeMap<u32, u64> {
        self.inner.live_per_segment.borrow().clone()
    }

    /// Counts the on-disk index's files against the shard's space bounds
    /// (again, after they changed).
    pub(crate) fn hold_index_bytes(&self) {
        let Some(index) = self.inner.index.on_disk() else {
            return;
        };
        let now = index.kv().file_bytes();
        let space = self.inner.log.space();
        space.release(self.inner.index_file_bytes.replace(now));
        space.hold(now);
    }

    /// Record bytes in each segment the log holds now (the on-disk
    /// index's state carries them, so a start knows the bytes of the
    /// segments it does not scan).
    pub(crate) fn used_per_segment(&self) -> BTreeMap<u32, u64> {
        let segments = self.inner.log.segments.borrow();
        let mut used: BTreeMap<u32, u64> = segments.keys().map(|&s| (s, 0)).collect();
        let appended = self.inner.log.appended_by_segment();
        for (seg, bytes) in self
            .inner
            .recovered_per_segment
            .iter()
            .chain(appended.iter())
        {
            if let Some(u) = used.get_mut(seg) {
                *u += bytes;
            }
        }
        used
    }

    /// Record bytes in the segments the log holds now (every record
    /// appended, segment headers included, less what compaction freed).
    pub(crate) fn used_bytes(&self) -> u64 {
        let appended = self.inner.log.stats().appended_bytes;
        let used = self.inner.recovered_bytes + appended;
        debug_assert!(self.inner.freed_bytes.get() <= used);
        used.saturating_sub(self.inner.freed_bytes.get())
    }

    async fn append(
        &self,
        class: AppendClass,
        kind: RecordKind,
        payload: &[u8],
    ) -> Result<log::RecordLoc, StoreError> {
        self.inner.log.append(class, kind, 0, payload).await
    }

    async fn lock_key(&self, bucket: BucketId, key: &str, mode: KeyMode) -> KeyGuard {
        self.inner.keys.lock(bucket, key, mode).await
    }

    /// Reads one whole Data record and verifies it; returns its payload.
    /// `cacheable`: keep the payload in the shard's cache (small objects).
    async fn read_data_record(&self, ext: &Extent, cacheable: bool) -> Result<Bytes, StoreError> {
        let place = (ext.segment, ext.offset);
        if cacheable {
            if let Some(hit) = self.inner.cache.borrow_mut().get(place) {
                debug_assert_eq!(hit.len(), ext.payload_len as usize);
                return Ok(hit);
            }
        }
        let file = self
            .inner
            .log
            .segment_file(ext.segment)
            .ok_or(StoreError::Corrupt {
                path: self
                    .inner
                    .log
                    .config()
                    .dir
                    .join(file::segment_name(ext.segment)),
                offset: ext.offset,
                what: "extent names a missing segment",
            })?;
        let corrupt = |what| StoreError::Corrupt {
            path: file.path().to_path_buf(),
            offset: ext.offset,
            what,
        };
        let total = record_bytes(ext.payload_len as usize) as u64;
        let base = align_down(ext.offset, BLOCK_BYTES as u64);
        let span = align_up(ext.offset + total, BLOCK_BYTES as u64) - base;
        let (res, buf) = file
            .read_at(AlignedBuf::for_read(span as usize), base)
            .await;
        let rel = (ext.offset - base) as usize;
        if res? < rel + total as usize {
            return Err(corrupt("record past end of segment"));
        }
        let (h, payload) = decode_record(&buf.as_slice()[rel..]).map_err(corrupt)?;
        if h.kind != RecordKind::Data || h.payload_len != ext.payload_len {
            return Err(corrupt("extent does not name its data record"));
        }
        debug_assert_eq!(payload.len(), ext.payload_len as usize);
        let start = rel + HEADER_BYTES;
        let payload = buf
            .into_bytes()
            .slice(start..start + ext.payload_len as usize);
        if cacheable {
            self.inner.cache.borrow_mut().insert(place, payload.clone());
        }
        Ok(payload)
    }

    /// A data record's payload when the record cache holds it. A miss is
    /// not counted: the read that follows counts it.
    fn cached_record(&self, ext: &Extent) -> Option<Bytes> {
        let hit = self
            .inner
            .cache
            .borrow_mut()
            .probe((ext.segment, ext.offset))?;
        debug_assert_eq!(hit.len(), ext.payload_len as usize);
        Some(hit)
    }

    /// Whether reads of an object of `size` bytes should fill the cache: only
    /// objects well under its budget, so one large GET cannot flush it.
    fn cacheable(&self, size: u64) -> bool {
        let cache = self.inner.cache.borrow();
        cache.is_enabled() && size <= cache.stats().budget_bytes / CACHE_OBJECT_FRACTION
    }

    /// Drops a freed segment's cached records (compaction).
    pub(crate) fn forget_cached_segment(&self, segment: u32) {
        self.inner.cache.borrow_mut().forget_segment(segment);
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.borrow().stats()
    }
}

/// A random u64 from the system's source.
fn random_u64() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("system random source");
    u64::from_le_bytes(b)
}

/// A metadata payload, if it fits one record. Bodies arrive in pieces of at
/// most one socket read, so a very large object can name more extents than
/// one record holds: that is a client-visible error, not a panic in append.
fn one_record(payload: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    if payload.len() > record::MAX_PAYLOAD_BYTES {
        return Err(StoreError::TooLarge);
    }
    Ok(payload)
}

/// Adds (or removes) an entry's data bytes to the per-segment live counts.
fn account(live: &mut BTreeMap<u32, u64>, e: &ObjectEntry, add: bool) {
    account_extents(live, e.extents.iter(), add);
}

/// Adds (or removes) data records' bytes to the per-segment live counts.
fn account_extents<'a>(
    live: &mut BTreeMap<u32, u64>,
    extents: impl Iterator<Item = &'a Extent>,
    add: bool,
) {
    for x in extents {
        let n = live.entry(x.segment).or_default();
        let bytes = record_bytes(x.payload_len as usize) as u64;
        *n = if add {
            *n + bytes
        } else {
            n.saturating_sub(bytes)
        };
    }
}

/// Streams an object's body into the log. Dropping it without `commit`
/// aborts: its Data records become garbage.
pub struct ObjectWriter {
    store: Store,
    bucket: BucketId,
    key: String,
    extents: Vec<Extent>,
    size: u64,
    /// Pieces not yet appended, shared with the request (not copied):
    /// they arrive at socket-read size (often 64 KiB or less) and are
    /// gathered into full Data records, which keeps the extent list of a
    /// 5 GiB object within one commit record. The log copies them once.
    /// Tiny pieces are merged (`util::pieces`), so their count stays bounded.
    pending: Vec<Bytes>,
    /// Sum of the `pending` pieces' lengths; below `MAX_DATA_RECORD_BYTES`
    /// between calls.
    pending_bytes: usize,
    /// Keeps compaction off the segments this writer's data is in.
    pin: SegmentPin,
    /// Set for a multipart part writer: (upload, part number).
    part: Option<(UploadId, u32)>,
}

impl ObjectWriter {
    /// Appends `data` as Data records (any size); waits when the log buffer
    /// is full. Pieces are split at record boundaries without copying.
    pub async fn write(&mut self, mut data: Bytes) -> Result<(), StoreError> {
        while !data.is_empty() {
            let take = (MAX_DATA_RECORD_BYTES - self.pending_bytes).min(data.len());
            self.pending_bytes += take;
            if let Some(piece) = merge_small(self.pending.last_mut(), data.split_to(take)) {
                self.pending.push(piece);
            }
            if self.pending_bytes == MAX_DATA_RECORD_BYTES {
                self.flush_pending().await?;
            }
        }
        debug_assert!(self.pending_bytes < MAX_DATA_RECORD_BYTES);
        Ok(())
    }

    pub(super) async fn flush_pending(&mut self) -> Result<(), StoreError> {
        if self.pending_bytes == 0 {
            return Ok(());
        }
        let len = self.pending_bytes;
        debug_assert!(len <= MAX_DATA_RECORD_BYTES);
        let loc = self
            .store
            .inner
            .log
            .append_parts(AppendClass::Write, RecordKind::Data, 0, &self.pending)
            .await?;
        self.pending.clear();
        self.pending_bytes = 0;
        self.pin.note(loc.segment);
        self.extents.push(Extent {
            segment: loc.segment,
            offset: loc.offset,
            payload_len: len as u32,
        });
        self.size += len as u64;
        Ok(())
    }

    pub fn bytes_written(&self) -> u64 {
        self.size + self.pending_bytes as u64
    }

    /// Checks `cond`, appends the Commit record, waits until it is durable,
    /// then makes the object visible and returns it.
    pub async fn commit(
        mut self,
        mut meta: ObjectMeta,
        cond: PutCondition,
    ) -> Result<Rc<ObjectEntry>, StoreError> {
        self.flush_pending().await?;
        assert!(
            self.part.is_none(),
            "a part writer commits with commit_part"
        );
        if meta.sse.is_some() {
            // Encrypted: `size` is the plaintext's, the log holds its chunks.
            assert_eq!(
                crate::sse::layout::stored_len(meta.size),
                self.size,
                "encrypted size {} does not match {} stored bytes",
                meta.size,
                self.size
            );
        } else {
            assert!(
                meta.size == 0 || meta.size == self.size,
                "declared size {} != written {}",
                meta.size,
                self.size
            );
            meta.size = self.size;
        }
        let store = &self.store;
        // Admitted before the key is taken: a write that waits on a fence
        // then holds no key another admitted write needs.
        let _admitted = store.admit(self.bucket).await?;
        // Conditional: atomic check and commit; unconditional: shares the
        // key and its group commit with other overwrites (keylock.rs).
        let mode = match cond {
            PutCondition::None => KeyMode::Shared,
            PutCondition::IfNoneMatchStar | PutCondition::IfMatch(_) => KeyMode::Exclusive,
        };
        let guard = store.lock_key(self.bucket, &self.key, mode).await;
        check_condition(store.get(self.bucket, &self.key).await?.as_deref(), &cond)?;
        // Compaction may have freed a segment this (very slow) PUT wrote into.
        if let Some(x) = self
            .extents
            .iter()
            .find(|x| store.inner.log.segment_file(x.segment).is_none())
        {
            return Err(StoreError::Corrupt {
                path: store
                    .inner
                    .log
                    .config()
                    .dir
                    .join(file::segment_name(x.segment)),
                offset: x.offset,
                what: "upload data compacted away before its commit",
            });
        }
        let rec = CommitRec {
            bucket: self.bucket,
            key: self.key.clone(),
            version_id: store.version_for_write(self.bucket),
            meta,
            extents: self.extents,
        };
        let loc = store
            .append(
                AppendClass::Write,
                RecordKind::Commit,
                &one_record(rec.encode())?,
            )
            .await?;
        store.inner.log.commit_barrier(loc.seq).await?;
        store.install_commit(&guard, rec, loc.seq).await
    }
}

pub(super) fn check_condition(
    existing: Option<&ObjectEntry>,
    cond: &PutCondition,
) -> Result<(), StoreError> {
    let ok = match cond {
        PutCondition::None => true,
        PutCondition::IfNoneMatchStar => existing.is_none(),
        PutCondition::IfMatch(etag) => existing.is_some_and(|e| &e.meta.etag == etag),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::PreconditionFailed)
    }
}

/// Registers an open writer's first data segment in `writer_segments`, and
/// unregisters it when the writer goes away (after its commit, or on abort).
struct SegmentPin {
    store: Store,
    first: Option<u32>,
}

impl SegmentPin {
    fn note(&mut self, segment: u32) {
        if self.first.is_none() {
            self.first = Some(segment);
            *self
                .store
                .inner
                .writer_segments
                .borrow_mut()
                .entry(segment)
                .or_default() += 1;
        }
        debug_assert!(self.first <= Some(segment), "a writer's segments only grow");
    }
}

impl Drop for SegmentPin {
    fn drop(&mut self) {
        if let Some(seg) = self.first {
            let mut map = self.store.inner.writer_segments.borrow_mut();
            if let Some(n) = map.get_mut(&seg) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&seg);
                }
            }
        }
    }
}

impl Store {
    /// The oldest segment an open writer has data in (compaction stays below it).
    pub(crate) fn oldest_open_writer_segment(&self) -> Option<u32> {
        self.inner.writer_segments.borrow().keys().next().copied()
    }
}

impl Store {
    /// Whether an open reader may still read `segment`.
    pub(crate) fn segment_has_readers(&self, segment: u32) -> bool {
        self.inner.reader_segments.borrow().contains_key(&segment)
    }
}

/// Counts a reader in `reader_segments` for every segment its entry names,
/// until the reader ends or is dropped.
struct ReadPin {
    store: Store,
    /// The first pinned segment, inline: most objects live in one, and
    /// then a pin allocates nothing.
    first: Option<u32>,
    /// The other pinned segments (distinct, ascending).
    rest: Vec<u32>,
}

impl ReadPin {
    fn new(store: &Store, entry: &ObjectEntry) -> ReadPin {
        let (first, rest) = match entry.extents.as_slice() {
            [] => (None, Vec::new()),
            [one] => (Some(one.segment), Vec::new()),
            many => {
                let mut segments: Vec<u32> = many.iter().map(|x| x.segment).collect();
                segments.sort_unstable();
                segments.dedup();
                let first = segments.remove(0);
                (Some(first), segments)
            }
        };
        debug_assert!(first.is_some() || rest.is_empty());
        let mut map = store.inner.reader_segments.borrow_mut();
        for &s in first.iter().chain(&rest) {
            *map.entry(s).or_default() += 1;
        }
        ReadPin {
            store: store.clone(),
            first,
            rest,
        }
    }

    fn release(&mut self) {
        let Some(first) = self.first.take() else {
            return;
        };
        let mut freed_one = false;
        {
            let mut map = self.store.inner.reader_segments.borrow_mut();
            for s in std::iter::once(first).chain(self.rest.drain(..)) {
                let n = map.get_mut(&s);
                debug_assert!(n.is_some(), "reader pin on segment {s} lost");
                if let Some(n) = n {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(&s);
                        freed_one = true;
                    }
                }
            }
        }
        if freed_one {
            self.store.inner.readers_released.notify_all();
        }
    }
}

impl Drop for ReadPin {
    fn drop(&mut self) {
        self.release();
    }
}

/// Streams a byte range of an object in pieces of at most one Data record.
pub struct ObjectReader {
    store: Store,
    /// Keeps compaction from freeing the segments `entry` names.
    pin: ReadPin,
    entry: Rc<ObjectEntry>,
    pos: u64,
    end: u64,
    extent: usize,
    /// Object offset of `entry.extents[extent]`.
    extent_start: u64,
}

impl ObjectReader {
    /// Stored bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.end - self.pos
    }

    pub async fn next(&mut self) -> Option<Result<Bytes, StoreError>> {
        let ext = match self.next_extent()? {
            Ok(ext) => ext,
            Err(e) => return Some(Err(e)),
        };
        let cacheable = self.store.cacheable(self.entry.meta.size);
        match self.store.read_data_record(&ext, cacheable).await {
            Ok(payload) => Some(Ok(self.take(payload))),
            Err(e) => {
                self.pos = self.end;
                Some(Err(e))
            }
        }
    }

    /// The next piece when the shard's record cache holds it, without
    /// waiting: lets a forwarded small GET be answered inline instead of
    /// as a task of its own. `None` (nothing consumed) when the piece needs
    /// a disk read, or on any condition [`ObjectReader::next`] reports.
    pub fn next_if_cached(&mut self) -> Option<Bytes> {
        if self.pos >= self.end || !self.store.cacheable(self.entry.meta.size) {
            return None;
        }
        let (extent, extent_start) = (self.extent, self.extent_start);
        let Some(Ok(ext)) = self.next_extent() else {
            return None;
        };
        match self.store.cached_record(&ext) {
            Some(payload) => Some(self.take(payload)),
            None => {
                // Unchanged for the `next` that follows.
                (self.extent, self.extent_start) = (extent, extent_start);
                None
            }
        }
    }

    /// Moves to the extent holding `pos`. `None` when done (the pin is
    /// released); an error when the extents end before the object does.
    fn next_extent(&mut self) -> Option<Result<Extent, StoreError>> {
        if self.pos >= self.end {
            // Done: a response still being written must not hold compaction.
            self.pin.release();
            return None;
        }
        let extents = &self.entry.extents;
        while self.extent < extents.len()
            && self.extent_start + extents[self.extent].payload_len as u64 <= self.pos
        {
            self.extent_start += extents[self.extent].payload_len as u64;
            self.extent += 1;
        }
        match extents.get(self.extent).copied() {
            Some(ext) => Some(Ok(ext)),
            None => {
                self.pos = self.end;
                Some(Err(StoreError::Corrupt {
                    path: PathBuf::new(),
                    offset: 0,
                    what: "object shorter than its size",
                }))
            }
        }
    }

    /// The part of the current extent's payload this reader still wants.
    fn take(&mut self, payload: Bytes) -> Bytes {
        let from = (self.pos - self.extent_start) as usize;
        let to = ((self.end - self.extent_start) as usize).min(payload.len());
        debug_assert!(from <= to);
        self.pos = self.extent_start + to as u64;
        payload.slice(from..to)
    }
}
