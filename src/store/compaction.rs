//! Compaction: the live records of a mostly-garbage segment are copied to
//! the head of the log and the old segment is freed.
//!
//! Crash safety, step by step: (1) a version's data is copied and a new
//! Version record (a newer seq, the version's own order) appended and made
//! durable before the index points at the copy; a crash before that leaves
//! the old copy in force and the new records as garbage, a crash after
//! leaves both and recovery keeps the newer record of the version. The
//! order is what keeps a relocated noncurrent version noncurrent. (2)
//! Version deletes still needed to hide older records in older segments
//! are carried forward the same way, with their order. (3) Only when nothing
//! in the index refers to the segment, with no commit or delete in flight,
//! is it dropped from the log and its file unlinked.
//!
//! Who else holds a segment: an open `ObjectReader` (a GET that took its
//! index entry before the move) pins every segment its entry names, and
//! freeing waits up to `READER_PIN_WAIT_MS` for those pins to go, then gives
//! the round up and retries later; an open writer pins its first segment
//! and every later one (`oldest_open_writer_segment`); a multipart upload
//! in progress keeps the segments its parts are in (parts are not in the
//! index, so they are not moved: such a segment waits until the upload
//! completes or aborts). A freed segment's record bytes leave `used_bytes`,
//! so stats' garbage_bytes shrink with it.
//!
//! Pacing: at most `COMPACTION_TICK_BYTES` are read (scanning a segment)
//! or copied between pauses of `COMPACTION_PAUSE_MS`, so foreground
//! requests keep the disk and the core; after each pause it also waits
//! (up to `FOREGROUND_DEFER_MS`) until no foreground read or write has begun
//! for `FOREGROUND_QUIET_MS`, so a busy shard compacts only in its quiet
//! moments or at one tick per deferral (benches/compaction-p99.sh measures it)
//! — unless space is short (near the `--max-data-bytes` cap or the disk's
//! end), when reclaiming comes first.
//!
//! Space: compaction appends in its own class (space.rs), which may use the
//! reserve no object write or delete can touch, so it needs no spare segment
//! to copy survivors into. When space is short it also takes segments with
//! more survivors (up to `COMPACTION_LIVE_PCT_MAX_WHEN_SHORT`), fewest first,
//! but only ones whose survivors fit the room left; a segment whose survivors
//! (data, version records and carried records) would take as much as freeing
//! it gives back is left alone.
//!
//! Not handled yet: moving an in-progress upload's parts (an abandoned
//! upload keeps its segments until it is aborted).

use std::collections::HashSet;

use super::space::AppendClass;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::align::BLOCK_BYTES;
use super::disk_index::{DiskIndex, SegmentWatch, VersionWalk};
use super::file::remove_durably;
use super::index::ObjectEntry;
use super::object_index::ObjectIndex;
use super::record::MAX_PAYLOAD_BYTES;
use super::record::{
    record_bytes, CommitRec, DeleteRec, Extent, MultipartCompleteRec, MultipartEndRec, RecordKind,
    VersionOp, VersionRec,
};
use super::recovery::{scan_segment_paced, SCAN_WINDOW_BYTES};
use super::types::{BucketId, StoreError};
use super::{KeyMode, Store, StoreInner};

/// A segment is compacted when its live bytes are under this share of its size.
pub const COMPACTION_LIVE_PCT_MAX: u64 = 50;
/// ... or under this share when space is short: freeing it still gains the rest.
pub const COMPACTION_LIVE_PCT_MAX_WHEN_SHORT: u64 = 90;
/// Room kept beyond a segment's survivors when deciding whether they fit:
/// a roll can leave up to one largest record unused at a segment's end,
/// and each moved version also gets a new version record.
const COMPACTION_COPY_SLACK_BYTES: u64 = 2 * record_bytes(MAX_PAYLOAD_BYTES) as u64;
/// Bytes read or copied between pauses.
pub const COMPACTION_TICK_BYTES: u64 = 1024 * 1024;
const COMPACTION_PAUSE_MS: u64 = 10;
/// A shard is busy when a foreground read or write began this recently.
const FOREGROUND_QUIET_MS: u64 = 2;
/// Longest compaction waits for a busy shard to go quiet, per tick.
pub(crate) const FOREGROUND_DEFER_MS: u64 = 100;
/// Size of one scan read: small, so a foreground read or flush queued
/// behind it on the disk waits less (benches/compaction-p99.sh).
pub const COMPACTION_READ_BYTES: usize = 1088 * 1024;
const _: () = assert!(
    COMPACTION_READ_BYTES >= 2 * record_bytes(MAX_PAYLOAD_BYTES) + BLOCK_BYTES
        && COMPACTION_READ_BYTES.is_multiple_of(BLOCK_BYTES)
);
/// The active segment and the ones just before it are never compacted:
/// PUTs still streaming may have data there and no commit yet.
pub const COMPACTION_MIN_AGE_SEGMENTS: u32 = 2;
/// How often the background compactor looks for work.
const COMPACTION_POLL_MS: u64 = 1000;
/// Waits for a moment with no commit or delete in flight before freeing.
const QUIESCE_TRIES: u32 = 64;
/// How long freeing waits for open readers of the segment before it gives
/// the round up (a slow client's GET can hold a reader for a long time).
pub const READER_PIN_WAIT_MS: u64 = 5_000;

/// The segment most worth compacting, if any is eligible.
pub fn pick(store: &Store) -> Option<u32> {
    pick_excluding(store, &HashSet::new())
}

/// `pick`, passing over `skip` (segments that could not be freed this round).
fn pick_excluding(store: &Store, skip: &HashSet<u32>) -> Option<u32> {
    let inner = &store.inner;
    let seg_bytes = inner.log.config().segment_bytes;
    let short = inner.log.space_is_short();
    let (live_pct_max, room) = if short {
        (COMPACTION_LIVE_PCT_MAX_WHEN_SHORT, inner.log.room())
    } else {
        (COMPACTION_LIVE_PCT_MAX, u64::MAX)
    };
    let live = inner.live_per_segment.borrow();
    let segments = inner.log.segments.borrow();
    let active = *segments.keys().next_back()?;
    segments
        .keys()
        .copied()
        .filter(|&id| id + COMPACTION_MIN_AGE_SEGMENTS <= active)
        .filter(|id| !skip.contains(id))
        .filter(|&id| !uploads_refer_to(store, id))
        .filter(|&id| store.oldest_open_writer_segment().is_none_or(|w| id < w))
        .map(|id| (live.get(&id).copied().unwrap_or(0), id))
        .filter(|&(l, _)| l * 100 < seg_bytes * live_pct_max)
        .filter(|&(l, _)| l.saturating_add(COMPACTION_COPY_SLACK_BYTES) <= room)
        .min()
        .map(|(_, id)| id)
}

/// Paces background I/O: a pause of `pause` after every `tick_bytes` read
/// or copied, so foreground requests keep the disk and the core.
pub(crate) struct Pacer {
    /// The store whose foreground activity makes compaction wait (None: no waiting).
    store: Option<Store>,
    /// Size of one scan read.
    read_bytes: usize,
    tick_bytes: u64,
    pause: Duration,
    /// Bytes since the last pause.
    since: u64,
}

impl Pacer {
    /// Compaction's pace, or none (`pace` false: tests, and compaction on demand).
    pub(crate) fn compaction(store: &Store, pace: bool) -> Pacer {
        if !pace {
            return Pacer::none();
        }
        Pacer {
            store: Some(store.clone()),
            read_bytes: COMPACTION_READ_BYTES,
            tick_bytes: COMPACTION_TICK_BYTES,
            pause: Duration::from_millis(COMPACTION_PAUSE_MS),
            since: 0,
        }
    }

    pub(crate) fn none() -> Pacer {
        Pacer {
            store: None,
            read_bytes: SCAN_WINDOW_BYTES,
            tick_bytes: u64::MAX,
            pause: Duration::ZERO,
            since: 0,
        }
    }

    pub(crate) fn read_bytes(&self) -> usize {
        self.read_bytes
    }

    pub(crate) async fn account(&mut self, bytes: u64) {
        self.since = self.since.saturating_add(bytes);
        while self.since >= self.tick_bytes {
            debug_assert!(self.tick_bytes > 0);
            self.since -= self.tick_bytes;
            monoio::time::sleep(self.pause).await;
            self.yield_to_foreground().await;
        }
    }

    /// Waits while the shard serves requests (a read or write began within
    /// `FOREGROUND_QUIET_MS`), for at most `FOREGROUND_DEFER_MS` per tick:
    /// an idle shard compacts at the full pace, a busy one at one tick per
    /// deferral, so reclaim still progresses under constant load.
    async fn yield_to_foreground(&self) {
        let Some(store) = &self.store else {
            return;
        };
        // Running out of room matters more than latency: reclaim at full pace.
        if store.inner.log.space_is_short() {
            return;
        }
        let quiet = Duration::from_millis(FOREGROUND_QUIET_MS);
        let started = Instant::now();
        while store.last_foreground().elapsed() < quiet
            && started.elapsed() < Duration::from_millis(FOREGROUND_DEFER_MS)
        {
            monoio::time::sleep(quiet).await;
        }
    }
}

/// Compacts `seg`: Ok(true) once it is freed, Ok(false) if it must wait
/// (writes in flight); errors leave it in place.
pub async fn compact_segment(store: &Store, seg: u32, pace: bool) -> Result<bool, StoreError> {
    let Some(file) = store.inner.log.segment_file(seg) else {
        return Ok(true);
    };
    // Mostly-garbage segments are mostly read, not copied: reads are paced too.
    let mut pacer = Pacer::compaction(store, pace);
    let scan = scan_segment_paced(&file, &mut pacer).await?;
    let seg_used: u64 = scan
        .records
        .iter()
        .map(|r| record_bytes(r.header.payload_len as usize) as u64)
        .sum();
    let mut commits = HashSet::new();
    // Version deletes and the order each applies with.
    let mut deletes: Vec<(DeleteRec, u64)> = Vec::new();
    let mut ends = Vec::new();
    for r in &scan.records {
        let payload = r.payload.as_deref().unwrap_or(&[]);
        let seq = r.header.seq;
        match r.header.kind {
            RecordKind::Commit => {
                commits.insert(seq);
            }
            RecordKind::Delete => deletes.extend(DeleteRec::decode(payload).ok().map(|d| (d, seq))),
            RecordKind::Version => {
                if let Ok(v) = VersionRec::decode(payload) {
                    let order = v.order_at(seq);
                    match v.op {
                        VersionOp::Put { .. } => {
                            commits.insert(seq);
                        }
                        VersionOp::Remove(d) => deletes.push((d, order)),
                    }
                }
            }
            RecordKind::MultipartAbort => ends.extend(MultipartEndRec::decode(payload).ok()),
            // A completion is also the object's commit (moved like one) and
            // the end of its upload (carried like an abort).
            RecordKind::MultipartComplete => {
                if let Ok(c) = MultipartCompleteRec::decode(payload) {
                    commits.insert(seq);
                    ends.push(MultipartEndRec {
                        upload_id: c.upload_id,
                        bucket: c.commit.bucket,
                        key: c.commit.key,
                    });
                }
            }
            _ => {}
        }
    }
    // Every version (noncurrent ones and delete markers too) held there.
    let watch = store
        .inner
        .index
        .on_disk()
        .map(|d| Watching::new(d, seg, &commits));
    let (movers, mut copy_bytes) = find_movers(store, seg, &commits).await?;
    let oldest = store.inner.log.segments.borrow().keys().next() == Some(&seg);
    if !oldest {
        copy_bytes += deletes
            .iter()
            .map(|(d, _)| record_bytes(d.encode().len() + VERSION_REC_OVERHEAD_BYTES) as u64)
            .chain(ends.iter().map(|e| record_bytes(e.encode().len()) as u64))
            .sum::<u64>();
    }
    if !worth_copying(store, seg, copy_bytes)? {
        return Ok(false);
    }
    let _claim = store
        .inner
        .log
        .space()
        .claim_for_compaction(copy_bytes.saturating_add(COMPACTION_COPY_SLACK_BYTES));
    for (bucket, key, version_id) in &movers {
        let bytes = move_version(store, *bucket, key, *version_id, seg, &commits).await?;
        pacer.account(bytes).await;
    }
    if !oldest {
        for (d, order) in deletes {
            carry_delete(store, d, order).await?;
        }
        for e in ends {
            carry_end(store, e, seg).await?;
        }
    }
    if watch.is_some() {
        // A freed segment must be older than the index's durable state,
        // or the next start replays from a segment that is gone: a rebuild.
        if store
            .inner
            .index_durable_segment
            .get()
            .is_none_or(|d| d <= seg)
            && !super::index_state::freeze_and_flush(store, QUIESCE_TRIES, AppendClass::Compaction)
                .await?
        {
            return Ok(false);
        }
    }
    // Checked again in free_segment's last step, where no write can land.
    let moved_all = || watch.as_ref().is_none_or(|w| w.all_moved(&movers));
    free_segment(store, seg, &commits, seg_used, &moved_all).await
}

/// The segment watch of an on-disk index for one compaction, ended when
/// the compaction ends however it ends.
struct Watching<'a> {
    index: &'a DiskIndex,
    watch: Rc<SegmentWatch>,
}

impl<'a> Watching<'a> {
    fn new(index: &'a DiskIndex, seg: u32, commits: &HashSet<u64>) -> Self {
        let watch = index.watch_segment(seg, commits.clone());
        Watching { index, watch }
    }

    /// Whether every version written during the compaction that names
    /// the segment was among the movers (and so was moved since).
    fn all_moved(&self, movers: &[(BucketId, String, u128)]) -> bool {
        let movers: HashSet<&(BucketId, String, u128)> = movers.iter().collect();
        self.watch.touched().iter().all(|t| movers.contains(t))
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        self.index.unwatch_segment(&self.watch);
    }
}

/// The versions that name `seg` (their data, or their commit record in
/// it), and the bytes moving them appends. An on-disk index is walked
/// bucket by bucket.
// Walking every version costs a read of the whole index per compacted
// segment; docs/INDEX.md's design finds them from the segment's own
// records and the `B` table instead (not built yet).
async fn find_movers(
    store: &Store,
    seg: u32,
    commits: &HashSet<u64>,
) -> Result<(Vec<(BucketId, String, u128)>, u64), StoreError> {
    let mut copy_bytes = 0u64;
    let mut movers = Vec::new();
    let mut take = |e: &ObjectEntry| {
        if refers_to(e, seg, commits) {
            copy_bytes += move_bytes(e, seg);
            movers.push((e.bucket, e.key.clone(), e.version_id));
        }
    };
    match &store.inner.index {
        ObjectIndex::Memory(m) => m.borrow().entries().for_each(|e| take(e)),
        ObjectIndex::Disk(d) => {
            for bucket in d.bucket_ids() {
                let mut walk = VersionWalk::new(d, bucket).await?;
                while let Some(e) = walk.next().await? {
                    take(&e);
                }
            }
        }
    }
    Ok((movers, copy_bytes))
}

/// Bytes a version record adds to its Commit payload (order, op tag).
const VERSION_REC_OVERHEAD_BYTES: usize = 32;

/// Bytes moving `e` out of `seg` appends: its data records there and a
/// new version record.
fn move_bytes(e: &ObjectEntry, seg: u32) -> u64 {
    let data: u64 = e
        .extents
        .iter()
        .filter(|x| x.segment == seg)
        .map(|x| record_bytes(x.payload_len as usize) as u64)
        .sum();
    let commit = CommitRec {
        bucket: e.bucket,
        key: e.key.clone(),
        version_id: e.version_id,
        meta: e.meta.clone(),
        extents: e.extents.clone(),
    };
    data + record_bytes(commit.encode().len() + VERSION_REC_OVERHEAD_BYTES) as u64
}

/// Whether copying `copy_bytes` to free `seg` is worth it and fits: it
/// must take less than freeing the segment gives back, and fit the room
/// the shard has left (compaction may use the whole reserve).
fn worth_copying(store: &Store, seg: u32, copy_bytes: u64) -> Result<bool, StoreError> {
    let Some(file) = store.inner.log.segment_file(seg) else {
        return Ok(true);
    };
    let seg_bytes = file.len()?;
    let room = store.inner.log.room();
    let worth =
        copy_bytes < seg_bytes && copy_bytes.saturating_add(COMPACTION_COPY_SLACK_BYTES) <= room;
    if !worth {
        tracing::info!(
            shard = store.inner.log.config().shard,
            segment = seg,
            copy_bytes,
            room,
            "segment left for later: its survivors take as much as freeing it gives, or more than the room left"
        );
    }
    Ok(worth)
}

fn refers_to(e: &ObjectEntry, seg: u32, commits: &HashSet<u64>) -> bool {
    commits.contains(&e.commit_seq) || e.extents.iter().any(|x| x.segment == seg)
}

/// Rewrites one version so nothing of it lives in `seg`; returns bytes
/// copied. The new record keeps the version's order, so a noncurrent
/// version stays noncurrent when the log is replayed.
async fn move_version(
    store: &Store,
    bucket: BucketId,
    key: &str,
    version_id: u128,
    seg: u32,
    commits: &HashSet<u64>,
) -> Result<u64, StoreError> {
    // Read-copy-commit of the entry: no other write of the key may land in between.
    let guard = store.lock_key(bucket, key, KeyMode::Exclusive).await;
    let Some(e) = store.get_version(bucket, key, version_id).await? else {
        return Ok(0);
    };
    if !refers_to(&e, seg, commits) {
        return Ok(0);
    }
    let mut copied = 0u64;
    let mut extents = Vec::with_capacity(e.extents.len());
    for x in &e.extents {
        if x.segment != seg {
            extents.push(*x);
            continue;
        }
        let payload = store.read_data_record(x, false).await?;
        assert_eq!(payload.len(), x.payload_len as usize);
        let loc = store
            .append(AppendClass::Compaction, RecordKind::Data, &payload)
            .await?;
        assert_ne!(loc.segment, seg, "compaction copies forward only");
        extents.push(Extent {
            segment: loc.segment,
            offset: loc.offset,
            payload_len: x.payload_len,
        });
        copied += payload.len() as u64;
    }
    let rec = CommitRec {
        bucket,
        key: key.to_string(),
        version_id,
        meta: e.meta.clone(),
        extents,
    };
    store
        .write_version(
            &guard,
            AppendClass::Compaction,
            rec,
            e.order,
            e.delete_marker,
        )
        .await?;
    debug_assert!(store
        .get_version(bucket, key, version_id)
        .await?
        .is_some_and(|n| n.order == e.order && !refers_to(&n, seg, commits)));
    Ok(copied)
}

/// Re-appends a version delete (with its order) while its version is
/// absent, so the older records of that version it hides in older segments
/// stay hidden once its segment is gone. A version present again was
/// re-created after the delete and hides those records itself.
async fn carry_delete(store: &Store, d: DeleteRec, order: u64) -> Result<(), StoreError> {
    let _guard = store.lock_key(d.bucket, &d.key, KeyMode::Exclusive).await;
    if store
        .get_version(d.bucket, &d.key, d.version_id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let v = VersionRec {
        order,
        op: VersionOp::Remove(d),
    };
    let loc = store
        .append(AppendClass::Compaction, RecordKind::Version, &v.encode())
        .await?;
    store.inner.log.commit_barrier(loc.seq).await
}

/// Re-appends the end (as an Abort record) of an upload whose Init record
/// is, or may be, in a segment other than `seg`: without it, the upload
/// would be in progress again after a restart.
async fn carry_end(store: &Store, e: MultipartEndRec, seg: u32) -> Result<(), StoreError> {
    let _guard = store.lock_key(e.bucket, &e.key, KeyMode::Exclusive).await;
    let open = store.with_upload(e.bucket, &e.key, e.upload_id, |_| ());
    debug_assert!(open.is_none(), "upload {} ended and open", e.upload_id);
    let init = store
        .inner
        .init_segments
        .borrow()
        .get(&e.upload_id)
        .copied();
    let needed = match init {
        Some(init) => init != seg,
        None => !store.inner.inits_complete,
    };
    if open.is_some() || !needed {
        return Ok(());
    }
    let loc = store
        .append(
            AppendClass::Compaction,
            RecordKind::MultipartAbort,
            &e.encode(),
        )
        .await?;
    store.inner.log.commit_barrier(loc.seq).await
}

/// Whether a multipart upload in progress needs `seg`: its Init record,
/// Part records or part data. Parts are not in the index, so compaction
/// does not move them: such a segment waits until the upload completes (its
/// object is then in the index) or aborts.
fn uploads_refer_to(store: &Store, seg: u32) -> bool {
    store
        .inner
        .uploads
        .borrow()
        .iter()
        .any(|u| u.segments().any(|s| s == seg))
}

/// Waits until no open reader pins `seg`; false if one still does after
/// `READER_PIN_WAIT_MS`.
async fn wait_for_readers(store: &Store, seg: u32) -> bool {
    let deadline = Instant::now() + Duration::from_millis(READER_PIN_WAIT_MS);
    loop {
        let released = store.inner.readers_released.notified();
        if !store.segment_has_readers(seg) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = monoio::time::timeout(left, released).await;
    }
}

/// Drops `seg` from the log and unlinks it once nothing refers to it, no
/// reader holds it and no commit is in flight (a commit checks its segments
/// exist; see ObjectWriter). `seg_used` is its record bytes.
async fn free_segment(
    store: &Store,
    seg: u32,
    commits: &HashSet<u64>,
    seg_used: u64,
    moved_all: &dyn Fn() -> bool,
) -> Result<bool, StoreError> {
    let inner = &store.inner;
    if !wait_for_readers(store, seg).await {
        tracing::info!(segment = seg, "segment still read; freeing it later");
        return Ok(false);
    }
    for _ in 0..QUIESCE_TRIES {
        if inner.keys.is_idle() {
            break;
        }
        inner.keys.any_released.notified().await;
    }
    // No await from here on: the checks and the removal are one step.
    if !inner.keys.is_idle()
        || !moved_all()
        || store.segment_has_readers(seg)
        || uploads_refer_to(store, seg)
        || store.oldest_open_writer_segment().is_some_and(|w| seg >= w)
        || inner
            .index
            .in_memory()
            .is_some_and(|m| m.entries().any(|e| refers_to(e, seg, commits)))
    {
        return Ok(false);
    }
    let Some(file) = inner.log.remove_segment(seg) else {
        return Ok(true);
    };
    let live = inner.live_per_segment.borrow_mut().remove(&seg);
    debug_assert!(live.unwrap_or(0) == 0, "freed segment {seg} had live bytes");
    inner.init_segments.borrow_mut().retain(|_, s| *s != seg);
    inner.freed_bytes.set(inner.freed_bytes.get() + seg_used);
    store.forget_cached_segment(seg);
    let cfg = inner.log.config();
    let file_bytes = file.len()?;
    // The segment is out of the log already; its file goes off this thread.
    remove_durably(file.path(), &cfg.dir, &cfg.backing).await?;
    inner.log.space().release(file_bytes);
    tracing::info!(
        shard = cfg.shard,
        segment = seg,
        "segment compacted and freed"
    );
    Ok(true)
}

/// Compacts until no segment is eligible (or one must wait); returns segments freed.
pub async fn compact_all(store: &Store, pace: bool) -> Result<u32, StoreError> {
    let mut freed = 0;
    let mut skipped = HashSet::new();
    while let Some(seg) = pick_excluding(store, &skipped) {
        if compact_segment(store, seg, pace).await? {
            freed += 1;
        } else {
            skipped.insert(seg);
        }
    }
    Ok(freed)
}

/// Background compaction; ends when the store is dropped.
pub fn spawn_compactor(store: &Store) {
    let weak: Weak<StoreInner> = Rc::downgrade(&store.inner);
    monoio::spawn(async move {
        loop {
            monoio::time::sleep(Duration::from_millis(COMPACTION_POLL_MS)).await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let store = Store { inner };
            if store.inner.log.is_fenced() {
                continue;
            }
            match compact_all(&store, true).await {
                // A checkpoint naming a freed segment is ignored at start-up
                // (safe, but a full scan): write a fresh one.
                Ok(freed) if freed > 0 => {
                    if let Err(e) = super::checkpoint::write_checkpoint(&store).await {
                        tracing::warn!("checkpoint after compaction failed: {e}");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("compaction stopped this round: {e}"),
            }
        }
    });
}
