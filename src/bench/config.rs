//! `ringstore bench` arguments and the small value parsers behind them
//! (sizes like `4KiB`, distributions like `4KiB:70,1MiB:30`, mixes like
//! `get=90,put=10`, durations like `10s`).

use clap::{Args, ValueEnum};
use std::time::Duration;

/// Largest object the generator will send or expect (keeps buffers bounded).
pub const MAX_OBJECT_BYTES: u64 = 1 << 30;
/// Highest `--rate`, operations per second.
pub const MAX_RATE: f64 = 10_000_000.0;
/// Most entries in a size distribution or an operation mix.
pub const MAX_WEIGHTED_ENTRIES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WorkloadKind {
    Put,
    Get,
    Mixed,
    Delete,
    List,
}

/// Server-side encryption of the objects a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SseMode {
    /// SSE-S3: `x-amz-server-side-encryption: AES256` on every PUT.
    S3,
    /// SSE-C with a fixed key, sent on PUTs and GETs (needs HTTPS, or a
    /// ringstore started with --allow-sse-c-over-http).
    C,
}

impl SseMode {
    /// The headers (lowercase names) a PUT and a GET carry for this mode.
    pub fn headers(self, put: bool) -> Vec<(String, String)> {
        use base64::Engine;
        use md5::Digest;
        match (self, put) {
            (SseMode::S3, true) => vec![("x-amz-server-side-encryption".into(), "AES256".into())],
            (SseMode::S3, false) => Vec::new(),
            (SseMode::C, _) => {
                let key = [0x42u8; 32];
                let b64 = base64::engine::general_purpose::STANDARD;
                vec![
                    (
                        "x-amz-server-side-encryption-customer-algorithm".into(),
                        "AES256".into(),
                    ),
                    (
                        "x-amz-server-side-encryption-customer-key".into(),
                        b64.encode(key),
                    ),
                    (
                        "x-amz-server-side-encryption-customer-key-md5".into(),
                        b64.encode(md5::Md5::digest(key)),
                    ),
                ]
            }
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Workload to run.
    #[arg(long, value_enum, default_value = "get")]
    pub workload: WorkloadKind,
    /// S3 endpoint, `http://host:port`.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub access_key: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1", env = "AWS_DEFAULT_REGION")]
    pub region: String,
    /// Bucket to use; created if missing.
    #[arg(long, default_value = "ringstore-bench")]
    pub bucket: String,
    /// Key prefix of the benchmark objects.
    #[arg(long, default_value = "bench/")]
    pub prefix: String,
    /// Object size (`4KiB`) or a weighted distribution (`4KiB:70,1MiB:30`).
    #[arg(long, default_value = "4KiB")]
    pub size: String,
    /// Distinct object keys (pre-populated for get, mixed and delete).
    #[arg(long, default_value_t = 1000)]
    pub objects: u64,
    /// Connections in total, spread over the threads.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub concurrency: usize,
    /// Client threads, one monoio runtime each.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// How long to run (`10s`, `500ms`, `2m`); ignored when --ops is given.
    #[arg(long, default_value = "10s")]
    pub duration: String,
    /// Stop after this many operations instead of after --duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Operation mix for `--workload mixed`, e.g. `get=90,put=10` (names: get, put,
    /// delete, list; with delete in the mix, GETs of deleted keys count as NoSuchKey errors).
    #[arg(long, default_value = "get=90,put=10")]
    pub mix: String,
    /// Sign the payload (SHA-256 of the body) instead of UNSIGNED-PAYLOAD.
    #[arg(long)]
    pub sign_payload: bool,
    /// Check every GET body against the deterministic content of its key.
    #[arg(long)]
    pub verify: bool,
    /// Skip bucket creation and pre-population (objects already exist).
    #[arg(long)]
    pub no_prepare: bool,
    /// Send no Authorization header (for the HTTP floor, which ignores it).
    #[arg(long)]
    pub no_sign: bool,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Write the report as a Markdown table to this file.
    #[arg(long)]
    pub markdown: Option<std::path::PathBuf>,
    /// Print a presigned URL for the first object (for wrk) and exit after preparing.
    #[arg(long)]
    pub presign_only: bool,
    /// The method the --presign-only URL is signed for.
    #[arg(long, value_parser = ["GET", "PUT"], default_value = "GET")]
    pub presign_method: String,
    /// Encrypt the objects written (preparation included): `s3` or `c`.
    #[arg(long, value_enum)]
    pub sse: Option<SseMode>,
    /// Set the bucket's versioning before the run (PutBucketVersioning):
    /// with `enabled`, every PUT adds a version.
    #[arg(long, value_parser = ["enabled", "suspended"])]
    pub versioning: Option<String>,
    /// Retry a failed operation up to N times as the AWS SDKs' standard
    /// retry mode does (5xx, SlowDown and other throttling or transient
    /// codes, connection errors before an answer; full-jitter exponential
    /// backoff). The SDKs' default of 3 attempts is `--retries 2`.
    #[arg(long, default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(super::retry::MAX_RETRIES)))]
    pub retries: u32,
    /// The backoff's base: the wait before retry i is random in
    /// [0, base × 2^(i-1)), at most --retry-max-backoff (the SDKs: 1s, 20s).
    #[arg(long, default_value = "1s")]
    pub retry_base: String,
    #[arg(long, default_value = "20s")]
    pub retry_max_backoff: String,
    /// Open loop: start operations at this constant rate (per second, all
    /// connections together) whether or not earlier ones have finished, and
    /// measure each one's latency from its scheduled start (no coordinated
    /// omission). Without it each connection starts its next operation when
    /// the last one ends (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
}

/// Parses `4096`, `4KiB`, `4KB` (= 4000), `1MiB`, `1m` (= MiB), `2GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => return Err(format!("bad size unit in {s:?}")),
    };
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} overflows"))?;
    if bytes > MAX_OBJECT_BYTES {
        return Err(format!("size {s:?} exceeds {MAX_OBJECT_BYTES} bytes"));
    }
    Ok(bytes)
}

/// Parses `4KiB` or `4KiB:70,1MiB:30` into (size, weight) pairs.
pub fn parse_size_dist(s: &str) -> Result<Vec<(u64, u32)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (size, weight) = match part.split_once(':') {
            Some((a, w)) => (
                a,
                w.trim()
                    .parse()
                    .map_err(|_| format!("bad weight in {part:?}"))?,
            ),
            None => (part, 1),
        };
        out.push((parse_size(size)?, weight));
    }
    check_weights(&out, s)?;
    Ok(out)
}

/// Parses `get=90,put=10` (names: get, put, delete, list).
pub fn parse_mix(s: &str) -> Result<Vec<(OpKind, u32)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, w) = part
            .split_once('=')
            .ok_or_else(|| format!("mix entry {part:?} is not name=weight"))?;
        let op = match name.trim() {
            "get" => OpKind::Get,
            "put" => OpKind::Put,
            "delete" => OpKind::Delete,
            "list" => OpKind::List,
            other => return Err(format!("unknown operation {other:?} in mix")),
        };
        let w: u32 = w
            .trim()
            .parse()
            .map_err(|_| format!("bad weight in {part:?}"))?;
        out.push((op, w));
    }
    check_weights(&out, s)?;
    Ok(out)
}

fn check_weights<T>(entries: &[(T, u32)], src: &str) -> Result<(), String> {
    if entries.is_empty() || entries.len() > MAX_WEIGHTED_ENTRIES {
        return Err(format!("{src:?}: need 1..={MAX_WEIGHTED_ENTRIES} entries"));
    }
    if entries.iter().map(|e| u64::from(e.1)).sum::<u64>() == 0 {
        return Err(format!("{src:?}: weights sum to zero"));
    }
    Ok(())
}

/// Parses `10s`, `500ms`, `2m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("bad duration {s:?}");
    if let Some(ms) = s.strip_suffix("ms") {
        return Ok(Duration::from_millis(ms.parse().map_err(|_| bad())?));
    }
    if let Some(m) = s.strip_suffix('m') {
        return Ok(Duration::from_secs(
            60 * m.parse::<u64>().map_err(|_| bad())?,
        ));
    }
    let secs = s.strip_suffix('s').unwrap_or(s);
    Ok(Duration::from_secs_f64(secs.parse().map_err(|_| bad())?))
}

/// The operations the generator issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    Put,
    Get,
    Delete,
    List,
}

impl OpKind {
    pub const ALL: [OpKind; 4] = [OpKind::Put, OpKind::Get, OpKind::Delete, OpKind::List];

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "PUT",
            OpKind::Get => "GET",
            OpKind::Delete => "DELETE",
            OpKind::List => "LIST",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Checks a `--rate`: positive, finite, at most `MAX_RATE`.
pub fn check_rate(rate: f64) -> Result<f64, String> {
    if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE {
        Ok(rate)
    } else {
        Err(format!(
            "--rate {rate}: must be above 0 and at most {MAX_RATE} operations per second"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(check_rate(250.0), Ok(250.0));
        assert_eq!(check_rate(0.5), Ok(0.5));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_RATE * 2.0] {
            assert!(check_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("4kb").unwrap(), 4000);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("17").unwrap(), 17);
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("2GiB").is_err());
        assert_eq!(
            parse_size_dist("4KiB:70,1MiB:30").unwrap(),
            vec![(4096, 70), (1 << 20, 30)]
        );
        assert!(parse_size_dist("4KiB:0").is_err());
    }

    #[test]
    fn mixes_and_durations() {
        assert_eq!(
            parse_mix("get=90,put=10").unwrap(),
            vec![(OpKind::Get, 90), (OpKind::Put, 10)]
        );
        assert!(parse_mix("head=1").is_err());
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    }
}
