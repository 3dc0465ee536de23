//! When a failed MAAS call is tried again, and how long to wait. Reads are retried on transient
//! failures; writes are not, because a write whose answer was lost may still have happened (an
//! allocation made twice leaks a machine). The one exception: a 409 or 503 that carries
//! `Retry-After` is MAAS saying it rolled the request back, so even a write may be sent again.

use super::error::MaasError;
use rand::Rng;
use std::time::Duration;

/// Whether a call may be repeated without changing the outcome. A timed-out attempt is never
/// retried, whatever the kind: the timeout is the caller's budget, and a read that hung once
/// (e.g. `query_power_state` on a dead BMC) would hang again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GETs, and writes that set a state to a given value (owner data): retried on 502/503/504,
    /// 409+Retry-After and connection failures.
    Idempotent,
    /// Writes whose repetition would act twice (allocate, deploy, release, reserve, create):
    /// retried only when MAAS said, with `Retry-After`, that it did not apply them.
    NonIdempotent,
}

/// How many attempts a call gets and how long to wait between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 disables retries.
    pub max_attempts: u32,
    /// The first back-off; doubled on every retry.
    pub base_delay: Duration,
    /// No wait is longer than this, MAAS's `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, never retried.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// Up to `max_attempts` attempts with no waiting at all (tests: no wall-clock sleeps).
    pub fn immediate(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The wait before retry number `retry` (1 = the first retry): MAAS's `Retry-After` when it
    /// gave one, else exponential back-off with "equal jitter" (half fixed, half random) so that
    /// many callers hit by the same outage do not come back in lock-step. Capped by `max_delay`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        if exp.is_zero() {
            return exp;
        }
        let half = exp / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis().min(u64::MAX as u128) as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// Whether attempt number `attempt` (1-based) that failed with `err` is tried again.
    pub fn should_retry(&self, attempt: u32, idempotency: Idempotency, err: &MaasError) -> bool {
        attempt < self.max_attempts && is_retryable(idempotency, err)
    }
}

/// Whether `err` may be retried for a call of this kind (ignoring the attempt budget).
pub fn is_retryable(idempotency: Idempotency, err: &MaasError) -> bool {
    match err {
        // MAAS rolled the request back and said when to come again: safe for any call.
        MaasError::ServerBusy {
            retry_after: Some(_),
            ..
        } => true,
        MaasError::ServerBusy { status, .. } => {
            idempotency == Idempotency::Idempotent && matches!(status, 502..=504)
        }
        // The connection could not be made (or broke): a read can simply be asked again.
        MaasError::Connect { .. } => idempotency == Idempotency::Idempotent,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(status: u16, retry_after: Option<u64>) -> MaasError {
        MaasError::ServerBusy {
            request: "GET machines/".into(),
            status,
            retry_after: retry_after.map(Duration::from_secs),
            message: String::new(),
        }
    }

    #[test]
    fn reads_retry_on_transient_failures_writes_only_on_retry_after() {
        use Idempotency::*;
        assert!(is_retryable(Idempotent, &busy(503, None)));
        assert!(is_retryable(Idempotent, &busy(504, None)));
        assert!(!is_retryable(Idempotent, &busy(500, None)));
        assert!(!is_retryable(NonIdempotent, &busy(503, None)));
        assert!(is_retryable(NonIdempotent, &busy(503, Some(10))));
        assert!(is_retryable(NonIdempotent, &busy(409, Some(5))));
        let conn = MaasError::Connect {
            endpoint: "x".into(),
            detail: "refused".into(),
        };
        assert!(is_retryable(Idempotent, &conn));
        assert!(!is_retryable(NonIdempotent, &conn));
        let conflict = MaasError::Conflict {
            request: "x".into(),
            message: String::new(),
        };
        assert!(!is_retryable(Idempotent, &conflict));
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy::immediate(3);
        assert!(p.should_retry(1, Idempotency::Idempotent, &busy(503, None)));
        assert!(p.should_retry(2, Idempotency::Idempotent, &busy(503, None)));
        assert!(!p.should_retry(3, Idempotency::Idempotent, &busy(503, None)));
        assert!(!RetryPolicy::never().should_retry(1, Idempotency::Idempotent, &busy(503, None)));
    }

    #[test]
    fn delays_grow_are_capped_and_honour_retry_after() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for retry in 1..=10 {
            let d = p.delay(retry, None);
            let exp = (Duration::from_millis(100) * (1 << (retry - 1))).min(Duration::from_secs(2));
            assert!(d >= exp / 2 && d <= exp, "retry {retry}: {d:?} vs {exp:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(10))),
            Duration::from_secs(2)
        );
        let zero = RetryPolicy::immediate(5);
        assert_eq!(zero.delay(3, None), Duration::ZERO);
        assert_eq!(zero.delay(1, Some(Duration::from_secs(10))), Duration::ZERO);
    }
}
