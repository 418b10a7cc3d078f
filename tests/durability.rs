//! Durability through the real server: a clean restart keeps every object,
//! `kill -9` under concurrent PUT/DELETE and multipart load loses no
//! acknowledged write and shows no half-written one, and `ringstore verify`
//! finds bit rot that the server then contains to the damaged object.
//! Writes racing DeleteBucket are kept (the delete answers BucketNotEmpty)
//! or refused, never acknowledged and lost, with and without kills.

mod bucket_race;
mod common;
mod crash_mp;
mod crash_versions;
mod full_disk;

use common::rt;

use aws_sdk_s3::primitives::ByteStream;
use common::{pattern, s3_client, Server};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Keys each crash-loop worker cycles through (bounded, so the check after
/// each restart stays cheap while overwrites and deletes keep happening).
const CRASH_KEYS_PER_WORKER: u64 = 12;
const CRASH_WORKERS: u64 = 6;
/// Writers of the bucket-delete phase (one more worker deletes and
/// re-creates their bucket).
const CRASH_RACE_WRITERS: u64 = 2;
/// Default cycles in CI; `RINGSTORE_CRASH_CYCLES` (or scripts/crash-loop.sh) for more.
const CRASH_CYCLES_DEFAULT: u64 = 20;
/// The kill lands this long after the load starts: [MIN, MIN + SPAN).
const KILL_DELAY_MIN_MS: u64 = 50;
const KILL_DELAY_SPAN_MS: u64 = 900;

/// The model: the acknowledged state of each key (None = deleted).
type Model = Arc<Mutex<HashMap<String, Option<Vec<u8>>>>>;

/// SplitMix64 step, for reproducible choices from `RINGSTORE_CRASH_SEED`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One worker: PUT, overwrite or DELETE keys of its own until the server dies.
/// `inflight` holds the op outstanding when the kill landed.
/// Returns how many ops were acknowledged.
async fn crash_worker(
    s3: aws_sdk_s3::Client,
    worker: u64,
    seed: u64,
    acked: Model,
    inflight: Model,
) -> u64 {
    for n in 0u64.. {
        let r = mix(seed ^ (worker << 48) ^ n);
        let key = format!("w{worker}/k{}", r % CRASH_KEYS_PER_WORKER);
        let value = !(r >> 32).is_multiple_of(4);
        let value = value.then(|| pattern(size_for(r >> 8), r));
        inflight
            .lock()
            .expect("lock")
            .insert(key.clone(), value.clone());
        let ok = match &value {
            // A third of the PUTs are SSE-S3: encrypted objects must
            // survive the kills byte for byte as well.
            Some(data) => s3
                .put_object()
                .bucket("crash")
                .key(&key)
                .set_server_side_encryption(
                    (r >> 40)
                        .is_multiple_of(3)
                        .then_some(aws_sdk_s3::types::ServerSideEncryption::Aes256),
                )
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .is_ok(),
            None => s3
                .delete_object()
                .bucket("crash")
                .key(&key)
                .send()
                .await
                .is_ok(),
        };
        if !ok {
            return n; // the server is gone; the op stays in flight
        }
        inflight.lock().expect("lock").remove(&key);
        acked.lock().expect("lock").insert(key, value);
    }
    unreachable!("the loop ends when the server is killed")
}

async fn get_bytes(s3: &aws_sdk_s3::Client, key: &str) -> Option<Vec<u8>> {
    match s3.get_object().bucket("crash").key(key).send().await {
        Ok(got) => Some(
            got.body
                .collect()
                .await
                .expect("body")
                .into_bytes()
                .to_vec(),
        ),
        Err(e) => {
            let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&e);
            assert_eq!(code, Some("NoSuchKey"), "{key}: GET failed: {e:?}");
            None
        }
    }
}

/// After a restart: every key holds its acknowledged state, or the state of
/// the op in flight at the kill (whole, never partial). Adopts what it saw.
async fn check_model(s3: &aws_sdk_s3::Client, acked: &Model, inflight: &Model) -> usize {
    let pending = inflight.lock().expect("lock").clone();
    let mut keys: Vec<String> = acked.lock().expect("lock").keys().cloned().collect();
    keys.extend(pending.keys().cloned());
    keys.sort();
    keys.dedup();
    for key in &keys {
        let got = get_bytes(s3, key).await;
        let want = acked.lock().expect("lock").get(key).cloned().flatten();
        let ok = got == want || pending.get(key).is_some_and(|p| *p == got);
        assert!(
            ok,
            "{key}: {:?} bytes after restart; acknowledged {:?}, in flight {:?}",
            got.as_ref().map(Vec::len),
            want.as_ref().map(Vec::len),
            pending.get(key).map(|p| p.as_ref().map(Vec::len))
        );
        acked.lock().expect("lock").insert(key.clone(), got);
    }
    inflight.lock().expect("lock").clear();
    keys.len()
}

/// PUT/DELETE and multipart load, `kill -9` at a seeded random moment,
/// restart, check both models byte for byte. Returns the acknowledged
/// PUT/DELETEs of this cycle.
fn crash_cycle(
    server: &mut Server,
    cycle: u64,
    seed: u64,
    acked: &Model,
    mp: &crash_mp::SharedMp,
    versions: &crash_versions::SharedVersions,
    race: &bucket_race::SharedRace,
) -> u64 {
    let rt = rt();
    let inflight: Model = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    rt.block_on(async {
        let s3 = s3_client(server).await;
        let mut tasks = Vec::new();
        for worker in 0..CRASH_WORKERS {
            let (s3, acked, inflight) = (s3.clone(), acked.clone(), inflight.clone());
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                let ops = crash_worker(s3, worker, seed, acked, inflight).await;
                done.fetch_add(ops, std::sync::atomic::Ordering::Relaxed);
            }));
        }
        for worker in 0..crash_mp::MP_WORKERS {
            let (s3, mp) = (s3.clone(), mp.clone());
            tasks.push(tokio::spawn(async move {
                crash_mp::mp_worker(s3, "crash", worker, seed, cycle, mp).await;
            }));
        }
        for worker in 0..crash_versions::VERSION_WORKERS {
            let (s3, versions) = (s3.clone(), versions.clone());
            tasks.push(tokio::spawn(async move {
                crash_versions::version_worker(s3, worker, seed, versions).await;
            }));
        }
        // The bucket-delete phase: writes racing DeleteBucket/CreateBucket.
        for worker in 0..CRASH_RACE_WRITERS {
            let (s3, race) = (s3.clone(), race.clone());
            tasks.push(tokio::spawn(async move {
                bucket_race::writer(s3, worker, seed, race, u64::MAX).await;
            }));
        }
        let (s3_race, race_bucket) = (s3.clone(), race.clone());
        let forever = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tasks.push(tokio::spawn(async move {
            bucket_race::bucket_worker(s3_race, race_bucket, forever).await;
        }));
        let delay = KILL_DELAY_MIN_MS + mix(seed) % KILL_DELAY_SPAN_MS;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill9();
        for t in tasks {
            t.await.expect("worker");
        }
    });
    server.restart();
    rt.block_on(async {
        let s3 = s3_client(server).await;
        check_model(&s3, acked, &inflight).await;
        crash_mp::check_after_restart(&s3, "crash", mp, cycle).await;
        crash_versions::check_after_restart(&s3, versions).await;
        let violations = bucket_race::check(&s3, race).await;
        assert!(
            violations.is_empty(),
            "cycle {cycle}: writes racing DeleteBucket:\n{}",
            violations.join("\n")
        );
    });
    done.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn kill9_under_concurrent_puts_and_deletes_loses_nothing_acknowledged() {
    crash_loop(&[]);
}

/// The same crash loop with object metadata in the on-disk index: every
/// restart replays the log after the index's durable state into it.
#[test]
fn kill9_under_concurrent_puts_and_deletes_loses_nothing_acknowledged_on_the_disk_index() {
    crash_loop(&["--index", "disk"]);
}

fn crash_loop(extra: &[&str]) {
    let mut server = Server::start_with(2, extra);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("crash")
            .send()
            .await
            .expect("create");
        s3.create_bucket()
            .bucket(crash_versions::VERSIONED_BUCKET)
            .send()
            .await
            .expect("create versioned");
        s3.put_bucket_versioning()
            .bucket(crash_versions::VERSIONED_BUCKET)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("enable versioning");
        bucket_race::setup(&s3).await;
    });
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let cycles = env("RINGSTORE_CRASH_CYCLES").unwrap_or(CRASH_CYCLES_DEFAULT);
    let seed = env("RINGSTORE_CRASH_SEED").unwrap_or(0x5eed);
    let acked: Model = Arc::default();
    let mp: crash_mp::SharedMp = Arc::default();
    let versions: crash_versions::SharedVersions = Arc::default();
    let race: bucket_race::SharedRace = Arc::default();
    let started = Instant::now();
    let (mut ops, mut idle_cycles) = (0u64, 0u64);
    for cycle in 0..cycles {
        let n = crash_cycle(
            &mut server,
            cycle,
            mix(seed ^ cycle),
            &acked,
            &mp,
            &versions,
            &race,
        );
        ops += n;
        idle_cycles += (n == 0) as u64;
    }
    let live = acked
        .lock()
        .expect("lock")
        .values()
        .filter(|v| v.is_some())
        .count();
    assert!(
        ops > 0,
        "no op was acknowledged before the kills: the test proved nothing"
    );
    assert!(
        idle_cycles * 2 <= cycles,
        "{idle_cycles} of {cycles} cycles acknowledged nothing before the kill"
    );
    let mp = mp.lock().expect("lock");
    let versioned = versions.lock().expect("lock").acknowledged;
    let raced = *race.counts.lock().expect("lock");
    assert!(
        raced.writes_acked > 0 && (cycles < 4 || raced.deletes_ok > 0),
        "the bucket-delete phase proved nothing: {raced:?}"
    );
    assert!(
        versioned > 0,
        "no versioned write was acknowledged before the kills"
    );
    assert!(
        cycles < 4 || mp.completed > 0,
        "no multipart upload completed before the kills: that load proved nothing"
    );
    eprintln!(
        "{cycles} kill -9 cycles (seed {seed}) in {:?}: {ops} acknowledged PUT/DELETEs, \
         {live} live objects verified byte for byte after every restart; multipart: \
         {} completed, {} aborted, {} completed after a restart over surviving parts; \
         versioned bucket: {versioned} acknowledged versions, markers and version deletes, \
         every version list and version checked after every restart; bucket-delete phase: \
         {raced:?}",
        started.elapsed(),
        mp.completed,
        mp.aborted,
        mp.completed_after_restart
    );
}

/// Rounds of the DeleteBucket race (tests/bucket_race/); each round is a
/// few hundred requests, then every key is checked.
const RACE_ROUNDS: u64 = 12;
const RACE_WRITERS: u64 = 4;
/// Workers looping DeleteBucket and CreateBucket of the writers' bucket.
const RACE_BUCKET_WORKERS: u64 = 2;
/// Writes (each maybe followed by its DELETE) per writer per round.
const RACE_WRITES_PER_ROUND: u64 = 30;

/// PUT, CopyObject and CompleteMultipartUpload racing DeleteBucket and
/// CreateBucket of their bucket on 2 shards, over real SigV4 clients: a
/// write answered 200 is in its bucket (a DeleteBucket after it answers
/// BucketNotEmpty) and reads back byte for byte, unless a delete answered
/// 204 after it; a write into a deleted bucket answers NoSuchBucket and is
/// never seen, also after the bucket is re-created.
#[test]
fn writes_racing_delete_bucket_are_kept_or_refused() {
    let server = Server::start(2);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        bucket_race::setup(&s3).await;
        let race: bucket_race::SharedRace = Arc::default();
        let mut violations = Vec::new();
        for round in 0..RACE_ROUNDS {
            let seed = mix(0xde1e7e ^ round);
            let writers: Vec<_> = (0..RACE_WRITERS)
                .map(|w| {
                    let (s3, race) = (s3.clone(), race.clone());
                    tokio::spawn(bucket_race::writer(
                        s3,
                        w,
                        seed,
                        race,
                        RACE_WRITES_PER_ROUND,
                    ))
                })
                .collect();
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let deleters: Vec<_> = (0..RACE_BUCKET_WORKERS)
                .map(|_| {
                    let (s3, race, stop) = (s3.clone(), race.clone(), stop.clone());
                    tokio::spawn(bucket_race::bucket_worker(s3, race, stop))
                })
                .collect();
            for w in writers {
                let done = w.await.expect("writer");
                assert_eq!(done, RACE_WRITES_PER_ROUND, "a writer lost the server");
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for d in deleters {
                d.await.expect("bucket worker");
            }
            let found = bucket_race::check(&s3, &race).await;
            violations.extend(found.into_iter().map(|v| format!("round {round}: {v}")));
        }
        let counts = *race.counts.lock().expect("lock");
        assert!(
            violations.is_empty(),
            "{} violations ({counts:?}):\n{}",
            violations.len(),
            violations.join("\n")
        );
        assert!(
            counts.writes_acked > 0 && counts.deletes_ok > 0 && counts.deletes_not_empty > 0,
            "the race did not happen: {counts:?}"
        );
        eprintln!("{RACE_ROUNDS} rounds of writes racing DeleteBucket: {counts:?}");
    });
}

/// Finds `needle` in the segment files of `shard_dir`: (path, offset).
fn find_on_disk(shard_dir: &std::path::Path, needle: &[u8]) -> Option<(std::path::PathBuf, usize)> {
    let mut paths: Vec<_> = std::fs::read_dir(shard_dir)
        .expect("shard dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path).expect("segment");
        let first = needle[0];
        let hit = (0..bytes.len().saturating_sub(needle.len()))
            .find(|&i| bytes[i] == first && bytes[i..i + needle.len()] == *needle);
        if let Some(i) = hit {
            return Some((path, i));
        }
    }
    None
}

fn run_verify(data_dir: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .arg("verify")
        .arg(data_dir)
        .env("RINGSTORE_LOG", "warn")
        .output()
        .expect("run ringstore verify");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn verify_finds_bit_rot_and_server_serves_the_rest() {
    let mut server = Server::start(1);
    let rt = rt();
    let victim = pattern(100_000, 4242);
    let mut others = HashMap::new();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("rot")
            .send()
            .await
            .expect("create");
        let put = |key: String, data: Vec<u8>| {
            s3.put_object()
                .bucket("rot")
                .key(key)
                .body(ByteStream::from(data))
                .send()
        };
        put("before".into(), pattern(5000, 1)).await.expect("put");
        others.insert("before".to_string(), pattern(5000, 1));
        put("victim".into(), victim.clone()).await.expect("victim");
        // Push the victim far from the log tail (more than one write buffer),
        // so its damage cannot pass for a torn last flush.
        for i in 0..6u64 {
            let data = pattern(1 << 20, 100 + i);
            put(format!("after/{i}"), data.clone()).await.expect("put");
            others.insert(format!("after/{i}"), data);
        }
    });
    server.stop();
    let (code, text) = run_verify(&server.data_dir);
    assert_eq!(code, 0, "clean data dir must verify:\n{text}");
    assert!(text.contains("objects:         8"), "{text}");

    let shard_dir = server.data_dir.join("shard-000");
    let (path, at) = find_on_disk(&shard_dir, &victim[50_000..50_064]).expect("victim on disk");
    let mut bytes = std::fs::read(&path).expect("read segment");
    bytes[at + 17] ^= 0x40;
    std::fs::write(&path, bytes).expect("write segment");

    let (code, text) = run_verify(&server.data_dir);
    assert_eq!(code, 1, "damage must fail verify:\n{text}");
    let name = path
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        text.contains("DAMAGED RECORD") && text.contains(&name),
        "{text}"
    );
    assert!(
        text.contains("\"victim\""),
        "the damaged object is named:\n{text}"
    );

    // Damage to a durable record: the server refuses to start, naming it...
    server.kill9();
    let (code, log) = serve_refused(&server.data_dir);
    assert_ne!(code, 0, "a damaged data dir must not start:\n{log}");
    assert!(
        log.contains("media damage") && log.contains("--accept-data-loss"),
        "{log}"
    );
    // ...unless the operator accepts the loss: then it serves the rest.
    let server = Server::start_in(
        server.data_dir.clone(),
        1,
        &["--segment-mib", "16", "--accept-data-loss"],
    );
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        for (key, data) in &others {
            let got = s3
                .get_object()
                .bucket("rot")
                .key(key)
                .send()
                .await
                .expect("get");
            let bytes = got.body.collect().await.expect("body").into_bytes();
            assert!(bytes.as_ref() == data.as_slice(), "{key} differs");
        }
        let err = s3.get_object().bucket("rot").key("victim").send().await;
        let err = err.expect_err("a damaged object must not be served");
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err);
        assert_eq!(code, Some("InternalError"), "{err:?}");
        let msg = aws_sdk_s3::error::ProvideErrorMetadata::message(&err).unwrap_or_default();
        assert!(msg.contains("integrity"), "{msg}");
        s3.put_object()
            .bucket("rot")
            .key("new")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("writes go on");
    });
    assert!(
        server
            .log()
            .contains("media damage, dropped (--accept-data-loss)"),
        "the dropped damage is logged"
    );
}

/// Issue 22 section 2, end to end: the very last write a server
/// acknowledged is confirmed on disk, by a graceful stop (SIGTERM) or by a
/// moment of idleness before a kill -9, so damage to it later is media
/// damage (the server refuses to start and names it), never a torn last
/// flush cut quietly with the acknowledged object.
#[test]
fn damage_in_the_last_acknowledged_write_is_never_cut_quietly() {
    for graceful in [true, false] {
        let mut server = Server::start(1);
        let last = pattern(100_000, if graceful { 7001 } else { 7002 });
        rt().block_on(async {
            let s3 = s3_client(&server).await;
            s3.create_bucket()
                .bucket("tail")
                .send()
                .await
                .expect("create");
            s3.put_object()
                .bucket("tail")
                .key("last")
                .body(ByteStream::from(last.clone()))
                .send()
                .await
                .expect("the last PUT");
        });
        if graceful {
            server.stop();
        } else {
            // An idle shard confirms its last write within milliseconds.
            std::thread::sleep(IDLE_CONFIRM_WAIT);
            server.kill9();
        }
        let shard_dir = server.data_dir.join("shard-000");
        let (path, at) =
            find_on_disk(&shard_dir, &last[60_000..60_064]).expect("the last object on disk");
        let mut bytes = std::fs::read(&path).expect("read segment");
        bytes[at + 9] ^= 0x01;
        std::fs::write(&path, bytes).expect("write segment");
        let (code, log) = serve_refused(&server.data_dir);
        assert_ne!(
            code, 0,
            "graceful={graceful}: damage in the last acknowledged write was cut:\n{log}"
        );
        assert!(log.contains("media damage"), "graceful={graceful}: {log}");
        let (code, text) = run_verify(&server.data_dir);
        assert_eq!(
            code, 1,
            "graceful={graceful}: verify must report it:\n{text}"
        );
        assert!(
            text.contains("\"last\""),
            "the damaged object is named:\n{text}"
        );
    }
}

/// Comfortably above the 20 ms of idleness after which a shard confirms
/// its last write.
const IDLE_CONFIRM_WAIT: Duration = Duration::from_millis(500);

/// How long a server refusing its data dir may take to exit.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `ringstore serve` on `data_dir`, which must refuse to start: its
/// exit code and what it wrote to stderr.
fn serve_refused(data_dir: &std::path::Path) -> (i32, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args(["serve", "--listen", "127.0.0.1:0", "--shards", "1"])
        .args(["--segment-mib", "16", "--data-dir"])
        .arg(data_dir)
        .env("RINGSTORE_ACCESS_KEY", common::ACCESS_KEY)
        .env("RINGSTORE_SECRET_KEY", common::SECRET_KEY)
        .env("RINGSTORE_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ringstore");
    let deadline = std::time::Instant::now() + REFUSAL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a damaged data dir");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    use std::io::Read;
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    (status.code().unwrap_or(-1), log)
}

/// `--max-data-bytes`: PUTs past the cap answer StorageFull, reads go on,
/// and once objects are deleted, background compaction frees segments and
/// PUTs succeed again.
#[test]
fn storage_full_is_clear_and_writes_resume_after_deletes() {
    const SEGMENT_MIB: u64 = 16; // the fixture's --segment-mib
    const CAP_SEGMENTS: u64 = 4;
    let cap = (CAP_SEGMENTS * SEGMENT_MIB * 1024 * 1024).to_string();
    let server = Server::start_with(1, &["--max-data-bytes", &cap]);
    let rt = rt();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("full")
            .send()
            .await
            .expect("create");
        let put = |key: String, seed: u64| {
            s3.put_object()
                .bucket("full")
                .key(key)
                .body(ByteStream::from(pattern(1 << 20, seed)))
                .send()
        };
        let mut stored = 0u64;
        let err = loop {
            match put(format!("k{stored}"), stored).await {
                Ok(_) => stored += 1,
                Err(e) => break e,
            }
            assert!(
                stored < 2 * CAP_SEGMENTS * SEGMENT_MIB,
                "the cap is not enforced"
            );
        };
        let code = aws_sdk_s3::error::ProvideErrorMetadata::code(&err);
        assert_eq!(code, Some("XMinioStorageFull"), "{err:?}");
        assert!(
            stored >= (CAP_SEGMENTS - 1) * SEGMENT_MIB / 2,
            "only {stored} MiB fit"
        );
        let got = s3
            .get_object()
            .bucket("full")
            .key("k0")
            .send()
            .await
            .expect("reads go on");
        let bytes = got.body.collect().await.expect("body").into_bytes();
        assert!(bytes.as_ref() == pattern(1 << 20, 0).as_slice());
        for i in 0..stored {
            s3.delete_object()
                .bucket("full")
                .key(format!("k{i}"))
                .send()
                .await
                .expect("delete at the cap");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if put("again".into(), 7).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "writes did not resume after deletes"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    assert!(
        server.log().contains("segment compacted and freed"),
        "compaction freed the space"
    );
}

/// A server whose log cannot be written (stderr on a full disk: here
/// /dev/full, which fails every write with ENOSPC) keeps serving, with every
/// shard. tracing-subscriber used to report the failed write with eprintln!,
/// which panicked the shard that logged (seen when a benchmark filled the
/// disk: the shard died and its connections hung).
#[test]
fn an_unwritable_log_does_not_stop_any_shard() {
    let server = Server::start_logging_to(2, std::path::Path::new("/dev/full"));
    let s3 = rt().block_on(s3_client(&server));
    rt().block_on(async {
        s3.create_bucket()
            .bucket("logfull")
            .send()
            .await
            .expect("create");
        // Enough keys that both shards own some. Every shard logs at
        // start-up ("shard ready"), which is where the old code panicked.
        let objects: Vec<(String, Vec<u8>)> = (0..40u64)
            .map(|i| (format!("k{i}"), pattern(1000 + i as usize, i)))
            .collect();
        for (key, data) in &objects {
            s3.put_object()
                .bucket("logfull")
                .key(key)
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
        }
        let expected: HashMap<String, Vec<u8>> = objects.into_iter().collect();
        check_all(&s3, "logfull", &expected).await;
    });
}

// ------------------------------------- one process per data dir (issue 22 §5)

/// Runs `ringstore ARGS` to its end (killed and failed past `limit`):
/// exit code and stdout + stderr.
fn run_ringstore(args: &[&std::ffi::OsStr], limit: Duration) -> (i32, String) {
    use std::io::Read;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args(args)
        .env("RINGSTORE_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ringstore");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ringstore {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut p = pipe;
        let _ = p.read_to_string(&mut text);
    }
    (status.code().unwrap_or(-1), text)
}

/// A second `serve` or a `verify` on a live data dir is refused, naming the
/// holder's pid, and changes nothing; once the holder is gone both work.
#[test]
fn a_live_data_dir_is_refused_to_a_second_server_and_to_verify() {
    let mut server = Server::start(1);
    let pid = server.pid().expect("pid");
    let rt = rt();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("one")
            .send()
            .await
            .expect("bucket");
        for i in 0..20u64 {
            s3.put_object()
                .bucket("one")
                .key(format!("k{i}"))
                .body(ByteStream::from(pattern(10_000, i)))
                .send()
                .await
                .expect("put");
        }
    });
    let dir = server.data_dir.clone().into_os_string();
    let (code, text) = run_ringstore(
        &[
            "serve".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--data-dir".as_ref(),
            &dir,
            "--shards".as_ref(),
            "1".as_ref(),
        ],
        Duration::from_secs(30),
    );
    assert_ne!(code, 0, "a second server must not start:\n{text}");
    assert!(text.contains(&format!("pid {pid}")), "{text}");
    let (code, text) = run_ringstore(&["verify".as_ref(), &dir], Duration::from_secs(30));
    assert_eq!(code, 2, "verify on a live data dir:\n{text}");
    assert!(text.contains(&format!("pid {pid}")), "{text}");
    // The first server is unharmed, before and after a restart.
    let check = |server: &Server| {
        rt.block_on(async {
            let s3 = s3_client(server).await;
            for i in 0..20u64 {
                assert_eq!(
                    common::get_bytes(&s3, "one", &format!("k{i}")).await,
                    pattern(10_000, i)
                );
            }
        })
    };
    check(&server);
    server.kill9();
    let (code, text) = run_ringstore(&["verify".as_ref(), &dir], Duration::from_secs(60));
    assert_eq!(code, 0, "verify of the stopped data dir:\n{text}");
    server.restart();
    check(&server);
}

// ------------------------------------------ private data dir (issue 22 §6)

/// Every directory and file under `root` with its mode (permission bits).
fn modes_under(root: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let meta = std::fs::symlink_metadata(&p).expect("metadata");
        out.push((p.clone(), meta.permissions().mode() & 0o777));
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                todo.push(e.expect("entry").path());
            }
        }
    }
    out
}

fn assert_private(root: &std::path::Path) {
    let modes = modes_under(root);
    for (path, mode) in &modes {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", path.display());
    }
    let names: Vec<String> = modes
        .iter()
        .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for expected in [
        "format.json",
        "credentials.json",
        "catalog.json",
        ringstore::sse::MASTER_KEY_FILE,
        "ringstore.lock",
        "checkpoint.idx",
        "shard-000",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing: {names:?}"
        );
    }
    assert!(names.iter().filter(|n| n.starts_with("seg-")).count() >= 2);
}

/// Files made at start, segments rolled under load, the index checkpoint
/// and whatever a restart writes are all 0600 in 0700 dirs; a data dir
/// loosened by hand (or by an older build) is made private again at start.
#[test]
fn the_data_dir_is_private_to_the_server_user() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = Server::start(1);
    let rt = rt();
    // More than CHECKPOINT_INTERVAL_BYTES (64 MiB) of log: a checkpoint is due.
    const OBJECTS: u64 = 9;
    const SIZE: usize = 8 << 20;
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("modes")
            .send()
            .await
            .expect("bucket");
        for i in 0..OBJECTS {
            s3.put_object()
                .bucket("modes")
                .key(format!("k{i}"))
                .body(ByteStream::from(pattern(SIZE, i)))
                .send()
                .await
                .expect("put");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("index checkpoint written") {
        assert!(
            Instant::now() < deadline,
            "no checkpoint:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.restart();
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        s3.put_object()
            .bucket("modes")
            .key("after-restart")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
    });
    assert_private(&server.data_dir);
    server.kill9();
    for (path, _) in modes_under(&server.data_dir) {
        let loose = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(loose)).expect("chmod");
    }
    server.restart();
    assert_private(&server.data_dir);
    assert!(server.log().contains("made it private"), "{}", server.log());
    rt.block_on(async {
        let s3 = s3_client(&server).await;
        for i in 0..OBJECTS {
            assert_eq!(
                common::get_bytes(&s3, "modes", &format!("k{i}")).await,
                pattern(SIZE, i)
            );
        }
    });
}
