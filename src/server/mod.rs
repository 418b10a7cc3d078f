//! The S3 server: startup, shard threads, connections, request handling.

pub mod access;
pub mod admission;
pub mod body;
pub mod bucket_delete;
pub mod catalog_service;
pub mod config;
pub mod conn;
pub mod cors;
pub mod datadir;
pub mod dirlock;
pub mod faults;
pub mod fdlimit;
pub mod floor;
pub mod handlers;
pub mod kms;
pub mod lifecycle;
pub mod md5_batch;
pub mod memory;
pub mod owner;
pub mod ratelimit;
pub mod read;
pub mod request;
pub mod respond;
pub mod shard;
pub mod sse;
pub mod stop;
pub mod tls;
pub mod uploads;

use crate::catalog::Catalog;
use crate::shard::mesh::{build_mesh, MeshLinks};
use crate::shard::msg::VersionedCatalog;
use crate::shard::runtime::{allowed_cpus, block_on, io_uring_available, pin_current_thread};
use crate::shard::Placement;
use crate::store::{Store, StoreConfig};
pub use config::ServerConfig;
use shard::{CatalogOwner, ShardCtx};
use std::rc::Rc;
use std::sync::Arc;

/// What `start` learned while bringing the server up, for the banner.
pub struct Started {
    /// The address every shard listens on (port 0 resolved).
    pub listen: std::net::SocketAddr,
    /// The HTTPS listener's address (port 0 resolved), if configured.
    pub tls_listen: Option<std::net::SocketAddr>,
    pub root: datadir::RootCredentials,
    pub credentials_created: bool,
    pub threads: Vec<std::thread::JoinHandle<()>>,
    /// Stops the shards gracefully (`stop.rs`).
    pub stop: stop::StopHandle,
    /// The data dir's lock: hold it as long as the shards run.
    pub lock: dirlock::DataDirLock,
    /// The data dir the server runs in: `--data-dir`, or with `--memory` a
    /// fresh temporary one (removed by `memory::remove_catalog_dir`).
    pub data_dir: std::path::PathBuf,
}

/// Formats or opens the data dir, starts every shard, and returns once all
/// of them listen. Shard threads run until the process exits.
pub fn start(mut cfg: ServerConfig) -> Result<Started, String> {
    if cfg.memory_bytes.is_none() {
        return start_in_data_dir(cfg);
    }
    memory::warn_no_durability(&cfg);
    memory::remove_abandoned(&std::env::temp_dir());
    cfg.data_dir = memory::create_catalog_dir()?;
    // The objects are in memory already: a record cache would hold them twice.
    cfg.cache_bytes_per_shard = 0;
    let dir = cfg.data_dir.clone();
    start_in_data_dir(cfg).inspect_err(|_| memory::remove_catalog_dir(&dir))
}

fn start_in_data_dir(mut cfg: ServerConfig) -> Result<Started, String> {
    let soft_fd_limit = fdlimit::raise_and_log();
    crate::util::private_fs::create_private_dir_all(&cfg.data_dir)
        .map_err(|e| format!("create {}: {e}", cfg.data_dir.display()))?;
    // Before anything in the data dir is read or written.
    let lock = dirlock::lock_data_dir(&cfg.data_dir)?;
    make_data_dir_private(&cfg.data_dir);
    // Every shard binds the same port with SO_REUSEPORT, so the port is
    // picked (port 0) or checked once here.
    cfg.listen = claim_listen_port(cfg.listen)?;
    let tls_config = match &mut cfg.tls {
        Some(t) => {
            let config = tls::load_server_config(&t.cert, &t.key)?;
            t.listen = claim_listen_port(t.listen)?;
            Some(config)
        }
        None => None,
    };
    let format = datadir::open_format(&cfg.data_dir, cfg.shards as u32)?;
    cfg.segment_bytes = fit_segment_bytes(&cfg)?;
    cfg.sse_master = Some(crate::sse::open_master_key(&cfg.data_dir)?);
    let (root, credentials_created) = datadir::open_root_credentials(
        &cfg.data_dir,
        std::env::var("RINGSTORE_ACCESS_KEY").ok(),
        std::env::var("RINGSTORE_SECRET_KEY").ok(),
    )?;
    let catalog_data = datadir::open_catalog(&cfg.data_dir, &root)?;
    let snapshot = Arc::new(VersionedCatalog {
        version: 1,
        catalog: Catalog::new(catalog_data.clone()),
    });
    let placement = Placement::new(format.placement_seed, cfg.shards as u32);
    if !io_uring_available() {
        tracing::warn!("io_uring is not available (kernel or seccomp); using the epoll driver");
    }
    let boot_id = (crate::util::time::unix_now_millis() & 0xffff_ffff) as u32;
    // Fault rules' schedules count from here (`crate::faults`).
    let started = std::time::Instant::now();
    if let Some(rules) = &cfg.faults {
        tracing::warn!(
            rules = rules.rules.len(),
            "fault injection is on: matching requests will be delayed, fail or lose their connection"
        );
    }
    let per_client = admission::IpConnectionLimit::new(cfg.max_connections_per_ip);
    let fd_ceiling = fdlimit::connection_fd_ceiling(soft_fd_limit, cfg.shards);
    let cfg = Arc::new(cfg);
    let cpus = allowed_cpus();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let mut owner = Some(CatalogOwner {
        dir: cfg.data_dir.clone(),
        data: catalog_data,
        version: 1,
    });
    let mut threads = Vec::new();
    let (stop, mut stop_requests) = stop::channels(cfg.shards);
    stop_requests.reverse();
    for (id, links) in build_mesh(cfg.shards).into_iter().enumerate() {
        let boot = ShardBoot {
            id,
            cfg: cfg.clone(),
            placement,
            catalog: snapshot.clone(),
            links,
            owner: if id == 0 { owner.take() } else { None },
            cpu: if cfg.pin_threads && !cpus.is_empty() {
                Some(cpus[id % cpus.len()])
            } else {
                None
            },
            boot_id,
            started,
            admin_api_key: root.admin_api_key.clone(),
            tls_config: tls_config.clone(),
            stop: stop_requests.pop().expect("one stop request per shard"),
            per_client: per_client.clone(),
            fd_ceiling,
        };
        let ready = ready_tx.clone();
        let t = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || shard_thread(boot, ready))
            .map_err(|e| format!("spawn shard {id}: {e}"))?;
        threads.push(t);
    }
    for _ in 0..cfg.shards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a shard thread died during start-up".into()),
        }
    }
    warn_if_few_connections_fit(&cfg, fd_ceiling);
    Ok(Started {
        listen: cfg.listen,
        tls_listen: cfg.tls.as_ref().map(|t| t.listen),
        root,
        credentials_created,
        threads,
        stop,
        lock,
        data_dir: cfg.data_dir.clone(),
    })
}

/// Takes group and other permissions off a data dir made by an older build
/// or by hand (every file ringstore creates is private already).
fn make_data_dir_private(dir: &std::path::Path) {
    match crate::util::private_fs::tighten_modes(dir) {
        Ok(t) if t.dirs + t.files > 0 => tracing::warn!(
            data_dir = %dir.display(),
            dirs = t.dirs,
            files = t.files,
            "data dir was readable by other users; made it private (dirs 0700, files 0600)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(
            data_dir = %dir.display(),
            "could not make the data dir private: {e}"
        ),
    }
}

/// Says so when the open file limit leaves room for fewer connections than
/// the connection cap allows (the shards' stores are open by now).
fn warn_if_few_connections_fit(cfg: &ServerConfig, fd_ceiling: u64) {
    let Some(open) = fdlimit::open_fds() else {
        return;
    };
    let room = fd_ceiling.saturating_sub(open);
    let cap = (cfg.max_connections_per_shard * cfg.shards) as u64;
    if room < cap {
        tracing::warn!(
            open_fds = open,
            room_for_connections = room,
            connection_cap = cap,
            "the open file limit leaves room for fewer connections than --max-connections-per-shard allows \
             (beyond it the longest-idle connections are closed); raise the hard limit \
             (ulimit -Hn, systemd LimitNOFILE=) to hold more"
        );
    }
}

/// The segment size every shard runs with: the configured one unless a
/// shard's share of `--max-data-bytes` or of the data dir's file system
/// cannot hold `store::space::MIN_SEGMENTS_PER_SHARD` of them (logged).
fn fit_segment_bytes(cfg: &ServerConfig) -> Result<u64, String> {
    let shards = cfg.shards.max(1) as u64;
    let by_cap = shard_cap_bytes(cfg);
    let by_disk = match cfg.memory_bytes {
        Some(_) => None,
        None => crate::store::space::fs_size_bytes(&cfg.data_dir).map(|t| t / shards),
    };
    let bound = match (by_cap, by_disk) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let fitted = crate::store::space::fit_segment_bytes(cfg.segment_bytes, bound)?;
    if fitted != cfg.segment_bytes {
        tracing::warn!(
            configured_mib = cfg.segment_bytes >> 20,
            segment_mib = fitted >> 20,
            shard_bytes = bound,
            "segment size lowered so each shard's share of the cap or disk holds {} segments",
            crate::store::space::MIN_SEGMENTS_PER_SHARD
        );
    }
    Ok(fitted)
}

/// Each shard's cap on its files: its share of `--max-data-bytes`, and with
/// `--memory` of the memory bound (the smaller of the two).
fn shard_cap_bytes(cfg: &ServerConfig) -> Option<u64> {
    let total = match (cfg.max_data_bytes, cfg.memory_bytes) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    total.map(|t| t / cfg.shards.max(1) as u64)
}

struct ShardBoot {
    id: usize,
    cfg: Arc<ServerConfig>,
    placement: Placement,
    catalog: Arc<VersionedCatalog>,
    links: MeshLinks,
    owner: Option<CatalogOwner>,
    cpu: Option<usize>,
    boot_id: u32,
    started: std::time::Instant,
    admin_api_key: String,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    stop: stop::StopRequest,
    per_client: Arc<admission::IpConnectionLimit>,
    fd_ceiling: u64,
}

fn shard_thread(boot: ShardBoot, ready: std::sync::mpsc::Sender<Result<(), String>>) {
    if let Some(cpu) = boot.cpu {
        match pin_current_thread(cpu) {
            Ok(()) => tracing::info!(shard = boot.id, cpu, "shard thread pinned"),
            Err(e) => tracing::warn!(shard = boot.id, cpu, "could not pin shard thread: {e}"),
        }
    }
    let id = boot.id;
    let ready_err = ready.clone();
    let run = block_on(move || shard_main(boot, ready));
    if let Err(e) = run {
        let _ = ready_err.send(Err(format!("shard {id}: runtime: {e}")));
    }
}

async fn shard_main(boot: ShardBoot, ready: std::sync::mpsc::Sender<Result<(), String>>) {
    let id = boot.id;
    let cfg = boot.cfg.clone();
    let mut store_cfg = StoreConfig::new(cfg.data_dir.join(format!("shard-{id:03}")), id as u32);
    store_cfg.segment_bytes = cfg.segment_bytes;
    store_cfg.shard_count = cfg.shards as u32;
    store_cfg.direct_io = cfg.direct_io;
    store_cfg.max_data_bytes = shard_cap_bytes(&cfg);
    if let Some(cap) = store_cfg
        .max_data_bytes
        .filter(|_| cfg.memory_bytes.is_some())
    {
        store_cfg.backing = crate::store::Backing::Memory(crate::store::MemDisk::new_handle(cap));
    }
    store_cfg.cache_bytes = cfg.cache_bytes_per_shard;
    store_cfg.index = cfg.index;
    store_cfg.index_memtable_bytes = cfg.index_memtable_bytes;
    store_cfg.index_cache_bytes = cfg.index_cache_bytes;
    store_cfg.accept_data_loss = cfg.accept_data_loss;
    let store = match Store::open(store_cfg).await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: open store: {e}")));
            return;
        }
    };
    crate::store::checkpoint::spawn_checkpointer(&store);
    if cfg.compaction {
        crate::store::compaction::spawn_compactor(&store);
    } else if id == 0 {
        tracing::warn!("background compaction disabled (--no-compaction)");
    }
    let live: std::collections::HashSet<u64> =
        boot.catalog.catalog.buckets().map(|b| b.id).collect();
    for bucket in store.bucket_ids() {
        if !live.contains(&bucket) {
            store.drop_bucket(bucket);
        }
    }
    let opts = monoio::net::ListenerOpts::new()
        .reuse_port(true)
        .reuse_addr(true)
        .backlog(1024);
    let listener = match monoio::net::TcpListener::bind_with_config(cfg.listen, &opts) {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: bind {}: {e}", cfg.listen)));
            return;
        }
    };
    let tls_listener = match (&cfg.tls, &boot.tls_config) {
        (Some(t), Some(config)) => {
            match monoio::net::TcpListener::bind_with_config(t.listen, &opts) {
                Ok(l) => Some((l, monoio_rustls::TlsAcceptor::from(config.clone()))),
                Err(e) => {
                    let _ = ready.send(Err(format!("shard {id}: bind {}: {e}", t.listen)));
                    return;
                }
            }
        }
        _ => None,
    };
    let MeshLinks { senders, receivers } = boot.links;
    let stop_request = boot.stop;
    let admission = admission::Admission::new(&cfg, boot.per_client, boot.fd_ceiling);
    let ctx = Rc::new(ShardCtx::new(
        id,
        cfg,
        boot.placement,
        store,
        boot.catalog,
        senders,
        boot.owner,
        boot.boot_id,
        boot.started,
        boot.admin_api_key,
        admission,
    ));
    for rx in receivers {
        monoio::spawn(owner::serve_mesh(ctx.clone(), rx));
    }
    monoio::spawn(ctx.md5.clone().run());
    monoio::spawn(lifecycle::run(ctx.clone(), ctx.config.lifecycle_interval));
    if id == 0 {
        monoio::spawn(kms::purge_task(ctx.clone()));
    }
    tracing::info!(shard = id, listen = %ctx.config.listen, "shard ready");
    if let Some((l, acceptor)) = tls_listener {
        monoio::spawn(conn::accept_loop(ctx.clone(), l, Some(acceptor)));
    }
    let stop_ctx = ctx.clone();
    monoio::spawn(async move {
        let connections = &stop_ctx.admission.table;
        // A Sync record confirms the shard's last write, so that damage to
        // it is told from a torn write at the next start (store/damage.rs).
        let close = async {
            if let Err(e) = stop_ctx.store.close().await {
                tracing::warn!(shard = id, error = %e, "confirming the log's last write failed");
            }
        };
        stop::serve_stop_request(stop_request, &stop_ctx.stop, connections, close).await
    });
    let _ = ready.send(Ok(()));
    drop(ready);
    conn::accept_loop(ctx, listener, None).await;
    // Stopping: no new connections, but requests in flight here or on
    // other shards may still need this shard's store until the process exits.
    std::future::pending::<()>().await
}

/// Checks that nobody listens on `addr` yet (and resolves port 0) before the
/// shards bind it with SO_REUSEPORT. Without this a second server of the same
/// user on the same port would bind too, and the kernel would quietly split
/// connections between the two processes.
///
/// A server killed a moment ago can still hold the port briefly: the kernel
/// closes sockets with io_uring requests in flight when it tears the ring
/// down, after the process is gone. So "in use" is retried for up to
/// `PORT_RELEASE_WAIT` before it is an error.
pub fn claim_listen_port(addr: std::net::SocketAddr) -> Result<std::net::SocketAddr, String> {
    let started = std::time::Instant::now();
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(probe) => return probe.local_addr().map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if started.elapsed() >= PORT_RELEASE_WAIT {
                    return Err(format!(
                        "{addr} is already in use (is another ringstore or server listening there?)"
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(format!("bind {addr}: {e}")),
        }
    }
}

/// How long start-up waits for a port held by a just-killed process.
const PORT_RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

#[cfg(test)]
mod listen_tests {
    #[test]
    fn a_port_in_use_is_refused_with_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let err = super::claim_listen_port(addr).expect_err("in use");
        assert!(err.contains("already in use"), "{err}");
        drop(taken);
        assert_eq!(super::claim_listen_port(addr).expect("free again"), addr);
        let any = "127.0.0.1:0".parse().expect("addr");
        assert_ne!(super::claim_listen_port(any).expect("port 0").port(), 0);
    }
}
