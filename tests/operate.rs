//! Running ringstore as an operator does: config files, environment
//! variables and flags in their precedence, what the banner prints, and
//! `ringstore config check`.

mod common;

use common::scratch_dir;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// How long a server may take to print `ready`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn ringstore() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringstore"));
    // Nothing from the test runner's environment may set an option.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RINGSTORE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A server started by hand; killed on drop.
struct Started {
    child: Child,
    /// Everything it printed on stdout up to `ready`.
    banner: String,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(mut cmd: Command, log: &Path) -> Started {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).expect("log")));
    let mut child = cmd.spawn().expect("spawn ringstore");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut banner = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            banner.push_str(&line);
            banner.push('\n');
            if line == "ready" {
                let _ = tx.send(banner.clone());
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(banner) => Started { child, banner },
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no `ready` within {START_TIMEOUT:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
}

fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch_dir())
        .expect("tempdir")
}

#[test]
fn flags_beat_environment_beat_config_file_beat_defaults() {
    let tmp = scratch("ringstore-config-");
    let data = tmp.path().join("data-from-file");
    let file = tmp.path().join("ringstore.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\nshards = 1\nregion = \"file-region\"\n\
             domain = \"file.example\"\nsegment_mib = 16\nno_pin = true\nlog_format = \"json\"\n"
        ),
    )
    .expect("config");
    let mut cmd = ringstore();
    cmd.args(["serve", "--config"])
        .arg(&file)
        .args(["--shards", "2"])
        .env("RINGSTORE_REGION", "env-region")
        .env("RINGSTORE_SHARDS", "3");
    let server = start(cmd, &tmp.path().join("server.log"));
    // shards: flag (2) over environment (3) over file (1); region:
    // environment over file; data dir and listen address: the file.
    assert!(
        server.banner.contains("(2 shards, region env-region)"),
        "{}",
        server.banner
    );
    assert!(data.join("format.json").exists(), "data dir from the file");
    assert!(server.banner.contains("127.0.0.1:"), "{}", server.banner);
    // log_format = "json" from the file: every log line is a JSON object.
    let log = std::fs::read_to_string(tmp.path().join("server.log")).expect("log");
    let lines: Vec<&str> = log.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty(), "the server logged nothing");
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
}

#[test]
fn secrets_are_printed_on_the_first_start_only() {
    let tmp = scratch("ringstore-banner-");
    let data = tmp.path().join("data");
    let serve = || {
        let mut cmd = ringstore();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--shards",
            "1",
            "--segment-mib",
            "16",
        ])
        .arg("--data-dir")
        .arg(&data);
        cmd
    };
    let first = start(serve(), &tmp.path().join("first.log"));
    let creds: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("credentials.json")).expect("credentials.json"),
    )
    .expect("json");
    let secret = creds["secret_key"].as_str().expect("secret");
    let api_key = creds["admin_api_key"].as_str().expect("api key");
    let access = creds["access_key"].as_str().expect("access key");
    for s in [secret, api_key, access] {
        assert!(
            first.banner.contains(s),
            "first start shows {s}:\n{}",
            first.banner
        );
    }
    drop(first);
    let second = start(serve(), &tmp.path().join("second.log"));
    assert!(!second.banner.contains(secret), "{}", second.banner);
    assert!(!second.banner.contains(api_key), "{}", second.banner);
    assert!(second.banner.contains(access), "{}", second.banner);
    assert!(
        second
            .banner
            .contains(&data.join("credentials.json").display().to_string()),
        "says where the secrets are:\n{}",
        second.banner
    );
}

fn config_check(text: &str) -> (bool, String) {
    let tmp = scratch("ringstore-check-");
    let file = tmp.path().join("ringstore.toml");
    std::fs::write(&file, text).expect("write");
    let out = ringstore()
        .args(["config", "check"])
        .arg(&file)
        .output()
        .expect("run");
    (out.status.success(), text_of(&out))
}

fn text_of(out: &Output) -> String {
    text(out)
}

#[test]
fn config_check_accepts_a_good_file_and_names_what_is_wrong_in_a_bad_one() {
    let (ok, out) =
        config_check("listen = \"0.0.0.0:9000\"\ncache_mib = 512\nno_compaction = true\n");
    assert!(ok, "{out}");
    assert!(out.contains("OK (3 keys)"), "{out}");
    assert!(out.contains("cache_mib = \"512\"  (config file)"), "{out}");
    assert!(out.contains("region = \"us-east-1\"  (default)"), "{out}");

    for (file, needle) in [
        (
            "listen = \"0.0.0.0:9000\"\nlisten_addr = \"x\"\n",
            "unknown key `listen_addr`",
        ),
        ("shards = 0\n", "--shards must be at least 1"),
        ("shards = \"two\"\n", "key `shards`"),
        (
            "tls_listen = \"127.0.0.1:9443\"\n",
            "tls_listen, tls_cert and tls_key go together",
        ),
        ("log = \"info,[\"\n", "key `log`"),
        ("listen = \n", "ringstore.toml"),
    ] {
        let (ok, out) = config_check(file);
        assert!(!ok, "{file} passed:\n{out}");
        assert!(
            out.contains(needle),
            "{file}: expected {needle:?} in:\n{out}"
        );
    }
}

#[test]
fn a_bad_config_file_stops_the_start_with_the_key_named() {
    let tmp = scratch("ringstore-badconf-");
    let file = tmp.path().join("ringstore.toml");
    std::fs::write(&file, "data_dir = \"/nonexistent\"\ncache_mb = 64\n").expect("write");
    let out = ringstore()
        .args(["serve", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown key `cache_mb`"),
        "{}",
        text(&out)
    );
    // The environment names the file too.
    let out = ringstore()
        .env("RINGSTORE_CONFIG", &file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown key `cache_mb`"),
        "{}",
        text(&out)
    );
}

// ------------------------------------------------------------ graceful stop

mod stop {
    use super::common::{read_response, signed_request, Server};
    use std::io::{BufReader, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    /// The object in flight at SIGTERM: large enough that its body is still
    /// being sent when the signal arrives.
    const BIG_PUT_BYTES: usize = 48 * 1024 * 1024;
    /// A stop with nothing in flight takes well under this.
    const QUICK_EXIT: Duration = Duration::from_secs(10);

    fn now() -> i64 {
        ringstore::util::time::unix_now_millis() as i64 / 1000
    }

    fn request(server: &Server, method: &str, path: &str, body: &[u8]) -> u16 {
        let host = format!("127.0.0.1:{}", server.port);
        let mut s = TcpStream::connect(&host).expect("connect");
        s.write_all(&signed_request(method, path, "", &host, body, now(), &[]))
            .expect("send");
        read_response(&mut BufReader::new(s), method == "HEAD")
            .expect("response")
            .status
    }

    /// Waits until the server serves a request (its head read, so the
    /// connection counts as busy, not idle): a signal sent before that
    /// finds only idle connections and may rightly exit at once.
    fn wait_in_flight(server: &Server) {
        let deadline = Instant::now() + QUICK_EXIT;
        loop {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
            s.write_all(b"GET /_admin/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("send");
            let r = read_response(&mut BufReader::new(s), false).expect("metrics");
            let in_flight: u64 = r
                .body_text()
                .lines()
                .filter(|l| l.starts_with("ringstore_requests_in_flight"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum();
            if in_flight > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the request never started");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn get(server: &Server, path: &str) -> (u16, Vec<u8>) {
        let host = format!("127.0.0.1:{}", server.port);
        let mut s = TcpStream::connect(&host).expect("connect");
        s.write_all(&signed_request("GET", path, "", &host, b"", now(), &[]))
            .expect("send");
        let r = read_response(&mut BufReader::new(s), false).expect("response");
        (r.status, r.body)
    }

    /// SIGTERM while a large PUT's body is still arriving: the server stops
    /// accepting, closes an idle keep-alive connection, lets the PUT finish
    /// and acknowledge, exits 0 without waiting out the grace period, and
    /// the object is whole after a restart.
    #[test]
    fn a_large_put_in_flight_at_sigterm_completes_and_is_durable() {
        let mut server = Server::start(2);
        assert_eq!(request(&server, "PUT", "/stopping", b""), 200);
        let host = format!("127.0.0.1:{}", server.port);
        let body = super::common::pattern(BIG_PUT_BYTES, 7);
        let raw = signed_request("PUT", "/stopping/big", "", &host, &body, now(), &[]);
        let (head_and_half, rest) = raw.split_at(raw.len() - BIG_PUT_BYTES / 2);
        let mut put = TcpStream::connect(&host).expect("connect");
        put.write_all(head_and_half).expect("first half");
        wait_in_flight(&server);

        // A keep-alive connection that has been answered and now idles.
        let mut idle = TcpStream::connect(&host).expect("connect");
        idle.write_all(&signed_request(
            "HEAD",
            "/stopping",
            "",
            &host,
            b"",
            now(),
            &[],
        ))
        .expect("send");
        let mut idle_reader = BufReader::new(idle.try_clone().expect("clone"));
        assert_eq!(
            read_response(&mut idle_reader, true).expect("HEAD").status,
            200
        );

        server.signal(libc::SIGTERM);
        // The idle connection is closed: its next read sees the end.
        idle.set_read_timeout(Some(QUICK_EXIT)).expect("timeout");
        assert!(
            read_response(&mut idle_reader, false).is_none(),
            "the idle connection was not closed"
        );
        // No new connections are served.
        let refused = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            TcpStream::connect(&host).is_err()
        });
        assert!(refused, "still accepting after SIGTERM");
        assert!(
            server.wait_exit(Duration::from_millis(200)).is_none(),
            "exited mid-PUT"
        );

        put.write_all(rest).expect("second half");
        let answered = Instant::now();
        let r = read_response(&mut BufReader::new(put), false).expect("PUT answer");
        assert_eq!(r.status, 200, "{}", r.body_text());
        let status = server.wait_exit(QUICK_EXIT).expect("exits once drained");
        assert!(status.success(), "exit status {status:?}");
        assert!(answered.elapsed() < QUICK_EXIT);
        assert!(
            server.log().contains("stopped: every request answered"),
            "{}",
            server.log()
        );

        server.restart();
        let (status, got) = get(&server, "/stopping/big");
        assert_eq!(status, 200);
        assert!(
            got == body,
            "the object read back differs ({} bytes)",
            got.len()
        );
    }

    /// A second signal does not wait for the request in flight.
    #[test]
    fn a_second_signal_exits_at_once() {
        let mut server = Server::start_with(1, &["--shutdown-grace-secs", "600"]);
        assert_eq!(request(&server, "PUT", "/impatient", b""), 200);
        let host = format!("127.0.0.1:{}", server.port);
        let body = vec![5u8; 1024 * 1024];
        let raw = signed_request("PUT", "/impatient/never", "", &host, &body, now(), &[]);
        let mut put = TcpStream::connect(&host).expect("connect");
        put.write_all(&raw[..raw.len() / 2]).expect("half");
        wait_in_flight(&server);
        server.signal(libc::SIGTERM);
        assert!(
            server.wait_exit(Duration::from_millis(300)).is_none(),
            "exited mid-PUT"
        );
        server.signal(libc::SIGINT);
        let status = server.wait_exit(QUICK_EXIT).expect("exits at once");
        assert!(
            !status.success(),
            "a cut-short stop is not a clean exit: {status:?}"
        );
        drop(put);
        server.restart();
        assert_eq!(
            get(&server, "/impatient/never").0,
            404,
            "never acknowledged"
        );
    }
}

// ------------------------------------------------------------ ringstore admin

mod admin {
    use super::common::Server;
    use super::{ringstore, text};
    use serde_json::Value;
    use std::io::{BufReader, Write};

    /// Runs `ringstore admin ARGS` against `server` (API key from its data dir).
    fn admin(server: &Server, args: &[&str]) -> (bool, String) {
        let out = ringstore()
            .arg("admin")
            .args(["--endpoint", &server.endpoint])
            .arg("--data-dir")
            .arg(&server.data_dir)
            .args(args)
            .output()
            .expect("run ringstore admin");
        (out.status.success(), text(&out))
    }

    fn admin_json(server: &Server, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (ok, out) = admin(server, &all);
        assert!(ok, "admin {args:?} failed:\n{out}");
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("admin {args:?}: not JSON ({e}):\n{out}"))
    }

    /// A PUT of `body` to a presigned URL, over a raw connection.
    fn put_presigned(url: &str, body: &[u8]) -> u16 {
        let rest = url.strip_prefix("http://").expect("http url");
        let (host, target) = rest.split_at(rest.find('/').expect("path"));
        let mut s = std::net::TcpStream::connect(host).expect("connect");
        let head = format!(
            "PUT {target} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("head");
        s.write_all(body).expect("body");
        super::common::read_response(&mut BufReader::new(s), false)
            .expect("answer")
            .status
    }

    #[test]
    fn the_admin_cli_manages_a_live_server() {
        let server = Server::start(2);
        let (ok, out) = admin(&server, &["health"]);
        assert!(ok && out.contains("ready: yes"), "{out}");

        let cred = admin_json(&server, &["credentials", "create", "--user-name", "alice"]);
        let id = cred["id"].as_u64().expect("id");
        let access = cred["access_key"].as_str().expect("access key").to_string();
        assert!(
            cred["secret_key"].as_str().is_some_and(|s| s.len() >= 20),
            "{cred}"
        );
        let (ok, out) = admin(&server, &["credentials", "list"]);
        assert!(ok, "{out}");
        assert!(out.starts_with("ID  ACCESS_KEY"), "a table:\n{out}");
        assert!(out.contains(&access) && out.contains("alice"), "{out}");
        assert!(
            !out.contains(cred["secret_key"].as_str().unwrap_or("?")),
            "no secrets listed"
        );

        let (ok, out) = admin(
            &server,
            &["buckets", "create", "photos", "--owner-id", &id.to_string()],
        );
        assert!(ok && out.contains("bucket photos created"), "{out}");
        let presigned = admin_json(
            &server,
            &[
                "presign",
                "photos",
                "2026/a.jpg",
                "--access-key",
                &access,
                "--method",
                "PUT",
            ],
        );
        let url = presigned["url"].as_str().expect("url");
        assert_eq!(put_presigned(url, b"a holiday"), 200, "{url}");

        let usage = admin_json(&server, &["buckets", "usage", "photos"]);
        assert_eq!(
            (usage["object_count"].as_u64(), usage["total_size"].as_u64()),
            (Some(1), Some(9)),
            "{usage}"
        );
        let (ok, out) = admin(&server, &["buckets", "list"]);
        assert!(
            ok && out
                .lines()
                .any(|l| l.starts_with("photos") && l.contains("alice")),
            "{out}"
        );
        let stats = admin_json(&server, &["stats"]);
        assert_eq!(stats["objects"].as_u64(), Some(1), "{stats}");

        // The API's refusals come back as errors with its message.
        let (ok, out) = admin(&server, &["buckets", "delete", "photos"]);
        assert!(!ok, "a non-empty bucket was deleted:\n{out}");
        assert!(
            out.contains("409") || out.to_lowercase().contains("not empty"),
            "{out}"
        );

        let (ok, out) = admin(
            &server,
            &[
                "credentials",
                "update",
                &id.to_string(),
                "--active",
                "false",
            ],
        );
        assert!(ok, "{out}");
        let shown = admin_json(&server, &["credentials", "show", &id.to_string()]);
        assert_eq!(shown["is_active"], Value::Bool(false), "{shown}");
        assert_eq!(shown["bucket_count"].as_u64(), Some(1), "{shown}");

        // Without an API key: a message that says where it is looked for.
        let out = ringstore()
            .args([
                "admin",
                "--endpoint",
                &server.endpoint,
                "--data-dir",
                "/nonexistent",
                "stats",
            ])
            .output()
            .expect("run");
        assert!(!out.status.success());
        assert!(text(&out).contains("--api-key"), "{}", text(&out));
        // A wrong one: the server's 401.
        let out = ringstore()
            .args([
                "admin",
                "--endpoint",
                &server.endpoint,
                "--api-key",
                "rsk_wrong",
                "stats",
            ])
            .output()
            .expect("run");
        assert!(!out.status.success());
        assert!(text(&out).contains("401"), "{}", text(&out));
    }

    /// Versioning, lifecycle and policy set with `ringstore admin buckets`
    /// are what S3 clients (aws-sdk-s3, SigV4) then read back and meet.
    #[test]
    fn the_admin_cli_sets_versioning_lifecycle_and_policy() {
        use super::common::{rt, s3_client};
        use aws_sdk_s3::primitives::ByteStream;
        let server = Server::start(2);
        let rt = rt();
        let s3 = rt.block_on(s3_client(&server));
        rt.block_on(s3.create_bucket().bucket("docs").send())
            .expect("create");
        let (ok, out) = admin(&server, &["buckets", "versioning", "docs"]);
        assert!(ok && out.trim() == "Unversioned", "{out}");
        let (ok, out) = admin(&server, &["buckets", "versioning", "docs", "Enabled"]);
        assert!(ok && out.trim() == "Enabled", "{out}");
        let seen = rt
            .block_on(s3.get_bucket_versioning().bucket("docs").send())
            .expect("get versioning");
        assert_eq!(seen.status().map(|s| s.as_str()), Some("Enabled"));

        // A key written twice: one object, one older version, both sizes.
        for body in ["first", "second!"] {
            rt.block_on(
                s3.put_object()
                    .bucket("docs")
                    .key("a.txt")
                    .body(ByteStream::from_static(body.as_bytes()))
                    .send(),
            )
            .expect("put");
        }
        let usage = admin_json(&server, &["buckets", "usage", "docs"]);
        assert_eq!(
            (
                usage["object_count"].as_u64(),
                usage["noncurrent_versions"].as_u64(),
                usage["total_size"].as_u64(),
                usage["versioning"].as_str()
            ),
            (Some(1), Some(1), Some(5 + 7), Some("Enabled")),
            "{usage}"
        );
        let (ok, out) = admin(&server, &["buckets", "list"]);
        assert!(ok && out.contains("NONCURRENT_VERSIONS"), "{out}");

        // Lifecycle: S3's XML document in, S3's GetBucketLifecycleConfiguration out.
        let dir = super::scratch("admin-cli-config");
        let rules = dir.path().join("lifecycle.xml");
        std::fs::write(
            &rules,
            "<LifecycleConfiguration><Rule><ID>old-logs</ID><Filter><Prefix>logs/</Prefix></Filter>\
             <Status>Enabled</Status><Expiration><Days>30</Days></Expiration>\
             <NoncurrentVersionExpiration><NoncurrentDays>7</NoncurrentDays></NoncurrentVersionExpiration>\
             </Rule></LifecycleConfiguration>",
        )
        .expect("write rules");
        let rules_arg = rules.to_str().expect("utf-8 path");
        let (ok, out) = admin(
            &server,
            &["buckets", "lifecycle", "docs", "--set", rules_arg],
        );
        assert!(ok, "{out}");
        assert!(
            out.contains("old-logs")
                && out.contains("prefix \"logs/\"")
                && out.contains("expire after 30 days")
                && out.contains("noncurrent versions after 7 days"),
            "{out}"
        );
        let got = rt
            .block_on(
                s3.get_bucket_lifecycle_configuration()
                    .bucket("docs")
                    .send(),
            )
            .expect("get lifecycle");
        let rule = &got.rules()[0];
        assert_eq!(rule.id(), Some("old-logs"));
        assert_eq!(rule.expiration().and_then(|e| e.days()), Some(30));
        // A bad document is refused with S3's error, and nothing changes.
        std::fs::write(&rules, "<LifecycleConfiguration><Rule>").expect("write");
        let (ok, out) = admin(
            &server,
            &["buckets", "lifecycle", "docs", "--set", rules_arg],
        );
        assert!(
            !ok && out.contains("400") && out.contains("MalformedXML"),
            "{out}"
        );
        let (ok, out) = admin(&server, &["buckets", "lifecycle", "docs"]);
        assert!(ok && out.contains("old-logs"), "{out}");
        let (ok, out) = admin(&server, &["buckets", "lifecycle", "docs", "--delete"]);
        assert!(ok, "{out}");
        let gone = rt.block_on(
            s3.get_bucket_lifecycle_configuration()
                .bucket("docs")
                .send(),
        );
        assert!(
            gone.is_err_and(|e| format!("{e:?}").contains("NoSuchLifecycleConfiguration")),
            "the rules stayed"
        );

        // Policy: a public-read document makes an unsigned GET work.
        let policy = dir.path().join("policy.json");
        std::fs::write(
            &policy,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
                "Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*"}]}"#,
        )
        .expect("write policy");
        let anonymous_get = || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
            let req = format!(
                "GET /docs/a.txt HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
                server.port
            );
            s.write_all(req.as_bytes()).expect("write");
            super::common::read_response(&mut BufReader::new(s), false)
                .expect("answer")
                .status
        };
        assert_eq!(anonymous_get(), 403, "private before the policy");
        let (ok, out) = admin(
            &server,
            &[
                "buckets",
                "policy",
                "docs",
                "--set",
                policy.to_str().expect("utf-8"),
            ],
        );
        assert!(ok && out.contains("public: true"), "{out}");
        assert_eq!(anonymous_get(), 200, "the policy allows anyone to read");
        let (ok, out) = admin(&server, &["buckets", "policy", "docs", "--delete"]);
        assert!(ok, "{out}");
        assert_eq!(anonymous_get(), 403, "private again");
        let (ok, out) = admin(&server, &["buckets", "policy", "docs"]);
        assert!(ok && out.contains("(no policy)"), "{out}");

        // A multipart upload in progress: listed, then aborted.
        let up = rt
            .block_on(
                s3.create_multipart_upload()
                    .bucket("docs")
                    .key("big/backup.tar")
                    .send(),
            )
            .expect("create upload");
        let id = up.upload_id().expect("upload id");
        let (ok, out) = admin(&server, &["buckets", "uploads", "docs"]);
        assert!(
            ok && out.contains(id) && out.contains("big/backup.tar"),
            "{out}"
        );
        let (ok, out) = admin(
            &server,
            &["buckets", "abort-upload", "docs", "big/backup.tar", id],
        );
        assert!(ok && out.contains("aborted"), "{out}");
        let left = rt
            .block_on(s3.list_multipart_uploads().bucket("docs").send())
            .expect("list uploads");
        assert!(left.uploads().is_empty(), "{:?}", left.uploads());
        let (ok, out) = admin(
            &server,
            &["buckets", "abort-upload", "docs", "big/backup.tar", id],
        );
        assert!(!ok && out.contains("404"), "aborted twice: {out}");
    }
}
