//! The FYERS [`TokenProvider`]: auth-code login, refresh with the PIN,
//! `/profile` probe and logout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;

use token_core::{
    serde_secret, AccountKey, AuthorizationRequest, Capabilities, Clock, Error, Expects, Record,
    SecretFields, TokenProvider,
};

use crate::api::{auth_value, optional_secret, secret_field, Api, Call, Failure};
use crate::config::{FyersConfig, RefreshMode};
use crate::expiry::{metadata_for, refresh_expiry};
use crate::probe_limit::ProbeLimiter;
use crate::redirect::{parse_redirect, Redirect};
use token_core::sync::lock;

/// FYERS credentials as stored: the access token and, when FYERS gave one,
/// the refresh token. `Debug` redacts both.
///
/// The field names match the usual `.env` names in lower case
/// (`FYERS_ACCESS_TOKEN`, `FYERS_REFRESH_TOKEN`; see [`crate::env`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FyersCreds {
    /// The access token (a JWT).
    #[serde(with = "serde_secret")]
    pub access_token: SecretString,
    /// The refresh token (a JWT, about 15 days), if any.
    #[serde(default, with = "serde_secret::option")]
    pub refresh_token: Option<SecretString>,
}

impl FyersCreds {
    /// The `Authorization` header value: `client_id:access_token` (no "Bearer").
    ///
    /// ```
    /// use secrecy::{ExposeSecret, SecretString};
    /// let creds = fyers::FyersCreds { access_token: SecretString::from("tok"), refresh_token: None };
    /// assert_eq!(creds.authorization("ABCD1234-100").expose_secret(), "ABCD1234-100:tok");
    /// ```
    pub fn authorization(&self, client_id: &str) -> SecretString {
        auth_value(client_id, &self.access_token)
    }

    /// The same as a header value marked sensitive (hidden from HTTP logs).
    pub fn authorization_header(&self, client_id: &str) -> Result<HeaderValue, Error> {
        let mut v = HeaderValue::from_str(self.authorization(client_id).expose_secret())
            .map_err(|_| Error::Protocol("access token is not a valid header value".into()))?;
        v.set_sensitive(true);
        Ok(v)
    }
}

const STATE_FIELD: &str = "state";

/// What daily-login mode means, for the one alert that announces it.
const DAILY_LOGIN: &str = "FYERS no longer refreshes with this refresh token, so this account \
     is now in daily-login mode: a person logs in each day (the access token ends at 06:00 IST), \
     and the refresh token is not sent again. A new login brings a new refresh token and \
     silent refresh is tried again";

/// Talks to FYERS API v3 for one app.
///
/// Refresh safety, by what FYERS said:
///
/// - the message names the PIN: [`Error::PinRefused`] (remedy: fix the
///   PIN). The [`token_core::TokenManager`] never sends it again until
///   [`token_core::TokenManager::clear_rejection`] (after
///   [`FyersProvider::set_pin`]), a restart with a fixed PIN, or a new
///   login: repeated wrong PINs can lock the account. The manager is that
///   memory; [`FyersProvider::pin_refused`] only reports it, and a new login
///   or [`FyersProvider::set_pin`] clears it.
/// - any other refusal (`-16` "could not authenticate", `-501`, refresh
///   discontinued): [`Error::Rejected`] (remedy: log in), and the account is
///   in daily-login mode for that refresh token: this provider never sends
///   it again ([`FyersProvider::daily_login`]); a login that brings a new
///   refresh token ends the mode.
/// - with [`RefreshMode::Off`] the refresh endpoint is never called and no
///   refresh token is kept.
///
/// Probes (`/profile`) share a per-app budget ([`ProbeLimiter::for_app`]) so
/// keep-alive traffic stays far inside FYERS's per-app rate limits.
#[derive(Debug)]
pub struct FyersProvider {
    api: Api,
    clock: Arc<dyn Clock>,
    pin: Mutex<SecretString>,
    pin_refused: AtomicBool,
    /// The refresh token FYERS refused for a reason other than the PIN:
    /// never sent again (daily-login mode until a new one comes).
    refused_refresh: Mutex<Option<SecretString>>,
    refresh_calls: AtomicU64,
    probe_limiter: Arc<ProbeLimiter>,
}

impl FyersProvider {
    /// A provider for `config`, reading time from `clock`. Fails with
    /// [`Error::Config`] on a bad base URL (HTTPS required off loopback).
    pub fn new(config: FyersConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let pin = config.pin.clone();
        let probe_limiter = ProbeLimiter::for_app(&config.base_url, &config.client_id);
        Ok(Self {
            api: Api::new(config, clock.clone())?,
            clock,
            pin: Mutex::new(pin),
            pin_refused: AtomicBool::new(false),
            refused_refresh: Mutex::new(None),
            refresh_calls: AtomicU64::new(0),
            probe_limiter,
        })
    }

    /// The settings.
    pub fn config(&self) -> &FyersConfig {
        self.api.config()
    }

    /// The clock it reads time from.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The app's client id.
    pub fn client_id(&self) -> &str {
        &self.config().client_id
    }

    /// The `Authorization` value for a record: `client_id:access_token`.
    pub fn authorization(&self, record: &Record<FyersCreds>) -> SecretString {
        record.payload.authorization(self.client_id())
    }

    /// Replaces the PIN. After a PIN refusal, also tell the manager
    /// ([`token_core::TokenManager::clear_rejection`]) so it refreshes again.
    pub fn set_pin(&self, pin: SecretString) {
        *lock(&self.pin) = pin;
        self.pin_refused.store(false, Ordering::SeqCst);
    }

    /// True when FYERS's last refusal of a refresh named the PIN (until a
    /// new login, [`FyersProvider::set_pin`] or a successful refresh).
    /// Informational: the manager is what stops the PIN being sent again.
    pub fn pin_refused(&self) -> bool {
        self.pin_refused.load(Ordering::SeqCst)
    }

    /// True when a person must log in daily: `refresh = "off"`, or FYERS
    /// refused a refresh for a reason other than the PIN and no login has
    /// brought a new refresh token since.
    pub fn daily_login(&self) -> bool {
        self.config().refresh == RefreshMode::Off || lock(&self.refused_refresh).is_some()
    }

    /// The per-app probe budget this provider shares with every other
    /// provider of the same app in the process.
    pub fn probe_limiter(&self) -> &Arc<ProbeLimiter> {
        &self.probe_limiter
    }

    /// Refresh requests actually sent to FYERS by this provider.
    pub fn refresh_calls(&self) -> u64 {
        self.refresh_calls.load(Ordering::SeqCst)
    }

    /// The login URL for `state`.
    pub fn login_url(&self, state: &str) -> Result<String, Error> {
        let mut url = self.config().endpoint("generate-authcode")?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config().client_id)
            .append_pair("redirect_uri", &self.config().redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("state", state);
        Ok(url.to_string())
    }

    async fn exchange_auth_code(
        &self,
        key: &AccountKey,
        auth_code: &SecretString,
    ) -> Result<Record<FyersCreds>, Error> {
        let body = json!({
            "grant_type": "authorization_code",
            "appIdHash": self.config().app_id_hash(),
            "code": auth_code.expose_secret(),
        });
        let v = self
            .api
            .post_json(Call::ValidateAuthcode, &body, &[auth_code])
            .await
            .map_err(|f| f.error)?;
        let access = secret_field(&v, Call::ValidateAuthcode, "access_token")?;
        // `refresh = "off"`: a refresh token we never use is not kept.
        let refresh = optional_secret(&v, "refresh_token")
            .filter(|_| self.config().refresh == RefreshMode::Auto);
        // A new login: whatever FYERS refused before (the PIN, an old
        // refresh token) is no longer what will be sent.
        self.pin_refused.store(false, Ordering::SeqCst);
        *lock(&self.refused_refresh) = None;
        let now = self.clock.now();
        let meta = metadata_for(
            now,
            &access,
            refresh.as_ref(),
            self.config().refresh_token_days,
        )?;
        Ok(Record::new(
            key.clone(),
            meta,
            FyersCreds {
                access_token: access,
                refresh_token: refresh,
            },
        ))
    }

    /// Remembers what a refused refresh means and says it in the error: a
    /// PIN verdict, or daily-login mode for `refresh_token`.
    fn refused(&self, failure: Failure, refresh_token: &SecretString) -> Error {
        match failure.error {
            e @ Error::PinRefused { .. } => {
                self.pin_refused.store(true, Ordering::SeqCst);
                tracing::error!("FYERS refused the refresh PIN: fix the PIN; it is not sent again");
                e
            }
            Error::Rejected { reason } => {
                *lock(&self.refused_refresh) = Some(refresh_token.clone());
                tracing::warn!(%reason, "FYERS refused the refresh: daily-login mode until a new login");
                Error::Rejected {
                    reason: format!("{reason}. {DAILY_LOGIN}"),
                }
            }
            other => other,
        }
    }

    /// Whether FYERS already refused `refresh_token` (not for the PIN).
    fn is_refused(&self, refresh_token: &SecretString) -> bool {
        lock(&self.refused_refresh)
            .as_ref()
            .is_some_and(|r| r.expose_secret() == refresh_token.expose_secret())
    }
}

#[async_trait]
impl TokenProvider<FyersCreds> for FyersProvider {
    fn broker(&self) -> &str {
        "fyers"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            renew: self.config().refresh == RefreshMode::Auto,
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
                "Open the URL, log in to FYERS, then paste the full URL the browser lands on \
                 (it starts with {})",
                self.config().redirect_uri
            ),
            expires_at: Some(self.clock.now() + self.config().login_ttl),
            pending,
        })
    }

    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        response: &SecretString,
    ) -> Result<Record<FyersCreds>, Error> {
        let expected = request
            .pending
            .get(STATE_FIELD)
            .ok_or_else(|| Error::Protocol("authorization request has no state".into()))?;
        if request.expires_at.is_some_and(|e| self.clock.now() >= e) {
            return Err(Error::rejected(
                "this login URL has expired: start a new login",
            ));
        }
        let (auth_code, state) = match parse_redirect(response.expose_secret())? {
            Redirect::Code { auth_code, state } => (auth_code, state),
            Redirect::Failed { code, message, .. } => {
                let redirect_named = message
                    .as_deref()
                    .is_some_and(|m| m.to_ascii_lowercase().contains("redirect"));
                let code = code.map_or_else(|| "?".to_string(), |c| c.to_string());
                let message = message.unwrap_or_default();
                if code == "-352" && redirect_named {
                    return Err(crate::api::redirect_refused(format!(
                        "FYERS login refused the redirect URI (code {code}) {message}: set \
                         `redirect_uri` to the app's registered redirect URI exactly"
                    )));
                }
                return Err(Error::rejected(format!(
                    "FYERS login failed (code {code}) {message}"
                )));
            }
        };
        if state.as_deref() != Some(expected.expose_secret()) {
            return Err(Error::rejected(
                "state does not match the pending login: paste the URL from the latest login",
            ));
        }
        self.exchange_auth_code(&request.key, &auth_code).await
    }

    async fn renew(&self, record: &Record<FyersCreds>) -> Result<Record<FyersCreds>, Error> {
        if self.config().refresh == RefreshMode::Off {
            return Err(Error::Unsupported(
                "renew (refresh = \"off\": a person logs in daily)",
            ));
        }
        let Some(refresh) = record.payload.refresh_token.as_ref() else {
            return Err(Error::rejected("no refresh token: log in again"));
        };
        if self.is_refused(refresh) {
            return Err(Error::rejected(DAILY_LOGIN));
        }
        let pin = lock(&self.pin).clone();
        let body = json!({
            "grant_type": "refresh_token",
            "appIdHash": self.config().app_id_hash(),
            "refresh_token": refresh.expose_secret(),
            "pin": pin.expose_secret(),
        });
        self.refresh_calls.fetch_add(1, Ordering::SeqCst);
        let v = match self
            .api
            .post_json(Call::ValidateRefreshToken, &body, &[refresh, &pin])
            .await
        {
            Ok(v) => v,
            Err(failure) => return Err(self.refused(failure, refresh)),
        };
        self.pin_refused.store(false, Ordering::SeqCst);
        let now = self.clock.now();
        let access = secret_field(&v, Call::ValidateRefreshToken, "access_token")?;
        let rotated = optional_secret(&v, "refresh_token")
            .filter(|new| new.expose_secret() != refresh.expose_secret());
        let mut meta = metadata_for(now, &access, None, self.config().refresh_token_days)?;
        meta.renewed_at = Some(now);
        let refresh_token = match rotated {
            Some(new) => {
                // Rotation: the new refresh token replaces the old one. The
                // manager saves this record before handing the token out.
                tracing::info!("FYERS rotated the refresh token");
                meta.refresh_expires_at =
                    Some(refresh_expiry(now, &new, self.config().refresh_token_days)?);
                new
            }
            None => {
                meta.refresh_expires_at = match record.meta.refresh_expires_at {
                    Some(t) => Some(t),
                    None => Some(refresh_expiry(
                        record.meta.issued_at,
                        refresh,
                        self.config().refresh_token_days,
                    )?),
                };
                refresh.clone()
            }
        };
        Ok(Record::new(
            record.key.clone(),
            meta,
            FyersCreds {
                access_token: access,
                refresh_token: Some(refresh_token),
            },
        ))
    }

    async fn probe(&self, record: &Record<FyersCreds>) -> Result<(), Error> {
        self.probe_limiter.acquire().await;
        // The body holds personal data: it is checked for "s":"ok" and dropped.
        match self
            .api
            .authed(Call::Profile, &record.payload.access_token)
            .await
        {
            Ok(_) => Ok(()),
            Err(Failure {
                error: Error::Inactive { reason },
                ..
            }) if record.payload.refresh_token.is_none() => Err(Error::Rejected { reason }),
            Err(f) => Err(f.error),
        }
    }

    async fn revoke(&self, record: &Record<FyersCreds>) -> Result<(), Error> {
        match self
            .api
            .authed(Call::Logout, &record.payload.access_token)
            .await
        {
            Ok(_) => Ok(()),
            // Already dead: nothing left to revoke.
            Err(Failure {
                error: Error::Inactive { .. },
                ..
            }) => Ok(()),
            Err(f) => Err(f.error),
        }
    }
}
