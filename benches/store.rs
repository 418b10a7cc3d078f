//! Store micro-benchmarks: log append with group-commit barriers (simulated
//! disk and O_DIRECT file), index insert/lookup/listing at 100k keys.

use std::rc::Rc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ringstore::store::index::{Index, ObjectEntry};
use ringstore::store::{Backing, ObjectMeta, PutCondition, SimDisk, Store, StoreConfig};

const RECORD_BYTES: usize = 4096;
const BATCH_RECORDS: usize = 64;
const INDEX_KEYS: usize = 100_000;
/// The body every appended object shares (a request's received bytes).
static BODY: [u8; RECORD_BYTES] = [7u8; RECORD_BYTES];

/// Appends a batch of 4 KiB objects concurrently and waits for their group commit.
async fn put_batch(store: &Store, round: usize) {
    let tasks: Vec<_> = (0..BATCH_RECORDS)
        .map(|i| {
            let s = store.clone();
            monoio::spawn(async move {
                let mut w = s.writer(1, &format!("k{round}-{i}"));
                w.write(bytes::Bytes::from_static(&BODY))
                    .await
                    .expect("write");
                w.commit(ObjectMeta::default(), PutCondition::None)
                    .await
                    .expect("commit");
            })
        })
        .collect();
    for t in tasks {
        t.await;
    }
}

fn bench_log(c: &mut Criterion) {
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    let mut cfg = StoreConfig::new("/sim/shard-000", 0);
    cfg.backing = Backing::Sim(SimDisk::new_handle());
    let sim = rt.block_on(Store::open(cfg)).expect("open sim");
    let mut round = 0;
    c.bench_function("append 64x4KiB + group commit (sim)", |b| {
        b.iter(|| {
            round += 1;
            rt.block_on(put_batch(&sim, round))
        })
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let real = rt
        .block_on(Store::open(StoreConfig::new(
            dir.path().join("shard-000"),
            0,
        )))
        .expect("open");
    c.bench_function("append 64x4KiB + group commit (O_DIRECT)", |b| {
        b.iter(|| {
            round += 1;
            rt.block_on(put_batch(&real, round))
        })
    });
}

fn entry(i: usize) -> Rc<ObjectEntry> {
    Rc::new(ObjectEntry {
        bucket: 1,
        key: format!("dir{:03}/obj{i:08}", i % 100),
        version_id: 0,
        meta: ObjectMeta::default(),
        extents: Vec::new(),
        commit_seq: i as u64,
        order: i as u64,
        delete_marker: false,
    })
}

fn bench_index(c: &mut Criterion) {
    let entries: Vec<_> = (0..INDEX_KEYS).map(entry).collect();
    c.bench_function("index insert 100k", |b| {
        b.iter_batched(
            || entries.clone(),
            |es| {
                let mut idx = Index::default();
                for e in es {
                    assert!(idx.insert(e).is_ok());
                }
                idx
            },
            BatchSize::LargeInput,
        )
    });
    let mut idx = Index::default();
    for e in &entries {
        assert!(idx.insert(e.clone()).is_ok());
    }
    c.bench_function("index lookup (100k keys)", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 7919) % INDEX_KEYS;
            idx.get(1, &entries[i].key)
        })
    });
    c.bench_function("index list 1000 after key (100k keys)", |b| {
        b.iter(|| idx.list(1, "dir042/", None, Some("dir042/obj00050042"), 1000))
    });
    c.bench_function("index list delimiter roll-up (100k keys)", |b| {
        b.iter(|| idx.list(1, "", Some("/"), None, 1000))
    });
}

criterion_group!(benches, bench_log, bench_index);
criterion_main!(benches);
