//! Alerts for people: one [`Notifier`] trait, three notifiers (log,
//! Telegram, webhook) and the [`Alerter`] that turns token-core events into
//! deduplicated, rate-limited alerts delivered off the upkeep path.

mod alerter;
mod episode;
mod log;
mod telegram;
mod webhook;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use token_core::AccountKey;

pub use self::log::LogNotifier;
pub use alerter::Alerter;
pub use telegram::TelegramNotifier;
pub(crate) use webhook::redacted as redacted_url;
pub use webhook::{sign, WebhookNotifier, SIGNATURE_HEADER};

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A person must log in (the URL to open is in [`Alert::url`]).
    ReauthorizationRequired,
    /// A person must fix a setting or the PIN; logging in will not help
    /// (the message names the remedy, e.g. `fix the configuration:
    /// consumer_secret`).
    PersonActionRequired,
    /// Only a person can restore access after [`Alert::deadline`] (e.g. the
    /// FYERS refresh token expires in N days).
    ExpiringSoon,
    /// Renewals failed several times in a row.
    RenewalFailures,
    /// The token store failed; the record is kept in memory.
    StoreFailure,
    /// Back to healthy after an alert.
    Recovered,
}

/// One alert. Never carries a secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The account.
    #[serde(serialize_with = "as_string")]
    pub account: AccountKey,
    /// What it is about.
    pub kind: AlertKind,
    /// When it was raised.
    pub at: DateTime<Utc>,
    /// One line for a person.
    pub message: String,
    /// The login / authorize URL to open, for re-authorization alerts.
    pub url: Option<String>,
    /// The deadline, for expiring-soon alerts.
    pub deadline: Option<DateTime<Utc>>,
    /// For re-authorization alerts: what to bring back and every way to
    /// answer ([`crate::reauth::how_to_answer`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// For a recovery: the problems it ends. Only notifiers that accepted
    /// one of them hear of the recovery.
    #[serde(skip)]
    pub resolves: Vec<AlertKind>,
}

fn as_string<S: serde::Serializer>(key: &AccountKey, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(key)
}

impl Alert {
    /// The alert as a short plain-text message (used by Telegram and the log).
    pub fn text(&self) -> String {
        let icon = match self.kind {
            AlertKind::Recovered => "✅",
            AlertKind::ExpiringSoon => "⏳",
            _ => "⚠️",
        };
        let mut text = format!("{icon} {}: {}", self.account, self.message);
        if let Some(url) = &self.url {
            text.push_str("\nOpen: ");
            text.push_str(url);
        }
        if let Some(answer) = &self.answer {
            text.push('\n');
            text.push_str(answer);
        }
        text
    }
}

/// Why a delivery failed. Never contains a secret (bot tokens live in URLs,
/// so transport errors are stripped of their URL).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotifyError {
    /// The endpoint could not be reached or did not answer in time.
    #[error("transport error: {0}")]
    Transport(String),
    /// The endpoint answered with an error.
    #[error("HTTP {status}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// What the endpoint said (Bot API `description`), shortened.
        detail: String,
    },
    /// The answer could not be understood.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// Misconfigured (bad URL, missing secret).
    #[error("configuration error: {0}")]
    Config(String),
}

impl NotifyError {
    pub(crate) fn transport(e: reqwest::Error) -> Self {
        let timeout = e.is_timeout();
        let e = e.without_url();
        if timeout {
            NotifyError::Transport("timed out".into())
        } else {
            NotifyError::Transport(e.to_string())
        }
    }
}

/// Something that delivers alerts to people.
///
/// Implementations may be slow or fail: the [`Alerter`] calls them from
/// their own task with a timeout, so they never hold up token upkeep.
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug {
    /// A short name for logs, e.g. `telegram`.
    fn name(&self) -> &str;

    /// Whether this notifier wants alerts of `kind` (all by default).
    fn accepts(&self, kind: AlertKind) -> bool {
        let _ = kind;
        true
    }

    /// Delivers one alert.
    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError>;
}
