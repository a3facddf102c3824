//! The E*TRADE [`TokenProvider`]: OAuth 1.0a login with an `oob` callback,
//! renew via `renew_access_token` (the same pair, reactivated), probe with
//! `GET /v1/accounts/list`, revoke via `revoke_access_token`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use token_core::{
    AccountKey, AuthorizationRequest, Capabilities, Clock, Error, Expects, Metadata, Record,
    SecretFields, SystemClock, TokenProvider,
};
use url::Url;

use crate::config::EtradeConfig;
use crate::payload::EtradeCredentials;
use crate::policy::{next_midnight_new_york, past_midnight};
use crate::problem::{unauthorized_reason, OAuthProblem};
use crate::signer::{OAuthExtras, Signer, TokenPair};
use crate::transport::{ApiResponse, Transport};
use crate::verifier::verifier_from;

/// How long E*TRADE keeps a request token (5 minutes).
pub const REQUEST_TOKEN_LIFETIME: Duration = Duration::minutes(5);

const PENDING_TOKEN: &str = "request_token";
const PENDING_SECRET: &str = "request_token_secret";

/// Talks to E*TRADE for one consumer key.
///
/// ```
/// use std::sync::Arc;
/// use etrade::{EtradeConfig, EtradeProvider};
/// use token_core::{Environment, TokenProvider};
///
/// let config = EtradeConfig::new(Environment::Sandbox, "key", "secret".to_string().into());
/// let provider = EtradeProvider::new(config)?;
/// assert_eq!(provider.broker(), "etrade");
/// assert!(provider.capabilities().renew);
/// # Ok::<(), token_core::Error>(())
/// ```
pub struct EtradeProvider {
    config: EtradeConfig,
    transport: Transport,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for EtradeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtradeProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Which endpoint a token problem came from decides what it means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    AccessToken,
    Renew,
    Use,
}

impl EtradeProvider {
    /// A provider on the system clock.
    pub fn new(config: EtradeConfig) -> Result<Self, Error> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A provider whose `oauth_timestamp` and record times come from `clock`
    /// (share the manager's and the simulator's `ManualClock` in tests).
    pub fn with_clock(config: EtradeConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let signer = Arc::new(Signer::with_clock(
            config.consumer_key(),
            config.consumer_secret().clone(),
            clock.clone(),
        ));
        let transport = Transport::new(&config, signer)?;
        Ok(Self {
            config,
            transport,
            clock,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EtradeConfig {
        &self.config
    }

    /// The signer (shared with [`crate::EtradeClient`]; holds the clock offset).
    pub fn signer(&self) -> &Arc<Signer> {
        self.transport.signer()
    }

    /// The HTTP client (timeouts from the configuration, no redirects).
    pub fn http(&self) -> &reqwest::Client {
        self.transport.http()
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    fn oauth_url(&self, path: &str) -> Result<Url, Error> {
        EtradeConfig::join(self.config.oauth_base_url(), path)
    }

    /// The authorize page for a request token.
    pub fn authorize_url(&self, request_token: &str) -> Url {
        let mut url = self.config.authorize_url().clone();
        url.query_pairs_mut()
            .append_pair("key", self.config.consumer_key())
            .append_pair("token", request_token);
        url
    }

    async fn get(
        &self,
        url: &Url,
        token: Option<TokenPair<'_>>,
        extras: OAuthExtras<'_>,
    ) -> Result<ApiResponse, Error> {
        Ok(self
            .transport
            .send(&Method::GET, url, None, token, extras)
            .await?)
    }

    /// What a refused data call made with a token issued at `issued_at`
    /// means: [`Error::Inactive`] when a renewal may revive it (before
    /// midnight ET), [`Error::Rejected`] when only a person can.
    pub(crate) fn use_failure(&self, reply: &ApiResponse, issued_at: DateTime<Utc>) -> Error {
        self.failure(reply, Op::Use, Some(issued_at))
    }

    /// Turns a non-success answer into a typed error.
    fn failure(&self, reply: &ApiResponse, op: Op, issued_at: Option<DateTime<Utc>>) -> Error {
        let now = self.clock.now();
        let before_cutoff = issued_at.is_some_and(|t| !past_midnight(t, now));
        // A 401 without an `oauth_problem` (the legacy "Invalid access token
        // used", an XML `<Error>` body) is a token refusal too: a renewal
        // tells whether it was inactivity; never a protocol error that
        // would leave the account without a renewal or a login request.
        let token_problem = match reply.oauth_problem() {
            None if reply.status == StatusCode::UNAUTHORIZED => {
                Some(unauthorized_reason(&reply.text()))
            }
            Some(p @ (OAuthProblem::TokenExpired | OAuthProblem::TokenRejected)) => {
                Some(format!("oauth_problem={p}"))
            }
            _ => None,
        };
        if let Some(p) = token_problem {
            return match op {
                Op::AccessToken => Error::rejected(format!(
                    "{p}: the request token expired or the verifier is wrong; start the login again"
                )),
                Op::Renew => Error::rejected(format!(
                    "{p}: renew cannot revive this token (past midnight ET, revoked or unknown)"
                )),
                // Which problem an idle token gets is undocumented: before
                // midnight both may be inactivity, and a renewal will tell.
                Op::Use if before_cutoff => Error::Inactive { reason: p },
                Op::Use => Error::rejected(format!("{p} after midnight ET")),
            };
        }
        match reply.oauth_problem() {
            Some(p) => Error::Protocol(format!("HTTP 401 oauth_problem={p}")),
            None if reply.is_html() && reply.status.is_success() => {
                Error::transient("E*TRADE answered with an HTML page (maintenance?)")
            }
            None => Error::Protocol(format!(
                "unexpected HTTP {} from E*TRADE",
                reply.status.as_u16()
            )),
        }
    }

    /// Reads `oauth_token` / `oauth_token_secret` from a form-encoded body
    /// (values are percent-encoded base64: decoded here).
    fn token_pair(&self, reply: &ApiResponse) -> Result<(SecretString, SecretString), Error> {
        if reply.is_html() {
            return Err(Error::transient(
                "E*TRADE answered with an HTML page instead of tokens (maintenance?)",
            ));
        }
        let mut token = None;
        let mut secret = None;
        for (k, v) in url::form_urlencoded::parse(&reply.body) {
            match k.as_ref() {
                "oauth_token" => token = Some(SecretString::from(v.into_owned())),
                "oauth_token_secret" => secret = Some(SecretString::from(v.into_owned())),
                _ => {}
            }
        }
        match (token, secret) {
            (Some(t), Some(s))
                if !t.expose_secret().is_empty() && !s.expose_secret().is_empty() =>
            {
                Ok((t, s))
            }
            _ => Err(Error::Protocol(
                "token response lacks oauth_token / oauth_token_secret".into(),
            )),
        }
    }
}

#[async_trait]
impl TokenProvider<EtradeCredentials> for EtradeProvider {
    fn broker(&self) -> &str {
        crate::BROKER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        let now = self.clock.now();
        let url = self.oauth_url("/oauth/request_token")?;
        let extras = OAuthExtras {
            callback: Some("oob"),
            verifier: None,
        };
        let reply = self.get(&url, None, extras).await?;
        if !reply.status.is_success() {
            return Err(self.failure(&reply, Op::AccessToken, None));
        }
        let (token, secret) = self.token_pair(&reply)?;
        let url = self.authorize_url(token.expose_secret()).to_string();
        let mut pending = SecretFields::new();
        pending.insert(PENDING_TOKEN, token);
        pending.insert(PENDING_SECRET, secret);
        Ok(AuthorizationRequest {
            key: key.clone(),
            url,
            expects: Expects::Verifier,
            instructions: "Open the URL, log in to E*TRADE and accept, then enter the verification code shown, or paste the whole URL the browser was sent to if it carries oauth_verifier.".into(),
            expires_at: Some(now + REQUEST_TOKEN_LIFETIME),
            pending,
        })
    }

    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        response: &SecretString,
    ) -> Result<Record<EtradeCredentials>, Error> {
        let verifier = verifier_from(response)?;
        let verifier = verifier.expose_secret();
        let (Some(token), Some(secret)) = (
            request.pending.get(PENDING_TOKEN),
            request.pending.get(PENDING_SECRET),
        ) else {
            return Err(Error::Config(
                "this authorization request was not started by the E*TRADE provider".into(),
            ));
        };
        let url = self.oauth_url("/oauth/access_token")?;
        let pair = TokenPair {
            token: token.expose_secret(),
            secret: secret.expose_secret(),
        };
        let extras = OAuthExtras {
            callback: None,
            verifier: Some(verifier),
        };
        let reply = self.get(&url, Some(pair), extras).await?;
        if !reply.status.is_success() {
            return Err(self.failure(&reply, Op::AccessToken, None));
        }
        let (oauth_token, oauth_token_secret) = self.token_pair(&reply)?;
        let now = self.clock.now();
        let mut meta = Metadata::issued(now);
        meta.expires_at = Some(next_midnight_new_york(now));
        Ok(Record::new(
            request.key.clone(),
            meta,
            EtradeCredentials::new(oauth_token, oauth_token_secret),
        ))
    }

    async fn renew(
        &self,
        record: &Record<EtradeCredentials>,
    ) -> Result<Record<EtradeCredentials>, Error> {
        let now = self.clock.now();
        if past_midnight(record.meta.issued_at, now) {
            // A renew cannot outlive midnight ET: do not even ask.
            return Err(Error::rejected(
                "the access token expired at midnight America/New_York",
            ));
        }
        let url = self.oauth_url("/oauth/renew_access_token")?;
        let reply = self
            .get(&url, Some((&record.payload).into()), OAuthExtras::default())
            .await?;
        if !reply.status.is_success() {
            return Err(self.failure(&reply, Op::Renew, Some(record.meta.issued_at)));
        }
        if reply.is_html() {
            return Err(Error::transient(
                "E*TRADE answered renew with an HTML page (maintenance?)",
            ));
        }
        let mut renewed = record.clone();
        renewed.meta.renewed_at = Some(now);
        Ok(renewed)
    }

    async fn probe(&self, record: &Record<EtradeCredentials>) -> Result<(), Error> {
        let url = EtradeConfig::join(self.config.api_base_url(), "/v1/accounts/list.json")?;
        let reply = self
            .get(&url, Some((&record.payload).into()), OAuthExtras::default())
            .await?;
        if reply.status.is_success() && !reply.is_html() {
            Ok(())
        } else {
            Err(self.failure(&reply, Op::Use, Some(record.meta.issued_at)))
        }
    }

    async fn revoke(&self, record: &Record<EtradeCredentials>) -> Result<(), Error> {
        let url = self.oauth_url("/oauth/revoke_access_token")?;
        let reply = self
            .get(&url, Some((&record.payload).into()), OAuthExtras::default())
            .await?;
        if reply.status.is_success() {
            return Ok(());
        }
        match reply.oauth_problem() {
            // Already unusable: nothing left to revoke.
            Some(OAuthProblem::TokenExpired | OAuthProblem::TokenRejected) => Ok(()),
            _ => Err(self.failure(&reply, Op::Use, Some(record.meta.issued_at))),
        }
    }
}
