//! Capped exponential backoff for requeues after errors.
//!
//! The HTTP clients use tower's own `tower::retry::backoff` inside their service
//! stack; the reconcile loop needs something simpler: a delay it can ask for, and reset
//! when a pass succeeds. 500 ms, doubling, capped, with ±10% deterministic jitter
//! derived from the attempt number so tests can assert exact bounds.

use std::time::Duration;

/// Capped exponential backoff that resets on success.
#[derive(Debug, Clone)]
pub(crate) struct ErrorBackoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl ErrorBackoff {
    /// Starts at `base`, doubles per failure, never exceeds `cap`.
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; advances the backoff.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(self.attempt.min(31)));
        self.attempt = self.attempt.saturating_add(1);
        let d = exp.min(self.cap);
        // Spread retries of several controllers a little: -10%..+0% by attempt parity.
        let shave = d / 10 * (self.attempt % 2);
        (d - shave).max(self.base.min(d))
    }

    /// Back to the first delay (after a success).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_is_capped_and_resets_on_success() {
        let mut b = ErrorBackoff::new(Duration::from_millis(500), Duration::from_secs(8));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for w in delays.windows(2) {
            assert!(
                w[1] >= w[0] || w[1] >= Duration::from_millis(7200),
                "{delays:?}"
            );
        }
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(8)));
        assert!(delays[7] >= Duration::from_millis(7200));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }
}
