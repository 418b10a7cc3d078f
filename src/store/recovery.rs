//! Rebuilds the index by scanning every segment, CRC-checking every record.
//! What counts as a torn last flush and what as media damage: damage.rs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

use super::align::{align_down, AlignedBuf, BLOCK_BYTES};
use super::compaction::Pacer;
use super::damage::{Classifier, DamagedRange, TornCut};
use super::disk_index::Applied;
use super::file::{list_segments, segment_name, SegmentFile};
use super::index::{Index, ObjectEntry};
use super::log::{LogConfig, ResumePoint};
use super::multipart::{PartInfo, Upload, UploadId, Uploads, MAX_PART_NUMBER};
use super::object_index::ObjectIndex;
use super::record::{
    decode_header, decode_record, padding_is_zero, record_bytes, CommitRec, DeleteRec,
    MultipartCompleteRec, MultipartEndRec, MultipartInitRec, MultipartPartRec, RecordHeader,
    RecordKind, VersionOp, VersionRec, HEADER_BYTES, MAX_PAYLOAD_BYTES, RECORD_ALIGN_BYTES,
};
use super::types::{BucketId, StoreError};

/// Bytes read per scan step; at least two of the largest records so one always fits.
pub const SCAN_WINDOW_BYTES: usize = 4 * 1024 * 1024;
const _: () = assert!(SCAN_WINDOW_BYTES >= 2 * record_bytes(MAX_PAYLOAD_BYTES) + BLOCK_BYTES);

pub struct Recovered {
    pub index: ObjectIndex,
    /// Live data bytes per segment, when the index's durable state had
    /// them (an on-disk index); else counted from the entries at open.
    pub live: Option<BTreeMap<u32, u64>>,
    /// Bytes of the records scanned, per segment.
    pub scanned_per_segment: BTreeMap<u32, u64>,
    /// Multipart uploads still in progress, with their acknowledged parts.
    pub uploads: Uploads,
    pub segments: BTreeMap<u32, Rc<SegmentFile>>,
    pub resume: Option<ResumePoint>,
    /// Damage to records that had been durable (see damage.rs), and
    /// metadata records that pass their CRC but do not decode.
    pub media_damage: Vec<DamagedRange>,
    /// The torn last flush cut off the last segment, if any.
    pub torn: Option<TornCut>,
    /// Visible objects whose data records are damaged or missing.
    pub damaged_objects: u64,
    /// Bytes of valid records found, all segments.
    pub used_bytes: u64,
    /// Upload id -> segment of its Init record, for the Init records replayed.
    pub init_segments: HashMap<UploadId, u32>,
    /// Whether every Init record in the log was replayed (a full scan); a
    /// checkpoint leaves out those before its sequence.
    pub inits_complete: bool,
}

pub(crate) struct ScannedRecord {
    pub(crate) offset: u64,
    pub(crate) header: RecordHeader,
    /// Payload of metadata records (Data payloads are not kept).
    pub(crate) payload: Option<Vec<u8>>,
}

pub(crate) struct Scan {
    pub(crate) records: Vec<ScannedRecord>,
    /// Runs of undecodable bytes followed by a valid record: (start, end).
    pub(crate) bad_runs: Vec<(u64, u64)>,
    /// End of the last valid record.
    pub(crate) valid_end: u64,
    /// End of the last non-zero byte after `valid_end` (`valid_end` when
    /// only zeros follow): the remains of a torn write, or rot.
    pub(crate) garbage_end: u64,
}

/// A read window over a segment file.
struct Window {
    buf: AlignedBuf,
    off: u64,
}

impl Window {
    fn covers(&self, pos: u64, len: u64) -> bool {
        pos >= self.off && pos + len <= self.off + self.buf.len() as u64
    }
    async fn load(
        &mut self,
        file: &SegmentFile,
        pos: u64,
        pacer: &mut Pacer,
    ) -> Result<(), StoreError> {
        let off = align_down(pos, BLOCK_BYTES as u64);
        let buf = std::mem::replace(&mut self.buf, AlignedBuf::new(BLOCK_BYTES));
        let (r, buf) = file.read_at(buf, off).await;
        self.buf = buf;
        self.off = off;
        let n = r?;
        pacer.account(n as u64).await;
        Ok(())
    }
    fn at(&self, pos: u64) -> &[u8] {
        &self.buf.as_slice()[(pos - self.off) as usize..]
    }
}

pub(crate) async fn scan_segment(file: &SegmentFile) -> Result<Scan, StoreError> {
    scan_segment_from(file, 0).await
}

/// Scans a whole segment, pausing as `pacer` says between reads.
pub(crate) async fn scan_segment_paced(
    file: &SegmentFile,
    pacer: &mut Pacer,
) -> Result<Scan, StoreError> {
    scan_paced(file, 0, pacer).await
}

/// Scans from `start`, which must be a record boundary (a checkpoint's position).
pub(crate) async fn scan_segment_from(file: &SegmentFile, start: u64) -> Result<Scan, StoreError> {
    scan_paced(file, start, &mut Pacer::none()).await
}

async fn scan_paced(file: &SegmentFile, start: u64, pacer: &mut Pacer) -> Result<Scan, StoreError> {
    let len = file.len()?;
    let mut win = Window {
        buf: AlignedBuf::new(pacer.read_bytes()),
        off: 0,
    };
    let mut scan = Scan {
        records: Vec::new(),
        bad_runs: Vec::new(),
        valid_end: start,
        garbage_end: start,
    };
    let mut bad_start: Option<u64> = None;
    let mut pos = start;
    while pos + HEADER_BYTES as u64 <= len {
        if !win.covers(pos, HEADER_BYTES as u64) {
            win.load(file, pos, pacer).await?;
        }
        if let Some((header, total)) = try_record(file, &mut win, pos, len, pacer).await? {
            if let Some(start) = bad_start.take() {
                scan.bad_runs.push((start, pos));
            }
            let payload = (header.kind != RecordKind::Data).then(|| {
                win.at(pos)[HEADER_BYTES..HEADER_BYTES + header.payload_len as usize].to_vec()
            });
            scan.records.push(ScannedRecord {
                offset: pos,
                header,
                payload,
            });
            pos += total;
            scan.valid_end = pos;
        } else {
            bad_start.get_or_insert(pos);
            if win.at(pos)[..RECORD_ALIGN_BYTES].iter().any(|&b| b != 0) {
                scan.garbage_end = pos + RECORD_ALIGN_BYTES as u64;
            }
            pos += RECORD_ALIGN_BYTES as u64;
        }
    }
    // The last bytes are too few for a header: only their being zero matters.
    if pos < len {
        if !win.covers(pos, len - pos) {
            win.load(file, pos, pacer).await?;
        }
        let rest = &win.at(pos)[..(len - pos) as usize];
        if let Some(last) = rest.iter().rposition(|&b| b != 0) {
            scan.garbage_end = pos + last as u64 + 1;
        }
    }
    scan.garbage_end = scan.garbage_end.max(scan.valid_end);
    Ok(scan)
}

/// Decodes the record at `pos` if it is whole and its CRC matches.
async fn try_record(
    file: &SegmentFile,
    win: &mut Window,
    pos: u64,
    len: u64,
    pacer: &mut Pacer,
) -> Result<Option<(RecordHeader, u64)>, StoreError> {
    let Ok(h) = decode_header(win.at(pos)) else {
        return Ok(None);
    };
    let total = record_bytes(h.payload_len as usize) as u64;
    if pos + total > len {
        return Ok(None);
    }
    if !win.covers(pos, total) {
        win.load(file, pos, pacer).await?;
    }
    let at = win.at(pos);
    // Padding is written as zeros: a changed byte there is damage too.
    Ok(decode_record(at)
        .ok()
        .filter(|(h, _)| padding_is_zero(at, h.payload_len))
        .map(|(h, _)| (h, total)))
}

pub(crate) enum Op {
    Commit(Box<CommitRec>),
    Delete(DeleteRec),
    /// The record and the segment it is in.
    Init(Box<MultipartInitRec>, u32),
    Part(MultipartPartRec, u32),
    Complete(Box<MultipartCompleteRec>),
    Abort(MultipartEndRec),
    Version(Box<VersionRec>),
}

/// Where a replay starts: `index` holds every record up to `covered_seq`,
/// and the log stood at (`first_segment`, `first_offset`) just past it,
/// with `used_bytes` of records in its segments.
pub(crate) struct ReplayFrom {
    pub covered_seq: u64,
    pub first_segment: u32,
    pub first_offset: u64,
    pub used_bytes: u64,
}

/// Scans all segments of `cfg.dir` and rebuilds the index in RAM.
pub async fn recover(cfg: &LogConfig) -> Result<Recovered, StoreError> {
    recover_into(
        cfg,
        ObjectIndex::memory(Index::default()),
        None,
        None,
        Vec::new(),
    )
    .await
}

/// Brings `index` up to the log's end: scans the segments from `from`'s
/// position (every segment when None) and replays the records after its
/// covered sequence. `live` (bytes per segment as of `from`) is kept up to
/// date through the replay when given. `uploads`: those open at `from`.
pub(crate) async fn recover_into(
    cfg: &LogConfig,
    index: ObjectIndex,
    from: Option<ReplayFrom>,
    mut live: Option<BTreeMap<u32, u64>>,
    uploads: Vec<Upload>,
) -> Result<Recovered, StoreError> {
    let ids = list_segments(&cfg.dir, &cfg.backing)?;
    let covered_seq = from.as_ref().map_or(0, |f| f.covered_seq);
    let scanned_from = from
        .as_ref()
        .map_or((0, 0), |f| (f.first_segment, f.first_offset));
    debug_assert!(from.is_none() || ids.contains(&scanned_from.0));
    let mut out = Recovered {
        index,
        live: None,
        scanned_per_segment: BTreeMap::new(),
        uploads: Uploads::default(),
        segments: BTreeMap::new(),
        resume: None,
        media_damage: Vec::new(),
        torn: None,
        damaged_objects: 0,
        used_bytes: from.as_ref().map_or(0, |f| f.used_bytes),
        init_segments: HashMap::new(),
        // Init records before a covered sequence are not replayed.
        inits_complete: from.is_none(),
    };
    let mut ops: Vec<(u64, Op)> = Vec::new();
    let mut data: HashMap<(u32, u64), u32> = HashMap::new();
    let mut undecodable = Vec::new();
    // A replay's starting position was durable when it was recorded.
    let mut classifier = Classifier::new(from.as_ref().map(|_| scanned_from));
    let mut max_seq = covered_seq;
    for (i, &id) in ids.iter().enumerate() {
        let path = cfg.dir.join(segment_name(id));
        let file = SegmentFile::open(&path, false, cfg.direct_io, &cfg.backing).await?;
        if id >= scanned_from.0 {
            let start = if id == scanned_from.0 {
                scanned_from.1
            } else {
                0
            };
            let mut scan = scan_segment_from(&file, start).await?;
            if i + 1 == ids.len() {
                let tail = classifier.last_segment(cfg, id, &mut scan);
                out.resume = Some(tail.resume);
                out.torn = tail.torn;
            } else {
                classifier.segment(id, &scan);
            }
            for r in scan
                .records
                .into_iter()
                .filter(|r| r.header.seq > covered_seq)
            {
                max_seq = max_seq.max(r.header.seq);
                let bytes = record_bytes(r.header.payload_len as usize) as u64;
                out.used_bytes += bytes;
                *out.scanned_per_segment.entry(id).or_default() += bytes;
                collect(id, r, &mut ops, &mut data, &mut undecodable);
            }
        }
        out.segments.insert(id, Rc::new(file));
    }
    debug_assert!(
        from.is_none() || out.resume.is_some(),
        "the replay's first segment is scanned"
    );
    out.media_damage = classifier.finish();
    out.media_damage.extend(undecodable);
    if let Some(r) = &mut out.resume {
        r.next_seq = max_seq + 1;
    }
    out.init_segments = init_segments(&ops);
    out.init_segments
        .extend(uploads.iter().map(|u| (u.upload_id, u.init_segment)));
    let replayed = replay(&out.index, uploads, ops, &data, live.as_mut()).await?;
    out.uploads = replayed.uploads;
    out.damaged_objects = check_objects(&out.index, &replayed.touched, &data, scanned_from).await?;
    out.live = live;
    Ok(out)
}

/// Logs what recovery found: a torn last flush at info, media damage as
/// an error, and refuses media damage unless `cfg.accept_data_loss`.
pub(crate) fn judge(cfg: &LogConfig, rec: &Recovered) -> Result<(), StoreError> {
    let dir = cfg.dir.display();
    if let Some(t) = &rec.torn {
        tracing::info!(dir = %dir, "torn last flush cut off (never acknowledged): {t}");
    }
    if rec.media_damage.is_empty() {
        return Ok(());
    }
    if !cfg.accept_data_loss {
        for d in &rec.media_damage {
            tracing::error!(dir = %dir, "media damage: {d}");
        }
        let list: Vec<String> = rec.media_damage.iter().map(|d| d.to_string()).collect();
        return Err(StoreError::MediaDamage(format!(
            "{} in {}: {}",
            plural(rec.media_damage.len(), "damaged range"),
            dir,
            list.join("; ")
        )));
    }
    for d in &rec.media_damage {
        tracing::error!(dir = %dir, "media damage, dropped (--accept-data-loss): {d}");
    }
    Ok(())
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Upload id -> segment of its Init record, for every Init among `ops`.
pub(crate) fn init_segments(ops: &[(u64, Op)]) -> HashMap<UploadId, u32> {
    ops.iter()
        .filter_map(|(_, op)| match op {
            Op::Init(i, seg) => Some((i.upload_id, *seg)),
            _ => None,
        })
        .collect()
}

/// Turns one valid record into a replay op (or a data-record entry); a
/// metadata record that passes its CRC but does not decode goes to `damaged`.
pub(crate) fn collect(
    seg: u32,
    r: ScannedRecord,
    ops: &mut Vec<(u64, Op)>,
    data: &mut HashMap<(u32, u64), u32>,
    damaged: &mut Vec<DamagedRange>,
) {
    let seq = r.header.seq;
    let payload = r.payload.as_deref().unwrap_or(&[]);
    let decoded = match r.header.kind {
        RecordKind::Data => {
            data.insert((seg, r.offset), r.header.payload_len);
            return;
        }
        RecordKind::Commit => CommitRec::decode(payload).map(|c| Some(Op::Commit(Box::new(c)))),
        RecordKind::Delete => DeleteRec::decode(payload).map(|d| Some(Op::Delete(d))),
        RecordKind::MultipartInit => {
            MultipartInitRec::decode(payload).map(|r| Some(Op::Init(Box::new(r), seg)))
        }
        RecordKind::MultipartPart => {
            MultipartPartRec::decode(payload).map(|p| Some(Op::Part(p, seg)))
        }
        RecordKind::MultipartComplete => {
            MultipartCompleteRec::decode(payload).map(|r| Some(Op::Complete(Box::new(r))))
        }
        RecordKind::MultipartAbort => MultipartEndRec::decode(payload).map(|a| Some(Op::Abort(a))),
        RecordKind::Version => VersionRec::decode(payload).map(|v| Some(Op::Version(Box::new(v)))),
        RecordKind::Sync => super::record::SyncRec::decode(payload).map(|_| None),
        // Checkpoint records are not produced yet.
        RecordKind::SegmentHeader | RecordKind::Checkpoint => return,
    };
    match decoded {
        Ok(Some(op)) => ops.push((seq, op)),
        Ok(None) => {}
        Err(what) => damaged.push(DamagedRange {
            segment: seg,
            offset: r.offset,
            bytes: record_bytes(r.header.payload_len as usize) as u64,
            seq_before: None,
            seq_after: None,
            own_seq: Some(seq),
            what,
        }),
    }
}

fn intact(extents: &[super::record::Extent], data: &HashMap<(u32, u64), u32>) -> bool {
    extents
        .iter()
        .all(|e| data.get(&(e.segment, e.offset)) == Some(&e.payload_len))
}

/// Logs every visible version whose data records are damaged or missing
/// among those scanned (from `scanned_from` on: a checkpoint's position;
/// data before it was not read at this start); returns how many.
///
/// Checked after replay, on the versions that survived it: a record that
/// a later one replaced (a tag update's old commit, a version compaction
/// moved) may name data that is rightly gone. An in-memory index checks
/// every version; an on-disk one the keys replay touched (a version
/// applied before the durable index position has its data before it too).
pub(crate) async fn check_objects(
    index: &ObjectIndex,
    touched: &HashSet<(BucketId, String)>,
    data: &HashMap<(u32, u64), u32>,
    scanned_from: (u32, u64),
) -> Result<u64, StoreError> {
    let damaged_data = |e: &ObjectEntry| {
        e.extents
            .iter()
            .find(|x| {
                (x.segment, x.offset) >= scanned_from
                    && data.get(&(x.segment, x.offset)) != Some(&x.payload_len)
            })
            .copied()
    };
    let mut found = Vec::new();
    match index.in_memory() {
        Some(m) => {
            for e in m.entries() {
                if let Some(x) = damaged_data(e) {
                    found.push((e.clone(), x));
                }
            }
        }
        None => {
            for (bucket, key) in touched {
                for e in index.versions(*bucket, key).await? {
                    if let Some(x) = damaged_data(&e) {
                        found.push((e, x));
                    }
                }
            }
        }
    }
    for (e, x) in &found {
        tracing::error!(
            bucket = e.bucket,
            key = %e.key,
            segment = x.segment,
            offset = x.offset,
            "object data damaged; reads will fail"
        );
    }
    Ok(found.len() as u64)
}

/// What replaying the log tail did besides the index.
pub(crate) struct Replayed {
    /// Multipart uploads still in progress.
    pub uploads: Uploads,
    /// Every key a version record or delete was applied to.
    pub touched: HashSet<(BucketId, String)>,
}

/// Applies one version (or, with `remove`, one version delete) held by
/// the record at `seq`, following live bytes per segment when `live` is
/// given.
async fn apply(
    index: &ObjectIndex,
    live: &mut Option<&mut BTreeMap<u32, u64>>,
    touched: &mut HashSet<(BucketId, String)>,
    entry: ObjectEntry,
    seq: u64,
) -> Result<(), StoreError> {
    touched.insert((entry.bucket, entry.key.clone()));
    let entry = Rc::new(entry);
    // A stale version (its id already holds a higher order) is refused by
    // the index; so is anything older than what a checkpoint holds.
    if let Applied::Inserted(replaced) = index.insert(entry.clone(), seq).await? {
        if let Some(live) = live {
            super::account(live, &entry, true);
            if let Some(old) = replaced {
                super::account(live, &old, false);
            }
        }
    }
    Ok(())
}

async fn apply_remove(
    index: &ObjectIndex,
    live: &mut Option<&mut BTreeMap<u32, u64>>,
    touched: &mut HashSet<(BucketId, String)>,
    d: DeleteRec,
    order: u64,
    seq: u64,
) -> Result<(), StoreError> {
    touched.insert((d.bucket, d.key.clone()));
    let removed = index
        .remove_version(d.bucket, &d.key, d.version_id, order, seq)
        .await?;
    if let (Some(live), Some(old)) = (live, removed) {
        super::account(live, &old, false);
    }
    Ok(())
}

fn entry_of(c: CommitRec, seq: u64, order: u64, marker: bool) -> ObjectEntry {
    ObjectEntry {
        bucket: c.bucket,
        key: c.key,
        version_id: c.version_id,
        meta: c.meta,
        extents: c.extents,
        commit_seq: seq,
        order,
        delete_marker: marker,
    }
}

/// Replays metadata records in sequence order into `index` (and, when
/// given, the live bytes per segment), on top of the uploads `open` then.
pub(crate) async fn replay(
    index: &ObjectIndex,
    open: Vec<Upload>,
    mut ops: Vec<(u64, Op)>,
    data: &HashMap<(u32, u64), u32>,
    mut live: Option<&mut BTreeMap<u32, u64>>,
) -> Result<Replayed, StoreError> {
    ops.sort_by_key(|(seq, _)| *seq);
    let mut uploads: HashMap<UploadId, Upload> =
        open.into_iter().map(|u| (u.upload_id, u)).collect();
    let mut touched = HashSet::new();
    let t = &mut touched;
    for (seq, op) in ops {
        match op {
            Op::Commit(c) => apply(index, &mut live, t, entry_of(*c, seq, seq, false), seq).await?,
            Op::Delete(d) => apply_remove(index, &mut live, t, d, seq, seq).await?,
            Op::Version(v) => {
                let order = v.order_at(seq);
                match v.op {
                    VersionOp::Put { commit, marker } => {
                        let e = entry_of(*commit, seq, order, marker);
                        apply(index, &mut live, t, e, seq).await?
                    }
                    VersionOp::Remove(d) => {
                        apply_remove(index, &mut live, t, d, order, seq).await?
                    }
                }
            }
            Op::Init(i, seg) => {
                let i = *i;
                uploads.insert(
                    i.upload_id,
                    Upload {
                        upload_id: i.upload_id,
                        bucket: i.bucket,
                        key: i.key,
                        meta: i.meta,
                        parts: Default::default(),
                        init_segment: seg,
                    },
                );
            }
            Op::Part(p, seg) => replay_part(&mut uploads, p, seq, seg, data),
            Op::Complete(c) => {
                // A completion without its upload (e.g. a damaged Init) still commits the object.
                uploads.remove(&c.upload_id);
                apply(
                    index,
                    &mut live,
                    t,
                    entry_of(c.commit, seq, seq, false),
                    seq,
                )
                .await?
            }
            Op::Abort(a) => {
                uploads.remove(&a.upload_id);
            }
        }
    }
    let mut out = Uploads::default();
    for u in uploads.into_values() {
        out.insert(u);
    }
    Ok(Replayed {
        uploads: out,
        touched,
    })
}

fn replay_part(
    uploads: &mut HashMap<UploadId, Upload>,
    p: MultipartPartRec,
    seq: u64,
    record_segment: u32,
    data: &HashMap<(u32, u64), u32>,
) {
    // A part of an ended (or unknown) upload was never acknowledged: garbage.
    let Some(u) = uploads.get_mut(&p.upload_id) else {
        return;
    };
    if !(1..=MAX_PART_NUMBER).contains(&p.part_number) {
        tracing::error!(
            upload = p.upload_id,
            part = p.part_number,
            "part number out of range; skipped"
        );
        return;
    }
    if !intact(&p.extents, data) {
        tracing::error!(bucket = u.bucket, key = %u.key, part = p.part_number, "part data damaged");
    }
    u.put_part(PartInfo {
        part_number: p.part_number,
        size: p.size,
        etag: p.etag,
        mtime_millis: p.mtime_millis,
        checksum: p.checksum,
        extents: p.extents,
        seq,
        record_segment,
    });
}
