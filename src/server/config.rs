//! Settings a running server reads; built from the CLI in main.rs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A keep-alive connection that sends nothing between requests for this
/// long is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A request head must be complete this long after its first byte arrived,
/// and a new connection's first head this long after it was accepted: a
/// socket that never sends a request holds its descriptor for seconds, not
/// a minute (slowloris defense).
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one shard serves at once; past it the longest-idle one is
/// closed for a new one (`server::admission`).
pub const DEFAULT_MAX_CONNECTIONS_PER_SHARD: usize = 4096;
/// Connections one client address (IPv6: one /64) may hold across all shards.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 1024;
/// Allowed distance between the client's and the server's clock (S3: 15 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 15 * 60;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub shards: usize,
    pub region: String,
    /// Enables virtual-hosted-style addressing for `<bucket>.<domain>`.
    pub domain: Option<String>,
    pub max_data_bytes: Option<u64>,
    /// Keep objects in memory instead of the log on disk, within this many
    /// bytes over all shards (`serve --memory`, `--memory-mib`); None: disk.
    /// No durability: everything is lost when the process ends.
    pub memory_bytes: Option<u64>,
    pub segment_bytes: u64,
    /// Use O_DIRECT for the logs (falls back automatically where unsupported).
    pub direct_io: bool,
    pub idle_timeout: Duration,
    /// See [`DEFAULT_HEAD_TIMEOUT`].
    pub head_timeout: Duration,
    pub max_connections_per_shard: usize,
    /// 0: no limit.
    pub max_connections_per_ip: u32,
    /// Pin shard i to the i-th allowed CPU.
    pub pin_threads: bool,
    /// Each shard's cache of hot record payloads, in bytes (0: none).
    pub cache_bytes_per_shard: usize,
    /// Where each shard keeps its index of object versions (`--index`).
    pub index: crate::store::IndexKind,
    /// On-disk index: each shard's memtable and block cache budgets.
    pub index_memtable_bytes: usize,
    pub index_cache_bytes: usize,
    /// Run background compaction (off: garbage is never reclaimed; for
    /// measurements and for operators who need the disk quiet for a while).
    pub compaction: bool,
    /// Hash the MD5 (ETag) of concurrent uploads together in SIMD lanes
    /// (`server::md5_batch`); off: each body is hashed on its own as it arrives.
    pub md5_batch: bool,
    /// How often each shard walks its keys for lifecycle expiration (zero: never).
    pub lifecycle_interval: Duration,
    /// The optional HTTPS listener.
    pub tls: Option<super::tls::TlsListen>,
    /// The SSE-S3 master key (loaded from the data dir at start).
    pub sse_master: Option<crate::sse::MasterKey>,
    /// Accept SSE-C keys over plain HTTP (S3 refuses them; for loopback tests and benchmarks).
    pub sse_c_over_http: bool,
    /// The shortest waiting period of an SSE-KMS key's scheduled deletion.
    pub kms_min_deletion_wait: Duration,
    /// Add the tuning series (`admin::metrics::INTERNAL_PER_SHARD`) to the scrape.
    pub internal_metrics: bool,
    /// Accept Signature Version 2 (header, presigned query) besides SigV4.
    pub allow_sigv2: bool,
    /// Open stores whose durable records are damaged, dropping those
    /// records (`--accept-data-loss`); otherwise such a store fails start-up.
    pub accept_data_loss: bool,
    /// The ownership controls a bucket gets when CreateBucket names none
    /// (`serve --object-ownership`; docs/ACCESS-CONTROL.md says why the
    /// default is ObjectWriter).
    pub default_object_ownership: crate::access::ObjectOwnership,
    /// Fault-injection rules from `--faults FILE` (docs/faults.md); None: off.
    pub faults: Option<crate::faults::FaultRules>,
    /// Name the rules that acted on an answer in `x-ringstore-fault`.
    pub faults_header: bool,
    /// Rate limits from `serve --rate-limit-*` (docs/rate-limits.md).
    pub rate_limits: crate::ratelimit::Defaults,
}
