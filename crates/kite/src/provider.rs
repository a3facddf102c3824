//! The Kite [`TokenProvider`]: request-token login, checksum session
//! exchange, `/user/profile` probe and logout. No renewal.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use token_core::{
    serde_secret, AccountKey, AuthorizationRequest, Capabilities, Clock, Error, Expects, Metadata,
    Record, SecretFields, TokenProvider,
};

use crate::api::{auth_header, auth_value, Api};
use crate::config::{checksum, KiteConfig};
use crate::errors::Call;
use crate::expiry::next_0600_ist;
use crate::redirect::request_token;

/// Kite credentials as stored: the access token (redacted in `Debug`) and
/// the public facts of the session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KiteCreds {
    /// The access token: dies at the next 06:00 IST.
    #[serde(with = "serde_secret")]
    pub access_token: SecretString,
    /// The Kite user id, e.g. `AB1234`.
    pub user_id: String,
    /// The `public_token` (for public streams; not a credential for trading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_token: Option<String>,
    /// Kite's `login_time` as sent (`YYYY-MM-DD HH:MM:SS`, IST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_time: Option<String>,
}

impl KiteCreds {
    /// The `Authorization` value: `token api_key:access_token`.
    ///
    /// ```
    /// use secrecy::{ExposeSecret, SecretString};
    /// let creds = kite::KiteCreds {
    ///     access_token: SecretString::from("tok"),
    ///     user_id: "AB1234".into(),
    ///     public_token: None,
    ///     login_time: None,
    /// };
    /// assert_eq!(creds.authorization("key").expose_secret(), "token key:tok");
    /// let h = creds.headers("key")?;
    /// assert_eq!(h["X-Kite-Version"], "3");
    /// assert!(h["authorization"].is_sensitive());
    /// # Ok::<(), token_core::Error>(())
    /// ```
    pub fn authorization(&self, api_key: &str) -> SecretString {
        auth_value(api_key, &self.access_token)
    }

    /// Both headers every Kite call needs: `Authorization` (marked
    /// sensitive) and `X-Kite-Version: 3`.
    pub fn headers(&self, api_key: &str) -> Result<HeaderMap, Error> {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, auth_header(api_key, &self.access_token)?);
        h.insert(crate::KITE_VERSION_HEADER, HeaderValue::from_static("3"));
        Ok(h)
    }
}

/// Talks to Kite Connect v3 for one app.
///
/// Kite gives individual users no refresh token: [`TokenProvider::renew`]
/// is unsupported and [`TokenProvider::capabilities`] says so, so the
/// manager asks a person to log in when the token dies at 06:00 IST.
#[derive(Debug)]
pub struct KiteProvider {
    api: Api,
    clock: Arc<dyn Clock>,
}

impl KiteProvider {
    /// A provider for `config`, reading time from `clock`. Fails with
    /// [`Error::Config`] on bad settings (HTTPS required off loopback).
    pub fn new(config: KiteConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        Ok(Self {
            api: Api::new(config, clock.clone())?,
            clock,
        })
    }

    /// The settings.
    pub fn config(&self) -> &KiteConfig {
        self.api.config()
    }

    /// The app's api_key.
    pub fn api_key(&self) -> &str {
        &self.config().api_key
    }

    /// Exchanges a request token for a session (`POST /session/token`).
    pub async fn exchange(
        &self,
        key: &AccountKey,
        request_token: &SecretString,
    ) -> Result<Record<KiteCreds>, Error> {
        let sum = checksum(self.api_key(), request_token, &self.config().api_secret);
        let data = self.api.session(request_token, &sum).await?;
        let now = self.clock.now();
        let access = match data
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::trim)
        {
            Some(t) if !t.is_empty() => SecretString::from(t.to_string()),
            _ => {
                return Err(Error::Protocol(
                    "session/token: success answer without access_token".into(),
                ))
            }
        };
        let text = |name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.len() <= 64)
                .map(str::to_string)
        };
        let user_id = text("user_id").ok_or_else(|| {
            Error::Protocol("session/token: success answer without user_id".into())
        })?;
        let mut meta = Metadata::issued(now);
        meta.expires_at = Some(next_0600_ist(now));
        Ok(Record::new(
            key.clone(),
            meta,
            KiteCreds {
                access_token: access,
                user_id,
                public_token: text("public_token"),
                login_time: text("login_time"),
            },
        ))
    }
}

#[async_trait]
impl TokenProvider<KiteCreds> for KiteProvider {
    fn broker(&self) -> &str {
        crate::BROKER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            authorize: true,
            renew: false,
            probe: true,
            revoke: true,
        }
    }

    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        Ok(AuthorizationRequest {
            key: key.clone(),
            url: self.config().login_page()?,
            expects: Expects::RedirectUrl,
            instructions: format!(
                "Open the URL, log in to Kite, then paste the full URL the browser lands on \
                 (it starts with {}) within 5 minutes",
                self.config().redirect_url
            ),
            expires_at: Some(self.clock.now() + self.config().login_ttl),
            pending: SecretFields::new(),
        })
    }

    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        response: &SecretString,
    ) -> Result<Record<KiteCreds>, Error> {
        if request.expires_at.is_some_and(|e| self.clock.now() >= e) {
            return Err(Error::rejected(
                "this login URL has expired: start a new login",
            ));
        }
        let token = request_token(response.expose_secret())?;
        self.exchange(&request.key, &token).await
    }

    async fn renew(&self, _record: &Record<KiteCreds>) -> Result<Record<KiteCreds>, Error> {
        Err(Error::Unsupported(
            "renew: Kite gives individual users no refresh token; log in again",
        ))
    }

    async fn probe(&self, record: &Record<KiteCreds>) -> Result<(), Error> {
        // The profile is personal data: checked for "success" and dropped.
        self.api
            .authed(Call::Profile, &record.payload.access_token)
            .await
            .map(drop)
    }

    async fn revoke(&self, record: &Record<KiteCreds>) -> Result<(), Error> {
        match self
            .api
            .authed(Call::Logout, &record.payload.access_token)
            .await
        {
            Ok(_) => Ok(()),
            // Already dead: nothing left to revoke.
            Err(Error::Rejected { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
