//! What a person must do to restore an account: the small, documented set
//! every event, alert, status line, health report and metric speaks.
//!
//! | remedy | when | what the person does |
//! |---|---|---|
//! | [`Remedy::LogIn`] | token expired, rejected or revoked | log in at the broker |
//! | [`Remedy::FixConfig`] | consumer key/secret, app permission or redirect URI refused | correct the named setting |
//! | [`Remedy::FixPin`] | the broker's message names the PIN | correct the PIN |
//! | [`Remedy::Wait`] | broker outage, rate limit | nothing; it retries by itself |

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a person must do (see the [module docs](self)).
///
/// ```
/// use token_core::Remedy;
/// let r = Remedy::FixConfig { setting: "consumer_secret".into() };
/// assert_eq!(r.code(), "fix_config");
/// assert_eq!(r.to_string(), "fix the configuration: consumer_secret");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "remedy", rename_all = "snake_case")]
pub enum Remedy {
    /// Log in at the broker (token expired, rejected or revoked).
    LogIn,
    /// Correct a setting; logging in will not help.
    FixConfig {
        /// The setting to fix, as named in the configuration (e.g.
        /// `consumer_secret`, `redirect_uri`, `app permissions`).
        setting: String,
    },
    /// Correct the PIN (only when the broker's message names the PIN).
    FixPin,
    /// Nothing to do: the broker is down or rate limiting; retried by itself.
    Wait {
        /// When the next attempt is due, if known.
        until: Option<DateTime<Utc>>,
    },
}

impl Remedy {
    /// A stable machine-readable code: `log_in`, `fix_config`, `fix_pin`,
    /// `wait` (used in JSON, metrics labels and alerts).
    pub fn code(&self) -> &'static str {
        match self {
            Remedy::LogIn => "log_in",
            Remedy::FixConfig { .. } => "fix_config",
            Remedy::FixPin => "fix_pin",
            Remedy::Wait { .. } => "wait",
        }
    }

    /// Whether a login by a person resolves it.
    pub fn needs_login(&self) -> bool {
        matches!(self, Remedy::LogIn)
    }
}

impl std::fmt::Display for Remedy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Remedy::LogIn => f.write_str("log in"),
            Remedy::FixConfig { setting } => write!(f, "fix the configuration: {setting}"),
            Remedy::FixPin => f.write_str("fix the PIN"),
            Remedy::Wait { until: Some(at) } => {
                write!(
                    f,
                    "wait (retrying at {} UTC)",
                    at.format("%Y-%m-%d %H:%M:%S")
                )
            }
            Remedy::Wait { until: None } => f.write_str("wait (retrying by itself)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_a_tag_and_reads_back() {
        let r = Remedy::FixConfig {
            setting: "redirect_uri".into(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"remedy":"fix_config","setting":"redirect_uri"}"#);
        assert_eq!(serde_json::from_str::<Remedy>(&json).unwrap(), r);
        assert!(Remedy::LogIn.needs_login());
        assert!(!Remedy::FixPin.needs_login());
    }
}
