//! Shared fixtures of the integration tests: a real ringstore process on a
//! loopback port, real SigV4 clients, and the Python venv with boto3, the
//! aws CLI and s3cmd (created under target/ on first use).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "RSTESTACCESSKEY00001";
pub const SECRET_KEY: &str = "ringstore/test/secret/key/0000000000000";
pub const REGION: &str = "us-east-1";
/// How long a server may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which storage backend `Server::start*` runs (`on_both_backends!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The log on disk (the default).
    Log,
    /// `serve --memory`.
    Memory,
    /// The log on disk with `--index disk` (object metadata on disk).
    DiskIndex,
}

thread_local! {
    static BACKEND: std::cell::Cell<Backend> = const { std::cell::Cell::new(Backend::Log) };
}

/// Runs `test` with the servers it starts on this thread on `backend`.
pub fn on_backend(backend: Backend, test: fn()) {
    BACKEND.with(|b| b.set(backend));
    test();
}

/// The backend servers started on this thread run.
pub fn backend() -> Backend {
    BACKEND.with(|b| b.get())
}

/// Makes each named test function (a plain `fn()` starting its servers
/// with `Server::start*`) a test on the log store (`log_store::NAME`), one
/// on the memory backend (`memory::NAME`) and one on the log store with
/// its index on disk (`disk_index::NAME`): one body, every backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod log_store {
            $(#[test]
            fn $name() {
                $crate::common::on_backend($crate::common::Backend::Log, super::$name)
            })+
        }
        mod memory {
            $(#[test]
            fn $name() {
                $crate::common::on_backend($crate::common::Backend::Memory, super::$name)
            })+
        }
        mod disk_index {
            $(#[test]
            fn $name() {
                $crate::common::on_backend($crate::common::Backend::DiskIndex, super::$name)
            })+
        }
    };
}

/// A running server process. Killed (SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    pub endpoint: String,
    pub port: u16,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub shards: usize,
    extra_args: Vec<String>,
    /// Where stderr goes instead of `server.log` (see `start_logging_to`).
    log_sink: Option<PathBuf>,
    /// Pass the fixture's small `--segment-mib` (off: the server's default).
    small_segments: bool,
    /// The (soft, hard) RLIMIT_NOFILE the process starts with (see `start_with_nofile`).
    nofile: Option<(u64, u64)>,
    /// Runs `serve --memory` (its catalog dir, from the banner, becomes `data_dir`).
    pub memory: bool,
}

impl Server {
    /// Starts a server with `shards` shards on a fresh data dir.
    pub fn start(shards: usize) -> Server {
        Server::start_with(shards, &[])
    }

    pub fn start_with(shards: usize, extra: &[&str]) -> Server {
        Server::start_full(shards, extra, None)
    }

    /// Starts a server whose stderr (its log) goes to `sink`, e.g. /dev/full.
    pub fn start_logging_to(shards: usize, sink: &Path) -> Server {
        Server::start_full(shards, &[], Some(sink.to_path_buf()))
    }

    /// Starts a server whose open file limit starts at `soft` / `hard`.
    pub fn start_with_nofile(shards: usize, extra: &[&str], soft: u64, hard: u64) -> Server {
        let mut s = Server::unstarted(shards, extra, None);
        s.nofile = Some((soft, hard));
        s.spawn(0);
        s
    }

    fn start_full(shards: usize, extra: &[&str], log_sink: Option<PathBuf>) -> Server {
        let mut s = Server::unstarted(shards, extra, log_sink);
        s.spawn(0);
        s
    }

    fn unstarted(shards: usize, extra: &[&str], log_sink: Option<PathBuf>) -> Server {
        let tmp = tempfile::Builder::new()
            .prefix("ringstore-test-")
            .tempdir_in(scratch_dir())
            .expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if backend() == Backend::DiskIndex && !extra.contains(&"--index") {
            extra_args.extend(["--index".to_string(), "disk".to_string()]);
        }
        Server {
            child: None,
            endpoint: String::new(),
            port: 0,
            data_dir,
            _tmp: Some(tmp),
            shards,
            extra_args,
            log_sink,
            small_segments: !extra.contains(&"--segment-mib"),
            nofile: None,
            memory: backend() == Backend::Memory || extra.contains(&"--memory"),
        }
    }

    /// Starts a server on `data_dir` (its log beside it) with the server's
    /// own default segment size unless `extra` names one.
    pub fn start_in(data_dir: PathBuf, shards: usize, extra: &[&str]) -> Server {
        let mut s = Server {
            child: None,
            endpoint: String::new(),
            port: 0,
            data_dir,
            _tmp: None,
            shards,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            log_sink: None,
            small_segments: false,
            nofile: None,
            memory: false,
        };
        s.spawn(0);
        s
    }

    fn spawn(&mut self, port: u16) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringstore"));
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--shards")
            .arg(self.shards.to_string())
            .args(if self.small_segments {
                &["--segment-mib", "16"][..]
            } else {
                &[][..]
            })
            .args(&self.extra_args)
            .args(
                if self.memory && !self.extra_args.iter().any(|a| a == "--memory") {
                    &["--memory"][..]
                } else {
                    &[][..]
                },
            )
            .env("RINGSTORE_ACCESS_KEY", ACCESS_KEY)
            .env("RINGSTORE_SECRET_KEY", SECRET_KEY)
            .env(
                "RINGSTORE_LOG",
                std::env::var("RINGSTORE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            // A memory server's catalog dir goes under the test's own.
            .env("TMPDIR", self.data_dir.parent().expect("data dir's parent"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.log_path())
                    .expect("server log"),
            ));
        if let Some((soft, hard)) = self.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: only setrlimit(2), async-signal-safe, between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: soft as libc::rlim_t,
                        rlim_max: hard as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn ringstore");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut endpoint, mut catalog) = (None, None);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ringstore is listening on ") {
                    endpoint = rest.split_whitespace().next().map(str::to_string);
                }
                if let Some(rest) = line.strip_prefix("catalog dir: ") {
                    catalog = rest.split_whitespace().next().map(PathBuf::from);
                }
                if line == "ready" {
                    let _ = tx.send(endpoint.clone().map(|e| (e, catalog.clone())));
                }
            }
        });
        let endpoint = rx
            .recv_timeout(START_TIMEOUT)
            .ok()
            .flatten()
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "ringstore did not start within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            });
        let (endpoint, catalog) = endpoint;
        if self.memory {
            self.data_dir = catalog.expect("a memory server names its catalog dir");
        }
        self.port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in endpoint");
        self.endpoint = endpoint;
        self.child = Some(child);
    }

    /// Where the server's stderr (tracing logs) goes.
    pub fn log_path(&self) -> PathBuf {
        match &self.log_sink {
            Some(sink) => sink.clone(),
            None => self.data_dir.with_file_name("server.log"),
        }
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        match &self.log_sink {
            // Not a log file (e.g. /dev/full, which reads as endless zeros).
            Some(sink) => format!("(the log went to {})", sink.display()),
            None => std::fs::read_to_string(self.log_path()).unwrap_or_default(),
        }
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Graceful-ish stop (SIGTERM), then wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data dir and port.
    pub fn restart(&mut self) {
        self.kill9();
        let port = self.port;
        self.spawn(port);
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends `sig` (e.g. libc::SIGTERM) to the server process.
    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as i32, sig);
            }
        }
    }

    /// Waits up to `limit` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // A failing test shows what the server said last: its data dir,
        // log included, goes away with it.
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(SERVER_LOG_TAIL_LINES)..];
            eprintln!("--- the server's last log lines ---\n{}", tail.join("\n"));
        }
    }
}

/// Lines of the server's log a failing test prints.
const SERVER_LOG_TAIL_LINES: usize = 60;

/// Where test data dirs live: under target/ (a real disk, so O_DIRECT works; /tmp may be tmpfs).
pub fn scratch_dir() -> PathBuf {
    let dir = target_dir().join("test-scratch");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// The tokio runtime the SDK-driven tests run on (two workers: the machine has two cores).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// An aws-sdk-s3 client with its default configuration, pointed at `server`.
pub async fn s3_client(server: &Server) -> aws_sdk_s3::Client {
    s3_client_with(server, ACCESS_KEY, SECRET_KEY).await
}

/// The whole body of GET bucket/key (panics on any error).
pub async fn get_bytes(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

pub async fn s3_client_with(server: &Server, access: &str, secret: &str) -> aws_sdk_s3::Client {
    let creds =
        aws_credential_types::Credentials::new(access, secret, None, None, "ringstore-tests");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(&server.endpoint)
        .load()
        .await;
    let s3conf = aws_sdk_s3::config::Builder::from(&conf)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3conf)
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The venv with boto3, awscli and s3cmd; created on first call (serialised across test binaries by a lock file).
pub fn python_env() -> PathBuf {
    let venv = target_dir().join("pyenv");
    let stamp = venv.join(".installed");
    let reqs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
    let want = std::fs::read_to_string(&reqs).expect("requirements.txt");
    std::fs::create_dir_all(target_dir()).expect("target dir");
    let lock = std::fs::File::create(target_dir().join("pyenv.lock")).expect("lock file");
    // SAFETY: flock on a file we own; released when `lock` is dropped.
    unsafe {
        libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX);
    }
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return venv;
    }
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 -m venv")
        .success();
    assert!(ok, "creating the venv failed");
    // `python -m pip`, not `bin/pip`: a venv copied from another checkout keeps
    // that checkout's path in bin/pip's shebang and would install there.
    let ok = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(&reqs)
        .status()
        .expect("pip install")
        .success();
    assert!(ok, "pip install -r tests/python/requirements.txt failed");
    std::fs::write(&stamp, want).expect("stamp");
    venv
}

/// Runs the pytest file `tests/python/<file>` against `server`; panics with its output on failure.
pub fn run_pytest(server: &Server, file: &str, extra_env: &[(&str, &str)]) {
    let venv = python_env();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(file);
    let out = Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"])
        .arg(&path)
        .env("S3_ENDPOINT", &server.endpoint)
        .env("S3_ACCESS_KEY", ACCESS_KEY)
        .env("S3_SECRET_KEY", SECRET_KEY)
        .env("S3_REGION", REGION)
        .env(
            "PATH",
            format!(
                "{}:{}",
                venv.join("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(extra_env.iter().copied())
        .output()
        .expect("run pytest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pytest {file} failed:\n{text}");
    eprintln!("{text}");
}

/// A raw HTTP/1.1 request signed with SigV4 header auth at time `now`
/// (built on the golden-tested functions in ringstore::auth::sigv4).
pub fn signed_request(
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    body: &[u8],
    now: i64,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let payload = ringstore::auth::sigv4::sha256_hex(body);
    signed_request_with_payload(method, path, query, host, body, &payload, now, extra)
}

/// Like `signed_request`, with an explicit x-amz-content-sha256 (e.g. a STREAMING-* mode).
#[allow(clippy::too_many_arguments)]
pub fn signed_request_with_payload(
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    body: &[u8],
    payload: &str,
    now: i64,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let creds = (ACCESS_KEY, SECRET_KEY);
    signed_request_by(creds, method, path, query, host, body, payload, now, extra)
}

/// `signed_request`, signed with another credential's `(access, secret)`.
#[allow(clippy::too_many_arguments)]
pub fn signed_request_as(
    creds: (&str, &str),
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    body: &[u8],
    now: i64,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let payload = ringstore::auth::sigv4::sha256_hex(body);
    signed_request_by(creds, method, path, query, host, body, &payload, now, extra)
}

#[allow(clippy::too_many_arguments)]
fn signed_request_by(
    (access_key, secret_key): (&str, &str),
    method: &str,
    path: &str,
    query: &str,
    host: &str,
    body: &[u8],
    payload: &str,
    now: i64,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    use ringstore::auth::sigv4;
    let amz_date = ringstore::util::time::amz_date(now);
    let date = &amz_date[..8];
    let payload = payload.to_string();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host.into()),
        ("x-amz-content-sha256".into(), payload.clone()),
        ("x-amz-date".into(), amz_date.clone()),
    ];
    for (n, v) in extra {
        headers.push((n.to_ascii_lowercase(), v.to_string()));
    }
    headers.sort();
    let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let hv: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let creq = sigv4::canonical_request(
        method,
        &sigv4::canonical_uri(path).expect("uri"),
        &sigv4::canonical_query(query, false).expect("query"),
        &hv,
        &signed,
        &payload,
    )
    .expect("canonical request");
    let scope = sigv4::scope(date, REGION, "s3");
    let sts = sigv4::string_to_sign(&amz_date, &scope, &creq);
    let key = sigv4::signing_key(secret_key, date, REGION, "s3");
    let sig = sigv4::hmac_hex(&key, sts.as_bytes());
    let target = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    for (n, v) in &headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "authorization: AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={}, Signature={sig}\r\n",
        signed.join(";")
    ));
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One parsed HTTP response off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (Content-Length framed; HEAD-aware) from `r`.
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> Option<RawResponse> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).ok()?;
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![
        0u8;
        if head_request || status == 100 {
            0
        } else {
            len
        }
    ];
    std::io::Read::read_exact(r, &mut body).ok()?;
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// A PUT with `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: the payload is split into
/// `chunk` sized aws-chunked chunks, each signed and chained from the seed
/// signature of the head (the AWS "Transferring Payload in Multiple Chunks" scheme).
/// `tamper` flips one payload byte after signing, to test rejection.
pub fn streaming_signed_put(
    path: &str,
    host: &str,
    payload: &[u8],
    chunk: usize,
    now: i64,
    tamper: bool,
) -> Vec<u8> {
    use ringstore::auth::sigv4;
    let amz_date = ringstore::util::time::amz_date(now);
    let date = &amz_date[..8];
    let scope = sigv4::scope(date, REGION, "s3");
    let key = sigv4::signing_key(SECRET_KEY, date, REGION, "s3");
    let mut framed = Vec::new();
    let chunks: Vec<&[u8]> = payload
        .chunks(chunk.max(1))
        .chain(std::iter::once(&[][..]))
        .collect();
    // Each chunk header costs hex(len) + ";chunk-signature=" + 64 + CRLF; the body CRLF too.
    let encoded_len: usize = chunks
        .iter()
        .map(|c| format!("{:x}", c.len()).len() + 17 + 64 + 2 + c.len() + 2)
        .sum();
    let decoded = payload.len().to_string();
    let encoded = encoded_len.to_string();
    let headers: Vec<(String, String)> = {
        let mut h = vec![
            ("content-encoding".to_string(), "aws-chunked".to_string()),
            ("content-length".to_string(), encoded.clone()),
            ("host".to_string(), host.to_string()),
            (
                "x-amz-content-sha256".to_string(),
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_string(),
            ),
            ("x-amz-date".to_string(), amz_date.clone()),
            ("x-amz-decoded-content-length".to_string(), decoded),
        ];
        h.sort();
        h
    };
    let signed: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let hv: Vec<(&str, &[u8])> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let creq = sigv4::canonical_request(
        "PUT",
        &sigv4::canonical_uri(path).expect("uri"),
        "",
        &hv,
        &signed,
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    )
    .expect("canonical request");
    let mut prev = sigv4::hmac_hex(
        &key,
        sigv4::string_to_sign(&amz_date, &scope, &creq).as_bytes(),
    );
    let seed = prev.clone();
    for c in &chunks {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev}\n{}\n{}",
            sigv4::sha256_hex(b""),
            sigv4::sha256_hex(c)
        );
        let sig = sigv4::hmac_hex(&key, sts.as_bytes());
        framed.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
        framed.extend_from_slice(c);
        framed.extend_from_slice(b"\r\n");
        prev = sig;
    }
    assert_eq!(framed.len(), encoded_len);
    if tamper && !payload.is_empty() {
        // The first data byte sits right after the first chunk header line.
        let at = framed
            .iter()
            .position(|&b| b == b'\n')
            .expect("header line")
            + 1;
        framed[at] ^= 0x01;
    }
    let mut out = format!("PUT {path} HTTP/1.1\r\n");
    for (n, v) in &headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "authorization: AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={}, Signature={seed}\r\n\r\n",
        signed.join(";")
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&framed);
    bytes
}

/// The parts of a browser's `multipart/form-data` POST Object body around
/// the file's content: the fields and the file part's headers, then the
/// closing delimiter.
pub fn form_parts(boundary: &str, fields: &[(&str, &str)], filename: &str) -> (Vec<u8>, Vec<u8>) {
    let mut head = Vec::new();
    for (name, value) in fields {
        head.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    head.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    (head, format!("\r\n--{boundary}--\r\n").into_bytes())
}

/// A whole POST Object body: `fields`, then `file`.
pub fn form_body(boundary: &str, fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
    let (head, tail) = form_parts(boundary, fields, "upload.bin");
    [head.as_slice(), file, tail.as_slice()].concat()
}

/// A SigV4 POST policy for `bucket` (any key, files up to `max` bytes),
/// signed with the test credential: the form fields that carry it.
pub fn post_policy_fields(bucket: &str, key: &str, max: u64) -> Vec<(String, String)> {
    use base64::Engine;
    use ringstore::auth::sigv4;
    let now = ringstore::util::time::unix_now();
    let date = ringstore::util::time::amz_date(now);
    let credential = format!("{}/{}/{}/s3/aws4_request", ACCESS_KEY, &date[..8], REGION);
    let expiration = ringstore::util::time::iso8601_millis((now + 600) * 1000);
    let policy = format!(
        "{{\"expiration\": \"{expiration}\", \"conditions\": [{{\"bucket\": \"{bucket}\"}}, \
         [\"starts-with\", \"$key\", \"\"], [\"content-length-range\", 1, {max}], \
         {{\"x-amz-algorithm\": \"AWS4-HMAC-SHA256\"}}, {{\"x-amz-credential\": \"{credential}\"}}, \
         {{\"x-amz-date\": \"{date}\"}}]}}"
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(policy);
    let signing = sigv4::signing_key(SECRET_KEY, &date[..8], REGION, "s3");
    let signature = sigv4::hmac_hex(&signing, encoded.as_bytes());
    [
        ("key", key.to_string()),
        ("x-amz-algorithm", "AWS4-HMAC-SHA256".to_string()),
        ("x-amz-credential", credential),
        ("x-amz-date", date),
        ("policy", encoded),
        ("x-amz-signature", signature),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect()
}

/// A credential made through the admin API, with the ids S3 and policies
/// know it by.
#[derive(Debug, Clone)]
pub struct TestCredential {
    pub id: u64,
    pub access_key: String,
    pub secret_key: String,
    pub canonical_id: String,
    pub account_id: String,
}

/// The admin API key of `server` (from its data dir).
pub fn admin_api_key(server: &Server) -> String {
    let text = std::fs::read_to_string(server.data_dir.join("credentials.json"))
        .expect("credentials.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["admin_api_key"]
        .as_str()
        .expect("admin_api_key")
        .to_string()
}

/// One admin API call on a fresh connection: (status, JSON body).
pub fn admin_call(
    server: &Server,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, serde_json::Value) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let req = format!(
        "{method} /_admin/api/v1/{path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\
         authorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        admin_api_key(server),
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write body");
    let r = read_response(&mut BufReader::new(s), false).expect("response");
    let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

/// Creates a credential named `name` through the admin API.
pub fn create_credential(server: &Server, name: &str) -> TestCredential {
    let body = serde_json::json!({ "user_name": name }).to_string();
    let (status, v) = admin_call(server, "POST", "credentials", body.as_bytes());
    assert!(
        (200..300).contains(&status),
        "create credential: {status} {v}"
    );
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {v}"))
            .to_string()
    };
    TestCredential {
        id: v["id"].as_u64().expect("id"),
        access_key: s("access_key"),
        secret_key: s("secret_key"),
        canonical_id: s("canonical_id"),
        account_id: s("account_id"),
    }
}
