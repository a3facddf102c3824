//! When Schwab tokens end, and the default policy and manager settings.
//!
//! - The access token lives `expires_in` seconds (1800). The policy treats
//!   it as due for refresh [`DEFAULT_REFRESH_LEEWAY`] before that (schwab-py
//!   uses the same 300 s), so a token handed out always has minutes left.
//! - The refresh token ends [`REFRESH_TOKEN_LIFETIME`] after the ORIGINAL
//!   login; refreshing never extends it (schwab-py's `creation_timestamp`,
//!   Schwabdev's `refresh_token_issued`). After that a person logs in.

use chrono::{DateTime, Duration, Utc};
use token_core::policy::{ExpiryPolicy, Limits};
use token_core::{ManagerConfig, Metadata};

/// The access-token life Schwab documents (1800 s).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(30);

/// How long before the access token's end it is refreshed.
pub const DEFAULT_REFRESH_LEEWAY: Duration = Duration::minutes(5);

/// The refresh token's life from the original login.
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::days(7);

/// The first warning before the 7-day end ([`default_manager_config`]).
pub const FIRST_WARNING: Duration = Duration::days(1);

/// The second warning, two hours before the 7-day end ([`default_manager_config`]).
pub const SECOND_WARNING: Duration = Duration::hours(2);

/// The stored access expiry, less a leeway: past that point the token is
/// `Idle` (refreshed silently while the refresh token lives).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshAhead {
    /// How long before the access expiry the token counts as spent.
    pub leeway: Duration,
}

impl ExpiryPolicy for RefreshAhead {
    fn limits(&self, meta: &Metadata) -> Limits {
        Limits {
            expires_at: meta.expires_at.map(|e| e - self.leeway),
            idle: None,
        }
    }
}

/// The default policy: refresh 5 minutes before the access token's end.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use token_core::policy::{evaluate, TokenState};
/// let login = Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap();
/// let meta = schwab::expiry::metadata_for(login, Duration::seconds(1800), login);
/// let p = schwab::default_policy();
/// assert_eq!(evaluate(&p, &meta, login + Duration::minutes(24)).state, TokenState::Fresh);
/// assert_eq!(evaluate(&p, &meta, login + Duration::minutes(25)).state, TokenState::Idle);
/// assert_eq!(evaluate(&p, &meta, login + Duration::days(7)).state, TokenState::Expired);
/// ```
pub fn default_policy() -> RefreshAhead {
    RefreshAhead {
        leeway: DEFAULT_REFRESH_LEEWAY,
    }
}

/// Manager settings for Schwab: no schedule (the policy refreshes every
/// ~25 minutes), a warning [`FIRST_WARNING`] (a day) and again
/// [`SECOND_WARNING`] (two hours) before the 7-day end.
///
/// Not yet here: a login window before the US open on the last day.
pub fn default_manager_config() -> ManagerConfig {
    ManagerConfig {
        schedule: None,
        expiry_warnings: vec![FIRST_WARNING, SECOND_WARNING],
        ..ManagerConfig::default()
    }
}

/// Record metadata for tokens issued at `now` living `expires_in`, from a
/// login at `logged_in_at`: the refresh token ends 7 days after the login.
pub fn metadata_for(
    now: DateTime<Utc>,
    expires_in: Duration,
    logged_in_at: DateTime<Utc>,
) -> Metadata {
    let mut meta = Metadata::issued(now);
    meta.expires_at = Some(now + expires_in);
    meta.refresh_expires_at = Some(refresh_token_end(logged_in_at));
    meta
}

/// When the refresh token of a login at `logged_in_at` ends.
pub fn refresh_token_end(logged_in_at: DateTime<Utc>) -> DateTime<Utc> {
    logged_in_at + REFRESH_TOKEN_LIFETIME
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::policy::{evaluate, TokenState};
    use token_core::testing::utc;

    #[test]
    fn refreshes_never_move_the_seven_day_end() {
        let login = utc(2026, 3, 2, 14, 0);
        let later = login + Duration::days(3);
        let meta = metadata_for(later, ACCESS_TOKEN_LIFETIME, login);
        assert_eq!(meta.refresh_expires_at, Some(utc(2026, 3, 9, 14, 0)));
        let ev = evaluate(&default_policy(), &meta, later);
        assert_eq!(ev.state, TokenState::Fresh);
        assert_eq!(ev.reauthorize_by, Some(utc(2026, 3, 9, 14, 0)));
        assert_eq!(ev.next_change, Some(later + Duration::minutes(25)));
    }

    #[test]
    fn past_the_seven_days_only_a_login_helps() {
        let login = utc(2026, 3, 2, 14, 0);
        let last = login + Duration::days(7) - Duration::minutes(10);
        let meta = metadata_for(last, ACCESS_TOKEN_LIFETIME, login);
        let p = default_policy();
        assert_eq!(evaluate(&p, &meta, last).state, TokenState::Fresh);
        // 25 min later the refresh token is dead: expired, not idle.
        assert_eq!(
            evaluate(&p, &meta, last + Duration::minutes(25)).state,
            TokenState::Expired
        );
    }

    #[test]
    fn manager_config_warns_a_day_and_two_hours_ahead_without_schedule() {
        let c = default_manager_config();
        assert_eq!(
            c.expiry_warnings,
            vec![Duration::days(1), Duration::hours(2)]
        );
        assert!(c.schedule.is_none());
    }
}
