//! What the adapter needs to know about your FYERS app (PROTOCOLS.md, "FYERS").

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use token_core::net::require_https_unless_loopback;
use token_core::{AccountKey, Environment, Error};

/// The loopback test, shared with the rest of the workspace.
pub(crate) use token_core::net::is_loopback;

/// The production API base.
pub const PRODUCTION_BASE_URL: &str = "https://api-t1.fyers.in/api/v3";

/// Lowercase hex SHA-256 of `"{client_id}:{secret_key}"`: the `appIdHash`
/// FYERS expects instead of the secret itself.
///
/// ```
/// use secrecy::SecretString;
/// let hash = fyers::app_id_hash("app_id", &SecretString::from("app_secret"));
/// assert_eq!(hash, "7c7120d2b5004f8de22d8dc2da0453b4d7e6211e37a4108b8371266ecff00498");
/// ```
pub fn app_id_hash(client_id: &str, secret_key: &SecretString) -> String {
    let mut hasher = Sha256::new();
    hasher.update(client_id.as_bytes());
    hasher.update(b":");
    hasher.update(secret_key.expose_secret().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the account refreshes its access token silently (`refresh` in
/// the account settings).
///
/// FYERS announced that refresh tokens would be discontinued (see
/// PROTOCOLS.md), so plan for a daily login and treat a working refresh as
/// a bonus:
///
/// - `auto` (the default): refresh with the refresh token and PIN while
///   FYERS allows it. When FYERS refuses a refresh for a reason other than
///   the PIN (e.g. `-16` "could not authenticate", refresh discontinued),
///   the account is in daily-login mode for that refresh token: one alert
///   says so and it is never sent again; the next login (a new refresh
///   token) allows refresh again.
/// - `off`: never call the refresh endpoint and keep no refresh token: a
///   person logs in every day (the access token ends at 06:00 IST). No PIN
///   is needed.
///
/// ```
/// use fyers::RefreshMode;
/// let m: RefreshMode = serde_json::from_str(r#""off""#).unwrap();
/// assert_eq!(m, RefreshMode::Off);
/// assert_eq!(RefreshMode::default(), RefreshMode::Auto);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshMode {
    /// Refresh while FYERS allows it (see the type's docs).
    #[default]
    Auto,
    /// Never refresh: daily login.
    Off,
}

/// Settings for one FYERS app and account.
///
/// Build with [`FyersConfig::new`] and adjust with the `with_*` methods;
/// [`FyersConfig::validate`] (called by the provider) checks the URLs.
///
/// FYERS has no sandbox: [`Environment::Production`] talks to
/// [`PRODUCTION_BASE_URL`]; [`Environment::Sandbox`] has no default host and
/// needs [`FyersConfig::with_base_url`] (e.g. a simulator), so a sandbox
/// account never reaches the real broker by accident.
///
/// ```
/// use secrecy::SecretString;
/// use fyers::FyersConfig;
/// use token_core::Environment;
/// let config = FyersConfig::new(
///     Environment::Production,
///     "ABCD1234-100",
///     SecretString::from("my-secret"),
///     SecretString::from("S3cr3t-pin-Zq9"),
///     "https://example.com/fyers/callback",
/// );
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("my-secret"));
/// assert_eq!(config.account_key("desk")?.to_string(), "fyers/production/desk");
/// // Plain HTTP is refused except on loopback (e.g. the simulator).
/// assert!(config.clone().with_base_url("http://api.example.com/api/v3").is_err());
/// assert!(config.with_base_url("http://127.0.0.1:8080/api/v3").is_ok());
/// # Ok::<(), token_core::Error>(())
/// ```
#[derive(Clone)]
pub struct FyersConfig {
    /// Production, or sandbox (a simulator: no default host).
    pub environment: Environment,
    /// The app id with its type suffix, e.g. `ABCD1234-100`.
    pub client_id: String,
    /// The app's secret key (only its hash travels).
    pub secret_key: SecretString,
    /// The account PIN, needed for every refresh (unused, and may be empty,
    /// with [`RefreshMode::Off`]).
    pub pin: SecretString,
    /// Whether to refresh silently ([`RefreshMode::Auto`] by default).
    pub refresh: RefreshMode,
    /// The redirect URI registered for the app; must match exactly.
    pub redirect_uri: String,
    /// API base, [`PRODUCTION_BASE_URL`] by default. HTTPS unless loopback.
    pub base_url: String,
    /// Fallback refresh-token life when a refresh token is not a JWT: it ends
    /// at 06:00 Asia/Kolkata this many calendar days after issue (15).
    pub refresh_token_days: u32,
    /// How long a login URL (its `state`) stays valid (7 days: the URL in a
    /// "re-authorization required" alert must still work when a person gets
    /// to it, e.g. after a weekend).
    pub login_ttl: chrono::Duration,
    /// Timeout for one HTTP request (30 s).
    pub request_timeout: Duration,
}

impl fmt::Debug for FyersConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FyersConfig")
            .field("environment", &self.environment)
            .field("client_id", &self.client_id)
            .field("secret_key", &"[REDACTED]")
            .field("pin", &"[REDACTED]")
            .field("refresh", &self.refresh)
            .field("redirect_uri", &self.redirect_uri)
            .field("base_url", &self.base_url)
            .field("refresh_token_days", &self.refresh_token_days)
            .field("login_ttl", &self.login_ttl)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl FyersConfig {
    /// Settings for `environment` with default lifetimes: the production
    /// base URL, or none for the sandbox (give one with
    /// [`FyersConfig::with_base_url`]).
    pub fn new(
        environment: Environment,
        client_id: impl Into<String>,
        secret_key: SecretString,
        pin: SecretString,
        redirect_uri: impl Into<String>,
    ) -> Self {
        let base_url = match environment {
            Environment::Production => PRODUCTION_BASE_URL.to_string(),
            Environment::Sandbox => String::new(),
        };
        Self {
            environment,
            client_id: client_id.into(),
            secret_key,
            pin,
            refresh: RefreshMode::Auto,
            redirect_uri: redirect_uri.into(),
            base_url,
            refresh_token_days: 15,
            login_ttl: chrono::Duration::days(7),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Points every API call at `base` (e.g. a simulator at
    /// `http://127.0.0.1:PORT/api/v3`). HTTPS, or plain HTTP on a loopback
    /// host only.
    pub fn with_base_url(mut self, base: &str) -> Result<Self, Error> {
        require_https_unless_loopback("base_url", base.trim_end_matches('/'))?;
        self.base_url = base.to_owned();
        Ok(self)
    }

    /// The store key for an account of this configuration:
    /// `fyers/{environment}/{label}`.
    pub fn account_key(&self, label: &str) -> Result<AccountKey, Error> {
        AccountKey::new(crate::BROKER, self.environment, label)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Sets whether the account refreshes silently ([`RefreshMode`]).
    pub fn with_refresh(mut self, refresh: RefreshMode) -> Self {
        self.refresh = refresh;
        self
    }

    /// Sets the fallback refresh-token life in days.
    pub fn with_refresh_token_days(mut self, days: u32) -> Self {
        self.refresh_token_days = days;
        self
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

    /// The `appIdHash` for this app.
    pub fn app_id_hash(&self) -> String {
        app_id_hash(&self.client_id, &self.secret_key)
    }

    /// Checks the settings: a client id, an absolute redirect URI, and a
    /// base URL that is HTTPS, or plain HTTP on a loopback host only.
    pub fn validate(&self) -> Result<(), Error> {
        if self.client_id.trim().is_empty() || self.client_id.contains(':') {
            return Err(Error::Config(
                "client_id must be the app id with its type suffix, e.g. ABCD1234-100".into(),
            ));
        }
        if self.refresh == RefreshMode::Auto && self.pin.expose_secret().is_empty() {
            return Err(Error::Config(
                "the PIN is empty: set `pin`, or `refresh = \"off\"` for a daily login".into(),
            ));
        }
        let redirect = Url::parse(&self.redirect_uri)
            .map_err(|e| Error::Config(format!("redirect_uri is not an absolute URL: {e}")))?;
        if !matches!(redirect.scheme(), "http" | "https") {
            return Err(Error::Config("redirect_uri must be http(s)".into()));
        }
        self.base()?;
        Ok(())
    }

    /// The parsed base URL, checked (HTTPS, or HTTP on loopback).
    pub(crate) fn base(&self) -> Result<Url, Error> {
        token_core::net::base_url("FYERS", &self.base_url)
    }

    /// `{base}/{path}`.
    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, Error> {
        token_core::net::join(&self.base()?, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> FyersConfig {
        FyersConfig::new(
            Environment::Production,
            "ABCD1234-100",
            SecretString::from("s3cret-key"),
            SecretString::from("4321"),
            "https://example.com/cb",
        )
    }

    fn config(base: &str) -> FyersConfig {
        let mut c = production();
        c.base_url = base.to_owned();
        c
    }

    #[test]
    fn app_id_hash_matches_the_protocol_vector() {
        assert_eq!(
            app_id_hash("app_id", &SecretString::from("app_secret")),
            "7c7120d2b5004f8de22d8dc2da0453b4d7e6211e37a4108b8371266ecff00498"
        );
    }

    #[test]
    fn base_url_must_be_https_unless_loopback() {
        for ok in [
            "https://api-t1.fyers.in/api/v3",
            "http://127.0.0.1:8080/api/v3",
            "http://127.5.6.7/api/v3",
            "http://localhost:1/api/v3",
            "http://[::1]:9/api/v3",
        ] {
            assert!(config(ok).validate().is_ok(), "{ok}");
        }
        for bad in [
            "http://api-t1.fyers.in/api/v3",
            "http://10.0.0.1/api/v3",
            "http://192.168.1.1/api/v3",
            "http://localhost.evil.com/api/v3",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(
                matches!(config(bad).validate(), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn with_base_url_refuses_what_validate_refuses() {
        assert!(production()
            .with_base_url("http://api-t1.fyers.in/api/v3")
            .is_err());
        let c = production()
            .with_base_url("http://127.0.0.1:9/api/v3")
            .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9/api/v3");
    }

    #[test]
    fn sandbox_has_no_default_host_and_keys_follow_the_environment() {
        let sandbox = FyersConfig::new(
            Environment::Sandbox,
            "ABCD1234-100",
            SecretString::from("s3cret-key"),
            SecretString::from("4321"),
            "https://example.com/cb",
        );
        let err = sandbox.validate().unwrap_err().to_string();
        assert!(err.contains("no sandbox"), "{err}");
        let sandbox = sandbox.with_base_url("http://127.0.0.1:9/api/v3").unwrap();
        assert!(sandbox.validate().is_ok());
        assert_eq!(
            sandbox.account_key("desk").unwrap().to_string(),
            "fyers/sandbox/desk"
        );
        assert_eq!(
            production().account_key("desk").unwrap().to_string(),
            "fyers/production/desk"
        );
    }

    #[test]
    fn debug_hides_secret_and_pin() {
        let dbg = format!("{:?}", config(PRODUCTION_BASE_URL));
        assert!(!dbg.contains("s3cret-key"), "{dbg}");
        assert!(!dbg.contains("4321"), "{dbg}");
        assert!(dbg.contains("ABCD1234-100"));
    }

    #[test]
    fn endpoints_join_under_the_base() {
        let c = config("http://127.0.0.1:9/api/v3/");
        assert_eq!(
            c.endpoint("validate-authcode").unwrap().as_str(),
            "http://127.0.0.1:9/api/v3/validate-authcode"
        );
    }

    #[test]
    fn rejects_bad_client_id_and_redirect() {
        let mut c = config(PRODUCTION_BASE_URL);
        c.client_id = " ".into();
        assert!(matches!(c.validate(), Err(Error::Config(_))));
        let mut c = config(PRODUCTION_BASE_URL);
        c.redirect_uri = "/relative".into();
        assert!(matches!(c.validate(), Err(Error::Config(_))));
    }
}
