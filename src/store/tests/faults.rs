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
        assert!(store.get(1, "b").await.expect("index").is_none());
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

/// Segments a capped or small simulated store may hold.
const FULL_SEGMENTS: u64 = 10;

/// An upload in progress (with one part) that the full store must still abort.
async fn open_upload(store: &Store, key: &str) -> UploadId {
    let id = store
        .create_upload(1, key, ObjectMeta::default())
        .await
        .expect("init");
    let mut w = store.part_writer(1, key, id, 1).expect("part writer");
    w.write(Bytes::from(body(77, 200_000))).await.expect("part");
    w.commit_part("etag-part".into(), None, 7)
        .await
        .expect("part commit");
    id
}

/// Fills the store with `size`-byte objects until a PUT answers NoSpace;
/// returns how many fit. No other error is acceptable.
async fn fill(
    store: &Store,
    model: &mut BTreeMap<String, Vec<u8>>,
    tag: &str,
    size: usize,
) -> usize {
    let bound = (FULL_SEGMENTS * TEST_SEGMENT_BYTES) as usize / size + 1;
    for n in 0..=bound {
        let key = format!("{tag}-{n}");
        let data = body(n as u64 ^ 0x5eed, size);
        match put(store, &key, &data).await {
            Ok(_) => {
                model.insert(key, data);
            }
            Err(StoreError::NoSpace) => return n,
            Err(e) => panic!("{key}: {e:?}"),
        }
    }
    panic!("{tag}: {bound} objects of {size} bytes and still no NoSpace: no bound enforced");
}

/// The attack of issue 22 3b: empty PUTs until refused. Only the room
/// above the reserve that the last refused object left may go; once
/// refused, they stay refused.
async fn empty_puts_until_refused(store: &Store, tag: &str) {
    let mut empties = 0;
    while put(store, &format!("empty-{tag}-{empties}"), b"")
        .await
        .is_ok()
    {
        empties += 1;
        assert!(empties < 10_000, "empty PUTs eat the reserve");
    }
    assert!(
        matches!(
            put(store, &format!("one-more-empty-{tag}"), b"").await,
            Err(StoreError::NoSpace)
        ),
        "refused once, refused again"
    );
}

async fn check_model(store: &Store, model: &BTreeMap<String, Vec<u8>>) {
    for (k, v) in model {
        assert_reads(store, k, v).await;
    }
}

/// The full-store cycle at the store level, for a bound given by
/// `cfg` (a cap, or a small simulated disk): fill until NoSpace; empty PUTs
/// cannot eat the reserve; every delete and abort still succeeds; deleting
/// 60% and compacting makes the store writable again; three times, every
/// acknowledged object intact throughout; and after a restart at full, the
/// reserve is still there for deletes and aborts. `used` reads the bytes
/// the disk holds; `power_cycle` makes it what a restart finds.
fn full_store_cycle(
    used: impl Fn() -> u64,
    power_cycle: impl Fn(),
    cfg: impl Fn() -> StoreConfig,
    bytes_bound: u64,
) {
    let (model, late_upload) = run(async {
        let store = Store::open(cfg()).await.expect("open");
        let mut model = BTreeMap::new();
        let mut uploads = Vec::new();
        for round in 0..3 {
            uploads.push(open_upload(&store, &format!("mp{round}")).await);
            let n = fill(&store, &mut model, &format!("r{round}"), 300_000).await;
            assert!(n >= 10, "round {round}: only {n} objects fit");
            assert!(
                used() <= bytes_bound,
                "round {round}: {} bytes held, bound {bytes_bound}",
                used()
            );
            empty_puts_until_refused(&store, &format!("r{round}")).await;
            store
                .abort_upload(1, &format!("mp{round}"), uploads[round])
                .await
                .expect("abort at full");
            let keys: Vec<String> = model.keys().cloned().collect();
            for (i, k) in keys.iter().enumerate() {
                if i % 5 < 3 {
                    assert!(store.delete(1, k).await.expect("delete at full"), "{k}");
                    model.remove(k);
                }
            }
            check_model(&store, &model).await;
            let freed = crate::store::compaction::compact_all(&store, false)
                .await
                .expect("compact at full");
            assert!(freed > 0, "round {round}: compaction freed nothing");
            let again = body(round as u64, 300_000);
            put(&store, &format!("again{round}"), &again)
                .await
                .expect("writable again after deletes and compaction");
            model.insert(format!("again{round}"), again);
            check_model(&store, &model).await;
        }
        // Full again, with an upload to abort after the restart.
        let late = open_upload(&store, "late").await;
        fill(&store, &mut model, "last", 300_000).await;
        // Full for every size of object: the room above the reserve that
        // the refused 300 kB left goes to empty PUTs first.
        empty_puts_until_refused(&store, "last").await;
        (model, late)
    });
    power_cycle();
    run(async {
        let store = Store::open(cfg()).await.expect("reopen at full");
        check_model(&store, &model).await;
        assert!(matches!(
            put(&store, "empty-after", b"").await,
            Err(StoreError::NoSpace)
        ));
        store
            .abort_upload(1, "late", late_upload)
            .await
            .expect("abort after restart at full");
        let mut left = model.clone();
        for k in model.keys().take(model.len() / 2) {
            assert!(store
                .delete(1, k)
                .await
                .expect("delete after restart at full"));
            left.remove(k);
        }
        check_model(&store, &left).await;
    });
}

/// `--max-data-bytes` (sim): the cap holds every byte the shard's files take.
#[test]
pub(crate) fn capped_store_fills_deletes_compacts_and_refills() {
    let disk = SimDisk::new_handle();
    let cap = FULL_SEGMENTS * TEST_SEGMENT_BYTES;
    let cfg = || {
        let mut c = sim_cfg(&disk);
        c.max_data_bytes = Some(cap);
        c
    };
    let used = || disk.borrow().used_bytes();
    full_store_cycle(used, || disk.borrow_mut().settle(), cfg, cap);
}

/// The memory backend (`serve --memory`) within its bound: the same cycle
/// (a reopen in the same process finds the memory as it was).
#[test]
fn memory_store_fills_deletes_compacts_and_refills() {
    let cap = FULL_SEGMENTS * TEST_SEGMENT_BYTES;
    let mem = MemDisk::new_handle(cap);
    let cfg = || {
        let mut c = sim_cfg(&SimDisk::new_handle());
        c.backing = Backing::Memory(mem.clone());
        c.max_data_bytes = Some(cap);
        c
    };
    let used = || mem.borrow().used_bytes();
    full_store_cycle(used, || {}, cfg, cap);
    assert!(mem.borrow().resident_bytes() <= cap);
}

/// A small (simulated) disk with no cap: the same, from its free space.
#[test]
fn small_disk_fills_deletes_compacts_and_refills() {
    let disk = SimDisk::new_handle();
    let capacity = FULL_SEGMENTS * TEST_SEGMENT_BYTES + space::FS_SLACK_BYTES;
    disk.borrow_mut().faults.capacity_bytes = Some(capacity);
    let used = || disk.borrow().used_bytes();
    full_store_cycle(
        used,
        || disk.borrow_mut().settle(),
        || sim_cfg(&disk),
        capacity,
    );
}

/// Delete markers may not take the last of the delete reserve: after a
/// flood of them, permanent deletes still get through.
#[test]
pub(crate) fn delete_markers_leave_room_for_permanent_deletes() {
    let disk = SimDisk::new_handle();
    let mut cfg = sim_cfg(&disk);
    cfg.max_data_bytes = Some(FULL_SEGMENTS * TEST_SEGMENT_BYTES);
    run(async {
        let store = Store::open(cfg).await.expect("open");
        store.set_versioning([(1, Versioning::Enabled)].into_iter().collect());
        let mut model = BTreeMap::new();
        fill(&store, &mut model, "v", 300_000).await;
        let mut markers = 0u64;
        let refused = loop {
            match store.delete_object(1, &format!("nokey-{markers}")).await {
                Ok(o) => assert!(o.delete_marker),
                Err(e) => break e,
            }
            markers += 1;
            assert!(markers < 1_000_000, "markers are never refused");
        };
        assert!(matches!(refused, StoreError::NoSpace), "{refused:?}");
        assert!(markers > 100, "only {markers} markers fit the reserve");
        for (k, _) in model.iter().take(20) {
            for v in store.versions(1, k).await.expect("index") {
                store
                    .delete_version(1, k, v.version_id)
                    .await
                    .expect("version delete after the marker flood");
            }
        }
    });
}
