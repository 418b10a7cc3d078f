//! Per-operation counters and HDR latency histograms, merged across
//! threads, and the three report forms: terminal summary, JSON, Markdown.

use super::config::OpKind;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies are recorded in microseconds, 1 µs to 100 s, 3 significant digits.
const HIST_MAX_US: u64 = 100_000_000;
const HIST_SIGFIG: u8 = 3;

pub struct OpStats {
    pub ok: u64,
    pub bytes: u64,
    pub latency_us: Histogram<u64>,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            ok: 0,
            bytes: 0,
            latency_us: Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG)
                .expect("valid histogram bounds"),
        }
    }
}

/// One thread's (or the merged) results.
pub struct Stats {
    pub ops: Vec<OpStats>,
    /// "PUT 503 SlowDown", "GET io: connection reset", "GET verify" → count.
    pub errors: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            ops: OpKind::ALL.iter().map(|_| OpStats::new()).collect(),
            errors: BTreeMap::new(),
        }
    }
}

impl Stats {
    pub fn record_ok(&mut self, op: OpKind, bytes: u64, latency: Duration) {
        let s = &mut self.ops[op.index()];
        s.ok += 1;
        s.bytes += bytes;
        let us = (latency.as_micros() as u64).clamp(1, HIST_MAX_US);
        s.latency_us.record(us).expect("clamped into bounds");
    }

    pub fn record_error(&mut self, op: OpKind, what: String) {
        *self
            .errors
            .entry(format!("{} {what}", op.name()))
            .or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            a.ok += b.ok;
            a.bytes += b.bytes;
            a.latency_us.add(&b.latency_us).expect("same bounds");
        }
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// A finished run, ready to print.
pub struct Report {
    pub workload: String,
    pub endpoint: String,
    pub size: String,
    pub concurrency: usize,
    pub threads: usize,
    pub elapsed: Duration,
    pub stats: Stats,
}

struct Row {
    op: &'static str,
    ops: u64,
    ops_per_sec: f64,
    mb_per_sec: f64,
    p: [f64; 5],
}

const PCT_NAMES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

impl Report {
    fn rows(&self) -> Vec<Row> {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut rows = Vec::new();
        for op in OpKind::ALL {
            let s = &self.stats.ops[op.index()];
            if s.ok == 0 {
                continue;
            }
            let h = &s.latency_us;
            let ms = |us: u64| us as f64 / 1000.0;
            rows.push(Row {
                op: op.name(),
                ops: s.ok,
                ops_per_sec: s.ok as f64 / secs,
                mb_per_sec: s.bytes as f64 / secs / 1e6,
                p: [
                    ms(h.value_at_quantile(0.50)),
                    ms(h.value_at_quantile(0.90)),
                    ms(h.value_at_quantile(0.99)),
                    ms(h.value_at_quantile(0.999)),
                    ms(h.max()),
                ],
            });
        }
        rows
    }

    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} size={} c={} threads={} in {:.2}s\n{:<7}{:>10}{:>12}{:>10}",
            self.workload,
            self.endpoint,
            self.size,
            self.concurrency,
            self.threads,
            self.elapsed.as_secs_f64(),
            "op",
            "ops",
            "ops/s",
            "MB/s"
        );
        for p in PCT_NAMES {
            out.push_str(&format!("{:>10}", format!("{p} ms")));
        }
        out.push('\n');
        for r in self.rows() {
            out.push_str(&format!(
                "{:<7}{:>10}{:>12.0}{:>10.1}",
                r.op, r.ops, r.ops_per_sec, r.mb_per_sec
            ));
            for v in r.p {
                out.push_str(&format!("{v:>10.3}"));
            }
            out.push('\n');
        }
        out.push_str(&format!("errors: {}\n", self.stats.error_count()));
        for (k, v) in &self.stats.errors {
            out.push_str(&format!("  {k}: {v}\n"));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let ops: serde_json::Map<String, serde_json::Value> = self
            .rows()
            .into_iter()
            .map(|r| {
                let mut lat = serde_json::Map::new();
                for (name, v) in PCT_NAMES.iter().zip(r.p) {
                    lat.insert(format!("{name}_ms"), v.into());
                }
                let v = serde_json::json!({
                    "ops": r.ops,
                    "ops_per_sec": r.ops_per_sec,
                    "mb_per_sec": r.mb_per_sec,
                    "latency": lat,
                });
                (r.op.to_owned(), v)
            })
            .collect();
        let total: u64 = self.stats.ops.iter().map(|s| s.ok).sum();
        serde_json::json!({
            "workload": self.workload,
            "endpoint": self.endpoint,
            "size": self.size,
            "concurrency": self.concurrency,
            "threads": self.threads,
            "elapsed_secs": self.elapsed.as_secs_f64(),
            "total_ops": total,
            "operations": ops,
            "error_count": self.stats.error_count(),
            "errors": self.stats.errors,
        })
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "**{}** against `{}`, size {}, {} connections, {} threads, {:.1} s\n\n\
             | op | ops | ops/s | MB/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            self.workload,
            self.endpoint,
            self.size,
            self.concurrency,
            self.threads,
            self.elapsed.as_secs_f64()
        );
        for r in self.rows() {
            out.push_str(&format!(
                "| {} | {} | {:.0} | {:.1} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                r.op, r.ops, r.ops_per_sec, r.mb_per_sec, r.p[0], r.p[1], r.p[2], r.p[3], r.p[4]
            ));
        }
        out.push_str(&format!("\nerrors: {}\n", self.stats.error_count()));
        for (k, v) in &self.stats.errors {
            out.push_str(&format!("- {k}: {v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_reports() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record_ok(OpKind::Get, 4096, Duration::from_micros(100));
        b.record_ok(OpKind::Get, 4096, Duration::from_micros(300));
        b.record_error(OpKind::Put, "503 SlowDown".into());
        a.merge(&b);
        let r = Report {
            workload: "get".into(),
            endpoint: "http://x".into(),
            size: "4KiB".into(),
            concurrency: 2,
            threads: 1,
            elapsed: Duration::from_secs(1),
            stats: a,
        };
        let j = r.json();
        assert_eq!(j["total_ops"], 2);
        assert_eq!(j["operations"]["GET"]["ops"], 2);
        assert_eq!(j["errors"]["PUT 503 SlowDown"], 1);
        assert!(r.markdown().contains("| GET | 2 |"));
        assert!(r.summary().contains("errors: 1"));
    }
}
