//! A small client for the trading engine's own E*TRADE calls: takes the
//! token from the manager, signs, sends, records the use for idle tracking,
//! and handles the 401s through core's renew-once rule
//! ([`token_core::retry::call_renewing_once`]):
//!
//! - `token_expired` / `token_rejected`, or a 401 naming no `oauth_problem`
//!   (legacy `Invalid access token used`, XML error bodies), before midnight
//!   ET: renew once (single flight, shared with every other caller) and retry
//!   once. If the renewal is refused, the manager raises "re-authorization
//!   required"; if the retried call is refused again (a renew that answered
//!   200 without reviving the token), the manager is told and no further
//!   renewal is sent.
//! - after midnight ([`crate::policy`] decides), or the renewal refused:
//!   [`EtradeError::ReauthorizationRequired`].
//! - `timestamp_refused`: clock offset corrected from a plausible window,
//!   retried once (in the transport).
//! - `signature_invalid`, `consumer_key_rejected`: typed errors saying what to fix.
//! - 5xx, timeouts, the rate-limit page: transient.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use token_core::retry::{call_renewing_once, Attempt};
use token_core::{Error, TokenManager, Unavailable};
use url::Url;

use crate::config::EtradeConfig;
use crate::error::EtradeError;
use crate::payload::EtradeCredentials;
use crate::provider::EtradeProvider;
use crate::signer::OAuthExtras;
use crate::transport::ApiResponse;

/// Signed E*TRADE API calls with the manager's token. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EtradeClient {
    manager: TokenManager<EtradeCredentials>,
    provider: Arc<EtradeProvider>,
}

impl EtradeClient {
    /// A client using `manager`'s token and `provider`'s signer and HTTP client.
    pub fn new(manager: TokenManager<EtradeCredentials>, provider: Arc<EtradeProvider>) -> Self {
        Self { manager, provider }
    }

    /// The manager.
    pub fn manager(&self) -> &TokenManager<EtradeCredentials> {
        &self.manager
    }

    /// `GET {api_base}{path_and_query}`, e.g. `/v1/market/quote/AAPL.json?detailFlag=ALL`.
    pub async fn get(&self, path_and_query: &str) -> Result<ApiResponse, EtradeError> {
        let url = EtradeConfig::join(self.provider.config().api_base_url(), path_and_query)?;
        self.send(Method::GET, url, None).await
    }

    /// Sends any signed request: `url` may carry a query; `form_body` is an
    /// `application/x-www-form-urlencoded` body (signed), if any.
    ///
    /// Non-401 answers (including 4xx business errors) come back as
    /// [`ApiResponse`]; authorization trouble and transient failures as errors.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        form_body: Option<String>,
    ) -> Result<ApiResponse, EtradeError> {
        let (method, url, body) = (&method, &url, form_body.as_deref());
        call_renewing_once(&self.manager, |creds| async move {
            let sent = self
                .provider
                .transport()
                .send(
                    method,
                    url,
                    body,
                    Some((&creds.payload).into()),
                    OAuthExtras::default(),
                )
                .await;
            match sent {
                Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
                    match self.provider.use_failure(&reply, creds.meta.issued_at) {
                        Error::Inactive { reason } => Attempt::Inactive(reason),
                        other => Attempt::Done(Err(token_error(other))),
                    }
                }
                other => Attempt::Done(other),
            }
        })
        .await
        .map_err(|e| match e {
            // The manager's errors, in this client's terms.
            EtradeError::Token(e) => token_error(e),
            other => other,
        })
    }
}

fn token_error(e: Error) -> EtradeError {
    match e {
        Error::Rejected { reason } => EtradeError::ReauthorizationRequired { reason },
        Error::Unavailable(Unavailable::Expired) => EtradeError::ReauthorizationRequired {
            reason: "the access token expired at midnight America/New_York".into(),
        },
        Error::Unavailable(Unavailable::NoToken) => EtradeError::ReauthorizationRequired {
            reason: "no access token: log in first".into(),
        },
        Error::Config(m) => EtradeError::Config(m),
        Error::Protocol(m) => EtradeError::Protocol(m),
        Error::Transient {
            message,
            retry_after,
        } => EtradeError::Transient {
            message,
            retry_after,
        },
        other => EtradeError::Token(other),
    }
}
