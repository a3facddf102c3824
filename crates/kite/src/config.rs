//! What the adapter needs to know about your Kite Connect app
//! (PROTOCOLS.md, "Zerodha Kite Connect v3").

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use url::Url;

use token_core::net::require_https_unless_loopback;
use token_core::{AccountKey, Environment, Error};

/// The production API base.
pub const PRODUCTION_BASE_URL: &str = "https://api.kite.trade";

/// The production login page.
pub const PRODUCTION_LOGIN_URL: &str = "https://kite.zerodha.com/connect/login";

/// The session-exchange checksum: lowercase hex SHA-256 of
/// `api_key + request_token + api_secret` (no separators). Sending the raw
/// digest bytes, or the api_key in the secret's place, are the usual mistakes.
///
/// ```
/// use secrecy::SecretString;
/// let c = kite::checksum("abc", &SecretString::from("xyz"), &SecretString::from("secret"));
/// assert_eq!(c, "5dbb6a325def5c484212585e6848e1ae87b5228c89805ba7b33789bd88442ea8");
/// ```
pub fn checksum(api_key: &str, request_token: &SecretString, api_secret: &SecretString) -> String {
    let mut hasher = Sha256::new();
    hasher.update(api_key.as_bytes());
    hasher.update(request_token.expose_secret().as_bytes());
    hasher.update(api_secret.expose_secret().as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Settings for one Kite Connect app and account.
///
/// [`Environment::Production`] talks to [`PRODUCTION_BASE_URL`] and logs in
/// at [`PRODUCTION_LOGIN_URL`]. Kite has no sandbox: [`Environment::Sandbox`]
/// has no default host and needs [`KiteConfig::with_base_url`] (e.g. a
/// simulator, whose login page is then `{base}/connect/login`).
///
/// ```
/// use secrecy::SecretString;
/// use kite::KiteConfig;
/// use token_core::Environment;
/// let config = KiteConfig::new(
///     Environment::Production,
///     "kiteapikey123",
///     SecretString::from("my-api-secret"),
///     "https://example.com/kite/callback",
/// );
/// assert!(config.validate().is_ok());
/// assert!(!format!("{config:?}").contains("my-api-secret"));
/// assert_eq!(config.account_key("desk")?.to_string(), "kite/production/desk");
/// assert!(config.clone().with_base_url("http://api.example.com").is_err());
/// assert!(config.with_base_url("http://127.0.0.1:8080").is_ok());
/// # Ok::<(), token_core::Error>(())
/// ```
#[derive(Clone)]
pub struct KiteConfig {
    /// Production, or sandbox (a simulator: no default host).
    pub environment: Environment,
    /// The app's api_key (public; it appears in the login URL).
    pub api_key: String,
    /// The app's api_secret (only the checksum built with it travels).
    pub api_secret: SecretString,
    /// The redirect URL registered for the app.
    pub redirect_url: String,
    /// API base, [`PRODUCTION_BASE_URL`] by default. HTTPS unless loopback.
    pub base_url: String,
    /// Login page, [`PRODUCTION_LOGIN_URL`] by default, or
    /// `{base_url}/connect/login` after [`KiteConfig::with_base_url`].
    pub login_url: String,
    /// How long a login URL offered to a person stays on offer (7 days: a
    /// Kite login URL carries no state, so it keeps working; the limit only
    /// stops a stale pending login from lingering).
    pub login_ttl: chrono::Duration,
    /// Timeout for one HTTP request (30 s).
    pub request_timeout: Duration,
}

impl fmt::Debug for KiteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KiteConfig")
            .field("environment", &self.environment)
            .field("api_key", &self.api_key)
            .field("api_secret", &"[REDACTED]")
            .field("redirect_url", &self.redirect_url)
            .field("base_url", &self.base_url)
            .field("login_url", &self.login_url)
            .field("login_ttl", &self.login_ttl)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl KiteConfig {
    /// Settings for `environment`: the production URLs, or none for the
    /// sandbox (give one with [`KiteConfig::with_base_url`]).
    pub fn new(
        environment: Environment,
        api_key: impl Into<String>,
        api_secret: SecretString,
        redirect_url: impl Into<String>,
    ) -> Self {
        let (base_url, login_url) = match environment {
            Environment::Production => (PRODUCTION_BASE_URL.into(), PRODUCTION_LOGIN_URL.into()),
            Environment::Sandbox => (String::new(), String::new()),
        };
        Self {
            environment,
            api_key: api_key.into(),
            api_secret,
            redirect_url: redirect_url.into(),
            base_url,
            login_url,
            login_ttl: chrono::Duration::days(7),
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Points the API at `base` (e.g. `http://127.0.0.1:PORT`) and the login
    /// page at `{base}/connect/login`. HTTPS, or plain HTTP on loopback only.
    pub fn with_base_url(mut self, base: &str) -> Result<Self, Error> {
        let base = check_url("base_url", base)?;
        self.login_url = format!("{base}/connect/login");
        self.base_url = base;
        Ok(self)
    }

    /// Points the login page elsewhere (after [`KiteConfig::with_base_url`]).
    pub fn with_login_url(mut self, login: &str) -> Result<Self, Error> {
        self.login_url = check_url("login_url", login)?;
        Ok(self)
    }

    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The store key for an account of this configuration:
    /// `kite/{environment}/{label}`.
    pub fn account_key(&self, label: &str) -> Result<AccountKey, Error> {
        AccountKey::new(crate::BROKER, self.environment, label)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// Checks the settings: an api_key, a non-empty secret, an absolute
    /// http(s) redirect URL, and HTTPS (or loopback HTTP) API and login URLs.
    pub fn validate(&self) -> Result<(), Error> {
        let key = self.api_key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(Error::Config(
                "api_key must be the Kite Connect app's api_key (letters and digits)".into(),
            ));
        }
        if self.api_secret.expose_secret().trim().is_empty() {
            return Err(Error::Config("api_secret is empty".into()));
        }
        let redirect = Url::parse(&self.redirect_url)
            .map_err(|e| Error::Config(format!("redirect_url is not an absolute URL: {e}")))?;
        if !matches!(redirect.scheme(), "http" | "https") {
            return Err(Error::Config("redirect_url must be http(s)".into()));
        }
        self.base()?;
        self.login()?;
        Ok(())
    }

    /// The parsed API base, checked.
    pub(crate) fn base(&self) -> Result<Url, Error> {
        if self.base_url.is_empty() {
            return Err(Error::Config(
                "Kite has no sandbox environment: give a base_url (e.g. a simulator's)".into(),
            ));
        }
        check_url("base_url", &self.base_url).and_then(|u| parse("base_url", &u))
    }

    fn login(&self) -> Result<Url, Error> {
        if self.login_url.is_empty() {
            return Err(Error::Config(
                "Kite has no sandbox environment: give a base_url (e.g. a simulator's)".into(),
            ));
        }
        parse("login_url", &self.login_url)
    }

    /// `{base}/{path}` (the base's own path prefix is kept).
    pub(crate) fn endpoint(&self, path: &str) -> Result<Url, Error> {
        token_core::net::join(&self.base()?, path)
    }

    /// The login URL: `{login_url}?v=3&api_key={api_key}`.
    pub fn login_page(&self) -> Result<String, Error> {
        let mut url = self.login()?;
        url.query_pairs_mut()
            .append_pair("v", "3")
            .append_pair("api_key", &self.api_key);
        Ok(url.to_string())
    }
}

/// The one URL rule (HTTPS unless loopback), returning the URL without a
/// trailing slash.
fn check_url(what: &str, url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    require_https_unless_loopback(what, trimmed)?;
    Ok(trimmed.to_owned())
}

fn parse(what: &str, url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|e| Error::Config(format!("{what} is not an absolute URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> KiteConfig {
        KiteConfig::new(
            Environment::Production,
            "kiteapikey123",
            SecretString::from("S3cr3t-Zq9vKx-kite-cfg"),
            "https://example.com/cb",
        )
    }

    #[test]
    fn checksum_matches_the_protocol_vectors() {
        let secret = SecretString::from("secret");
        assert_eq!(
            checksum("abc", &SecretString::from("xyz"), &secret),
            "5dbb6a325def5c484212585e6848e1ae87b5228c89805ba7b33789bd88442ea8"
        );
        assert_eq!(
            checksum("abc", &SecretString::from("rt"), &secret),
            "ca2f2138d313521d4eec6ca7a12b1bf2821b8fa8aace130df0f77c29014e9418"
        );
    }

    #[test]
    fn base_url_must_be_https_unless_loopback() {
        for ok in [
            "https://api.kite.trade",
            "http://127.0.0.1:9",
            "http://localhost:1/",
        ] {
            assert!(production().with_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.kite.trade",
            "http://10.0.0.1",
            "ftp://127.0.0.1/",
            "nope",
        ] {
            assert!(
                matches!(production().with_base_url(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
        assert!(production()
            .with_login_url("http://kite.zerodha.com/x")
            .is_err());
    }

    #[test]
    fn with_base_url_moves_the_login_page_and_sandbox_needs_one() {
        let c = production().with_base_url("http://127.0.0.1:9/").unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(
            c.login_page().unwrap(),
            "http://127.0.0.1:9/connect/login?v=3&api_key=kiteapikey123"
        );
        assert_eq!(
            c.endpoint("session/token").unwrap().as_str(),
            "http://127.0.0.1:9/session/token"
        );
        let sandbox = KiteConfig::new(
            Environment::Sandbox,
            "kiteapikey123",
            SecretString::from("S3cr3t-Zq9vKx-kite-cfg"),
            "https://example.com/cb",
        );
        let err = sandbox.validate().unwrap_err().to_string();
        assert!(err.contains("no sandbox"), "{err}");
        let sandbox = sandbox.with_base_url("http://127.0.0.1:9").unwrap();
        assert!(sandbox.validate().is_ok());
        assert_eq!(
            sandbox.account_key("desk").unwrap().to_string(),
            "kite/sandbox/desk"
        );
        assert_eq!(
            production().login_page().unwrap(),
            "https://kite.zerodha.com/connect/login?v=3&api_key=kiteapikey123"
        );
    }

    #[test]
    fn debug_hides_the_secret_and_bad_settings_are_config_errors() {
        let dbg = format!("{:?}", production());
        assert!(!dbg.contains("S3cr3t-Zq9vKx-kite-cfg"), "{dbg}");
        assert!(dbg.contains("kiteapikey123"));
        let mut c = production();
        c.api_key = "key:with:colons".into();
        assert!(matches!(c.validate(), Err(Error::Config(_))));
        let mut c = production();
        c.redirect_url = "/relative".into();
        assert!(matches!(c.validate(), Err(Error::Config(_))));
        let mut c = production();
        c.api_secret = SecretString::from(" ");
        assert!(matches!(c.validate(), Err(Error::Config(_))));
    }
}
