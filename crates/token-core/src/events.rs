//! Lifecycle events a trading engine subscribes to, e.g. to switch to paper
//! trading when a token dies and back when it returns.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::ErrorKind;
use crate::key::AccountKey;
use crate::remedy::Remedy;

/// What triggered a silent renewal (what happened, never inferred from the
/// token's state afterwards).
///
/// ```
/// use token_core::events::RenewalReason;
/// assert_eq!(RenewalReason::Operator.to_string(), "asked for by an operator");
/// assert_eq!(serde_json::to_string(&RenewalReason::KeepAlive).unwrap(), r#""keep_alive""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RenewalReason {
    /// The configured schedule fell due (e.g. FYERS 08:45 IST).
    Scheduled,
    /// The token had gone idle from disuse.
    Idle,
    /// The access token had reached its end while a refresh token lived.
    Expired,
    /// Someone asked for it explicitly: an operator's `POST /refresh` or
    /// `tokenctl renew`, or an application calling
    /// [`renew_now`](crate::TokenManager::renew_now).
    Operator,
    /// The keep-alive, for a broker without a cheaper probe.
    KeepAlive,
    /// The broker refused the token as inactive when it was used or probed.
    Inactive,
    /// The pre-market check (its one authenticated call before the open).
    Check,
}

impl RenewalReason {
    /// A stable machine-readable code: `scheduled`, `idle`, `expired`,
    /// `operator`, `keep_alive`, `inactive`, `check`.
    pub fn code(self) -> &'static str {
        match self {
            RenewalReason::Scheduled => "scheduled",
            RenewalReason::Idle => "idle",
            RenewalReason::Expired => "expired",
            RenewalReason::Operator => "operator",
            RenewalReason::KeepAlive => "keep_alive",
            RenewalReason::Inactive => "inactive",
            RenewalReason::Check => "check",
        }
    }
}

impl fmt::Display for RenewalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RenewalReason::Scheduled => "scheduled",
            RenewalReason::Idle => "the token was idle",
            RenewalReason::Expired => "the access token had expired",
            RenewalReason::Operator => "asked for by an operator",
            RenewalReason::KeepAlive => "to keep the token alive",
            RenewalReason::Inactive => "the broker refused the token as inactive",
            RenewalReason::Check => "the pre-market check",
        })
    }
}

/// Something that happened to an account's credentials. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A person completed an authorization; fresh credentials are in use.
    Authorized {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
    },
    /// Credentials were renewed silently.
    Renewed {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
        /// What triggered it.
        reason: RenewalReason,
        /// True when done by the configured schedule rather than need
        /// (`reason == Scheduled`; kept for readers of older event logs).
        scheduled: bool,
        /// How long the broker call took, in milliseconds (wall time).
        took_ms: u64,
    },
    /// A keep-alive call reset the idle timer.
    KeepAliveSent {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
        /// What asked for it: [`RenewalReason::KeepAlive`] (maintenance,
        /// before the idle timeout) or [`RenewalReason::Operator`] (an
        /// explicit [`keep_alive`](crate::TokenManager::keep_alive): control
        /// `POST /keepalive`, `tokenctl probe`).
        reason: RenewalReason,
    },
    /// Only a person will be able to restore access after `deadline`.
    ExpiringSoon {
        /// Account.
        key: AccountKey,
        /// When the warning was raised.
        at: DateTime<Utc>,
        /// The hard deadline (access expiry, or refresh-token expiry).
        deadline: DateTime<Utc>,
    },
    /// The credentials are dead.
    Expired {
        /// Account.
        key: AccountKey,
        /// When noticed.
        at: DateTime<Utc>,
    },
    /// A person must log in again; `url` is where (when the provider can make one).
    ReauthorizationRequired {
        /// Account.
        key: AccountKey,
        /// When raised.
        at: DateTime<Utc>,
        /// Why, in words.
        reason: String,
        /// The login / authorize URL to open.
        url: Option<String>,
    },
    /// A person must act, and logging in will not help: fix a named
    /// setting ([`Remedy::FixConfig`]) or the PIN ([`Remedy::FixPin`]).
    /// Silent renewals of these credentials stop until the cause is fixed
    /// (a restart with the corrected configuration, or
    /// [`clear_rejection`](crate::TokenManager::clear_rejection)). A cause
    /// that a login fixes raises [`Event::ReauthorizationRequired`] instead.
    PersonActionRequired {
        /// Account.
        key: AccountKey,
        /// When raised.
        at: DateTime<Utc>,
        /// What the person must do.
        #[serde(flatten)]
        remedy: Remedy,
        /// Why, in words (the broker's answer, without secrets).
        reason: String,
    },
    /// A renewal or keep-alive failed.
    RenewalFailed {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
        /// What kind of failure.
        kind: ErrorKind,
        /// The error message (no secrets).
        error: String,
        /// When it will be tried again, if it will.
        retry_at: Option<DateTime<Utc>>,
        /// How long the failed broker call took, in milliseconds (wall time).
        took_ms: u64,
    },
    /// Saving to the token store failed; the record is kept in memory and retried.
    StoreFailure {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
        /// The error message (no secrets).
        error: String,
        /// When the save will be retried.
        retry_at: Option<DateTime<Utc>>,
    },
    /// Back to healthy after failures.
    Recovered {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
    },
    /// A dated warning about the account's setup fell due (a configured
    /// [`Notice`](crate::Notice), e.g. the E*TRADE consumer key nears its
    /// two-year end). Raised once per notice.
    Warning {
        /// Account.
        key: AccountKey,
        /// When raised.
        at: DateTime<Utc>,
        /// What it warns of and what to do.
        message: String,
    },
    /// A person is asked to log in now: when the account's login window
    /// opens (or at once without one), then again as reminders until the
    /// login is done or the window closes. `url` is a live authorize URL.
    /// This, not [`Event::ReauthorizationRequired`] (raised when the need
    /// arises, e.g. at 00:00 New York), is what alerts a person.
    LoginRequested {
        /// Account.
        key: AccountKey,
        /// When asked.
        at: DateTime<Utc>,
        /// Why a login is needed, in words.
        reason: String,
        /// Where to log in (a fresh request each time it went stale).
        url: Option<String>,
        /// 0 for the first prompt of a window, then 1, 2, ... for reminders.
        reminder: u32,
        /// When the window closes (the account turns critical then);
        /// `None` when there is no window.
        window_closes: Option<DateTime<Utc>>,
    },
    /// The pre-market check's call was accepted: the token works.
    CheckPassed {
        /// Account.
        key: AccountKey,
        /// When.
        at: DateTime<Utc>,
    },
    /// The login window closed with no login: the account is critical
    /// until a person logs in; the next window asks again.
    LoginWindowMissed {
        /// Account.
        key: AccountKey,
        /// When the window closed.
        at: DateTime<Utc>,
        /// When the next window opens, if there is one.
        next_window: Option<DateTime<Utc>>,
    },
}

impl Event {
    /// The account the event is about.
    pub fn key(&self) -> &AccountKey {
        match self {
            Event::Authorized { key, .. }
            | Event::Renewed { key, .. }
            | Event::KeepAliveSent { key, .. }
            | Event::ExpiringSoon { key, .. }
            | Event::Expired { key, .. }
            | Event::ReauthorizationRequired { key, .. }
            | Event::PersonActionRequired { key, .. }
            | Event::RenewalFailed { key, .. }
            | Event::StoreFailure { key, .. }
            | Event::Recovered { key, .. }
            | Event::Warning { key, .. }
            | Event::LoginRequested { key, .. }
            | Event::LoginWindowMissed { key, .. }
            | Event::CheckPassed { key, .. } => key,
        }
    }

    /// When it happened (on the manager's clock).
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Event::Authorized { at, .. }
            | Event::Renewed { at, .. }
            | Event::KeepAliveSent { at, .. }
            | Event::ExpiringSoon { at, .. }
            | Event::Expired { at, .. }
            | Event::ReauthorizationRequired { at, .. }
            | Event::PersonActionRequired { at, .. }
            | Event::RenewalFailed { at, .. }
            | Event::StoreFailure { at, .. }
            | Event::Recovered { at, .. }
            | Event::Warning { at, .. }
            | Event::LoginRequested { at, .. }
            | Event::LoginWindowMissed { at, .. }
            | Event::CheckPassed { at, .. } => *at,
        }
    }

    /// A short snake_case name, e.g. `renewed`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Authorized { .. } => "authorized",
            Event::Renewed { .. } => "renewed",
            Event::KeepAliveSent { .. } => "keep_alive_sent",
            Event::ExpiringSoon { .. } => "expiring_soon",
            Event::Expired { .. } => "expired",
            Event::ReauthorizationRequired { .. } => "reauthorization_required",
            Event::PersonActionRequired { .. } => "person_action_required",
            Event::RenewalFailed { .. } => "renewal_failed",
            Event::StoreFailure { .. } => "store_failure",
            Event::Recovered { .. } => "recovered",
            Event::Warning { .. } => "warning",
            Event::LoginRequested { .. } => "login_requested",
            Event::LoginWindowMissed { .. } => "login_window_missed",
            Event::CheckPassed { .. } => "check_passed",
        }
    }

    /// How loud a log line about this event should be: a person must act
    /// ([`Severity::Error`]), something is failing or close to a deadline
    /// ([`Severity::Warn`]), or all is well ([`Severity::Info`]).
    pub fn severity(&self) -> Severity {
        match self {
            Event::ReauthorizationRequired { .. }
            | Event::PersonActionRequired { .. }
            | Event::Expired { .. }
            | Event::LoginRequested { .. }
            | Event::LoginWindowMissed { .. } => Severity::Error,
            Event::RenewalFailed { .. }
            | Event::StoreFailure { .. }
            | Event::ExpiringSoon { .. }
            | Event::Warning { .. } => Severity::Warn,
            Event::Authorized { .. }
            | Event::Renewed { .. }
            | Event::KeepAliveSent { .. }
            | Event::CheckPassed { .. }
            | Event::Recovered { .. } => Severity::Info,
        }
    }
}

/// The log level an [`Event`] deserves; see [`Event::severity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// All is well.
    Info,
    /// Something is failing or a deadline is close.
    Warn,
    /// A person must act.
    Error,
}

/// Writes one `tracing` line for `event`: at its [`Event::severity`], with
/// the account and the event's name as fields and `detail` as the message.
/// The manager logs every event it emits through this; daemons that render
/// events their own way (e.g. in the exchange's time zone) pass their words.
pub fn log(event: &Event, detail: &dyn fmt::Display) {
    let (account, name) = (event.key(), event.name());
    match event.severity() {
        Severity::Error => tracing::error!(%account, event = name, "{detail}"),
        Severity::Warn => tracing::warn!(%account, event = name, "{detail}"),
        Severity::Info => tracing::info!(%account, event = name, "{detail}"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::key::Environment;

    #[test]
    fn severity_is_loudest_when_a_person_must_act() {
        let key = AccountKey::new("demo", Environment::Sandbox, "main").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
        let expired = Event::Expired {
            key: key.clone(),
            at,
        };
        let soon = Event::ExpiringSoon {
            key: key.clone(),
            at,
            deadline: at,
        };
        let renewed = Event::Renewed {
            key: key.clone(),
            at,
            reason: RenewalReason::Operator,
            scheduled: false,
            took_ms: 3,
        };
        assert_eq!(expired.severity(), Severity::Error);
        assert_eq!(soon.severity(), Severity::Warn);
        assert_eq!(renewed.severity(), Severity::Info);
        assert!(Severity::Error > Severity::Warn && Severity::Warn > Severity::Info);
        // Every level has a line (no panic on any of them).
        for e in [&expired, &soon, &renewed] {
            log(e, &"test");
        }
    }

    #[test]
    fn person_actions_serialize_their_remedy_flat() {
        let key = AccountKey::new("demo", Environment::Sandbox, "main").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
        let e = Event::PersonActionRequired {
            key,
            at,
            remedy: Remedy::FixConfig {
                setting: "consumer_secret".into(),
            },
            reason: "signature refused".into(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["event"], "person_action_required");
        assert_eq!(v["remedy"], "fix_config");
        assert_eq!(v["setting"], "consumer_secret");
        assert_eq!(e.severity(), Severity::Error);
    }
}
