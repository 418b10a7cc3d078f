//! Per-shard request metrics and their Prometheus text rendering. Each shard
//! counts in its own `RefCell` (no atomics, nothing shared); a scrape asks
//! every shard for a snapshot by message and renders them with a `shard` label.

use crate::server::lifecycle::LifecycleStats;
use crate::server::md5_batch::Md5BatchStats;
use crate::server::shard::ShardCtx;
use crate::store::{CacheStats, StoreStats};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Instant;

/// Latencies are recorded in microseconds, 1 µs .. 1 hour, 2 significant digits.
const LATENCY_MAX_MICROS: u64 = 3_600_000_000;
const LATENCY_SIGFIG: u8 = 2;
/// Quantiles each scrape reports per operation.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.99, 0.999];

#[derive(Default)]
pub struct ShardMetrics {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram<u64>>,
    bytes_in: u64,
    bytes_out: u64,
    in_flight: u64,
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
        let micros = (t.started.elapsed().as_micros() as u64).clamp(1, LATENCY_MAX_MICROS);
        let h = self.latency.entry(operation).or_insert_with(|| {
            Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, LATENCY_SIGFIG)
                .expect("constant histogram bounds are valid")
        });
        h.saturating_record(micros);
    }

    pub fn snapshot(&self, ctx: &ShardCtx) -> MetricsSnapshot {
        MetricsSnapshot {
            shard: ctx.id,
            requests: self
                .requests
                .iter()
                .map(|(&(op, status), &n)| (op, status, n))
                .collect(),
            latency: self
                .latency
                .iter()
                .map(|(&op, h)| LatencySummary {
                    operation: op,
                    count: h.len(),
                    sum_micros: (h.mean() * h.len() as f64) as u64,
                    quantiles_micros: QUANTILES.map(|q| h.value_at_quantile(q)),
                })
                .collect(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            in_flight: self.in_flight,
            connections: ctx.connections.get() as u64,
            store: ctx.store.stats(),
            cache: ctx.store.cache_stats(),
            md5: ctx.md5.stats(),
            spin_turns: crate::shard::spin::turns(),
            mesh_answers: ctx.answers.get(),
            lifecycle: *ctx.lifecycle_stats.borrow(),
        }
    }
}

pub struct LatencySummary {
    pub operation: &'static str,
    pub count: u64,
    pub sum_micros: u64,
    pub quantiles_micros: [u64; 4],
}

/// One shard's figures at scrape time (Send: it crosses the mesh).
pub struct MetricsSnapshot {
    pub shard: usize,
    pub requests: Vec<(&'static str, u16, u64)>,
    pub latency: Vec<LatencySummary>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub in_flight: u64,
    pub connections: u64,
    pub store: StoreStats,
    pub cache: CacheStats,
    pub md5: Md5BatchStats,
    /// Event-loop turns spent spinning instead of sleeping (`shard::spin`).
    pub spin_turns: u64,
    /// Answers to peers: (through the asker's mesh queue, sent directly).
    pub mesh_answers: (u64, u64),
    pub lifecycle: LifecycleStats,
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

const PER_SHARD: [Gauge; 24] = [
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

/// The Prometheus text exposition (format 0.0.4) of every shard's snapshot.
pub fn render(shards: &[MetricsSnapshot]) -> String {
    let mut out = String::with_capacity(4096);
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
    for (name, kind, help, get) in PER_SHARD {
        family(&mut out, name, kind, help);
        for s in shards {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, get(s));
        }
    }
    let name = "ringstore_request_duration_seconds";
    family(
        &mut out,
        name,
        "summary",
        "Request latency by operation (HDR histogram quantiles).",
    );
    for s in shards {
        for l in &s.latency {
            let labels = format!("shard=\"{}\",operation=\"{}\"", s.shard, l.operation);
            for (q, v) in QUANTILES.iter().zip(l.quantiles_micros) {
                let _ = writeln!(
                    out,
                    "{name}{{{labels},quantile=\"{q}\"}} {}",
                    v as f64 / 1e6
                );
            }
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", l.sum_micros as f64 / 1e6);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", l.count);
        }
    }
    out
}
