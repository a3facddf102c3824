//! The `[control]` and `[notify]` tables of the tokenctl TOML, as serde
//! structs. Secrets are named ([`SecretSource`]), never inlined.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::secret::SecretSource;

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9184);

/// The `[control]` table: the HTTP control surface.
///
/// ```
/// let c: control::ControlConfig = serde_json::from_str(r#"{"token":{"env":"CONTROL_TOKEN"}}"#).unwrap();
/// assert_eq!(c.listen, control::config::DEFAULT_LISTEN); // 127.0.0.1:9184
/// assert!(c.auth_health && c.auth_metrics);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Where to listen; `127.0.0.1:9184` unless told otherwise.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Allow a `listen` address that is not loopback (default: no). The
    /// control server speaks plain HTTP, so the bearer token crosses the
    /// network in clear text: put TLS in front (a reverse proxy) first.
    #[serde(default)]
    pub allow_remote: bool,
    /// The bearer token clients must send.
    pub token: SecretSource,
    /// Require the token on `GET /health` too (default: yes).
    #[serde(default = "yes")]
    pub auth_health: bool,
    /// Require the token on `GET /metrics` too (default: yes).
    #[serde(default = "yes")]
    pub auth_metrics: bool,
    /// Per-client limit on mutating routes.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// The address people and brokers reach this server at, e.g.
    /// `https://tokens.example.com` behind a TLS proxy: a redirect captured
    /// at `GET /callback/{broker}/{environment}/{label}` is rebuilt on it, so
    /// it matches the redirect URI registered at the broker. Without it the
    /// request's `Host` header is used, over `http`.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl ControlConfig {
    /// Relative secret files anchored at `base` (the directory of the file
    /// this table came from), as broker settings are.
    pub fn relative_to(mut self, base: &Path) -> Self {
        self.token = self.token.relative_to(base);
        self
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

fn yes() -> bool {
    true
}

/// A token bucket per client IP: `burst` requests at once, refilled at
/// `per_minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed back to back.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Sustained requests per minute.
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
}

fn default_burst() -> u32 {
    5
}
fn default_per_minute() -> u32 {
    10
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst: default_burst(),
            per_minute: default_per_minute(),
        }
    }
}

/// The `[notify]` table: where alerts go and how often.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Also log alerts through `tracing` (default: yes).
    #[serde(default = "yes")]
    pub log: bool,
    /// Alert on renewal failures once this many happened in a row.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// At most this many alerts at once, per notifier...
    #[serde(default = "default_alert_burst")]
    pub burst: u32,
    /// ...and this many per hour after that.
    #[serde(default = "default_alerts_per_hour")]
    pub per_hour: u32,
    /// How long one delivery may take before it is abandoned.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// How long an account must stay healthy before "recovered" is sent
    /// (default 120 s; 0 sends it at once). A problem that comes back
    /// within this quiet period continues the same episode: no second
    /// alert, no extra "recovered".
    #[serde(default = "default_recovery_quiet_secs")]
    pub recovery_quiet_secs: u64,
    /// Telegram Bot API.
    #[serde(default)]
    pub telegram: Option<TelegramConfig>,
    /// A JSON webhook signed with HMAC-SHA256.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// Allow a webhook URL over plain http to a host that is not loopback
    /// (default: no; alerts carry account names and login URLs).
    #[serde(default)]
    pub allow_plain_http_webhook: bool,
}

fn default_failure_threshold() -> u32 {
    3
}
fn default_alert_burst() -> u32 {
    10
}
fn default_alerts_per_hour() -> u32 {
    30
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_recovery_quiet_secs() -> u64 {
    120
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            log: true,
            failure_threshold: default_failure_threshold(),
            burst: default_alert_burst(),
            per_hour: default_alerts_per_hour(),
            timeout_secs: default_timeout_secs(),
            recovery_quiet_secs: default_recovery_quiet_secs(),
            telegram: None,
            webhook: None,
            allow_plain_http_webhook: false,
        }
    }
}

impl NotifyConfig {
    /// [`NotifyConfig::timeout_secs`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// [`NotifyConfig::recovery_quiet_secs`] as a duration.
    ///
    /// ```
    /// let n: control::NotifyConfig = serde_json::from_str("{}").unwrap();
    /// assert_eq!(n.recovery_quiet(), std::time::Duration::from_secs(120));
    /// ```
    pub fn recovery_quiet(&self) -> Duration {
        Duration::from_secs(self.recovery_quiet_secs)
    }

    /// Relative secret files anchored at `base` (the directory of the file
    /// this table came from), as broker settings are.
    pub fn relative_to(mut self, base: &Path) -> Self {
        if let Some(t) = &mut self.telegram {
            t.bot_token = t.bot_token.relative_to(base);
        }
        if let Some(w) = &mut self.webhook {
            w.secret = w.secret.relative_to(base);
        }
        self
    }

    /// Checks what serde cannot: the webhook URL is HTTPS, or plain HTTP to
    /// a loopback host, unless `allow_plain_http_webhook` says otherwise.
    /// The error names the host only (a webhook URL often embeds a secret).
    ///
    /// ```
    /// let n: control::NotifyConfig = serde_json::from_str(
    ///     r#"{"webhook":{"url":"http://hooks.example.com/x","secret":{"env":"K"}}}"#,
    /// ).unwrap();
    /// assert!(n.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = &self.webhook {
            let checked = token_core::net::require_https_unless_loopback("webhook url", &w.url);
            match checked {
                Ok(_) => {}
                Err(_) if self.allow_plain_http_webhook && w.url.starts_with("http://") => {}
                Err(e) => {
                    return Err(format!(
                        "{e}; set allow_plain_http_webhook = true in [notify] to allow it"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// The `[notify.telegram]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot token from @BotFather.
    pub bot_token: SecretSource,
    /// The only chat alerts go to and replies are accepted from.
    pub chat_id: i64,
    /// The Bot API base URL (HTTPS, or HTTP on loopback for tests).
    #[serde(default = "default_telegram_url")]
    pub base_url: String,
    /// Run phone re-authorization in this chat (default: yes).
    #[serde(default = "yes")]
    pub reauth: bool,
    /// Long-poll time for `getUpdates`, seconds.
    #[serde(default = "default_poll_secs")]
    pub poll_secs: u64,
}

/// The public Bot API.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

fn default_telegram_url() -> String {
    TELEGRAM_API.into()
}
fn default_poll_secs() -> u64 {
    25
}

/// The `[notify.webhook]` table. Its `Debug` shows only the URL's origin
/// (webhook URLs often embed a secret).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST alerts.
    pub url: String,
    /// The HMAC-SHA256 key; the signature goes in `X-Signature-256`.
    pub secret: SecretSource,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = url::Url::parse(&self.url)
            .map(|u| crate::notify::redacted_url(&u))
            .unwrap_or_else(|_| "[unparsable]".into());
        f.debug_struct("WebhookConfig")
            .field("url", &url)
            .field("secret", &self.secret)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecretSource;

    fn notify(url: &str, allow: bool) -> NotifyConfig {
        NotifyConfig {
            webhook: Some(WebhookConfig {
                url: url.into(),
                secret: SecretSource::Env("K".into()),
            }),
            allow_plain_http_webhook: allow,
            ..NotifyConfig::default()
        }
    }

    #[test]
    fn plain_http_webhooks_are_refused_unless_loopback_or_allowed() {
        assert!(notify("https://hooks.example.com/x", false)
            .validate()
            .is_ok());
        assert!(notify("http://127.0.0.1:9/x", false).validate().is_ok());
        let err = notify("http://hooks.example.com/S3cr3t-Zq9vKx", false)
            .validate()
            .unwrap_err();
        assert!(err.contains("allow_plain_http_webhook"), "{err}");
        assert!(err.contains("hooks.example.com"), "{err}");
        assert!(!err.contains("S3cr3t"), "{err}");
        assert!(notify("http://hooks.example.com/x", true)
            .validate()
            .is_ok());
        // Allowing plain http does not allow other schemes.
        assert!(notify("ftp://hooks.example.com/x", true)
            .validate()
            .is_err());
    }

    #[test]
    fn relative_secret_files_follow_the_config_file() {
        let base = Path::new("/etc/tokenctl");
        let c = ControlConfig {
            listen: DEFAULT_LISTEN,
            allow_remote: false,
            token: SecretSource::File("control.token".into()),
            auth_health: true,
            auth_metrics: true,
            rate_limit: RateLimitConfig::default(),
            public_url: None,
        }
        .relative_to(base);
        assert_eq!(c.token, SecretSource::File(base.join("control.token")));
        let mut n = notify("https://h.example.com", false);
        n.webhook = n.webhook.map(|w| WebhookConfig {
            secret: SecretSource::File("/abs/hmac".into()),
            ..w
        });
        let n = n.relative_to(base);
        assert_eq!(
            n.webhook.map(|w| w.secret),
            Some(SecretSource::File("/abs/hmac".into()))
        );
    }
}
