//! Account keys: which broker, which environment, which account.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::KeyError;

/// Which of a broker's environments an account lives in. Sandbox and
/// production use different credentials, so they are different accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// The broker's test environment (E*TRADE `apisb.etrade.com`).
    Sandbox,
    /// Real money.
    Production,
}

impl Environment {
    /// `"sandbox"` or `"production"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sandbox" => Ok(Environment::Sandbox),
            "production" | "prod" | "live" => Ok(Environment::Production),
            other => Err(KeyError::Environment(other.to_string())),
        }
    }
}

/// Identifies one account: broker, environment and a label of your choosing.
///
/// Broker and label are limited to ASCII letters, digits, `-` and `_` (1 to 64
/// characters) so a key is always safe as a file name, an env-var prefix or a
/// Redis key. It displays as `broker/environment/label`.
///
/// ```
/// use token_core::{AccountKey, Environment};
/// let key = AccountKey::new("etrade", Environment::Sandbox, "main")?;
/// assert_eq!(key.to_string(), "etrade/sandbox/main");
/// assert_eq!("etrade/sandbox/main".parse::<AccountKey>()?, key);
/// assert!(AccountKey::new("etrade", Environment::Sandbox, "../etc").is_err());
/// # Ok::<(), token_core::KeyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawKey", into = "RawKey")]
pub struct AccountKey {
    broker: String,
    environment: Environment,
    label: String,
}

#[derive(Serialize, Deserialize)]
struct RawKey {
    broker: String,
    environment: Environment,
    label: String,
}

impl TryFrom<RawKey> for AccountKey {
    type Error = KeyError;
    fn try_from(raw: RawKey) -> Result<Self, KeyError> {
        AccountKey::new(raw.broker, raw.environment, raw.label)
    }
}

impl From<AccountKey> for RawKey {
    fn from(k: AccountKey) -> Self {
        RawKey {
            broker: k.broker,
            environment: k.environment,
            label: k.label,
        }
    }
}

fn check_part(what: &'static str, value: &str) -> Result<(), KeyError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(KeyError::Part {
            what,
            value: value.to_string(),
        })
    }
}

impl AccountKey {
    /// Builds a key, checking broker and label.
    pub fn new(
        broker: impl Into<String>,
        environment: Environment,
        label: impl Into<String>,
    ) -> Result<Self, KeyError> {
        let broker = broker.into();
        let label = label.into();
        check_part("broker", &broker)?;
        check_part("label", &label)?;
        Ok(Self {
            broker,
            environment,
            label,
        })
    }

    /// The broker's name, e.g. `etrade`.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    /// Sandbox or production.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// Your label for the account.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// `broker.environment.label`: a name safe for files.
    pub fn file_stem(&self) -> String {
        format!("{}.{}.{}", self.broker, self.environment, self.label)
    }

    /// `BROKER_ENVIRONMENT_LABEL_`: a prefix for environment variables.
    pub fn env_prefix(&self) -> String {
        format!(
            "{}_{}_{}_",
            self.broker.to_ascii_uppercase(),
            self.environment.as_str().to_ascii_uppercase(),
            self.label.to_ascii_uppercase()
        )
        .replace('-', "_")
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.broker, self.environment, self.label)
    }
}

impl FromStr for AccountKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(b), Some(e), Some(l), None) => AccountKey::new(b, e.parse()?, l),
            _ => Err(KeyError::Format(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsafe_parts() {
        for bad in ["", "a/b", "a.b", "a b", "ü", &"x".repeat(65)] {
            assert!(
                AccountKey::new("etrade", Environment::Sandbox, bad).is_err(),
                "{bad:?}"
            );
            assert!(
                AccountKey::new(bad, Environment::Sandbox, "main").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn serde_validates() {
        let ok = r#"{"broker":"fyers","environment":"production","label":"desk-1"}"#;
        let key: AccountKey = serde_json::from_str(ok).unwrap();
        assert_eq!(key.env_prefix(), "FYERS_PRODUCTION_DESK_1_");
        let bad = r#"{"broker":"fyers","environment":"production","label":"../x"}"#;
        assert!(serde_json::from_str::<AccountKey>(bad).is_err());
        assert!("a/b".parse::<AccountKey>().is_err());
        assert!("a/staging/c".parse::<AccountKey>().is_err());
    }
}
