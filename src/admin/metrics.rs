//! Per-shard request metrics and their Prometheus text rendering. Each shard
//! counts in its own `RefCell` (no atomics, nothing shared); a scrape asks
//! every shard for a snapshot by message and renders them with a `shard` label.
//!
//! Latency is a histogram with fixed buckets, the same on every shard and
//! every host, so Prometheus can sum them (`sum by (le)`) and take
//! quantiles over any window (`histogram_quantile` of a `rate`). There are
//! no lifetime-wide quantiles: they cannot be summed, and they stop moving.

use super::history::{History, Interval};
use crate::server::lifecycle::LifecycleStats;
use crate::server::md5_batch::Md5BatchStats;
use crate::server::shard::ShardCtx;
use crate::store::{CacheStats, StoreStats};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

/// Upper bounds of the latency buckets, in microseconds: 25 µs (a cached
/// GET on a spinning shard) to 10 s (a large object on a slow client).
pub const LATENCY_BUCKETS_MICROS: [u64; 18] = [
    25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];
/// Operations of the management API and console (`admin::serve`), left
/// out of the charts' history.
const ADMIN_OPERATION_PREFIX: &str = "Admin";

/// Buckets and the overflow (+Inf) one.
const LATENCY_SLOTS: usize = LATENCY_BUCKETS_MICROS.len() + 1;

/// One operation's latencies: a count per bucket (not cumulative), their
/// sum and count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub counts: [u64; LATENCY_SLOTS],
    pub sum_micros: u64,
}

impl LatencyHistogram {
    pub fn record(&mut self, micros: u64) {
        let slot = LATENCY_BUCKETS_MICROS.partition_point(|&le| le < micros);
        debug_assert!(slot < LATENCY_SLOTS);
        self.counts[slot] += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s counts (another shard's, or another operation's).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }
}

#[derive(Default)]
pub struct ShardMetrics {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, LatencyHistogram>,
    bytes_in: u64,
    bytes_out: u64,
    in_flight: u64,
    /// Faults injected, by (rule id, action) (`crate::faults`).
    faults: BTreeMap<(String, &'static str), u64>,
    /// S3 requests per recent interval, for the console's charts.
    history: History,
}

/// Marks one request in flight; `finish` ends it.
pub struct Timer {
    started: Instant,
}

impl ShardMetrics {
    pub fn start(&mut self) -> Timer {
        self.in_flight += 1;
        Timer {
            started: Instant::now(),
        }
    }

    pub fn finish(
        &mut self,
        t: Timer,
        operation: &'static str,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        debug_assert!(self.in_flight > 0, "finish without start");
        self.in_flight = self.in_flight.saturating_sub(1);
        *self.requests.entry((operation, status)).or_default() += 1;
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
        let now = Instant::now();
        let micros = now.saturating_duration_since(t.started).as_micros() as u64;
        self.latency.entry(operation).or_default().record(micros);
        // The charts show S3 clients' traffic, not the console's own polling.
        if !operation.starts_with(ADMIN_OPERATION_PREFIX) {
            self.history.record(now, micros, bytes_in, bytes_out);
        }
    }

    /// This shard's recent intervals (`history::merge` joins the shards').
    pub fn history(&self, now: Instant) -> Vec<Interval> {
        self.history.snapshot(now)
    }

    /// Ends a request that got no answer (its connection was reset by an
    /// injected fault, counted in `fault_injected`).
    pub fn abandon(&mut self, t: Timer) {
        debug_assert!(self.in_flight > 0, "abandon without start");
        self.in_flight = self.in_flight.saturating_sub(1);
        let Timer { started: _ } = t;
    }

    /// Counts one fault injected by rule `rule`.
    pub fn fault_injected(&mut self, rule: &str, action: &'static str) {
        match self.faults.get_mut(&(rule.to_string(), action)) {
            Some(n) => *n += 1,
            None => {
                self.faults.insert((rule.to_string(), action), 1);
            }
        }
    }

    pub fn snapshot(&self, ctx: &ShardCtx) -> MetricsSnapshot {
        MetricsSnapshot {
            shard: ctx.id,
            requests: self
                .requests
                .iter()
                .map(|(&(op, status), &n)| (op, status, n))
                .collect(),
            latency: self.latency.iter().map(|(&op, h)| (op, *h)).collect(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            in_flight: self.in_flight,
            connections: ctx.admission.table.len() as u64,
            admission: ctx.admission.stats(),
            store: ctx.store.stats(),
            cache: ctx.store.cache_stats(),
            md5: ctx.md5.stats(),
            spin_turns: crate::shard::spin::turns(),
            mesh_answers: ctx.answers.get(),
            lifecycle: *ctx.lifecycle_stats.borrow(),
            faults: self
                .faults
                .iter()
                .map(|((rule, action), &n)| (rule.clone(), *action, n))
                .collect(),
            rate_limits: ctx.limits.stats(),
            rate_limited_names: ctx.limits.throttled_by_name(),
        }
    }
}

/// One shard's figures at scrape time (Send: it crosses the mesh).
pub struct MetricsSnapshot {
    pub shard: usize,
    pub requests: Vec<(&'static str, u16, u64)>,
    pub latency: Vec<(&'static str, LatencyHistogram)>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub in_flight: u64,
    pub connections: u64,
    /// Idle connections shed and new ones refused (`server::admission`).
    pub admission: crate::server::admission::AdmissionStats,
    pub store: StoreStats,
    pub cache: CacheStats,
    pub md5: Md5BatchStats,
    /// Event-loop turns spent spinning instead of sleeping (`shard::spin`).
    pub spin_turns: u64,
    /// Answers to peers: (through the asker's mesh queue, sent directly).
    pub mesh_answers: (u64, u64),
    pub lifecycle: LifecycleStats,
    /// (rule id, action, faults injected).
    pub faults: Vec<(String, &'static str, u64)>,
    /// Rate limits by kind (`crate::ratelimit::Kind` order).
    pub rate_limits: [crate::ratelimit::KindStats; 3],
    /// Refusals by (kind, access key or bucket name): only with
    /// `--rate-limit-metric-names`.
    pub rate_limited_names: Vec<(crate::ratelimit::Kind, String, u64)>,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

type Gauge = (
    &'static str,
    &'static str,
    &'static str,
    fn(&MetricsSnapshot) -> u64,
);

/// Series an operator watches, one per shard.
const PER_SHARD: [Gauge; 18] = [
    (
        "ringstore_bytes_received_total",
        "counter",
        "Request body bytes received.",
        |s| s.bytes_in,
    ),
    (
        "ringstore_bytes_sent_total",
        "counter",
        "Response body bytes sent.",
        |s| s.bytes_out,
    ),
    (
        "ringstore_requests_in_flight",
        "gauge",
        "Requests being served now.",
        |s| s.in_flight,
    ),
    (
        "ringstore_connections",
        "gauge",
        "Open client connections.",
        |s| s.connections,
    ),
    (
        "ringstore_connections_shed_total",
        "counter",
        "Idle connections closed to make room for new ones (connection cap or open file limit).",
        |s| s.admission.shed,
    ),
    (
        "ringstore_connections_refused_total",
        "counter",
        "New connections closed unserved (per-client limit, or no idle connection to shed).",
        |s| s.admission.refused,
    ),
    (
        "ringstore_store_objects",
        "gauge",
        "Visible objects in this shard's index.",
        |s| s.store.objects,
    ),
    (
        "ringstore_store_live_bytes",
        "gauge",
        "Log bytes referenced by visible objects.",
        |s| s.store.live_bytes,
    ),
    (
        "ringstore_store_garbage_bytes",
        "gauge",
        "Log bytes not referenced by any visible object.",
        |s| s.store.garbage_bytes,
    ),
    (
        "ringstore_store_segments",
        "gauge",
        "Log segments on disk.",
        |s| s.store.segments,
    ),
    (
        "ringstore_store_flushes_total",
        "counter",
        "Log group-commit flushes since start.",
        |s| s.store.flushes,
    ),
    (
        "ringstore_store_damaged_records",
        "gauge",
        "Records recovery found damaged.",
        |s| s.store.damaged_records,
    ),
    (
        "ringstore_cache_bytes",
        "gauge",
        "Object data held in the shard's record cache.",
        |s| s.cache.bytes,
    ),
    (
        "ringstore_cache_hits_total",
        "counter",
        "Record reads served from the cache.",
        |s| s.cache.hits,
    ),
    (
        "ringstore_cache_misses_total",
        "counter",
        "Record reads of cacheable objects that went to disk.",
        |s| s.cache.misses,
    ),
    (
        "ringstore_lifecycle_passes_total",
        "counter",
        "Walks over the shard's keys for lifecycle expiration.",
        |s| s.lifecycle.passes,
    ),
    (
        "ringstore_lifecycle_expired_total",
        "counter",
        "Objects deleted because a bucket lifecycle rule expired them.",
        |s| s.lifecycle.expired,
    ),
    (
        "ringstore_lifecycle_aborted_uploads_total",
        "counter",
        "Multipart uploads aborted because a lifecycle rule's DaysAfterInitiation passed.",
        |s| s.lifecycle.aborted_uploads,
    ),
];

/// Tuning series of the write path and the shard loop (`--internal-metrics`):
/// useful to whoever measures the server, noise on a dashboard.
const INTERNAL_PER_SHARD: [Gauge; 8] = [
    (
        "ringstore_store_spares_zero_filled_total",
        "counter",
        "Next log segments prepared by zero-filling (small group commits).",
        |s| s.store.spares_zero_filled,
    ),
    (
        "ringstore_store_spares_preallocated_total",
        "counter",
        "Next log segments prepared by preallocation only (large group commits).",
        |s| s.store.spares_preallocated,
    ),
    (
        "ringstore_md5_steps_total",
        "counter",
        "Batched MD5 kernel steps (each hashes one block of up to 16 bodies).",
        |s| s.md5.steps,
    ),
    (
        "ringstore_md5_blocks_total",
        "counter",
        "64-byte blocks hashed for ETags; divided by steps, the mean bodies per step.",
        |s| s.md5.lane_blocks,
    ),
    (
        "ringstore_md5_alone_blocks_total",
        "counter",
        "Of the blocks hashed for ETags, those hashed by the scalar code (one body alone).",
        |s| s.md5.alone_blocks,
    ),
    (
        "ringstore_idle_spin_turns_total",
        "counter",
        "Event-loop turns the shard spent spinning after activity instead of sleeping (--idle-spin-us).",
        |s| s.spin_turns,
    ),
    (
        "ringstore_mesh_answers_queued_total",
        "counter",
        "Answers to another shard's request sent back through its mesh queue (one wake-up per batch).",
        |s| s.mesh_answers.0,
    ),
    (
        "ringstore_mesh_answers_direct_total",
        "counter",
        "Answers to another shard's request sent on its reply channel directly (light load, or its queue full).",
        |s| s.mesh_answers.1,
    ),
];

/// The Content-Type of the text exposition format this renders.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a scrape shows besides the shards' snapshots.
pub struct ScrapeContext<'a> {
    pub process: &'a super::process::ProcessStats,
    /// (data dir, its file system's figures).
    pub disk: Option<(&'a std::path::Path, super::process::DiskStats)>,
    /// Include [`INTERNAL_PER_SHARD`].
    pub internal: bool,
}

/// The Prometheus text exposition (format 0.0.4) of every shard's snapshot.
pub fn render(shards: &[MetricsSnapshot], scrape: &ScrapeContext) -> String {
    let mut out = String::with_capacity(8192);
    render_build_and_process(&mut out, scrape);
    family(
        &mut out,
        "ringstore_requests_total",
        "counter",
        "Requests by operation and HTTP status.",
    );
    for s in shards {
        for (op, status, n) in &s.requests {
            let _ = writeln!(
                out,
                "ringstore_requests_total{{shard=\"{}\",operation=\"{op}\",status=\"{status}\"}} {n}",
                s.shard
            );
        }
    }
    let internal: &[Gauge] = if scrape.internal {
        &INTERNAL_PER_SHARD
    } else {
        &[]
    };
    for (name, kind, help, get) in PER_SHARD.iter().chain(internal) {
        family(&mut out, name, kind, help);
        for s in shards {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, get(s));
        }
    }
    render_latency(&mut out, shards);
    render_faults(&mut out, shards);
    render_rate_limits(&mut out, shards);
    render_rate_limited_names(&mut out, shards);
    out
}

/// Per kind of limit, never per credential or bucket name (names stay out
/// of metrics).
/// `--rate-limit-metric-names`: refusals by access key and bucket name
/// (nothing at all without the option, so no name leaks into metrics).
fn render_rate_limited_names(out: &mut String, shards: &[MetricsSnapshot]) {
    if shards.iter().all(|s| s.rate_limited_names.is_empty()) {
        return;
    }
    let name = "ringstore_rate_limited_by_name_total";
    family(
        out,
        name,
        "counter",
        "Requests answered 503 SlowDown by a credential or bucket limit, by access key or bucket name \
         (--rate-limit-metric-names; \"\" counts names past the first 256 of a shard).",
    );
    for s in shards {
        for (kind, n, count) in &s.rate_limited_names {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",limit=\"{}\",name=\"{}\"}} {count}",
                s.shard,
                kind.name(),
                escape_label(n)
            );
        }
    }
}

fn render_rate_limits(out: &mut String, shards: &[MetricsSnapshot]) {
    use crate::ratelimit::{Kind, KindStats};
    /// Name, type, help, and the figure.
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&KindStats) -> f64,
    );
    let series: [Series; 3] = [
        (
            "ringstore_rate_limited_total",
            "counter",
            "Requests answered 503 SlowDown by a rate limit, by kind of limit (docs/rate-limits.md).",
            |k| k.throttled as f64,
        ),
        (
            "ringstore_rate_limit_buckets",
            "gauge",
            "Token buckets a shard tracks (one per credential, bucket or prefix seen), by kind of limit.",
            |k| k.buckets as f64,
        ),
        (
            "ringstore_rate_limit_tokens_in_use",
            "gauge",
            "Tokens taken and not yet refilled, summed over a shard's token buckets, by kind of limit.",
            |k| k.tokens_in_use,
        ),
    ];
    for (name, kind, help, value) in series {
        family(out, name, kind, help);
        for s in shards {
            for k in Kind::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{shard=\"{}\",limit=\"{}\"}} {}",
                    s.shard,
                    k.name(),
                    value(&s.rate_limits[k as usize])
                );
            }
        }
    }
}

fn render_faults(out: &mut String, shards: &[MetricsSnapshot]) {
    let name = "ringstore_faults_injected_total";
    family(
        out,
        name,
        "counter",
        "Faults injected by rule id and action (serve --faults, docs/faults.md).",
    );
    for s in shards {
        for (rule, action, n) in &s.faults {
            let _ = writeln!(
                out,
                "{name}{{shard=\"{}\",rule=\"{}\",action=\"{action}\"}} {n}",
                s.shard,
                escape_label(rule)
            );
        }
    }
}

fn render_latency(out: &mut String, shards: &[MetricsSnapshot]) {
    let name = "ringstore_request_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Request latency by operation, from the request head to the last byte of the answer.",
    );
    for s in shards {
        for (op, h) in &s.latency {
            let labels = format!("shard=\"{}\",operation=\"{op}\"", s.shard);
            let mut cumulative = 0;
            for (le, n) in LATENCY_BUCKETS_MICROS.iter().zip(h.counts) {
                cumulative += n;
                let le = *le as f64 / 1e6;
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let count = h.count();
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum_micros as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
        }
    }
}

fn render_build_and_process(out: &mut String, scrape: &ScrapeContext) {
    family(
        out,
        "ringstore_build_info",
        "gauge",
        "Always 1; the labels say which build is running.",
    );
    let _ = writeln!(
        out,
        "ringstore_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        crate::VERSION,
        crate::COMMIT
    );
    let p = scrape.process;
    let process: [(&str, &str, &str, f64); 7] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes as f64,
        ),
        (
            "process_open_fds",
            "gauge",
            "Open file descriptors (sockets and log segments).",
            p.open_fds as f64,
        ),
        (
            "process_max_fds",
            "gauge",
            "The open file descriptor limit.",
            p.max_fds as f64,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            p.start_time_secs,
        ),
        (
            "process_threads",
            "gauge",
            "Threads of the process (shards, checkpoint writers, the main thread).",
            p.threads as f64,
        ),
    ];
    for (name, kind, help, value) in process {
        family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
    if let Some((dir, d)) = &scrape.disk {
        let path = escape_label(&dir.display().to_string());
        for (name, help, value) in [
            (
                "ringstore_disk_capacity_bytes",
                "Size of the file system holding the data dir.",
                d.capacity_bytes,
            ),
            (
                "ringstore_disk_free_bytes",
                "Bytes of that file system the server may still use (free to unprivileged users).",
                d.free_bytes,
            ),
        ] {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name}{{path=\"{path}\"}} {value}");
        }
    }
}

/// A label value with `\`, `"` and newlines escaped (the exposition format).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_lands_in_the_first_bucket_at_or_above_it() {
        let mut h = LatencyHistogram::default();
        for micros in [0, 25, 26, 10_000_000, 10_000_001] {
            h.record(micros);
        }
        assert_eq!(h.counts[0], 2, "0 and 25 are <= 25 µs");
        assert_eq!(h.counts[1], 1, "26 µs is <= 50 µs");
        assert_eq!(h.counts[LATENCY_BUCKETS_MICROS.len() - 1], 1, "10 s");
        assert_eq!(
            h.counts[LATENCY_BUCKETS_MICROS.len()],
            1,
            "over 10 s: +Inf only"
        );
        assert_eq!(h.count(), 5);
        let mut sum = h;
        sum.merge(&h);
        assert_eq!(sum.count(), 10);
        assert_eq!(sum.sum_micros, 2 * h.sum_micros);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"/a "b"\c"#), r#"/a \"b\"\\c"#);
    }
}
