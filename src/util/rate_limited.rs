//! Warnings that a client can make repeat quickly (every refused connection,
//! every failed accept) are written at most once per interval, with the count
//! of the ones left out since, so a flood of connections is not also a flood
//! of log lines (an earlier build wrote ~70k lines in 6 minutes).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How often one kind of repeated warning is written at most.
pub const REPEATED_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// One kind of warning on one shard (not shared between threads).
pub struct RateLimited {
    interval: Duration,
    last: Cell<Option<Instant>>,
    suppressed: Cell<u64>,
}

impl RateLimited {
    pub fn new(interval: Duration) -> RateLimited {
        RateLimited {
            interval,
            last: Cell::new(None),
            suppressed: Cell::new(0),
        }
    }

    /// Counts one occurrence. Some(n) when it should be written now, `n`
    /// being how many were left out since the last written one; None when
    /// it is left out.
    pub fn admit(&self) -> Option<u64> {
        let now = Instant::now();
        match self.last.get() {
            Some(t) if now.duration_since(t) < self.interval => {
                self.suppressed.set(self.suppressed.get() + 1);
                None
            }
            _ => {
                self.last.set(Some(now));
                Some(self.suppressed.replace(0))
            }
        }
    }
}

impl Default for RateLimited {
    fn default() -> RateLimited {
        RateLimited::new(REPEATED_WARNING_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let w = RateLimited::new(Duration::from_secs(3600));
        assert_eq!(w.admit(), Some(0));
        for _ in 0..999 {
            assert_eq!(w.admit(), None);
        }
        // Past the interval the next one is written and carries the count.
        w.last
            .set(Instant::now().checked_sub(Duration::from_secs(3601)));
        assert_eq!(w.admit(), Some(999));
        assert_eq!(w.admit(), None);
    }

    #[test]
    fn a_zero_interval_writes_every_occurrence() {
        let w = RateLimited::new(Duration::ZERO);
        for _ in 0..5 {
            assert_eq!(w.admit(), Some(0));
        }
    }
}
