//! The Schwab [`TokenProvider`]: authorization-code login from the pasted
//! redirect URL, refresh at `POST /v1/oauth/token`, accountNumbers probe.
//! Schwab has no revoke endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use token_core::{
    AccountKey, AuthorizationRequest, Capabilities, Clock, Error, Expects, Record, SecretFields,
    TokenProvider,
};

use crate::api::{Api, AUTHORIZE_PATH};
use crate::config::SchwabConfig;
use crate::expiry::metadata_for;
use crate::payload::SchwabCreds;
use crate::problem::Call;
use crate::redirect::parse_redirect;

const STATE_FIELD: &str = "state";

/// Talks to the Schwab Trader API's OAuth endpoints for one app.
///
/// Every refused refresh is an [`Error::Rejected`]: the manager stops
/// refreshing and raises "re-authorization required" with a fresh login URL.
/// A refreshed record keeps the original login time, so the 7-day end never
/// moves; the manager saves it before handing the new token out.
#[derive(Debug)]
pub struct SchwabProvider {
    api: Api,
    clock: Arc<dyn Clock>,
    refresh_calls: AtomicU64,
}

impl SchwabProvider {
    /// A provider for `config`, reading time from `clock`. Fails with
    /// [`Error::Config`] on bad settings.
    pub fn new(config: SchwabConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        Ok(Self {
            api: Api::new(config, clock.clone())?,
            clock,
            refresh_calls: AtomicU64::new(0),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SchwabConfig {
        self.api.config()
    }

    /// Refresh requests sent to Schwab by this provider.
    pub fn refresh_calls(&self) -> u64 {
        self.refresh_calls.load(Ordering::SeqCst)
    }

    /// The authorize URL for `state`: `response_type=code`, `client_id`,
    /// `redirect_uri` (the callback, exactly), `state`.
    pub fn login_url(&self, state: &str) -> Result<String, Error> {
        let mut url = self.config().endpoint(AUTHORIZE_PATH)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config().app_key)
            .append_pair("redirect_uri", &self.config().callback_url)
            .append_pair("state", state);
        Ok(url.to_string())
    }
}

#[async_trait]
impl TokenProvider<SchwabCreds> for SchwabProvider {
    fn broker(&self) -> &str {
        crate::BROKER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            revoke: false,
            ..Capabilities::ALL
        }
    }

    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        let state: String = rand::random::<[u8; 16]>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let url = self.login_url(&state)?;
        let mut pending = SecretFields::new();
        pending.insert(STATE_FIELD, SecretString::from(state));
        Ok(AuthorizationRequest {
            key: key.clone(),
            url,
            expects: Expects::RedirectUrl,
            instructions: format!(
                "Open the URL, log in to Schwab, pick the accounts, then paste the full URL the \
                 browser lands on (it starts with {}; the page may say it cannot be reached). \
                 Paste it within 30 seconds: the code in it dies fast.",
                self.config().callback_url
            ),
            expires_at: Some(self.clock.now() + self.config().login_ttl),
            pending,
        })
    }

    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        response: &SecretString,
    ) -> Result<Record<SchwabCreds>, Error> {
        let expected = request
            .pending
            .get(STATE_FIELD)
            .ok_or_else(|| Error::Protocol("authorization request has no state".into()))?;
        if request.expires_at.is_some_and(|e| self.clock.now() >= e) {
            return Err(Error::rejected(
                "this login URL has expired: start a new login",
            ));
        }
        let redirect = parse_redirect(response.expose_secret())?;
        if redirect.state.as_deref() != Some(expected.expose_secret()) {
            return Err(Error::rejected(
                "state does not match the pending login: paste the URL from the latest login",
            ));
        }
        let tokens = self
            .api
            .token(
                Call::CodeExchange,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", redirect.code.expose_secret()),
                    ("redirect_uri", &self.config().callback_url),
                ],
            )
            .await?;
        let now = self.clock.now();
        Ok(Record::new(
            request.key.clone(),
            metadata_for(now, tokens.expires_in, now),
            SchwabCreds {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                logged_in_at: now,
            },
        ))
    }

    async fn renew(&self, record: &Record<SchwabCreds>) -> Result<Record<SchwabCreds>, Error> {
        let logged_in_at = record.payload.logged_in_at;
        let now = self.clock.now();
        if now >= crate::expiry::refresh_token_end(logged_in_at) {
            return Err(Error::rejected(
                "the Schwab refresh token has passed its 7-day end: log in again",
            ));
        }
        self.refresh_calls.fetch_add(1, Ordering::SeqCst);
        let tokens = self
            .api
            .token(
                Call::Refresh,
                &[
                    ("grant_type", "refresh_token"),
                    (
                        "refresh_token",
                        record.payload.refresh_token.expose_secret(),
                    ),
                ],
            )
            .await?;
        if tokens.refresh_token.expose_secret() != record.payload.refresh_token.expose_secret() {
            // Rotation: the manager saves this record before handing it out.
            tracing::info!("Schwab rotated the refresh token (same 7-day end)");
        }
        let now = self.clock.now();
        let mut meta = metadata_for(now, tokens.expires_in, logged_in_at);
        meta.renewed_at = Some(now);
        Ok(Record::new(
            record.key.clone(),
            meta,
            SchwabCreds {
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                logged_in_at,
            },
        ))
    }

    async fn probe(&self, record: &Record<SchwabCreds>) -> Result<(), Error> {
        self.api.probe(&record.payload.access_token).await
    }

    async fn revoke(&self, _record: &Record<SchwabCreds>) -> Result<(), Error> {
        Err(Error::Unsupported(
            "Schwab has no token revocation endpoint: the refresh token dies 7 days after login \
             (or when you log in again elsewhere); delete the stored record to stop using it",
        ))
    }
}
