//! Index checkpoints: a snapshot of one shard's index up to a sequence
//! number, so start-up loads it and replays only the log written after it.
//!
//! A checkpoint is a file (`checkpoint.idx`), not a log record: a large
//! index does not fit one record. It is written to a temporary name, synced,
//! renamed over the old one and the directory synced, so a crash leaves the
//! old checkpoint or the new one. A torn or damaged checkpoint fails its
//! CRC32C and start-up falls back to scanning the whole log.
//!
//! Layout (little endian): magic `RSCK`, u16 version, u16 zero, u64
//! covered_seq, u32 first_segment, u32 zero, u64 used_bytes, u64 count, u64
//! first_offset (where the log stood just past covered_seq); then
//! per version, in (bucket, key, newest first) order, u64 commit_seq, u64
//! order, u8 flags (1: delete marker), u32 length, a Commit payload; then
//! the CRC32C of everything before it. Version 1 files (written before
//! object versioning) have no order or flags: each entry is its key's
//! only version, ordered by its commit_seq.
//!
//! Not covered yet: the simulated disk (checkpoints are skipped there).
//! Multipart uploads in progress are not in the file: no checkpoint is
//! written while one is open, so their records always follow the covered
//! sequence and are replayed.

use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::file::{list_segments, sync_dir, Backing};
use super::index::{Index, ObjectEntry};
use super::log::LogConfig;
use super::object_index::ObjectIndex;
use super::record::{CommitRec, DecodeError};
use super::recovery::{recover_into, Recovered, ReplayFrom};
use super::space::AppendClass;
use super::types::StoreError;
use super::{Store, StoreInner};

pub const CHECKPOINT_FILE: &str = "checkpoint.idx";
const CHECKPOINT_TMP_FILE: &str = "checkpoint.idx.tmp";
const CHECKPOINT_MAGIC: u32 = u32::from_le_bytes(*b"RSCK");
const CHECKPOINT_VERSION: u16 = 2;
/// Entries carry no order or flags.
const CHECKPOINT_VERSION_UNVERSIONED: u16 = 1;
const ENTRY_FLAG_DELETE_MARKER: u8 = 1;
const CHECKPOINT_HEADER_BYTES: usize = 48;
/// A new checkpoint is written after this many bytes of log at least ...
pub const CHECKPOINT_INTERVAL_BYTES: u64 = 64 * 1024 * 1024;
/// ... and after this many times the last checkpoint's size: a large index
/// (millions of objects, or of versions) is not re-encoded every 64 MiB,
/// so checkpoints stay a bounded share of the bytes written.
pub const CHECKPOINT_INTERVAL_FACTOR: u64 = 8;
/// Entries encoded between turns given to the shard's other tasks.
const ENCODE_ENTRIES_PER_TURN: usize = 4096;
/// How often the checkpointer looks at the log's growth.
const CHECKPOINT_POLL_MS: u64 = 1000;
/// Waits for a moment with no commit or delete in flight before giving up a round.
const CHECKPOINT_QUIESCE_TRIES: u32 = 64;
/// Largest Commit payload in a checkpoint (same bound as a log record).
const MAX_ENTRY_BYTES: usize = super::record::MAX_PAYLOAD_BYTES;

struct Checkpoint {
    covered_seq: u64,
    first_segment: u32,
    first_offset: u64,
    used_bytes: u64,
    index: Index,
}

/// Writes a checkpoint of `store` now if no commit or delete is in flight
/// (waiting a little for one). Ok(false) when skipped.
pub async fn write_checkpoint(store: &Store) -> Result<bool, StoreError> {
    let inner = &store.inner;
    // An on-disk index is its own checkpoint: frozen and written instead.
    if inner.index.on_disk().is_some() {
        return super::index_state::freeze_and_flush(
            store,
            CHECKPOINT_QUIESCE_TRIES,
            AppendClass::Write,
        )
        .await;
    }
    if !inner.log.config().backing.is_files() {
        return Ok(false);
    }
    for _ in 0..CHECKPOINT_QUIESCE_TRIES {
        if inner.keys.is_idle() {
            break;
        }
        inner.keys.any_released.notified().await;
    }
    if !inner.keys.is_idle() {
        return Ok(false);
    }
    // A checkpoint holds the index only: while an upload is in progress its
    // Init and Part records must stay after the covered sequence, so the
    // previous checkpoint (older than the upload) stays in force.
    if !inner.uploads.borrow().is_empty() {
        return Ok(false);
    }
    // With nothing in flight, every commit and delete up to the durable
    // sequence is in the index, and every later record goes to the active
    // (highest) segment or after it.
    let log = inner.log.stats();
    let covered_seq = log.durable_seq;
    let (first_segment, first_offset) = log.durable_end;
    let used_bytes = store.used_bytes();
    // Entries are immutable: their pointers are a snapshot, taken at once;
    // encoding it yields now and then, so a large index does not stall
    // the shard's requests.
    let snapshot: Vec<Rc<ObjectEntry>> = match inner.index.in_memory() {
        Some(m) => m.entries().cloned().collect(),
        None => return Ok(false),
    };
    let at = (first_segment, first_offset);
    let hint = inner.checkpoint_bytes.get() as usize + snapshot.len() * 64;
    let bytes = encode_yielding(covered_seq, at, used_bytes, &snapshot, hint).await;
    drop(snapshot);
    let dir = inner.log.config().dir.clone();
    debug_assert!(decode(&bytes).is_ok());
    // The file is written, synced and renamed off the shard thread (a
    // large index makes a large file); one checkpoint at a time.
    if inner.checkpoint_writing.replace(true) {
        return Ok(false);
    }
    let len = bytes.len();
    // Counted against the space bounds like every file of the shard, and
    // never out of the reserve: old and new file exist at once for a while.
    let space = inner.log.space();
    space.refresh();
    let new_bytes = on_disk_bytes(len as u64);
    if !inner.log.may_hold_file(new_bytes, AppendClass::Write) {
        inner.checkpoint_writing.set(false);
        tracing::info!(
            shard = inner.log.config().shard,
            bytes = len,
            "no room for a checkpoint; start-up replays more of the log"
        );
        return Ok(false);
    }
    let old_bytes = file_bytes_in(&dir);
    space.hold(new_bytes);
    let written = write_off_thread(dir, bytes).await;
    inner.checkpoint_writing.set(false);
    match &written {
        Ok(()) => space.release(old_bytes),
        Err(_) => space.release(new_bytes),
    }
    written?;
    inner.checkpoint_bytes.set(len as u64);
    tracing::info!(
        shard = inner.log.config().shard,
        covered_seq,
        bytes = len,
        "index checkpoint written"
    );
    Ok(true)
}

/// `write_atomically` on a thread of its own; resolves when it is done.
async fn write_off_thread(dir: PathBuf, bytes: Vec<u8>) -> Result<(), StoreError> {
    let (tx, rx) = futures_channel::oneshot::channel();
    let thread_dir = dir.clone();
    let spawned = std::thread::Builder::new()
        .name("ringstore-checkpoint".into())
        .spawn(move || {
            let _ = tx.send(write_atomically(&thread_dir, &bytes));
        });
    if let Err(e) = spawned {
        return Err(io("spawn checkpoint thread", &dir)(e));
    }
    rx.await.unwrap_or_else(|_| {
        Err(io("checkpoint thread", &dir)(std::io::Error::other(
            "ended without an answer",
        )))
    })
}

/// `encode`, giving the executor a turn every `ENCODE_ENTRIES_PER_TURN` entries.
async fn encode_yielding(
    covered_seq: u64,
    at: (u32, u64),
    used_bytes: u64,
    entries: &[Rc<ObjectEntry>],
    size_hint: usize,
) -> Vec<u8> {
    let mut out = encode_header(covered_seq, at, used_bytes);
    // The previous checkpoint's size is a good first guess of this one's.
    out.reserve(size_hint);
    for chunk in entries.chunks(ENCODE_ENTRIES_PER_TURN) {
        encode_entries(&mut out, chunk.iter());
        crate::util::yield_now::yield_now().await;
    }
    finish(out, entries.len() as u64)
}

fn encode_header(
    covered_seq: u64,
    (first_segment, first_offset): (u32, u64),
    used_bytes: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKPOINT_HEADER_BYTES);
    out.extend_from_slice(&CHECKPOINT_MAGIC.to_le_bytes());
    out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&covered_seq.to_le_bytes());
    out.extend_from_slice(&first_segment.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&used_bytes.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // count, patched by `finish`
    out.extend_from_slice(&first_offset.to_le_bytes());
    debug_assert_eq!(out.len(), CHECKPOINT_HEADER_BYTES);
    out
}

/// Appends entries; returns how many.
fn encode_entries<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = &'a Rc<ObjectEntry>>,
) -> u64 {
    let mut count = 0u64;
    for e in entries {
        out.extend_from_slice(&e.commit_seq.to_le_bytes());
        out.extend_from_slice(&e.order.to_le_bytes());
        let flags = if e.delete_marker {
            ENTRY_FLAG_DELETE_MARKER
        } else {
            0
        };
        out.push(flags);
        // The length goes in front of the payload: patched once it is known.
        let len_at = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
        CommitRec::encode_into(out, e.bucket, &e.key, e.version_id, &e.meta, &e.extents);
        let len = out.len() - len_at - 4;
        assert!(len <= MAX_ENTRY_BYTES);
        out[len_at..len_at + 4].copy_from_slice(&(len as u32).to_le_bytes());
        count += 1;
    }
    count
}

/// Patches the entry count in and appends the CRC.
fn finish(mut out: Vec<u8>, count: u64) -> Vec<u8> {
    out[32..40].copy_from_slice(&count.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn le_u64(b: &[u8], at: usize) -> Result<u64, DecodeError> {
    let s = b.get(at..at + 8).ok_or("checkpoint truncated")?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn le_u32(b: &[u8], at: usize) -> Result<u32, DecodeError> {
    let s = b.get(at..at + 4).ok_or("checkpoint truncated")?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Ok(u32::from_le_bytes(a))
}

fn decode(b: &[u8]) -> Result<Checkpoint, DecodeError> {
    if b.len() < CHECKPOINT_HEADER_BYTES + 4 {
        return Err("checkpoint truncated");
    }
    let (body, trailer) = b.split_at(b.len() - 4);
    if crc32c::crc32c(body) != le_u32(trailer, 0)? {
        return Err("checkpoint crc mismatch");
    }
    if le_u32(body, 0)? != CHECKPOINT_MAGIC {
        return Err("checkpoint bad magic");
    }
    let version = le_u32(body, 4)?;
    let ordered = match version {
        v if v == CHECKPOINT_VERSION as u32 => true,
        v if v == CHECKPOINT_VERSION_UNVERSIONED as u32 => false,
        _ => return Err("checkpoint version unsupported"),
    };
    let covered_seq = le_u64(body, 8)?;
    let count = le_u64(body, 32)?;
    let mut entries = Vec::with_capacity(count.min(body.len() as u64 / 12) as usize);
    let mut pos = CHECKPOINT_HEADER_BYTES;
    for _ in 0..count {
        let commit_seq = le_u64(body, pos)?;
        pos += 8;
        let (order, flags) = if ordered {
            let order = le_u64(body, pos)?;
            let flags = *body.get(pos + 8).ok_or("checkpoint truncated")?;
            pos += 9;
            (order, flags)
        } else {
            (commit_seq, 0)
        };
        if flags & !ENTRY_FLAG_DELETE_MARKER != 0 {
            return Err("checkpoint entry has unknown flags");
        }
        let len = le_u32(body, pos)? as usize;
        if len > MAX_ENTRY_BYTES {
            return Err("checkpoint entry too large");
        }
        let payload = body
            .get(pos + 4..pos + 4 + len)
            .ok_or("checkpoint truncated")?;
        let c = CommitRec::decode(payload)?;
        if commit_seq > covered_seq || order > commit_seq {
            return Err("checkpoint entry newer than the checkpoint");
        }
        entries.push(Rc::new(ObjectEntry {
            bucket: c.bucket,
            key: c.key,
            version_id: c.version_id,
            meta: c.meta,
            extents: c.extents,
            commit_seq,
            order,
            delete_marker: flags & ENTRY_FLAG_DELETE_MARKER != 0,
        }));
        pos += 4 + len;
    }
    if pos != body.len() {
        return Err("checkpoint has trailing bytes");
    }
    Ok(Checkpoint {
        covered_seq,
        first_segment: le_u32(body, 16)?,
        first_offset: le_u64(body, 40)?,
        used_bytes: le_u64(body, 24)?,
        index: Index::from_sorted(entries).ok_or("checkpoint entries out of order")?,
    })
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        offset: 0,
        source,
    }
}

/// Bytes a file of `len` bytes takes on disk, in whole blocks.
fn on_disk_bytes(len: u64) -> u64 {
    len.next_multiple_of(super::align::BLOCK_BYTES as u64)
}

/// Bytes of the checkpoint file in `dir` (0 if there is none).
fn file_bytes_in(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(CHECKPOINT_FILE)).map_or(0, |m| on_disk_bytes(m.len()))
}

/// Bytes the shard's checkpoint takes at open (counted against the space
/// bounds); a temporary file a crash left behind is removed.
pub fn file_bytes(cfg: &LogConfig) -> u64 {
    if !cfg.backing.is_files() {
        return 0;
    }
    let _ = std::fs::remove_file(cfg.dir.join(CHECKPOINT_TMP_FILE));
    file_bytes_in(&cfg.dir)
}

/// tmp file, fsync, rename over the old checkpoint, fsync the directory.
/// A failed write removes the tmp file (a full disk must get its room back).
fn write_atomically(dir: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp: PathBuf = dir.join(CHECKPOINT_TMP_FILE);
    let written = write_synced(&tmp, bytes);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    let dst = dir.join(CHECKPOINT_FILE);
    std::fs::rename(&tmp, &dst).map_err(io("rename", &dst))?;
    sync_dir(dir, &Backing::Files)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(crate::util::private_fs::PRIVATE_FILE_MODE)
        .open(path)
        .map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))?;
    f.sync_data().map_err(io("fdatasync", path))
}

/// Loads the checkpoint of `dir` if there is a valid one.
fn load(dir: &Path, segment_ids: &[u32]) -> Option<Checkpoint> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = std::fs::read(&path).ok()?;
    match decode(&bytes) {
        Ok(cp) if segment_ids.contains(&cp.first_segment) => Some(cp),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "checkpoint names a missing segment; scanning the whole log");
            None
        }
        Err(what) => {
            tracing::warn!(path = %path.display(), what, "checkpoint ignored; scanning the whole log");
            None
        }
    }
}

/// Where the shard's valid checkpoint says the log was durable, if it has one.
pub(crate) fn durable_position(dir: &Path) -> Option<(u32, u64)> {
    let ids = list_segments(dir, &Backing::Files).ok()?;
    load(dir, &ids).map(|cp| (cp.first_segment, cp.first_offset))
}

/// Recovery with a checkpoint: the index up to its sequence comes from the
/// file; only segments from its first segment on are scanned, and only their
/// records after that sequence replayed. Without a valid one, a full scan.
pub async fn recover(cfg: &LogConfig) -> Result<Recovered, StoreError> {
    if !cfg.backing.is_files() {
        return super::recovery::recover(cfg).await;
    }
    let ids = list_segments(&cfg.dir, &Backing::Files)?;
    let Some(cp) = load(&cfg.dir, &ids) else {
        return super::recovery::recover(cfg).await;
    };
    let from = ReplayFrom {
        covered_seq: cp.covered_seq,
        first_segment: cp.first_segment,
        first_offset: cp.first_offset,
        used_bytes: cp.used_bytes,
    };
    recover_into(
        cfg,
        ObjectIndex::memory(cp.index),
        Some(from),
        None,
        Vec::new(),
    )
    .await
}

/// Writes a checkpoint every `CHECKPOINT_INTERVAL_BYTES` of log; ends when the store is dropped.
pub fn spawn_checkpointer(store: &Store) {
    let weak: Weak<StoreInner> = Rc::downgrade(&store.inner);
    monoio::spawn(async move {
        let mut last = 0u64;
        loop {
            monoio::time::sleep(Duration::from_millis(CHECKPOINT_POLL_MS)).await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            let store = Store { inner };
            let appended = store.inner.log.stats().appended_bytes;
            let interval = CHECKPOINT_INTERVAL_BYTES
                .max(CHECKPOINT_INTERVAL_FACTOR * store.inner.checkpoint_bytes.get());
            let memtable_full = store
                .inner
                .index
                .on_disk()
                .is_some_and(|d| d.memtable_full());
            if appended - last < interval && !memtable_full {
                continue;
            }
            match write_checkpoint(&store).await {
                Ok(true) => last = appended,
                Ok(false) => {}
                Err(e) => tracing::error!("index checkpoint failed: {e}"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, seq: u64, order: u64, marker: bool) -> Rc<ObjectEntry> {
        Rc::new(ObjectEntry {
            bucket: 3,
            key: key.into(),
            version_id: order as u128,
            meta: crate::store::ObjectMeta {
                size: if marker { 0 } else { 5 },
                ..Default::default()
            },
            extents: Vec::new(),
            commit_seq: seq,
            order,
            delete_marker: marker,
        })
    }

    #[test]
    fn versions_round_trip_through_a_checkpoint() {
        let entries = vec![
            entry("a", 9, 9, true),
            entry("a", 7, 4, false),
            entry("a", 3, 3, false),
            entry("b", 8, 8, false),
        ];
        let mut out = encode_header(10, (1, 4096), 123);
        let n = encode_entries(&mut out, entries.iter());
        let cp = decode(&finish(out, n)).expect("decodes");
        assert_eq!(
            (cp.covered_seq, cp.first_segment, cp.first_offset),
            (10, 1, 4096)
        );
        let got: Vec<_> = cp.index.entries().cloned().collect();
        assert_eq!(got, entries);
        assert_eq!(
            cp.index.bucket_stats(3),
            (1, 15),
            "a is deleted, b is an object"
        );
        assert_eq!(cp.index.noncurrent_count(), 2);
    }

    /// A version 1 checkpoint (before object versioning: no order, no
    /// flags) still loads, each entry its key's only version.
    #[test]
    fn version_1_checkpoints_still_load() {
        let mut out = encode_header(10, (0, 0), 0);
        out[4..6].copy_from_slice(&CHECKPOINT_VERSION_UNVERSIONED.to_le_bytes());
        for (key, seq) in [("a", 4u64), ("b", 6)] {
            let rec = CommitRec {
                bucket: 3,
                key: key.into(),
                version_id: 0,
                meta: Default::default(),
                extents: Vec::new(),
            }
            .encode();
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&(rec.len() as u32).to_le_bytes());
            out.extend_from_slice(&rec);
        }
        let cp = decode(&finish(out, 2)).expect("v1 decodes");
        let got: Vec<(String, u64, u64)> = cp
            .index
            .entries()
            .map(|e| (e.key.clone(), e.commit_seq, e.order))
            .collect();
        assert_eq!(got, [("a".into(), 4, 4), ("b".into(), 6, 6)]);
    }
}
