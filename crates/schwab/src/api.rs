//! The Schwab HTTP calls: the token endpoint (Basic auth + form body) and
//! the accountNumbers probe (bearer). Failures go through
//! [`crate::problem::classify`]; success bodies are read only for the
//! fields we need (the probe's body, account numbers, is dropped unread).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::Duration as ChronoDuration;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use token_core::net::is_loopback;
use token_core::{Clock, Error};

use crate::config::SchwabConfig;
use crate::expiry::ACCESS_TOKEN_LIFETIME;
use crate::payload::bearer_header;
use crate::problem::{classify, Call};

/// The token endpoint's path.
pub(crate) const TOKEN_PATH: &str = "/v1/oauth/token";
/// The authorize page's path.
pub(crate) const AUTHORIZE_PATH: &str = "/v1/oauth/authorize";
/// The probe's path.
pub(crate) const PROBE_PATH: &str = "/trader/v1/accounts/accountNumbers";

/// A token answer: the two tokens and the access token's life. The
/// `id_token` is not read.
pub(crate) struct Tokens {
    pub(crate) access_token: SecretString,
    pub(crate) refresh_token: SecretString,
    pub(crate) expires_in: ChronoDuration,
}

/// A thin Schwab client: one reqwest client, the config, no token state.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: Client,
    config: SchwabConfig,
    clock: Arc<dyn Clock>,
}

impl Api {
    pub(crate) fn new(config: SchwabConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        config.validate()?;
        let base = config.base()?;
        let mut builder = Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("broker-tokens-schwab/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&base) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            config,
            clock,
        })
    }

    pub(crate) fn config(&self) -> &SchwabConfig {
        &self.config
    }

    fn basic(&self) -> Result<HeaderValue, Error> {
        let raw = format!(
            "{}:{}",
            self.config.app_key,
            self.config.app_secret.expose_secret()
        );
        let mut v = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)))
            .map_err(|_| Error::Config("app_key is not a valid header value".into()))?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// `POST /v1/oauth/token` with `form`.
    pub(crate) async fn token(&self, call: Call, form: &[(&str, &str)]) -> Result<Tokens, Error> {
        let url = self.config.endpoint(TOKEN_PATH)?;
        let req = self
            .http
            .post(url)
            .header(AUTHORIZATION, self.basic()?)
            .form(form);
        let bytes = self.send(call, req).await?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| Error::Protocol(format!("{}: the 200 answer is not JSON", call.name())))?;
        let field = |name: &str| match v.get(name).and_then(Value::as_str).map(str::trim) {
            Some(s) if !s.is_empty() => Ok(SecretString::from(s.to_string())),
            _ => Err(Error::Protocol(format!(
                "{}: success answer without {name}",
                call.name()
            ))),
        };
        let expires_in = match v.get("expires_in").and_then(Value::as_i64) {
            Some(s) if s > 0 => ChronoDuration::seconds(s),
            Some(_) => {
                return Err(Error::Protocol(format!(
                    "{}: expires_in is not positive",
                    call.name()
                )))
            }
            None => ACCESS_TOKEN_LIFETIME,
        };
        Ok(Tokens {
            access_token: field("access_token")?,
            refresh_token: field("refresh_token")?,
            expires_in,
        })
    }

    /// `GET /trader/v1/accounts/accountNumbers` with the bearer token; the
    /// body (account numbers) is dropped.
    pub(crate) async fn probe(&self, access_token: &SecretString) -> Result<(), Error> {
        let url = self.config.endpoint(PROBE_PATH)?;
        let req = self
            .http
            .get(url)
            .header(AUTHORIZATION, bearer_header(access_token)?);
        self.send(Call::Probe, req).await.map(drop)
    }

    async fn send(&self, call: Call, req: reqwest::RequestBuilder) -> Result<Vec<u8>, Error> {
        let resp = req.send().await.map_err(|e| transport_error(call, &e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| token_core::retry_after::retry_after(Some(v), None, self.clock.now()));
        let bytes = resp.bytes().await.map_err(|e| transport_error(call, &e))?;
        if (200..300).contains(&status) && !bytes.trim_ascii_start().starts_with(b"<") {
            return Ok(bytes.to_vec());
        }
        Err(classify(call, status, &bytes, retry_after).into())
    }
}

fn transport_error(call: Call, e: &reqwest::Error) -> Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "network error"
    };
    Error::transient(format!("{}: {what}", call.name()))
}
