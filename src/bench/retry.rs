//! `--retries`: which failures the AWS SDKs' `standard` retry mode retries,
//! and how long it waits before each retry.
//!
//! Standard mode (boto3's retries guide, the AWS SDKs and Tools reference
//! "Retry behavior"): 3 attempts by default (`--retries 2`); retried are
//! connection errors where no answer arrived, the HTTP statuses 500, 502,
//! 503 and 504, and a list of transient and throttling error codes; the
//! wait before retry `i` (1-based) is `random[0, 1) × base × 2^(i-1)`,
//! capped at 20 s ("full jitter", base 1 s). Not modelled: the retry quota
//! (a per-client token bucket that stops retrying in a long outage).

use super::workload::Rng;
use std::time::Duration;

/// The SDKs' base delay and cap.
pub const DEFAULT_BASE: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(20);
/// Most retries `--retries` accepts (backoff doubles each time).
pub const MAX_RETRIES: u32 = 100;

/// Statuses retried whatever their code.
const TRANSIENT_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Codes retried whatever their status: transient errors and throttling.
const RETRYABLE_CODES: [&str; 16] = [
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
];

/// Whether standard mode retries an answer with this status and S3 code.
pub fn retryable_answer(status: u16, code: &str) -> bool {
    TRANSIENT_STATUSES.contains(&status) || RETRYABLE_CODES.contains(&code)
}

/// One failed attempt: its report label, and whether it may be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// "503 SlowDown", "io: connection reset", "verify mismatch".
    pub label: String,
    pub retryable: bool,
}

impl Failure {
    /// A failure no retry would change (a wrong length, a bad body).
    pub fn fatal(label: impl Into<String>) -> Failure {
        Failure {
            label: label.into(),
            retryable: false,
        }
    }
}

/// The retry policy of a run.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Retries after the first attempt (0: none).
    pub retries: u32,
    pub base: Duration,
    pub max_backoff: Duration,
}

impl Policy {
    /// The wait before retry number `retry` (1 for the first): full jitter.
    pub fn backoff(&self, retry: u32, rng: &mut Rng) -> Duration {
        debug_assert!(retry >= 1);
        let ceiling = self
            .base
            .saturating_mul(1u32 << (retry - 1).min(31))
            .min(self.max_backoff);
        // 53 random bits: a uniform fraction in [0, 1).
        let fraction = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ceiling.mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_mode_retries_throttling_transient_codes_and_5xx_only() {
        assert!(retryable_answer(503, "SlowDown"));
        assert!(retryable_answer(503, "ServiceUnavailable"));
        assert!(retryable_answer(500, "InternalError"));
        assert!(retryable_answer(400, "RequestTimeout"));
        assert!(retryable_answer(400, "ThrottlingException"));
        assert!(retryable_answer(502, ""));
        assert!(!retryable_answer(403, "AccessDenied"));
        assert!(!retryable_answer(404, "NoSuchKey"));
        assert!(!retryable_answer(403, "RequestTimeTooSkewed"));
        assert!(!retryable_answer(501, "NotImplemented"));
    }

    #[test]
    fn backoff_is_full_jitter_doubling_to_the_cap() {
        let p = Policy {
            retries: 10,
            base: DEFAULT_BASE,
            max_backoff: DEFAULT_MAX_BACKOFF,
        };
        let mut rng = Rng::new(7);
        for retry in 1..=8u32 {
            let ceiling = (DEFAULT_BASE * (1 << (retry - 1))).min(DEFAULT_MAX_BACKOFF);
            let waits: Vec<Duration> = (0..2000).map(|_| p.backoff(retry, &mut rng)).collect();
            assert!(waits.iter().all(|w| *w < ceiling), "retry {retry}");
            // Full jitter: spread over the whole range, not bunched at the top.
            let mean = waits.iter().sum::<Duration>() / waits.len() as u32;
            let (lo, hi) = (ceiling.mul_f64(0.4), ceiling.mul_f64(0.6));
            assert!(
                mean > lo && mean < hi,
                "retry {retry}: mean {mean:?} of {ceiling:?}"
            );
            assert!(waits.iter().any(|w| *w < ceiling / 10));
        }
        assert!(p.backoff(40, &mut rng) < DEFAULT_MAX_BACKOFF);
    }
}
