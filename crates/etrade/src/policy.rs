//! E*TRADE's default expiry policy: hard expiry at the next midnight
//! America/New_York, inactive after 2 hours without a call.
//!
//! The keep-alive is due only `keepalive_margin` before the token would go
//! idle, counted from its real last activity, so a token in steady use is
//! never pinged (the old cron approach pinged every 70 minutes regardless).
//! Past midnight no renewal is attempted: the manager goes straight to
//! "re-authorization required" with a fresh authorize URL.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::America::New_York;
use token_core::policy::{DailyCutoff, EarliestOf, ExpiryPolicy, IdleTimeout};
use token_core::Metadata;

/// E*TRADE's idle timeout.
pub const IDLE_TIMEOUT: Duration = Duration::hours(2);

/// The default keep-alive margin before the idle timeout.
pub const DEFAULT_KEEPALIVE_MARGIN: Duration = Duration::minutes(10);

/// The policy's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Inactivity after which E*TRADE deactivates the token (2 h).
    pub idle_timeout: Duration,
    /// A keep-alive is due this long before the idle timeout (10 min).
    pub keepalive_margin: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            idle_timeout: IDLE_TIMEOUT,
            keepalive_margin: DEFAULT_KEEPALIVE_MARGIN,
        }
    }
}

impl PolicyConfig {
    /// The policy: earliest of midnight New York and the idle timeout.
    pub fn build(self) -> EarliestOf {
        EarliestOf::new()
            .with(midnight_new_york())
            .with(IdleTimeout::new(self.idle_timeout, self.keepalive_margin))
    }
}

/// The default E*TRADE policy (2 h idle, keep-alive 10 min before it,
/// expiry at midnight New York).
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use token_core::{policy::{evaluate, TokenState}, Metadata};
///
/// let policy = etrade::default_policy();
/// let issued = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap(); // 09:00 EDT
/// let meta = Metadata::issued(issued);
/// assert_eq!(evaluate(&policy, &meta, issued + Duration::minutes(109)).state, TokenState::Fresh);
/// assert_eq!(evaluate(&policy, &meta, issued + Duration::minutes(110)).state, TokenState::KeepAliveDue);
/// assert_eq!(evaluate(&policy, &meta, issued + Duration::hours(2)).state, TokenState::Idle);
/// ```
pub fn default_policy() -> EarliestOf {
    PolicyConfig::default().build()
}

/// E*TRADE's hard expiry rule, the one source for the policy, the provider
/// and the client: a token dies at the next 00:00 America/New_York.
fn midnight_new_york() -> DailyCutoff {
    DailyCutoff::new(NaiveTime::MIN, New_York)
}

/// The next 00:00 America/New_York strictly after `t`: when a token issued
/// at `t` dies whatever happens (DST-aware). Read from the policy's cutoff.
pub fn next_midnight_new_york(t: DateTime<Utc>) -> DateTime<Utc> {
    midnight_new_york()
        .limits(&Metadata::issued(t))
        .expires_at
        .unwrap_or(t + Duration::hours(24))
}

/// Whether a token issued at `issued_at` is past its midnight at `now`: no
/// renewal can revive it, only a person logging in.
pub(crate) fn past_midnight(issued_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= next_midnight_new_york(issued_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::policy::{evaluate, TokenState};
    use token_core::testing::utc;

    #[test]
    fn a_token_is_past_midnight_from_the_first_instant_of_the_new_day() {
        let issued = utc(2026, 6, 1, 13, 0); // 09:00 EDT
        assert!(!past_midnight(issued, utc(2026, 6, 2, 3, 59)));
        assert!(past_midnight(issued, utc(2026, 6, 2, 4, 0)));
        // The same instant the policy calls expired.
        assert_eq!(
            evaluate(
                &default_policy(),
                &Metadata::issued(issued),
                utc(2026, 6, 2, 4, 0)
            )
            .state,
            TokenState::Expired
        );
    }

    #[test]
    fn expires_at_midnight_new_york_on_dst_change_days() {
        // Spring forward 2026-03-08: the day after ends 00:00 EDT = 04:00 UTC.
        assert_eq!(
            next_midnight_new_york(utc(2026, 3, 8, 15, 0)),
            utc(2026, 3, 9, 4, 0)
        );
        // The day before ends 00:00 EST = 05:00 UTC.
        assert_eq!(
            next_midnight_new_york(utc(2026, 3, 7, 15, 0)),
            utc(2026, 3, 8, 5, 0)
        );
        // Fall back 2026-11-01 (25 h day) ends 00:00 EST = 05:00 UTC on the 2nd.
        assert_eq!(
            next_midnight_new_york(utc(2026, 11, 1, 4, 30)),
            utc(2026, 11, 2, 5, 0)
        );
        let meta = Metadata::issued(utc(2026, 3, 8, 15, 0));
        let p = default_policy();
        assert_eq!(
            evaluate(&p, &meta, utc(2026, 3, 8, 15, 0)).expires_at,
            Some(utc(2026, 3, 9, 4, 0))
        );
    }

    #[test]
    fn steady_use_never_needs_a_keepalive() {
        let p = default_policy();
        let t = utc(2026, 6, 1, 13, 30);
        let mut meta = Metadata::issued(t);
        // A call every 30 minutes all day: always fresh.
        for i in 1..=12 {
            let now = t + Duration::minutes(30 * i);
            assert_eq!(evaluate(&p, &meta, now).state, TokenState::Fresh, "{now}");
            meta.last_used = Some(now);
        }
    }

    #[test]
    fn keepalive_margin_is_configurable() {
        let p = PolicyConfig {
            keepalive_margin: Duration::minutes(30),
            ..PolicyConfig::default()
        }
        .build();
        let t = utc(2026, 6, 1, 13, 30);
        let ev = evaluate(&p, &Metadata::issued(t), t);
        assert_eq!(ev.keepalive_at, Some(t + Duration::minutes(90)));
        assert_eq!(ev.idle_at, Some(t + Duration::hours(2)));
    }

    #[test]
    fn past_midnight_is_expired_not_idle() {
        let p = default_policy();
        let t = utc(2026, 6, 1, 22, 0); // 18:00 EDT
        let meta = Metadata::issued(t);
        // 23:00 EDT: idle (renewable).
        assert_eq!(
            evaluate(&p, &meta, utc(2026, 6, 2, 3, 0)).state,
            TokenState::Idle
        );
        // 00:00 EDT: expired, a person must log in.
        assert_eq!(
            evaluate(&p, &meta, utc(2026, 6, 2, 4, 0)).state,
            TokenState::Expired
        );
    }
}
