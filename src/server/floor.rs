//! The HTTP floor: the server's shard threads, runtime, accept loop and head
//! parser, answering every request with a fixed 200 — no auth, no S3, no
//! storage. Benchmarks run against it to measure what S3 + storage cost over
//! bare HTTP. A separate mode chosen at startup; the S3 request path never
//! checks for it.
//!
//! With `--durable-dir`, each shard also opens a store there and a PUT's
//! body is written and committed in it (the object keyed by the request
//! path, on the shard that accepted the connection) before the 200: bare
//! HTTP plus the durable write path (data record, commit record, group
//! commit, index) and nothing of S3 — no SigV4, no MD5, no cross-shard hop.
//! It says how far any durable PUT can go on this disk and VM.

use super::config::DEFAULT_IDLE_TIMEOUT;
use super::conn::Conn;
use crate::http::{BodyFraming, DateCache, ResponseHead};
use crate::shard::runtime::{allowed_cpus, block_on, pin_current_thread};
use crate::store::{BucketId, ObjectMeta, PutCondition, Store, StoreConfig};
use bytes::{Bytes, BytesMut};
use monoio::net::{ListenerOpts, TcpListener};
use std::net::SocketAddr;

/// Largest body the floor will send for one GET.
pub const MAX_FLOOR_BODY_BYTES: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct FloorConfig {
    pub listen: SocketAddr,
    pub shards: usize,
    /// Bytes each GET answers with, unless the query carries `size=N`.
    pub get_bytes: usize,
    pub pin_threads: bool,
    /// CPU each request burns before its answer (`floor --work-ns`): a
    /// server that does this much work per request on top of bare HTTP,
    /// to see how throughput falls as per-request work grows.
    pub work_ns: u64,
    /// Commit every PUT body durably in a store under this dir (`--durable-dir`).
    pub durable_dir: Option<std::path::PathBuf>,
}

/// The bucket id of the durable floor's objects (its store has no catalog).
const FLOOR_BUCKET: BucketId = 1;

/// Longest `work_ns` the floor accepts (a per-request burn beyond a
/// millisecond models nothing this benchmark is for).
pub const MAX_FLOOR_WORK_NS: u64 = 1_000_000;

/// Starts one floor thread per shard; returns the bound address and the threads.
pub fn start(
    mut cfg: FloorConfig,
) -> Result<(SocketAddr, Vec<std::thread::JoinHandle<()>>), String> {
    if cfg.get_bytes > MAX_FLOOR_BODY_BYTES {
        return Err(format!("--get-bytes exceeds {MAX_FLOOR_BODY_BYTES}"));
    }
    if cfg.work_ns > MAX_FLOOR_WORK_NS {
        return Err(format!("--work-ns exceeds {MAX_FLOOR_WORK_NS}"));
    }
    cfg.listen = super::claim_listen_port(cfg.listen)?;
    let cpus = allowed_cpus();
    let zeros = Bytes::from(vec![b'x'; MAX_FLOOR_BODY_BYTES]);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut threads = Vec::new();
    for id in 0..cfg.shards {
        let cpu = (cfg.pin_threads && !cpus.is_empty()).then(|| cpus[id % cpus.len()]);
        let (cfg, zeros, ready) = (cfg.clone(), zeros.clone(), ready_tx.clone());
        let t = std::thread::Builder::new()
            .name(format!("floor-{id}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    let _ = pin_current_thread(cpu);
                }
                let err = ready.clone();
                if let Err(e) = block_on(move || floor_main(cfg, zeros, ready)) {
                    let _ = err.send(Err(format!("floor runtime: {e}")));
                }
            })
            .map_err(|e| format!("spawn floor thread: {e}"))?;
        threads.push(t);
    }
    for _ in 0..cfg.shards {
        ready_rx
            .recv()
            .map_err(|_| "a floor thread died".to_string())??;
    }
    Ok((cfg.listen, threads))
}

async fn floor_main(
    cfg: FloorConfig,
    zeros: Bytes,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let opts = ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(1024);
    let listener = match TcpListener::bind_with_config(cfg.listen, &opts) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("bind {}: {e}", cfg.listen)));
            return;
        }
    };
    let store = match &cfg.durable_dir {
        None => None,
        Some(dir) => {
            let shard = floor_shard_id();
            let mut sc = StoreConfig::new(dir.join(format!("shard-{shard:03}")), shard);
            sc.shard_count = cfg.shards as u32;
            match Store::open(sc).await {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = ready.send(Err(format!("open store in {}: {e}", dir.display())));
                    return;
                }
            }
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let zeros = zeros.clone();
        let (get_bytes, work_ns) = (cfg.get_bytes, cfg.work_ns);
        let store = store.clone();
        monoio::spawn(async move {
            let mut conn = Conn::new(stream, DEFAULT_IDLE_TIMEOUT);
            let mut date = DateCache::new();
            let floor = Floor {
                zeros: &zeros,
                get_bytes,
                work_ns,
                store: store.as_ref(),
            };
            while let Ok(true) = serve_one(&mut conn, &floor, &mut date).await {}
        });
    }
}

/// The `size=N` query parameter, if present and valid.
fn size_from_query(query: &str) -> Option<usize> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("size="))
        .and_then(|v| v.parse().ok())
        .filter(|&n| n <= MAX_FLOOR_BODY_BYTES)
}

/// What every request of a floor connection is answered with.
struct Floor<'a> {
    zeros: &'a Bytes,
    get_bytes: usize,
    work_ns: u64,
    /// `--durable-dir`: PUT bodies are committed here before the answer.
    store: Option<&'a Store>,
}

/// This floor thread's index, from its name (`floor-N`).
fn floor_shard_id() -> u32 {
    std::thread::current()
        .name()
        .and_then(|n| n.strip_prefix("floor-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Answers one request; Ok(false) when the connection should close.
async fn serve_one(conn: &mut Conn, floor: &Floor<'_>, date: &mut DateCache) -> Result<bool, ()> {
    let head = match conn.next_head().await {
        Ok(Some(h)) => h,
        _ => return Ok(false),
    };
    crate::shard::spin::note_request(&mut conn.spin);
    burn_cpu(floor.work_ns);
    let mut left = match head.body_framing() {
        Ok(BodyFraming::Length(n)) => n,
        Ok(BodyFraming::None) => 0,
        _ => return Ok(false),
    };
    let is_put = head.method_str() == "PUT";
    let mut writer = match floor.store {
        Some(store) if is_put => Some(store.writer(FLOOR_BUCKET, head.raw_path())),
        _ => None,
    };
    // Read the body: the bytes cross the socket as they would for a PUT,
    // and are dropped, or (durable) written to the store.
    loop {
        let take = left.min(conn.buf.len() as u64);
        let piece = conn.buf.split_to(take as usize);
        if let Some(w) = writer.as_mut() {
            w.write(piece.freeze()).await.map_err(|_| ())?;
        }
        left -= take;
        if left == 0 {
            break;
        }
        if conn.fill().await.map_err(|_| ())? == 0 {
            return Ok(false);
        }
    }
    if let Some(w) = writer {
        w.commit(ObjectMeta::default(), PutCondition::None)
            .await
            .map_err(|_| ())?;
    }
    let (zeros, get_bytes) = (floor.zeros, floor.get_bytes);
    let is_get = head.method_str() == "GET";
    let len = if is_get {
        size_from_query(head.raw_query()).unwrap_or(get_bytes)
    } else {
        0
    };
    let mut rh = ResponseHead::new(200);
    rh.header("Date", date.get().to_owned());
    rh.header("Content-Length", len.to_string());
    let mut out = BytesMut::with_capacity(256 + len.min(64 * 1024));
    rh.encode(&mut out);
    if len <= 64 * 1024 {
        out.extend_from_slice(&zeros[..len]);
        conn.write(out.freeze()).await.map_err(|_| ())?;
    } else {
        conn.write(out.freeze()).await.map_err(|_| ())?;
        conn.write(zeros.slice(..len)).await.map_err(|_| ())?;
    }
    Ok(head.keep_alive())
}

/// Spins for `ns` nanoseconds of wall time without yielding: the thread
/// stays on its CPU, as a request's real work would keep it.
fn burn_cpu(ns: u64) {
    if ns == 0 {
        return;
    }
    let start = std::time::Instant::now();
    let until = std::time::Duration::from_nanos(ns);
    while start.elapsed() < until {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_cpu_spins_at_least_as_long_as_asked() {
        let start = std::time::Instant::now();
        burn_cpu(200_000);
        assert!(start.elapsed() >= std::time::Duration::from_micros(200));
        let start = std::time::Instant::now();
        burn_cpu(0);
        assert!(start.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn size_query() {
        assert_eq!(size_from_query("size=4096"), Some(4096));
        assert_eq!(size_from_query("a=1&size=10"), Some(10));
        assert_eq!(size_from_query("size=x"), None);
        assert_eq!(
            size_from_query(&format!("size={}", MAX_FLOOR_BODY_BYTES + 1)),
            None
        );
    }
}
