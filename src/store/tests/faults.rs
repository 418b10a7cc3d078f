//! Injected faults on the simulated disk: short writes and EIO on data
//! writes, and the operator's `--max-data-bytes` cap.

use super::*;

/// Arms a fault on the next write, then: the PUT in flight is not
/// acknowledged, the shard fences writes, reads go on; after a power cut (or
/// with every landed block made durable) recovery keeps the acknowledged
/// object, never shows the failed one half-written, and takes writes again.
fn failed_write_is_contained(arm: fn(&mut SimFaults, u64), cut_seed: Option<u64>) {
    let disk = SimDisk::new_handle();
    let (a, b) = (body(1, 50_000), body(2, 400_000));
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        put(&store, "a", &a).await.expect("a");
        let writes = disk.borrow().writes;
        arm(&mut disk.borrow_mut().faults, writes);
        assert!(
            put(&store, "b", &b).await.is_err(),
            "failed write acknowledged"
        );
        assert!(store.get(1, "b").is_none());
        assert!(matches!(
            put(&store, "c", b"c").await,
            Err(StoreError::WritesFenced)
        ));
        assert_reads(&store, "a", &a).await;
    });
    match cut_seed {
        Some(seed) => disk.borrow_mut().power_cut(seed),
        None => disk.borrow_mut().settle(),
    }
    let after = disk.borrow().durable_copy();
    run(async {
        let store = Store::open(sim_cfg(&after)).await.expect("reopen");
        assert_reads(&store, "a", &a).await;
        match read_all(&store, "b").await {
            None => {}
            Some(Ok(v)) => assert!(v == b, "failed write visible half-written"),
            Some(Err(e)) => panic!("b unreadable after recovery: {e}"),
        }
        put(&store, "d", b"after")
            .await
            .expect("writes after restart");
        assert_reads(&store, "d", b"after").await;
    });
}

#[test]
fn short_write_fences_and_recovers() {
    let arm: fn(&mut SimFaults, u64) = |f, next| f.short_write = Some(next);
    failed_write_is_contained(arm, None);
    for seed in 0..20 {
        failed_write_is_contained(arm, Some(seed));
    }
}

#[test]
fn eio_on_data_write_fences_and_recovers() {
    let arm: fn(&mut SimFaults, u64) = |f, next| f.eio_on_write = Some(next);
    failed_write_is_contained(arm, None);
    failed_write_is_contained(arm, Some(3));
}

#[test]
fn max_data_bytes_cap_answers_no_space_and_keeps_deletes_working() {
    let disk = SimDisk::new_handle();
    let mut cfg = sim_cfg(&disk);
    cfg.max_data_bytes = Some(2 * TEST_SEGMENT_BYTES);
    let data = body(5, 300_000);
    let acked = run(async {
        let store = Store::open(cfg).await.expect("open");
        let mut acked = Vec::new();
        let err = loop {
            let k = format!("k{}", acked.len());
            match put(&store, &k, &data).await {
                Ok(_) => acked.push(k),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StoreError::NoSpace), "got {err:?}");
        assert!(acked.len() >= 5, "only {} objects fit", acked.len());
        assert!(store.stats().segments <= 2, "the cap was exceeded");
        for k in &acked {
            assert_reads(&store, k, &data).await;
        }
        // The metadata reserve: a full shard still deletes.
        assert!(store.delete(1, &acked[0]).await.expect("delete at the cap"));
        assert!(matches!(
            put(&store, "more", &data).await,
            Err(StoreError::NoSpace)
        ));
        acked
    });
    let cfg = {
        let mut c = sim_cfg(&disk);
        c.max_data_bytes = Some(2 * TEST_SEGMENT_BYTES);
        c
    };
    run(async {
        let store = Store::open(cfg).await.expect("reopen at the cap");
        assert!(store.get(1, &acked[0]).is_none(), "delete survived");
        for k in &acked[1..] {
            assert_reads(&store, k, &data).await;
        }
    });
}
