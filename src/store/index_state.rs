//! The on-disk index as the store's checkpoint (docs/INDEX.md, "The
//! manifest is the checkpoint"): what the store writes beside the index
//! counts in each manifest, freezing the index at a quiesce point, and
//! start-up from the durable manifest.

use std::collections::BTreeMap;
use std::path::Path;

use super::disk_index::DiskIndex;
use super::file::{list_dir, list_segments, remove, sync_dir, Backing};
use super::kv::KvConfig;
use super::log::LogConfig;
use super::multipart::{PartInfo, Upload};
use super::object_index::ObjectIndex;
use super::record::{MultipartInitRec, MultipartPartRec};
use super::recovery::{recover_into, Recovered, ReplayFrom};
use super::space::AppendClass;
use super::types::StoreError;
use super::Store;

/// The index directory inside a shard directory.
pub const INDEX_DIR: &str = "index";

/// Version of the store state's encoding in a manifest.
const STATE_VERSION: u8 = 1;
const BLOCK: u64 = super::align::BLOCK_BYTES as u64;
/// Largest state the store writes into a manifest (the kv takes larger).
const MAX_STATE_BYTES: usize = 32 * 1024 * 1024;
const STATE_HEADER_BYTES: usize = 1 + 8 + 4 + 8 + 8 + 8 + 8;

/// Where the log stood when the memtable a manifest closes was frozen:
/// every record up to `covered_seq` is in the index, none after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexState {
    pub covered_seq: u64,
    pub first_segment: u32,
    pub first_offset: u64,
    /// Record bytes in each of the log's segments then.
    pub used: BTreeMap<u32, u64>,
    /// Live data bytes per segment then, of index entries (open uploads'
    /// parts are counted again from `uploads` at a start).
    pub live: BTreeMap<u32, u64>,
    /// Multipart uploads open then, with their parts: their Init and Part
    /// records may lie before the covered position.
    pub uploads: Vec<Upload>,
}

/// Reads little-endian fields off a byte slice; None past its end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn map(&mut self) -> Option<BTreeMap<u32, u64>> {
        let n = self.u64()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            m.insert(self.u32()?, self.u64()?);
        }
        Some(m)
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl IndexState {
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(STATE_HEADER_BYTES + (self.live.len() + self.used.len()) * 12);
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.covered_seq.to_le_bytes());
        out.extend_from_slice(&self.first_segment.to_le_bytes());
        out.extend_from_slice(&self.first_offset.to_le_bytes());
        for map in [&self.used, &self.live] {
            out.extend_from_slice(&(map.len() as u64).to_le_bytes());
            for (seg, bytes) in map {
                out.extend_from_slice(&seg.to_le_bytes());
                out.extend_from_slice(&bytes.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.uploads.len() as u64).to_le_bytes());
        for u in &self.uploads {
            let init = MultipartInitRec {
                upload_id: u.upload_id,
                bucket: u.bucket,
                key: u.key.clone(),
                meta: u.meta.clone(),
            };
            put_bytes(&mut out, &init.encode());
            out.extend_from_slice(&u.init_segment.to_le_bytes());
            out.extend_from_slice(&(u.parts.len() as u32).to_le_bytes());
            for p in u.parts.values() {
                let rec = MultipartPartRec {
                    upload_id: u.upload_id,
                    part_number: p.part_number,
                    size: p.size,
                    mtime_millis: p.mtime_millis,
                    etag: p.etag.clone(),
                    checksum: p.checksum.clone(),
                    extents: p.extents.clone(),
                };
                put_bytes(&mut out, &rec.encode());
                out.extend_from_slice(&p.seq.to_le_bytes());
                out.extend_from_slice(&p.record_segment.to_le_bytes());
            }
        }
        out
    }

    /// None for an empty blob (an index never frozen) or a bad one.
    pub fn decode(b: &[u8]) -> Option<IndexState> {
        let (&version, rest) = b.split_first()?;
        if version != STATE_VERSION {
            return None;
        }
        let mut r = Reader { b: rest, at: 0 };
        let covered_seq = r.u64()?;
        let first_segment = r.u32()?;
        let first_offset = r.u64()?;
        let used = r.map()?;
        let live = r.map()?;
        let n = r.u64()?;
        let mut uploads = Vec::new();
        for _ in 0..n {
            let init = MultipartInitRec::decode(r.bytes()?).ok()?;
            let init_segment = r.u32()?;
            let mut parts = BTreeMap::new();
            for _ in 0..r.u32()? {
                let p = MultipartPartRec::decode(r.bytes()?).ok()?;
                if p.upload_id != init.upload_id {
                    return None;
                }
                let part = PartInfo {
                    part_number: p.part_number,
                    size: p.size,
                    etag: p.etag,
                    mtime_millis: p.mtime_millis,
                    checksum: p.checksum,
                    extents: p.extents,
                    seq: r.u64()?,
                    record_segment: r.u32()?,
                };
                parts.insert(part.part_number, part);
            }
            uploads.push(Upload {
                upload_id: init.upload_id,
                bucket: init.bucket,
                key: init.key,
                meta: init.meta,
                parts,
                init_segment,
            });
        }
        if r.at != rest.len() {
            return None;
        }
        Some(IndexState {
            covered_seq,
            first_segment,
            first_offset,
            used,
            live,
            uploads,
        })
    }
}

/// Opens the shard's on-disk index and brings it up to the log's end:
/// from its manifest's position when the log still holds that segment,
/// otherwise (a new index, an upgrade, a missing or unusable state) by
/// emptying it and replaying the whole log.
pub(crate) async fn recover(cfg: &LogConfig, kv: KvConfig) -> Result<Recovered, StoreError> {
    let index_dir = kv.dir.clone();
    if cfg.backing.is_files() {
        crate::util::private_fs::create_private_dir_all(&index_dir).map_err(|source| {
            StoreError::Io {
                op: "mkdir",
                path: index_dir.clone(),
                offset: 0,
                source,
            }
        })?;
    }
    let backing = kv.backing.clone();
    let reopen = KvConfig {
        dir: kv.dir.clone(),
        backing: kv.backing.clone(),
        direct_io: kv.direct_io,
        memtable_bytes: kv.memtable_bytes,
        cache_bytes: kv.cache_bytes,
        merge_pace: kv.merge_pace,
    };
    let index = DiskIndex::open(kv).await?;
    let ids = list_segments(&cfg.dir, &cfg.backing)?;
    let state = IndexState::decode(index.extra());
    match state {
        Some(st) if ids.contains(&st.first_segment) => {
            // Segments compaction freed since the state was written are gone.
            let mut used = st.used;
            used.retain(|seg, _| ids.contains(seg));
            let from = ReplayFrom {
                covered_seq: st.covered_seq,
                first_segment: st.first_segment,
                first_offset: st.first_offset,
                used_bytes: used.values().sum(),
            };
            let mut rec = recover_into(
                cfg,
                ObjectIndex::Disk(Box::new(index)),
                Some(from),
                Some(st.live),
                st.uploads,
            )
            .await?;
            for (seg, bytes) in std::mem::take(&mut rec.scanned_per_segment) {
                *used.entry(seg).or_default() += bytes;
            }
            rec.scanned_per_segment = used;
            Ok(rec)
        }
        _ => {
            let fresh = index.log_position() == 0 && index.bucket_ids().is_empty();
            index.close();
            if !fresh {
                tracing::warn!(
                    dir = %index_dir.display(),
                    "the index's durable state does not match the log; rebuilding it from the log"
                );
            }
            empty_dir(&index_dir, &backing)?;
            let index = DiskIndex::open(reopen).await?;
            recover_into(
                cfg,
                ObjectIndex::Disk(Box::new(index)),
                None,
                Some(BTreeMap::new()),
                Vec::new(),
            )
            .await
        }
    }
}

/// Removes every file of the index directory.
fn empty_dir(dir: &Path, backing: &Backing) -> Result<(), StoreError> {
    for name in list_dir(dir, backing)? {
        remove(&dir.join(name), backing);
    }
    sync_dir(dir, backing)
}

/// Freezes the on-disk index as "the log up to the durable sequence" if
/// no write is between its append and its application, with the open
/// uploads in the store's state, then writes it as a run and a manifest. Ok(false) when skipped. `class`:
/// whose room the files may take (compaction's, when freeing a segment
/// waits for it, so a full disk still gets its space back).
pub(crate) async fn freeze_and_flush(
    store: &Store,
    quiesce_tries: u32,
    class: AppendClass,
) -> Result<bool, StoreError> {
    let inner = &store.inner;
    let Some(index) = inner.index.on_disk() else {
        return Ok(false);
    };
    // One freeze and flush at a time (the checkpointer and compaction both ask).
    if inner.checkpoint_writing.replace(true) {
        return Ok(false);
    }
    let _done = ResetOnDrop(&inner.checkpoint_writing);
    for _ in 0..quiesce_tries {
        if inner.keys.is_idle() {
            break;
        }
        inner.keys.any_released.notified().await;
    }
    // No await from here to the freeze: the quiesce point holds. Writes
    // that take no key lock (upload inits and parts) hold an admission
    // from their append until they are applied.
    if !inner.keys.is_idle() || inner.gates.any_in_flight() {
        return Ok(false);
    }
    let log = inner.log.stats();
    let (first_segment, first_offset) = log.durable_end;
    let uploads: Vec<Upload> = inner.uploads.borrow().iter().cloned().collect();
    let mut live = inner.live_per_segment.borrow().clone();
    for u in &uploads {
        super::account_extents(&mut live, u.extents(), false);
    }
    let state = IndexState {
        covered_seq: log.durable_seq,
        first_segment,
        first_offset,
        used: store.used_per_segment(),
        live,
        uploads,
    };
    let encoded = state.encode();
    if encoded.len() > MAX_STATE_BYTES {
        tracing::warn!(
            shard = inner.log.config().shard,
            bytes = encoded.len(),
            "open multipart uploads too large to write with the index; start-up replays more of the log"
        );
        return Ok(false);
    }
    debug_assert_eq!(state.used.values().sum::<u64>(), store.used_bytes());
    // Room for the run and a manifest, counted like a checkpoint file (never
    // out of the reserve); a run and its merge inputs coexist for a while.
    let space = inner.log.space();
    space.refresh();
    let writing = (index.kv().memtable_bytes() as u64 + 2 * BLOCK).max(index.kv().file_bytes());
    if !inner.log.may_hold_file(writing, class) {
        tracing::info!(
            shard = inner.log.config().shard,
            "no room to write the index; start-up replays more of the log"
        );
        return Ok(false);
    }
    index.freeze(log.durable_seq, &encoded);
    space.hold(writing);
    let written = async {
        while index.flush().await? {}
        while index.merge_step().await? {}
        Ok::<(), StoreError>(())
    }
    .await;
    space.release(writing);
    store.hold_index_bytes();
    written?;
    inner.index_durable_segment.set(Some(first_segment));
    tracing::debug!(
        shard = inner.log.config().shard,
        covered_seq = log.durable_seq,
        "index frozen and written"
    );
    Ok(true)
}

struct ResetOnDrop<'a>(&'a std::cell::Cell<bool>);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_rejects_garbage() {
        let st = IndexState {
            covered_seq: 77,
            first_segment: 3,
            first_offset: 4096,
            used: [(1, 1 << 40), (3, 5)].into_iter().collect(),
            live: [(1, 10), (3, 30)].into_iter().collect(),
            uploads: vec![Upload {
                upload_id: 9,
                bucket: 2,
                key: "big".into(),
                meta: Default::default(),
                parts: [(
                    3,
                    PartInfo {
                        part_number: 3,
                        size: 5,
                        etag: "e".into(),
                        mtime_millis: 1,
                        checksum: None,
                        extents: vec![super::super::record::Extent {
                            segment: 4,
                            offset: 8192,
                            payload_len: 5,
                        }],
                        seq: 12,
                        record_segment: 4,
                    },
                )]
                .into_iter()
                .collect(),
                init_segment: 3,
            }],
        };
        let b = st.encode();
        assert_eq!(IndexState::decode(&b), Some(st));
        assert_eq!(IndexState::decode(&[]), None);
        for cut in 0..b.len() {
            assert_eq!(IndexState::decode(&b[..cut]), None, "cut at {cut}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(IndexState::decode(&longer), None);
    }
}
