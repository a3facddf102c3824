//! Health reports for dashboards, HTTP health checks and `tokenctl status`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::key::AccountKey;
use crate::policy::TokenState;
use crate::remedy::Remedy;

/// The next thing a person will have to do for an account, and when: for a
/// healthy E*TRADE account, "log in at the next trading day's window after
/// midnight New York".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonAction {
    /// What to do (in JSON: `"remedy": "log_in"` and the remedy's fields,
    /// beside `at`).
    #[serde(flatten)]
    pub remedy: Remedy,
    /// When the person will be asked (now or earlier: asked already).
    pub at: DateTime<Utc>,
    /// When the login window closes (the account turns critical then);
    /// `None` without a window.
    pub window_closes: Option<DateTime<Utc>>,
    /// The login window's time zone (IANA name), to show `at` as the person
    /// reads it; `None` without a window.
    #[serde(default)]
    pub zone: Option<String>,
}

/// Overall status, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Usable credentials, nothing failing.
    Healthy,
    /// Usable (or silently renewable) credentials, but something needs attention:
    /// failures being retried, an unsaved record, a deadline close.
    Degraded,
    /// No usable credentials and no silent way back: a person must act.
    Critical,
}

/// The last error seen for an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    /// Its kind.
    pub kind: ErrorKind,
    /// Its message (no secrets).
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One account's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountHealth {
    /// Account.
    pub key: AccountKey,
    /// Overall status of this account.
    pub status: HealthStatus,
    /// Token state, `None` when no token is held.
    pub state: Option<TokenState>,
    /// When the credentials were issued.
    pub issued_at: Option<DateTime<Utc>>,
    /// Last activity known (issue, renewal or use).
    pub last_used: Option<DateTime<Utc>>,
    /// When the access credentials expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// When they go idle without activity.
    pub idle_at: Option<DateTime<Utc>>,
    /// When the refresh token expires.
    pub refresh_expires_at: Option<DateTime<Utc>>,
    /// After this only a person can restore access.
    pub reauthorize_by: Option<DateTime<Utc>>,
    /// When maintenance will next act.
    pub next_action_at: Option<DateTime<Utc>>,
    /// True when a person must log in (remedy [`Remedy::LogIn`]; a
    /// setting or PIN to fix is not a login: see `remedy`).
    pub reauthorization_required: bool,
    /// Why a person must log in.
    pub reauthorization_reason: Option<String>,
    /// Where to log in, when known.
    pub reauthorization_url: Option<String>,
    /// The last error, cleared on recovery.
    pub last_error: Option<LastError>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// A renewed record is only in memory because the store failed.
    pub unsaved: bool,
    /// Silent renewals done by this process.
    pub renewals: u64,
    /// Keep-alives sent by this process.
    pub keepalives: u64,
    /// What a person must do now, if anything: log in, fix a named
    /// setting, fix the PIN, or wait (failures being retried, until the
    /// next attempt). `None`: nothing.
    /// Flattened into the account's JSON: `"remedy": "fix_config",
    /// "setting": "consumer_secret"`, or `"remedy": "wait", "until": ...`.
    #[serde(default, flatten)]
    pub remedy: Option<Remedy>,
    /// Why the remedy is needed, in words (no secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy_reason: Option<String>,
    /// Dated warnings about the account's setup that are due (configured
    /// [`Notice`](crate::Notice)s), e.g. an E*TRADE consumer key near its end.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The next thing a person must do, and when (computed for healthy
    /// accounts too); `None` when nothing is foreseen.
    #[serde(default)]
    pub next_person_action: Option<PersonAction>,
    /// A login window closed with no login: critical until one happens.
    #[serde(default)]
    pub login_window_missed: bool,
    /// When the last pre-market check ran.
    #[serde(default)]
    pub last_checked: Option<DateTime<Utc>>,
    /// Whether the broker accepted the token at the last check.
    #[serde(default)]
    pub last_check_ok: Option<bool>,
    /// When the next pre-market check is due.
    #[serde(default)]
    pub next_check_at: Option<DateTime<Utc>>,
}

/// Health of a set of accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// The worst account status (healthy when there are no accounts).
    pub status: HealthStatus,
    /// Per account.
    pub accounts: Vec<AccountHealth>,
}

impl HealthReport {
    /// Combines account reports; overall status is the worst one.
    pub fn new(generated_at: DateTime<Utc>, accounts: Vec<AccountHealth>) -> Self {
        let status = accounts
            .iter()
            .map(|a| a.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        Self {
            generated_at,
            status,
            accounts,
        }
    }
}
