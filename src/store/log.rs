//! The per-shard append log: an aligned write buffer, a single flusher task
//! doing group commit (write the dirty aligned range, then fdatasync), and
//! segment rolling into preallocated files.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::align::{align_down, align_up, AlignedBuf, BLOCK_BYTES};
use super::file::{segment_name, Backing, SegmentFile};
use super::record::{
    encode_record_parts, record_bytes, RecordKind, SegmentHeaderRec, SyncRec, FORMAT_VERSION,
    MAX_PAYLOAD_BYTES, SYNC_RECORD_BYTES,
};
use super::space::{AppendClass, Space};
use super::types::StoreError;

/// See `Log::space_is_short`.
const SPACE_PRESSURE_SEGMENTS: u64 = 4;

/// Smallest write buffer: the largest record, the Sync record that ends
/// its flush, and the carried tail block.
pub const MIN_WRITE_BUFFER_BYTES: usize =
    record_bytes(MAX_PAYLOAD_BYTES) + SYNC_RECORD_BYTES + BLOCK_BYTES;
/// After the flusher has had nothing to write for this long, it confirms
/// the last flush with a write of a Sync record alone, so that flush's
/// records count as confirmed in recovery (damage to them is then media
/// damage, not a torn write). Long enough that a busy shard never pays
/// for it (its next flush confirms the last one anyway), short enough that
/// an idle shard's last writes are confirmed moments after they are.
pub const CONFIRM_IDLE_MS: u64 = 20;
/// Segment room every append leaves after its record: its flush's Sync
/// record and a confirming Sync-only flush's.
const SYNC_RESERVE_BYTES: u64 = 2 * SYNC_RECORD_BYTES as u64;
pub const MIN_SEGMENT_BYTES: u64 = 2 * MIN_WRITE_BUFFER_BYTES as u64;
/// Upper bound of a segment header record (the first record of every segment).
const SEGMENT_HEADER_BOUND_BYTES: u64 = record_bytes(64) as u64;
/// The zero-filled file the next segment is prepared in (O_DIRECT logs only;
/// not a segment name, so recovery ignores a half-prepared one).
pub const SPARE_SEGMENT_NAME: &str = "spare-segment.tmp";
/// The spare for the next segment is prepared once the active one is this full.
const SPARE_PREPARE_AT_PCT: u64 = 50;
/// A spare is zero-filled only while the active segment's flushes average
/// less than this; larger flushes get a preallocated (fallocate) spare.
/// Zero-filling writes every byte of the segment twice; what it buys is
/// that O_DIRECT writes into written extents complete inline instead of
/// being punted to io-wq for an unwritten-extent conversion — a per-flush
/// cost, so it pays off for many small group commits (PUT 4 KiB: 1.47×
/// throughput) and not for large ones (PUT 1 MiB: the doubled disk writes
/// cost 1.2–1.3× throughput, benches/README.md).
pub const ZERO_FILL_BELOW_AVG_FLUSH_BYTES: u64 = 128 * 1024;

/// The next segment, prepared ahead of the roll so no write waits for a zero-fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spare {
    None,
    /// Being prepared: zero-filled (true) or preallocated only (false).
    Preparing(bool),
    Ready,
    /// Preparing failed; retried after the next roll.
    Failed,
}

/// A tiny single-threaded notify: `notified()` completes once `notify_all`
/// ran after the future was created.
#[derive(Default)]
pub struct Notify {
    epoch: Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Notify {
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            epoch: self.epoch.get(),
        }
    }

    pub fn notify_all(&self) {
        self.epoch.set(self.epoch.get() + 1);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }
}

pub struct Notified<'a> {
    notify: &'a Notify,
    epoch: u64,
}

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.epoch.get() != self.epoch {
            return Poll::Ready(());
        }
        self.notify.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// Where an appended record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLoc {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
    pub seq: u64,
}

#[derive(Clone)]
pub struct LogConfig {
    pub dir: PathBuf,
    pub shard: u32,
    pub shard_count: u32,
    pub segment_bytes: u64,
    pub write_buffer_bytes: usize,
    pub direct_io: bool,
    pub backing: Backing,
    pub max_data_bytes: Option<u64>,
    /// Recovery drops records damaged after they were durable instead of
    /// failing (`--accept-data-loss`).
    pub accept_data_loss: bool,
}

/// Where writing resumes after recovery.
pub struct ResumePoint {
    pub segment: u32,
    /// End of the last valid record.
    pub offset: u64,
    /// Bytes after `offset` up to here hold a cut tail that must be zeroed.
    pub zero_until: u64,
    pub next_seq: u64,
}

struct LogState {
    seg_id: u32,
    seg_file: Rc<SegmentFile>,
    /// Size of the active segment's file (segments made with another
    /// `segment_bytes` keep their own size).
    seg_bytes: u64,
    active: AlignedBuf,
    /// File offset of `active[0]`; block aligned.
    buf_file_off: u64,
    spare: Option<AlignedBuf>,
    next_seq: u64,
    appended_seq: u64,
    durable_seq: u64,
    /// (segment, offset) just past record `durable_seq`; the flush in
    /// progress moves it to `flushing_end` when it completes.
    durable_end: (u32, u64),
    flushing_end: (u32, u64),
    /// Record bytes appended since open (segment headers included).
    appended_bytes: u64,
    /// The same, per segment appended to.
    appended_by_segment: BTreeMap<u32, u64>,
    /// Successful flushes into the active segment (the spare policy's input).
    seg_flushes: u64,
    want_seq: u64,
    /// The last completed flush wrote records besides its Sync record, and
    /// no later Sync confirms them yet.
    unconfirmed: bool,
    /// The flush in progress carries records besides its Sync record.
    flushing_records: bool,
    /// Someone waits in `confirm` for a Sync-only flush.
    confirm_wanted: bool,
    flushing: bool,
    rolling: bool,
    fenced: bool,
    shutdown: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct LogStats {
    pub flushes: u64,
    pub segments: u64,
    pub durable_seq: u64,
    /// Where the log stands just past record `durable_seq`: (segment, offset).
    pub durable_end: (u32, u64),
    /// Record bytes appended since open (segment headers included).
    pub appended_bytes: u64,
    /// Spare segments prepared by zero-filling, and by preallocation only.
    pub spares_zero_filled: u64,
    pub spares_preallocated: u64,
}

pub struct Log {
    cfg: LogConfig,
    /// The shard's space bounds; every append is admitted against them.
    space: Rc<Space>,
    state: RefCell<LogState>,
    /// Signalled when durability or buffer space changes (flush done, roll done).
    changed: Notify,
    /// Signalled to the flusher alone when someone waits for a flush.
    flush_wanted: Notify,
    flushes: Cell<u64>,
    spare: Cell<Spare>,
    /// Spares prepared: (zero-filled, preallocated only).
    spares_prepared: Cell<(u64, u64)>,
    /// Every segment file, for reads and for rolling.
    pub segments: RefCell<BTreeMap<u32, Rc<SegmentFile>>>,
}

impl Log {
    /// Opens the log for appending at `resume` (or a fresh first segment) and
    /// spawns the flusher task.
    pub async fn open(
        cfg: LogConfig,
        segments: BTreeMap<u32, Rc<SegmentFile>>,
        resume: Option<ResumePoint>,
        space: Rc<Space>,
    ) -> Result<Rc<Log>, StoreError> {
        assert!(
            cfg.write_buffer_bytes >= MIN_WRITE_BUFFER_BYTES,
            "write buffer too small"
        );
        assert!(cfg.segment_bytes >= MIN_SEGMENT_BYTES, "segment too small");
        assert_eq!(cfg.segment_bytes % BLOCK_BYTES as u64, 0);
        let (seg_id, next_seq) = resume.as_ref().map_or((1, 1), |r| (r.segment, r.next_seq));
        let fresh = resume.as_ref().is_none_or(|r| r.offset == 0);
        // A spare left by an earlier run may be half zero-filled.
        super::file::remove(&cfg.dir.join(SPARE_SEGMENT_NAME), &cfg.backing);
        for f in segments.values() {
            space.hold(f.len()?);
        }
        let seg_file = match segments.get(&seg_id) {
            Some(f) => f.clone(),
            // The first segment is zero-filled now (start-up cost, see benches/README.md).
            // Compaction's bound: a store that stopped full must open to delete.
            _ => Rc::new(
                create_counted_segment(&cfg, &space, seg_id, true, AppendClass::Compaction).await?,
            ),
        };
        // A segment made under another `segment_bytes` keeps its own size.
        let seg_bytes = match seg_file.len()? {
            len if len >= MIN_SEGMENT_BYTES => len,
            _ => cfg.segment_bytes,
        };
        let mut active = AlignedBuf::new(cfg.write_buffer_bytes);
        let mut buf_file_off = 0;
        if let Some(r) = &resume {
            buf_file_off = align_down(r.offset, BLOCK_BYTES as u64);
            load_tail(&seg_file, &mut active, buf_file_off, r).await?;
        }
        let log = Rc::new(Log {
            state: RefCell::new(LogState {
                seg_id,
                seg_file: seg_file.clone(),
                seg_bytes,
                active,
                buf_file_off,
                spare: Some(AlignedBuf::new(cfg.write_buffer_bytes)),
                next_seq,
                appended_seq: next_seq - 1,
                durable_seq: next_seq - 1,
                durable_end: (seg_id, resume.as_ref().map_or(0, |r| r.offset)),
                flushing_end: (seg_id, 0),
                appended_bytes: 0,
                appended_by_segment: BTreeMap::new(),
                seg_flushes: 0,
                want_seq: 0,
                // What recovery kept may be the unconfirmed tail of a flush
                // (or a cut one's remains): confirm it soon.
                unconfirmed: !fresh,
                flushing_records: false,
                confirm_wanted: false,
                flushing: false,
                rolling: false,
                fenced: false,
                shutdown: false,
            }),
            cfg,
            space,
            changed: Notify::default(),
            flush_wanted: Notify::default(),
            flushes: Cell::new(0),
            spare: Cell::new(Spare::None),
            spares_prepared: Cell::new((0, 0)),
            segments: RefCell::new(segments),
        });
        log.segments.borrow_mut().insert(seg_id, seg_file);
        if fresh {
            log.append_segment_header()?;
        }
        monoio::spawn(flusher(log.clone()));
        Ok(log)
    }

    pub fn config(&self) -> &LogConfig {
        &self.cfg
    }

    pub fn space(&self) -> &Space {
        &self.space
    }

    pub fn stats(&self) -> LogStats {
        LogStats {
            flushes: self.flushes.get(),
            segments: self.segments.borrow().len() as u64,
            durable_seq: self.state.borrow().durable_seq,
            durable_end: self.state.borrow().durable_end,
            appended_bytes: self.state.borrow().appended_bytes,
            spares_zero_filled: self.spares_prepared.get().0,
            spares_preallocated: self.spares_prepared.get().1,
        }
    }

    /// Whether a zero-filled spare waits for the next roll.
    pub fn spare_is_ready(&self) -> bool {
        self.spare.get() == Spare::Ready
    }

    pub fn is_fenced(&self) -> bool {
        self.state.borrow().fenced
    }

    pub fn segment_file(&self, id: u32) -> Option<Rc<SegmentFile>> {
        self.segments.borrow().get(&id).cloned()
    }

    /// Stops the flusher (called when the store is dropped).
    pub fn shutdown(&self) {
        self.state.borrow_mut().shutdown = true;
        self.changed.notify_all();
        self.flush_wanted.notify_all();
    }

    /// Appends one record and returns its location immediately; it becomes
    /// durable with a later flush (see `commit_barrier`). Waits for buffer
    /// space (backpressure) and rolls segments as needed. NoSpace when the
    /// room left afterwards would be under `class`'s floor (space.rs).
    pub async fn append(
        &self,
        class: AppendClass,
        kind: RecordKind,
        flags: u8,
        payload: &[u8],
    ) -> Result<RecordLoc, StoreError> {
        self.append_parts(class, kind, flags, &[payload]).await
    }

    /// [`Log::append`] of a payload given in pieces, copied once into the
    /// log buffer (no gathering copy first).
    pub async fn append_parts<P: AsRef<[u8]>>(
        &self,
        class: AppendClass,
        kind: RecordKind,
        flags: u8,
        parts: &[P],
    ) -> Result<RecordLoc, StoreError> {
        let payload_len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
        assert!(payload_len <= MAX_PAYLOAD_BYTES);
        let need = record_bytes(payload_len) as u64;
        loop {
            let wait = {
                let mut s = self.state.borrow_mut();
                if s.fenced {
                    return Err(StoreError::WritesFenced);
                }
                let pos = s.buf_file_off + s.active.len() as u64;
                // Every append leaves room in the buffer for the Sync record
                // that ends its flush, and in the segment for that one and
                // the Sync-only flush that confirms it once the shard is idle.
                let need_with_sync = need + SYNC_RECORD_BYTES as u64;
                let need_in_segment = need + SYNC_RESERVE_BYTES;
                let seg_full = pos + need_in_segment > s.seg_bytes;
                if !s.rolling {
                    if seg_full {
                        // A roll takes a new file: see what the disk has now.
                        self.space.refresh();
                    }
                    if !self.admits(&s, class, need_in_segment) {
                        // The free space read last may be stale (compaction
                        // or another process freed some since).
                        self.space.refresh();
                        if !self.admits(&s, class, need_in_segment) {
                            tracing::debug!(
                                shard = self.cfg.shard,
                                ?class,
                                need = need_in_segment,
                                room = ?self.room_after(&s, need_in_segment, class),
                                floor = self.space.floor(class),
                                "append refused: no room above its class's floor"
                            );
                            return Err(StoreError::NoSpace);
                        }
                    }
                }
                if !s.rolling && !seg_full && need_with_sync as usize <= s.active.remaining() {
                    if class == AppendClass::Compaction {
                        self.space.compaction_appended(need);
                    }
                    return Ok(append_locked(&mut s, kind, flags, parts));
                }
                if !s.rolling && seg_full && s.durable_seq == s.appended_seq && !s.flushing {
                    s.rolling = true;
                    None
                } else {
                    if !s.rolling {
                        s.want_seq = s.want_seq.max(s.appended_seq);
                    }
                    Some(())
                }
            };
            match wait {
                // Wake only the flusher: waking fellow waiters here made two
                // waiters ping-pong forever and starved the I/O completions.
                Some(()) => {
                    let done = self.changed.notified();
                    self.flush_wanted.notify_all();
                    done.await
                }
                None => self.roll().await?,
            }
        }
    }

    /// Resolves once every record up to `seq` is durable; fails if the log is fenced first.
    pub async fn commit_barrier(&self, seq: u64) -> Result<(), StoreError> {
        loop {
            {
                let mut s = self.state.borrow_mut();
                if s.durable_seq >= seq {
                    return Ok(());
                }
                if s.fenced {
                    return Err(StoreError::WritesFenced);
                }
                debug_assert!(seq <= s.appended_seq);
                s.want_seq = s.want_seq.max(seq);
            }
            let done = self.changed.notified();
            self.flush_wanted.notify_all();
            done.await;
        }
    }

    /// Room the log would have left after appending `need` bytes now:
    /// the rest of the active segment (or, when the record does not fit
    /// there, of a new one) and every further segment the space bounds
    /// allow, a spare in preparation or ready included. None: no room at
    /// all; u64::MAX: no bound.
    fn room_after(&self, s: &LogState, need: u64, class: AppendClass) -> Option<u64> {
        self.room_beside(s, need, class, 0)
    }

    /// `room_after`, were `other_file_bytes` more held by a file that is
    /// not a segment (a checkpoint): such a file can cost the room a whole
    /// segment, since only whole segments count as room.
    fn room_beside(
        &self,
        s: &LogState,
        need: u64,
        class: AppendClass,
        other_file_bytes: u64,
    ) -> Option<u64> {
        let unallocated = self
            .space
            .unallocated_for(class)?
            .checked_sub(other_file_bytes)?;
        let seg = self.cfg.segment_bytes;
        let spare = matches!(self.spare.get(), Spare::Preparing(_) | Spare::Ready);
        let further = unallocated / seg + u64::from(spare);
        let pos = s.buf_file_off + s.active.len() as u64;
        if pos + need <= s.seg_bytes {
            Some(s.seg_bytes - pos - need + further * seg)
        } else {
            (further * seg).checked_sub(SEGMENT_HEADER_BOUND_BYTES + need)
        }
    }

    fn admits(&self, s: &LogState, class: AppendClass, need: u64) -> bool {
        if self.space.unallocated().is_none() {
            return true;
        }
        self.room_after(s, need, class)
            .is_some_and(|room| room >= self.space.floor(class))
    }

    /// Whether a file of `bytes` beside the segments (a checkpoint) leaves
    /// the log the room `class`'s floor asks for.
    pub fn may_hold_file(&self, bytes: u64, class: AppendClass) -> bool {
        if self.space.unallocated_for(class).is_none() {
            return true;
        }
        self.room_beside(&self.state.borrow(), 0, class, bytes)
            .is_some_and(|room| room >= self.space.floor(class))
    }

    /// Room left for compaction (its floor is zero): what the shard can still append.
    pub fn room(&self) -> u64 {
        if self.space.unallocated().is_none() {
            return u64::MAX;
        }
        self.room_after(&self.state.borrow(), 0, AppendClass::Compaction)
            .unwrap_or(0)
    }

    /// Resolves once everything appended so far is durable and confirmed by
    /// a durable Sync record (a clean shutdown's last write).
    pub async fn confirm(&self) -> Result<(), StoreError> {
        loop {
            {
                let mut s = self.state.borrow_mut();
                if s.fenced {
                    return Err(StoreError::WritesFenced);
                }
                if !s.unconfirmed && !s.flushing && s.appended_seq == s.durable_seq {
                    return Ok(());
                }
                s.want_seq = s.want_seq.max(s.appended_seq);
                s.confirm_wanted = true;
            }
            let done = self.changed.notified();
            self.flush_wanted.notify_all();
            done.await;
        }
    }

    /// Whether the last flush waits for a Sync record to confirm it.
    fn needs_confirmation(&self) -> bool {
        let s = self.state.borrow();
        s.unconfirmed && !s.fenced
    }

    /// The next segment's file: the ready spare, else a new one if the
    /// space bounds allow it, else the spare being prepared once it is.
    async fn next_segment_file(&self, next: u32) -> Result<SegmentFile, StoreError> {
        loop {
            if let Some(file) = self.take_spare(next).await {
                return Ok(file);
            }
            // The append that rolls was admitted under its class's bound
            // already; the roll itself may use any reserve.
            if self
                .space
                .may_allocate_for(self.cfg.segment_bytes, AppendClass::Compaction)
            {
                // No spare ready (small segments, a fast writer): the
                // preallocated file works, its writes are just slower.
                return create_counted_segment(
                    &self.cfg,
                    &self.space,
                    next,
                    false,
                    AppendClass::Compaction,
                )
                .await;
            }
            if !matches!(self.spare.get(), Spare::Preparing(_)) {
                return Err(StoreError::NoSpace);
            }
            let prepared = self.changed.notified();
            if matches!(self.spare.get(), Spare::Preparing(_)) {
                prepared.await;
            }
        }
    }

    async fn roll(&self) -> Result<(), StoreError> {
        let next = self.state.borrow().seg_id + 1;
        let result = self.next_segment_file(next).await;
        if self.spare.get() == Spare::Failed {
            self.spare.set(Spare::None);
        }
        let done = match result {
            Ok(file) => {
                let file = Rc::new(file);
                self.segments.borrow_mut().insert(next, file.clone());
                let mut s = self.state.borrow_mut();
                s.seg_id = next;
                s.seg_file = file;
                s.seg_bytes = self.cfg.segment_bytes;
                s.buf_file_off = 0;
                s.seg_flushes = 0;
                s.active.set_len(0);
                s.active.zero_from(0);
                s.rolling = false;
                drop(s);
                self.append_segment_header()
            }
            Err(e) => {
                self.state.borrow_mut().rolling = false;
                Err(e)
            }
        };
        self.changed.notify_all();
        done
    }

    /// Turns the ready spare into segment `id` (rename, then a directory
    /// sync makes the name durable); None if no spare is ready or that fails.
    async fn take_spare(&self, id: u32) -> Option<SegmentFile> {
        if self.spare.get() != Spare::Ready {
            return None;
        }
        self.spare.set(Spare::None);
        let from = self.cfg.dir.join(SPARE_SEGMENT_NAME);
        let to = self.cfg.dir.join(segment_name(id));
        let renamed = std::fs::rename(&from, &to).map_err(|source| StoreError::Io {
            op: "rename",
            path: from.clone(),
            offset: 0,
            source,
        });
        let opened =
            match renamed.and_then(|()| super::file::sync_dir(&self.cfg.dir, &Backing::Files)) {
                Ok(()) => SegmentFile::open(&to, false, true, &Backing::Files).await,
                Err(e) => Err(e),
            };
        match opened {
            Ok(file) => {
                debug_assert!(file.is_direct());
                Some(file)
            }
            Err(e) => {
                tracing::warn!(error = %e, "spare segment unusable; preallocating instead");
                super::file::remove(&to, &Backing::Files);
                self.space.release(self.cfg.segment_bytes);
                None
            }
        }
    }

    /// Starts preparing the spare for the next segment once the active one
    /// is `SPARE_PREPARE_AT_PCT` full (O_DIRECT files only: the simulated
    /// disk and buffered files keep plain preallocation). It is zero-filled
    /// if the active segment's flushes were small on average, else only
    /// preallocated (see `ZERO_FILL_BELOW_AVG_FLUSH_BYTES`).
    fn maybe_prepare_spare(self: &Rc<Self>) {
        if self.spare.get() != Spare::None || !self.cfg.backing.is_files() {
            return;
        }
        let (direct, (_, end), flushes) = {
            let s = self.state.borrow();
            (s.seg_file.is_direct(), s.durable_end, s.seg_flushes)
        };
        if !direct || end * 100 < self.cfg.segment_bytes * SPARE_PREPARE_AT_PCT {
            return;
        }
        // A spare is for object writes: it must leave their floor (the
        // reserve of this shard, and of the others on the file system).
        self.space.refresh();
        if !self
            .space
            .may_allocate_as(self.cfg.segment_bytes, AppendClass::Write)
        {
            return;
        }
        // Held from now on: it becomes the next segment (or is removed).
        self.space.hold(self.cfg.segment_bytes);
        // After a restart into a half-full segment the count starts at the
        // resume point, so the average overstates the flushes' size then.
        let zero = should_zero_fill(end, flushes);
        self.spare.set(Spare::Preparing(zero));
        monoio::spawn(prepare_spare(self.clone(), zero));
    }

    /// Whether the shard is close to running out of room: less than
    /// `SPACE_PRESSURE_SEGMENTS` segments' worth left under the
    /// `--max-data-bytes` cap or in the file system's free space.
    /// Compaction then stops yielding to foreground requests and takes
    /// segments with more survivors.
    pub fn space_is_short(&self) -> bool {
        self.space.refresh();
        self.room() < SPACE_PRESSURE_SEGMENTS * self.cfg.segment_bytes
    }

    /// Takes `seg` out of the log (compaction frees it); its file stays
    /// counted until `Space::release` once it is unlinked.
    pub fn remove_segment(&self, seg: u32) -> Option<Rc<SegmentFile>> {
        debug_assert_ne!(seg, self.state.borrow().seg_id, "the active segment stays");
        self.segments.borrow_mut().remove(&seg)
    }

    /// Record bytes appended since open, per segment.
    pub fn appended_by_segment(&self) -> BTreeMap<u32, u64> {
        self.state.borrow().appended_by_segment.clone()
    }

    fn append_segment_header(&self) -> Result<(), StoreError> {
        let mut s = self.state.borrow_mut();
        debug_assert_eq!(s.buf_file_off + s.active.len() as u64, 0);
        let rec = SegmentHeaderRec {
            segment_id: s.seg_id,
            shard: self.cfg.shard,
            shard_count: self.cfg.shard_count,
            format_version: FORMAT_VERSION,
            created_millis: crate::util::time::unix_now_millis(),
        };
        let payload = rec.encode();
        debug_assert!(record_bytes(payload.len()) as u64 <= SEGMENT_HEADER_BOUND_BYTES);
        append_locked(&mut s, RecordKind::SegmentHeader, 0, &[payload]);
        Ok(())
    }

    /// Ends the buffer with a Sync record, takes it for flushing and leaves
    /// a fresh one that starts with the partially filled tail block. None
    /// when there is nothing to do: no record is waited for and, unless
    /// `confirm`, nothing to confirm either.
    fn begin_flush(&self, confirm: bool) -> Option<(Rc<SegmentFile>, AlignedBuf, u64, u64)> {
        let mut s = self.state.borrow_mut();
        // A roll swaps the buffer and the segment under us.
        if s.flushing || s.fenced || s.rolling {
            return None;
        }
        let records = s.appended_seq > s.durable_seq;
        let wanted = records && s.want_seq > s.durable_seq;
        let confirm = (confirm || s.confirm_wanted) && (s.unconfirmed || records);
        if !wanted && !confirm {
            return None;
        }
        s.confirm_wanted = false;
        let pos = s.buf_file_off + s.active.len() as u64;
        if pos + SYNC_RECORD_BYTES as u64 > s.seg_bytes {
            // Appends leave room for their flush's Sync record and one
            // confirmation, so only a confirmation of a log resumed at its
            // segment's end (a format 1 log, or a confirmed one) gets here.
            // The next segment's first flush confirms this one; until then
            // it is confirmed already or holds what the previous run left.
            debug_assert!(!records, "an append left no room for its Sync record");
            s.unconfirmed = false;
            drop(s);
            self.changed.notify_all();
            return None;
        }
        // Everything before this flush is durable: say so in it. Appends
        // left room for this record in the buffer and the segment.
        let sync = SyncRec {
            segment: s.durable_end.0,
            offset: s.durable_end.1,
            seq: s.durable_seq,
        };
        debug_assert!(s.active.remaining() >= SYNC_RECORD_BYTES);
        debug_assert!(s.buf_file_off + (s.active.len() + SYNC_RECORD_BYTES) as u64 <= s.seg_bytes);
        append_locked(&mut s, RecordKind::Sync, 0, &[sync.encode()]);
        s.flushing_records = records;
        let mut fresh = s.spare.take().expect("spare write buffer");
        let len = s.active.len();
        let tail_start = align_down(len as u64, BLOCK_BYTES as u64) as usize;
        fresh.extend_from_slice(&s.active.as_slice()[tail_start..len]);
        let mut full = std::mem::replace(&mut s.active, fresh);
        // Records write their own padding; only the slack after the last
        // record in the last block is stale from the buffer's previous use.
        let aligned = align_up(len as u64, BLOCK_BYTES as u64) as usize;
        full.full_mut()[len..aligned].fill(0);
        full.set_len(aligned);
        let off = s.buf_file_off;
        s.flushing_end = (s.seg_id, off + len as u64);
        s.buf_file_off += tail_start as u64;
        s.flushing = true;
        Some((s.seg_file.clone(), full, off, s.appended_seq))
    }

    fn end_flush(&self, mut buf: AlignedBuf, target: u64, result: Result<(), StoreError>) {
        let mut s = self.state.borrow_mut();
        s.flushing = false;
        self.flushes.set(self.flushes.get() + 1);
        match result {
            Ok(()) => {
                debug_assert!(target > s.durable_seq);
                s.durable_seq = target;
                if s.flushing_end.0 == s.seg_id {
                    s.seg_flushes += 1;
                }
                s.durable_end = s.flushing_end;
                // This flush's Sync confirmed every earlier one.
                s.unconfirmed = s.flushing_records;
            }
            Err(e) => {
                tracing::error!(error = %e, "log flush failed; fencing writes on this shard");
                s.fenced = true;
            }
        }
        // Not zeroed: appends overwrite it and begin_flush zeroes the slack.
        buf.set_len(0);
        s.spare = Some(buf);
        drop(s);
        self.changed.notify_all();
    }
}

fn append_locked<P: AsRef<[u8]>>(
    s: &mut LogState,
    kind: RecordKind,
    flags: u8,
    parts: &[P],
) -> RecordLoc {
    let start = s.active.len();
    let seq = s.next_seq;
    let total = record_bytes(parts.iter().map(|p| p.as_ref().len()).sum());
    let n = encode_record_parts(
        &mut s.active.full_mut()[start..start + total],
        kind,
        flags,
        seq,
        parts,
    );
    debug_assert_eq!(n, total);
    s.active.set_len(start + total);
    s.next_seq += 1;
    s.appended_seq = seq;
    s.appended_bytes += total as u64;
    *s.appended_by_segment.entry(s.seg_id).or_default() += total as u64;
    RecordLoc {
        segment: s.seg_id,
        offset: s.buf_file_off + start as u64,
        len: total as u32,
        seq,
    }
}

async fn flusher(log: Rc<Log>) {
    let idle = std::time::Duration::from_millis(CONFIRM_IDLE_MS);
    loop {
        let job = loop {
            let wait = log.flush_wanted.notified();
            if log.state.borrow().shutdown {
                return;
            }
            if let Some(job) = log.begin_flush(false) {
                break job;
            }
            if !log.needs_confirmation() {
                wait.await;
                continue;
            }
            // Idle with an unconfirmed flush: confirm it unless a commit
            // comes first (that commit's flush confirms it instead). A
            // commit arriving while the confirmation is being written
            // rides the next flush.
            if monoio::time::timeout(idle, wait).await.is_err() {
                if let Some(job) = log.begin_flush(true) {
                    break job;
                }
            }
        };
        let (file, buf, off, target) = job;
        let (mut result, buf) = file.write_at(buf, off).await;
        if result.is_ok() && !file.writes_are_durable() {
            result = file.sync_data().await;
        }
        log.end_flush(buf, target, result);
        log.maybe_prepare_spare();
    }
}

/// Whether the next segment should be zero-filled, given the active one's
/// bytes and flush count so far.
pub fn should_zero_fill(segment_bytes_written: u64, flushes: u64) -> bool {
    segment_bytes_written < flushes.saturating_mul(ZERO_FILL_BELOW_AVG_FLUSH_BYTES)
}

/// Prepares the spare segment file in the background (zero-filled, or only
/// preallocated); the next roll takes it.
async fn prepare_spare(log: Rc<Log>, zero: bool) {
    debug_assert_eq!(log.spare.get(), Spare::Preparing(zero));
    let path = log.cfg.dir.join(SPARE_SEGMENT_NAME);
    super::file::remove(&path, &Backing::Files);
    let started = std::time::Instant::now();
    let result = match SegmentFile::open(&path, true, true, &Backing::Files).await {
        Ok(file) if file.is_direct() => match file.allocate(log.cfg.segment_bytes) {
            Ok(()) if zero => file.zero_fill(log.cfg.segment_bytes).await,
            Ok(()) => file.sync_data().await,
            Err(e) => Err(e),
        },
        Ok(_) => Err(StoreError::Format(
            "O_DIRECT refused for the spare segment".into(),
        )),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                zero,
                "spare segment prepared"
            );
            let (zeroed, preallocated) = log.spares_prepared.get();
            log.spares_prepared.set(if zero {
                (zeroed + 1, preallocated)
            } else {
                (zeroed, preallocated + 1)
            });
            log.spare.set(Spare::Ready);
        }
        Err(e) => {
            tracing::warn!(error = %e, "preparing the spare segment failed");
            super::file::remove(&path, &Backing::Files);
            log.space.release(log.cfg.segment_bytes);
            log.spare.set(Spare::Failed);
        }
    }
    // A roll may wait for this spare (`Log::next_segment_file`).
    log.changed.notify_all();
}

/// `create_segment` within the space bounds `class` sees, counted as held.
async fn create_counted_segment(
    cfg: &LogConfig,
    space: &Space,
    id: u32,
    zero: bool,
    class: AppendClass,
) -> Result<SegmentFile, StoreError> {
    if !space.may_allocate_for(cfg.segment_bytes, class) {
        return Err(StoreError::NoSpace);
    }
    space.hold(cfg.segment_bytes);
    let made = create_segment(cfg, id, zero).await;
    if made.is_err() {
        space.release(cfg.segment_bytes);
    }
    made
}

/// Creates and preallocates segment `id`; with `zero`, an O_DIRECT file is
/// also zero-filled (see `SegmentFile::zero_fill`).
async fn create_segment(cfg: &LogConfig, id: u32, zero: bool) -> Result<SegmentFile, StoreError> {
    let path = cfg.dir.join(segment_name(id));
    let file = SegmentFile::open(&path, true, cfg.direct_io, &cfg.backing).await?;
    let mut prepared = file.allocate(cfg.segment_bytes);
    if prepared.is_ok() && zero && file.is_direct() {
        let started = std::time::Instant::now();
        prepared = file.zero_fill(cfg.segment_bytes).await;
        tracing::debug!(
            segment = id,
            ms = started.elapsed().as_millis() as u64,
            "segment zero-filled"
        );
    }
    if let Err(e) = prepared {
        super::file::remove(&path, &cfg.backing);
        return Err(e);
    }
    super::file::sync_dir(&cfg.dir, &cfg.backing)?;
    Ok(file)
}

/// Loads the valid prefix of the tail block into `active`, and durably zeroes
/// a cut tail so stale records past the resume point can never resurface.
async fn load_tail(
    file: &SegmentFile,
    active: &mut AlignedBuf,
    base: u64,
    r: &ResumePoint,
) -> Result<(), StoreError> {
    let keep = (r.offset - base) as usize;
    let zero_end = align_up(r.zero_until.max(r.offset), BLOCK_BYTES as u64);
    let mut buf = AlignedBuf::new(BLOCK_BYTES);
    if keep > 0 {
        let (res, b) = file.read_at(buf, base).await;
        buf = b;
        if res? < keep {
            return Err(StoreError::Format(
                "segment shorter than its records".into(),
            ));
        }
        active.extend_from_slice(&buf.as_slice()[..keep]);
    }
    if zero_end > base {
        let mut zeros = AlignedBuf::new((zero_end - base) as usize);
        zeros.extend_from_slice(active.as_slice());
        zeros.set_len((zero_end - base) as usize);
        let (res, _) = file.write_at(zeros, base).await;
        res?;
        file.sync_data().await?;
    }
    Ok(())
}
