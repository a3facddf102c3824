//! Signs, sends and classifies one E*TRADE request: the part shared by the
//! provider (token endpoints) and the client wrapper (API calls).
//!
//! Handled here: network failures, timeouts, 5xx and 429 (transient), the
//! HTTP 400 rate-limit page, `timestamp_refused` (correct the clock offset
//! from the acceptable window and retry once, but only from a plausible
//! window: see [`Signer::plausible_window`]), `signature_invalid` and
//! `consumer_key_rejected` (typed, not retried), `nonce_used` (transient).
//! Token problems (`token_expired`, `token_rejected`) are left to the caller,
//! which knows whether the token is idle or past midnight.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::config::EtradeConfig;
use crate::error::EtradeError;
use crate::problem::{is_rate_limit_body, parse_oauth_problem, OAuthProblem};
use crate::signer::{OAuthExtras, Signer, TokenPair};

/// A response as received.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, EtradeError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| EtradeError::Protocol(format!("response is not the expected JSON: {e}")))
    }

    /// The `oauth_problem` of a 401 answer.
    pub fn oauth_problem(&self) -> Option<OAuthProblem> {
        if self.status == StatusCode::UNAUTHORIZED {
            parse_oauth_problem(&String::from_utf8_lossy(&self.body))
        } else {
            None
        }
    }

    /// True when the body is an HTML page.
    pub(crate) fn is_html(&self) -> bool {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.contains("html"))
    }
}

#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    signer: Arc<Signer>,
}

impl Transport {
    pub(crate) fn new(config: &EtradeConfig, signer: Arc<Signer>) -> Result<Self, EtradeError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.connect_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EtradeError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http, signer })
    }

    pub(crate) fn signer(&self) -> &Arc<Signer> {
        &self.signer
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Signs and sends; see the module docs for what is handled here.
    /// A 401 with a token problem comes back as a response.
    pub(crate) async fn send(
        &self,
        method: &Method,
        url: &Url,
        form_body: Option<&str>,
        token: Option<TokenPair<'_>>,
        extras: OAuthExtras<'_>,
    ) -> Result<ApiResponse, EtradeError> {
        let mut corrected = false;
        loop {
            let header =
                self.signer
                    .authorization(method.as_str(), url, form_body, token, extras)?;
            let reply = self.send_signed(method, url, form_body, header).await?;
            match reply.oauth_problem() {
                Some(OAuthProblem::TimestampRefused { acceptable }) => {
                    if let Some((from, to)) = acceptable {
                        if !self.signer.plausible_window(from, to) {
                            // Keep signing with the clock we have: a broken
                            // window is the broker's trouble, and transient.
                            tracing::warn!(
                                acceptable_from = from,
                                acceptable_to = to,
                                "E*TRADE refused our timestamp with an implausible window; not correcting the clock"
                            );
                            return Err(EtradeError::TimestampRefused);
                        }
                    }
                    if let (Some((from, to)), false) = (acceptable, corrected) {
                        let offset = self.signer.correct_clock(from, to);
                        tracing::warn!(
                            offset_secs = offset,
                            "E*TRADE refused our timestamp; corrected the clock offset and retrying"
                        );
                        corrected = true;
                        continue;
                    }
                    return Err(EtradeError::TimestampRefused);
                }
                Some(OAuthProblem::SignatureInvalid) => {
                    // For whoever maintains the signer: a request changed
                    // after signing is refused the same way.
                    tracing::debug!(
                        "signature_invalid: if the consumer secret is right, the URL, query or form body sent was not the one signed"
                    );
                    return Err(EtradeError::SignatureInvalid);
                }
                Some(OAuthProblem::ConsumerKeyRejected) => {
                    return Err(EtradeError::ConsumerKeyRejected)
                }
                Some(OAuthProblem::NonceUsed) => {
                    return Err(EtradeError::transient(
                        "E*TRADE saw this nonce before (nonce_used)",
                    ))
                }
                _ => return Ok(reply),
            }
        }
    }

    /// Sends one signed request and classifies transport-level failures.
    pub(crate) async fn send_signed(
        &self,
        method: &Method,
        url: &Url,
        form_body: Option<&str>,
        authorization: String,
    ) -> Result<ApiResponse, EtradeError> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, authorization);
        if let Some(body) = form_body {
            req = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        let resp = req.send().await.map_err(network_error)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(network_error)?.to_vec();
        let reply = ApiResponse {
            status,
            headers,
            body,
        };
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(EtradeError::Transient {
                message: format!("E*TRADE answered HTTP {}", status.as_u16()),
                retry_after: retry_after(&reply.headers, self.signer.local_now()),
            });
        }
        if status == StatusCode::BAD_REQUEST && is_rate_limit_body(&reply.text()) {
            return Err(EtradeError::RateLimited);
        }
        Ok(reply)
    }
}

fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    token_core::retry_after::retry_after(value(RETRY_AFTER.as_str()), None, now)
}

/// Network errors say what failed, never the URL's query (it may carry
/// request data) nor any header.
fn network_error(e: reqwest::Error) -> EtradeError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut short"
    } else {
        "the request failed"
    };
    EtradeError::transient(format!("talking to E*TRADE: {what}"))
}
