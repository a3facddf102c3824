//! The broker side: how credentials are obtained, renewed, checked and revoked.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::key::AccountKey;
use crate::record::{Payload, Record, SecretFields};

/// Which operations a provider supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Interactive authorization (a person logs in).
    pub authorize: bool,
    /// Silent renewal (E*TRADE renew, FYERS refresh).
    pub renew: bool,
    /// A cheap authenticated call that proves the token works and counts as use.
    pub probe: bool,
    /// Revocation / logout.
    pub revoke: bool,
}

impl Capabilities {
    /// Everything supported.
    pub const ALL: Capabilities = Capabilities {
        authorize: true,
        renew: true,
        probe: true,
        revoke: true,
    };
}

/// What a person must bring back after opening the authorization URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expects {
    /// A short verifier code shown by the broker (E*TRADE).
    Verifier,
    /// The full URL the browser was redirected to (FYERS).
    RedirectUrl,
}

/// An authorization in progress: what a person must do, plus the provider's
/// private state for completing it (kept secret).
///
/// It serializes (with its secrets exposed, like a record) so a tool can
/// finish a login in another process: it is kept privately in the manager's
/// [`PendingLogins`](crate::store::PendingLogins) (every process managing
/// the account shares the one pending request).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The account being authorized.
    pub key: AccountKey,
    /// The URL a person must open and log in at.
    pub url: String,
    /// What to bring back.
    pub expects: Expects,
    /// Human instructions, e.g. "log in, then paste the verification code
    /// shown (E*TRADE's are 5 to 7 characters) or the whole callback URL the
    /// browser was sent to".
    pub instructions: String,
    /// After this the request is stale and a new one is needed.
    pub expires_at: Option<DateTime<Utc>>,
    /// Provider-private state (request token secret, `state` nonce, ...).
    pub pending: SecretFields,
}

/// Talks to one broker on behalf of accounts.
///
/// Object safe: managers hold an `Arc<dyn TokenProvider<P>>`. Every operation
/// has a default that returns [`Error::Unsupported`]; advertise what you
/// implement in [`TokenProvider::capabilities`].
///
/// Errors must be classified (see [`crate::ErrorKind`]): the manager retries
/// `Transient`, renews on `Inactive`, escalates `Rejected` to a person.
#[async_trait]
pub trait TokenProvider<P: Payload>: Send + Sync + fmt::Debug {
    /// The broker's short name, e.g. `etrade`.
    fn broker(&self) -> &str;

    /// What this provider can do.
    fn capabilities(&self) -> Capabilities;

    /// Starts an interactive authorization: returns the URL a person opens.
    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        let _ = key;
        Err(Error::Unsupported("authorize"))
    }

    /// Completes it with what the person brought back (a verifier or a
    /// redirect URL), returning fresh credentials.
    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        response: &SecretString,
    ) -> Result<Record<P>, Error> {
        let _ = (request, response);
        Err(Error::Unsupported("authorize"))
    }

    /// Renews silently. Returns the record to use from now on (the same
    /// credentials reactivated, or new ones).
    async fn renew(&self, record: &Record<P>) -> Result<Record<P>, Error> {
        let _ = record;
        Err(Error::Unsupported("renew"))
    }

    /// A cheap authenticated call proving the token works; counts as use.
    async fn probe(&self, record: &Record<P>) -> Result<(), Error> {
        let _ = record;
        Err(Error::Unsupported("probe"))
    }

    /// Revokes the credentials at the broker.
    async fn revoke(&self, record: &Record<P>) -> Result<(), Error> {
        let _ = record;
        Err(Error::Unsupported("revoke"))
    }
}
