//! A small client for the trading engine's own E*TRADE calls: takes the
//! token from the manager, signs, sends, records the use for idle tracking,
//! and handles the 401s:
//!
//! - `token_expired` / `token_rejected` before midnight ET: renew once
//!   (single flight, shared with every other caller) and retry once. If the
//!   renewal is refused, the manager raises "re-authorization required".
//! - after midnight, or the renewal refused: [`EtradeError::ReauthorizationRequired`].
//! - `timestamp_refused`: clock offset corrected, retried once (in the transport).
//! - `signature_invalid`, `consumer_key_rejected`: typed errors saying what to fix.
//! - 5xx, timeouts, the rate-limit page: transient.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use token_core::{Error, TokenManager, Unavailable};
use url::Url;

use crate::config::EtradeConfig;
use crate::error::EtradeError;
use crate::payload::EtradeCredentials;
use crate::policy::next_midnight_new_york;
use crate::problem::OAuthProblem;
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
        let mut renewed = false;
        loop {
            let creds = self.manager.ensure_fresh().await.map_err(token_error)?;
            let reply = self
                .provider
                .transport()
                .send(
                    &method,
                    &url,
                    form_body.as_deref(),
                    Some((&creds.payload).into()),
                    OAuthExtras::default(),
                )
                .await?;
            if reply.status != StatusCode::UNAUTHORIZED {
                self.manager.mark_used();
                return Ok(reply);
            }
            let problem = reply.oauth_problem();
            let now = self.provider.clock().now();
            let before_cutoff = now < next_midnight_new_york(creds.meta.issued_at);
            match problem {
                Some(p @ (OAuthProblem::TokenExpired | OAuthProblem::TokenRejected)) => {
                    if !before_cutoff {
                        return Err(EtradeError::ReauthorizationRequired {
                            reason: format!("oauth_problem={p} after midnight America/New_York"),
                        });
                    }
                    if renewed {
                        let reason = format!("oauth_problem={p} even after a renewal");
                        self.manager.report_rejection(&reason).await;
                        return Err(EtradeError::ReauthorizationRequired { reason });
                    }
                    renewed = true;
                    // One renewal shared by every caller that hit this 401
                    // with the same credentials; none if already replaced.
                    self.manager
                        .renew_if_current(&creds)
                        .await
                        .map_err(token_error)?;
                }
                Some(p) => {
                    return Err(EtradeError::Protocol(format!("HTTP 401 oauth_problem={p}")))
                }
                None => {
                    return Err(EtradeError::Protocol(
                        "HTTP 401 without an oauth_problem".into(),
                    ))
                }
            }
        }
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
