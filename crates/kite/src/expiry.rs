//! When Kite access tokens end, and the default policy and manager settings.
//!
//! An access token lasts until **the next 06:00 Asia/Kolkata** after issue
//! ("regulatory requirement", Kite docs); logout or a login elsewhere ends it
//! sooner. Individual users get no refresh token, so nothing renews it: a
//! person logs in every trading day, before the 09:15 open.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Asia::Kolkata;

use token_core::policy::{DailyCutoff, EarliestOf, ExpiryPolicy, ExplicitExpiry};
use token_core::schedule::Weekdays;
use token_core::{ManagerConfig, Metadata, Schedule};

/// The daily cutoff: 06:00 local time in Asia/Kolkata.
pub fn cutoff_time() -> NaiveTime {
    NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN)
}

fn daily_cutoff() -> DailyCutoff {
    DailyCutoff::new(cutoff_time(), Kolkata)
}

/// The first 06:00 Asia/Kolkata strictly after `t`: when a token issued at
/// `t` dies (read from the [`default_policy`]'s daily cutoff).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// // Issued 2026-03-06 09:00 IST -> dies 2026-03-07 06:00 IST (00:30 UTC).
/// let t = Utc.with_ymd_and_hms(2026, 3, 6, 3, 30, 0).unwrap();
/// assert_eq!(kite::expiry::next_0600_ist(t), Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap());
/// ```
pub fn next_0600_ist(t: DateTime<Utc>) -> DateTime<Utc> {
    daily_cutoff()
        .limits(&Metadata::issued(t))
        .expires_at
        .unwrap_or(t)
}

/// The default policy: the stored `expires_at`, capped by the 06:00
/// Asia/Kolkata cutoff. Past it the token is `Expired` (no renewal exists).
pub fn default_policy() -> EarliestOf {
    EarliestOf::new().with(ExplicitExpiry).with(daily_cutoff())
}

/// When a person should log in: 08:30 Asia/Kolkata, Monday to Friday (before
/// the 09:15 open). No exchange-holiday calendar exists in the project yet,
/// so holidays are not skipped.
pub fn login_schedule() -> Schedule {
    Schedule::new(
        NaiveTime::from_hms_opt(8, 30, 0).unwrap_or(NaiveTime::MIN),
        Kolkata,
        Weekdays::MON_FRI,
    )
}

/// Manager settings for Kite: no renewal schedule (nothing can renew), and
/// an `ExpiringSoon` warning two hours before the 06:00 cutoff. The daily
/// login itself is the person's, at [`login_schedule`].
pub fn default_manager_config() -> ManagerConfig {
    ManagerConfig {
        schedule: None,
        expiry_warnings: vec![chrono::Duration::hours(2)],
        ..ManagerConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use token_core::policy::evaluate;
    use token_core::TokenState;

    #[test]
    fn a_token_dies_at_the_next_0600_ist_whenever_it_was_issued() {
        // 05:59 IST -> 06:00 the same day; 06:00 IST -> 06:00 the next day.
        let t = Utc.with_ymd_and_hms(2026, 3, 6, 0, 29, 0).unwrap();
        assert_eq!(
            next_0600_ist(t),
            Utc.with_ymd_and_hms(2026, 3, 6, 0, 30, 0).unwrap()
        );
        let t = Utc.with_ymd_and_hms(2026, 3, 6, 0, 30, 0).unwrap();
        assert_eq!(
            next_0600_ist(t),
            Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap()
        );
        let meta = Metadata::issued(Utc.with_ymd_and_hms(2026, 3, 6, 3, 30, 0).unwrap());
        let p = default_policy();
        let before = Utc.with_ymd_and_hms(2026, 3, 7, 0, 29, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap();
        assert_ne!(evaluate(&p, &meta, before).state, TokenState::Expired);
        assert_eq!(evaluate(&p, &meta, after).state, TokenState::Expired);
    }

    #[test]
    fn the_login_schedule_is_before_the_open_on_weekdays() {
        // Friday 2026-03-06 10:00 IST -> Monday 2026-03-09 08:30 IST.
        let fri = Utc.with_ymd_and_hms(2026, 3, 6, 4, 30, 0).unwrap();
        assert_eq!(
            login_schedule().next_after(fri),
            Some(Utc.with_ymd_and_hms(2026, 3, 9, 3, 0, 0).unwrap())
        );
        assert!(default_manager_config().schedule.is_none());
    }
}
