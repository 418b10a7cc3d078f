//! `serve --memory` (issue 29, "Memory backend"): what differs from the log
//! on disk. The S3 suites run on both backends (`on_both_backends!` in
//! s3_semantics.rs, s3_sdk.rs, multipart.rs, versioning.rs, sse.rs); here:
//! the start-up says there is no durability, a full memory store answers
//! 507 and deletes make it writable again, and the process's memory stays
//! within the bound plus a fixed overhead however much is overwritten; a
//! killed memory server's catalog dir is removed by the next start-up; and
//! --memory-mib without --memory is refused.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use common::{get_bytes, pattern, rt, s3_client, Server};

const MIB: u64 = 1024 * 1024;
/// The memory bound of these tests' servers.
const BOUND_MIB: u64 = 64;
/// What a memory server's process may take beyond its bound: the binary and
/// its libraries, each shard's two log write buffers (8 MiB), connection
/// and request buffers, the index. Measured (dev profile, one shard):
/// 25 MiB idle, a peak of 83 MiB (the bound + 19 MiB) in the test below.
const RSS_OVERHEAD_MIB: u64 = 48;
/// How long freed memory may take to become writable (compaction polls every second).
const REFILL_WAIT: Duration = Duration::from_secs(60);

fn memory_server() -> Server {
    Server::start_with(1, &["--memory", "--memory-mib", &BOUND_MIB.to_string()])
}

fn is_storage_full<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("XMinioStorageFull")
}

/// The server's resident set, from /proc/PID/status.
fn vm_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

async fn put(s3: &aws_sdk_s3::Client, key: &str, data: Vec<u8>) -> Result<(), bool> {
    s3.put_object()
        .bucket("mem")
        .key(key)
        .body(ByteStream::from(data))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            assert!(is_storage_full(&e), "PUT {key}: {e:?}");
            true
        })
}

/// PUTs `data` at `key`, waiting out 507s (compaction freeing overwritten
/// bytes) for at most `REFILL_WAIT`.
async fn put_when_writable(s3: &aws_sdk_s3::Client, key: &str, data: Vec<u8>) {
    let started = Instant::now();
    while put(s3, key, data.clone()).await.is_err() {
        assert!(
            started.elapsed() < REFILL_WAIT,
            "{key}: still 507 after {REFILL_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn start_up_says_there_is_no_durability_and_stop_leaves_nothing() {
    let tmp = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
    let data_dir = tmp.path().join("never-created");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args([
            "serve",
            "--memory",
            "--shards",
            "1",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data_dir)
        .env("TMPDIR", tmp.path())
        .env("RINGSTORE_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut banner = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        let done = line == "ready";
        banner.push(line);
        if done {
            break;
        }
    }
    let banner = banner.join("\n");
    assert!(banner.contains("MEMORY, NO DURABILITY"), "{banner}");
    assert!(banner.contains("lost when the process exits"), "{banner}");
    // No advice to back up a key whose objects die with the process.
    assert!(!banner.contains("back it up"), "{banner}");
    let catalog = banner
        .lines()
        .find_map(|l| l.strip_prefix("catalog dir: "))
        .and_then(|l| l.split_whitespace().next())
        .map(std::path::PathBuf::from)
        .expect("the banner names the catalog dir");
    assert!(
        catalog.starts_with(tmp.path()) && catalog.is_dir(),
        "{banner}"
    );
    assert!(!data_dir.exists(), "--data-dir is not used with --memory");
    // SIGTERM: a graceful stop removes the temporary catalog.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut log)
        .expect("log");
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("NO DURABILITY")),
        "{log}"
    );
    assert!(!catalog.exists(), "the catalog dir is removed at stop");
}

/// Fill until 507, delete everything, and writes are accepted again; every
/// acknowledged object read back byte for byte before the deletes.
#[test]
fn a_full_memory_store_answers_507_and_deletes_make_room() {
    let server = memory_server();
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("mem")
            .send()
            .await
            .expect("create");
        let mut stored = Vec::new();
        let mut refusals = 0;
        for n in 0..(2 * BOUND_MIB) {
            let key = format!("fill-{n}");
            match put(&s3, &key, pattern(MIB as usize, n)).await {
                Ok(()) => stored.push((key, n)),
                Err(_) => refusals += 1,
            }
            if refusals == 8 {
                break;
            }
        }
        assert_eq!(refusals, 8, "the bound was never reached");
        // The bound less the reserve (1.25 segments of 8 MiB) and the
        // active segment's tail.
        assert!(
            stored.len() as u64 >= BOUND_MIB / 2,
            "only {} MiB fit in {BOUND_MIB} MiB",
            stored.len()
        );
        for (key, n) in &stored {
            assert_eq!(get_bytes(&s3, "mem", key).await, pattern(MIB as usize, *n));
        }
        for (key, _) in &stored {
            s3.delete_object()
                .bucket("mem")
                .key(key)
                .send()
                .await
                .expect("DELETE on a full memory store");
        }
        put_when_writable(&s3, "again", pattern(MIB as usize, 7)).await;
        assert_eq!(
            get_bytes(&s3, "mem", "again").await,
            pattern(MIB as usize, 7)
        );
    });
    assert!(
        server.log().contains("segment compacted and freed"),
        "compaction freed the memory"
    );
}

/// Overwrites four times the bound's worth through 16 keys: compaction
/// frees what they replace, and the resident set stays under the bound
/// plus `RSS_OVERHEAD_MIB`.
#[test]
fn resident_memory_stays_within_the_bound() {
    let server = memory_server();
    let pid = server.pid().expect("pid");
    let idle = vm_rss_bytes(pid);
    let mut peak = idle;
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("mem")
            .send()
            .await
            .expect("create");
        for n in 0..(4 * BOUND_MIB) {
            put_when_writable(&s3, &format!("k{}", n % 16), pattern(MIB as usize, n)).await;
            peak = peak.max(vm_rss_bytes(pid));
        }
        for k in 0..16 {
            let n = 4 * BOUND_MIB - 16 + k;
            assert_eq!(
                get_bytes(&s3, "mem", &format!("k{}", n % 16)).await,
                pattern(MIB as usize, n)
            );
        }
    });
    eprintln!(
        "VmRSS idle {} MiB, peak {} MiB (bound {BOUND_MIB} MiB)",
        idle / MIB,
        peak / MIB
    );
    assert!(
        peak <= (BOUND_MIB + RSS_OVERHEAD_MIB) * MIB,
        "VmRSS peaked at {} MiB: over the {BOUND_MIB} MiB bound + {RSS_OVERHEAD_MIB} MiB",
        peak / MIB
    );
    assert!(server.log().contains("segment compacted and freed"));
}

/// kill -9 leaves the temporary catalog dir behind (nothing runs to remove
/// it); the next memory server started with the same TMPDIR removes it.
/// (That a live server's dir is kept: `server::memory`'s unit test.)
#[test]
fn a_killed_memory_servers_catalog_is_removed_by_the_next_start() {
    let mut server = Server::start_with(1, &["--memory"]);
    let first = server.data_dir.clone();
    server.kill9();
    assert!(first.is_dir(), "kill -9 leaves {} behind", first.display());
    server.restart();
    let second = server.data_dir.clone();
    assert_ne!(first, second);
    assert!(!first.exists(), "{} was not removed", first.display());
    assert!(second.is_dir());
    assert!(
        server
            .log()
            .contains("removed the catalog dir a killed memory server left"),
        "{}",
        server.log()
    );
}

/// `--memory-mib` only bounds the memory backend: without `--memory` (as a
/// flag or from the environment) the start is refused and says so, rather
/// than running a disk server the user did not mean to bound that way.
#[test]
fn memory_mib_without_memory_is_refused() {
    let tmp = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
    let data_dir = tmp.path().join("data");
    for from_env in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringstore"));
        cmd.args(["serve", "--shards", "1", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if from_env {
            cmd.env("RINGSTORE_MEMORY_MIB", "64");
        } else {
            cmd.args(["--memory-mib", "64"]);
        }
        let mut child = cmd.spawn().expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("a server started with --memory-mib and no --memory");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "from_env {from_env}: {stderr}");
        assert!(
            stderr.contains("--memory-mib") && stderr.contains("needs --memory"),
            "from_env {from_env}: {stderr}"
        );
        assert!(!data_dir.exists(), "nothing was started");
    }
}
