//! `ringstore bench`: a thread-per-core S3 load generator. Each thread runs
//! its own monoio runtime and a share of the connections; each connection
//! issues one signed request at a time and records its latency.
//!
//! Modules: `config` (arguments), `workload` (what to do next, object
//! content), `signer` (SigV4), `client` (HTTP/1.1), `report` (histograms).

pub mod client;
pub mod config;
pub mod report;
pub mod signer;
pub mod workload;

use crate::shard::runtime::block_on;
use crate::util::time::unix_now;
use client::{s3_error_code, ClientConn};
use config::{BenchArgs, OpKind, WorkloadKind};
use report::{Report, Stats};
use signer::{payload_hash, Signer};
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
    /// Set when the load starts (after preparation).
    deadline: std::sync::OnceLock<Instant>,
    /// Operations claimed so far (bounds the run with --ops).
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
        stats,
    })
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
    let workload = Workload::new(args.workload, mix, sizes, args.objects, args.prefix.clone());
    let args_sse = args.sse;
    Ok(Shared {
        args,
        workload,
        addr,
        host,
        run_for,
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
    let stats = Rc::new(std::cell::RefCell::new(Stats::default()));
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

/// Claims the next operation, or None when the run is over.
fn claim(shared: &Shared) -> bool {
    if let Some(limit) = shared.args.ops {
        return shared.claimed.fetch_add(1, Ordering::Relaxed) < limit;
    }
    shared.deadline.get().is_some_and(|d| Instant::now() < *d)
}

async fn connection_loop(shared: Arc<Shared>, stats: Rc<std::cell::RefCell<Stats>>, seed: u64) {
    let mut rng = Rng::new(seed + 1);
    let mut signer = signer_for(&shared);
    let mut conn: Option<ClientConn> = None;
    while claim(&shared) {
        let op = shared.workload.next_op(&mut rng);
        let index = match op {
            OpKind::Delete => {
                shared.delete_seq.fetch_add(1, Ordering::Relaxed) % shared.workload.objects
            }
            _ => rng.below(shared.workload.objects),
        };
        let t0 = Instant::now();
        match one_op(&shared, &mut signer, &mut conn, op, index).await {
            Ok(bytes) => {
                stats.borrow_mut().record_ok(op, bytes, t0.elapsed());
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

fn signer_for(shared: &Shared) -> Signer {
    let a = &shared.args;
    Signer::new(&a.access_key, &a.secret_key, &a.region, &shared.host)
}

fn object_path(shared: &Shared, index: u64) -> String {
    let mut p = format!("/{}/", shared.args.bucket);
    crate::auth::uri_encode(shared.workload.key(index).as_bytes(), false, &mut p);
    p
}

/// One request/response; Ok(payload bytes moved) or Err(error label).
async fn one_op(
    shared: &Shared,
    signer: &mut Signer,
    conn: &mut Option<ClientConn>,
    op: OpKind,
    index: u64,
) -> Result<u64, String> {
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
        return Err(format!("{} {code}", resp.status).trim_end().to_owned());
    }
    if op == OpKind::Get {
        if resp.body_len != shared.workload.size_of(index) {
            return Err("wrong length".into());
        }
        if verify
            && !shared
                .workload
                .verify(index, resp.body.as_deref().unwrap_or_default())
        {
            return Err("verify mismatch".into());
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
) -> Result<client::Response, String> {
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
            .map_err(|e| format!("connect: {}", e.kind()))?;
        *conn = Some(c);
    }
    let c = conn.as_mut().expect("connected above");
    let result = match c.send(head, body).await {
        Ok(()) => c.recv(method == "HEAD", keep_body).await,
        Err(e) => Err(e),
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
            Err(format!("io: {}", e.kind()))
        }
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
        let path = format!("/{}", sh.args.bucket);
        let resp = exchange(
            &sh,
            &mut signer,
            &mut conn,
            "PUT",
            &path,
            "",
            bytes::Bytes::new(),
            false,
        )
        .await?;
        let code = resp
            .body
            .as_deref()
            .and_then(s3_error_code)
            .unwrap_or_default();
        match resp.status {
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
        let resp = exchange(
            &sh,
            &mut signer,
            &mut conn,
            "PUT",
            &path,
            "versioning",
            bytes::Bytes::from(body),
            false,
        )
        .await?;
        match resp.status {
            200..=299 => Ok(()),
            s => Err(format!("set versioning of {}: {s}", sh.args.bucket)),
        }
    })
    .map_err(|e| format!("runtime: {e}"))?
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
                loop {
                    let i = next.get();
                    if i >= sh.workload.objects {
                        return Ok(());
                    }
                    next.set(i + 1);
                    one_op(&sh, &mut signer, &mut conn, OpKind::Put, i)
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
