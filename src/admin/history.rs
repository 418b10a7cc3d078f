//! The console dashboard's charts: S3 requests, body bytes and latency over
//! the last minutes. Each shard counts them per fixed interval in a small
//! ring of its own (`History`, in `ShardMetrics`); the admin API asks every
//! shard for its ring by message and merges them interval by interval
//! (`merge`). Intervals are numbered from one process-wide start instant,
//! so the same number means the same seconds on every shard.
//!
//! Latency per interval is the same fixed-bucket histogram as the
//! Prometheus series; p50 and p99 are read from the merged buckets (linear
//! within a bucket, as Prometheus' `histogram_quantile`).

use super::metrics::{LatencyHistogram, LATENCY_BUCKETS_MICROS};
use serde::Serialize;
use std::sync::OnceLock;
use std::time::Instant;

/// Length of one interval of the charts.
pub const HISTORY_INTERVAL_SECS: u64 = 5;
/// Intervals each shard keeps: five minutes.
pub const HISTORY_INTERVALS: usize = 60;

/// The instant interval 0 starts, and the wall-clock time of it (ms).
static EPOCH: OnceLock<(Instant, i64)> = OnceLock::new();

/// Fixes interval 0 at the first call (server start calls it early).
pub fn epoch() -> (Instant, i64) {
    *EPOCH.get_or_init(|| (Instant::now(), crate::util::time::unix_now_millis()))
}

/// The interval `at` falls in. The process starts at interval
/// `HISTORY_INTERVALS`, so that a window always has its full length (the
/// intervals before the start are empty).
pub fn interval_of(at: Instant) -> u64 {
    HISTORY_INTERVALS as u64
        + at.saturating_duration_since(epoch().0).as_secs() / HISTORY_INTERVAL_SECS
}

/// Seconds from the process start (interval `HISTORY_INTERVALS`) to the
/// start of interval `index` (negative before it).
fn offset_secs(index: u64) -> f64 {
    (index as f64 - HISTORY_INTERVALS as f64) * HISTORY_INTERVAL_SECS as f64
}

/// One interval's figures on one shard (or merged over every shard).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interval {
    /// Which interval (see `interval_of`); its counts are zero until used.
    pub index: u64,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency: LatencyHistogram,
}

impl Interval {
    fn add(&mut self, other: &Interval) {
        debug_assert_eq!(self.index, other.index, "merging different intervals");
        self.requests += other.requests;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.latency.merge(&other.latency);
    }
}

/// One shard's ring: slot `index % HISTORY_INTERVALS` holds interval
/// `index` or an older one that is overwritten when its slot comes round.
pub struct History {
    ring: Vec<Interval>,
}

impl Default for History {
    fn default() -> History {
        History {
            ring: vec![Interval::default(); HISTORY_INTERVALS],
        }
    }
}

impl History {
    /// Counts one request answered at `at`.
    pub fn record(&mut self, at: Instant, micros: u64, bytes_in: u64, bytes_out: u64) {
        let index = interval_of(at);
        let slot = &mut self.ring[(index % HISTORY_INTERVALS as u64) as usize];
        if slot.index != index {
            *slot = Interval {
                index,
                ..Interval::default()
            };
        }
        slot.requests += 1;
        slot.bytes_in += bytes_in;
        slot.bytes_out += bytes_out;
        slot.latency.record(micros);
    }

    /// The intervals of the window ending with `now`'s that saw requests.
    pub fn snapshot(&self, now: Instant) -> Vec<Interval> {
        let current = interval_of(now);
        let oldest = window_start(current);
        self.ring
            .iter()
            .filter(|i| i.requests > 0 && i.index >= oldest && i.index <= current)
            .copied()
            .collect()
    }
}

fn window_start(current: u64) -> u64 {
    current.saturating_sub(HISTORY_INTERVALS as u64 - 1)
}

/// One point of a chart, every shard merged.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Point {
    /// Start of the interval, Unix seconds.
    pub start: f64,
    /// Seconds it covers: `HISTORY_INTERVAL_SECS`, or less for the current one.
    pub seconds: f64,
    /// False for the interval still in progress.
    pub complete: bool,
    pub requests: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub requests_per_sec: f64,
    pub bytes_in_per_sec: f64,
    pub bytes_out_per_sec: f64,
    /// None when the interval saw no request.
    pub p50_micros: Option<u64>,
    pub p99_micros: Option<u64>,
}

/// Every interval of the window ending at `now`, oldest first, each the
/// sum of the shards' figures for it (zero where no shard saw a request).
pub fn merge(shards: &[Vec<Interval>], now: Instant) -> Vec<Point> {
    let current = interval_of(now);
    let oldest = window_start(current);
    let mut sums: Vec<Interval> = (oldest..=current)
        .map(|index| Interval {
            index,
            ..Interval::default()
        })
        .collect();
    for interval in shards.iter().flatten() {
        if let Some(i) = interval.index.checked_sub(oldest) {
            if let Some(sum) = sums.get_mut(i as usize) {
                sum.add(interval);
            }
        }
    }
    let (start_instant, start_millis) = epoch();
    let into_current =
        now.saturating_duration_since(start_instant).as_secs_f64() - offset_secs(current);
    sums.iter()
        .map(|s| {
            let complete = s.index < current;
            let seconds = if complete {
                HISTORY_INTERVAL_SECS as f64
            } else {
                into_current.max(1.0)
            };
            Point {
                start: start_millis as f64 / 1000.0 + offset_secs(s.index),
                seconds,
                complete,
                requests: s.requests,
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                requests_per_sec: s.requests as f64 / seconds,
                bytes_in_per_sec: s.bytes_in as f64 / seconds,
                bytes_out_per_sec: s.bytes_out as f64 / seconds,
                p50_micros: quantile(&s.latency, 0.5),
                p99_micros: quantile(&s.latency, 0.99),
            }
        })
        .collect()
}

/// The `q` quantile of `h` in microseconds, linear within its bucket; an
/// observation past the last bound counts as that bound.
pub fn quantile(h: &LatencyHistogram, q: f64) -> Option<u64> {
    debug_assert!((0.0..=1.0).contains(&q));
    let total = h.count();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (slot, &n) in h.counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let Some(&upper) = LATENCY_BUCKETS_MICROS.get(slot) else {
                return LATENCY_BUCKETS_MICROS.last().copied();
            };
            let lower = slot.checked_sub(1).map_or(0, |s| LATENCY_BUCKETS_MICROS[s]);
            let within = (rank - below as f64).max(0.0) / n as f64;
            return Some(lower + ((upper - lower) as f64 * within).round() as u64);
        }
        below += n;
    }
    LATENCY_BUCKETS_MICROS.last().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The instant `intervals` whole intervals after interval 0 started,
    /// plus `extra`: requests placed in chosen intervals, no clock read.
    fn at(intervals: u64, extra: Duration) -> Instant {
        epoch().0 + Duration::from_secs(intervals * HISTORY_INTERVAL_SECS) + extra
    }

    #[test]
    fn a_window_has_its_full_length_from_the_start() {
        let now = at(0, Duration::from_secs(2));
        let points = merge(&[History::default().snapshot(now)], now);
        assert_eq!(points.len(), HISTORY_INTERVALS);
        assert!(points
            .iter()
            .all(|p| p.requests == 0 && p.p50_micros.is_none()));
        let started = epoch().1 as f64 / 1000.0;
        assert_eq!(points[HISTORY_INTERVALS - 1].start, started);
        let window_secs = (HISTORY_INTERVALS as u64 - 1) * HISTORY_INTERVAL_SECS;
        assert_eq!(points[0].start, started - window_secs as f64);
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let mut h = LatencyHistogram::default();
        assert_eq!(quantile(&h, 0.5), None);
        for _ in 0..98 {
            h.record(40); // the (25, 50] bucket
        }
        h.record(3_000); // (2_500, 5_000]
        h.record(20_000_000); // past the last bound
        let p50 = quantile(&h, 0.5).expect("p50");
        assert!((25..=50).contains(&p50), "{p50}");
        let p99 = quantile(&h, 0.99).expect("p99");
        assert!((2_500..=5_000).contains(&p99), "{p99}");
        assert_eq!(quantile(&h, 1.0), Some(10_000_000));
    }

    #[test]
    fn shards_merge_interval_by_interval_and_gaps_are_zero() {
        let (mut a, mut b) = (History::default(), History::default());
        let now = at(100, Duration::from_millis(2_500));
        // Interval 98: one request on each shard; 99: none; 100 (current): two on a.
        a.record(at(98, Duration::ZERO), 100, 10, 1_000);
        b.record(at(98, Duration::from_secs(1)), 300, 20, 2_000);
        a.record(at(100, Duration::ZERO), 40, 0, 5);
        a.record(at(100, Duration::from_secs(2)), 40, 0, 5);
        let points = merge(&[a.snapshot(now), b.snapshot(now)], now);
        assert_eq!(points.len(), HISTORY_INTERVALS);
        let last = &points[HISTORY_INTERVALS - 1];
        let before = &points[HISTORY_INTERVALS - 2];
        let older = &points[HISTORY_INTERVALS - 3];
        assert_eq!(
            (older.requests, older.bytes_in, older.bytes_out),
            (2, 30, 3_000)
        );
        assert!(older.complete && before.complete && !last.complete);
        assert_eq!(older.requests_per_sec, 2.0 / HISTORY_INTERVAL_SECS as f64);
        assert!(older.p50_micros.is_some_and(|p| (50..=500).contains(&p)));
        assert_eq!((before.requests, before.p99_micros), (0, None));
        assert_eq!((last.requests, last.bytes_out), (2, 10));
        // The current interval's rate is over the 2.5 s it has run.
        assert!((last.requests_per_sec - 2.0 / 2.5).abs() < 1e-9);
        assert_eq!(
            points[1].start - points[0].start,
            HISTORY_INTERVAL_SECS as f64
        );
    }

    #[test]
    fn a_slot_is_reused_when_its_interval_comes_round_again() {
        let mut h = History::default();
        let lap = HISTORY_INTERVALS as u64;
        h.record(at(3, Duration::ZERO), 10, 1, 1);
        h.record(at(3 + lap, Duration::ZERO), 10, 7, 7);
        let now = at(3 + lap, Duration::ZERO);
        let snap = h.snapshot(now);
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].index, interval_of(now));
        assert_eq!((snap[0].requests, snap[0].bytes_in), (1, 7));
        // Intervals older than the window are left out, not merged.
        let later = at(3 + 2 * lap, Duration::ZERO);
        assert!(h.snapshot(later).is_empty());
        assert!(merge(&[h.snapshot(now)], later)
            .iter()
            .all(|p| p.requests == 0));
    }
}
