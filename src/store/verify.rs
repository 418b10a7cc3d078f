//! `ringstore verify DATA`: an offline check of every record of every shard.
//!
//! It scans each segment with the same scanner and the same rule recovery
//! uses (damage.rs), decodes every metadata record, replays commits and
//! deletes, and checks that every visible object's data records are intact.
//! Damage before the confirmed position, the last record included, is
//! damage. A torn last flush after it is what a crash leaves behind
//! (nothing in it was acknowledged): reported, not counted as damage.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::align::BLOCK_BYTES;
use super::damage::{Classifier, DamagedRange};
use super::file::{list_segments, segment_name, Backing, SegmentFile};
use super::index::Index;
use super::log::LogConfig;
use super::object_index::ObjectIndex;
use super::record::record_bytes;
use super::recovery::{collect, replay, scan_segment, Op, Scan};
use super::types::StoreError;
use super::{SEGMENT_BYTES, WRITE_BUFFER_BYTES};

/// Shard directories are named `shard-NNN`.
const SHARD_DIR_PREFIX: &str = "shard-";

/// One damaged place on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub path: PathBuf,
    pub offset: u64,
    /// Length of the damaged byte run (0 when unknown).
    pub bytes: u64,
    pub what: String,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} offset {} ({} bytes): {}",
            self.path.display(),
            self.offset,
            self.bytes,
            self.what
        )
    }
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub shards: u64,
    pub segments: u64,
    /// Valid records (CRC and header checked).
    pub records: u64,
    /// Visible objects after replay (keys whose current version is an object).
    pub objects: u64,
    /// Every version after replay, noncurrent ones and delete markers too.
    pub versions: u64,
    /// Record bytes of the visible objects' data.
    pub live_bytes: u64,
    /// Record bytes of every valid record.
    pub used_bytes: u64,
    /// Damaged records (bit rot, undecodable metadata).
    pub damage: Vec<Damage>,
    /// Visible objects whose data records are damaged or missing.
    pub damaged_objects: Vec<Damage>,
    /// Torn tails recovery will cut (a crash, not damage).
    pub torn_tails: Vec<Damage>,
}

impl VerifyReport {
    pub fn garbage_bytes(&self) -> u64 {
        self.used_bytes.saturating_sub(self.live_bytes)
    }

    pub fn is_clean(&self) -> bool {
        self.damage.is_empty() && self.damaged_objects.is_empty()
    }
}

/// Verifies every `shard-NNN` directory under `data_dir`.
pub async fn verify_data_dir(data_dir: &Path) -> Result<VerifyReport, StoreError> {
    let read_dir = std::fs::read_dir(data_dir).map_err(|source| StoreError::Io {
        op: "readdir",
        path: data_dir.to_path_buf(),
        offset: 0,
        source,
    })?;
    let mut shard_dirs: Vec<PathBuf> = read_dir
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(SHARD_DIR_PREFIX)
        })
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    shard_dirs.sort();
    if shard_dirs.is_empty() {
        return Err(StoreError::Format(format!(
            "no {SHARD_DIR_PREFIX}NNN directories in {}",
            data_dir.display()
        )));
    }
    let mut report = VerifyReport::default();
    for dir in &shard_dirs {
        verify_shard(dir, &mut report).await?;
        report.shards += 1;
    }
    Ok(report)
}

/// Verifies one shard directory, adding to `report`.
pub async fn verify_shard(dir: &Path, report: &mut VerifyReport) -> Result<(), StoreError> {
    let cfg = offline_config(dir);
    let ids = list_segments(dir, &Backing::Files)?;
    let mut ops: Vec<(u64, Op)> = Vec::new();
    let mut data: HashMap<(u32, u64), u32> = HashMap::new();
    let mut classifier = Classifier::new(super::checkpoint::durable_position(dir));
    for (i, &id) in ids.iter().enumerate() {
        let path = dir.join(segment_name(id));
        let file = SegmentFile::open(&path, false, false, &Backing::Files).await?;
        let mut scan = scan_segment(&file).await?;
        if i + 1 == ids.len() {
            note_torn_tail(&cfg, &mut classifier, id, &path, &mut scan, report);
        } else {
            classifier.segment(id, &scan);
        }
        collect_segment(dir, id, scan, &mut ops, &mut data, report);
        report.segments += 1;
    }
    for d in classifier.finish() {
        report.damage.push(media_damage(dir, &d));
    }
    let index = ObjectIndex::memory(Index::default());
    replay(&index, Vec::new(), ops, &data, None).await?;
    if let Some(index) = index.in_memory() {
        check_objects(dir, &index, &data, report);
    }
    Ok(())
}

fn media_damage(dir: &Path, d: &DamagedRange) -> Damage {
    Damage {
        path: dir.join(segment_name(d.segment)),
        offset: d.offset,
        bytes: d.bytes,
        what: format!("damaged after it was durable: {d}"),
    }
}

/// Applies recovery's rule to the last segment; records the torn last
/// flush it would cut.
fn note_torn_tail(
    cfg: &LogConfig,
    classifier: &mut Classifier,
    id: u32,
    path: &Path,
    scan: &mut Scan,
    report: &mut VerifyReport,
) {
    if let Some(t) = classifier.last_segment(cfg, id, scan).torn {
        report.torn_tails.push(Damage {
            path: path.to_path_buf(),
            offset: t.offset,
            bytes: t.bytes,
            what: format!(
                "torn last flush, after the last confirmed position: a write that never \
                 completed, so nothing in it was acknowledged (cut on next start): {t}"
            ),
        });
    }
}

/// Every valid record through recovery's `collect`: the same decoding, the
/// same ops (multipart Init and Part records included, so a Complete
/// replays as it does at start-up).
fn collect_segment(
    dir: &Path,
    seg: u32,
    scan: Scan,
    ops: &mut Vec<(u64, Op)>,
    data: &mut HashMap<(u32, u64), u32>,
    report: &mut VerifyReport,
) {
    let mut undecodable = Vec::new();
    for r in scan.records {
        report.records += 1;
        report.used_bytes += record_bytes(r.header.payload_len as usize) as u64;
        collect(seg, r, ops, data, &mut undecodable);
    }
    for d in &undecodable {
        report.damage.push(Damage {
            path: dir.join(segment_name(d.segment)),
            offset: d.offset,
            bytes: d.bytes,
            what: format!("record does not decode: {d}"),
        });
    }
}

fn check_objects(
    dir: &Path,
    index: &Index,
    data: &HashMap<(u32, u64), u32>,
    report: &mut VerifyReport,
) {
    report.objects = index.object_count();
    for e in index.entries() {
        report.versions += 1;
        for x in &e.extents {
            report.live_bytes += record_bytes(x.payload_len as usize) as u64;
        }
        let missing = e
            .extents
            .iter()
            .find(|x| data.get(&(x.segment, x.offset)) != Some(&x.payload_len));
        if let Some(x) = missing {
            report.damaged_objects.push(Damage {
                path: dir.join(segment_name(x.segment)),
                offset: x.offset,
                bytes: record_bytes(x.payload_len as usize) as u64,
                what: format!(
                    "object bucket {} key {:?}: data record damaged",
                    e.bucket, e.key
                ),
            });
        }
    }
}

/// The configuration recovery would use, for its torn-tail window.
fn offline_config(dir: &Path) -> LogConfig {
    const _: () = assert!(WRITE_BUFFER_BYTES.is_multiple_of(BLOCK_BYTES));
    LogConfig {
        dir: dir.to_path_buf(),
        shard: 0,
        shard_count: 1,
        segment_bytes: SEGMENT_BYTES,
        write_buffer_bytes: WRITE_BUFFER_BYTES,
        direct_io: false,
        backing: Backing::Files,
        max_data_bytes: None,
        accept_data_loss: false,
    }
}
