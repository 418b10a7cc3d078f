//! Index checkpoints on real files: restart replays only the log after the
//! checkpoint; a torn or damaged checkpoint falls back to a full scan.

use super::*;
use crate::store::checkpoint::{write_checkpoint, CHECKPOINT_FILE};

/// These tests are about the in-memory index's checkpoint file.
fn real_cfg(dir: &std::path::Path) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir.join("shard-000"), 0);
    cfg.index = IndexKind::Memory;
    cfg.segment_bytes = TEST_SEGMENT_BYTES;
    cfg.write_buffer_bytes = MIN_WRITE_BUFFER_BYTES;
    cfg
}

/// Objects before the checkpoint, overwrites and deletes after it.
fn build(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut want = BTreeMap::new();
    run(async {
        let store = Store::open(real_cfg(dir)).await.expect("open");
        for i in 0..30u64 {
            let v = body(i, (i as usize * 31_337) % 400_000);
            put(&store, &format!("k{i}"), &v).await.expect("put");
            want.insert(format!("k{i}"), v);
        }
        assert!(write_checkpoint(&store).await.expect("checkpoint"));
        for i in 0..10u64 {
            let k = format!("k{i}");
            if i % 2 == 0 {
                assert!(store.delete(1, &k).await.expect("delete"));
                want.remove(&k);
            } else {
                let v = body(100 + i, 5000);
                put(&store, &k, &v).await.expect("overwrite");
                want.insert(k, v);
            }
        }
        put(&store, "late", b"after the checkpoint")
            .await
            .expect("put");
        want.insert("late".into(), b"after the checkpoint".to_vec());
    });
    want
}

fn reopen_and_check(dir: &std::path::Path, want: &BTreeMap<String, Vec<u8>>) {
    run(async {
        let store = Store::open(real_cfg(dir)).await.expect("reopen");
        assert_eq!(store.stats().objects, want.len() as u64);
        for (k, v) in want {
            assert_reads(&store, k, v).await;
        }
        put(&store, "after-reopen", b"x")
            .await
            .expect("writes go on");
    });
}

#[test]
fn restart_from_checkpoint_replays_the_log_after_it() {
    let dir = real_disk_tempdir();
    let want = build(dir.path());
    reopen_and_check(dir.path(), &want);
    // Twice: the second start resumes from the same checkpoint and a longer log.
    let mut want = want;
    want.insert("after-reopen".into(), b"x".to_vec());
    reopen_and_check(dir.path(), &want);
}

#[test]
fn torn_or_damaged_checkpoint_falls_back_to_a_full_scan() {
    let dir = real_disk_tempdir();
    let want = build(dir.path());
    let path = dir.path().join("shard-000").join(CHECKPOINT_FILE);
    let good = std::fs::read(&path).expect("checkpoint");
    reopen_and_check(dir.path(), &want);
    let mut want = want;
    want.insert("after-reopen".into(), b"x".to_vec());
    for cut in [0, 10, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).expect("tear");
        reopen_and_check(dir.path(), &want);
    }
    let mut flipped = good.clone();
    flipped[good.len() / 3] ^= 1;
    std::fs::write(&path, &flipped).expect("flip");
    reopen_and_check(dir.path(), &want);
}

/// Start-up time with 1 000 000 objects, from a checkpoint and by full scan.
/// `cargo test --lib startup_with_a_million_objects -- --ignored --nocapture`
#[test]
#[ignore]
fn startup_with_a_million_objects() {
    const OBJECTS: u64 = 1_000_000;
    const BATCH: u64 = 2000;
    let dir = real_disk_tempdir();
    let cfg = || StoreConfig::new(dir.path().join("shard-000"), 0);
    let started = std::time::Instant::now();
    run(async {
        let store = Store::open(cfg()).await.expect("open");
        for round in 0..OBJECTS / BATCH {
            let tasks: Vec<_> = (0..BATCH)
                .map(|i| {
                    let s = store.clone();
                    let key = format!("bench/{:07}", round * BATCH + i);
                    monoio::spawn(async move { put(&s, &key, b"sixteen byte val").await })
                })
                .collect();
            for t in tasks {
                t.await.expect("put");
            }
        }
        assert_eq!(store.stats().objects, OBJECTS);
        assert!(write_checkpoint(&store).await.expect("checkpoint"));
    });
    eprintln!("built {OBJECTS} objects in {:?}", started.elapsed());
    let t = std::time::Instant::now();
    run(async {
        let store = Store::open(cfg()).await.expect("reopen");
        assert_eq!(store.stats().objects, OBJECTS);
    });
    let with_checkpoint = t.elapsed();
    std::fs::remove_file(dir.path().join("shard-000").join(CHECKPOINT_FILE)).expect("rm");
    let t = std::time::Instant::now();
    run(async {
        let store = Store::open(cfg()).await.expect("reopen");
        assert_eq!(store.stats().objects, OBJECTS);
    });
    let full_scan = t.elapsed();
    eprintln!("start-up with {OBJECTS} objects: {with_checkpoint:?} from a checkpoint, {full_scan:?} by full log scan");
}

/// An encrypted object (plaintext size in its meta, chunks in the log)
/// keeps its parameters and its stored bytes through a checkpoint,
/// compaction and a restart.
#[test]
fn encrypted_objects_survive_checkpoint_compaction_and_restart() {
    let dir = real_disk_tempdir();
    let plain = 100_000u64;
    let stored = body(7, crate::sse::layout::stored_len(plain) as usize);
    let sse = SseInfo {
        kms: None,
        kind: SseKind::Customer,
        seed: [4; 32],
        key_md5: [5; 16],
    };
    run(async {
        let store = Store::open(real_cfg(dir.path())).await.expect("open");
        // Garbage first, so compaction has a segment worth moving.
        for i in 0..20u64 {
            put(&store, &format!("junk{i}"), &body(i, 200_000))
                .await
                .expect("put");
        }
        let mut w = store.writer(1, "enc");
        w.write(Bytes::copy_from_slice(&stored))
            .await
            .expect("write");
        let meta = ObjectMeta {
            size: plain,
            etag: "e".into(),
            sse: Some(sse.clone()),
            ..ObjectMeta::default()
        };
        let e = w.commit(meta, PutCondition::None).await.expect("commit");
        assert_eq!((e.meta.size, e.stored_len()), (plain, stored.len() as u64));
        for i in 0..20u64 {
            assert!(store.delete(1, &format!("junk{i}")).await.expect("delete"));
        }
        assert!(write_checkpoint(&store).await.expect("checkpoint"));
        crate::store::compaction::compact_all(&store, false)
            .await
            .expect("compact");
    });
    run(async {
        let store = Store::open(real_cfg(dir.path())).await.expect("reopen");
        let e = store.get(1, "enc").await.expect("index").expect("present");
        assert_eq!(e.meta.sse, Some(sse));
        assert_eq!((e.meta.size, e.stored_len()), (plain, stored.len() as u64));
        let mut r = store.reader(e.clone(), 0, e.stored_len());
        let mut got = Vec::new();
        while let Some(piece) = r.next().await {
            got.extend_from_slice(&piece.expect("read"));
        }
        assert!(got == stored, "stored chunks changed");
    });
}
