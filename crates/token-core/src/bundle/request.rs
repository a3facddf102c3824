//! How a broker's API requests carry a token: what a local signing proxy
//! (`tokenctl run --proxy`) asks of a bundle through
//! [`Broker::request_auth`](super::Broker::request_auth).

use secrecy::SecretString;
use url::Url;

use crate::error::Error;
use crate::record::{Payload, Record};

/// A request about to be sent to the broker's API for a bot: the method,
/// the full URL (query included) and the body, as the bot sent them.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// The HTTP method, upper case (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The broker URL, query included.
    pub url: &'a Url,
    /// The `Content-Type` the bot sent, if any.
    pub content_type: Option<&'a str>,
    /// The body, as sent (empty for none).
    pub body: &'a [u8],
}

impl ApiRequest<'_> {
    /// The body when it is an `application/x-www-form-urlencoded` form in
    /// UTF-8 (OAuth 1.0a signs its parameters); `None` otherwise.
    ///
    /// ```
    /// let url = url::Url::parse("https://api.example.com/v1/x").unwrap();
    /// let req = token_core::bundle::ApiRequest {
    ///     method: "POST",
    ///     url: &url,
    ///     content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
    ///     body: b"a=1&b=2",
    /// };
    /// assert_eq!(req.form_body(), Some("a=1&b=2"));
    /// ```
    pub fn form_body(&self) -> Option<&str> {
        let form = self.content_type.is_some_and(|c| {
            c.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
        if form && !self.body.is_empty() {
            std::str::from_utf8(self.body).ok()
        } else {
            None
        }
    }
}

/// One header the broker's authentication adds; the value is secret (it
/// carries the token), so it is never shown in `Debug`.
pub struct AuthHeader {
    /// The header name, e.g. `Authorization`.
    pub name: &'static str,
    /// Its value.
    pub value: SecretString,
}

impl std::fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthHeader({}: [REDACTED])", self.name)
    }
}

/// How one account's API requests are authenticated with its token, and
/// what the broker's answers say about the token. Built by
/// [`Broker::request_auth`](super::Broker::request_auth) from the account's
/// provider; used by a local proxy that forwards a bot's unsigned requests.
pub trait RequestAuth<P: Payload>: Send + Sync {
    /// The broker's API base URL; the proxy forwards
    /// `/{account}/{path}?{query}` to `{api_base}{path}?{query}`. Adapters
    /// check it is HTTPS unless it is a loopback address (a simulator).
    fn api_base(&self) -> &Url;

    /// The headers that authenticate `request` with `payload` (E*TRADE: an
    /// OAuth 1.0a `Authorization` over method, URL, query and form body;
    /// FYERS: `Authorization: client_id:access_token`).
    fn authorize(&self, payload: &P, request: &ApiRequest<'_>) -> Result<Vec<AuthHeader>, Error>;

    /// Whether an answer made with `record` says the token is inactive in
    /// a way a silent renewal may fix (the reason, in the broker's words,
    /// without secrets), or `None`. Asked only for 4xx answers; `body` is
    /// at most a few kilobytes.
    fn inactive(&self, record: &Record<P>, status: u16, body: &[u8]) -> Option<String> {
        let _ = (record, status, body);
        None
    }
}
