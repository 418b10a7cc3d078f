//! Server-side encryption's hot path: sealing a body into AES-256-GCM
//! chunks (PUT) and opening them (GET), at 4 KiB and 1 MiB, against a plain
//! copy of the same bytes (what an unencrypted body costs at most).
//! `cargo bench --bench sse`

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ringstore::sse::chunks::{Opener, Sealer};
use ringstore::sse::layout::window;
use std::collections::VecDeque;

fn key() -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"))
}

fn seal(plain: &[u8], piece: usize) -> Vec<Bytes> {
    let mut s = Sealer::new(key());
    let mut out = Vec::new();
    for p in plain.chunks(piece) {
        s.push(p, &mut out).expect("seal");
    }
    out.push(s.finish().expect("seal"));
    out
}

fn bench_sse(c: &mut Criterion) {
    for (label, size) in [("4KiB", 4096usize), ("1MiB", 1 << 20)] {
        let plain = vec![0x5au8; size];
        let stored: Vec<u8> = seal(&plain, 65536).concat();
        let mut g = c.benchmark_group(format!("sse_{label}"));
        g.throughput(Throughput::Bytes(size as u64));
        // Bodies arrive in socket reads of up to 64 KiB.
        g.bench_function("seal", |b| b.iter(|| seal(black_box(&plain), 65536)));
        g.bench_function("open", |b| {
            b.iter(|| {
                let w = window(&[size as u64], 0, size as u64);
                let mut o = Opener::new(key(), w.chunks, w.skip, size as u64);
                let mut out = VecDeque::new();
                for p in black_box(&stored).chunks(256 * 1024) {
                    o.push(p, &mut out).expect("open");
                }
                o.finish().expect("complete");
                out
            })
        });
        g.bench_function("copy (no encryption)", |b| {
            b.iter(|| Bytes::copy_from_slice(black_box(&plain)))
        });
        g.finish();
    }
}

/// What every encrypted request pays before its first byte: the object's
/// HKDF-derived data key and its AES-GCM key schedule.
fn bench_keys(c: &mut Criterion) {
    let master = ringstore::sse::MasterKey::from_bytes([3u8; 32]);
    let info = ringstore::sse::new_info(&ringstore::sse::Encryption::S3).expect("info");
    c.bench_function("sse_object_keys", |b| {
        b.iter(|| {
            ringstore::sse::ObjectKeys::for_object(black_box(&info), &master, None).map(|_| ())
        })
    });
}

/// SSE-KMS's per-object key work beside SSE-S3's: a PUT wraps a fresh
/// data key (a version key a shard has cached), a GET unwraps it; uncached,
/// the version's material is opened from under the master key first.
fn bench_kms_keys(c: &mut Criterion) {
    use ringstore::sse::kms;
    let master = ringstore::sse::MasterKey::from_bytes([3u8; 32]);
    let key = kms::new_key(&master, None, String::new(), 0).expect("key");
    let version = kms::version_key(&master, &key, 1).expect("version key");
    let req = kms::KmsRequest::default();
    let (env, data) =
        kms::wrap_data_key(&version, &key.id, 1, "arn".into(), &req).expect("data key");
    let mut info =
        ringstore::sse::new_info(&ringstore::sse::Encryption::Kms(req.clone())).expect("info");
    info.kms = Some(Box::new(env.clone()));
    let mut g = c.benchmark_group("sse_kms_keys");
    g.bench_function("put: wrap a new data key (version key cached)", |b| {
        b.iter(|| kms::wrap_data_key(&version, &key.id, 1, "arn".into(), black_box(&req)))
    });
    g.bench_function("get: unwrap the data key (version key cached)", |b| {
        b.iter(|| kms::unwrap_data_key(&version, &key.id, black_box(&env)))
    });
    g.bench_function("get: unwrap uncached (version from master)", |b| {
        b.iter(|| kms::open_data_key(&master, &key, black_box(&env)))
    });
    g.bench_function("object keys from the data key", |b| {
        b.iter(|| ringstore::sse::ObjectKeys::for_kms(black_box(&info), &data))
    });
    let keys = ringstore::sse::ObjectKeys::for_kms(&info, &data);
    g.bench_function("get: object keys from the shard's cache (a clone)", |b| {
        b.iter(|| black_box(&keys).clone())
    });
    g.finish();
}

criterion_group!(benches, bench_sse, bench_keys, bench_kms_keys);
criterion_main!(benches);
