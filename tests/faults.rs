//! Fault injection (docs/faults.md) seen by real clients over TCP with real
//! SigV4: aws-sdk-s3 and raw signed requests against servers started with
//! `--faults FILE`, and rules changed live through the admin API.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::{admin_call, pattern, rt, s3_client, signed_request, RawResponse, Server};
use serde_json::{json, Value};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Starts a server with `rules` (TOML) as its `--faults` file and the rule
/// header on.
fn server_with_rules(shards: usize, rules: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
    let path: PathBuf = dir.path().join("faults.toml");
    std::fs::write(&path, rules).expect("write rules");
    let path = path.to_str().expect("utf-8 path").to_string();
    let server = Server::start_with(shards, &["--faults", &path, "--faults-header"]);
    (server, dir)
}

/// One signed request on a fresh connection.
fn send(server: &Server, method: &str, path: &str, body: &[u8]) -> RawResponse {
    let host = format!("127.0.0.1:{}", server.port);
    let now = ringstore::util::time::unix_now();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(&signed_request(method, path, "", &host, body, now, &[]))
        .expect("write");
    common::read_response(&mut BufReader::new(s), method == "HEAD")
        .unwrap_or_else(|| panic!("{method} {path}: no complete answer"))
}

fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("<none>").to_string()
}

/// The server's fault counters: (rule, action) -> injected, summed over shards.
fn faults_injected(server: &Server) -> Vec<(String, String, u64)> {
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(b"GET /_admin/metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("write");
    let r = common::read_response(&mut BufReader::new(s), false).expect("metrics");
    let mut sums: Vec<(String, String, u64)> = Vec::new();
    for line in r.body_text().lines() {
        let Some(labels) = line.strip_prefix("ringstore_faults_injected_total{") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_string()
        };
        let n: u64 = line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let (rule, action) = (label("rule"), label("action"));
        match sums.iter_mut().find(|(r, a, _)| *r == rule && *a == action) {
            Some(entry) => entry.2 += n,
            None => sums.push((rule, action, n)),
        }
    }
    sums.sort();
    sums
}

fn injected(server: &Server, rule: &str) -> u64 {
    faults_injected(server)
        .iter()
        .filter(|(r, _, _)| r == rule)
        .map(|(_, _, n)| n)
        .sum()
}

#[test]
fn an_injected_error_reaches_the_sdk_with_its_code_and_a_refused_write_stores_nothing() {
    let (server, _rules) = server_with_rules(
        2,
        r#"
[[rules]]
id = "refuse-uploads"
match = { operations = ["PutObject"], key_prefix = "refused/" }
action = { error = { code = "InvalidObjectState", status = 403, message = "injected" } }
"#,
    );
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("bkt")
            .send()
            .await
            .expect("create");
        for (key, len) in [("refused/small", 100), ("refused/large", 3 << 20)] {
            let e = s3
                .put_object()
                .bucket("bkt")
                .key(key)
                .body(ByteStream::from(pattern(len, 1)))
                .send()
                .await
                .expect_err("the rule refuses it");
            let e = e.into_service_error();
            assert_eq!(code_of(&e), "InvalidObjectState", "{e:?}");
            let head = s3.head_object().bucket("bkt").key(key).send().await;
            assert!(
                head.expect_err("nothing stored")
                    .into_service_error()
                    .is_not_found(),
                "{key}"
            );
        }
        // No fault where the rule does not match: another prefix, another operation.
        s3.put_object()
            .bucket("bkt")
            .key("kept/x")
            .body(ByteStream::from_static(b"kept"))
            .send()
            .await
            .expect("not matched: stored");
        assert_eq!(common::get_bytes(&s3, "bkt", "kept/x").await, b"kept");
    });
    let r = send(&server, "PUT", "/bkt/refused/raw", b"body");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-ringstore-fault"), Some("refuse-uploads"));
    let text = r.body_text();
    assert!(text.contains("<Code>InvalidObjectState</Code>"), "{text}");
    assert!(text.contains("<Message>injected</Message>"), "{text}");
    assert!(
        text.contains("<Resource>/bkt/refused/raw</Resource>"),
        "{text}"
    );
    let r = send(&server, "GET", "/bkt/kept/x", b"");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-ringstore-fault"),
        None,
        "not matched: no header"
    );
    assert_eq!(injected(&server, "refuse-uploads"), 3);
}

#[test]
fn the_sdk_retries_through_a_reset_on_every_second_request() {
    // One shard: "every 2nd" is counted per shard, so this makes it exact.
    let (server, _rules) = server_with_rules(
        1,
        r#"
[[rules]]
id = "reset-every-2nd"
match = { operations = ["PutObject", "GetObject"], buckets = ["flaky"] }
every = 2
action = { reset = {} }
"#,
    );
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("flaky")
            .send()
            .await
            .expect("create");
        for i in 0..4u64 {
            let body = pattern(20_000 + i as usize, i);
            let key = format!("k{i}");
            s3.put_object()
                .bucket("flaky")
                .key(&key)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("PUT {key} through resets: {e:?}"));
            assert_eq!(common::get_bytes(&s3, "flaky", &key).await, body);
        }
    });
    // 8 operations, every other request reset and retried: each reset
    // made one more request, so at least 4 resets happened.
    let resets = injected(&server, "reset-every-2nd");
    assert!(
        resets >= 4,
        "{resets} resets: {:?}",
        faults_injected(&server)
    );
}

#[test]
fn a_truncated_or_reset_get_body_is_detected_by_the_client() {
    let (server, _rules) = server_with_rules(
        1,
        r#"
[[rules]]
id = "cut"
match = { operations = ["GetObject"], key_prefix = "cut/" }
action = { truncate = { after_bytes = 1000 } }

[[rules]]
id = "reset-midway"
match = { operations = ["GetObject"], key_prefix = "reset/" }
action = { reset_mid_body = { after_bytes = 100000 } }
"#,
    );
    let object = pattern(300_000, 7);
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("bkt")
            .send()
            .await
            .expect("create");
        for key in ["cut/x", "reset/x"] {
            s3.put_object()
                .bucket("bkt")
                .key(key)
                .body(ByteStream::from(object.clone()))
                .send()
                .await
                .expect("put");
            // The head arrives whole; the body does not.
            let got = s3.get_object().bucket("bkt").key(key).send().await;
            let got = match got {
                Ok(out) => {
                    assert_eq!(out.content_length(), Some(object.len() as i64));
                    out.body.collect().await.map(|b| b.into_bytes().len())
                }
                Err(e) => panic!("{key}: the head should arrive: {e:?}"),
            };
            assert!(
                got.is_err(),
                "{key}: a short body must be an error, got {got:?}"
            );
        }
    });
    // On the wire: the full Content-Length, then 1000 bytes and the end.
    let host = format!("127.0.0.1:{}", server.port);
    let now = ringstore::util::time::unix_now();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.write_all(&signed_request(
        "GET",
        "/bkt/cut/x",
        "",
        &host,
        b"",
        now,
        &[],
    ))
    .expect("write");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&all[..split]).to_lowercase();
    assert!(
        head.contains(&format!("content-length: {}", object.len())),
        "{head}"
    );
    assert!(head.contains("x-ringstore-fault: cut"), "{head}");
    assert_eq!(&all[split..], &object[..1000]);
    assert_eq!(injected(&server, "cut"), 2);
    assert_eq!(injected(&server, "reset-midway"), 1);
}

#[test]
fn a_latency_rule_delays_matching_answers_and_a_slow_body_is_paced() {
    let (server, _rules) = server_with_rules(
        2,
        r#"
[[rules]]
id = "slow-heads"
match = { operations = ["HeadObject"], buckets = ["slow"] }
action = { latency = { fixed_ms = 300 } }

[[rules]]
id = "slow-body"
match = { operations = ["GetObject"], buckets = ["slow"], min_size = 10000 }
action = { slow_body = { bytes_per_sec = 20000 } }

[[rules]]
id = "slow-upload"
match = { operations = ["PutObject"], key_prefix = "up/" }
action = { slow_body = { bytes_per_sec = 100000 } }

[[rules]]
id = "chunky"
match = { operations = ["GetObject"], key_prefix = "chunky/" }
action = { chunk_latency = { fixed_ms = 100 } }
"#,
    );
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        for b in ["slow", "fast"] {
            s3.create_bucket().bucket(b).send().await.expect("create");
            s3.put_object()
                .bucket(b)
                .key("k")
                .body(ByteStream::from(pattern(30_000, 3)))
                .send()
                .await
                .expect("put");
        }
        for _ in 0..3 {
            let t = Instant::now();
            s3.head_object()
                .bucket("slow")
                .key("k")
                .send()
                .await
                .expect("head");
            let took = t.elapsed();
            assert!(took >= Duration::from_millis(300), "{took:?}");
        }
        // 30000 bytes at 20000 a second: the last byte is due after the
        // first 29000 had their 1.45 s.
        let t = Instant::now();
        let body = common::get_bytes(&s3, "slow", "k").await;
        let took = t.elapsed();
        assert_eq!(body, pattern(30_000, 3), "a slow body arrives whole");
        assert!(took >= Duration::from_millis(1400), "{took:?}");
        // An upload read at 100000 bytes a second: the server reads at
        // most 128 KiB at once, so the last read waits for the first
        // 400000 - 131072 bytes' 2.69 s.
        let t = Instant::now();
        s3.put_object()
            .bucket("fast")
            .key("up/x")
            .body(ByteStream::from(pattern(400_000, 4)))
            .send()
            .await
            .expect("a slowly read upload completes");
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(2000), "{took:?}");
        assert_eq!(
            common::get_bytes(&s3, "fast", "up/x").await,
            pattern(400_000, 4)
        );
        // 1 MiB is stored as at least four records of at most 256 KiB, so
        // its body goes out in at least four pieces: three waits between.
        s3.put_object()
            .bucket("fast")
            .key("chunky/x")
            .body(ByteStream::from(pattern(1 << 20, 5)))
            .send()
            .await
            .expect("put");
        let t = Instant::now();
        let body = common::get_bytes(&s3, "fast", "chunky/x").await;
        let took = t.elapsed();
        assert_eq!(body, pattern(1 << 20, 5));
        assert!(took >= Duration::from_millis(300), "{took:?}");
    });
    let r = send(&server, "HEAD", "/slow/k", b"");
    assert_eq!(r.header("x-ringstore-fault"), Some("slow-heads"));
    // Not matched: another bucket, or an object under min_size.
    assert_eq!(
        send(&server, "HEAD", "/fast/k", b"").header("x-ringstore-fault"),
        None
    );
    assert_eq!(
        send(&server, "GET", "/fast/k", b"").header("x-ringstore-fault"),
        None
    );
    assert_eq!(injected(&server, "slow-heads"), 4);
    assert_eq!(injected(&server, "slow-body"), 1);
    assert_eq!(injected(&server, "slow-upload"), 1);
    assert_eq!(injected(&server, "chunky"), 1);
}

fn put_rules(server: &Server, rules: Value) -> (u16, Value) {
    admin_call(server, "PUT", "faults", rules.to_string().as_bytes())
}

#[test]
fn a_schedule_turns_an_outage_on_then_off() {
    let server = Server::start_with(2, &["--faults-header"]);
    let (from, to) = (1.0, 2.5);
    let sent = Instant::now();
    let (status, v) = put_rules(
        &server,
        json!({ "rules": [{
            "id": "outage",
            "match": { "buckets": ["sched"] },
            "schedule": { "from_secs": from, "to_secs": to },
            "action": { "error": { "code": "ServiceUnavailable" } },
        }]}),
    );
    assert_eq!(status, 200, "{v}");
    // The server's clock for the schedule starts after `sent`: a response
    // seen at client time t came at server time <= t. So an outage answer
    // seen at t means t >= from, and a good answer after the outage means
    // t >= to. Only these lower bounds are asserted.
    let mut seen: Vec<(f64, u16)> = Vec::new();
    let deadline = sent + Duration::from_secs(30);
    loop {
        let r = send(&server, "GET", "/sched", b"");
        let t = sent.elapsed().as_secs_f64();
        seen.push((t, r.status));
        if r.status == 503 {
            assert!(t >= from, "outage answer at {t:.2}s, before {from}s");
            assert_eq!(r.header("x-ringstore-fault"), Some("outage"));
            assert!(r.body_text().contains("<Code>ServiceUnavailable</Code>"));
        }
        let after_outage = seen.iter().any(|&(_, s)| s == 503);
        if after_outage && r.status != 503 {
            assert!(t >= to, "outage over at {t:.2}s, before {to}s");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no outage and recovery in 30 s: {seen:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Before the window, the bucket answered normally (404: it does not exist).
    assert!(seen.iter().all(|&(_, s)| s == 503 || s == 404), "{seen:?}");
    if seen[0].0 < from {
        assert_eq!(seen[0].1, 404, "{seen:?}");
    }
}

#[test]
fn rules_are_listed_replaced_and_cleared_live_on_every_shard() {
    let server = Server::start_with(2, &["--faults-header"]);
    let (status, v) = admin_call(&server, "GET", "faults", b"");
    assert_eq!((status, &v["rules"]), (200, &json!([])), "{v}");
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        s3.create_bucket()
            .bucket("live")
            .send()
            .await
            .expect("create");
    });
    let rule = json!({
        "id": "live-outage",
        "match": { "buckets": ["live"], "methods": ["GET"] },
        "action": { "error": { "code": "SlowDown", "retry_after_secs": 2 } },
    });
    let (status, v) = put_rules(&server, json!({ "rules": [rule] }));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rules"], json!([rule]));
    // Fresh connections land on both shards: every one sees the rule.
    for _ in 0..8 {
        let r = send(&server, "GET", "/live", b"");
        assert_eq!(r.status, 503);
        assert_eq!(r.header("x-ringstore-fault"), Some("live-outage"));
        assert_eq!(r.header("retry-after"), Some("2"));
        assert!(r.body_text().contains("<Code>SlowDown</Code>"));
        assert_eq!(
            send(&server, "HEAD", "/live", b"").status,
            200,
            "HEAD not matched"
        );
    }
    // A bad set changes nothing, and its error names the rule and field.
    let (status, v) = put_rules(
        &server,
        json!({ "rules": [{ "id": "bad", "probability": 2.0, "action": { "reset": {} } }] }),
    );
    assert_eq!(status, 400, "{v}");
    let msg = v["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("rules[0]") && msg.contains("probability"),
        "{msg}"
    );
    let (status, v) = put_rules(
        &server,
        json!({ "rules": [{ "id": "x", "action": { "nope": {} } }] }),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        send(&server, "GET", "/live", b"").status,
        503,
        "still in force"
    );
    let (status, v) = admin_call(&server, "DELETE", "faults", b"");
    assert_eq!((status, &v["rules"]), (200, &json!([])), "{v}");
    for _ in 0..8 {
        let r = send(&server, "GET", "/live", b"");
        assert_eq!(r.status, 200, "cleared on every shard");
        assert_eq!(r.header("x-ringstore-fault"), None);
    }
    assert_eq!(injected(&server, "live-outage"), 9);
}

/// The rules-file example of docs/faults.md, as a server runs it.
#[test]
fn the_documented_example_does_what_the_documentation_says() {
    let (server, _rules) = server_with_rules(1, &ringstore::faults::spec::docs_example());
    rt().block_on(async {
        let s3 = s3_client(&server).await;
        for b in ["media", "reports"] {
            s3.create_bucket().bucket(b).send().await.expect("create");
        }
        // One upload in ten is throttled; the SDK's retries get them all in.
        for i in 0..20 {
            s3.put_object()
                .bucket("media")
                .key(format!("photos/{i}.jpg"))
                .body(ByteStream::from(pattern(2000, i)))
                .send()
                .await
                .expect("put through throttling");
        }
        // Photos wait before the head (a log-normal: no lower bound worth
        // asserting per request, so the header is the check); others do not.
        s3.put_object()
            .bucket("media")
            .key("big")
            .body(ByteStream::from(pattern(1 << 20, 9)))
            .send()
            .await
            .expect("put big");
        s3.put_object()
            .bucket("reports")
            .key("q1")
            .body(ByteStream::from_static(b"report"))
            .send()
            .await
            .expect("the outage starts a minute in");
        // Every 5th GET of the big object is reset midway; the 5th fails.
        for n in 1..=5 {
            let out = s3.get_object().bucket("media").key("big").send().await;
            let body = match out {
                Ok(o) => o.body.collect().await.map(|b| b.into_bytes().len()),
                Err(e) => panic!("GET big #{n}: {e:?}"),
            };
            assert_eq!(body.is_err(), n == 5, "GET big #{n}: {body:?}");
        }
    });
    let r = send(&server, "GET", "/media/photos/1.jpg", b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ringstore-fault"), Some("slow-photos"));
    assert_eq!(send(&server, "GET", "/reports/q1", b"").status, 200);
    assert!(injected(&server, "throttle-uploads") >= 1);
    assert_eq!(injected(&server, "flaky-downloads"), 1);
}

/// Runs the ringstore binary with `args`; (success, stdout + stderr). Killed
/// (and reported as still running) after `limit`.
fn run_ringstore(args: &[&str], limit: Duration) -> (bool, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringstore"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringstore");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            return (false, format!("still running after {limit:?}: {out:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_admin_cli_sets_lists_and_clears_rules_and_a_bad_file_changes_nothing() {
    let server = Server::start(2);
    let dir = tempfile::tempdir_in(common::scratch_dir()).expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[rules]]\nid = \"cli-outage\"\nmatch = { buckets = [\"cli\"] }\n\
         action = { error = { code = \"ServiceUnavailable\" } }\n",
    )
    .expect("write");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"rules": [{"id": "x", "probability": 3, "action": {"reset": {}}}]}"#,
    )
    .expect("write");
    let data_dir = server.data_dir.to_str().expect("utf-8").to_string();
    let admin = |args: &[&str]| {
        let mut all = vec![
            "admin",
            "--endpoint",
            &server.endpoint,
            "--data-dir",
            &data_dir,
        ];
        all.extend_from_slice(args);
        run_ringstore(&all, Duration::from_secs(30))
    };
    let (ok, out) = admin(&["faults", "set", good.to_str().expect("utf-8")]);
    assert!(ok, "{out}");
    assert!(out.contains("cli-outage: error"), "{out}");
    for _ in 0..4 {
        let r = send(&server, "GET", "/cli", b"");
        assert_eq!(r.status, 503);
        assert_eq!(r.header("x-ringstore-fault"), None, "no --faults-header");
    }
    let (ok, out) = admin(&["faults", "set", bad.to_str().expect("utf-8")]);
    assert!(!ok, "a bad file is refused: {out}");
    assert!(
        out.contains("rules[0]") && out.contains("probability"),
        "{out}"
    );
    let (ok, out) = admin(&["--json", "faults", "list"]);
    assert!(ok, "{out}");
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["rules"][0]["id"], "cli-outage", "unchanged: {v}");
    let (ok, out) = admin(&["faults", "clear"]);
    assert!(ok && out.contains("0 rule(s)"), "{out}");
    for _ in 0..4 {
        assert_eq!(
            send(&server, "GET", "/cli", b"").status,
            404,
            "no such bucket"
        );
    }
    // The same bad file at start: the server does not start, and says why.
    let fresh = dir.path().join("data");
    let (ok, out) = run_ringstore(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--shards",
            "1",
            "--data-dir",
            fresh.to_str().expect("utf-8"),
            "--faults",
            bad.to_str().expect("utf-8"),
        ],
        Duration::from_secs(30),
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("bad.json") && out.contains("rules[0]") && out.contains("probability"),
        "{out}"
    );
}

/// A refused upload that waits for `100 Continue` gets the error instead
/// and the connection closes: the client is never left holding its body.
/// A reset after the commit is S3's "did it land?": no answer, yet stored.
#[test]
fn a_refused_upload_is_not_left_waiting_and_a_reset_after_commit_has_landed() {
    let (server, _rules) = server_with_rules(
        1,
        r#"
[[rules]]
id = "refuse"
match = { operations = ["PutObject"], key_prefix = "refused/" }
action = { error = { code = "SlowDown" } }

[[rules]]
id = "landed"
match = { operations = ["PutObject"], key_prefix = "landed/" }
action = { reset = { after_commit = true } }
"#,
    );
    assert_eq!(send(&server, "PUT", "/bkt", b"").status, 200);
    let host = format!("127.0.0.1:{}", server.port);
    let now = ringstore::util::time::unix_now();
    let body = pattern(1_000_000, 2);
    let request = common::signed_request(
        "PUT",
        "/bkt/refused/big",
        "",
        &host,
        &body,
        now,
        &[("expect", "100-continue")],
    );
    let head_len = request.len() - body.len();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(&request[..head_len]).expect("head only");
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("the server answers and closes");
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains("<Code>SlowDown</Code>"), "{text}");
    assert_eq!(send(&server, "HEAD", "/bkt/refused/big", b"").status, 404);

    let request = signed_request("PUT", "/bkt/landed/x", "", &host, b"landed", now, &[]);
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(&request).expect("write");
    let mut answer = Vec::new();
    let read = s.read_to_end(&mut answer);
    assert!(
        answer.is_empty() && read.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "a reset, no answer: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let r = send(&server, "GET", "/bkt/landed/x", b"");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"landed"[..]),
        "it landed"
    );
    assert_eq!(injected(&server, "refuse"), 1);
    assert_eq!(injected(&server, "landed"), 1);
}
