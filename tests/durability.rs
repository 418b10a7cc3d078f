//! Durability through the real server: a clean restart keeps every object,
//! and `kill -9` under concurrent PUT load loses no acknowledged write and
//! shows no half-written one.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{pattern, s3_client, Server};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// Size of the object written under sequence number `i` (small to multi-MiB, irregular).
fn size_for(i: u64) -> usize {
    match i % 7 {
        0 => 0,
        1 => 1,
        2 => 4096,
        3 => 100_003,
        4 => 1 << 20,
        5 => 2_500_001,
        _ => 777,
    }
}

async fn check_all(s3: &aws_sdk_s3::Client, bucket: &str, expected: &HashMap<String, Vec<u8>>) {
    for (key, data) in expected {
        let got = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert!(
            bytes.as_ref() == data.as_slice(),
            "{key}: {} bytes back, {} written",
            bytes.len(),
            data.len()
        );
    }
}

#[test]
fn restart_keeps_every_object() {
    let mut server = Server::start(2);
    let rt = rt();
    let mut expected = HashMap::new();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("keep")
            .send()
            .await
            .expect("create");
        for i in 0..60u64 {
            let key = format!("obj/{i}");
            let data = pattern(size_for(i), i);
            s3.put_object()
                .bucket("keep")
                .key(&key)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .expect("put");
            expected.insert(key, data);
        }
        // Overwrites and deletes must survive too.
        for i in 0..10u64 {
            let key = format!("obj/{i}");
            if i % 2 == 0 {
                s3.delete_object()
                    .bucket("keep")
                    .key(&key)
                    .send()
                    .await
                    .expect("delete");
                expected.remove(&key);
            } else {
                let data = pattern(5000 + i as usize, 1000 + i);
                s3.put_object()
                    .bucket("keep")
                    .key(&key)
                    .body(ByteStream::from(data.clone()))
                    .send()
                    .await
                    .expect("overwrite");
                expected.insert(key, data);
            }
        }
    });
    server.stop();
    server.restart();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        check_all(&s3, "keep", &expected).await;
        let listed = s3
            .list_objects_v2()
            .bucket("keep")
            .send()
            .await
            .expect("list");
        assert_eq!(
            listed.key_count(),
            Some(expected.len() as i32),
            "deleted objects stay deleted"
        );
    });
}

/// PUTs under load, `kill -9` at a pseudo-random moment, restart, verify.
fn crash_cycle(server: &mut Server, cycle: u64, acked: &Arc<Mutex<HashMap<String, Vec<u8>>>>) {
    let rt = rt();
    let inflight: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    rt.block_on(async {
        let s3 = s3_client(server).await;
        let mut tasks = Vec::new();
        for worker in 0..8u64 {
            let s3 = s3.clone();
            let acked = acked.clone();
            let inflight = inflight.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..10_000u64 {
                    let seq = cycle * 1_000_000 + worker * 10_000 + n;
                    let key = format!("w{worker}/c{cycle}/{n}");
                    let data = pattern(size_for(seq), seq);
                    inflight
                        .lock()
                        .expect("lock")
                        .insert(key.clone(), data.clone());
                    let r = s3
                        .put_object()
                        .bucket("crash")
                        .key(&key)
                        .body(ByteStream::from(data.clone()))
                        .send()
                        .await;
                    if r.is_err() {
                        return; // the server is gone
                    }
                    inflight.lock().expect("lock").remove(&key);
                    acked.lock().expect("lock").insert(key, data);
                }
            }));
        }
        let delay = 300 + (cycle * 7919 % 1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
        for t in tasks {
            let _ = t.await;
        }
    });
    server.restart();
    rt.block_on(async {
        let s3 = s3_client(server).await;
        let expected = acked.lock().expect("lock").clone();
        check_all(&s3, "crash", &expected).await;
        // Unacknowledged PUTs are absent or whole, never partial.
        let pending = inflight.lock().expect("lock").clone();
        for (key, data) in pending {
            if let Ok(got) = s3.get_object().bucket("crash").key(&key).send().await {
                let bytes = got.body.collect().await.expect("body").into_bytes();
                assert!(
                    bytes.as_ref() == data.as_slice(),
                    "{key}: unacknowledged object is half-written"
                );
                acked.lock().expect("lock").insert(key, data);
            }
        }
    });
}

#[test]
fn kill9_under_concurrent_puts_loses_nothing_acknowledged() {
    let mut server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("crash")
            .send()
            .await
            .expect("create");
    });
    let acked = Arc::new(Mutex::new(HashMap::new()));
    let cycles: u64 = std::env::var("RINGSTORE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    for cycle in 0..cycles {
        crash_cycle(&mut server, cycle, &acked);
    }
    let total = acked.lock().expect("lock").len();
    assert!(
        total > 0,
        "no PUT was acknowledged before the kills: the test proved nothing"
    );
    eprintln!("{cycles} kill -9 cycles, {total} acknowledged objects verified byte for byte");
}
