//! What the adapter needs to know about your Schwab app (PROTOCOLS.md,
//! "Charles Schwab Trader API").

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use token_core::net::require_https_unless_loopback;
use token_core::{AccountKey, Environment, Error};

/// The production API host (OAuth and Trader API share it).
pub const PRODUCTION_BASE_URL: &str = "https://api.schwabapi.com";

/// Settings for one Schwab app and account.
///
/// Schwab has no sandbox: [`Environment::Production`] talks to
/// [`PRODUCTION_BASE_URL`]; [`Environment::Sandbox`] has no default host and
/// needs [`SchwabConfig::with_base_url`] (e.g. a simulator), so a sandbox
/// account never reaches the real broker by accident.
///
/// ```
/// use secrecy::SecretString;
/// use schwab::SchwabConfig;
/// use token_core::Environment;
/// let config = SchwabConfig::new(
///     Environment::Production,
///     "AppKey-Zq9vKx",
///     SecretString::from("S3cr3t-Zq9vKx-doc"),
///     "https://127.0.0.1:8182/cb",
/// );
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("S3cr3t-Zq9vKx-doc"));
/// assert_eq!(config.account_key("desk")?.to_string(), "schwab/production/desk");
/// assert!(config.clone().with_base_url("http://api.example.com").is_err());
/// assert!(config.with_base_url("http://127.0.0.1:8080").is_ok());
/// # Ok::<(), token_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SchwabConfig {
    /// Production, or sandbox (a simulator: no default host).
    pub environment: Environment,
    /// The app key (`client_id`).
    pub app_key: String,
    /// The app secret (sent only in the token call's Basic auth).
    pub app_secret: SecretString,
    /// The callback URL registered for the app: https, host `127.0.0.1`
    /// allowed, `localhost` refused; it must match the registration exactly
    /// (case, trailing slash).
    pub callback_url: String,
    /// API base, [`PRODUCTION_BASE_URL`] by default. HTTPS unless loopback.
    pub base_url: String,
    /// How long a login URL (its `state`) stays valid (7 days, so the URL
    /// in a "re-authorization required" alert still works when read late).
    pub login_ttl: chrono::Duration,
    /// Timeout for one HTTP request (30 s).
    pub request_timeout: Duration,
}

impl fmt::Debug for SchwabConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchwabConfig")
            .field("environment", &self.environment)
            .field("app_key", &self.app_key)
            .field("app_secret", &"[REDACTED]")
            .field("callback_url", &self.callback_url)
            .field("base_url", &self.base_url)
            .field("login_ttl", &self.login_ttl)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl SchwabConfig {
    /// Settings for `environment`: the production base URL, or none for the
    /// sandbox (give one with [`SchwabConfig::with_base_url`]).
    pub fn new(
        environment: Environment,
        app_key: impl Into<String>,
        app_secret: SecretString,
        callback_url: impl Into<String>,
    ) -> Self {
        let base_url = match environment {
            Environment::Production => PRODUCTION_BASE_URL.to_string(),
            Environment::Sandbox => String::new(),
        };
        Self {
            environment,
            app_key: app_key.into(),
            app_secret,
            callback_url: callback_url.into(),
            base_url,
            login_ttl: chrono::Duration::days(7),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Points every call at `base` (e.g. a simulator at
    /// `http://127.0.0.1:PORT`). HTTPS, or plain HTTP on a loopback host.
    pub fn with_base_url(mut self, base: &str) -> Result<Self, Error> {
        require_https_unless_loopback("base_url", base.trim_end_matches('/'))?;
        self.base_url = base.trim_end_matches('/').to_owned();
        Ok(self)
    }

    /// The store key for an account of this configuration:
    /// `schwab/{environment}/{label}`.
    pub fn account_key(&self, label: &str) -> Result<AccountKey, Error> {
        AccountKey::new(crate::BROKER, self.environment, label)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long a login URL stays valid.
    pub fn with_login_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.login_ttl = ttl;
        self
    }

    /// Checks the settings: an app key, an https callback (not
    /// `localhost`), and a usable base URL.
    pub fn validate(&self) -> Result<(), Error> {
        if self.app_key.trim().is_empty() || self.app_key.contains(':') {
            return Err(Error::Config(
                "app_key must be the Schwab app key (client_id) from the developer portal".into(),
            ));
        }
        let cb = Url::parse(&self.callback_url)
            .map_err(|e| Error::Config(format!("callback_url is not an absolute URL: {e}")))?;
        if cb.scheme() != "https" {
            return Err(Error::Config(
                "callback_url must use https (Schwab refuses http callbacks, even on 127.0.0.1)"
                    .into(),
            ));
        }
        if cb
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"))
        {
            return Err(Error::Config(
                "callback_url: Schwab refuses `localhost`; register and use https://127.0.0.1"
                    .into(),
            ));
        }
        self.base()?;
        Ok(())
    }

    /// The parsed base URL, checked (HTTPS, or HTTP on loopback).
    pub(crate) fn base(&self) -> Result<Url, Error> {
        token_core::net::base_url("Schwab", &self.base_url)
    }

    /// `{base}/{path}`.
    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, Error> {
        token_core::net::join(&self.base()?, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SchwabConfig {
        SchwabConfig::new(
            Environment::Production,
            "AppKey-Zq9vKx",
            SecretString::from("S3cr3t-Zq9vKx-cfg"),
            "https://127.0.0.1:8182/cb",
        )
    }

    #[test]
    fn callback_must_be_https_and_not_localhost() {
        let mut c = config();
        assert!(c.validate().is_ok());
        c.callback_url = "http://127.0.0.1:8182/cb".into();
        assert!(c.validate().unwrap_err().to_string().contains("https"));
        c.callback_url = "https://localhost:8182/cb".into();
        assert!(c.validate().unwrap_err().to_string().contains("localhost"));
        c.callback_url = "/cb".into();
        assert!(matches!(c.validate(), Err(Error::Config(_))));
    }

    #[test]
    fn base_url_is_https_unless_loopback_and_sandbox_needs_one() {
        assert!(config().with_base_url("http://api.schwabapi.com").is_err());
        let c = config().with_base_url("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            c.endpoint("/v1/oauth/token").unwrap().as_str(),
            "http://127.0.0.1:9/v1/oauth/token"
        );
        let sandbox = SchwabConfig::new(
            Environment::Sandbox,
            "AppKey-Zq9vKx",
            SecretString::from("S3cr3t-Zq9vKx-cfg"),
            "https://127.0.0.1:8182/cb",
        );
        assert!(sandbox
            .validate()
            .unwrap_err()
            .to_string()
            .contains("no sandbox"));
        assert_eq!(
            sandbox.account_key("desk").unwrap().to_string(),
            "schwab/sandbox/desk"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let dbg = format!("{:?}", config());
        assert!(!dbg.contains("S3cr3t-Zq9vKx-cfg"), "{dbg}");
        assert!(dbg.contains("AppKey-Zq9vKx"));
    }
}
