//! Writes of one key: unconditional overwrites and deletes share group
//! commits and are ordered by sequence number (the newest record wins, live
//! and after recovery); conditional writes stay atomic among them.

use super::*;

/// Writers of one key, concurrently.
const SAME_KEY_WRITERS: u64 = 32;

async fn put_seq(store: &Store, key: &str, data: &[u8]) -> Result<u64, StoreError> {
    Ok(put(store, key, data).await?.commit_seq)
}

/// N overwrites of one key in flight together finish in about one flush (the
/// old per-key lock took one flush each), and the index ends on the
/// highest-sequence version, live and after reopening.
#[test]
fn concurrent_overwrites_of_one_key_share_a_commit() {
    let disk = SimDisk::new_handle();
    let bodies: Vec<Vec<u8>> = (0..SAME_KEY_WRITERS)
        .map(|i| body(i, 1000 + i as usize))
        .collect();
    let winner = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let (flushes, syncs) = (store.stats().flushes, disk.borrow().syncs);
        let tasks: Vec<_> = bodies
            .iter()
            .cloned()
            .map(|b| {
                let s = store.clone();
                monoio::spawn(async move { put_seq(&s, "hot", &b).await })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.expect("put"));
        }
        let flushes = store.stats().flushes - flushes;
        let syncs = disk.borrow().syncs - syncs;
        assert!(
            flushes <= 2 && syncs <= 2,
            "{SAME_KEY_WRITERS} overwrites of one key took {flushes} flushes, {syncs} fdatasyncs"
        );
        let (i, &newest) = seqs
            .iter()
            .enumerate()
            .max_by_key(|(_, s)| **s)
            .expect("seqs");
        let e = store.get(1, "hot").await.expect("index").expect("hot");
        assert_eq!(e.commit_seq, newest, "index ends on the newest commit");
        assert_reads(&store, "hot", &bodies[i]).await;
        // Only the winner's data is live; the overwritten versions are garbage.
        assert_eq!(
            store.stats().live_bytes,
            record_bytes(bodies[i].len()) as u64
        );
        (i, newest)
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert_eq!(
            store
                .get(1, "hot")
                .await
                .expect("index")
                .expect("hot")
                .commit_seq,
            winner.1
        );
        assert_reads(&store, "hot", &bodies[winner.0]).await;
    });
}

/// Per key: the sequence number and outcome (Some(body), or None: deleted)
/// of the newest acknowledged write.
type Newest = BTreeMap<String, (u64, Option<Vec<u8>>)>;

/// One round of mixed overwrites and deletes of a few keys from many tasks,
/// interleaved with the simulated I/O. Returns, per key, the outcome of the
/// highest-sequence write acknowledged: Some(body) or None (deleted).
async fn mixed_round(store: &Store, seed: u64) -> Newest {
    let newest: Rc<RefCell<Newest>> = Rc::default();
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let (store, newest) = (store.clone(), newest.clone());
            monoio::spawn(async move {
                let mut rng = SplitMix(seed ^ (t << 40));
                for _ in 0..12 {
                    let key = format!("k{}", rng.next_u64() % 2);
                    let value = (!rng.next_u64().is_multiple_of(3))
                        .then(|| body(rng.next_u64(), (rng.next_u64() % 5000) as usize));
                    let seq = match &value {
                        Some(v) => Some(put_seq(&store, &key, v).await.expect("put")),
                        None => store.delete_seq(1, &key).await.expect("delete"),
                    };
                    // A delete of an absent key writes nothing: no order to keep.
                    let Some(seq) = seq else { continue };
                    let mut n = newest.borrow_mut();
                    let slot = n.entry(key).or_insert((0, None));
                    if seq > slot.0 {
                        *slot = (seq, value);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
    Rc::try_unwrap(newest).expect("tasks done").into_inner()
}

async fn assert_state(store: &Store, want: &Newest, when: &str) {
    for (key, (seq, value)) in want {
        match value {
            Some(v) => {
                let e = store
                    .get(1, key)
                    .await
                    .expect("index")
                    .unwrap_or_else(|| panic!("{when}: {key} missing"));
                assert_eq!(e.commit_seq, *seq, "{when}: {key} not on its newest commit");
                assert_reads(store, key, v).await;
            }
            None => assert!(
                store.get(1, key).await.expect("index").is_none(),
                "{when}: {key} deleted at seq {seq} but present"
            ),
        }
    }
}

/// Overwrites and deletes of the same keys, concurrently: the live index and
/// the index recovered from the log both show each key's newest record.
#[test]
pub(crate) fn same_key_puts_and_deletes_end_on_the_newest_record() {
    for seed in 0..20 {
        let disk = SimDisk::new_handle();
        disk.borrow_mut().interleave = true;
        let want = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            let want = mixed_round(&store, seed).await;
            assert_state(&store, &want, "live").await;
            let live: u64 = store.live_bytes_per_segment().values().sum();
            let expect: u64 = want
                .values()
                .filter_map(|(_, v)| v.as_ref())
                .map(|v| {
                    if v.is_empty() {
                        0
                    } else {
                        record_bytes(v.len()) as u64
                    }
                })
                .sum();
            assert_eq!(
                live, expect,
                "seed {seed}: live bytes count only the winners"
            );
            want
        });
        run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
            assert_state(&store, &want, "recovered").await;
        });
    }
}

/// A conditional write among a stream of unconditional overwrites of its key
/// keeps its guarantee: an If-Match that succeeded was applied directly over
/// the version it matched (no other write of the key is sequenced between
/// them), and If-None-Match: * fails while the key exists.
#[test]
fn conditional_write_stays_atomic_among_overwrites() {
    let disk = SimDisk::new_handle();
    disk.borrow_mut().interleave = true;
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let writers: Vec<_> = (0..8u64)
            .map(|i| {
                let s = store.clone();
                monoio::spawn(async move {
                    let mut seqs = Vec::new();
                    for j in 0..10 {
                        let mut w = s.writer(1, "c");
                        w.write(Bytes::copy_from_slice(&body(i * 100 + j, 100)))
                            .await
                            .expect("write");
                        let meta = ObjectMeta {
                            etag: format!("w{i}-{j}"),
                            ..ObjectMeta::default()
                        };
                        let e = w.commit(meta, PutCondition::None).await.expect("put");
                        seqs.push(e.commit_seq);
                    }
                    seqs
                })
            })
            .collect();
        let cond = {
            let s = store.clone();
            monoio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in 0..20 {
                    // If-Match on whatever the key holds now.
                    let Some(seen) = s.get(1, "c").await.expect("index") else {
                        file::SimYield::new().await;
                        continue;
                    };
                    let w = s.writer(1, "c");
                    let meta = ObjectMeta {
                        etag: format!("cond-{n}"),
                        ..ObjectMeta::default()
                    };
                    let r = w
                        .commit(meta, PutCondition::IfMatch(seen.meta.etag.clone()))
                        .await;
                    outcomes.push((seen.commit_seq, r));
                }
                outcomes
            })
        };
        let mut unconditional = Vec::new();
        for w in writers {
            unconditional.extend(w.await);
        }
        let outcomes = cond.await;
        let mut wins = 0;
        for (matched_seq, r) in outcomes {
            match r {
                Ok(e) => {
                    wins += 1;
                    let between = unconditional
                        .iter()
                        .filter(|&&s| s > matched_seq && s < e.commit_seq)
                        .count();
                    assert_eq!(
                        between, 0,
                        "If-Match over seq {matched_seq} committed at {} with {between} overwrites between",
                        e.commit_seq
                    );
                }
                Err(StoreError::PreconditionFailed) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert!(wins > 0, "no If-Match ever won");
        let w = store.writer(1, "c");
        assert!(matches!(
            w.commit(ObjectMeta::default(), PutCondition::IfNoneMatchStar)
                .await,
            Err(StoreError::PreconditionFailed)
        ));
    });
}

/// Per key: every acknowledged write with its sequence number, and the
/// writes in flight at the cut (several tasks share each key).
#[derive(Default)]
struct SharedKeyModel {
    acked: Option<(u64, Option<Vec<u8>>)>,
    inflight: Vec<Option<Vec<u8>>>,
}

async fn shared_worker(
    store: Store,
    model: Rc<RefCell<BTreeMap<String, SharedKeyModel>>>,
    task: u64,
    seed: u64,
    done: Rc<Cell<u64>>,
) {
    let mut rng = SplitMix(seed ^ (task << 32));
    loop {
        let key = format!("k{}", rng.next_u64() % 2);
        let value = (!rng.next_u64().is_multiple_of(4))
            .then(|| body(rng.next_u64(), (rng.next_u64() % 20_000) as usize));
        model
            .borrow_mut()
            .entry(key.clone())
            .or_default()
            .inflight
            .push(value.clone());
        let seq = match &value {
            Some(v) => put_seq(&store, &key, v).await.map(Some),
            None => store.delete_seq(1, &key).await,
        };
        let Ok(seq) = seq else { return };
        let mut m = model.borrow_mut();
        let k = m.get_mut(&key).expect("model key");
        if let Some(i) = k.inflight.iter().position(|v| *v == value) {
            k.inflight.swap_remove(i);
        }
        if let Some(seq) = seq {
            if k.acked.as_ref().is_none_or(|(s, _)| seq > *s) {
                k.acked = Some((seq, value));
            }
        }
        done.set(done.get() + 1);
    }
}

/// Power cut under concurrent writes of shared keys: after recovery each key
/// holds its newest acknowledged version, or a write that was in flight.
#[test]
pub(crate) fn power_cut_keeps_the_newest_acknowledged_overwrite() {
    for seed in 0..300u64 {
        let disk = SimDisk::new_handle();
        disk.borrow_mut().interleave = true;
        let model: Rc<RefCell<BTreeMap<String, SharedKeyModel>>> = Rc::default();
        let steps = SplitMix(seed).next_u64() % CUT_STEPS_SPAN;
        run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            let done = Rc::new(Cell::new(0));
            for t in 0..6 {
                monoio::spawn(shared_worker(
                    store.clone(),
                    model.clone(),
                    t,
                    seed,
                    done.clone(),
                ));
            }
            let mut waited = 0;
            while done.get() == 0 {
                assert!(waited < MAX_STEPS_TO_FIRST_ACK, "seed {seed}: no ack");
                file::SimYield::new().await;
                waited += 1;
            }
            for _ in 0..steps {
                file::SimYield::new().await;
            }
            disk.borrow_mut().power_cut(seed);
            disk.borrow_mut().dead = true;
        });
        let after = disk.borrow().durable_copy();
        let model = model.borrow();
        run(async {
            let store = Store::open(sim_cfg(&after)).await.expect("reopen");
            for (key, m) in model.iter() {
                let got = match read_all(&store, key).await {
                    None => None,
                    Some(Ok(v)) => Some(v),
                    Some(Err(e)) => panic!("seed {seed}: {key} unreadable: {e}"),
                };
                let acked = m.acked.as_ref().and_then(|(_, v)| v.clone());
                let ok = got == acked || m.inflight.contains(&got);
                assert!(
                    ok,
                    "seed {seed}: {key} has {:?} bytes; newest acked {:?}",
                    got.map(|v| v.len()),
                    m.acked.as_ref().map(|(s, v)| (s, v.as_ref().map(Vec::len)))
                );
            }
        });
    }
}

/// A CommitRec for `key` over one freshly appended Data record.
async fn data_commit(store: &Store, key: &str, payload: &[u8]) -> CommitRec {
    let loc = store
        .append(AppendClass::Write, RecordKind::Data, payload)
        .await
        .expect("data");
    CommitRec {
        bucket: 1,
        key: key.to_string(),
        version_id: NULL_VERSION,
        meta: ObjectMeta {
            size: payload.len() as u64,
            etag: format!("etag-{}", loc.seq),
            ..ObjectMeta::default()
        },
        extents: vec![Extent {
            segment: loc.segment,
            offset: loc.offset,
            payload_len: payload.len() as u32,
        }],
    }
}

/// Records of one key applied out of sequence order (the waiters of one
/// group commit may run in any order): an older commit never replaces a
/// newer commit or a newer delete, and its data is not counted live.
#[test]
pub(crate) fn older_record_applied_late_changes_nothing() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let (older, newer) = (body(1, 3000), body(2, 5000));
        let g_old = store.lock_key(1, "k", KeyMode::Shared).await;
        let g_new = store.lock_key(1, "k", KeyMode::Shared).await;
        let rec_old = data_commit(&store, "k", &older).await;
        let old_seq = store
            .append(AppendClass::Write, RecordKind::Commit, &rec_old.encode())
            .await
            .expect("c1")
            .seq;
        let rec_new = data_commit(&store, "k", &newer).await;
        let new_seq = store
            .append(AppendClass::Write, RecordKind::Commit, &rec_new.encode())
            .await
            .expect("c2")
            .seq;
        store
            .inner
            .log
            .commit_barrier(new_seq)
            .await
            .expect("durable");
        store
            .install_commit(&g_new, rec_new, new_seq)
            .await
            .expect("install");
        store
            .install_commit(&g_old, rec_old, old_seq)
            .await
            .expect("install");
        assert_eq!(
            store
                .get(1, "k")
                .await
                .expect("index")
                .expect("k")
                .commit_seq,
            new_seq
        );
        assert_reads(&store, "k", &newer).await;
        assert_eq!(store.stats().live_bytes, record_bytes(newer.len()) as u64);
        drop((g_old, g_new));

        // A delete sequenced after a commit but applied before it.
        let g_put = store.lock_key(1, "k", KeyMode::Shared).await;
        let g_del = store.lock_key(1, "k", KeyMode::Shared).await;
        let rec = data_commit(&store, "k", &older).await;
        let put_seq = store
            .append(AppendClass::Write, RecordKind::Commit, &rec.encode())
            .await
            .expect("c3")
            .seq;
        let del = DeleteRec {
            bucket: 1,
            key: "k".into(),
            version_id: NULL_VERSION,
            delete_marker: false,
        };
        let del_seq = store
            .append(AppendClass::Delete, RecordKind::Delete, &del.encode())
            .await
            .expect("d")
            .seq;
        store
            .inner
            .log
            .commit_barrier(del_seq)
            .await
            .expect("durable");
        store
            .install_delete(&g_del, 1, "k", NULL_VERSION, del_seq)
            .await
            .expect("install");
        store
            .install_commit(&g_put, rec, put_seq)
            .await
            .expect("install");
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "an older commit resurrected a deleted key"
        );
        assert_eq!(store.stats().live_bytes, 0);
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "recovery agrees: the delete is newest"
        );
    });
}
