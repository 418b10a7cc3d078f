//! `ringstore bench`: a thread-per-core S3 load generator. Each thread runs
//! its own monoio runtime and a share of the connections; each connection
//! issues one signed request at a time and records its latency.
//!
//! Closed loop by default: a connection starts its next operation when the
//! last one ends. With `--rate` (open loop, as wrk2) operation n is due at
//! `start + n / rate` whatever happened before; a free connection takes the
//! next due one, and latency counts from when it was due, so a stalled
//! server shows in the latency of everything it delayed (no coordinated
//! omission). `--retries` retries as the AWS SDKs' standard mode (`retry`).
//!
//! Modules: `config` (arguments), `workload` (what to do next, object
//! content), `signer` (SigV4), `client` (HTTP/1.1), `retry` (what is
//! retried, backoff), `report` (histograms, errors by S3 code).

pub mod client;
pub mod config;
pub mod report;
pub mod retry;
pub mod signer;
pub mod workload;

use crate::shard::runtime::block_on;
use crate::util::time::unix_now;
use client::{s3_error_code, ClientConn, RecvError};
use config::{BenchArgs, OpKind, WorkloadKind};
use report::{Report, Stats};
use retry::Failure;
use signer::{payload_hash, Signer};
use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use workload::{Rng, Workload};

/// Most client threads and connections (keeps a typo from forking a storm).
pub const MAX_THREADS: usize = 256;
pub const MAX_CONNECTIONS: usize = 65_536;
/// How often the live progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(1000);
/// Connections used to pre-populate objects (at most).
const PREPARE_CONNECTIONS_MAX: usize = 64;
/// Keys listed per LIST request.
const LIST_MAX_KEYS: u32 = 1000;

/// Everything the connection tasks share, across threads.
struct Shared {
    args: BenchArgs,
    workload: Workload,
    addr: SocketAddr,
    host: String,
    run_for: Duration,
    /// `--rate`: operations started per second (open loop).
    rate: Option<f64>,
    policy: retry::Policy,
    /// Set when the load starts (after preparation).
    start: std::sync::OnceLock<Instant>,
    deadline: std::sync::OnceLock<Instant>,
    /// Operations claimed so far (bounds the run with --ops; with --rate,
    /// claim n is the operation due at `start + n / rate`).
    claimed: AtomicU64,
    done: AtomicU64,
    done_bytes: AtomicU64,
    failed: AtomicU64,
    delete_seq: AtomicU64,
    /// `--sse` headers of a PUT, and of a GET or HEAD.
    sse_put: Vec<(String, String)>,
    sse_read: Vec<(String, String)>,
}

/// Splits `http://host:port` into the Host header value and a socket address.
pub fn parse_endpoint(endpoint: &str) -> Result<(String, SocketAddr), String> {
    let rest = endpoint.strip_prefix("http://").ok_or_else(|| {
        format!("endpoint {endpoint:?} must start with http:// (TLS is not supported)")
    })?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(format!("endpoint {endpoint:?} must be http://host[:port]"));
    }
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))?;
    Ok((host.to_owned(), addr))
}

fn prepare_for(shared: &Arc<Shared>) -> Result<(), String> {
    let a = &shared.args;
    if a.no_prepare {
        Ok(())
    } else if a.workload == WorkloadKind::Put {
        create_bucket(shared)
    } else {
        prepare(shared)
    }
}

/// Prepares the objects like a run would, then returns a presigned URL
/// (--presign-method) of the first object, valid for an hour (for wrk).
pub fn presigned_url(args: BenchArgs) -> Result<String, String> {
    let shared = Arc::new(build_shared(args)?);
    prepare_for(&shared)?;
    let a = &shared.args;
    let mut s = signer_for(&shared);
    let path = object_path(&shared, 0);
    let rel = s.presign(&a.presign_method, &path, 3600, unix_now());
    Ok(format!("{}{rel}", a.endpoint.trim_end_matches('/')))
}

/// Runs the whole benchmark: prepare, load, report. Returns the report.
pub fn run(args: BenchArgs) -> Result<Report, String> {
    let shared = Arc::new(build_shared(args)?);
    prepare_for(&shared)?;
    let started = Instant::now();
    let _ = shared.start.set(started);
    let _ = shared.deadline.set(started + shared.run_for);
    let handles = spawn_threads(&shared)?;
    progress_until_done(&shared, &handles, started);
    let mut stats = Stats::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
        stats.merge(&s);
    }
    Ok(Report {
        workload: workload_label(&shared.args),
        endpoint: shared.args.endpoint.clone(),
        size: shared.args.size.clone(),
        concurrency: shared.args.concurrency,
        threads: shared.args.threads,
        elapsed: started.elapsed(),
        rate: shared.rate,
        unsent: unsent(&shared, &stats),
        max_retries: shared.policy.retries,
        stats,
    })
}

/// With --rate: the operations the schedule offered that were never sent
/// because the run ended first (the generator fell behind).
fn unsent(shared: &Shared, stats: &Stats) -> u64 {
    let Some(rate) = shared.rate else {
        return 0;
    };
    let offered = shared
        .args
        .ops
        .unwrap_or_else(|| (shared.run_for.as_secs_f64() * rate).ceil() as u64);
    offered.saturating_sub(stats.op_count())
}

fn workload_label(a: &BenchArgs) -> String {
    match a.workload {
        WorkloadKind::Mixed => format!("mixed({})", a.mix),
        k => format!("{k:?}").to_lowercase(),
    }
}

fn build_shared(args: BenchArgs) -> Result<Shared, String> {
    if !(1..=MAX_THREADS).contains(&args.threads) {
        return Err(format!("--threads must be 1..={MAX_THREADS}"));
    }
    if !(args.threads..=MAX_CONNECTIONS).contains(&args.concurrency) {
        return Err(format!(
            "--concurrency must be between --threads and {MAX_CONNECTIONS}"
        ));
    }
    if args.objects == 0 {
        return Err("--objects must be at least 1".into());
    }
    let (host, addr) = parse_endpoint(&args.endpoint)?;
    let sizes = config::parse_size_dist(&args.size)?;
    let mix = config::parse_mix(&args.mix)?;
    let run_for = config::parse_duration(&args.duration)?;
    let rate = args.rate.map(config::check_rate).transpose()?;
    let policy = retry::Policy {
        retries: args.retries,
        base: config::parse_duration(&args.retry_base)?,
        max_backoff: config::parse_duration(&args.retry_max_backoff)?,
    };
    let workload = Workload::new(args.workload, mix, sizes, args.objects, args.prefix.clone());
    let args_sse = args.sse;
    Ok(Shared {
        args,
        workload,
        addr,
        host,
        run_for,
        rate,
        policy,
        start: std::sync::OnceLock::new(),
        deadline: std::sync::OnceLock::new(),
        claimed: AtomicU64::new(0),
        done: AtomicU64::new(0),
        done_bytes: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        delete_seq: AtomicU64::new(0),
        sse_put: args_sse.map_or_else(Vec::new, |m| m.headers(true)),
        sse_read: args_sse.map_or_else(Vec::new, |m| m.headers(false)),
    })
}

type ThreadResult = Result<Stats, String>;

fn spawn_threads(
    shared: &Arc<Shared>,
) -> Result<Vec<std::thread::JoinHandle<ThreadResult>>, String> {
    let threads = shared.args.threads;
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        // Connections spread evenly; the first threads take the remainder.
        let conns =
            shared.args.concurrency / threads + usize::from(t < shared.args.concurrency % threads);
        let sh = shared.clone();
        let h = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || {
                block_on(move || run_thread(sh, t, conns))
                    .map_err(|e| format!("client runtime: {e}"))
            })
            .map_err(|e| format!("spawn client thread: {e}"))?;
        handles.push(h);
    }
    Ok(handles)
}

async fn run_thread(shared: Arc<Shared>, thread: usize, conns: usize) -> Stats {
    let stats = Rc::new(RefCell::new(Stats::default()));
    let mut tasks = Vec::with_capacity(conns);
    for c in 0..conns {
        let (sh, st) = (shared.clone(), stats.clone());
        let seed = ((thread as u64) << 32) | c as u64;
        tasks.push(monoio::spawn(
            async move { connection_loop(sh, st, seed).await },
        ));
    }
    for t in tasks {
        t.await;
    }
    Rc::try_unwrap(stats)
        .map(|c| c.into_inner())
        .unwrap_or_else(|_| unreachable!("every task has finished"))
}

/// Claims the next operation: the instant its latency counts from (when
/// the schedule has it due with --rate, now otherwise), or None when the
/// run is over.
fn claim(shared: &Shared) -> Option<Instant> {
    let n = shared.claimed.fetch_add(1, Ordering::Relaxed);
    let (start, deadline) = (*shared.start.get()?, *shared.deadline.get()?);
    let now = Instant::now();
    let until_deadline = shared.args.ops.is_none();
    if shared.args.ops.is_some_and(|limit| n >= limit) || (until_deadline && now >= deadline) {
        return None;
    }
    let Some(rate) = shared.rate else {
        return Some(now);
    };
    let due = start + Duration::from_secs_f64(n as f64 / rate);
    (!until_deadline || due < deadline).then_some(due)
}

async fn connection_loop(shared: Arc<Shared>, stats: Rc<RefCell<Stats>>, seed: u64) {
    let mut rng = Rng::new(seed + 1);
    let mut signer = signer_for(&shared);
    let mut conn: Option<ClientConn> = None;
    while let Some(due) = claim(&shared) {
        let now = Instant::now();
        if due > now {
            monoio::time::sleep(due - now).await;
        }
        let op = shared.workload.next_op(&mut rng);
        let index = match op {
            OpKind::Delete => {
                shared.delete_seq.fetch_add(1, Ordering::Relaxed) % shared.workload.objects
            }
            _ => rng.below(shared.workload.objects),
        };
        let mut attempt = Attempt {
            signer: &mut signer,
            conn: &mut conn,
            rng: &mut rng,
            stats: Some(&stats),
        };
        match attempt.op_with_retries(&shared, op, index).await {
            Ok(bytes) => {
                stats.borrow_mut().record_ok(op, bytes, due.elapsed());
                shared.done.fetch_add(1, Ordering::Relaxed);
                shared.done_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            Err(what) => {
                stats.borrow_mut().record_error(op, what);
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// What one connection's operation needs across its attempts.
struct Attempt<'a> {
    signer: &'a mut Signer,
    conn: &'a mut Option<ClientConn>,
    rng: &'a mut Rng,
    /// Where attempts and retries are counted (none while preparing).
    stats: Option<&'a RefCell<Stats>>,
}

impl Attempt<'_> {
    /// Runs the operation, retrying as `shared.policy` allows; Ok(payload
    /// bytes) or Err(the last attempt's error label).
    async fn op_with_retries(
        &mut self,
        shared: &Shared,
        op: OpKind,
        index: u64,
    ) -> Result<u64, String> {
        let mut retry = 0;
        loop {
            if let Some(stats) = self.stats {
                stats.borrow_mut().attempts += 1;
            }
            let failure = match one_op(shared, self.signer, self.conn, op, index).await {
                Ok(bytes) => return Ok(bytes),
                Err(f) if f.retryable && retry < shared.policy.retries => f,
                Err(f) => return Err(f.label),
            };
            retry += 1;
            if let Some(stats) = self.stats {
                stats.borrow_mut().record_retry(op, &failure.label);
            }
            let wait = shared.policy.backoff(retry, self.rng);
            if !wait.is_zero() {
                monoio::time::sleep(wait).await;
            }
        }
    }
}

fn signer_for(shared: &Shared) -> Signer {
    let a = &shared.args;
    Signer::new(&a.access_key, &a.secret_key, &a.region, &shared.host)
}

fn object_path(shared: &Shared, index: u64) -> String {
    let mut p = format!("/{}/", shared.args.bucket);
    crate::auth::uri_encode(shared.workload.key(index).as_bytes(), false, &mut p);
    p
}

/// One request/response; Ok(payload bytes moved) or the failure.
async fn one_op(
    shared: &Shared,
    signer: &mut Signer,
    conn: &mut Option<ClientConn>,
    op: OpKind,
    index: u64,
) -> Result<u64, Failure> {
    let (method, path, query, body) = match op {
        OpKind::Put => (
            "PUT",
            object_path(shared, index),
            String::new(),
            shared.workload.body_of(index),
        ),
        OpKind::Get => (
            "GET",
            object_path(shared, index),
            String::new(),
            bytes::Bytes::new(),
        ),
        OpKind::Delete => (
            "DELETE",
            object_path(shared, index),
            String::new(),
            bytes::Bytes::new(),
        ),
        OpKind::List => {
            let mut q = format!("list-type=2&max-keys={LIST_MAX_KEYS}&prefix=");
            crate::auth::uri_encode(shared.args.prefix.as_bytes(), true, &mut q);
            (
                "GET",
                format!("/{}", shared.args.bucket),
                q,
                bytes::Bytes::new(),
            )
        }
    };
    let verify = op == OpKind::Get && shared.args.verify;
    let resp = exchange(
        shared,
        signer,
        conn,
        method,
        &path,
        &query,
        body.clone(),
        verify,
    )
    .await?;
    if resp.status >= 300 {
        let code = resp
            .body
            .as_deref()
            .and_then(s3_error_code)
            .unwrap_or_default();
        return Err(Failure {
            label: format!("{} {code}", resp.status).trim_end().to_owned(),
            retryable: retry::retryable_answer(resp.status, &code),
        });
    }
    if op == OpKind::Get {
        if resp.body_len != shared.workload.size_of(index) {
            return Err(Failure::fatal("wrong length"));
        }
        if verify
            && !shared
                .workload
                .verify(index, resp.body.as_deref().unwrap_or_default())
        {
            return Err(Failure::fatal("verify mismatch"));
        }
    }
    Ok(body.len() as u64 + if op == OpKind::Get { resp.body_len } else { 0 })
}

/// Sends one request on the connection (opening it if needed) and reads the answer.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    shared: &Shared,
    signer: &mut Signer,
    conn: &mut Option<ClientConn>,
    method: &str,
    path: &str,
    query: &str,
    body: bytes::Bytes,
    keep_body: bool,
) -> Result<client::Response, Failure> {
    let a = &shared.args;
    let mut head = String::with_capacity(512);
    head.push_str(method);
    head.push(' ');
    head.push_str(path);
    if !query.is_empty() {
        head.push('?');
        head.push_str(query);
    }
    head.push_str(" HTTP/1.1\r\n");
    let extra: Vec<(&str, &str)> = match method {
        "PUT" => &shared.sse_put,
        "GET" | "HEAD" => &shared.sse_read,
        _ => &[][..],
    }
    .iter()
    .map(|(n, v)| (n.as_str(), v.as_str()))
    .collect();
    if a.no_sign {
        head.push_str(&format!("Host: {}\r\n", shared.host));
        for (n, v) in &extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
    } else {
        let hash = payload_hash(&body, a.sign_payload);
        signer.sign_headers(method, path, query, &hash, &extra, unix_now(), &mut head);
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    if conn.is_none() {
        let c = ClientConn::connect(shared.addr)
            .await
            .map_err(|e| Failure {
                label: format!("connect: {}", e.kind()),
                retryable: true,
            })?;
        *conn = Some(c);
    }
    let c = conn.as_mut().expect("connected above");
    let result = match c.send(head, body).await {
        Ok(()) => c.recv(method == "HEAD", keep_body).await,
        Err(e) => Err(RecvError::BeforeHead(e)),
    };
    match result {
        Ok(resp) => {
            if !resp.keep_alive {
                *conn = None;
            }
            Ok(resp)
        }
        Err(e) => {
            *conn = None;
            Err(transport_failure(e))
        }
    }
}

/// A connection that failed before its answer's head is retried as the
/// SDKs retry a connection error; one cut in the middle of a body is not
/// (the SDKs hand the body to the caller before reading it).
fn transport_failure(e: RecvError) -> Failure {
    match e {
        RecvError::BeforeHead(e) => Failure {
            label: format!("io: {}", e.kind()),
            retryable: true,
        },
        RecvError::MidBody(e) => Failure::fatal(format!("io: {} mid-body", e.kind())),
    }
}

fn progress_until_done(
    shared: &Shared,
    handles: &[std::thread::JoinHandle<ThreadResult>],
    started: Instant,
) {
    let tty = std::io::stdout().is_terminal();
    let mut last = (started, 0u64, 0u64);
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if !tty || last.0.elapsed() < PROGRESS_INTERVAL {
            continue;
        }
        let (done, bytes) = (
            shared.done.load(Ordering::Relaxed),
            shared.done_bytes.load(Ordering::Relaxed),
        );
        let dt = last.0.elapsed().as_secs_f64();
        print!(
            "\r{:>6.1}s  {:>9.0} ops/s  {:>8.1} MB/s  done {done}  errors {}   ",
            started.elapsed().as_secs_f64(),
            (done - last.1) as f64 / dt,
            (bytes - last.2) as f64 / dt / 1e6,
            shared.failed.load(Ordering::Relaxed)
        );
        let _ = std::io::stdout().flush();
        last = (Instant::now(), done, bytes);
    }
    if tty {
        println!();
    }
}

/// Creates the bucket ("already yours" is fine) and sets its versioning if asked.
fn create_bucket(shared: &Arc<Shared>) -> Result<(), String> {
    let sh = shared.clone();
    block_on(move || async move {
        let mut signer = signer_for(&sh);
        let mut conn = None;
        let mut rng = Rng::new(0xB0C4);
        let mut req = BucketRequest {
            shared: &sh,
            signer: &mut signer,
            conn: &mut conn,
            rng: &mut rng,
        };
        let (status, code) = req.send("", bytes::Bytes::new()).await?;
        match status {
            200..=299 => {}
            409 if code == "BucketAlreadyOwnedByYou" => {}
            s => return Err(format!("create bucket {}: {s} {code}", sh.args.bucket)),
        }
        let Some(state) = &sh.args.versioning else {
            return Ok(());
        };
        let status = if state == "enabled" {
            "Enabled"
        } else {
            "Suspended"
        };
        let body = format!(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Status>{status}</Status></VersioningConfiguration>"
        );
        match req.send("versioning", bytes::Bytes::from(body)).await? {
            (200..=299, _) => Ok(()),
            (s, code) => Err(format!("set versioning of {}: {s} {code}", sh.args.bucket)),
        }
    })
    .map_err(|e| format!("runtime: {e}"))?
}

/// A PUT on the bucket (`?query`), retried like the run's operations (a
/// rate-limited credential may be out of tokens when the run starts).
struct BucketRequest<'a> {
    shared: &'a Shared,
    signer: &'a mut Signer,
    conn: &'a mut Option<ClientConn>,
    rng: &'a mut Rng,
}

impl BucketRequest<'_> {
    /// Ok((status, S3 code)) of the last attempt, or its transport error.
    async fn send(&mut self, query: &str, body: bytes::Bytes) -> Result<(u16, String), String> {
        let sh = self.shared;
        let path = format!("/{}", sh.args.bucket);
        let mut retry = 0;
        loop {
            let answer = exchange(
                sh,
                self.signer,
                self.conn,
                "PUT",
                &path,
                query,
                body.clone(),
                false,
            )
            .await
            .map(|resp| {
                let code = resp
                    .body
                    .as_deref()
                    .and_then(s3_error_code)
                    .unwrap_or_default();
                (resp.status, code)
            });
            let retryable = match &answer {
                Ok((status, code)) => retry::retryable_answer(*status, code),
                Err(f) => f.retryable,
            };
            if !retryable || retry >= sh.policy.retries {
                return answer.map_err(|f| format!("PUT {path}?{query}: {}", f.label));
            }
            retry += 1;
            monoio::time::sleep(sh.policy.backoff(retry, self.rng)).await;
        }
    }
}

/// Creates the bucket and writes every object once, with the run's connections.
fn prepare(shared: &Arc<Shared>) -> Result<(), String> {
    create_bucket(shared)?;
    let sh = shared.clone();
    let conns = shared.args.concurrency.clamp(1, PREPARE_CONNECTIONS_MAX) as u64;
    block_on(move || async move {
        let next = Rc::new(std::cell::Cell::new(0u64));
        let mut tasks: Vec<monoio::task::JoinHandle<Result<(), String>>> = Vec::new();
        for _ in 0..conns {
            let (sh, next) = (sh.clone(), next.clone());
            tasks.push(monoio::spawn(async move {
                let mut signer = signer_for(&sh);
                let mut conn = None;
                let mut rng = Rng::new(0x9_4E9A);
                loop {
                    let i = next.get();
                    if i >= sh.workload.objects {
                        return Ok(());
                    }
                    next.set(i + 1);
                    let mut attempt = Attempt {
                        signer: &mut signer,
                        conn: &mut conn,
                        rng: &mut rng,
                        stats: None,
                    };
                    attempt
                        .op_with_retries(&sh, OpKind::Put, i)
                        .await
                        .map_err(|e| format!("prepare PUT {}: {e}", sh.workload.key(i)))?;
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        Ok(())
    })
    .map_err(|e| format!("runtime: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let (h, a) = parse_endpoint("http://127.0.0.1:9000").unwrap();
        assert_eq!(h, "127.0.0.1:9000");
        assert_eq!(a.port(), 9000);
        assert_eq!(parse_endpoint("http://127.0.0.1/").unwrap().1.port(), 80);
        assert!(parse_endpoint("https://x:1").is_err());
        assert!(parse_endpoint("http://x:1/path").is_err());
    }
}
