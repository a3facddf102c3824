//! A healthy [`AccountHealth`] to start a test from.

use chrono::{DateTime, Duration, Utc};

use crate::health::{AccountHealth, HealthStatus};
use crate::key::AccountKey;
use crate::policy::TokenState;

/// A healthy account at `now`: a fresh token issued and used at `now`,
/// expiring in 15 h, idle in 2 h, nothing raised. Change what a test needs.
///
/// ```
/// use token_core::testing::{account_health, utc};
/// let h = account_health("acme/sandbox/main".parse().unwrap(), utc(2026, 6, 1, 13, 0));
/// assert!(h.next_person_action.is_none());
/// ```
pub fn account_health(key: AccountKey, now: DateTime<Utc>) -> AccountHealth {
    AccountHealth {
        key,
        status: HealthStatus::Healthy,
        state: Some(TokenState::Fresh),
        issued_at: Some(now),
        last_used: Some(now),
        expires_at: Some(now + Duration::hours(15)),
        idle_at: Some(now + Duration::hours(2)),
        refresh_expires_at: None,
        reauthorize_by: None,
        next_action_at: None,
        reauthorization_required: false,
        reauthorization_reason: None,
        reauthorization_url: None,
        last_error: None,
        consecutive_failures: 0,
        unsaved: false,
        renewals: 0,
        keepalives: 0,
        remedy: None,
        remedy_reason: None,
        warnings: vec![],
        next_person_action: None,
        login_window_missed: false,
        last_checked: None,
        last_check_ok: None,
        next_check_at: None,
    }
}
