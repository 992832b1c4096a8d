//! Reconnect delays: capped exponential backoff with jitter, so a fleet
//! whose broker restarts does not reconnect in lockstep. Pure: the caller
//! passes the random draw.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay: uniformly in `[d/2, d]` where `d = min(cap, base·2^n)`.
    /// `draw` is a number in `[0, 1)`.
    pub fn next(&mut self, draw: f64) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        let d = self.base.saturating_mul(factor).min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        half + half.mul_f64(draw.clamp(0.0, 1.0))
    }

    /// After a stream was established: start again from the base.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_stops_at_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let top: Vec<u128> = (0..8).map(|_| b.next(1.0).as_millis()).collect();
        assert_eq!(top, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(b.next(0.0), Duration::from_millis(50));
        let d = b.next(0.5);
        assert_eq!(d, Duration::from_millis(150));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        for _ in 0..5 {
            b.next(1.0);
        }
        b.reset();
        assert_eq!(b.next(1.0), Duration::from_millis(100));
    }
}
