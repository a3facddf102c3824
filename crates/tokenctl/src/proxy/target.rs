//! One account as the proxy sees it: its manager and its bundle's
//! [`RequestAuth`], with the renew-once rule of [`call_renewing_once`].

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use secrecy::ExposeSecret;
use token_core::bundle::{ApiRequest, RequestAuth};
use token_core::retry::{call_renewing_once, Attempt};
use token_core::{Payload, TokenManager};
use url::Url;

/// Largest 4xx body read to tell whether it says "inactive" (and then
/// passed on whole); a larger one is answered with 502.
pub const INSPECT_LIMIT: usize = 256 * 1024;

/// A request to forward: the bot's, minus hop-by-hop headers and its
/// bearer token, with the broker URL.
#[derive(Debug)]
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// The broker URL, query included.
    pub url: Url,
    /// The headers to pass on (no `Authorization`, `Host`, hop-by-hop).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// What the broker answered.
#[derive(Debug)]
pub enum Answer {
    /// Streamed through unread (a 1xx/2xx/3xx/5xx answer).
    Stream(reqwest::Response),
    /// A 4xx answer, read to look for an inactive token.
    Read {
        /// Its status.
        status: StatusCode,
        /// Its headers.
        headers: HeaderMap,
        /// Its body.
        body: Bytes,
    },
}

/// Why a request could not be forwarded. Never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The manager has no usable token, or renewing failed.
    #[error(transparent)]
    Token(#[from] token_core::Error),
    /// The broker could not be reached or its answer read.
    #[error("the broker could not be reached: {0}")]
    Upstream(String),
}

/// An account the proxy forwards for, whatever its broker.
#[async_trait]
pub trait ProxyTarget: Send + Sync {
    /// The broker API base URL.
    fn api_base(&self) -> &Url;
    /// Authenticates and sends `req` with the account's token (counted as
    /// use); on an inactive-token answer renews once, and sends it again
    /// only if it is a GET or HEAD: any other method gets the broker's
    /// answer as it was (after the renewal, so the next request works).
    async fn forward(&self, http: &reqwest::Client, req: &Outgoing)
        -> Result<Answer, ForwardError>;
}

/// [`ProxyTarget`] over a manager and its bundle's request authentication.
pub struct Target<P: Payload> {
    manager: TokenManager<P>,
    auth: Arc<dyn RequestAuth<P>>,
}

impl<P: Payload> Target<P> {
    /// The account of `manager`, authenticated by `auth`.
    pub fn new(manager: TokenManager<P>, auth: Arc<dyn RequestAuth<P>>) -> Self {
        Self { manager, auth }
    }
}

fn short(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "network error"
    }
}

/// Reads at most `limit` bytes of `resp`'s body; `None` if longer.
async fn read_bounded(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(body)))
}

#[async_trait]
impl<P: Payload> ProxyTarget for Target<P> {
    fn api_base(&self) -> &Url {
        self.auth.api_base()
    }

    async fn forward(
        &self,
        http: &reqwest::Client,
        req: &Outgoing,
    ) -> Result<Answer, ForwardError> {
        let safe = req.method == Method::GET || req.method == Method::HEAD;
        let content_type = req
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let key = self.manager.key();
        call_renewing_once(&self.manager, |creds| async move {
            let api = ApiRequest {
                method: req.method.as_str(),
                url: &req.url,
                content_type,
                body: &req.body,
            };
            let added = match self.auth.authorize(&creds.payload, &api) {
                Ok(h) => h,
                Err(e) => return Attempt::Done(Err(ForwardError::Token(e))),
            };
            let mut headers = req.headers.clone();
            for h in added {
                let Ok(mut value) = HeaderValue::from_str(h.value.expose_secret()) else {
                    let e = token_core::Error::Protocol(format!(
                        "the {} header is not a valid header value",
                        h.name
                    ));
                    return Attempt::Done(Err(ForwardError::Token(e)));
                };
                value.set_sensitive(true);
                headers.insert(h.name, value);
            }
            let sent = http
                .request(req.method.clone(), req.url.clone())
                .headers(headers)
                .body(req.body.clone())
                .send()
                .await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => return Attempt::Done(Err(ForwardError::Upstream(short(&e).into()))),
            };
            let status = resp.status();
            if !status.is_client_error() {
                return Attempt::Done(Ok(Answer::Stream(resp)));
            }
            let headers = resp.headers().clone();
            let body = match read_bounded(resp, INSPECT_LIMIT).await {
                Ok(Some(b)) => b,
                Ok(None) => {
                    return Attempt::Done(Err(ForwardError::Upstream(format!(
                        "a {status} answer longer than {INSPECT_LIMIT} bytes"
                    ))))
                }
                Err(e) => return Attempt::Done(Err(ForwardError::Upstream(short(&e).into()))),
            };
            if let Some(reason) = self.auth.inactive(&creds, status.as_u16(), &body) {
                if safe {
                    return Attempt::Inactive(reason);
                }
                tracing::warn!(account = %key, method = %req.method, %reason,
                    "the broker says the token is inactive; renewing so the next request works, but not retrying a request that is not a GET or HEAD");
                // Shared with every caller that hit the same answer; none if
                // the token was already replaced.
                if let Err(e) = self.manager.renew_if_current(&creds).await {
                    tracing::warn!(account = %key, error = %e, "renewing after an inactive-token answer failed");
                }
            }
            Attempt::Done(Ok(Answer::Read {
                status,
                headers,
                body,
            }))
        })
        .await
    }
}
