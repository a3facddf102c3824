//! Configuration: consumer key and secret, environment, hosts, timeouts.
//!
//! PROTOCOLS.md ("E*TRADE"): the data API lives on `api.etrade.com`
//! (production) or `apisb.etrade.com` (sandbox); the OAuth endpoints live on
//! `api.etrade.com` in the official sample client even with sandbox keys, but
//! that is uncertain, so the OAuth host is configurable on its own.

use std::fmt;
use std::time::Duration;

use chrono::NaiveDate;
use secrecy::SecretString;
use token_core::{AccountKey, Environment, Error, Notice};
use url::Url;

/// Production data API host.
pub const PRODUCTION_API_URL: &str = "https://api.etrade.com";
/// Sandbox data API host.
pub const SANDBOX_API_URL: &str = "https://apisb.etrade.com";
/// OAuth host used by default for both environments (as the official sample client does).
pub const DEFAULT_OAUTH_URL: &str = "https://api.etrade.com";
/// The page a person opens to authorize a request token.
pub const DEFAULT_AUTHORIZE_URL: &str = "https://us.etrade.com/e/t/etws/authorize";

/// How to reach E*TRADE for one consumer key.
///
/// ```
/// use etrade::EtradeConfig;
/// use token_core::Environment;
///
/// let config = EtradeConfig::new(Environment::Sandbox, "my-key", "my-secret".to_string().into());
/// assert_eq!(config.api_base_url().as_str(), "https://apisb.etrade.com/");
/// assert_eq!(config.oauth_base_url().as_str(), "https://api.etrade.com/");
/// // Plain HTTP is refused except on loopback (e.g. the simulator).
/// assert!(config.clone().with_api_base_url("http://example.com").is_err());
/// assert!(config.with_api_base_url("http://127.0.0.1:8080").is_ok());
/// ```
#[derive(Clone)]
pub struct EtradeConfig {
    environment: Environment,
    consumer_key: String,
    consumer_secret: SecretString,
    oauth_base_url: Url,
    api_base_url: Url,
    authorize_url: Url,
    timeout: Duration,
    connect_timeout: Duration,
    consumer_key_issued: Option<NaiveDate>,
}

impl fmt::Debug for EtradeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtradeConfig")
            .field("environment", &self.environment)
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"[REDACTED]")
            .field("oauth_base_url", &self.oauth_base_url.as_str())
            .field("api_base_url", &self.api_base_url.as_str())
            .field("authorize_url", &self.authorize_url.as_str())
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("consumer_key_issued", &self.consumer_key_issued)
            .finish()
    }
}

fn parse_const(url: &str) -> Url {
    // The constants above are valid URLs; a failure here is a bug caught by tests.
    Url::parse(url).unwrap_or_else(|_| unreachable!("invalid built-in URL {url}"))
}

impl EtradeConfig {
    /// The documented hosts for `environment`, a 30 s request timeout and a
    /// 10 s connect timeout.
    pub fn new(
        environment: Environment,
        consumer_key: impl Into<String>,
        consumer_secret: SecretString,
    ) -> Self {
        let api = match environment {
            Environment::Production => PRODUCTION_API_URL,
            Environment::Sandbox => SANDBOX_API_URL,
        };
        Self {
            environment,
            consumer_key: consumer_key.into(),
            consumer_secret,
            oauth_base_url: parse_const(DEFAULT_OAUTH_URL),
            api_base_url: parse_const(api),
            authorize_url: parse_const(DEFAULT_AUTHORIZE_URL),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            consumer_key_issued: None,
        }
    }

    /// Points both hosts and the authorize page at one base URL, e.g. a
    /// simulator at `http://127.0.0.1:PORT` (authorize page at
    /// `{base}/e/t/etws/authorize`).
    pub fn with_base_url(self, base: &str) -> Result<Self, Error> {
        let authorize = format!("{}/e/t/etws/authorize", base.trim_end_matches('/'));
        self.with_oauth_base_url(base)?
            .with_api_base_url(base)?
            .with_authorize_url(&authorize)
    }

    /// The host of `/oauth/...` (request, access, renew, revoke).
    pub fn with_oauth_base_url(mut self, url: &str) -> Result<Self, Error> {
        self.oauth_base_url = checked_url("OAuth base URL", url)?;
        Ok(self)
    }

    /// The host of `/v1/...`.
    pub fn with_api_base_url(mut self, url: &str) -> Result<Self, Error> {
        self.api_base_url = checked_url("API base URL", url)?;
        Ok(self)
    }

    /// The authorize page (`?key=...&token=...` is appended).
    pub fn with_authorize_url(mut self, url: &str) -> Result<Self, Error> {
        self.authorize_url = checked_url("authorize URL", url)?;
        Ok(self)
    }

    /// Whole-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The day the consumer key was issued: personal keys stop working
    /// about two years later, so [`EtradeConfig::notices`] warns 30 days
    /// ahead ([`crate::key_age_notice`]).
    pub fn with_consumer_key_issued(mut self, issued: NaiveDate) -> Self {
        self.consumer_key_issued = Some(issued);
        self
    }

    /// The consumer key's issue date, when configured.
    pub fn consumer_key_issued(&self) -> Option<NaiveDate> {
        self.consumer_key_issued
    }

    /// The dated warnings for a manager of this configuration
    /// ([`token_core::ManagerConfig::notices`]): the consumer key's end of
    /// life, when its issue date is configured.
    pub fn notices(&self) -> Vec<Notice> {
        self.consumer_key_issued
            .and_then(crate::key_age_notice)
            .into_iter()
            .collect()
    }

    /// TCP/TLS connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sandbox or production.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The consumer key (not a secret: it travels in every header).
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// The consumer secret.
    pub fn consumer_secret(&self) -> &SecretString {
        &self.consumer_secret
    }

    /// The OAuth host.
    pub fn oauth_base_url(&self) -> &Url {
        &self.oauth_base_url
    }

    /// The data API host.
    pub fn api_base_url(&self) -> &Url {
        &self.api_base_url
    }

    /// The authorize page.
    pub fn authorize_url(&self) -> &Url {
        &self.authorize_url
    }

    /// Whole-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The store key for an account of this configuration:
    /// `etrade/{environment}/{label}`. Sandbox and production accounts never
    /// share a key.
    pub fn account_key(&self, label: &str) -> Result<AccountKey, Error> {
        AccountKey::new(crate::BROKER, self.environment, label)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// `{base}/{path}` (one slash between them whatever `path` starts with).
    pub(crate) fn join(base: &Url, path: &str) -> Result<Url, Error> {
        let base = base.as_str().trim_end_matches('/');
        let slash = if path.starts_with('/') { "" } else { "/" };
        Url::parse(&format!("{base}{slash}{path}"))
            .map_err(|e| Error::Config(format!("cannot build URL for {path}: {e}")))
    }
}

/// Parses `url` and enforces HTTPS, allowing plain HTTP only for loopback
/// (the workspace's one rule, [`token_core::net::require_https_unless_loopback`]).
pub fn checked_url(what: &str, url: &str) -> Result<Url, Error> {
    token_core::net::require_https_unless_loopback(what, url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn config(env: Environment) -> EtradeConfig {
        EtradeConfig::new(env, "key", "s3cr3t-consumer".to_string().into())
    }

    #[test]
    fn default_hosts_follow_the_environment() {
        let p = config(Environment::Production);
        assert_eq!(p.api_base_url().as_str(), "https://api.etrade.com/");
        assert_eq!(p.oauth_base_url().as_str(), "https://api.etrade.com/");
        assert_eq!(
            p.authorize_url().as_str(),
            "https://us.etrade.com/e/t/etws/authorize"
        );
        let s = config(Environment::Sandbox);
        assert_eq!(s.api_base_url().as_str(), "https://apisb.etrade.com/");
        assert_eq!(s.consumer_secret().expose_secret(), "s3cr3t-consumer");
    }

    #[test]
    fn oauth_host_is_configurable_separately() {
        let c = config(Environment::Sandbox)
            .with_oauth_base_url("https://apisb.etrade.com")
            .unwrap();
        assert_eq!(c.oauth_base_url().host_str(), Some("apisb.etrade.com"));
        assert_eq!(c.api_base_url().host_str(), Some("apisb.etrade.com"));
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "http://127.0.0.1:1234",
            "http://127.8.9.10",
            "http://localhost:80",
            "http://[::1]:99",
            "https://api.etrade.com",
        ] {
            assert!(checked_url("x", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.etrade.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(
                matches!(checked_url("x", bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_the_consumer_secret() {
        let dbg = format!("{:?}", config(Environment::Production));
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("REDACTED"));
    }

    #[test]
    fn sandbox_and_production_accounts_have_different_keys() {
        let s = config(Environment::Sandbox).account_key("main").unwrap();
        let p = config(Environment::Production).account_key("main").unwrap();
        assert_ne!(s, p);
        assert_eq!(s.to_string(), "etrade/sandbox/main");
        assert_eq!(p.to_string(), "etrade/production/main");
    }
}
