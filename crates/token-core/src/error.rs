//! One error taxonomy for the whole library.
//!
//! Callers (and the manager's retry logic) decide by [`ErrorKind`], never by
//! matching strings: transient failures are retried with backoff, rejections
//! escalate to "a person must re-authorize", misconfiguration is reported
//! once and not retried. No error ever carries a secret.
//!
//! What a person must do about an error is its [`Error::remedy`] (see
//! [`Remedy`]): adapters say which setting the broker refused with
//! [`Error::Setting`] and a PIN verdict with [`Error::PinRefused`], so a
//! wrong consumer secret is never answered with "log in again".

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::remedy::Remedy;

/// What kind of failure an [`Error`](enum@Error) is; drives retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Network trouble, 5xx, rate limits: try again later.
    Transient,
    /// The token is inactive but a silent renewal can revive it (E*TRADE idle).
    Inactive,
    /// The broker refused the credentials: a person must re-authorize.
    Rejected,
    /// Our configuration is wrong (bad key, bad signature setup, bad URL).
    Config,
    /// The token store failed.
    Store,
    /// The broker answered something we do not understand.
    Protocol,
    /// The provider cannot do this at all.
    Unsupported,
    /// No usable token is held.
    Unavailable,
}

/// Errors from providers, the manager and stores.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum Error {
    /// Network trouble, timeouts, HTTP 5xx or rate limiting: retry later.
    #[error("transient failure: {message}")]
    Transient {
        /// What happened, without secrets.
        message: String,
        /// How long the broker asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// The token went inactive from disuse; a silent renewal revives it.
    #[error("token inactive: {reason}")]
    Inactive {
        /// The broker's words, e.g. `oauth_problem=token_expired` before midnight.
        reason: String,
    },
    /// The broker rejected the credentials; a person must re-authorize.
    #[error("rejected by the broker ({reason}); a person must re-authorize")]
    Rejected {
        /// The broker's words, e.g. `oauth_problem=token_rejected`, `-501`.
        reason: String,
    },
    /// Something in our configuration is wrong and retrying will not help.
    /// Prefer [`Error::Setting`] when the setting is known.
    #[error("configuration error: {0}")]
    Config(String),
    /// The broker refused a named setting (e.g. E*TRADE's consumer secret,
    /// a redirect URI that is not the registered one): logging in again
    /// will not help; a person must correct `setting`. Kind
    /// [`ErrorKind::Config`]; remedy [`Remedy::FixConfig`].
    #[error(
        "configuration error: {message} (setting `{setting}`; logging in again will not help)"
    )]
    Setting {
        /// The setting to fix, as named in the configuration file.
        setting: String,
        /// What the broker said and what to check, without secrets.
        message: String,
    },
    /// The broker's answer names the PIN as wrong. The PIN is not sent
    /// again until it is fixed (repeated wrong PINs can lock the account).
    /// Kind [`ErrorKind::Config`]; remedy [`Remedy::FixPin`].
    #[error("the broker refused the PIN ({reason}): fix the PIN; it is not sent again until then (repeated wrong PINs can lock the account)")]
    PinRefused {
        /// The broker's words, without secrets.
        reason: String,
    },
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker answered in a shape we do not understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The provider does not support this operation.
    #[error("not supported by this provider: {0}")]
    Unsupported(&'static str),
    /// No usable token is held.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The authorization request a person answered had already expired; a
    /// new one was started at `url`.
    #[error("that authorization request expired; open the new one: {url}")]
    AuthorizationExpired {
        /// Where to log in now.
        url: String,
    },
}

impl Error {
    /// The kind, for retry and escalation decisions.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Transient { .. } => ErrorKind::Transient,
            Error::Inactive { .. } => ErrorKind::Inactive,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::Config(_) | Error::Setting { .. } | Error::PinRefused { .. } => {
                ErrorKind::Config
            }
            Error::Store(_) => ErrorKind::Store,
            Error::Protocol(_) => ErrorKind::Protocol,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Unavailable(_) => ErrorKind::Unavailable,
            Error::AuthorizationExpired { .. } => ErrorKind::Rejected,
        }
    }

    /// The one retry predicate: whether this is worth retrying later
    /// without human help. The manager retries these with backoff instead of
    /// asking a person: transient and store failures, an inactive token (a
    /// renewal revives it), and answers we could not understand (one garbled
    /// response must not page anyone). Rejections, misconfiguration,
    /// unsupported operations and "no usable token" are never retried: they
    /// need a person or a fix.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::Transient | ErrorKind::Store | ErrorKind::Protocol | ErrorKind::Inactive
        )
    }

    /// What a person must do about this error (see [`Remedy`]):
    ///
    /// | error | remedy |
    /// |---|---|
    /// | [`Error::Setting`] | [`Remedy::FixConfig`] naming the setting |
    /// | [`Error::Config`] (setting unknown) | [`Remedy::FixConfig`] `configuration` |
    /// | [`Error::PinRefused`] | [`Remedy::FixPin`] |
    /// | [`Error::Rejected`], [`Error::AuthorizationExpired`], [`Error::Unavailable`], [`Error::Unsupported`] | [`Remedy::LogIn`] |
    /// | anything [retryable](Error::is_retryable) (outage, rate limit, store, garbled answer) | [`Remedy::Wait`] |
    ///
    /// `Wait` carries no instant here; the manager fills in its retry time.
    ///
    /// ```
    /// use token_core::{Error, Remedy};
    /// let e = Error::setting("consumer_secret", "E*TRADE refused the signature");
    /// assert_eq!(e.remedy(), Remedy::FixConfig { setting: "consumer_secret".into() });
    /// assert_eq!(Error::rejected("token_rejected").remedy(), Remedy::LogIn);
    /// assert_eq!(Error::transient("HTTP 503").remedy(), Remedy::Wait { until: None });
    /// ```
    pub fn remedy(&self) -> Remedy {
        match self {
            Error::Setting { setting, .. } => Remedy::FixConfig {
                setting: setting.clone(),
            },
            Error::Config(_) => Remedy::FixConfig {
                setting: "configuration".into(),
            },
            Error::PinRefused { .. } => Remedy::FixPin,
            e if e.is_retryable() => Remedy::Wait { until: None },
            _ => Remedy::LogIn,
        }
    }

    /// A shorthand for [`Error::Setting`].
    pub fn setting(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Setting {
            setting: setting.into(),
            message: message.into(),
        }
    }

    /// A shorthand for [`Error::Transient`] without a retry hint.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    /// A shorthand for [`Error::Rejected`].
    pub fn rejected(reason: impl Into<String>) -> Self {
        Error::Rejected {
            reason: reason.into(),
        }
    }
}

/// Why [`TokenManager::token`](crate::TokenManager::token) has nothing to hand
/// out. Cheap to return on the hot path: no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailable {
    /// No token was ever obtained (or it was revoked): log in first.
    #[error("no token: authorize this account first")]
    NoToken,
    /// The token is idle or past its access expiry but can be renewed
    /// silently: call `ensure_fresh()`.
    #[error("token idle: renew it (ensure_fresh) before use")]
    Idle,
    /// The token has expired and cannot be renewed: a person must log in.
    #[error("token expired: a person must re-authorize")]
    Expired,
}

/// Errors from token stores.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system or network under the store failed.
    #[error("store I/O error at {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A stored record cannot be parsed. It is left untouched.
    #[error("stored record at {location} is corrupt ({detail}); it was left untouched")]
    Corrupt {
        /// File path or key.
        location: String,
        /// What is wrong (never the content itself).
        detail: String,
    },
    /// A stored record was written by a newer (or unknown) schema version.
    #[error(
        "stored record at {location} has schema version {found}; this library supports {supported}"
    )]
    UnsupportedVersion {
        /// File path or key.
        location: String,
        /// The version found.
        found: u32,
        /// The version this library reads and writes.
        supported: u32,
    },
    /// A save would replace data this library cannot read.
    #[error("refusing to overwrite {location}: {reason}")]
    WouldOverwrite {
        /// File path or key.
        location: String,
        /// Why.
        reason: String,
    },
    /// The payload cannot be represented by this store.
    #[error("payload cannot be stored: {0}")]
    Payload(String),
    /// Another process holds the renewal lease for this account.
    #[error("renewal lease for {key} is held by another process")]
    LeaseBusy {
        /// The account.
        key: String,
    },
    /// A backend-specific failure (e.g. a Redis error), without secrets.
    #[error("store backend error: {0}")]
    Backend(String),
    /// A store path is unsafe to use: a symbolic link, not a regular file,
    /// or a directory other users can write. Nothing was read or written.
    #[error("refusing to use {path}: {problem}")]
    Insecure {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// The store is configured so that two accounts would share data (e.g.
    /// `.env` variable names that collide); the message names both.
    #[error("store configuration: {0}")]
    Config(String),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// A `Corrupt` error from a serde_json error, keeping only its category
    /// and position so no stored secret can leak into the message.
    pub fn corrupt_json(location: impl Into<String>, err: &serde_json::Error) -> Self {
        let category = match err.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Data => "unexpected structure",
            serde_json::error::Category::Eof => "truncated",
        };
        StoreError::Corrupt {
            location: location.into(),
            detail: format!("{category} at line {} column {}", err.line(), err.column()),
        }
    }
}

/// Errors building an [`AccountKey`](crate::AccountKey).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A broker or label with characters outside `[A-Za-z0-9_-]` or a bad length.
    #[error("invalid {what} {value:?}: use 1-64 ASCII letters, digits, '-' or '_'")]
    Part {
        /// `broker` or `label`.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// An unknown environment name.
    #[error("unknown environment {0:?}: expected \"sandbox\" or \"production\"")]
    Environment(String),
    /// Not of the form `broker/environment/label`.
    #[error("invalid account key {0:?}: expected broker/environment/label")]
    Format(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_json_never_echoes_content() {
        let err = serde_json::from_str::<serde_json::Value>(r#"{"token": "s3cr3t"#).unwrap_err();
        let e = StoreError::corrupt_json("f.json", &err);
        assert!(!e.to_string().contains("s3cr3t"));
        let err = serde_json::from_str::<u32>(r#""s3cr3t""#).unwrap_err();
        let e = StoreError::corrupt_json("f.json", &err);
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }

    #[test]
    fn kinds_drive_retry() {
        assert!(Error::transient("503").is_retryable());
        assert!(!Error::rejected("token_rejected").is_retryable());
        assert_eq!(
            Error::from(Unavailable::Idle).kind(),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn only_what_time_can_fix_is_retryable() {
        let store = Error::Store(StoreError::Backend("down".into()));
        let inactive = Error::Inactive {
            reason: "oauth_problem=token_expired".into(),
        };
        for e in [&store, &inactive, &Error::Protocol("garbled".into())] {
            assert!(e.is_retryable(), "{e}");
        }
        let never = [
            Error::Config("bad key".into()),
            Error::Unsupported("renew"),
            Error::from(Unavailable::Expired),
            Error::AuthorizationExpired {
                url: "https://example.invalid/login".into(),
            },
        ];
        for e in &never {
            assert!(!e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn each_cause_has_its_remedy() {
        let cases = [
            (
                Error::setting("redirect_uri", "refused"),
                Remedy::FixConfig {
                    setting: "redirect_uri".into(),
                },
            ),
            (
                Error::PinRefused {
                    reason: "code -16: Invalid PIN".into(),
                },
                Remedy::FixPin,
            ),
            (Error::rejected("token_rejected"), Remedy::LogIn),
            (Error::from(Unavailable::Expired), Remedy::LogIn),
            (Error::Unsupported("renew"), Remedy::LogIn),
            (Error::transient("429"), Remedy::Wait { until: None }),
            (
                Error::Store(StoreError::Backend("down".into())),
                Remedy::Wait { until: None },
            ),
        ];
        for (e, remedy) in cases {
            assert_eq!(e.remedy(), remedy, "{e}");
        }
        // Neither a setting nor a PIN verdict tells anyone to log in.
        for e in [
            Error::setting("consumer_secret", "signature refused"),
            Error::PinRefused { reason: "x".into() },
        ] {
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(!e.is_retryable());
            assert!(!e.to_string().contains("re-authorize"), "{e}");
        }
    }
}
