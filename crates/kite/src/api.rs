//! The Kite HTTP calls: one reqwest client with `X-Kite-Version: 3`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Client;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use token_core::net::is_loopback;
use token_core::{Clock, Error};

use crate::config::KiteConfig;
use crate::errors::{classify, Call};

/// `token api_key:access_token`.
pub(crate) fn auth_value(api_key: &str, access_token: &SecretString) -> SecretString {
    SecretString::from(format!("token {api_key}:{}", access_token.expose_secret()))
}

/// The `Authorization` header value, marked sensitive.
pub(crate) fn auth_header(
    api_key: &str,
    access_token: &SecretString,
) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(auth_value(api_key, access_token).expose_secret())
        .map_err(|_| Error::Protocol("access token is not a valid header value".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// A thin Kite client: the config, no token state.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: Client,
    config: KiteConfig,
    clock: Arc<dyn Clock>,
}

impl Api {
    pub(crate) fn new(config: KiteConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        config.validate()?;
        let base = config.base()?;
        let mut headers = HeaderMap::new();
        headers.insert(crate::KITE_VERSION_HEADER, HeaderValue::from_static("3"));
        let mut builder = Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("broker-tokens-kite/", env!("CARGO_PKG_VERSION")));
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

    pub(crate) fn config(&self) -> &KiteConfig {
        &self.config
    }

    /// `POST /session/token` (form), no Authorization.
    pub(crate) async fn session(
        &self,
        request_token: &SecretString,
        checksum: &str,
    ) -> Result<Value, Error> {
        let url = self.config.endpoint(Call::Session.path())?;
        let form = [
            ("api_key", self.config.api_key.as_str()),
            ("request_token", request_token.expose_secret()),
            ("checksum", checksum),
        ];
        let req = self.http.post(url).form(&form);
        self.send(Call::Session, req, &[request_token]).await
    }

    /// An authenticated call: the profile probe or the logout.
    pub(crate) async fn authed(
        &self,
        call: Call,
        access_token: &SecretString,
    ) -> Result<Value, Error> {
        let mut url = self.config.endpoint(call.path())?;
        let auth = auth_header(&self.config.api_key, access_token)?;
        let req = match call {
            Call::Logout => {
                url.query_pairs_mut()
                    .append_pair("api_key", &self.config.api_key)
                    .append_pair("access_token", access_token.expose_secret());
                self.http.delete(url)
            }
            _ => self.http.get(url),
        };
        self.send(call, req.header(AUTHORIZATION, auth), &[access_token])
            .await
    }

    async fn send(
        &self,
        call: Call,
        req: reqwest::RequestBuilder,
        sent: &[&SecretString],
    ) -> Result<Value, Error> {
        // reqwest errors can quote the URL (the logout URL holds the token):
        // the message stays in our own words.
        let resp = req
            .send()
            .await
            .map_err(|e| Error::transient(format!("{}: {}", call.path(), short_reqwest(&e))))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| {
            Error::transient(format!(
                "{}: connection failed while reading the response ({})",
                call.path(),
                short_reqwest(&e)
            ))
        })?;
        classify(call, status, &headers, &bytes, sent, self.clock.now())
    }
}

fn short_reqwest(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "body interrupted"
    } else {
        "network error"
    }
}
