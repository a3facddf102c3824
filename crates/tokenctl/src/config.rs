//! The `tokenctl` configuration file: a TOML list of accounts.
//!
//! ```toml
//! # Token files go here unless an account says otherwise (relative paths are
//! # relative to this file).
//! store = "tokens"
//!
//! [[account]]
//! broker = "etrade"
//! environment = "sandbox"            # or "production"
//! label = "main"
//! consumer_key = "your-consumer-key"
//! consumer_secret = { env = "ETRADE_CONSUMER_SECRET" }
//!
//! [[account]]
//! broker = "fyers"
//! environment = "production"
//! label = "desk"
//! client_id = "ABCD1234-100"
//! secret_key = { file = "/run/secrets/fyers_secret_key" }
//! pin = { env = "FYERS_PIN" }
//! redirect_uri = "http://127.0.0.1:8080/fyers/callback"
//! ```
//!
//! Secrets are never written in the file itself: each is `{ env = "VAR" }`
//! or `{ file = "PATH" }` (relative to this file) and is read only when a
//! command needs it. The
//! optional `[control]` and `[notify]` tables are configured by the control
//! server and kept here as opaque TOML.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use thiserror::Error;
use token_core::{AccountKey, Environment};
use toml::Spanned;

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "TOKENCTL_CONFIG";

/// Brokers `tokenctl` knows.
pub const KNOWN_BROKERS: &[&str] = &[etrade::BROKER, "fyers"];

/// Everything that can go wrong loading the configuration or its secrets.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file not found: {path} ({origin}); create it or pass --config PATH (see `tokenctl --help`)")]
    Missing {
        /// Where we looked.
        path: PathBuf,
        /// Why we looked there.
        origin: &'static str,
    },
    /// No path given and no platform config directory could be determined.
    #[error("no config file given: pass --config PATH or set {CONFIG_ENV}")]
    NoPath,
    /// The file exists but cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A syntax error, a wrong type, an unknown or missing field.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// `broker = "..."` names a broker tokenctl does not know.
    #[error("{path}:{line}: unknown broker \"{broker}\" (known brokers: {known})")]
    UnknownBroker {
        /// The file.
        path: PathBuf,
        /// 1-based line of the `broker` field.
        line: usize,
        /// What was written.
        broker: String,
        /// The known ones.
        known: String,
    },
    /// A secret's environment variable is not set.
    #[error("account {account}: secret `{field}`: environment variable {var} is not set")]
    SecretEnvMissing {
        /// The account.
        account: String,
        /// The field, e.g. `consumer_secret`.
        field: &'static str,
        /// The variable named in the config.
        var: String,
    },
    /// A secret's file cannot be read (or is empty).
    #[error("account {account}: secret `{field}`: cannot read {path}: {reason}")]
    SecretFile {
        /// The account.
        account: String,
        /// The field.
        field: &'static str,
        /// The file named in the config.
        path: PathBuf,
        /// Why (an OS error or "the file is empty"; never its content).
        reason: String,
    },
}

/// Where a secret comes from. Never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable's name.
    Env(String),
    /// A file's path (surrounding whitespace is trimmed).
    File(PathBuf),
}

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{ env = \"VAR\" } or { file = \"PATH\" }")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretSource, E> {
                // Deliberately does not echo the value: it may be the secret.
                Err(E::custom(
                    "secrets are never written in the config file: use { env = \"VAR\" } or { file = \"PATH\" }",
                ))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
                let mut found: Option<SecretSource> = None;
                while let Some(k) = map.next_key::<String>()? {
                    let source = match k.as_str() {
                        "env" => SecretSource::Env(map.next_value()?),
                        "file" => SecretSource::File(map.next_value()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["env", "file"]));
                        }
                    };
                    if found.replace(source).is_some() {
                        return Err(de::Error::custom("give either `env` or `file`, not both"));
                    }
                }
                found.ok_or_else(|| {
                    de::Error::custom("expected `env = \"VAR\"` or `file = \"PATH\"`")
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl SecretSource {
    /// A relative file path is relative to `base` (the config file's directory).
    fn relative_to(self, base: &Path) -> Self {
        match self {
            SecretSource::File(p) => SecretSource::File(base.join(p)),
            env => env,
        }
    }

    /// Reads the secret. `account` and `field` only label errors.
    pub fn resolve(&self, account: &str, field: &'static str) -> Result<SecretString, ConfigError> {
        match self {
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                _ => Err(ConfigError::SecretEnvMissing {
                    account: account.to_owned(),
                    field,
                    var: var.clone(),
                }),
            },
            SecretSource::File(path) => {
                let err = |reason: String| ConfigError::SecretFile {
                    account: account.to_owned(),
                    field,
                    path: path.clone(),
                    reason,
                };
                let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
                let trimmed = text.trim();
                if trimmed.is_empty() {
                    return Err(err("the file is empty".into()));
                }
                Ok(SecretString::from(trimmed.to_owned()))
            }
        }
    }
}

/// E*TRADE settings of one account.
#[derive(Debug, Clone)]
pub struct EtradeSettings {
    /// The consumer key (not a secret: it appears in authorize URLs).
    pub consumer_key: String,
    /// Where the consumer secret comes from.
    pub consumer_secret: SecretSource,
    /// One URL for both OAuth and API hosts (e.g. the simulator).
    pub base_url: Option<String>,
    /// The OAuth host, when it differs.
    pub oauth_base_url: Option<String>,
    /// The API host, when it differs.
    pub api_base_url: Option<String>,
    /// The page a person opens to authorize.
    pub authorize_url: Option<String>,
}

/// FYERS settings of one account.
#[derive(Debug, Clone)]
pub struct FyersSettings {
    /// App id with its type suffix, e.g. `ABCD1234-100`.
    pub client_id: String,
    /// Where the app secret comes from.
    pub secret_key: SecretSource,
    /// Where the PIN comes from.
    pub pin: SecretSource,
    /// The registered redirect URI, exactly.
    pub redirect_uri: String,
    /// API base URL override (e.g. the simulator's `/api/v3`).
    pub base_url: Option<String>,
}

/// Broker-specific settings.
#[derive(Debug, Clone)]
pub enum BrokerSettings {
    /// `broker = "etrade"`.
    Etrade(EtradeSettings),
    /// `broker = "fyers"`.
    Fyers(FyersSettings),
}

/// One configured account.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// `broker/environment/label`.
    pub key: AccountKey,
    /// The directory of its file store.
    pub store: PathBuf,
    /// Broker settings.
    pub broker: BrokerSettings,
    /// The line of its `[[account]]` table.
    pub line: usize,
}

/// A loaded configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The accounts, in file order.
    pub accounts: Vec<AccountConfig>,
    /// `[control]`: configured by the control server (kept opaque here).
    pub control: Option<toml::Value>,
    /// `[notify]`: configured by the control server (kept opaque here).
    pub notify: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<String>,
    #[serde(default)]
    account: Vec<Spanned<RawAccount>>,
    control: Option<toml::Value>,
    notify: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    broker: Spanned<String>,
    environment: Option<Spanned<String>>,
    label: Spanned<String>,
    store: Option<String>,
    // E*TRADE
    consumer_key: Option<String>,
    consumer_secret: Option<SecretSource>,
    oauth_base_url: Option<String>,
    api_base_url: Option<String>,
    authorize_url: Option<String>,
    // FYERS
    client_id: Option<String>,
    secret_key: Option<SecretSource>,
    pin: Option<SecretSource>,
    redirect_uri: Option<String>,
    // both
    base_url: Option<String>,
}

/// Where the config file is: `--config`, then `$TOKENCTL_CONFIG`, then the
/// platform config directory (`$XDG_CONFIG_HOME/tokenctl/config.toml`,
/// `~/.config/tokenctl/config.toml`, `~/Library/Application
/// Support/tokenctl/config.toml` on macOS, `%APPDATA%\tokenctl\config.toml`
/// on Windows).
pub fn locate(flag: Option<&Path>) -> Result<(PathBuf, &'static str), ConfigError> {
    if let Some(p) = flag {
        return Ok((p.to_path_buf(), "from --config"));
    }
    if let Some(p) = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(p), "from $TOKENCTL_CONFIG"));
    }
    platform_config_dir()
        .map(|d| {
            (
                d.join("tokenctl").join("config.toml"),
                "the default location",
            )
        })
        .ok_or(ConfigError::NoPath)
}

fn platform_config_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return env("APPDATA");
    }
    if cfg!(target_os = "macos") {
        return env("HOME").map(|h| h.join("Library").join("Application Support"));
    }
    env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))
}

impl Config {
    /// Finds and loads the config file (see [`locate`]).
    pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, origin) = locate(flag)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing { path, origin })
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Config::parse(&text, &path)
    }

    /// Parses config text; `path` names the file in errors and anchors
    /// relative store paths.
    ///
    /// ```
    /// let text = r#"
    /// [[account]]
    /// broker = "etrade"
    /// label = "main"
    /// consumer_key = "k"
    /// consumer_secret = { env = "ETRADE_CONSUMER_SECRET" }
    /// "#;
    /// let config = tokenctl::config::Config::parse(text, "/etc/tokenctl.toml".as_ref())?;
    /// assert_eq!(config.accounts[0].key.to_string(), "etrade/production/main");
    /// assert_eq!(config.accounts[0].store, std::path::Path::new("/etc/tokens"));
    /// # Ok::<(), tokenctl::config::ConfigError>(())
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            invalid(offset, e.message().trim().to_owned())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let default_store = base.join(raw.store.as_deref().unwrap_or("tokens"));
        let mut accounts: Vec<AccountConfig> = Vec::new();
        for spanned in raw.account {
            let at = spanned.span().start;
            let a = spanned.into_inner();
            let environment = match &a.environment {
                None => Environment::Production,
                Some(e) => e.get_ref().parse().map_err(|_| {
                    invalid(
                        e.span().start,
                        format!(
                            "unknown environment \"{}\" (use \"sandbox\" or \"production\")",
                            e.get_ref()
                        ),
                    )
                })?,
            };
            let broker_name = a.broker.get_ref().clone();
            if !KNOWN_BROKERS.contains(&broker_name.as_str()) {
                return Err(ConfigError::UnknownBroker {
                    path: path.to_path_buf(),
                    line: line_col(text, a.broker.span().start).0,
                    broker: broker_name,
                    known: KNOWN_BROKERS.join(", "),
                });
            }
            let key = AccountKey::new(&broker_name, environment, a.label.get_ref())
                .map_err(|e| invalid(a.label.span().start, e.to_string()))?;
            if let Some(dup) = accounts.iter().find(|x| x.key == key) {
                return Err(invalid(
                    at,
                    format!(
                        "account {key} is configured twice (first on line {})",
                        dup.line
                    ),
                ));
            }
            let need = |what: &str, v: Option<String>| {
                v.ok_or_else(|| invalid(at, format!("{broker_name} account needs `{what}`")))
            };
            let need_secret = |what: &str, v: Option<SecretSource>| {
                v.map(|s| s.relative_to(base)).ok_or_else(|| {
                    invalid(at, format!("{broker_name} account needs `{what} = {{ env = \"VAR\" }}` or `{what} = {{ file = \"PATH\" }}`"))
                })
            };
            let reject = |what: &str, present: bool| {
                if present {
                    Err(invalid(
                        at,
                        format!("`{what}` is not a {broker_name} setting"),
                    ))
                } else {
                    Ok(())
                }
            };
            let broker = if broker_name == etrade::BROKER {
                reject("client_id", a.client_id.is_some())?;
                reject("secret_key", a.secret_key.is_some())?;
                reject("pin", a.pin.is_some())?;
                reject("redirect_uri", a.redirect_uri.is_some())?;
                BrokerSettings::Etrade(EtradeSettings {
                    consumer_key: need("consumer_key", a.consumer_key)?,
                    consumer_secret: need_secret("consumer_secret", a.consumer_secret)?,
                    base_url: a.base_url,
                    oauth_base_url: a.oauth_base_url,
                    api_base_url: a.api_base_url,
                    authorize_url: a.authorize_url,
                })
            } else {
                reject("consumer_key", a.consumer_key.is_some())?;
                reject("consumer_secret", a.consumer_secret.is_some())?;
                reject("oauth_base_url", a.oauth_base_url.is_some())?;
                reject("api_base_url", a.api_base_url.is_some())?;
                reject("authorize_url", a.authorize_url.is_some())?;
                BrokerSettings::Fyers(FyersSettings {
                    client_id: need("client_id", a.client_id)?,
                    secret_key: need_secret("secret_key", a.secret_key)?,
                    pin: need_secret("pin", a.pin)?,
                    redirect_uri: need("redirect_uri", a.redirect_uri)?,
                    base_url: a.base_url,
                })
            };
            accounts.push(AccountConfig {
                key,
                store: a
                    .store
                    .map_or_else(|| default_store.clone(), |s| base.join(s)),
                broker,
                line: line_col(text, at).0,
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            accounts,
            control: raw.control,
            notify: raw.notify,
        })
    }

    /// The account `selector` names: its label, or `broker/label`, or the
    /// full `broker/environment/label`.
    pub fn find(&self, selector: &str) -> Result<&AccountConfig, SelectError> {
        let matches: Vec<&AccountConfig> = self
            .accounts
            .iter()
            .filter(|a| {
                let k = &a.key;
                selector == k.to_string()
                    || selector == k.label()
                    || selector == format!("{}/{}", k.broker(), k.label())
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(SelectError::None {
                selector: selector.to_owned(),
                known: self.names(),
            }),
            _ => Err(SelectError::Ambiguous {
                selector: selector.to_owned(),
                candidates: matches
                    .iter()
                    .map(|a| a.key.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn names(&self) -> String {
        if self.accounts.is_empty() {
            return "none".into();
        }
        self.accounts
            .iter()
            .map(|a| a.key.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An account selector that matches nothing or several accounts.
#[derive(Debug, Error)]
pub enum SelectError {
    /// Nothing matches.
    #[error("no account \"{selector}\" in the config (configured: {known})")]
    None {
        /// What was asked for.
        selector: String,
        /// The configured keys.
        known: String,
    },
    /// Several match.
    #[error(
        "\"{selector}\" matches several accounts ({candidates}); use broker/environment/label"
    )]
    Ambiguous {
        /// What was asked for.
        selector: String,
        /// The matching keys.
        candidates: String,
    },
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/cfg/tokenctl.toml"))
    }

    const GOOD: &str = r#"
store = "state"

[[account]]
broker = "etrade"
environment = "sandbox"
label = "main"
consumer_key = "ck"
consumer_secret = { env = "X_SECRET" }

[[account]]
broker = "fyers"
label = "desk"
store = "/var/lib/fy"
client_id = "APP-100"
secret_key = { file = "sk.txt" }
pin = { env = "X_PIN" }
redirect_uri = "http://127.0.0.1:8080/cb"

[control]
listen = "127.0.0.1:7000"

[notify.telegram]
chat = 42
"#;

    #[test]
    fn parses_accounts_stores_and_keeps_control_and_notify_opaque() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.accounts.len(), 2);
        assert_eq!(c.accounts[0].key.to_string(), "etrade/sandbox/main");
        assert_eq!(c.accounts[0].store, Path::new("/cfg/state"));
        assert_eq!(c.accounts[0].line, 4);
        assert_eq!(c.accounts[1].key.to_string(), "fyers/production/desk");
        assert_eq!(c.accounts[1].store, Path::new("/var/lib/fy"));
        match &c.accounts[1].broker {
            BrokerSettings::Fyers(f) => {
                assert_eq!(f.secret_key, SecretSource::File("/cfg/sk.txt".into()));
                assert_eq!(f.pin, SecretSource::Env("X_PIN".into()));
            }
            other => panic!("{other:?}"),
        }
        let control = c.control.unwrap();
        assert_eq!(
            control.get("listen").and_then(|v| v.as_str()),
            Some("127.0.0.1:7000")
        );
        assert!(c.notify.unwrap().get("telegram").is_some());
    }

    #[test]
    fn a_bad_field_names_its_line() {
        let text = GOOD.replace("label = \"desk\"", "label = 7");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("/cfg/tokenctl.toml:13:"), "{err}");
        let text = GOOD.replace("label = \"desk\"", "labl = \"desk\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.starts_with("/cfg/tokenctl.toml:13:"), "{err}");
        assert!(err.contains("labl"), "{err}");
    }

    #[test]
    fn a_literal_secret_is_refused_without_echoing_it() {
        let text = GOOD.replace("{ env = \"X_SECRET\" }", "\"hunter2-literal\"");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(":9:"), "{err}");
        assert!(err.contains("never written in the config"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn unknown_broker_and_missing_fields_are_reported_with_lines() {
        let err = parse(&GOOD.replace("broker = \"fyers\"", "broker = \"schwab\"")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/cfg/tokenctl.toml:12: unknown broker \"schwab\" (known brokers: etrade, fyers)"
        );
        let err = parse(&GOOD.replace("pin = { env = \"X_PIN\" }\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/cfg/tokenctl.toml:11:"), "{err}");
        assert!(err.contains("needs `pin"), "{err}");
        let err = parse(&GOOD.replace("environment = \"sandbox\"", "environment = \"staging\""))
            .unwrap_err();
        assert!(
            err.to_string().starts_with("/cfg/tokenctl.toml:6:"),
            "{err}"
        );
    }

    #[test]
    fn selects_accounts_by_label_or_key() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.find("main").unwrap().key.label(), "main");
        assert_eq!(c.find("fyers/desk").unwrap().key.label(), "desk");
        assert_eq!(c.find("etrade/sandbox/main").unwrap().key.label(), "main");
        let err = c.find("nope").unwrap_err().to_string();
        assert!(
            err.contains("etrade/sandbox/main, fyers/production/desk"),
            "{err}"
        );
    }

    #[test]
    fn secrets_resolve_from_env_and_files_and_say_which_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s");
        std::fs::write(&file, "  s3cret\n").unwrap();
        let got = SecretSource::File(file).resolve("a", "pin").unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&got), "s3cret");
        let err = SecretSource::Env("TOKENCTL_TEST_SURELY_UNSET".into())
            .resolve("fyers/production/desk", "pin")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "account fyers/production/desk: secret `pin`: environment variable TOKENCTL_TEST_SURELY_UNSET is not set"
        );
        let err = SecretSource::File(dir.path().join("none"))
            .resolve("a", "pin")
            .unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
