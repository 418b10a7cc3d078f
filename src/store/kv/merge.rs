//! Tiered merges: runs fall into size classes a factor of
//! `MERGE_CLASS_FACTOR` apart; when `INDEX_MERGE_FANIN` adjacent runs share
//! a class they are merged into one run (of the next class). Only adjacent
//! runs are merged, so the age order that decides which entry of a key
//! wins is kept. A merge streams a k-way merge of its inputs' blocks, keeps
//! the newest entry of each key and drops tombstones only when it includes
//! the oldest run (nothing older can hold the key). It is paced.

use std::ops::Range;
use std::rc::Rc;
use std::time::Duration;

use super::files::KvFiles;
use super::iter::{KvIter, RunCursor, Source};
use super::run::{RunInfo, RunReader, RunWriter};
use crate::store::types::StoreError;

/// Runs merged into one.
pub const INDEX_MERGE_FANIN: usize = 4;
/// Size ratio between adjacent size classes.
pub const MERGE_CLASS_FACTOR: u64 = 4;
/// Data bytes up to which a run is in class 0.
pub const MERGE_CLASS0_BYTES: u64 = 256 * 1024;
/// With this many runs, the newest `INDEX_MERGE_FANIN` are merged whatever
/// their classes, so lookups never face an unbounded number of runs.
pub const MAX_RUNS_BEFORE_FORCED_MERGE: usize = 8 * INDEX_MERGE_FANIN;
const _: () = assert!(INDEX_MERGE_FANIN >= 2);

/// A merge's pace: after every `tick_bytes` written it pauses for `pause`
/// (zero: it only yields to the other tasks on the shard).
#[derive(Debug, Clone, Copy)]
pub struct MergePace {
    pub tick_bytes: u64,
    pub pause: Duration,
}

impl MergePace {
    /// Yield often, never sleep: tests and merges on demand.
    pub const FULL_SPEED: MergePace = MergePace {
        tick_bytes: 1024 * 1024,
        pause: Duration::ZERO,
    };
}

pub fn size_class(data_bytes: u64) -> u32 {
    let (mut class, mut limit) = (0, MERGE_CLASS0_BYTES);
    while data_bytes > limit {
        limit = limit.saturating_mul(MERGE_CLASS_FACTOR);
        class += 1;
    }
    class
}

/// The runs (oldest first) to merge next: the lowest class with
/// `INDEX_MERGE_FANIN` adjacent runs in it (the newest such window), or,
/// past `MAX_RUNS_BEFORE_FORCED_MERGE` runs, the newest window.
pub fn pick_merge(runs: &[RunInfo]) -> Option<Range<usize>> {
    let classes: Vec<u32> = runs.iter().map(|r| size_class(r.data_bytes)).collect();
    let best = classes
        .windows(INDEX_MERGE_FANIN)
        .enumerate()
        .filter(|(_, w)| w.iter().all(|&c| c == w[0]))
        .min_by_key(|&(start, w)| (w[0], std::cmp::Reverse(start)))
        .map(|(start, _)| start);
    let start = best.or_else(|| {
        (runs.len() > MAX_RUNS_BEFORE_FORCED_MERGE).then(|| runs.len() - INDEX_MERGE_FANIN)
    })?;
    Some(start..start + INDEX_MERGE_FANIN)
}

/// Merges `inputs` (adjacent runs, oldest first) into run `out`. None when
/// nothing survives (every entry a dropped tombstone): no file is left.
pub async fn merge_runs(
    files: &KvFiles,
    inputs: &[Rc<RunReader>],
    out: u64,
    drop_tombstones: bool,
    pace: MergePace,
) -> Result<Option<RunInfo>, StoreError> {
    let sources = inputs
        .iter()
        .rev()
        .map(|r| Source::Run(RunCursor::new(r.clone(), None, true)))
        .collect();
    let mut it = KvIter::new(sources, true);
    let mut writer = RunWriter::create(files, out).await?;
    if let Err(e) = copy_merged(&mut it, &mut writer, drop_tombstones, pace).await {
        writer.abandon();
        return Err(e);
    }
    if writer.entries() == 0 {
        writer.abandon();
        return Ok(None);
    }
    writer.finish().await.map(Some)
}

async fn copy_merged(
    it: &mut KvIter,
    writer: &mut RunWriter,
    drop_tombstones: bool,
    pace: MergePace,
) -> Result<(), StoreError> {
    it.seek(b"").await?;
    let mut since_pause = 0u64;
    while let Some(e) = it.next_entry().await? {
        if e.value.is_none() && drop_tombstones {
            continue;
        }
        writer.add(&e.key, e.seq, e.value.as_deref()).await?;
        since_pause += (e.key.len() + e.value.as_ref().map_or(0, |v| v.len())) as u64;
        if since_pause >= pace.tick_bytes {
            since_pause = 0;
            if pace.pause.is_zero() {
                crate::util::yield_now::yield_now().await;
            } else {
                monoio::time::sleep(pace.pause).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(sizes: &[u64]) -> Vec<RunInfo> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &b)| RunInfo {
                num: i as u64 + 1,
                file_bytes: b + 4096,
                entries: 1,
                data_bytes: b,
            })
            .collect()
    }

    const K: u64 = 1024;

    #[test]
    fn classes_are_a_factor_of_four_apart() {
        assert_eq!(size_class(0), 0);
        assert_eq!(size_class(MERGE_CLASS0_BYTES), 0);
        assert_eq!(size_class(MERGE_CLASS0_BYTES + 1), 1);
        assert_eq!(size_class(4 * MERGE_CLASS0_BYTES), 1);
        assert_eq!(size_class(16 * MERGE_CLASS0_BYTES), 2);
        assert_eq!(size_class(u64::MAX), 23);
    }

    #[test]
    fn merge_choice_table() {
        let m = 1024 * K;
        let cases: &[(&[u64], Option<Range<usize>>)] = &[
            (&[], None),
            (&[4 * K, 4 * K, 4 * K], None),
            (&[4 * K, 4 * K, 4 * K, 4 * K], Some(0..4)),
            // The small ones at the tail, not the big ones before them.
            (
                &[4 * m, 4 * m, 4 * m, 4 * m, 8 * K, 8 * K, 8 * K, 8 * K],
                Some(4..8),
            ),
            // Five small: the newest four.
            (&[8 * K, 8 * K, 8 * K, 8 * K, 8 * K], Some(1..5)),
            // Same class but not adjacent: no merge.
            (&[8 * K, 8 * K, 8 * K, 4 * m, 8 * K], None),
        ];
        for (sizes, want) in cases {
            assert_eq!(pick_merge(&runs(sizes)), *want, "{sizes:?}");
        }
    }

    #[test]
    fn too_many_runs_force_a_merge_of_the_newest() {
        let alternating: Vec<u64> = (0..=MAX_RUNS_BEFORE_FORCED_MERGE)
            .map(|i| if i.is_multiple_of(2) { 4 * K } else { 4096 * K })
            .collect();
        let n = alternating.len();
        assert_eq!(
            pick_merge(&runs(&alternating[1..])),
            None,
            "at the limit: no forced merge"
        );
        assert_eq!(
            pick_merge(&runs(&alternating)),
            Some(n - INDEX_MERGE_FANIN..n)
        );
    }
}
