//! A minimal Telegram Bot API client: `sendMessage` and `getUpdates`.
//!
//! The bot token is part of every request URL, so it is held as a secret
//! and transport errors are stripped of their URL before they are reported.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::notify::NotifyError;

/// One Bot API connection (base URL + bot token).
#[derive(Clone)]
pub struct TelegramBot {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
    timeout: Duration,
}

impl std::fmt::Debug for TelegramBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramBot")
            .field("base", &self.base.as_str())
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// An incoming update (only what re-authorization needs).
#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    /// Monotonic update id; confirm by asking for `offset = id + 1`.
    pub update_id: i64,
    /// A new message, if this update is one.
    #[serde(default)]
    pub message: Option<Message>,
}

/// A chat message.
#[derive(Clone, Deserialize)]
pub struct Message {
    /// Its id in the chat.
    pub message_id: i64,
    /// Where it was sent.
    pub chat: Chat,
    /// Its text (may hold a verifier or redirect URL: a secret).
    #[serde(default)]
    pub text: Option<String>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("message_id", &self.message_id)
            .field("chat", &self.chat.id)
            .field("text", &self.text.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// A chat.
#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    /// Its id.
    pub id: i64,
}

#[derive(Deserialize)]
struct Envelope<T> {
    ok: bool,
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
}

/// The largest Bot API answer read (a full `getUpdates` page is far less).
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
struct Sent {
    message_id: i64,
}

/// Accepts `https://` anywhere and `http://` only on loopback (tests).
pub(crate) fn checked_url(raw: &str) -> Result<Url, NotifyError> {
    let url = Url::parse(raw).map_err(|e| NotifyError::Config(format!("bad URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(NotifyError::Config(
            "URL must be https:// (http:// only on loopback)".into(),
        )),
    }
}

impl TelegramBot {
    /// A client for the Bot API at `base_url` (e.g. `https://api.telegram.org`).
    /// `timeout` bounds each request (long polls get their poll time on top).
    pub fn new(
        base_url: &str,
        token: SecretString,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let base = checked_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| NotifyError::Config(e.without_url().to_string()))?;
        Ok(Self {
            http,
            base,
            token,
            timeout,
        })
    }

    fn method_url(&self, method: &str) -> Result<Url, NotifyError> {
        let path = format!(
            "{}/bot{}/{method}",
            self.base.path().trim_end_matches('/'),
            self.token.expose_secret()
        );
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<T, NotifyError> {
        let response = self
            .http
            .post(self.method_url(method)?)
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(NotifyError::transport)?;
        let status = response.status();
        let bytes = read_bounded(response, MAX_ANSWER_BYTES).await?;
        let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|_| {
            if status.is_success() {
                NotifyError::Protocol(format!("{method}: not a Bot API answer"))
            } else {
                NotifyError::Status {
                    status: status.as_u16(),
                    detail: "not a Bot API answer".into(),
                }
            }
        })?;
        match (envelope.ok, envelope.result) {
            (true, Some(result)) => Ok(result),
            _ => Err(NotifyError::Status {
                status: status.as_u16(),
                detail: envelope
                    .description
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect(),
            }),
        }
    }

    /// `sendMessage` as plain text; returns the message id.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<i64, NotifyError> {
        let body = serde_json::json!({
            "chat_id": chat_id,
            "text": text,
            "disable_web_page_preview": true,
        });
        let sent: Sent = self.call("sendMessage", body, self.timeout).await?;
        Ok(sent.message_id)
    }

    /// `getUpdates` from `offset`, waiting up to `poll` for one to arrive.
    pub async fn get_updates(
        &self,
        offset: Option<i64>,
        poll: Duration,
    ) -> Result<Vec<Update>, NotifyError> {
        let mut body = serde_json::json!({
            "timeout": poll.as_secs(),
            "allowed_updates": ["message"],
        });
        if let Some(offset) = offset {
            body["offset"] = offset.into();
        }
        self.call("getUpdates", body, self.timeout.saturating_add(poll))
            .await
    }
}

/// Reads a body of at most `limit` bytes; a longer one is refused as soon
/// as it exceeds the limit, so a broken or hostile endpoint cannot fill
/// memory.
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, NotifyError> {
    let too_large = || NotifyError::Protocol(format!("answer larger than {limit} bytes"));
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(NotifyError::transport)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_plain_http_off_loopback_and_hides_the_token() {
        let token = SecretString::from("123:SECRET".to_string());
        assert!(TelegramBot::new(
            "http://api.example.com",
            token.clone(),
            Duration::from_secs(1)
        )
        .is_err());
        let bot = TelegramBot::new("http://127.0.0.1:9/", token, Duration::from_secs(1)).unwrap();
        assert!(!format!("{bot:?}").contains("SECRET"));
        assert_eq!(
            bot.method_url("getMe").unwrap().path(),
            "/bot123:SECRET/getMe"
        );
    }
}
