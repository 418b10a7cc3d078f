//! Compaction under churn: disk use stays bounded, every live object reads
//! back, also after a power cut in the middle of a compaction.

use super::*;
use crate::store::compaction::{compact_all, COMPACTION_MIN_AGE_SEGMENTS};

const CHURN_KEYS: u64 = 60;
const CHURN_OPS: u64 = 400;
const COMPACT_EVERY_OPS: u64 = 25;
/// The power cut lands within this many scheduler steps of the compaction start.
const CUT_STEPS_SPAN: u64 = 120;

/// Overwrites and deletes over a small key space; returns the model.
async fn churn(store: &Store, seed: u64, compact: bool) -> BTreeMap<String, Vec<u8>> {
    let mut rng = SplitMix(seed);
    let mut model = BTreeMap::new();
    for op in 0..CHURN_OPS {
        let key = format!("c{}", rng.next_u64() % CHURN_KEYS);
        if rng.next_u64().is_multiple_of(4) {
            store.delete(1, &key).await.expect("delete");
            model.remove(&key);
        } else {
            let v = body(rng.next_u64(), (rng.next_u64() % 300_000) as usize);
            put(store, &key, &v).await.expect("put");
            model.insert(key, v);
        }
        if compact && op % COMPACT_EVERY_OPS == 0 {
            compact_all(store, false).await.expect("compact");
        }
    }
    model
}

fn live_bytes(model: &BTreeMap<String, Vec<u8>>) -> u64 {
    model.values().map(|v| v.len() as u64).sum()
}

#[test]
pub(crate) fn churn_keeps_disk_use_under_twice_live_data() {
    let disk = SimDisk::new_handle();
    let model = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let model = churn(&store, 42, true).await;
        compact_all(&store, false).await.expect("compact");
        let live = live_bytes(&model);
        let used = store.stats().segments * TEST_SEGMENT_BYTES;
        // The youngest segments are never compacted (PUTs may still stream into them).
        let young = (COMPACTION_MIN_AGE_SEGMENTS as u64 + 1) * TEST_SEGMENT_BYTES;
        eprintln!(
            "live {live} bytes, disk {used} bytes in {} segments",
            store.stats().segments
        );
        assert!(
            used <= 2 * live + young,
            "disk {used} for {live} live bytes"
        );
        for (k, v) in &model {
            assert_reads(&store, k, v).await;
        }
        model
    });
    assert!(disk.borrow().writes > 0);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert_eq!(store.stats().objects, model.len() as u64);
        for (k, v) in &model {
            assert_reads(&store, k, v).await;
        }
    });
}

/// Churn without compaction, then compaction cut by a power loss at a seeded
/// step. Returns whether the cut landed before the compaction finished.
fn crash_during_compaction(seed: u64) -> bool {
    let disk = SimDisk::new_handle();
    let model = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        churn(&store, seed, false).await
    });
    disk.borrow_mut().interleave = true;
    let steps = SplitMix(seed).next_u64() % CUT_STEPS_SPAN;
    let finished = Rc::new(Cell::new(false));
    let segments_before = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        let before = store.stats().segments;
        let (s, done) = (store.clone(), finished.clone());
        monoio::spawn(async move {
            let r = compact_all(&s, false).await;
            done.set(r.is_ok());
        });
        for _ in 0..steps {
            file::SimYield::new().await;
        }
        disk.borrow_mut().power_cut(seed);
        disk.borrow_mut().dead = true;
        before
    });
    let after = disk.borrow().durable_copy();
    run(async {
        let store = Store::open(sim_cfg(&after)).await.expect("recover");
        assert_eq!(store.stats().objects, model.len() as u64, "seed {seed}");
        for (k, v) in &model {
            assert_reads(&store, k, v).await;
        }
        compact_all(&store, false)
            .await
            .expect("compaction resumes");
        assert!(
            store.stats().segments < segments_before,
            "nothing compacted"
        );
        for (k, v) in &model {
            assert_reads(&store, k, v).await;
        }
    });
    !finished.get()
}

#[test]
pub(crate) fn power_cut_during_compaction_loses_nothing() {
    const SEEDS: u64 = 24;
    let mid_way = (0..SEEDS).filter(|&s| crash_during_compaction(s)).count() as u64;
    assert!(
        mid_way * 2 >= SEEDS,
        "only {mid_way} of {SEEDS} cuts hit a running compaction"
    );
}

/// A multipart upload left open while churn makes its part's segment mostly
/// garbage: compaction must keep the part data (parts are not in the index),
/// and the upload still completes to the exact bytes, also after a reopen.
#[test]
pub(crate) fn compaction_keeps_in_progress_upload_parts() {
    let disk = SimDisk::new_handle();
    let part = body(77, 200_000);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let id = store
            .create_upload(1, "mp", ObjectMeta::default())
            .await
            .expect("init");
        let mut w = store.part_writer(1, "mp", id, 1).expect("part writer");
        w.write(Bytes::copy_from_slice(&part))
            .await
            .expect("write part");
        w.commit_part("etag-1".into(), None, 0)
            .await
            .expect("commit part");
        churn(&store, 7, true).await;
        compact_all(&store, false).await.expect("compact");
        let part_segment = store
            .inner
            .uploads
            .borrow()
            .iter()
            .flat_map(|u| u.extents().map(|e| e.segment).collect::<Vec<_>>())
            .next();
        let seg = part_segment.expect("the upload holds its part");
        assert!(
            store.inner.log.segments.borrow().contains_key(&seg),
            "segment {seg} with live part data was freed"
        );
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        let entry = store
            .complete_upload::<StoreError>(
                1,
                "mp",
                {
                    let id = store
                        .inner
                        .uploads
                        .borrow()
                        .iter()
                        .next()
                        .expect("upload survives")
                        .upload_id;
                    id
                },
                &PutCondition::None,
                |_u| {
                    Ok((
                        vec![1],
                        ObjectMeta {
                            etag: "x-1".into(),
                            ..ObjectMeta::default()
                        },
                    ))
                },
            )
            .await
            .expect("complete");
        assert_eq!(entry.meta.size, part.len() as u64);
        assert_reads(&store, "mp", &part).await;
    });
}

/// A large PUT still streaming while compaction runs: its data is in no index
/// yet, so the segments it wrote must not be freed under it (a 256 MiB
/// streaming upload over 16 MiB segments hit exactly this).
#[test]
pub(crate) fn compaction_leaves_open_writers_segments_alone() {
    let disk = SimDisk::new_handle();
    let data = body(5, (TEST_SEGMENT_BYTES * 3) as usize);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let mut w = store.writer(1, "streaming");
        w.write(Bytes::copy_from_slice(&data[..data.len() / 2]))
            .await
            .expect("first half");
        churn(&store, 11, true).await;
        compact_all(&store, false).await.expect("compact");
        w.write(Bytes::copy_from_slice(&data[data.len() / 2..]))
            .await
            .expect("second half");
        w.commit(ObjectMeta::default(), PutCondition::None)
            .await
            .expect("commit after compaction");
        assert_reads(&store, "streaming", &data).await;
        assert_eq!(
            store.oldest_open_writer_segment(),
            None,
            "the pin is released with the writer"
        );
    });
}

/// Record bytes in every segment the log holds, by scanning them.
async fn scanned_used_bytes(store: &Store) -> u64 {
    let files: Vec<_> = store
        .inner
        .log
        .segments
        .borrow()
        .values()
        .cloned()
        .collect();
    let mut used = 0;
    for f in files {
        let scan = crate::store::recovery::scan_segment(&f)
            .await
            .expect("scan");
        used += scan
            .records
            .iter()
            .map(|r| record_bytes(r.header.payload_len as usize) as u64)
            .sum::<u64>();
    }
    used
}

/// A GET that took its entry before compaction moved (or dropped) the
/// object keeps reading the right bytes: the old segment is freed only once
/// the reader is gone.
#[test]
pub(crate) fn reader_from_before_compaction_reads_right_bytes() {
    let disk = SimDisk::new_handle();
    let old = body(31, 3 * MAX_DATA_RECORD_BYTES + 1234);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        put(&store, "victim", &old).await.expect("put");
        let entry = store
            .get(1, "victim")
            .await
            .expect("index")
            .expect("victim");
        let seg = entry.extents[0].segment;
        let mut reader = store.reader(entry, 0, old.len() as u64);
        let mut got = reader
            .next()
            .await
            .expect("piece")
            .expect("first read")
            .to_vec();
        // The reader's segment becomes all garbage and old enough to compact.
        put(&store, "victim", b"new").await.expect("overwrite");
        let filler = body(32, 600_000);
        let fillers = 3 * TEST_SEGMENT_BYTES as usize / filler.len() + 1;
        for i in 0..fillers {
            put(&store, &format!("f{i}"), &filler)
                .await
                .expect("filler");
        }
        for i in 0..fillers {
            store.delete(1, &format!("f{i}")).await.expect("delete");
        }
        let s = store.clone();
        let compaction = monoio::spawn(async move { compact_all(&s, false).await });
        // The simulated disk completes I/O inline: this lets compaction run
        // until it finished or waits for the reader.
        monoio::time::sleep(std::time::Duration::from_millis(100)).await;
        while let Some(piece) = reader.next().await {
            got.extend_from_slice(&piece.expect("read after compaction"));
        }
        assert!(
            got == old,
            "{} bytes read, {} written",
            got.len(),
            old.len()
        );
        assert!(
            store.inner.log.segments.borrow().contains_key(&seg),
            "segment {seg} freed under an open reader"
        );
        drop(reader);
        let freed = compaction.await.expect("compact");
        assert!(freed > 0, "nothing freed");
        assert!(
            !store.inner.log.segments.borrow().contains_key(&seg),
            "segment {seg} kept after its reader ended"
        );
        assert_reads(&store, "victim", b"new").await;
    });
}

/// A reader that ran to its end no longer holds its segments, even before it
/// is dropped (a response may still be on its way to the client).
#[test]
fn finished_reader_releases_its_pin() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        put(&store, "k", &body(1, 300_000)).await.expect("put");
        let entry = store.get(1, "k").await.expect("index").expect("k");
        let seg = entry.extents[0].segment;
        let mut reader = store.reader(entry, 0, 300_000);
        assert!(store.segment_has_readers(seg));
        while let Some(piece) = reader.next().await {
            piece.expect("read");
        }
        assert!(!store.segment_has_readers(seg), "pin kept after the end");
        drop(reader);
        assert!(!store.segment_has_readers(seg));
    });
}

/// garbage_bytes is the log's record bytes less the live ones, and it
/// shrinks by a freed segment's bytes; the figure survives a reopen.
#[test]
pub(crate) fn garbage_bytes_shrink_when_segments_are_freed() {
    let disk = SimDisk::new_handle();
    let before_reopen = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        churn(&store, 5, false).await;
        let before = store.stats();
        assert_eq!(
            before.garbage_bytes + before.live_bytes,
            scanned_used_bytes(&store).await
        );
        let freed = compact_all(&store, false).await.expect("compact");
        let after = store.stats();
        eprintln!("freed {freed} segments: {before:?} -> {after:?}");
        assert!(freed > 0 && after.segments < before.segments);
        assert_eq!(
            after.garbage_bytes + after.live_bytes,
            scanned_used_bytes(&store).await,
            "used bytes follow the freed segments"
        );
        // Less the live bytes compaction copied forward, each freed segment
        // took up to a segment of garbage with it.
        assert!(
            after.garbage_bytes + TEST_SEGMENT_BYTES < before.garbage_bytes,
            "garbage {} -> {}",
            before.garbage_bytes,
            after.garbage_bytes
        );
        after
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        let s = store.stats();
        assert_eq!(
            (s.live_bytes, s.garbage_bytes),
            (before_reopen.live_bytes, before_reopen.garbage_bytes)
        );
    });
}

/// Writes `n` 600 KB objects and deletes them: at least `n * 600 KB` of
/// garbage at the head of the log.
async fn garbage(store: &Store, tag: &str, n: usize) {
    let filler = body(9, 600_000);
    for i in 0..n {
        put(store, &format!("{tag}{i}"), &filler)
            .await
            .expect("filler");
    }
    for i in 0..n {
        store.delete(1, &format!("{tag}{i}")).await.expect("delete");
    }
}

/// An upload in progress whose Init record sits in a segment that is
/// otherwise garbage (its part data is in later segments): compaction must
/// not free that segment, or the upload is gone after a restart.
#[test]
fn compaction_keeps_an_open_uploads_init_record() {
    let disk = SimDisk::new_handle();
    let part = body(78, 100_000);
    let id = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let id = store
            .create_upload(1, "mp", ObjectMeta::default())
            .await
            .expect("init");
        garbage(&store, "g", 8).await;
        let mut w = store.part_writer(1, "mp", id, 1).expect("part writer");
        w.write(Bytes::copy_from_slice(&part))
            .await
            .expect("write part");
        w.commit_part("etag-1".into(), None, 0).await.expect("part");
        garbage(&store, "h", 8).await;
        compact_all(&store, false).await.expect("compact");
        assert!(
            store.inner.log.segments.borrow().contains_key(&1),
            "the segment with the upload's Init record was freed"
        );
        id
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        let sizes = store.with_upload(1, "mp", id, |u| u.parts.len());
        assert_eq!(
            sizes,
            Some(1),
            "the upload and its part survive the restart"
        );
    });
}

/// An aborted upload whose Init record stays (its segment holds live data)
/// while the segment with its Abort record is compacted away must stay
/// aborted after a restart: the Abort is carried forward like a delete.
#[test]
pub(crate) fn compaction_does_not_resurrect_an_ended_upload() {
    let disk = SimDisk::new_handle();
    let keep = body(79, 1_500_000);
    let (aborted, completed) = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        put(&store, "keep", &keep)
            .await
            .expect("live data beside the Inits");
        let a = store
            .create_upload(1, "a", ObjectMeta::default())
            .await
            .expect("init a");
        let c = store
            .create_upload(1, "c", ObjectMeta::default())
            .await
            .expect("init c");
        garbage(&store, "g", 4).await;
        let mut w = store.part_writer(1, "c", c, 1).expect("part writer");
        w.write(Bytes::copy_from_slice(b"part"))
            .await
            .expect("write part");
        w.commit_part("etag-1".into(), None, 0).await.expect("part");
        store.abort_upload(1, "a", a).await.expect("abort");
        store
            .complete_upload::<StoreError>(1, "c", c, &PutCondition::None, |_| {
                Ok((vec![1], ObjectMeta::default()))
            })
            .await
            .expect("complete");
        // The completed object goes too: its Complete record becomes garbage.
        store.delete(1, "c").await.expect("delete c");
        garbage(&store, "h", 8).await;
        compact_all(&store, false).await.expect("compact");
        assert!(
            store.inner.log.segments.borrow().contains_key(&1),
            "the test needs the Init records' segment kept"
        );
        (a, c)
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert_eq!(store.upload_count(), 0, "an ended upload came back");
        assert!(store.with_upload(1, "a", aborted, |_| ()).is_none());
        assert!(store.with_upload(1, "c", completed, |_| ()).is_none());
        assert_reads(&store, "keep", &keep).await;
    });
}

/// A completed multipart object whose data sits in a kept segment and whose
/// Complete record sits in a garbage segment: the Complete is its commit, so
/// compaction must move it like one (it used to free it, losing the object
/// at the next restart).
#[test]
pub(crate) fn compaction_moves_a_multipart_objects_complete_record() {
    let disk = SimDisk::new_handle();
    let keep = body(80, 1_500_000);
    let part = body(81, 200_000);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        put(&store, "keep", &keep)
            .await
            .expect("live data beside the part");
        let id = store
            .create_upload(1, "mp", ObjectMeta::default())
            .await
            .expect("init");
        let mut w = store.part_writer(1, "mp", id, 1).expect("part writer");
        w.write(Bytes::copy_from_slice(&part))
            .await
            .expect("write part");
        w.commit_part("etag-1".into(), None, 0).await.expect("part");
        garbage(&store, "g", 4).await;
        store
            .complete_upload::<StoreError>(1, "mp", id, &PutCondition::None, |_| {
                Ok((vec![1], ObjectMeta::default()))
            })
            .await
            .expect("complete");
        garbage(&store, "h", 8).await;
        compact_all(&store, false).await.expect("compact");
        assert_reads(&store, "mp", &part).await;
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert_reads(&store, "mp", &part).await;
        assert_reads(&store, "keep", &keep).await;
    });
}

/// Paced compaction waits for the shard's foreground requests to pause (up
/// to `FOREGROUND_DEFER_MS` per 1 MiB step) but still finishes its segment.
#[test]
fn paced_compaction_yields_to_a_busy_shard_and_still_progresses() {
    use crate::store::compaction::{compact_segment, pick, FOREGROUND_DEFER_MS};
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let model = churn(&store, 7, false).await;
        let seg = pick(&store).expect("a mostly-garbage segment");
        // A shard that never goes quiet: the last foreground request "began"
        // in the future, so every step waits its full deferral.
        let hour = std::time::Duration::from_secs(3600);
        store
            .inner
            .last_foreground
            .set(std::time::Instant::now() + hour);
        let started = std::time::Instant::now();
        let freed = compact_segment(&store, seg, true).await.expect("compact");
        let took = started.elapsed();
        assert!(freed, "segment {seg} freed under foreground load");
        assert!(
            took >= std::time::Duration::from_millis(FOREGROUND_DEFER_MS),
            "compaction did not wait for the busy shard ({took:?})"
        );
        for (k, v) in &model {
            assert_reads(&store, k, v).await;
        }
    });
}
