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
fn churn_keeps_disk_use_under_twice_live_data() {
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
fn power_cut_during_compaction_loses_nothing() {
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
fn compaction_keeps_in_progress_upload_parts() {
    let disk = SimDisk::new_handle();
    let part = body(77, 200_000);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let id = store
            .create_upload(1, "mp", ObjectMeta::default())
            .await
            .expect("init");
        let mut w = store.part_writer(1, "mp", id, 1).expect("part writer");
        w.write(&part).await.expect("write part");
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
fn compaction_leaves_open_writers_segments_alone() {
    let disk = SimDisk::new_handle();
    let data = body(5, (TEST_SEGMENT_BYTES * 3) as usize);
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let mut w = store.writer(1, "streaming");
        w.write(&data[..data.len() / 2]).await.expect("first half");
        churn(&store, 11, true).await;
        compact_all(&store, false).await.expect("compact");
        w.write(&data[data.len() / 2..]).await.expect("second half");
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
