//! How long a server certificate lives and when `cp up` renews it. Pure:
//! times in, a decision out.
//!
//! Server certificates of the agent API last [`SERVER_CERT_DAYS`]; a `cp up`
//! that finds one with less than [`RENEW_WITHIN_DAYS`] left issues a new one
//! from the CA (the running agent reloads it, api/reload.rs in coold). The
//! margin leaves a month in which any `cp up` (an upgrade, a reboot script)
//! renews it before a client sees it expire.

use std::time::{Duration, SystemTime};

/// Lifetime of a newly issued agent API certificate.
pub const SERVER_CERT_DAYS: u64 = 90;

/// A certificate with less left than this is renewed by `cp up`.
pub const RENEW_WITHIN_DAYS: u64 = 30;

const DAY: u64 = 24 * 60 * 60;

/// Validity of a new server certificate issued at `now`: from an hour
/// before (clocks of clients may lag a little) to `SERVER_CERT_DAYS` after.
pub fn new_server_validity(now: SystemTime) -> (SystemTime, SystemTime) {
    (
        now - Duration::from_secs(60 * 60),
        now + Duration::from_secs(SERVER_CERT_DAYS * DAY),
    )
}

/// The remaining life of a certificate valid until `not_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remaining {
    /// Enough left: keep it.
    Fresh { days_left: u64 },
    /// Less than [`RENEW_WITHIN_DAYS`] left, or already expired.
    RenewDue { days_left: u64 },
}

impl Remaining {
    pub fn of(not_after: SystemTime, now: SystemTime) -> Remaining {
        let left = not_after.duration_since(now).unwrap_or_default();
        let days_left = left.as_secs() / DAY;
        if left < Duration::from_secs(RENEW_WITHIN_DAYS * DAY) {
            Remaining::RenewDue { days_left }
        } else {
            Remaining::Fresh { days_left }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * DAY)
    }

    #[test]
    fn a_new_certificate_lasts_ninety_days_and_is_fresh() {
        let now = SystemTime::now();
        let (from, until) = new_server_validity(now);
        assert!(from < now);
        assert_eq!(until.duration_since(now).unwrap(), days(90));
        assert_eq!(
            Remaining::of(until, now),
            Remaining::Fresh { days_left: 90 }
        );
    }

    #[test]
    fn renewal_is_due_under_thirty_days_and_not_at_or_above() {
        let now = SystemTime::now();
        for (left, due) in [
            (days(10), true),
            (days(29), true),
            (days(30) - Duration::from_secs(1), true),
            (days(30), false),
            (days(31), false),
            (days(89), false),
        ] {
            let r = Remaining::of(now + left, now);
            assert_eq!(
                matches!(r, Remaining::RenewDue { .. }),
                due,
                "{left:?} left: {r:?}"
            );
        }
    }

    #[test]
    fn an_expired_certificate_is_due_with_zero_days_left() {
        let now = SystemTime::now();
        assert_eq!(
            Remaining::of(now - days(3), now),
            Remaining::RenewDue { days_left: 0 }
        );
    }

    #[test]
    fn ten_days_left_is_reported_as_ten() {
        let now = SystemTime::now();
        assert_eq!(
            Remaining::of(now + days(10) + Duration::from_secs(60), now),
            Remaining::RenewDue { days_left: 10 }
        );
    }
}
