//! Per-operation counters and HDR latency histograms, merged across
//! threads, errors and retries by operation and S3 code, offered against
//! achieved rate, and the three report forms: terminal summary, JSON,
//! Markdown.

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
    /// Operations that failed (after their retries), by their last error:
    /// "PUT 503 SlowDown", "GET io: connection reset", "GET verify mismatch" → count.
    pub errors: BTreeMap<String, u64>,
    /// Failed attempts that were retried, by error, as `errors`.
    pub retried: BTreeMap<String, u64>,
    /// Requests sent, retries included.
    pub attempts: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            ops: OpKind::ALL.iter().map(|_| OpStats::new()).collect(),
            errors: BTreeMap::new(),
            retried: BTreeMap::new(),
            attempts: 0,
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

    pub fn record_retry(&mut self, op: OpKind, what: &str) {
        *self
            .retried
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
        for (k, v) in &other.retried {
            *self.retried.entry(k.clone()).or_insert(0) += v;
        }
        self.attempts += other.attempts;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn retry_count(&self) -> u64 {
        self.retried.values().sum()
    }

    pub fn ok_count(&self) -> u64 {
        self.ops.iter().map(|s| s.ok).sum()
    }

    /// Operations finished, successfully or not.
    pub fn op_count(&self) -> u64 {
        self.ok_count() + self.error_count()
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
    /// `--rate` (open loop), or None (closed loop).
    pub rate: Option<f64>,
    /// Open loop: operations due before the end that were never sent.
    pub unsent: u64,
    /// `--retries`.
    pub max_retries: u32,
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

/// Offered against achieved, per second over the run.
struct Rates {
    /// "open loop" or "closed loop".
    mode: &'static str,
    offered: Option<f64>,
    /// Operations that succeeded.
    achieved: f64,
    /// Requests sent, retries included.
    sent: f64,
}

impl Report {
    fn rates(&self) -> Rates {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        Rates {
            mode: if self.rate.is_some() {
                "open loop"
            } else {
                "closed loop"
            },
            offered: self.rate,
            achieved: self.stats.ok_count() as f64 / secs,
            sent: self.stats.attempts as f64 / secs,
        }
    }

    /// The lines under the table: rates, errors and retries by code.
    fn tail(&self, bullet: &str) -> String {
        let r = self.rates();
        let head = match r.offered {
            Some(o) => format!("rate ({}): offered {o:.1} ops/s,", r.mode),
            None => format!(
                "rate ({}: {} connections, each waits for its answer):",
                r.mode, self.concurrency
            ),
        };
        let mut out = format!(
            "{head} achieved {:.1} ops/s ok, sent {:.1} requests/s (retries included)\n",
            r.achieved, r.sent
        );
        if self.unsent > 0 {
            out.push_str(&format!(
                "not sent: {} operations due before the end (the generator fell behind: more connections?)\n",
                self.unsent
            ));
        }
        out.push_str(&format!("errors: {}\n", self.stats.error_count()));
        for (k, v) in &self.stats.errors {
            out.push_str(&format!("{bullet}{k}: {v}\n"));
        }
        if self.max_retries > 0 {
            out.push_str(&format!(
                "retried: {} of {} requests (--retries {})\n",
                self.stats.retry_count(),
                self.stats.attempts,
                self.max_retries
            ));
            for (k, v) in &self.stats.retried {
                out.push_str(&format!("{bullet}{k}: {v}\n"));
            }
        }
        out
    }

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
        out.push_str(&self.tail("  "));
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
        let total = self.stats.ok_count();
        let r = self.rates();
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
            "rate": {
                "mode": r.mode,
                "offered_ops_per_sec": r.offered,
                "achieved_ops_per_sec": r.achieved,
                "requests_per_sec": r.sent,
                "unsent": self.unsent,
            },
            "requests": self.stats.attempts,
            "max_retries": self.max_retries,
            "retry_count": self.stats.retry_count(),
            "retried": self.stats.retried,
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
        out.push('\n');
        out.push_str(&self.tail("- "));
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
        b.record_retry(OpKind::Get, "io: connection reset");
        a.attempts = 2;
        b.attempts = 3;
        a.merge(&b);
        let r = Report {
            workload: "get".into(),
            endpoint: "http://x".into(),
            size: "4KiB".into(),
            concurrency: 2,
            threads: 1,
            elapsed: Duration::from_secs(2),
            rate: Some(4.0),
            unsent: 3,
            max_retries: 2,
            stats: a,
        };
        let j = r.json();
        assert_eq!(j["total_ops"], 2);
        assert_eq!(j["operations"]["GET"]["ops"], 2);
        assert_eq!(j["errors"]["PUT 503 SlowDown"], 1);
        assert_eq!(j["retried"]["GET io: connection reset"], 1);
        assert_eq!(j["requests"], 5);
        assert_eq!(j["rate"]["offered_ops_per_sec"], 4.0);
        assert_eq!(j["rate"]["achieved_ops_per_sec"], 1.0);
        assert_eq!(j["rate"]["requests_per_sec"], 2.5);
        assert_eq!(j["rate"]["unsent"], 3);
        assert!(r.markdown().contains("| GET | 2 |"));
        assert!(r.markdown().contains("- GET io: connection reset: 1"));
        let text = r.summary();
        assert!(text.contains("errors: 1"), "{text}");
        assert!(
            text.contains("offered 4.0 ops/s, achieved 1.0 ops/s ok"),
            "{text}"
        );
        assert!(text.contains("retried: 1 of 5 requests"), "{text}");
        assert!(text.contains("not sent: 3"), "{text}");
    }
}
