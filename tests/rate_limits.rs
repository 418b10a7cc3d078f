//! Rate limits (docs/rate-limits.md) seen by clients over TCP with real
//! SigV4: limits from `serve` flags and set live through the admin API,
//! enforced on every shard, answered 503 SlowDown.
//!
//! Counts are checked against the bound docs/rate-limits.md states: over
//! T seconds a limit of `rate` and `burst` admits at most `rate * T +
//! burst` (plus the requests in flight at the window's edges), and at
//! least `rate * T` less a tolerance when every shard has clients using
//! its slice. No test bounds how long anything takes.

mod common;

use common::{admin_call, read_response, signed_request, RawResponse, Server};
use serde_json::json;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pause after each answer before the next request, so 32 clients on a
/// 2-core machine keep every shard's slice in use without starving it.
const PAUSE_BETWEEN_REQUESTS: Duration = Duration::from_millis(2);
/// Lower tolerance on admitted requests (the clients' window starts a
/// little before every connection is busy).
const LOW_TOLERANCE: f64 = 0.05;

/// One signed request on a fresh connection.
fn send(server: &Server, method: &str, path: &str, body: &[u8]) -> RawResponse {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    send_on(&mut s, server, method, path, body)
}

fn send_on(
    s: &mut TcpStream,
    server: &Server,
    method: &str,
    path: &str,
    body: &[u8],
) -> RawResponse {
    let host = format!("127.0.0.1:{}", server.port);
    let now = ringstore::util::time::unix_now();
    s.write_all(&signed_request(method, path, "", &host, body, now, &[]))
        .expect("write");
    read_response(&mut BufReader::new(s.try_clone().expect("clone")), false)
        .unwrap_or_else(|| panic!("{method} {path}: no complete answer"))
}

fn is_slow_down(r: &RawResponse) -> bool {
    r.status == 503 && r.body_text().contains("<Code>SlowDown</Code>")
}

/// Requests answered (OK, SlowDown) when `conns` connections send GETs of
/// `paths` (round robin over connections) for `secs` seconds. Any other
/// answer fails the test.
fn hammer(server: &Server, paths: &[&str], conns: usize, secs: f64) -> Vec<(u64, u64)> {
    let counts: Arc<Vec<(AtomicU64, AtomicU64)>> = Arc::new(
        (0..paths.len())
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect(),
    );
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    std::thread::scope(|scope| {
        for c in 0..conns {
            let (counts, i) = (counts.clone(), c % paths.len());
            let path = paths[i].to_string();
            scope.spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
                while Instant::now() < deadline {
                    let r = send_on(&mut s, server, "GET", &path, b"");
                    if r.status == 200 {
                        counts[i].0.fetch_add(1, Ordering::Relaxed);
                    } else {
                        assert!(
                            is_slow_down(&r),
                            "GET {path}: {} {}",
                            r.status,
                            r.body_text()
                        );
                        counts[i].1.fetch_add(1, Ordering::Relaxed);
                    }
                    std::thread::sleep(PAUSE_BETWEEN_REQUESTS);
                }
            });
        }
    });
    counts
        .iter()
        .map(|(ok, slow)| (ok.load(Ordering::Relaxed), slow.load(Ordering::Relaxed)))
        .collect()
}

/// `ringstore_rate_limited_total` by (shard, limit kind).
fn throttled(server: &Server) -> Vec<(String, String, u64)> {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /_admin/metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    let r = read_response(&mut BufReader::new(s), false).expect("metrics");
    let mut out = Vec::new();
    for line in r.body_text().lines() {
        let Some(rest) = line.strip_prefix("ringstore_rate_limited_total{") else {
            continue;
        };
        let label = |name: &str| {
            rest.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let n = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        out.push((label("shard"), label("limit"), n));
    }
    out
}

/// Whether every one of `shards` shards refused requests for `limit`.
fn every_shard_throttled(server: &Server, limit: &str, shards: usize) -> bool {
    let per = throttled(server);
    (0..shards).all(|s| {
        per.iter()
            .any(|(sh, l, n)| *sh == s.to_string() && l == limit && *n > 0)
    })
}

fn put_object(server: &Server, path: &str) {
    let r = send(server, "PUT", path, b"rate");
    assert_eq!(r.status, 200, "PUT {path}: {}", r.body_text());
}

/// Asserts `ok` requests were admitted in `secs` under `rate`/`burst`,
/// with `conns` requests possibly in flight at the window's edges.
fn assert_within_bound(ok: u64, rate: f64, burst: f64, secs: f64, conns: usize, what: &str) {
    let low = (rate * secs * (1.0 - LOW_TOLERANCE)) as u64;
    let high = (rate * secs + burst) as u64 + conns as u64;
    assert!(
        (low..=high).contains(&ok),
        "{what}: {ok} admitted in {secs} s; the bound is {low}..={high}"
    );
}

#[test]
fn a_credential_limited_to_100_per_sec_gets_100_per_sec_from_32_connections_on_2_shards() {
    let server = Server::start_with(2, &["--rate-limit-credential", "100:10"]);
    assert_eq!(send(&server, "PUT", "/rate-lim", b"").status, 200);
    put_object(&server, "/rate-lim/k");
    // Let the bucket refill from the set-up requests.
    std::thread::sleep(Duration::from_millis(200));
    let (ok, slow) = hammer(&server, &["/rate-lim/k"], 32, 10.0)[0];
    eprintln!("100/s over 10 s from 32 connections: {ok} OK, {slow} SlowDown");
    assert_within_bound(ok, 100.0, 10.0, 10.0, 32, "credential at 100/s");
    assert!(
        slow > ok,
        "the clients offered more than the limit: {slow} SlowDown"
    );
    assert!(
        every_shard_throttled(&server, "credential", 2),
        "both shards enforce their slice: {:?}",
        throttled(&server)
    );
}

#[test]
fn a_bucket_limit_set_live_reaches_both_shards_and_spares_other_buckets() {
    let server = Server::start(2);
    for b in ["slow", "fast"] {
        assert_eq!(send(&server, "PUT", &format!("/{b}"), b"").status, 200);
        put_object(&server, &format!("/{b}/k"));
    }
    let limits = json!({ "buckets": { "slow": { "requests_per_sec": 20, "burst": 2 } } });
    let (status, v) = admin_call(&server, "PUT", "rate-limits", limits.to_string().as_bytes());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["buckets"]["slow"]["requests_per_sec"], 20.0);
    let counts = hammer(&server, &["/slow/k", "/fast/k"], 16, 4.0);
    eprintln!("bucket at 20/s for 4 s: {counts:?}");
    assert_within_bound(counts[0].0, 20.0, 2.0, 4.0, 8, "bucket at 20/s");
    assert_eq!(counts[1].1, 0, "the unlimited bucket saw no SlowDown");
    assert!(
        every_shard_throttled(&server, "bucket", 2),
        "{:?}",
        throttled(&server)
    );

    // Cleared live: no SlowDown on fresh connections of either shard.
    let (status, v) = admin_call(&server, "DELETE", "rate-limits", b"");
    assert_eq!(status, 200, "{v}");
    for _ in 0..60 {
        assert_eq!(send(&server, "GET", "/slow/k", b"").status, 200);
    }
}

#[test]
fn each_key_prefix_has_its_own_limit() {
    let server = Server::start_with(
        2,
        &[
            "--rate-limit-prefix",
            "20:2",
            "--rate-limit-prefix-depth",
            "1",
        ],
    );
    assert_eq!(send(&server, "PUT", "/prefixes", b"").status, 200);
    for key in ["a/1", "a/x/2", "b/1"] {
        // a/1 and a/x/2 share a slice of one request at once: wait for a token.
        std::thread::sleep(Duration::from_millis(150));
        put_object(&server, &format!("/prefixes/{key}"));
    }
    std::thread::sleep(Duration::from_millis(200));
    let counts = hammer(
        &server,
        &["/prefixes/a/1", "/prefixes/a/x/2", "/prefixes/b/1"],
        12,
        4.0,
    );
    eprintln!("prefixes at 20/s for 4 s: {counts:?}");
    // a/1 and a/x/2 share prefix a/; b/1 has its own.
    assert_within_bound(counts[0].0 + counts[1].0, 20.0, 2.0, 4.0, 8, "prefix a/");
    assert_within_bound(counts[2].0, 20.0, 2.0, 4.0, 4, "prefix b/");
    assert!(
        every_shard_throttled(&server, "prefix", 2),
        "{:?}",
        throttled(&server)
    );
}

#[test]
fn bad_admin_input_names_the_field_and_changes_nothing() {
    let server = Server::start(2);
    let good = json!({ "credentials": { "AKGOOD": { "requests_per_sec": 5 } } });
    let (status, _) = admin_call(&server, "PUT", "rate-limits", good.to_string().as_bytes());
    assert_eq!(status, 200);
    for (body, field) in [
        (
            json!({ "credentials": { "AK1": { "requests_per_sec": 5 }, "AK2": { "requests_per_sec": -1 } } }),
            "credentials.AK2.requests_per_sec",
        ),
        (
            json!({ "buckets": { "b": { "requests_per_sec": 5, "burst": "lots" } } }),
            "buckets.b",
        ),
        (json!({ "bucket": {} }), "bucket"),
    ] {
        let (status, v) = admin_call(&server, "PUT", "rate-limits", body.to_string().as_bytes());
        assert_eq!(status, 400, "{body}: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: `{message}` names {field}");
    }
    let (status, v) = admin_call(&server, "GET", "rate-limits", b"");
    assert_eq!(status, 200);
    assert_eq!(
        v["credentials"]["AKGOOD"]["requests_per_sec"].as_f64(),
        Some(5.0),
        "nothing half-applied: {v}"
    );
    assert_eq!(
        v["credentials"].as_object().map(|o| o.len()),
        Some(1),
        "{v}"
    );
    assert_eq!(v["buckets"], json!({}));
}

#[test]
fn bad_rate_limit_flags_and_environment_are_refused_naming_the_option() {
    for (args, env, want) in [
        (
            &["--rate-limit-credential", "abc"][..],
            None,
            "--rate-limit-credential",
        ),
        (
            &["--rate-limit-bucket", "10:0"][..],
            None,
            "--rate-limit-bucket",
        ),
        (
            &["--rate-limit-prefix-depth", "0"][..],
            None,
            "--rate-limit-prefix-depth",
        ),
        (
            &[][..],
            Some(("RINGSTORE_RATE_LIMIT_PREFIX", "-5")),
            "--rate-limit-prefix",
        ),
    ] {
        let dir = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"));
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path())
            .args(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run ringstore");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} was accepted");
        assert!(
            text.contains(want),
            "{args:?} {env:?}: `{text}` names {want}"
        );
    }
}

/// An upload over its limit is refused before its body is read: a client
/// waiting for `100 Continue` gets the SlowDown instead and a closed
/// connection; one that sent its body gets the SlowDown; nothing is stored.
#[test]
fn an_upload_over_its_limit_is_refused_before_its_body_and_stores_nothing() {
    use std::io::Read;
    let server = Server::start(1);
    assert_eq!(send(&server, "PUT", "/up-bkt", b"").status, 200);
    let one_then_none =
        json!({ "buckets": { "up-bkt": { "requests_per_sec": 0.001, "burst": 1 } } });
    let (status, v) = admin_call(
        &server,
        "PUT",
        "rate-limits",
        one_then_none.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{v}");
    put_object(&server, "/up-bkt/first");

    let host = format!("127.0.0.1:{}", server.port);
    let body = common::pattern(1_000_000, 7);
    let now = ringstore::util::time::unix_now();
    let expect = [("expect", "100-continue")];
    let request = signed_request("PUT", "/up-bkt/big", "", &host, &body, now, &expect);
    let head_len = request.len() - body.len();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    // A guard against a hang, not a bound on time.
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(&request[..head_len]).expect("head only");
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("the server answers and closes");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");

    let r = send(&server, "PUT", "/up-bkt/whole", &body);
    assert!(is_slow_down(&r), "{} {}", r.status, r.body_text());

    let (status, _) = admin_call(&server, "DELETE", "rate-limits", b"");
    assert_eq!(status, 200);
    for key in ["big", "whole"] {
        assert_eq!(
            send(&server, "HEAD", &format!("/up-bkt/{key}"), b"").status,
            404,
            "{key}"
        );
    }
    assert_eq!(send(&server, "GET", "/up-bkt/first", b"").status, 200);
}

/// `ringstore admin rate-limits`: one credential's and one bucket's limit
/// set, each keeping the other; listed; a bad value refused before any
/// call; cleared.
#[test]
fn the_admin_cli_sets_lists_and_clears_named_limits() {
    let server = Server::start_with(2, &["--rate-limit-prefix", "3500"]);
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ringstore"))
            .arg("admin")
            .arg("--endpoint")
            .arg(&server.endpoint)
            .arg("--data-dir")
            .arg(&server.data_dir)
            .args(args)
            .output()
            .expect("run ringstore admin");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = admin(&["rate-limits", "credential", "AKCLI", "7:3"]);
    assert!(ok, "{text}");
    let (ok, text) = admin(&["rate-limits", "bucket", "cli-bucket", "9"]);
    assert!(ok, "{text}");
    assert!(text.contains("credentials AKCLI: 7/s, burst 3"), "{text}");
    assert!(text.contains("buckets cli-bucket: 9/s"), "{text}");
    assert!(
        text.contains("every key prefix (depth 1): 3500/s"),
        "{text}"
    );
    let (status, v) = admin_call(&server, "GET", "rate-limits", b"");
    assert_eq!(status, 200);
    assert_eq!(
        v["credentials"]["AKCLI"]["burst"].as_f64(),
        Some(3.0),
        "{v}"
    );
    assert_eq!(
        v["buckets"]["cli-bucket"]["requests_per_sec"].as_f64(),
        Some(9.0),
        "{v}"
    );

    let (ok, text) = admin(&["rate-limits", "bucket", "cli-bucket", "fast"]);
    assert!(!ok && text.contains("rate `fast`"), "{text}");
    let (ok, text) = admin(&["rate-limits", "clear"]);
    assert!(ok, "{text}");
    let (_, v) = admin_call(&server, "GET", "rate-limits", b"");
    assert_eq!(
        (v["credentials"].clone(), v["buckets"].clone()),
        (json!({}), json!({}))
    );
}

/// One connection reaches one shard: that shard borrows the idle shard's
/// unused tokens by message, so the client gets its whole limit, not half.
#[test]
fn one_connection_gets_the_whole_limit_through_borrowed_tokens() {
    let server = Server::start_with(2, &["--rate-limit-credential", "100:10"]);
    assert_eq!(send(&server, "PUT", "/one-conn", b"").status, 200);
    put_object(&server, "/one-conn/k");
    std::thread::sleep(Duration::from_millis(200));
    let (ok, slow) = hammer(&server, &["/one-conn/k"], 1, 5.0)[0];
    eprintln!("100/s over 5 s from one connection: {ok} OK, {slow} SlowDown");
    assert!(slow > 0, "the client offered more than the limit");
    assert_within_bound(ok, 100.0, 10.0, 5.0, 1, "one connection at 100/s");
}

/// A byte limit: answers are charged as they are sent, and requests wait
/// while the limit is in debt. Over T seconds at most `BYTES * T + BYTES`
/// (one second's worth at once) plus one answer per connection in flight.
#[test]
fn a_bucket_byte_limit_holds_its_bytes_per_second() {
    const OBJECT_BYTES: usize = 20_000;
    const BYTES_PER_SEC: f64 = 200_000.0;
    let server = Server::start(2);
    assert_eq!(send(&server, "PUT", "/bytes-bkt", b"").status, 200);
    let r = send(
        &server,
        "PUT",
        "/bytes-bkt/k",
        &common::pattern(OBJECT_BYTES, 3),
    );
    assert_eq!(r.status, 200);
    let limits = json!({ "buckets": { "bytes-bkt": { "requests_per_sec": 1000, "bytes_per_sec": BYTES_PER_SEC } } });
    let (status, v) = admin_call(&server, "PUT", "rate-limits", limits.to_string().as_bytes());
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["buckets"]["bytes-bkt"]["bytes_per_sec"].as_f64(),
        Some(BYTES_PER_SEC)
    );
    let (secs, conns) = (4.0, 8);
    let (ok, slow) = hammer(&server, &["/bytes-bkt/k"], conns, secs)[0];
    eprintln!("200 kB/s of 20 kB GETs for 4 s from 8 connections: {ok} OK, {slow} SlowDown");
    let per_sec = BYTES_PER_SEC / OBJECT_BYTES as f64;
    // The burst is one second's worth of bytes.
    assert_within_bound(ok, per_sec, per_sec, secs, conns, "GETs under 200 kB/s");
    assert!(slow > 0);
}

/// The metrics' text.
fn metrics(server: &Server) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /_admin/metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    read_response(&mut BufReader::new(s), false)
        .expect("metrics")
        .body_text()
}

/// Metrics name no access key or bucket unless `--rate-limit-metric-names`
/// asks for it; then refusals are counted per access key and bucket name,
/// and the per-name counts add up to the per-kind ones.
#[test]
fn refusals_by_name_appear_in_metrics_only_when_asked() {
    for with_names in [false, true] {
        let mut args = vec!["--rate-limit-bucket", "2:2"];
        if with_names {
            args.push("--rate-limit-metric-names");
        }
        let server = Server::start_with(1, &args);
        assert_eq!(send(&server, "PUT", "/named-lim", b"").status, 200);
        let slow = (0..10)
            .filter(|_| is_slow_down(&send(&server, "GET", "/named-lim/no-such-key", b"")))
            .count() as u64;
        assert!(slow > 0, "ten requests at once exceed a burst of 2");
        let text = metrics(&server);
        let by_kind: u64 = throttled(&server)
            .iter()
            .filter(|(_, l, _)| l == "bucket")
            .map(|e| e.2)
            .sum();
        assert_eq!(by_kind, slow, "{text}");
        let series =
            "ringstore_rate_limited_by_name_total{shard=\"0\",limit=\"bucket\",name=\"named-lim\"}";
        if with_names {
            let line = text
                .lines()
                .find(|l| l.starts_with(series))
                .unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                line.rsplit(' ').next(),
                Some(slow.to_string().as_str()),
                "{text}"
            );
        } else {
            assert!(
                !text.contains("named-lim"),
                "a bucket name in metrics: {text}"
            );
            assert!(
                !text.contains(common::ACCESS_KEY),
                "an access key in metrics"
            );
        }
    }
}
