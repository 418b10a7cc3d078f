//! kv micro-benchmarks (the on-disk index's bottom layer): point lookups
//! through filter + fence + block (block cache warm and cold), a scan of
//! 1000 keys, and a flush of a 100k-key memtable, on real O_DIRECT files.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use ringstore::store::kv::{Batch, Kv, KvConfig};

const KEYS: u64 = 100_000;
const VALUE_BYTES: usize = 100;

fn key(i: u64) -> Vec<u8> {
    format!("bucket-0001/photos/2026/12/img-{i:08}.jpg").into_bytes()
}

async fn filled(dir: &std::path::Path, cache_bytes: usize) -> Kv {
    let mut cfg = KvConfig::new(dir);
    cfg.cache_bytes = cache_bytes;
    let kv = Kv::open(cfg).await.expect("open");
    let value = Bytes::from(vec![7u8; VALUE_BYTES]);
    for i in 0..KEYS {
        let mut b = Batch::new(i + 1);
        b.put(&key(i), value.clone());
        kv.apply(&b).expect("apply");
    }
    kv.freeze(KEYS, Vec::new());
    kv.flush().await.expect("flush");
    kv
}

/// A scratch dir on the real disk (O_DIRECT; /tmp may be tmpfs), under target/.
fn scratch() -> tempfile::TempDir {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch");
    std::fs::create_dir_all(&base).expect("scratch dir");
    tempfile::tempdir_in(base).expect("tempdir")
}

fn bench_kv(c: &mut Criterion) {
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    let dir = scratch();
    let warm = rt.block_on(filled(&dir.path().join("warm"), 64 << 20));
    let cold = rt.block_on(filled(&dir.path().join("cold"), 0));
    let mut i = 0u64;
    c.bench_function("kv get, block cache warm (100k keys, one run)", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            rt.block_on(warm.get(&key(i)))
                .expect("get")
                .expect("present")
        })
    });
    c.bench_function("kv get, no cache: one O_DIRECT 4 KiB read", |b| {
        b.iter(|| {
            i = (i + 7919) % KEYS;
            rt.block_on(cold.get(&key(i)))
                .expect("get")
                .expect("present")
        })
    });
    c.bench_function("kv get of an absent key (filter says no)", |b| {
        b.iter(|| {
            rt.block_on(warm.get(b"bucket-0001/photos/2026/12/absent"))
                .expect("get")
        })
    });
    c.bench_function("kv scan 1000 keys from a seek, cache warm", |b| {
        b.iter(|| {
            i = (i + 7919) % (KEYS - 1000);
            rt.block_on(async {
                let mut it = warm.scan(&key(i)).await.expect("scan");
                for _ in 0..1000 {
                    it.next().await.expect("next").expect("entry");
                }
            })
        })
    });
    let mut group = c.benchmark_group("kv flush");
    group.sample_size(10);
    group.bench_function(
        "fill a memtable with 100k keys x 100 B, flush it to a run (O_DIRECT)",
        |b| {
            b.iter(|| {
                let d = scratch();
                rt.block_on(filled(d.path(), 0));
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench_kv);
criterion_main!(benches);
