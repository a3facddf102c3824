//! Alerts as JSON POSTs signed with HMAC-SHA256.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use url::Url;

use super::{Alert, Notifier, NotifyError};

/// The header carrying `sha256=<lowercase hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-signature-256";

/// `sha256=<hex>` for `body` under `secret`: what a receiver recomputes and
/// compares (in constant time) with the [`SIGNATURE_HEADER`] value.
///
/// ```
/// let sig = control::notify::sign(&"key".to_string().into(), b"The quick brown fox jumps over the lazy dog");
/// assert_eq!(sig, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
/// ```
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// POSTs each alert as JSON (`{"source":"broker-tokens","account":...,
/// "kind":...,"at":...,"message":...,"url":...,"deadline":...[,"answer":...]}`) with an
/// HMAC-SHA256 signature of the exact body in [`SIGNATURE_HEADER`].
pub struct WebhookNotifier {
    http: reqwest::Client,
    url: Url,
    secret: SecretString,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("url", &redacted(&self.url))
            .finish_non_exhaustive()
    }
}

/// `scheme://host[:port]/…`: webhook URLs often carry a secret in their
/// path or query (Slack, Discord, `?token=`), so only the origin is shown.
pub(crate) fn redacted(url: &Url) -> String {
    let mut out = url.origin().ascii_serialization();
    if url.path() != "/" || url.query().is_some() {
        out.push_str("/…");
    }
    out
}

impl WebhookNotifier {
    /// Alerts go to `url` (http or https), signed with `secret`.
    pub fn new(url: &str, secret: SecretString, timeout: Duration) -> Result<Self, NotifyError> {
        let url =
            Url::parse(url).map_err(|e| NotifyError::Config(format!("bad webhook URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NotifyError::Config("webhook URL must be http(s)".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| NotifyError::Config(e.without_url().to_string()))?;
        Ok(Self { http, url, secret })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let mut value =
            serde_json::to_value(alert).map_err(|e| NotifyError::Protocol(e.to_string()))?;
        value["source"] = "broker-tokens".into();
        let body = serde_json::to_vec(&value).map_err(|e| NotifyError::Protocol(e.to_string()))?;
        let response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&self.secret, &body))
            .body(body)
            .send()
            .await
            .map_err(NotifyError::transport)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(NotifyError::Status {
                status: status.as_u16(),
                detail: status.canonical_reason().unwrap_or("error").into(),
            })
        }
    }
}
