//! Multipart uploads in the store: completion references part extents,
//! abort and replacement make garbage, recovery restores uploads in
//! progress, and a power cut never loses an acknowledged part.

use super::*;

async fn put_part(store: &Store, key: &str, id: UploadId, n: u32, data: &[u8]) -> PartInfo {
    try_part(store, key, id, n, data).await.expect("part")
}

async fn try_part(
    store: &Store,
    key: &str,
    id: UploadId,
    n: u32,
    data: &[u8],
) -> Result<PartInfo, StoreError> {
    let mut w = store.part_writer(1, key, id, n)?;
    w.write(Bytes::copy_from_slice(data)).await?;
    w.commit_part(format!("etag-{n}-{}", data.len()), None, 7)
        .await
}

/// Completes with every part in number order.
async fn complete_all(
    store: &Store,
    key: &str,
    id: UploadId,
) -> Result<Rc<ObjectEntry>, StoreError> {
    store
        .complete_upload(1, key, id, &PutCondition::None, |u| {
            Ok::<_, StoreError>((u.parts.keys().copied().collect(), u.meta.clone()))
        })
        .await
}

fn parts_of(store: &Store, key: &str, id: UploadId) -> Option<Vec<(u32, u64)>> {
    store.with_upload(1, key, id, |u| {
        u.parts.values().map(|p| (p.part_number, p.size)).collect()
    })
}

#[test]
pub(crate) fn complete_references_parts_and_survives_reopen() {
    let disk = SimDisk::new_handle();
    let (p1, p2a, p2b, p3) = (body(1, 300_000), body(2, 1000), body(3, 70_000), body(4, 5));
    let (done_id, open_id, aborted_id) = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let meta = ObjectMeta {
            content_type: Some("x/y".into()),
            ..ObjectMeta::default()
        };
        let id = store.create_upload(1, "mp", meta).await.expect("init");
        put_part(&store, "mp", id, 1, &p1).await;
        put_part(&store, "mp", id, 2, &p2a).await;
        put_part(&store, "mp", id, 2, &p2b).await; // replaces
        put_part(&store, "mp", id, 3, &p3).await;
        let appended_before = store.stats().garbage_bytes + store.stats().live_bytes;
        let e = complete_all(&store, "mp", id).await.expect("complete");
        let after = store.stats();
        // Completion wrote one metadata record, no data.
        assert!(after.garbage_bytes + after.live_bytes - appended_before < 4096);
        assert_eq!(e.meta.part_sizes, vec![300_000, 70_000, 5]);
        assert_eq!(e.meta.content_type.as_deref(), Some("x/y"));
        let whole = [p1.clone(), p2b.clone(), p3.clone()].concat();
        assert_reads(&store, "mp", &whole).await;
        assert_eq!(after.live_bytes, live_of(&e));
        assert!(matches!(
            complete_all(&store, "mp", id).await,
            Err(StoreError::NoSuchUpload)
        ));
        assert!(matches!(
            try_part(&store, "mp", id, 4, b"late").await,
            Err(StoreError::NoSuchUpload)
        ));

        let open = store
            .create_upload(1, "open", ObjectMeta::default())
            .await
            .expect("init");
        put_part(&store, "open", open, 2, b"second").await;
        put_part(&store, "open", open, 1, b"first").await;
        let gone = store
            .create_upload(1, "gone", ObjectMeta::default())
            .await
            .expect("init");
        put_part(&store, "gone", gone, 1, &body(9, 100_000)).await;
        let live_with = store.stats().live_bytes;
        store.abort_upload(1, "gone", gone).await.expect("abort");
        assert!(
            store.stats().live_bytes < live_with,
            "abort frees part bytes"
        );
        assert!(matches!(
            store.abort_upload(1, "gone", gone).await,
            Err(StoreError::NoSuchUpload)
        ));
        (id, open, gone)
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        let whole = [p1, p2b, p3].concat();
        assert_reads(&store, "mp", &whole).await;
        let e = store.get(1, "mp").await.expect("index").expect("mp");
        assert_eq!(e.meta.part_sizes, vec![300_000, 70_000, 5]);
        assert!(parts_of(&store, "mp", done_id).is_none());
        assert!(parts_of(&store, "gone", aborted_id).is_none());
        assert_eq!(
            parts_of(&store, "open", open_id),
            Some(vec![(1, 5), (2, 6)])
        );
        assert_eq!(store.upload_count(), 1);
        let e2 = complete_all(&store, "open", open_id)
            .await
            .expect("complete after reopen");
        assert_reads(&store, "open", b"firstsecond").await;
        assert_eq!(store.stats().live_bytes, live_of(&e) + live_of(&e2));
    });
}

fn live_of(e: &ObjectEntry) -> u64 {
    e.extents
        .iter()
        .map(|x| record_bytes(x.payload_len as usize) as u64)
        .sum()
}

#[test]
fn list_uploads_orders_rolls_up_and_pages() {
    run(async {
        let disk = SimDisk::new_handle();
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let mut ids = Vec::new();
        for key in ["a/1", "a/2", "b", "b", "c"] {
            let id = store
                .create_upload(1, key, ObjectMeta::default())
                .await
                .expect("init");
            ids.push((key, id));
        }
        let all = store.list_uploads(1, "", None, None, 100);
        let keys: Vec<_> = all.iter().map(|i| i.sort_key().0.to_string()).collect();
        assert_eq!(keys, ["a/1", "a/2", "b", "b", "c"]);
        let rolled = store.list_uploads(1, "", Some("/"), None, 100);
        assert_eq!(rolled[0], UploadItem::CommonPrefix("a/".into()));
        assert_eq!(rolled.len(), 4);
        let (_, first_b) = all[2].sort_key();
        let after = store.list_uploads(1, "", None, Some(("b", first_b)), 100);
        assert_eq!(after.len(), 2, "second upload of b, then c");
        assert_eq!(store.list_uploads(1, "a/", None, None, 1).len(), 1);
        assert!(store.list_uploads(2, "", None, None, 100).is_empty());
    });
}

/// What the model knows of one upload.
#[derive(Default, Clone)]
struct UploadModel {
    /// part number → acknowledged body.
    acked: BTreeMap<u32, Vec<u8>>,
    /// A completion was started: its body, and whether it was acknowledged.
    completing: Option<(Vec<u8>, bool)>,
    aborting: Option<bool>,
}

async fn mp_worker(
    store: Store,
    model: Rc<RefCell<BTreeMap<(String, UploadId), UploadModel>>>,
    task: u64,
    seed: u64,
) {
    let mut rng = SplitMix(seed ^ (task << 40));
    for round in 0u64.. {
        let key = format!("t{task}-u{round}");
        let id = match store.create_upload(1, &key, ObjectMeta::default()).await {
            Ok(id) => id,
            Err(_) => return,
        };
        model
            .borrow_mut()
            .insert((key.clone(), id), UploadModel::default());
        for _ in 0..1 + rng.next_u64() % 4 {
            let n = 1 + (rng.next_u64() % 3) as u32;
            let data = body(rng.next_u64(), (rng.next_u64() % 150_000) as usize);
            if try_part(&store, &key, id, n, &data).await.is_err() {
                return;
            }
            let mut m = model.borrow_mut();
            m.get_mut(&(key.clone(), id))
                .expect("model")
                .acked
                .insert(n, data);
        }
        let abort = rng.next_u64().is_multiple_of(3);
        let whole: Vec<u8> = model.borrow()[&(key.clone(), id)]
            .acked
            .values()
            .flatten()
            .copied()
            .collect();
        let set = |m: &mut UploadModel, ok: bool| {
            if abort {
                m.aborting = Some(ok)
            } else {
                m.completing = Some((whole.clone(), ok))
            }
        };
        set(
            model
                .borrow_mut()
                .get_mut(&(key.clone(), id))
                .expect("model"),
            false,
        );
        let ok = if abort {
            store.abort_upload(1, &key, id).await.is_ok()
        } else {
            complete_all(&store, &key, id).await.is_ok()
        };
        if !ok {
            return;
        }
        set(
            model
                .borrow_mut()
                .get_mut(&(key.clone(), id))
                .expect("model"),
            true,
        );
    }
}

/// Checks one upload after recovery; true if it was open with acknowledged parts.
async fn check_upload(store: &Store, seed: u64, key: &str, id: UploadId, m: &UploadModel) -> bool {
    let parts = store.with_upload(1, key, id, |u| {
        u.parts
            .values()
            .map(|p| (p.part_number, p.size))
            .collect::<Vec<_>>()
    });
    let obj = read_all(store, key)
        .await
        .map(|r| r.expect("object readable"));
    let ended = m.completing.as_ref().is_some_and(|c| c.1) || m.aborting == Some(true);
    match (parts, obj) {
        (Some(parts), None) => {
            assert!(
                !ended,
                "seed {seed}: {key} acknowledged end but upload still open"
            );
            let want: Vec<_> = m.acked.iter().map(|(n, d)| (*n, d.len() as u64)).collect();
            // Every acknowledged part is there (an unacknowledged re-upload may have landed).
            let nums: Vec<_> = parts.iter().map(|p| p.0).collect();
            let want_nums: Vec<_> = want.iter().map(|p| p.0).collect();
            assert!(
                want_nums.iter().all(|n| nums.contains(n)),
                "seed {seed}: {key} lost a part"
            );
            return !want_nums.is_empty();
        }
        (None, Some(got)) => {
            let (whole, _) = m.completing.as_ref().expect("completed without completing");
            assert!(got == *whole, "seed {seed}: {key} completed object differs");
        }
        (None, None) => assert!(
            m.aborting.is_some(),
            "seed {seed}: {key} vanished without abort"
        ),
        (Some(_), Some(_)) => panic!("seed {seed}: {key} both open and complete"),
    }
    false
}

/// Returns how many uploads were open with acknowledged parts at the cut.
fn mp_power_cut_once(seed: u64) -> usize {
    let disk = SimDisk::new_handle();
    let model: Rc<RefCell<BTreeMap<(String, UploadId), UploadModel>>> = Rc::default();
    let steps = SplitMix(seed).next_u64() % 600;
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        for t in 0..3 {
            monoio::spawn(mp_worker(store.clone(), model.clone(), t, seed));
        }
        for _ in 0..steps {
            super::super::file::SimYield::new().await;
        }
        disk.borrow_mut().power_cut(seed);
        disk.borrow_mut().dead = true;
    });
    let after = disk.borrow().durable_copy();
    run(async {
        let store = Store::open(sim_cfg(&after))
            .await
            .expect("reopen after power cut");
        let model = model.borrow().clone();
        let mut open = 0;
        for ((key, id), m) in &model {
            open += check_upload(&store, seed, key, *id, m).await as usize;
            if store.with_upload(1, key, *id, |_| ()).is_some() {
                complete_all(&store, key, *id)
                    .await
                    .expect("complete after recovery");
            }
        }
        open
    })
}

#[test]
pub(crate) fn power_cut_keeps_acknowledged_parts_and_whole_objects() {
    let seeds: u64 = std::env::var("RINGSTORE_POWER_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let open: usize = (0..seeds).map(mp_power_cut_once).sum();
    eprintln!("{open} uploads open with acknowledged parts at the cut");
    // The interesting case (uploads in progress at the cut) must be exercised.
    assert!(open > 0 || seeds < 10, "no seed cut during an upload");
}

/// A body that arrives in very many tiny pieces is coalesced into full Data
/// records (one extent here), for objects and parts alike; a record that would
/// still exceed the limit (oversized metadata) is refused, nothing panics.
#[test]
fn tiny_pieces_coalesce_and_oversize_records_are_errors() {
    run(async {
        let disk = SimDisk::new_handle();
        let mut cfg = sim_cfg(&disk);
        cfg.segment_bytes = 64 * 1024 * 1024;
        let store = Store::open(cfg).await.expect("open");
        let pieces = MAX_PAYLOAD_BYTES / 16 + 1;
        let mut w = store.writer(1, "many");
        for _ in 0..pieces {
            w.write(Bytes::copy_from_slice(b"x")).await.expect("write");
        }
        let e = w
            .commit(ObjectMeta::default(), PutCondition::None)
            .await
            .expect("commit");
        assert_eq!(e.extents.len(), 1);
        assert_eq!(e.meta.size, pieces as u64);
        let id = store
            .create_upload(1, "mp", ObjectMeta::default())
            .await
            .expect("init");
        let mut w = store.part_writer(1, "mp", id, 1).expect("part writer");
        for _ in 0..pieces {
            w.write(Bytes::copy_from_slice(b"x")).await.expect("write");
        }
        let part = w.commit_part("e".into(), None, 0).await.expect("part");
        assert_eq!(part.size, pieces as u64);
        let huge = ObjectMeta {
            user_meta: vec![("big".into(), "v".repeat(MAX_PAYLOAD_BYTES))],
            ..ObjectMeta::default()
        };
        let mut w = store.writer(1, "huge-meta");
        w.write(Bytes::copy_from_slice(b"data"))
            .await
            .expect("write");
        let r = w.commit(huge, PutCondition::None).await;
        assert!(matches!(r, Err(StoreError::TooLarge)), "{r:?}");
        put(&store, "after", b"ok")
            .await
            .expect("store still writes");
        assert!(store.get(1, "huge-meta").await.expect("index").is_none());
    });
}

/// On the on-disk index, an upload open at a freeze is written with the
/// index (its Init and early parts lie before the replay position): a
/// restart keeps every part, before and after the freeze, completes it
/// with the right bytes, and counts live bytes as the running store did;
/// an upload aborted after the freeze stays ended.
#[test]
fn uploads_open_across_an_index_freeze_survive_restart() {
    on_index(IndexKind::Disk, || {
        let disk = SimDisk::new_handle();
        let (early, late, other) = (body(11, 300_000), body(12, 70_000), body(13, 5000));
        let (id, live_before) = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            let id = store
                .create_upload(1, "open", ObjectMeta::default())
                .await
                .expect("init");
            put_part(&store, "open", id, 1, &early).await;
            let gone = store
                .create_upload(1, "gone", ObjectMeta::default())
                .await
                .expect("init");
            put_part(&store, "gone", gone, 1, &other).await;
            put(&store, "plain", b"plain").await.expect("put");
            assert!(
                super::super::checkpoint::write_checkpoint(&store)
                    .await
                    .expect("freeze"),
                "an open upload no longer holds the index's freeze back"
            );
            put_part(&store, "open", id, 2, &late).await;
            store.abort_upload(1, "gone", gone).await.expect("abort");
            (id, store.stats().live_bytes)
        });
        run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
            assert_eq!(store.stats().live_bytes, live_before);
            assert_eq!(store.upload_count(), 1, "the aborted upload stays ended");
            let parts = store
                .with_upload(1, "open", id, |u| {
                    u.parts.keys().copied().collect::<Vec<_>>()
                })
                .expect("the upload open across the freeze");
            assert_eq!(parts, vec![1, 2]);
            complete_all(&store, "open", id).await.expect("complete");
            assert_reads(&store, "open", &[early, late].concat()).await;
            assert_reads(&store, "plain", b"plain").await;
        });
    });
}
