//! The ringstore command line: `serve` (the default) and admin helpers.

use clap::{Args, Parser, Subcommand};
use ringstore::server::{self, ServerConfig};
use ringstore::shard::runtime::{set_idle_spin, set_uring_setup, UringSetup};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

// mimalloc: glibc malloc/free/realloc (with malloc_consolidate on the large
// read and response buffers) were ~9 % of a 4 KiB GET's server CPU; mimalloc's
// per-thread free lists suit one thread per core.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ringstore",
    version,
    about = "S3-compatible object storage: one io_uring executor per core, direct-I/O append logs"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start the S3 server (the default when no command is given).
    Serve(ServeArgs),
    /// Run the S3 load generator against an endpoint.
    Bench(ringstore::bench::config::BenchArgs),
    /// Serve a fixed 200 response on the server's runtime (no S3, no storage): the HTTP floor.
    Floor(FloorArgs),
    /// Check every record of every shard of a stopped server's data dir
    /// (exit 0: clean, 1: damage found, 2: could not check).
    Verify {
        /// The data directory to check.
        data_dir: PathBuf,
    },
}

/// Settings of the shards' runtimes, shared by `serve` and `floor` (the
/// floor is the same runtime without S3, so it takes the same knobs).
#[derive(Args, Clone)]
struct RuntimeArgs {
    /// How the io_uring rings are set up: coop (COOP_TASKRUN + SINGLE_ISSUER),
    /// defer (SINGLE_ISSUER + DEFER_TASKRUN) or plain (no flags). Kernels that
    /// refuse the flags get plain. See tuning/README.md.
    #[arg(
        long,
        value_enum,
        default_value = "coop",
        env = "RINGSTORE_IO_URING_SETUP"
    )]
    io_uring_setup: UringSetup,
    /// Microseconds a shard keeps its event loop turning after a request or
    /// a message from another shard before it sleeps (0: sleep at once).
    /// Spinning saves the wake-up a peer's message or a completion would
    /// otherwise need, at the price of a busy core; only shards with at most
    /// two active client connections spin. See tuning/README.md.
    #[arg(long, default_value_t = 200, env = "RINGSTORE_IDLE_SPIN_US",
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    idle_spin_us: u64,
}

impl RuntimeArgs {
    fn apply(&self) {
        set_uring_setup(self.io_uring_setup);
        set_idle_spin(std::time::Duration::from_micros(self.idle_spin_us));
    }
}

#[derive(Args, Clone)]
struct FloorArgs {
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Number of shard threads. Default: every CPU this process may use.
    #[arg(long)]
    shards: Option<usize>,
    /// Bytes each GET answers with (a `size=N` query parameter overrides it).
    #[arg(long, default_value = "4KiB", value_parser = parse_size_arg)]
    get_bytes: u64,
    /// Do not pin threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Burn this many nanoseconds of CPU per request before answering: models a
    /// server with that much work per request over bare HTTP (benches/README.md).
    #[arg(long, default_value_t = 0)]
    work_ns: u64,
    /// Commit every PUT body durably in a store under this dir before
    /// answering (the same log, group commit and index as `serve`, with no
    /// S3 work): the floor of a durable PUT on this machine.
    #[arg(long)]
    durable_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    ringstore::bench::config::parse_size(s)
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// Address to listen on for S3 requests.
    #[arg(long, default_value = "127.0.0.1:9000", env = "RINGSTORE_LISTEN")]
    listen: SocketAddr,
    /// Also serve HTTPS on this address (needs --tls-cert and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"], env = "RINGSTORE_TLS_LISTEN")]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain (leaf first) the HTTPS listener presents.
    #[arg(long, requires = "tls_listen", env = "RINGSTORE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, requires = "tls_listen", env = "RINGSTORE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Accept SSE-C customer keys over plain HTTP. S3 refuses them there (the
    /// key would cross the network in clear); for loopback tests and benchmarks.
    #[arg(long, env = "RINGSTORE_ALLOW_SSE_C_OVER_HTTP")]
    allow_sse_c_over_http: bool,
    /// Data directory (created on first start; holds logs, catalog and credentials).
    #[arg(long, default_value = "./ringstore-data", env = "RINGSTORE_DATA_DIR")]
    data_dir: PathBuf,
    /// Number of shards (threads, one per core). Default: every CPU this process may use,
    /// or the count recorded in an existing data dir.
    #[arg(long, env = "RINGSTORE_SHARDS")]
    shards: Option<usize>,
    /// Region reported to clients and required in SigV4 credential scopes.
    #[arg(long, default_value = "us-east-1", env = "RINGSTORE_REGION")]
    region: String,
    /// Domain for virtual-hosted-style requests (`bucket.DOMAIN`); path style always works.
    #[arg(long, env = "RINGSTORE_DOMAIN")]
    domain: Option<String>,
    /// Cap on log bytes (all shards together); writes beyond answer a storage-full error.
    #[arg(long, env = "RINGSTORE_MAX_DATA_BYTES")]
    max_data_bytes: Option<u64>,
    /// Size of each preallocated log segment, in MiB.
    #[arg(long, default_value_t = 256)]
    segment_mib: u64,
    /// Use buffered I/O instead of O_DIRECT for the logs (O_DIRECT falls back automatically where unsupported).
    #[arg(long)]
    no_direct_io: bool,
    /// Do not pin shard threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Close connections idle for this many seconds.
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Memory each shard keeps for hot object data, in MiB (O_DIRECT bypasses the
    /// kernel's page cache; objects up to 1/16 of this are cached). 0 disables it.
    #[arg(long, default_value_t = 256, env = "RINGSTORE_CACHE_MIB")]
    cache_mib: usize,
    /// Do not run background compaction: space of overwritten and deleted
    /// objects is not reclaimed until a start without this flag (for
    /// measuring compaction's cost, or keeping the disk quiet for a while).
    #[arg(long, env = "RINGSTORE_NO_COMPACTION")]
    no_compaction: bool,
    /// Hash each upload's MD5 (its ETag) on its own instead of together with
    /// the shard's other uploads in SIMD lanes (for measuring the batching, or
    /// on hosts where AVX-512 lowers the clock).
    #[arg(long, env = "RINGSTORE_NO_MD5_BATCH")]
    no_md5_batch: bool,
    /// How often each shard looks for objects that bucket lifecycle rules
    /// have expired, in seconds (0: never expire anything).
    #[arg(long, default_value_t = 600, env = "RINGSTORE_LIFECYCLE_INTERVAL_SECS")]
    lifecycle_interval_secs: u64,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RINGSTORE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,monoio=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        // A log that cannot be written (a full disk, a closed pipe) must not
        // take a shard down: without this, tracing-subscriber reports the
        // failure with eprintln!, which panics when stderr fails too.
        .log_internal_errors(false)
        .init();
}

/// A panicking shard takes the whole server down (after the default hook has
/// printed the panic): a process missing one shard would accept connections
/// on the others and leave every request for that shard's keys hanging.
/// Acknowledged writes survive the abort like any crash (the log is the truth).
fn fail_stop_on_panic() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        std::process::abort();
    }));
}

fn default_shards(data_dir: &std::path::Path) -> Result<usize, String> {
    if let Some(n) = server::datadir::recorded_shards(data_dir)? {
        return Ok(n as usize);
    }
    Ok(ringstore::shard::runtime::allowed_cpus().len().max(1))
}

fn serve(args: ServeArgs) -> Result<(), String> {
    fail_stop_on_panic();
    args.runtime.apply();
    let shards = match args.shards {
        Some(0) => return Err("--shards must be at least 1".into()),
        Some(n) => n,
        None => default_shards(&args.data_dir)?,
    };
    let cfg = ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        shards,
        region: args.region.clone(),
        domain: args.domain.clone(),
        max_data_bytes: args.max_data_bytes,
        segment_bytes: args.segment_mib.max(1) * 1024 * 1024,
        direct_io: !args.no_direct_io,
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout_secs.max(1)),
        pin_threads: !args.no_pin,
        cache_bytes_per_shard: args.cache_mib * 1024 * 1024,
        compaction: !args.no_compaction,
        md5_batch: !args.no_md5_batch,
        lifecycle_interval: std::time::Duration::from_secs(args.lifecycle_interval_secs),
        tls: match (args.tls_listen, &args.tls_cert, &args.tls_key) {
            (Some(listen), Some(cert), Some(key)) => Some(server::tls::TlsListen {
                listen,
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        sse_master: None,
        sse_c_over_http: args.allow_sse_c_over_http,
    };
    let started = server::start(cfg.clone())?;
    print_banner(&cfg, &started);
    for t in started.threads {
        let _ = t.join();
    }
    Ok(())
}

fn print_banner(cfg: &ServerConfig, started: &server::Started) {
    let endpoint = format!("http://{}", started.listen);
    let creds = cfg.data_dir.join("credentials.json");
    println!(
        "ringstore is listening on {endpoint} ({} shards, region {})",
        cfg.shards, cfg.region
    );
    if let Some(tls) = started.tls_listen {
        println!("HTTPS:       https://{tls}");
    }
    println!("data dir:    {}", cfg.data_dir.display());
    if started.credentials_created {
        println!("generated root credentials (saved to {}):", creds.display());
    } else {
        println!("root credentials (from {}):", creds.display());
    }
    println!("  access key: {}", started.root.access_key);
    println!("  secret key: {}", started.root.secret_key);
    println!("  admin API key: {}", started.root.admin_api_key);
    println!(
        "SSE master key: {}  (back it up: SSE-S3 objects cannot be read without it)",
        cfg.data_dir.join(ringstore::sse::MASTER_KEY_FILE).display()
    );
    println!("console:     {endpoint}/_admin/  (sign in with the admin API key)");
    println!("API docs:    {endpoint}/_admin/docs  (OpenAPI: {endpoint}/_admin/openapi.json)");
    println!("metrics:     {endpoint}/_admin/metrics");
    println!("try it:");
    println!(
        "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={} aws --endpoint-url {endpoint} s3 mb s3://my-bucket",
        started.root.access_key, started.root.secret_key, cfg.region
    );
    println!("ready");
}

fn floor(args: FloorArgs) -> Result<(), String> {
    fail_stop_on_panic();
    args.runtime.apply();
    let shards = args
        .shards
        .unwrap_or_else(|| ringstore::shard::runtime::allowed_cpus().len().max(1));
    if shards == 0 {
        return Err("--shards must be at least 1".into());
    }
    let cfg = server::floor::FloorConfig {
        listen: args.listen,
        shards,
        get_bytes: args.get_bytes as usize,
        pin_threads: !args.no_pin,
        work_ns: args.work_ns,
        durable_dir: args.durable_dir,
    };
    let (listen, threads) = server::floor::start(cfg)?;
    println!(
        "ringstore is listening on http://{listen} ({shards} shards, HTTP floor: fixed 200, no S3)"
    );
    println!("ready");
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn bench(args: ringstore::bench::config::BenchArgs) -> Result<(), String> {
    if args.presign_only {
        println!("{}", ringstore::bench::presigned_url(args)?);
        return Ok(());
    }
    let (json, markdown) = (args.json.clone(), args.markdown.clone());
    let report = ringstore::bench::run(args)?;
    print!("{}", report.summary());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    if let Some(path) = markdown {
        std::fs::write(&path, report.markdown())
            .map_err(|e| format!("write {}: {e}", path.display()))?;
    }
    if report.stats.error_count() > 0 {
        return Err(format!("{} operations failed", report.stats.error_count()));
    }
    Ok(())
}

/// Exit code of `verify` when it found damage (2 means it could not check).
const VERIFY_EXIT_DAMAGED: u8 = 1;
const VERIFY_EXIT_ERROR: u8 = 2;

fn verify(data_dir: &std::path::Path) -> ExitCode {
    let run =
        ringstore::shard::runtime::block_on(|| ringstore::store::verify::verify_data_dir(data_dir));
    let report = match run {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("ringstore verify: {e}");
            return ExitCode::from(VERIFY_EXIT_ERROR);
        }
        Err(e) => {
            eprintln!("ringstore verify: runtime: {e}");
            return ExitCode::from(VERIFY_EXIT_ERROR);
        }
    };
    println!("data dir:        {}", data_dir.display());
    println!("shards:          {}", report.shards);
    println!("segments:        {}", report.segments);
    println!("records:         {}", report.records);
    println!("objects:         {}", report.objects);
    println!("versions:        {}", report.versions);
    println!("live bytes:      {}", report.live_bytes);
    println!("garbage bytes:   {}", report.garbage_bytes());
    println!("damaged records: {}", report.damage.len());
    println!("damaged objects: {}", report.damaged_objects.len());
    for t in &report.torn_tails {
        println!("torn tail: {t}");
    }
    for d in &report.damage {
        println!("DAMAGED RECORD: {d}");
    }
    for d in &report.damaged_objects {
        println!("DAMAGED OBJECT: {d}");
    }
    if report.is_clean() {
        println!("OK");
        ExitCode::SUCCESS
    } else {
        println!("DAMAGE FOUND");
        ExitCode::from(VERIFY_EXIT_DAMAGED)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Bench(args)) => bench(args),
        Some(Command::Floor(args)) => floor(args),
        Some(Command::Verify { data_dir }) => return verify(&data_dir),
        None => serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringstore: {e}");
            ExitCode::FAILURE
        }
    }
}
