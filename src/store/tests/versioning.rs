//! Object versioning in the store: versions, delete markers, version
//! deletes and the Suspended state, checked against a model of every key's
//! versions live, after compaction (which must keep noncurrent versions
//! noncurrent), after a restart, and after a power cut mid-compaction.

use super::*;
use crate::store::compaction::compact_all;

/// A key's versions, newest first: (version id, data; None = delete marker).
type Versions = Vec<(u128, Option<Vec<u8>>)>;
type Model = BTreeMap<String, Versions>;

const KEYS: u64 = 12;
const OPS: u64 = 500;
const COMPACT_EVERY_OPS: u64 = 40;

fn set(store: &Store, v: Versioning) {
    store.set_versioning([(1, v)].into_iter().collect());
}

/// Applies S3's rule for a write of `version_id` to the model.
fn model_put(model: &mut Model, key: &str, version_id: u128, data: Option<Vec<u8>>) {
    let versions = model.entry(key.to_string()).or_default();
    versions.retain(|(v, _)| *v != version_id);
    versions.insert(0, (version_id, data));
}

/// Random puts, deletes (markers once versioning is on), version deletes
/// and versioning changes; compacts every `COMPACT_EVERY_OPS` if asked.
async fn churn(store: &Store, seed: u64, compact: bool) -> Model {
    let mut rng = SplitMix(seed);
    let mut model = Model::new();
    let mut mode = Versioning::Unversioned;
    for op in 0..OPS {
        let key = format!("v{}", rng.next_u64() % KEYS);
        match rng.next_u64() % 20 {
            0 => {
                mode = if mode == Versioning::Enabled {
                    Versioning::Suspended
                } else {
                    Versioning::Enabled
                };
                set(store, mode);
            }
            1..=4 => {
                let out = store.delete_object(1, &key).await.expect("delete");
                match out.version_id {
                    None => {
                        assert_eq!(mode, Versioning::Unversioned);
                        model.remove(&key);
                    }
                    Some(v) => {
                        assert!(out.delete_marker);
                        model_put(&mut model, &key, v, None);
                    }
                }
            }
            5..=7 => {
                // A version delete of a random existing version (or of a missing one).
                let versions = model.get(&key).cloned().unwrap_or_default();
                let pick = (rng.next_u64() as usize) % (versions.len() + 1);
                let vid = versions.get(pick).map_or(0x77, |(v, _)| *v);
                let out = store.delete_version(1, &key, vid).await.expect("delete");
                assert_eq!(out.existed, pick < versions.len(), "{key} {vid:x}");
                if let Some(vs) = model.get_mut(&key) {
                    vs.retain(|(v, _)| *v != vid);
                    if vs.is_empty() {
                        model.remove(&key);
                    }
                }
            }
            _ => {
                let data = body(rng.next_u64(), (rng.next_u64() % 150_000) as usize);
                let e = put(store, &key, &data).await.expect("put");
                assert_eq!(e.version_id == NULL_VERSION, mode != Versioning::Enabled);
                model_put(&mut model, &key, e.version_id, Some(data));
            }
        }
        if compact && op % COMPACT_EVERY_OPS == 0 {
            compact_all(store, false).await.expect("compact");
        }
    }
    model
}

/// Every version reads back, in the model's order, with markers where the
/// model has them, and nothing else is there.
async fn check(store: &Store, model: &Model, context: &str) {
    if let Some(index) = store.inner.index.in_memory() {
        index.assert_consistent();
    }
    for (key, want) in model {
        let got = store.versions(1, key).await.expect("index");
        let ids: Vec<u128> = got.iter().map(|e| e.version_id).collect();
        let want_ids: Vec<u128> = want.iter().map(|(v, _)| *v).collect();
        assert_eq!(ids, want_ids, "{context}: versions of {key}");
        for (e, (_, data)) in got.iter().zip(want) {
            assert_eq!(e.delete_marker, data.is_none(), "{context}: {key}");
            if let Some(data) = data {
                let mut r = store.reader(e.clone(), 0, e.meta.size);
                let mut out = Vec::new();
                while let Some(piece) = r.next().await {
                    out.extend_from_slice(&piece.expect("read"));
                }
                assert!(out == *data, "{context}: {key} version {:x}", e.version_id);
            }
        }
        let current = want.first().and_then(|(_, d)| d.as_ref());
        assert_eq!(
            store.get(1, key).await.expect("index").is_some(),
            current.is_some(),
            "{context}"
        );
    }
    let total: usize = model.values().map(Vec::len).sum();
    let listed = store
        .list_versions(1, "", None, None, None, usize::MAX)
        .await
        .expect("index");
    assert_eq!(listed.len(), total, "{context}: listed versions");
    let objects = model
        .values()
        .filter(|v| v.first().is_some_and(|(_, d)| d.is_some()))
        .count();
    assert_eq!(store.stats().objects, objects as u64, "{context}: objects");
}

#[test]
pub(crate) fn versions_survive_compaction_and_restart() {
    let disk = SimDisk::new_handle();
    let model = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        let model = churn(&store, 11, true).await;
        check(&store, &model, "live").await;
        compact_all(&store, false).await.expect("compact");
        check(&store, &model, "compacted").await;
        assert!(
            model.values().any(|v| v.len() > 1),
            "the churn made noncurrent versions"
        );
        model
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        check(&store, &model, "reopened").await;
    });
}

/// The trap compaction must avoid: relocating a noncurrent version appends
/// a newer record of it, which must not make it current again on replay.
#[test]
pub(crate) fn relocated_noncurrent_version_stays_noncurrent() {
    let disk = SimDisk::new_handle();
    let (old, new) = (body(1, 100_000), body(2, 100_000));
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        set(&store, Versioning::Enabled);
        let v1 = put(&store, "k", &old).await.expect("v1").version_id;
        // Garbage after v1 so its segment is worth compacting, then v2.
        for i in 0..40 {
            put(&store, "junk", &body(10 + i, 100_000))
                .await
                .expect("junk");
            store
                .delete_version(
                    1,
                    "junk",
                    store
                        .current(1, "junk")
                        .await
                        .expect("index")
                        .expect("j")
                        .version_id,
                )
                .await
                .expect("drop junk");
        }
        let v2 = put(&store, "k", &new).await.expect("v2").version_id;
        for i in 0..60 {
            put(&store, "tail", &body(100 + i, 100_000))
                .await
                .expect("fill");
        }
        let seq_before = store
            .get_version(1, "k", v1)
            .await
            .expect("index")
            .expect("v1")
            .commit_seq;
        assert!(compact_all(&store, false).await.expect("compact") > 0);
        let moved = store
            .get_version(1, "k", v1)
            .await
            .expect("index")
            .expect("v1 kept");
        assert!(moved.commit_seq > seq_before, "v1 was relocated");
        assert_eq!(
            store
                .get(1, "k")
                .await
                .expect("index")
                .expect("current")
                .version_id,
            v2
        );
        assert_reads(&store, "k", &new).await;
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        let cur = store.get(1, "k").await.expect("index").expect("current");
        assert_eq!(cur.meta.size, new.len() as u64);
        assert_reads(&store, "k", &new).await;
        assert_eq!(store.versions(1, "k").await.expect("index").len(), 2);
    });
}

/// Suspended: a write replaces only the `null` version, a delete puts a
/// `null` marker in its place; versions from when it was Enabled stay.
#[test]
fn suspended_writes_replace_only_the_null_version() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        put(&store, "k", b"null one").await.expect("null");
        set(&store, Versioning::Enabled);
        let v = put(&store, "k", b"versioned").await.expect("v").version_id;
        assert_ne!(v, NULL_VERSION);
        set(&store, Versioning::Suspended);
        let n = put(&store, "k", b"null two").await.expect("null 2");
        assert_eq!(n.version_id, NULL_VERSION);
        let ids: Vec<u128> = store
            .versions(1, "k")
            .await
            .expect("index")
            .iter()
            .map(|e| e.version_id)
            .collect();
        assert_eq!(
            ids,
            vec![NULL_VERSION, v],
            "the first null version was replaced"
        );
        let out = store.delete_object(1, "k").await.expect("delete");
        assert_eq!(
            (out.delete_marker, out.version_id),
            (true, Some(NULL_VERSION))
        );
        assert!(store.get(1, "k").await.expect("index").is_none());
        assert!(
            store
                .current(1, "k")
                .await
                .expect("index")
                .expect("marker")
                .delete_marker
        );
        assert_eq!(
            store.versions(1, "k").await.expect("index").len(),
            2,
            "the marker replaced null two"
        );
        // Removing the marker makes the Enabled-era version current again.
        store
            .delete_version(1, "k", NULL_VERSION)
            .await
            .expect("unmark");
        assert_reads(&store, "k", b"versioned").await;
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert_reads(&store, "k", b"versioned").await;
        assert_eq!(store.versions(1, "k").await.expect("index").len(), 1);
    });
}

/// A metadata update of a noncurrent version keeps it noncurrent, live
/// and after a restart.
#[test]
fn tagging_a_noncurrent_version_keeps_it_noncurrent() {
    let disk = SimDisk::new_handle();
    let v1 = run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        set(&store, Versioning::Enabled);
        let v1 = put(&store, "k", b"one").await.expect("v1").version_id;
        put(&store, "k", b"two").await.expect("v2");
        let tagged = store
            .update_meta(1, "k", Some(v1), |m: &mut ObjectMeta| {
                m.tags = vec![("t".into(), "1".into())]
            })
            .await
            .expect("tag v1");
        assert_eq!(tagged.version_id, v1);
        assert_reads(&store, "k", b"two").await;
        let marker = store.delete_object(1, "k").await.expect("marker");
        let err = store
            .update_meta(1, "k", marker.version_id, |_| {})
            .await
            .expect_err("a marker has no tags");
        assert!(matches!(err, StoreError::DeleteMarker { .. }));
        v1
    });
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
        assert!(
            store.get(1, "k").await.expect("index").is_none(),
            "the marker is still current"
        );
        let e = store
            .get_version(1, "k", v1)
            .await
            .expect("index")
            .expect("v1");
        assert_eq!(e.meta.tags.len(), 1);
        assert_eq!(store.versions(1, "k").await.expect("index").len(), 3);
    });
}

/// ListObjectVersions paging: resuming after any (key, version) gives the
/// rest of the listing exactly once.
#[test]
pub(crate) fn version_listing_pages_resume_exactly() {
    let disk = SimDisk::new_handle();
    run(async {
        let store = Store::open(sim_cfg(&disk)).await.expect("open");
        set(&store, Versioning::Enabled);
        for i in 0..5u64 {
            for j in 0..=i {
                put(&store, &format!("d/{i}"), &body(i * 10 + j, 10))
                    .await
                    .expect("put");
            }
            if i % 2 == 0 {
                store
                    .delete_object(1, &format!("d/{i}"))
                    .await
                    .expect("marker");
            }
        }
        put(&store, "top", b"x").await.expect("top");
        let all = store
            .list_versions(1, "", None, None, None, usize::MAX)
            .await
            .expect("index");
        let row = |it: &VersionItem| match it {
            VersionItem::Version {
                key, version_id, ..
            } => (key.clone(), *version_id),
            VersionItem::CommonPrefix(p) => (p.clone(), 0),
        };
        for page in 1..5 {
            let mut got = Vec::new();
            let mut marker: Option<(String, u128)> = None;
            loop {
                let items = store
                    .list_versions(
                        1,
                        "",
                        None,
                        marker.as_ref().map(|m| m.0.as_str()),
                        marker.as_ref().map(|m| m.1),
                        page,
                    )
                    .await
                    .expect("index");
                if items.is_empty() {
                    break;
                }
                marker = items.last().map(row);
                got.extend(items);
            }
            assert_eq!(got, all, "page size {page}");
        }
        // With a delimiter, the versions under d/ roll up into one row.
        let rolled = store
            .list_versions(1, "", Some("/"), None, None, 10)
            .await
            .expect("index");
        assert_eq!(rolled.len(), 2);
        assert_eq!(rolled[0], VersionItem::CommonPrefix("d/".into()));
        // Keys whose current version is a marker are not in object listings.
        let listed = store.list(1, "d/", None, None, 100).await.expect("index");
        assert_eq!(listed.len(), 2, "d/1 and d/3; d/0, d/2, d/4 are deleted");
    });
}

/// Versioned churn, then a compaction cut by a power loss at a seeded
/// step: every version reads back after recovery, and compaction resumes.
#[test]
pub(crate) fn power_cut_during_versioned_compaction_loses_nothing() {
    for seed in 0..8u64 {
        let disk = SimDisk::new_handle();
        let model = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            churn(&store, 1000 + seed, false).await
        });
        disk.borrow_mut().interleave = true;
        let steps = SplitMix(seed).next_u64() % 120;
        run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
            let s = store.clone();
            monoio::spawn(async move {
                let _ = compact_all(&s, false).await;
            });
            for _ in 0..steps {
                file::SimYield::new().await;
            }
            disk.borrow_mut().power_cut(seed);
            disk.borrow_mut().dead = true;
        });
        let after = disk.borrow().durable_copy();
        run(async {
            let store = Store::open(sim_cfg(&after)).await.expect("recover");
            check(&store, &model, &format!("seed {seed} recovered")).await;
            compact_all(&store, false)
                .await
                .expect("compaction resumes");
            check(&store, &model, &format!("seed {seed} compacted")).await;
        });
        run(async {
            let store = Store::open(sim_cfg(&after)).await.expect("reopen");
            check(&store, &model, &format!("seed {seed} reopened")).await;
        });
    }
}

/// Checkpoints hold every version with its order and marker flag: a
/// restart from one (plus the log after it) gives the same versions.
#[test]
pub(crate) fn checkpoint_keeps_versions_and_markers() {
    use crate::store::checkpoint::write_checkpoint;
    let dir = real_disk_tempdir();
    let cfg = || {
        let mut cfg = StoreConfig::new(dir.path().join("shard-000"), 0);
        cfg.segment_bytes = TEST_SEGMENT_BYTES;
        cfg.write_buffer_bytes = MIN_WRITE_BUFFER_BYTES;
        cfg
    };
    let model = run(async {
        let store = Store::open(cfg()).await.expect("open");
        let mut model = churn(&store, 77, true).await;
        assert!(write_checkpoint(&store).await.expect("checkpoint"));
        // After the checkpoint: more versions, a marker, a version delete.
        set(&store, Versioning::Enabled);
        let e = put(&store, "after", b"late").await.expect("put");
        model_put(&mut model, "after", e.version_id, Some(b"late".to_vec()));
        let m = store.delete_object(1, "v1").await.expect("marker");
        model_put(&mut model, "v1", m.version_id.expect("id"), None);
        check(&store, &model, "before restart").await;
        model
    });
    assert!(has_durable_index(&dir.path().join("shard-000")));
    run(async {
        let store = Store::open(cfg()).await.expect("reopen");
        check(&store, &model, "from the checkpoint").await;
    });
}

/// Concurrent writes of one key — versioned and `null` PUTs, markers,
/// with the versioning state flipped while they are in flight — share
/// group commits (the assertion on flushes checks they do). Whatever the
/// live index shows must be exactly what replaying the log rebuilds.
/// (The simulated disk wakes a commit's waiters in sequence order, so this
/// does not reorder applications; `samekey::older_record_applied_late_*`
/// applies records out of order by hand.)
#[test]
pub(crate) fn concurrent_writes_leave_the_index_recovery_rebuilds() {
    for seed in 0..6u64 {
        let disk = SimDisk::new_handle();
        disk.borrow_mut().interleave = true;
        let live = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("open");
            set(&store, Versioning::Enabled);
            let mut rng = SplitMix(seed);
            let mut tasks = Vec::new();
            for i in 0..48u64 {
                if i == 16 {
                    set(&store, Versioning::Suspended);
                } else if i == 32 {
                    set(&store, Versioning::Enabled);
                }
                let s = store.clone();
                let pick = rng.next_u64();
                tasks.push(monoio::spawn(async move {
                    if pick.is_multiple_of(5) {
                        s.delete_object(1, "k").await.map(|_| ())
                    } else {
                        put(&s, "k", &body(pick, (pick % 9000) as usize))
                            .await
                            .map(|_| ())
                    }
                }));
                if pick.is_multiple_of(3) {
                    file::SimYield::new().await;
                }
            }
            for t in tasks {
                t.await.expect("write");
            }
            let flushes = store.stats().flushes;
            assert!(
                flushes < 40,
                "seed {seed}: {flushes} flushes for 48 writes: little sharing"
            );
            store
                .versions(1, "k")
                .await
                .expect("index")
                .iter()
                .map(|e| (e.version_id, e.order, e.delete_marker, e.meta.size))
                .collect::<Vec<_>>()
        });
        assert!(live.len() > 2, "seed {seed}: {live:?}");
        let replayed = run(async {
            let store = Store::open(sim_cfg(&disk)).await.expect("reopen");
            store
                .versions(1, "k")
                .await
                .expect("index")
                .iter()
                .map(|e| (e.version_id, e.order, e.delete_marker, e.meta.size))
                .collect::<Vec<_>>()
        });
        assert_eq!(live, replayed, "seed {seed}");
    }
}
