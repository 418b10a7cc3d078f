//! `ringstore bench` end to end: a bounded run against a real server with
//! --verify must finish with zero errors and a JSON report that counts the
//! operations; a run with the wrong secret must fail and say why; and the
//! HTTP floor answers the generator.

mod common;

use common::{Server, ACCESS_KEY, REGION, SECRET_KEY};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A bench run that has not finished by then is a failure, not a hang.
const BENCH_TIMEOUT: Duration = Duration::from_secs(120);

fn bench(endpoint: &str, secret: &str, extra: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args(["bench", "--endpoint", endpoint, "--access-key", ACCESS_KEY])
        .args(["--secret-key", secret, "--region", REGION])
        .args(if extra.contains(&"--bucket") {
            &[][..]
        } else {
            &["--bucket", "smoke"][..]
        })
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringstore bench");
    let deadline = Instant::now() + BENCH_TIMEOUT;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ringstore bench did not finish within {BENCH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("JSON report written");
    serde_json::from_str(&text).expect("JSON report parses")
}

#[test]
fn mixed_run_with_verify_has_no_errors_and_reports_every_op() {
    let server = Server::start(2);
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let md = dir.path().join("report.md");
    let out = bench(
        &server.endpoint,
        SECRET_KEY,
        &[
            "--workload",
            "mixed",
            "--mix",
            "get=70,put=25,list=5",
            "--size",
            "4KiB:80,200KiB:20",
            "--objects",
            "50",
            "-c",
            "8",
            "--threads",
            "2",
            "--ops",
            "200",
            "--verify",
            "--sign-payload",
            "--json",
            json.to_str().unwrap(),
            "--markdown",
            md.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed: {stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let report = read_json(&json);
    assert_eq!(report["error_count"], 0, "{report}");
    assert_eq!(report["total_ops"], 200, "{report}");
    let gets = report["operations"]["GET"]["ops"].as_u64().unwrap_or(0);
    assert!(gets > 0, "no GETs in {report}");
    assert!(
        report["operations"]["GET"]["latency"]["p99_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let md = std::fs::read_to_string(&md).expect("markdown report");
    assert!(md.contains("| GET |"), "{md}");
}

#[test]
fn wrong_secret_fails_and_counts_the_s3_code() {
    let server = Server::start(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let out = bench(
        &server.endpoint,
        "not-the-secret",
        &[
            "--workload",
            "put",
            "--ops",
            "20",
            "-c",
            "2",
            "--no-prepare",
        ]
        .into_iter()
        .chain(["--json", json.to_str().unwrap()])
        .collect::<Vec<_>>(),
    );
    assert!(!out.status.success(), "a run with a wrong secret must fail");
    let report = read_json(&json);
    assert_eq!(
        report["errors"]["PUT 403 SignatureDoesNotMatch"], 20,
        "{report}"
    );
}

/// Starts `ringstore floor` with `extra` args; returns it and its endpoint.
fn start_floor(extra: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args(["floor", "--listen", "127.0.0.1:0", "--no-pin"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn floor");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .expect("banner");
    let endpoint = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("endpoint in banner")
        .to_owned();
    (child, endpoint)
}

#[test]
fn floor_answers_the_generator() {
    let (mut child, endpoint) = start_floor(&["--shards", "1", "--get-bytes", "4KiB"]);
    let out = bench(
        &endpoint,
        SECRET_KEY,
        &["--workload", "get", "--ops", "100", "--no-prepare"],
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `floor --durable-dir`: every PUT body is committed in the log when
/// answered (one shard, so each key lives in one store).
#[test]
fn durable_floor_commits_every_put() {
    let dir = common::scratch_dir().join(format!("durable-floor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.to_str().expect("utf-8 path").to_owned();
    let (mut child, endpoint) = start_floor(&["--shards", "1", "--durable-dir", &dir_arg]);
    let out = bench(
        &endpoint,
        SECRET_KEY,
        &[
            "--workload",
            "put",
            "--size",
            "64KiB",
            "--objects",
            "50",
            "--ops",
            "300",
            "--no-prepare",
            "--no-sign",
        ],
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Reopen the log offline: `ringstore verify` finds the 50 keys whole.
    let v = Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .arg("verify")
        .arg(&dir)
        .output()
        .expect("verify");
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    assert!(v.status.success(), "{text}");
    let objects = text
        .lines()
        .find_map(|l| l.strip_prefix("objects:"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no object count in {text}"));
    assert_eq!(objects, 50, "every key written is committed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--versioning enabled`: the run's PUTs each add a version.
#[test]
fn versioned_runs_add_a_version_per_put() {
    let server = Server::start(2);
    let out = bench(
        &server.endpoint,
        SECRET_KEY,
        &[
            "--bucket",
            "smoke-ver",
            "--workload",
            "put",
            "--size",
            "1KiB",
            "--objects",
            "5",
            "-c",
            "2",
            "--ops",
            "40",
            "--versioning",
            "enabled",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    common::rt().block_on(async {
        let s3 = common::s3_client(&server).await;
        let listed = s3
            .list_object_versions()
            .bucket("smoke-ver")
            .send()
            .await
            .expect("list versions");
        assert_eq!(listed.versions().len(), 40, "one version per PUT");
        let latest = listed
            .versions()
            .iter()
            .filter(|v| v.is_latest() == Some(true))
            .count();
        assert_eq!(latest, 5);
    });
}

/// `--sse s3` and `--sse c`: every object the run writes is encrypted
/// (the server says so on HEAD), and verified GETs read them back.
#[test]
fn sse_runs_write_encrypted_objects_and_read_them_back() {
    let server = Server::start_with(2, &["--allow-sse-c-over-http"]);
    for mode in ["s3", "c"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = dir.path().join("report.json");
        let bucket = format!("smoke-sse-{mode}");
        let out = bench(
            &server.endpoint,
            SECRET_KEY,
            &[
                "--bucket",
                &bucket,
                "--workload",
                "mixed",
                "--mix",
                "get=60,put=40",
                "--size",
                "4KiB:50,150KiB:50",
                "--objects",
                "30",
                "-c",
                "4",
                "--ops",
                "120",
                "--verify",
                "--sse",
                mode,
                "--json",
                json.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "bench --sse {mode} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let report = read_json(&json);
        assert_eq!(report["error_count"], 0, "{report}");
        common::rt().block_on(async {
            let s3 = common::s3_client(&server).await;
            let listed = s3
                .list_objects_v2()
                .bucket(&bucket)
                .send()
                .await
                .expect("list");
            let key = listed.contents()[0].key().expect("a key").to_string();
            let head = s3.head_object().bucket(&bucket).key(&key).send().await;
            match mode {
                "s3" => assert_eq!(
                    head.expect("head")
                        .server_side_encryption()
                        .map(|s| s.as_str()),
                    Some("AES256")
                ),
                // An SSE-C object: HEAD without the key is refused.
                _ => assert!(head.is_err(), "SSE-C object answered HEAD without its key"),
            }
        });
    }
}
