//! The ringstore command line: `serve` (the default) and admin helpers.

mod admin_cli;
mod config;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
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
    /// Manage a running server through its JSON API: credentials, buckets,
    /// presigned URLs, stats, health.
    Admin(admin_cli::AdminArgs),
    /// Config files: check one, or print the reference of every option.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file without starting the server: TOML syntax,
    /// known keys, values; then print what `serve --config FILE` would run
    /// with and where each value comes from (exit 0: valid, 1: not).
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
    /// Print the configuration reference (Markdown; docs/configuration.md).
    Reference,
}

/// `--index`: where object metadata lives.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum IndexArg {
    Memory,
    Disk,
}

impl From<IndexArg> for ringstore::store::IndexKind {
    fn from(a: IndexArg) -> Self {
        match a {
            IndexArg::Memory => ringstore::store::IndexKind::Memory,
            IndexArg::Disk => ringstore::store::IndexKind::Disk,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// What the server logs when `--log` / RINGSTORE_LOG does not say.
const DEFAULT_LOG_FILTER: &str = "info,monoio=warn";

/// Settings of the shards' runtimes, shared by `serve` and `floor` (the
/// floor is the same runtime without S3, so it takes the same knobs).
#[derive(Args, Clone)]
struct RuntimeArgs {
    /// How the io_uring rings are set up: coop (COOP_TASKRUN + SINGLE_ISSUER),
    /// defer (SINGLE_ISSUER + DEFER_TASKRUN) or plain (no flags). Kernels that
    /// refuse the flags get plain. See tuning/README.md.
    #[arg(long, value_enum, default_value = "coop")]
    io_uring_setup: UringSetup,
    /// Microseconds a shard keeps its event loop turning after a request or
    /// a message from another shard before it sleeps (0: sleep at once).
    /// Spinning saves the wake-up a peer's message or a completion would
    /// otherwise need, at the price of a busy core; only shards with at most
    /// two active client connections spin. See tuning/README.md.
    #[arg(long, default_value_t = 200,
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

/// A rate limit flag's `RATE[:BURST][,BYTES]`.
fn parse_rate_limit(text: &str) -> Result<ringstore::ratelimit::Limit, String> {
    ringstore::ratelimit::Limit::parse(text)
}

fn parse_object_ownership(s: &str) -> Result<ringstore::access::ObjectOwnership, String> {
    ringstore::access::ObjectOwnership::parse(s).ok_or_else(|| {
        format!("{s}: expected ObjectWriter, BucketOwnerPreferred or BucketOwnerEnforced")
    })
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    ringstore::bench::config::parse_size(s)
}

// Every option of `serve`, and the only list of them. (A plain comment:
// clap would print a doc comment here as the program's help text.)
//
// To add an option, add a field here with `#[arg(long, ...)]` and a doc
// comment (its help text), and use it in `ServeArgs::server_config`. That
// is all: `--the-option` also becomes the environment variable
// `RINGSTORE_THE_OPTION` and the config-file key `the_option`, in that
// precedence order (src/config.rs; do not give it an `env = ...` of its
// own), and appears in docs/configuration.md once you regenerate it
// (`cargo run -- config reference > docs/configuration.md`; a test fails
// until you do).
#[derive(Args, Clone)]
struct ServeArgs {
    /// Read options from this TOML file (keys: the options' names in
    /// snake_case, e.g. `data_dir = "/var/lib/ringstore"`). Flags and
    /// environment variables override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on for S3 requests.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Also serve HTTPS on this address (needs --tls-cert and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    tls_listen: Option<SocketAddr>,
    /// PEM certificate chain (leaf first) the HTTPS listener presents.
    #[arg(long, requires = "tls_listen")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate.
    #[arg(long, requires = "tls_listen")]
    tls_key: Option<PathBuf>,
    /// Accept SSE-C customer keys over plain HTTP. S3 refuses them there (the
    /// key would cross the network in clear); for loopback tests and benchmarks.
    #[arg(long)]
    allow_sse_c_over_http: bool,
    /// Also accept Signature Version 2 (header and presigned query auth), which
    /// older tools still send (aws CLI v1 presign, boto3 `signature_version='s3'`,
    /// s3cmd without --signature-v4). Off by default: SigV4 only, as S3 is today.
    #[arg(long)]
    allow_sigv2: bool,
    /// Object ownership of buckets created without x-amz-object-ownership:
    /// BucketOwnerEnforced (ACLs off, the bucket owner owns every object:
    /// Amazon S3's default since April 2023), BucketOwnerPreferred or
    /// ObjectWriter (docs/ACCESS-CONTROL.md).
    #[arg(long, default_value = "BucketOwnerEnforced", value_parser = parse_object_ownership)]
    object_ownership: ringstore::access::ObjectOwnership,
    /// Data directory (created on first start; holds logs, catalog and credentials).
    #[arg(long, default_value = "./ringstore-data")]
    data_dir: PathBuf,
    /// Number of shards (threads, one per core). Default: every CPU this process may use,
    /// or the count recorded in an existing data dir.
    #[arg(long)]
    shards: Option<usize>,
    /// Region reported to clients and required in SigV4 credential scopes.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Domain for virtual-hosted-style requests (`bucket.DOMAIN`); path style always works.
    #[arg(long)]
    domain: Option<String>,
    /// Cap on the bytes the shards' files take on disk (segments, spare, checkpoints;
    /// all shards together, exact). Object writes answer 507 once only the reserve
    /// kept for deletes, aborts and compaction is left.
    #[arg(long)]
    max_data_bytes: Option<u64>,
    /// Keep objects in memory instead of the log on disk, for load tests
    /// and throw-away CI endpoints: the same S3 API, shards and limits, but
    /// NO DURABILITY: every object, bucket and credential is lost when the
    /// process exits. Buckets, credentials and the SSE master key go to a
    /// fresh temporary directory (removed at stop); --data-dir is not used.
    /// Objects may take --memory-mib; past it writes answer 507 until
    /// deletes free room, as on a full disk.
    #[arg(long)]
    memory: bool,
    /// With --memory: memory the stored objects may take, all shards
    /// together, in MiB (default 1024; counted like --max-data-bytes counts
    /// files, log records and the reserve for deletes included; the smaller
    /// of the two applies). The process needs this much plus its usual
    /// overhead. Refused without --memory.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=(1 << 30)))]
    memory_mib: Option<u64>,
    /// Size of each preallocated log segment, in MiB.
    #[arg(long, default_value_t = 256)]
    segment_mib: u64,
    /// Use buffered I/O instead of O_DIRECT for the logs (O_DIRECT falls back automatically where unsupported).
    #[arg(long)]
    no_direct_io: bool,
    /// Do not pin shard threads to CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Close keep-alive connections idle between requests for this many seconds.
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Seconds a request head may take once its first byte arrived, and a new
    /// connection's first request head from the accept (TLS handshake
    /// included): sockets that send no request are closed this soon.
    #[arg(long, default_value_t = server::config::DEFAULT_HEAD_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    head_timeout_secs: u64,
    /// Connections each shard serves at once. Past it the connection idle
    /// longest is closed for the new one (a new one is refused only when
    /// every connection is mid-request). The open file limit can lower it.
    #[arg(long, default_value_t = server::config::DEFAULT_MAX_CONNECTIONS_PER_SHARD as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections_per_shard: u64,
    /// Connections one client address (IPv6: one /64) may hold across all
    /// shards; more are closed at once (0: no limit).
    #[arg(long, default_value_t = server::config::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    max_connections_per_ip: u32,
    /// Memory each shard keeps for hot object data, in MiB (O_DIRECT bypasses the
    /// kernel's page cache; objects up to 1/16 of this are cached). 0 disables it.
    #[arg(long, default_value_t = 256)]
    cache_mib: usize,
    /// Where each shard keeps the metadata of its objects: memory (every
    /// version's metadata in RAM, several hundred bytes each; a start loads
    /// a checkpoint and replays the log after it) or disk (in the shard's
    /// index/ files; RAM holds the two budgets below, and a start replays
    /// only the log written since the index was last written). A data dir
    /// may switch between them: the index is rebuilt from the log when it
    /// does not match (docs/INDEX.md).
    #[arg(long, value_enum, default_value = "memory")]
    index: IndexArg,
    /// On-disk index: memory for each shard's newest index changes, in
    /// MiB; when it fills, they are written to the index files.
    #[arg(long, default_value_t = 64)]
    index_memtable_mib: usize,
    /// On-disk index: memory for each shard's cache of index blocks, in MiB.
    #[arg(long, default_value_t = 64)]
    index_cache_mib: usize,
    /// Do not run background compaction: space of overwritten and deleted
    /// objects is not reclaimed until a start without this flag (for
    /// measuring compaction's cost, or keeping the disk quiet for a while).
    #[arg(long)]
    no_compaction: bool,
    /// Hash each upload's MD5 (its ETag) on its own instead of together with
    /// the shard's other uploads in SIMD lanes (for measuring the batching, or
    /// on hosts where AVX-512 lowers the clock).
    #[arg(long)]
    no_md5_batch: bool,
    /// How often each shard looks for objects that bucket lifecycle rules
    /// have expired, in seconds (0: never expire anything).
    #[arg(long, default_value_t = 600)]
    lifecycle_interval_secs: u64,
    /// The shortest waiting period an SSE-KMS key's scheduled deletion may
    /// have, in seconds (default 7 days, KMS's minimum; lower it only for
    /// tests: a deleted key makes its objects unreadable for good).
    #[arg(long, default_value_t = ringstore::sse::kms::DEFAULT_MIN_DELETION_WAIT_SECS)]
    kms_min_deletion_wait_secs: u64,
    /// Add the tuning series of the write path and the shard loop (MD5
    /// batching, idle spin, mesh answers, segment preparation) to
    /// /_admin/metrics. They help whoever measures the server; a dashboard
    /// does not need them.
    #[arg(long)]
    internal_metrics: bool,
    /// On SIGTERM or SIGINT, stop accepting connections and give requests in
    /// flight this many seconds to finish before exiting (a second signal
    /// exits at once). Keep it below the service manager's stop timeout.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// Log line format on stderr: text (for people) or json (one object a
    /// line, for log collectors).
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Which log lines to write: a level (error, warn, info, debug, trace)
    /// or a tracing filter (`info,ringstore::store=debug`).
    #[arg(long, default_value = DEFAULT_LOG_FILTER)]
    log: String,
    /// Start even if records that had been durable are damaged (media
    /// damage: bit rot, a bad sector, a file changed by something else).
    /// Without it the server refuses to start and names the damage; with
    /// it the damaged records, and the objects they hold, are dropped and
    /// every dropped byte range is logged. A torn last write from a crash
    /// or power cut never needs it (nothing in it was acknowledged).
    #[arg(long)]
    accept_data_loss: bool,
    /// Fault injection for testing clients (docs/faults.md): a TOML or JSON
    /// file of rules that make matching S3 requests slow, fail with an S3
    /// error, lose their connection, or get a slow or cut-off GET body. The
    /// admin API lists and replaces the rules live (/_admin/api/v1/faults).
    /// Leave it unset on a server that serves real clients.
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Name the fault rules that acted on an answer in its
    /// `x-ringstore-fault` header, so a test can tell injected errors from
    /// real ones.
    #[arg(long)]
    faults_header: bool,
    /// Rate limit of every credential (access key) in requests per second
    /// over all shards, `RATE[:BURST]` (burst default: one second's worth),
    /// and optionally body bytes per second, `,BYTES` (`100:20,10MiB`); a
    /// request over it answers 503 SlowDown. The admin API sets limits for
    /// single credentials (docs/rate-limits.md).
    #[arg(long, value_name = "RATE[:BURST][,BYTES]", value_parser = parse_rate_limit)]
    rate_limit_credential: Option<ringstore::ratelimit::Limit>,
    /// Rate limit of every bucket, as --rate-limit-credential; the admin
    /// API sets limits for single buckets.
    #[arg(long, value_name = "RATE[:BURST][,BYTES]", value_parser = parse_rate_limit)]
    rate_limit_bucket: Option<ringstore::ratelimit::Limit>,
    /// Rate limit of every key prefix of every bucket, as
    /// --rate-limit-credential: S3's per-prefix throttling (a prefix is a
    /// key up to its --rate-limit-prefix-depth-th `/`).
    #[arg(long, value_name = "RATE[:BURST][,BYTES]", value_parser = parse_rate_limit)]
    rate_limit_prefix: Option<ringstore::ratelimit::Limit>,
    /// How many `/`-separated parts of a key make the prefix that
    /// --rate-limit-prefix limits (1: `logs/2024/a.gz` counts under `logs/`).
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=ringstore::ratelimit::MAX_PREFIX_DEPTH as i64))]
    rate_limit_prefix_depth: u32,
    /// Also count requests refused by a rate limit per access key and per
    /// bucket name in metrics (ringstore_rate_limited_by_name_total; at
    /// most 256 names of each kind per shard). Off: metrics name no
    /// credential or bucket.
    #[arg(long)]
    rate_limit_metric_names: bool,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// Logs to stderr. `filter` is a level or a tracing filter.
fn init_logging(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("--log {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        // A log that cannot be written (a full disk, a closed pipe) must not
        // take a shard down: without this, tracing-subscriber reports the
        // failure with eprintln!, which panics when stderr fails too.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
    Ok(())
}

/// The log filter of the commands other than `serve`.
fn env_log_filter() -> String {
    std::env::var("RINGSTORE_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.into())
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

impl ServeArgs {
    /// The server's settings, checked (no side effects: `config check`
    /// calls it too).
    /// The memory backend's bound, or None for the log on disk.
    fn memory_bytes(&self) -> Result<Option<u64>, String> {
        match (self.memory, self.memory_mib) {
            (true, mib) => Ok(Some(
                mib.unwrap_or(server::memory::DEFAULT_MEMORY_MIB) * 1024 * 1024,
            )),
            (false, None) => Ok(None),
            (false, Some(_)) => Err("--memory-mib (memory_mib, RINGSTORE_MEMORY_MIB) bounds \
                 the memory backend and needs --memory; without it objects go to the log in \
                 --data-dir (bound it with --max-data-bytes)"
                .into()),
        }
    }

    fn server_config(&self) -> Result<ServerConfig, String> {
        let shards = match self.shards {
            Some(0) => return Err("--shards must be at least 1".into()),
            Some(n) => n,
            None if self.memory => ringstore::shard::runtime::allowed_cpus().len().max(1),
            None => default_shards(&self.data_dir)?,
        };
        let tls = match (self.tls_listen, &self.tls_cert, &self.tls_key) {
            (Some(listen), Some(cert), Some(key)) => Some(server::tls::TlsListen {
                listen,
                cert: cert.clone(),
                key: key.clone(),
            }),
            (None, None, None) => None,
            // A file may set one without the others (clap checks only flags).
            _ => return Err("tls_listen, tls_cert and tls_key go together".into()),
        };
        Ok(ServerConfig {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            shards,
            region: self.region.clone(),
            domain: self.domain.clone(),
            max_data_bytes: self.max_data_bytes,
            memory_bytes: self.memory_bytes()?,
            segment_bytes: self.segment_mib.max(1) * 1024 * 1024,
            direct_io: !self.no_direct_io,
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs.max(1)),
            head_timeout: std::time::Duration::from_secs(self.head_timeout_secs),
            max_connections_per_shard: self.max_connections_per_shard as usize,
            max_connections_per_ip: self.max_connections_per_ip,
            pin_threads: !self.no_pin,
            cache_bytes_per_shard: self.cache_mib * 1024 * 1024,
            index: self.index.into(),
            index_memtable_bytes: self.index_memtable_mib.max(1) * 1024 * 1024,
            index_cache_bytes: self.index_cache_mib * 1024 * 1024,
            compaction: !self.no_compaction,
            md5_batch: !self.no_md5_batch,
            lifecycle_interval: std::time::Duration::from_secs(self.lifecycle_interval_secs),
            tls,
            sse_master: None,
            sse_c_over_http: self.allow_sse_c_over_http,
            kms_min_deletion_wait: std::time::Duration::from_secs(self.kms_min_deletion_wait_secs),
            internal_metrics: self.internal_metrics,
            allow_sigv2: self.allow_sigv2,
            accept_data_loss: self.accept_data_loss,
            default_object_ownership: self.object_ownership,
            faults: match &self.faults {
                Some(path) => Some(ringstore::faults::FaultRules::load(path)?),
                None => None,
            },
            faults_header: self.faults_header,
            rate_limits: ringstore::ratelimit::Defaults {
                credential: self.rate_limit_credential,
                bucket: self.rate_limit_bucket,
                prefix: self.rate_limit_prefix,
                prefix_depth: self.rate_limit_prefix_depth,
                metric_names: self.rate_limit_metric_names,
            },
        })
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    init_logging(args.log_format, &args.log)?;
    fail_stop_on_panic();
    args.runtime.apply();
    let cfg = args.server_config()?;
    // Before the shards start, so that they inherit the mask and only this
    // thread ever takes the signals.
    server::stop::block_stop_signals()?;
    let started = server::start(cfg.clone())?;
    print_banner(&cfg, &started);
    let sig = server::stop::wait_stop_signal();
    let grace = std::time::Duration::from_secs(args.shutdown_grace_secs);
    tracing::info!(
        "{}: stopping; requests in flight get {grace:?} (a second signal exits at once)",
        server::stop::signal_name(sig)
    );
    std::thread::spawn(|| {
        let sig = server::stop::wait_stop_signal();
        tracing::warn!("{}: exiting at once", server::stop::signal_name(sig));
        std::process::exit(EXIT_SECOND_SIGNAL);
    });
    let server::Started {
        stop,
        lock,
        data_dir,
        ..
    } = started;
    match stop.stop(grace) {
        server::stop::Stopped::Drained => tracing::info!("stopped: every request answered"),
        server::stop::Stopped::GraceExpired { shards_busy } => tracing::warn!(
            "stopped after the {grace:?} grace period with requests still in flight on {shards_busy} shard(s); \
             they were not acknowledged"
        ),
    }
    if cfg.memory_bytes.is_some() {
        server::memory::remove_catalog_dir(&data_dir);
    }
    // The shards run until the process exits: the kernel releases the data
    // dir's lock then, never while a shard may still touch the store.
    std::mem::forget(lock);
    Ok(())
}

/// Exit status when a second SIGTERM/SIGINT cuts a graceful stop short.
const EXIT_SECOND_SIGNAL: i32 = 130;

/// The start-up banner. Secrets are printed once, on the start that
/// generated them; later starts say where they are (service logs are kept
/// and often shipped elsewhere).
fn print_banner(cfg: &ServerConfig, started: &server::Started) {
    let endpoint = format!("http://{}", started.listen);
    let data_dir = &started.data_dir;
    let creds = data_dir.join("credentials.json");
    println!(
        "ringstore is listening on {endpoint} ({} shards, region {})",
        cfg.shards, cfg.region
    );
    if let Some(tls) = started.tls_listen {
        println!("HTTPS:       https://{tls}");
    }
    match cfg.memory_bytes {
        Some(bytes) => {
            println!(
                "storage:     MEMORY, NO DURABILITY: objects up to {} MiB are kept in memory \
                 only; everything is lost when the process exits",
                bytes >> 20
            );
            println!("catalog dir: {} (temporary)", data_dir.display());
        }
        None => println!("data dir:    {}", data_dir.display()),
    }
    let root = &started.root;
    if started.credentials_created {
        println!(
            "generated root credentials, shown this once (saved to {}):",
            creds.display()
        );
        println!("  access key: {}", root.access_key);
        println!("  secret key: {}", root.secret_key);
        println!("  admin API key: {}", root.admin_api_key);
    } else {
        println!("root access key: {}", root.access_key);
        println!(
            "secret key and admin API key: in {} (mode 0600)",
            creds.display()
        );
    }
    let master_key = data_dir.join(ringstore::sse::MASTER_KEY_FILE);
    match cfg.memory_bytes {
        // Nothing to back up: the objects it protects die with the process.
        Some(_) => println!(
            "SSE master key: {}  (generated for this run, removed with the objects)",
            master_key.display()
        ),
        None => println!(
            "SSE master key: {}  (back it up: SSE-S3 objects cannot be read without it)",
            master_key.display()
        ),
    }
    println!("console:     {endpoint}/_admin/  (sign in with the admin API key)");
    println!("API docs:    {endpoint}/_admin/docs  (OpenAPI: {endpoint}/_admin/openapi.json)");
    println!("metrics:     {endpoint}/_admin/metrics");
    if started.credentials_created {
        println!("try it:");
        println!(
            "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_DEFAULT_REGION={} aws --endpoint-url {endpoint} s3 mb s3://my-bucket",
            root.access_key, root.secret_key, cfg.region
        );
    }
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
    server::fdlimit::raise_and_log();
    // The durable floor's store is a data dir like any other: one process at a time.
    let _lock = match &args.durable_dir {
        Some(dir) => {
            ringstore::util::private_fs::create_private_dir_all(dir)
                .map_err(|e| format!("create {}: {e}", dir.display()))?;
            Some(server::dirlock::lock_data_dir(dir)?)
        }
        None => None,
    };
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
    // A live server's tails are mid-write: checking them would call them damage.
    let _lock = match data_dir
        .is_dir()
        .then(|| server::dirlock::lock_data_dir(data_dir))
    {
        Some(Err(e)) => {
            eprintln!("ringstore verify: {e}");
            return ExitCode::from(VERIFY_EXIT_ERROR);
        }
        held => held,
    };
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

/// Parses the command line, with the `--config` file's values (if any) as
/// the serve options' defaults (see src/config.rs).
fn parse_cli() -> Result<Cli, String> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = config::cli(Cli::command());
    if let Some(path) = config::config_path(&cmd, &argv) {
        let file = config::load(&path, &config::serve_command(&cmd))?;
        cmd = config::apply(cmd, &file);
    }
    let matches = cmd.get_matches_from(&argv);
    Cli::from_arg_matches(&matches).map_err(|e| e.exit())
}

/// `ringstore config check FILE`: exit 0 when `serve --config FILE` would
/// start with it, 1 when not.
fn config_check(file: &std::path::Path) -> Result<(), String> {
    let cli = config::cli(Cli::command());
    let serve_cmd = config::serve_command(&cli);
    let loaded = config::load(file, &serve_cmd)?;
    // The file alone: the environment is reported below, not mixed in.
    let file_only = config::without_env(serve_cmd.clone());
    let matches = config::with_file_defaults(file_only.clone(), &loaded)
        .try_get_matches_from([config::SERVE])
        .map_err(|e| {
            format!(
                "config file {}: {}",
                file.display(),
                config::clap_message(&e)
            )
        })?;
    let args = ServeArgs::from_arg_matches(&matches).map_err(|e| config::clap_message(&e))?;
    args.server_config()
        .map_err(|e| format!("config file {}: {e}", file.display()))?;
    tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| format!("config file {}: key `log`: {e}", file.display()))?;
    println!("{}: OK ({} keys)", file.display(), loaded.values.len());
    for (key, value, source) in config::sources(&file_only, &loaded) {
        println!("  {key} = {value:?}  ({source})");
    }
    let overriding: Vec<String> = serve_cmd
        .get_arguments()
        .filter_map(config::env_name)
        .filter(|env| std::env::var_os(env).is_some())
        .collect();
    if !overriding.is_empty() {
        println!(
            "set in this environment, overriding the file: {}",
            overriding.join(", ")
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("ringstore: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Some(Command::Serve(args)) => return exit_code(serve(args)),
        None => return exit_code(serve(cli.serve)),
        Some(other) => other,
    };
    if let Err(e) = init_logging(LogFormat::Text, &env_log_filter()) {
        eprintln!("ringstore: {e}");
        return ExitCode::FAILURE;
    }
    let result = match command {
        Command::Bench(args) => bench(args),
        Command::Floor(args) => floor(args),
        Command::Verify { data_dir } => return verify(&data_dir),
        Command::Config(ConfigCommand::Check { file }) => config_check(&file),
        Command::Admin(args) => admin_cli::run(args),
        Command::Config(ConfigCommand::Reference) => {
            let cli = config::cli(Cli::command());
            print!(
                "{}",
                config::reference_markdown(&config::serve_command(&cli))
            );
            Ok(())
        }
        Command::Serve(_) => unreachable!("serve returned above"),
    };
    exit_code(result)
}

fn exit_code(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringstore: {e}");
            ExitCode::FAILURE
        }
    }
}
