//! `ringstore bench` end to end: a bounded run against a real server with
//! --verify must finish with zero errors and a JSON report that counts the
//! operations; a run with the wrong secret must fail and say why; and the
//! HTTP floor answers the generator. Against injected faults and rate
//! limits (issue 29): errors counted by S3 code and transport error,
//! `--retries` completing every operation through SlowDown and resets but
//! not retrying a body cut short, and `--rate` offering its rate and
//! measuring latency from each operation's scheduled start.

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

/// A one-shard server (so `every = N` rules count exactly, docs/faults.md)
/// with `rules` as its `--faults` file.
fn server_with_faults(rules: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
    let path = dir.path().join("faults.toml");
    std::fs::write(&path, rules).expect("write rules");
    let path = path.to_str().expect("utf-8 path").to_string();
    (Server::start_with(1, &["--faults", &path]), dir)
}

/// Runs bench with `extra` and a JSON report; returns (succeeded, report).
fn bench_json(server: &Server, extra: &[&str]) -> (bool, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("report.json");
    let mut args = extra.to_vec();
    args.extend(["--json", json.to_str().unwrap()]);
    let out = bench(&server.endpoint, SECRET_KEY, &args);
    if !json.exists() {
        panic!(
            "no report: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success(), read_json(&json))
}

const FAULT_RULES: &str = r#"
[[rules]]
id = "slow-puts"
match = { operations = ["PutObject"], key_prefix = "slow/" }
every = 4
action = { error = { code = "SlowDown" } }

[[rules]]
id = "reset-gets"
match = { operations = ["GetObject"], key_prefix = "reset/" }
every = 5
action = { reset = {} }

[[rules]]
id = "cut-gets"
match = { operations = ["GetObject"], key_prefix = "cut/" }
every = 5
action = { truncate = {} }

[[rules]]
id = "stall-gets"
match = { operations = ["GetObject"], key_prefix = "stall/" }
every = 10
action = { latency = { fixed_ms = 200 } }
"#;

fn count(report: &serde_json::Value, map: &str, label: &str) -> u64 {
    report[map][label].as_u64().unwrap_or(0)
}

/// Every 4th PUT answers 503 SlowDown, every 5th GET of another prefix is
/// reset before its answer, every 5th of a third has its body cut short:
/// the report counts each by operation and code, exactly (one shard).
#[test]
fn errors_are_counted_by_s3_code_and_transport_error() {
    let (server, _rules) = server_with_faults(FAULT_RULES);
    let run = |prefix: &str, workload: &str| {
        bench_json(
            &server,
            &[
                "--workload",
                workload,
                "--prefix",
                prefix,
                "--objects",
                "10",
                "--ops",
                "100",
                "-c",
                "4",
            ],
        )
    };
    let (ok, r) = run("slow/", "put");
    assert!(!ok, "a run with errors exits non-zero");
    assert_eq!(count(&r, "errors", "PUT 503 SlowDown"), 25, "{r}");
    assert_eq!(
        (r["error_count"].clone(), r["total_ops"].clone()),
        (25.into(), 75.into()),
        "{r}"
    );
    assert_eq!(r["requests"], 100, "{r}");

    let (_, r) = run("reset/", "get");
    assert_eq!(count(&r, "errors", "GET io: connection reset"), 20, "{r}");
    assert_eq!(
        (r["error_count"].clone(), r["total_ops"].clone()),
        (20.into(), 80.into()),
        "{r}"
    );

    let (_, r) = run("cut/", "get");
    assert_eq!(
        count(&r, "errors", "GET io: unexpected end of file mid-body"),
        20,
        "{r}"
    );
    assert_eq!(r["error_count"], 20, "{r}");
}

/// `--retries`: SlowDown and a reset before the answer are retried (with
/// the standard mode's backoff, a small base to keep the test short) until
/// every operation completes, and the retries are counted by code; a GET
/// body cut short is not retried, as the SDKs do not retry a body they have
/// handed over.
#[test]
fn retries_complete_operations_through_slowdown_and_resets() {
    let (server, _rules) = server_with_faults(FAULT_RULES);
    let run = |prefix: &str, workload: &str, ops: &str| {
        bench_json(
            &server,
            &[
                "--workload",
                workload,
                "--prefix",
                prefix,
                "--objects",
                "10",
                "--ops",
                ops,
                "-c",
                "4",
                "--retries",
                "5",
                "--retry-base",
                "5ms",
            ],
        )
    };
    // n requests, every 4th refused, 60 succeed, the last one not refused:
    // n - n/4 = 60 and n % 4 != 0, n = 79.
    let (ok, r) = run("slow/", "put", "60");
    assert!(ok, "{r}");
    assert_eq!(
        (r["error_count"].clone(), r["total_ops"].clone()),
        (0.into(), 60.into()),
        "{r}"
    );
    assert_eq!(count(&r, "retried", "PUT 503 SlowDown"), 19, "{r}");
    assert_eq!(r["requests"], 79, "{r}");

    // n - n/5 = 100 and n % 5 != 0: n = 124, 24 resets.
    let (ok, r) = run("reset/", "get", "100");
    assert!(ok, "{r}");
    assert_eq!(r["total_ops"], 100, "{r}");
    assert_eq!(count(&r, "retried", "GET io: connection reset"), 24, "{r}");

    let (ok, r) = run("cut/", "get", "100");
    assert!(!ok);
    assert_eq!(
        count(&r, "errors", "GET io: unexpected end of file mid-body"),
        20,
        "{r}"
    );
    assert_eq!(r["retry_count"], 0, "{r}");
}

/// Against a credential limited to 20 requests per second (burst 5): an
/// open-loop run offering 100/s gets SlowDown for the excess and no more
/// successes than the limit allows; a closed-loop run with `--retries`
/// completes every upload through the limit.
#[test]
fn a_rate_limit_shows_as_slowdown_and_retries_get_through_it() {
    let server = Server::start_with(2, &["--rate-limit-credential", "20:5"]);
    let (ok, r) = bench_json(
        &server,
        &[
            "--workload",
            "put",
            "--rate",
            "100",
            "--duration",
            "2s",
            "-c",
            "8",
        ],
    );
    assert!(!ok);
    let (done, refused) = (
        r["total_ops"].as_u64().unwrap(),
        r["error_count"].as_u64().unwrap(),
    );
    assert_eq!(count(&r, "errors", "PUT 503 SlowDown"), refused, "{r}");
    assert_eq!(
        done + refused + r["rate"]["unsent"].as_u64().unwrap(),
        200,
        "{r}"
    );
    assert!(refused > 0, "{r}");
    // The bucket's 5 plus 20/s over the run, and slack for the limiter's
    // stated bound (docs/rate-limits.md) and the bucket creation.
    let secs = r["elapsed_secs"].as_f64().unwrap();
    assert!(
        (done as f64) <= 5.0 + 20.0 * secs * 1.1 + 5.0,
        "{done} in {secs}s: {r}"
    );

    let (ok, r) = bench_json(
        &server,
        &[
            "--bucket",
            "smoke-retry",
            "--workload",
            "put",
            "--ops",
            "60",
            "-c",
            "4",
            "--retries",
            "10",
            "--retry-base",
            "50ms",
        ],
    );
    assert!(ok, "{r}");
    assert_eq!(r["total_ops"], 60, "{r}");
    assert!(count(&r, "retried", "PUT 503 SlowDown") > 0, "{r}");
}

/// `--rate`: an open-loop run sends what the schedule offers (never more)
/// and reports offered beside achieved; with one connection and every 10th
/// GET stalled 200 ms, the operations queued behind each stall count their
/// wait (latency from the scheduled start, not from the send), so the
/// median is far above a GET's own time.
#[test]
fn open_loop_offers_its_rate_and_counts_latency_from_the_schedule() {
    let (server, _rules) = server_with_faults(FAULT_RULES);
    let (ok, r) = bench_json(
        &server,
        &[
            "--workload",
            "put",
            "--rate",
            "100",
            "--duration",
            "3s",
            "-c",
            "4",
        ],
    );
    assert!(ok, "{r}");
    let done = r["total_ops"].as_u64().unwrap();
    assert_eq!(done + r["rate"]["unsent"].as_u64().unwrap(), 300, "{r}");
    assert!(done >= 240, "a 100/s schedule barely kept: {r}");
    assert_eq!(r["rate"]["offered_ops_per_sec"], 100.0, "{r}");
    assert_eq!(r["rate"]["mode"], "open loop", "{r}");
    let achieved = r["rate"]["achieved_ops_per_sec"].as_f64().unwrap();
    assert!(achieved <= 101.0, "faster than offered: {r}");

    // Every 10th GET waits 200 ms; one connection, one GET due every 20 ms:
    // the nine behind each stall wait 180, 160, ... 20 ms on top.
    let (ok, r) = bench_json(
        &server,
        &[
            "--workload",
            "get",
            "--prefix",
            "stall/",
            "--objects",
            "5",
            "--rate",
            "50",
            "--ops",
            "50",
            "-c",
            "1",
        ],
    );
    assert!(ok, "{r}");
    let lat = &r["operations"]["GET"]["latency"];
    assert!(lat["p50_ms"].as_f64().unwrap() >= 40.0, "{r}");
    assert!(lat["max_ms"].as_f64().unwrap() >= 200.0, "{r}");
}
