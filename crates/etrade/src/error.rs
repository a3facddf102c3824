//! What can go wrong talking to E*TRADE, in terms of what to do about it.

use std::time::Duration;

use token_core::{Error, ErrorKind};

/// Errors from signed E*TRADE calls. Never carries a secret.
///
/// Converts into [`token_core::Error`] (for the provider and the manager)
/// with the matching [`ErrorKind`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum EtradeError {
    /// `signature_invalid`: almost always a wrong consumer secret (remedy:
    /// fix `consumer_secret`). A request changed after signing gives the
    /// same answer; that library-side cause is logged at debug level.
    #[error("E*TRADE refused the request signature (oauth_problem=signature_invalid): the consumer secret is wrong for this consumer key and environment; set `consumer_secret` to the secret E*TRADE issued with this key (sandbox and production secrets differ)")]
    SignatureInvalid,
    /// `consumer_key_rejected`: unknown key, wrong environment, or an expired
    /// personal key (remedy: fix `consumer_key`).
    #[error("E*TRADE rejected the consumer key (oauth_problem=consumer_key_rejected): check `consumer_key` belongs to this environment (sandbox and production keys differ) and has not expired; personal keys must be renewed on the E*TRADE developer site")]
    ConsumerKeyRejected,
    /// The access token is inactive from disuse; a renewal revives it.
    #[error("the E*TRADE access token is inactive (oauth_problem={problem}); renew it")]
    Inactive {
        /// The broker's words.
        problem: String,
    },
    /// Expired (past midnight ET), revoked or unknown: a person must log in.
    #[error("a person must log in to E*TRADE again ({reason})")]
    ReauthorizationRequired {
        /// Why, without secrets.
        reason: String,
    },
    /// `timestamp_refused` even after correcting the clock offset.
    #[error("E*TRADE refused our timestamp (oauth_problem=timestamp_refused) and no plausible clock correction helped; check the system clock (an implausible acceptable window is the broker's trouble: retry later)")]
    TimestampRefused,
    /// Network trouble, timeouts, HTTP 5xx, `nonce_used`: try again later.
    #[error("transient failure talking to E*TRADE: {message}")]
    Transient {
        /// What happened.
        message: String,
        /// How long the broker asked us to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// E*TRADE's rate limit (HTTP 400 "Number of requests exceeded the rate limit set").
    #[error("E*TRADE rate limit exceeded; slow down and retry later")]
    RateLimited,
    /// E*TRADE answered something we do not understand.
    #[error("unexpected answer from E*TRADE: {0}")]
    Protocol(String),
    /// Bad configuration or request (not retried).
    #[error("configuration error: {0}")]
    Config(String),
    /// From the token manager (no token, expired, store trouble, ...).
    #[error(transparent)]
    Token(#[from] Error),
}

impl EtradeError {
    /// The kind, for retry and escalation decisions.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::SignatureInvalid | Self::ConsumerKeyRejected | Self::Config(_) => {
                ErrorKind::Config
            }
            Self::Inactive { .. } => ErrorKind::Inactive,
            Self::ReauthorizationRequired { .. } => ErrorKind::Rejected,
            Self::TimestampRefused | Self::Transient { .. } | Self::RateLimited => {
                ErrorKind::Transient
            }
            Self::Protocol(_) => ErrorKind::Protocol,
            Self::Token(e) => e.kind(),
        }
    }

    /// Worth retrying later without human help: exactly when the
    /// [`token_core::Error`] it converts into is retryable
    /// ([`Error::is_retryable`], the core's one retry predicate).
    pub fn is_transient(&self) -> bool {
        Error::from(self.clone()).is_retryable()
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<EtradeError> for Error {
    fn from(e: EtradeError) -> Self {
        match e {
            EtradeError::Token(e) => e,
            EtradeError::Inactive { problem } => Error::Inactive {
                reason: format!("oauth_problem={problem}"),
            },
            EtradeError::ReauthorizationRequired { reason } => Error::Rejected { reason },
            EtradeError::Transient {
                message,
                retry_after,
            } => Error::Transient {
                message,
                retry_after,
            },
            EtradeError::Protocol(m) => Error::Protocol(m),
            other @ EtradeError::SignatureInvalid => {
                Error::setting("consumer_secret", other.to_string())
            }
            other @ EtradeError::ConsumerKeyRejected => {
                Error::setting("consumer_key", other.to_string())
            }
            EtradeError::Config(m) => Error::Config(m),
            other @ (EtradeError::TimestampRefused | EtradeError::RateLimited) => {
                Error::transient(other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_survive_conversion_to_core_errors() {
        let cases = [
            EtradeError::SignatureInvalid,
            EtradeError::ConsumerKeyRejected,
            EtradeError::Inactive {
                problem: "token_expired".into(),
            },
            EtradeError::ReauthorizationRequired {
                reason: "token_rejected".into(),
            },
            EtradeError::TimestampRefused,
            EtradeError::transient("503"),
            EtradeError::RateLimited,
            EtradeError::Protocol("x".into()),
        ];
        for e in cases {
            let kind = e.kind();
            assert_eq!(Error::from(e).kind(), kind);
        }
    }

    #[test]
    fn transience_is_the_cores_verdict() {
        let store = Error::Store(token_core::StoreError::Backend("redis down".into()));
        assert!(store.is_retryable());
        assert!(EtradeError::Token(store).is_transient());
        let cases = [
            EtradeError::SignatureInvalid,
            EtradeError::TimestampRefused,
            EtradeError::RateLimited,
            EtradeError::transient("503"),
            EtradeError::Protocol("x".into()),
            EtradeError::Inactive {
                problem: "token_expired".into(),
            },
            EtradeError::Token(Error::rejected("token_rejected")),
        ];
        for e in cases {
            assert_eq!(
                e.is_transient(),
                Error::from(e.clone()).is_retryable(),
                "{e:?}"
            );
        }
    }

    #[test]
    fn messages_say_what_to_fix() {
        let signature = EtradeError::SignatureInvalid.to_string();
        assert!(signature.contains("consumer_secret"), "{signature}");
        // Operator advice, not advice for library authors.
        assert!(!signature.contains("exactly as signed"), "{signature}");
        assert!(EtradeError::ConsumerKeyRejected
            .to_string()
            .contains("expired"));
    }

    #[test]
    fn refused_keys_name_the_setting_to_fix() {
        use token_core::Remedy;
        let fix = |s: &str| Remedy::FixConfig { setting: s.into() };
        assert_eq!(
            Error::from(EtradeError::SignatureInvalid).remedy(),
            fix("consumer_secret")
        );
        assert_eq!(
            Error::from(EtradeError::ConsumerKeyRejected).remedy(),
            fix("consumer_key")
        );
        assert_eq!(
            Error::from(EtradeError::ReauthorizationRequired {
                reason: "token_rejected".into()
            })
            .remedy(),
            Remedy::LogIn
        );
    }
}
