//! `Backoff`: how long to wait before reconnecting to an event source or retrying a
//! version that could not be fetched: exponential, capped, with jitter so that many
//! subscribers cut off together do not come back together.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    /// 100 ms, doubling up to 5 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt (`initial × 2ⁿ`, at most `max`, plus up to 25%
    /// jitter); each call counts one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        base + base.mul_f64(jitter() * 0.25)
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failures counted since the last success.
    pub fn failures(&self) -> u32 {
        self.attempt
    }
}

/// A number in `[0, 1)` that differs between calls and processes.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let first = backoff.next_delay();
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
        let second = backoff.next_delay();
        assert!(second >= Duration::from_millis(200) && second <= Duration::from_millis(250));
        for _ in 0..30 {
            assert!(backoff.next_delay() <= Duration::from_millis(1250));
        }
        assert_eq!(backoff.failures(), 32);
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(125));
    }
}
