//! The on-disk index against the in-memory one as its model: random
//! version puts (new ids, `null`, relocations, stale and out-of-order
//! records), version deletes, bucket drops, freezes, flushes, merges and
//! reopenings; after every step both answer every lookup and every listing
//! page alike, and their counts agree.

use std::collections::HashSet;
use std::rc::Rc;

use proptest::prelude::*;

use super::*;
use crate::store::file::{Backing, SimDisk, SimDiskHandle};
use crate::store::index::Index;
use crate::store::record::Extent;
use crate::store::tests::run;
use crate::store::types::{ListItem, ObjectMeta, VersionItem, NULL_VERSION};

const DIR: &str = "/sim/shard-000/index";

const KEYS: &[&str] = &[
    "a", "a/b", "a/b/c", "a/c", "a\0", "a\0/x", "b", "b/x", "b/y/z", "é/1", "é/2", "z",
];

fn cfg(disk: &SimDiskHandle) -> KvConfig {
    let mut cfg = KvConfig::new(DIR);
    cfg.backing = Backing::Sim(disk.clone());
    // Small budgets: runs, several blocks per run, merges and cache misses.
    cfg.memtable_bytes = 2 * 1024;
    cfg.cache_bytes = 16 * 1024;
    cfg
}

/// Keys: the fixed ones, whose prefixes and NULs test the encoding, and
/// numbered ones under a long shared prefix that fill blocks.
fn key_name(i: usize) -> String {
    match KEYS.get(i) {
        Some(k) => k.to_string(),
        None => format!("photos/2026/12/long-shared-prefix/{:04}", i - KEYS.len()),
    }
}
const KEY_COUNT: usize = KEYS.len() + 40;

#[derive(Debug, Clone)]
enum Op {
    /// A new version (an object or a delete marker) with a fresh order.
    Put {
        bucket: u64,
        key: usize,
        null: bool,
        marker: bool,
        size: u64,
    },
    /// A record of a new version older than the key's current one (recovery
    /// applies records whose order is below what a key shows).
    PutOlder {
        bucket: u64,
        key: usize,
        back: u64,
    },
    /// An existing version rewritten with its order kept (compaction moving it).
    Relocate {
        bucket: u64,
        key: usize,
        pick: usize,
    },
    /// A record of an existing version with a lower order: stale.
    Stale {
        bucket: u64,
        key: usize,
        pick: usize,
    },
    /// A version delete of an existing version (or, `stale`, one ordered
    /// before it, which removes nothing), or of an id not there.
    Remove {
        bucket: u64,
        key: usize,
        pick: usize,
        stale: bool,
        absent: bool,
    },
    Drop {
        bucket: u64,
    },
    Flush,
    Merge,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let b = 1u64..3;
    // Most ops on a few keys, so keys gather long histories.
    let k = prop_oneof![3 => 0..4usize, 1 => 0..KEY_COUNT];
    // Often the current version (versions are newest first).
    let pick = prop_oneof![Just(0usize), any::<usize>()];
    prop_oneof![
        16 => (b.clone(), k.clone(), prop::bool::weighted(0.25), prop::bool::weighted(0.2), 0u64..5000)
            .prop_map(|(bucket, key, null, marker, size)| Op::Put { bucket, key, null, marker, size }),
        2 => (b.clone(), k.clone(), 1u64..20).prop_map(|(bucket, key, back)| Op::PutOlder { bucket, key, back }),
        4 => (b.clone(), k.clone(), pick.clone()).prop_map(|(bucket, key, pick)| Op::Relocate { bucket, key, pick }),
        2 => (b.clone(), k.clone(), pick.clone()).prop_map(|(bucket, key, pick)| Op::Stale { bucket, key, pick }),
        6 => (b.clone(), k, pick, prop::bool::weighted(0.2), prop::bool::weighted(0.1))
            .prop_map(|(bucket, key, pick, stale, absent)| Op::Remove { bucket, key, pick, stale, absent }),
        1 => b.prop_map(|bucket| Op::Drop { bucket }),
        2 => Just(Op::Flush),
        1 => Just(Op::Merge),
        1 => Just(Op::Reopen),
    ]
}

struct Harness {
    disk: SimDiskHandle,
    model: Index,
    index: Option<DiskIndex>,
    /// Record sequence numbers: each op's record is `2 * step + 1`; new
    /// versions take even orders, out-of-order ones odd orders below.
    step: u64,
    orders: HashSet<u64>,
    next_id: u128,
}

fn entry(
    bucket: u64,
    key: &str,
    version_id: u128,
    order: u64,
    seq: u64,
    marker: bool,
    size: u64,
) -> ObjectEntry {
    ObjectEntry {
        bucket,
        key: key.to_string(),
        version_id,
        meta: ObjectMeta {
            size: if marker { 0 } else { size },
            etag: format!("{:032x}", seq),
            mtime_millis: seq as i64,
            content_type: size.is_multiple_of(3).then(|| "text/plain".to_string()),
            ..ObjectMeta::default()
        },
        extents: if marker {
            Vec::new()
        } else {
            vec![Extent {
                segment: (seq % 7) as u32,
                offset: seq * 4096,
                payload_len: size as u32,
            }]
        },
        commit_seq: seq,
        order,
        delete_marker: marker,
    }
}

impl Harness {
    fn index(&self) -> &DiskIndex {
        self.index.as_ref().expect("open")
    }

    async fn insert_both(&mut self, e: ObjectEntry, seq: u64) {
        let e = Rc::new(e);
        let want = match self.model.insert(e.clone()) {
            Ok(replaced) => Applied::Inserted(replaced),
            Err(_) => Applied::Stale,
        };
        let got = self.index().insert(e.clone(), seq).await.expect("insert");
        assert_eq!(got, want, "insert of {e:?}");
    }

    async fn apply(&mut self, op: &Op) {
        self.step += 1;
        let seq = 2 * self.step + 1;
        match *op {
            Op::Put {
                bucket,
                key,
                null,
                marker,
                size,
            } => {
                let id = if null {
                    NULL_VERSION
                } else {
                    self.next_id += 1;
                    self.next_id
                };
                let order = 2 * self.step;
                self.orders.insert(order);
                self.insert_both(
                    entry(bucket, &key_name(key), id, order, seq, marker, size),
                    seq,
                )
                .await;
            }
            Op::PutOlder { bucket, key, back } => {
                let order = (2 * self.step.saturating_sub(back)) | 1;
                if !self.orders.insert(order) {
                    return;
                }
                self.next_id += 1;
                let e = entry(
                    bucket,
                    &key_name(key),
                    self.next_id,
                    order,
                    seq,
                    false,
                    back * 10,
                );
                self.insert_both(e, seq).await;
            }
            Op::Relocate { bucket, key, pick } | Op::Stale { bucket, key, pick } => {
                let versions = self.model.versions(bucket, &key_name(key));
                if versions.is_empty() {
                    return;
                }
                let v = &versions[pick % versions.len()];
                let order = match op {
                    Op::Stale { .. } if v.order > 0 => v.order - 1,
                    Op::Stale { .. } => return,
                    _ => v.order,
                };
                let moved = ObjectEntry {
                    commit_seq: seq,
                    order,
                    ..(**v).clone()
                };
                self.insert_both(moved, seq).await;
            }
            Op::Remove {
                bucket,
                key,
                pick,
                stale,
                absent,
            } => {
                let k = key_name(key);
                let versions = self.model.versions(bucket, &k);
                let (id, order) = match versions.get(pick % versions.len().max(1)) {
                    _ if absent => (u128::MAX - pick as u128, seq),
                    Some(v) if stale && v.order > 0 => (v.version_id, v.order - 1),
                    Some(v) => (v.version_id, seq),
                    None => (NULL_VERSION, seq),
                };
                let want = self.model.remove_version(bucket, &k, id, order);
                let got = self
                    .index()
                    .remove_version(bucket, &k, id, order, seq)
                    .await
                    .expect("remove");
                assert_eq!(got, want, "remove {id:x} of {k} at {order}");
            }
            Op::Drop { bucket } => {
                let mut want = self.model.drop_bucket(bucket);
                let mut got = self.index().drop_bucket(bucket).await.expect("drop");
                let by = |e: &Rc<ObjectEntry>| (e.key.clone(), e.order);
                want.sort_by_key(by);
                got.sort_by_key(by);
                assert_eq!(got, want, "dropped versions");
            }
            Op::Flush => self.flush_all().await,
            Op::Merge => while self.index().merge_step().await.expect("merge") {},
            Op::Reopen => {
                self.flush_all().await;
                self.index.take().expect("open").close();
                let index = DiskIndex::open(cfg(&self.disk)).await.expect("reopen");
                assert_eq!(index.log_position(), seq);
                assert_eq!(index.extra(), seq.to_le_bytes());
                self.index = Some(index);
            }
        }
        if self.index().memtable_full() {
            self.flush_all().await;
        }
    }

    /// Everything applied so far made durable as "the log up to `seq`".
    async fn flush_all(&self) {
        let seq = 2 * self.step + 1;
        self.index().freeze(seq, &seq.to_le_bytes());
        while self.index().flush().await.expect("flush") {}
    }

    async fn check(&self) {
        let (model, index) = (&self.model, self.index());
        assert_eq!(index.bucket_ids(), model.bucket_ids());
        assert_eq!(index.object_count(), model.object_count());
        assert_eq!(index.noncurrent_count(), model.noncurrent_count());
        let want: Vec<ObjectEntry> = model.entries().map(|e| (**e).clone()).collect();
        let got: Vec<ObjectEntry> = index
            .entries()
            .await
            .expect("entries")
            .iter()
            .map(|e| (**e).clone())
            .collect();
        assert_eq!(got, want, "every version");
        for bucket in 1..3 {
            assert_eq!(index.bucket_stats(bucket), model.bucket_stats(bucket));
            assert_eq!(index.is_bucket_empty(bucket), model.is_bucket_empty(bucket));
            for k in (0..KEY_COUNT).map(key_name) {
                assert_eq!(
                    index.current(bucket, &k).await.expect("current"),
                    model.current(bucket, &k),
                    "{k}"
                );
                assert_eq!(
                    index.get(bucket, &k).await.expect("get"),
                    model.get(bucket, &k)
                );
                let versions = model.versions(bucket, &k);
                assert_eq!(
                    index.versions(bucket, &k).await.expect("versions"),
                    versions
                );
                for v in versions
                    .iter()
                    .map(|v| v.version_id)
                    .chain([NULL_VERSION, 12345])
                {
                    assert_eq!(
                        index.version(bucket, &k, v).await.expect("version"),
                        model.version(bucket, &k, v)
                    );
                }
            }
            for after in std::iter::once(None).chain(["a", "a/", "b/x", "photos/", "zz"].map(Some))
            {
                for limit in [0, 1, 3, 1000] {
                    assert_eq!(
                        index.keys_after(bucket, after, limit).await.expect("keys"),
                        model.keys_after(bucket, after, limit)
                    );
                }
            }
            for prefix in ["", "a", "a/", "b/", "é", "photos/2026/", "q"] {
                for delimiter in [None, Some("/"), Some("b"), Some("0")] {
                    for limit in [1, 2, 7, 1000] {
                        self.check_listing(bucket, prefix, delimiter, limit).await;
                        self.check_version_listing(bucket, prefix, delimiter, limit)
                            .await;
                    }
                }
            }
        }
    }

    /// Pages through a listing on both, each page alike.
    async fn check_listing(
        &self,
        bucket: u64,
        prefix: &str,
        delimiter: Option<&str>,
        limit: usize,
    ) {
        let mut after: Option<String> = None;
        for _ in 0..1000 {
            let want = self
                .model
                .list(bucket, prefix, delimiter, after.as_deref(), limit);
            let got = self
                .index()
                .list(bucket, prefix, delimiter, after.as_deref(), limit)
                .await
                .expect("list");
            assert_eq!(got, want, "list {prefix:?} {delimiter:?} after {after:?}");
            match want.last() {
                Some(last) if want.len() == limit => after = Some(last.sort_key().to_string()),
                _ => return,
            }
        }
        panic!("listing did not end");
    }

    async fn check_version_listing(
        &self,
        bucket: u64,
        prefix: &str,
        delimiter: Option<&str>,
        limit: usize,
    ) {
        let (mut key_marker, mut version_marker): (Option<String>, Option<u128>) = (None, None);
        for _ in 0..1000 {
            let want = self.model.list_versions(
                bucket,
                prefix,
                delimiter,
                key_marker.as_deref(),
                version_marker,
                limit,
            );
            let got = self
                .index()
                .list_versions(
                    bucket,
                    prefix,
                    delimiter,
                    key_marker.as_deref(),
                    version_marker,
                    limit,
                )
                .await
                .expect("list versions");
            assert_eq!(
                got, want,
                "versions {prefix:?} {delimiter:?} after {key_marker:?}/{version_marker:?}"
            );
            match want.last() {
                Some(VersionItem::Version {
                    key, version_id, ..
                }) if want.len() == limit => {
                    (key_marker, version_marker) = (Some(key.clone()), Some(*version_id));
                }
                Some(VersionItem::CommonPrefix(p)) if want.len() == limit => {
                    (key_marker, version_marker) = (Some(p.clone()), None);
                }
                _ => return,
            }
        }
        panic!("version listing did not end");
    }
}

fn run_ops(ops: Vec<Op>) {
    let disk = SimDisk::new_handle();
    run(async {
        let index = DiskIndex::open(cfg(&disk)).await.expect("open");
        let mut h = Harness {
            disk: disk.clone(),
            model: Index::default(),
            index: Some(index),
            step: 0,
            orders: HashSet::new(),
            next_id: 0,
        };
        for (i, op) in ops.iter().enumerate() {
            h.apply(op).await;
            // Full checks are costly: after flushes, reopenings and every 16th op.
            if matches!(op, Op::Flush | Op::Reopen | Op::Merge | Op::Drop { .. }) || i % 16 == 15 {
                h.check().await;
            }
        }
        h.check().await;
        h.flush_all().await;
        h.index.take().expect("open").close();
        h.index = Some(DiskIndex::open(cfg(&disk)).await.expect("reopen"));
        h.check().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn the_disk_index_answers_as_the_model(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(ops);
    }
}

#[test]
fn many_versions_of_many_keys_through_runs_and_merges() {
    // A fixed long sequence: enough rows for multi-block runs and several
    // merge levels, with versions demoted into runs and promoted back.
    let mut ops = Vec::new();
    for round in 0..6u64 {
        for key in 0..KEY_COUNT {
            ops.push(Op::Put {
                bucket: 1 + (key as u64 % 2),
                key,
                null: round % 3 == 0,
                marker: key % 11 == 0,
                size: round * 100 + key as u64,
            });
        }
        for key in (0..KEY_COUNT).step_by(3) {
            ops.push(Op::Remove {
                bucket: 1 + (key as u64 % 2),
                key,
                pick: round as usize,
                stale: false,
                absent: false,
            });
        }
        ops.push(Op::Flush);
    }
    ops.push(Op::Merge);
    ops.push(Op::Reopen);
    run_ops(ops);
}

#[test]
fn a_listing_skips_a_rolled_up_prefix_without_reading_it() {
    let disk = SimDisk::new_handle();
    run(async {
        let index = DiskIndex::open(cfg(&disk)).await.expect("open");
        let mut seq = 0;
        for i in 0..3000u64 {
            seq += 1;
            let key = format!("big/{i:06}");
            let e = entry(1, &key, NULL_VERSION, seq, seq, false, 100);
            index.insert(Rc::new(e), seq).await.expect("insert");
            if index.memtable_full() {
                index.freeze(seq, &[]);
                while index.flush().await.expect("flush") {}
            }
        }
        for key in ["a", "c"] {
            seq += 1;
            index
                .insert(
                    Rc::new(entry(1, key, NULL_VERSION, seq, seq, false, 1)),
                    seq,
                )
                .await
                .expect("insert");
        }
        index.freeze(seq, &[]);
        while index.flush().await.expect("flush") {}
        while index.merge_step().await.expect("merge") {}
        let before = index.kv().cache_stats();
        let page = index
            .list(1, "", Some("/"), None, 1000)
            .await
            .expect("list");
        let after = index.kv().cache_stats();
        assert_eq!(
            page,
            vec![
                ListItem::Object {
                    key: "a".into(),
                    size: 1,
                    etag: format!("{:032x}", 3001),
                    mtime_millis: 3001,
                    content_type: None
                },
                ListItem::CommonPrefix("big/".into()),
                ListItem::Object {
                    key: "c".into(),
                    size: 1,
                    etag: format!("{:032x}", 3002),
                    mtime_millis: 3002,
                    content_type: None
                },
            ]
        );
        let blocks_read = (after.hits + after.misses) - (before.hits + before.misses);
        // 3000 rows of ~100 bytes are ~80 blocks; the roll-up costs a few seeks.
        assert!(
            blocks_read <= 12,
            "{blocks_read} blocks read for a listing of 3 rows"
        );
    });
}

#[test]
fn concurrent_versions_of_one_key_are_all_kept() {
    // The store lets unconditional writes of one key apply at once; each
    // application reads the key's rows (from runs: real awaits) before it
    // writes, so two in flight must not both demote the same current one.
    let disk = SimDisk::new_handle();
    disk.borrow_mut().interleave = true;
    run(async {
        let index = DiskIndex::open(cfg(&disk)).await.expect("open");
        for i in 0..200u64 {
            let e = entry(
                1,
                &key_name(i as usize % KEY_COUNT),
                i as u128 + 1,
                i + 1,
                i + 1,
                false,
                10,
            );
            index.insert(Rc::new(e), i + 1).await.expect("insert");
        }
        index.freeze(200, &[]);
        while index.flush().await.expect("flush") {}
        let a = Rc::new(entry(1, "a", 1001, 1001, 1001, false, 1));
        let b = Rc::new(entry(1, "a", 1002, 1002, 1002, false, 2));
        let (ra, rb) = futures_util::future::join(
            index.insert(a.clone(), 1001),
            index.insert(b.clone(), 1002),
        )
        .await;
        assert_eq!(
            (ra.expect("a"), rb.expect("b")),
            (Applied::Inserted(None), Applied::Inserted(None))
        );
        let versions = index.versions(1, "a").await.expect("versions");
        let ids: Vec<u128> = versions.iter().map(|v| v.version_id).collect();
        assert_eq!(
            &ids[..2],
            &[1002, 1001],
            "both new versions, newest current: {ids:?}"
        );
        let mut noncurrent = 0;
        for k in (0..KEY_COUNT).map(key_name) {
            noncurrent += index
                .versions(1, &k)
                .await
                .expect("versions")
                .len()
                .saturating_sub(1) as u64;
        }
        assert_eq!(
            index.counts()[&1].noncurrent,
            noncurrent,
            "counts follow the rows"
        );
    });
}
