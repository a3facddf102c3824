//! Authorization: what a person does. Begin (or reuse the shared pending)
//! interactive authorization, complete it, install what it yields, and
//! revoke. Owns the `authorization` part of the status; the pending request
//! itself lives in the manager's [`PendingLogins`](crate::store::PendingLogins).

use secrecy::SecretString;

use super::{Credentials, TokenManager};
use crate::error::Error;
use crate::events::Event;
use chrono::{DateTime, Utc};

use crate::provider::AuthorizationRequest;
use crate::record::{Payload, Record};

/// The login a person is asked to finish, and whether it replaced a stale
/// one (whose URL no longer works).
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The live request (shared with every process managing the account).
    pub request: AuthorizationRequest,
    /// True when an expired request was replaced by this one: the person
    /// must be told the old URL is dead.
    pub replaced: bool,
}

impl<P: Payload> TokenManager<P> {
    /// The live login request for this account, whichever process started
    /// it (see [`PendingLogins`](crate::store::PendingLogins)), or a new one
    /// started and shared when none is live. An expired request is replaced
    /// and a [`Event::Warning`] says its URL no longer works.
    pub async fn login_request(&self) -> Result<LoginRequest, Error> {
        self.login_request_with(true).await
    }

    /// [`TokenManager::login_request`] for the login prompter, which tells
    /// the person about a replaced URL in the prompt itself (no separate
    /// warning).
    pub(super) async fn prompt_request(&self) -> Result<LoginRequest, Error> {
        self.login_request_with(false).await
    }

    async fn login_request_with(&self, warn: bool) -> Result<LoginRequest, Error> {
        // This process first, then the other processes sharing the place.
        let _local = self.inner.login_lock.lock().await;
        let lease = self
            .inner
            .pending
            .lock(&self.inner.key, self.inner.config.lease_wait)
            .await?;
        let result = self.login_request_locked(warn).await;
        if let Some(lease) = lease {
            if let Err(e) = lease.release().await {
                tracing::warn!(account = %self.inner.key, error = %e, "could not release the login lock");
            }
        }
        result
    }

    /// `warn`: tell the person (an event) when a stale request is replaced.
    async fn login_request_locked(&self, warn: bool) -> Result<LoginRequest, Error> {
        let key = &self.inner.key;
        let now = self.inner.clock.now();
        let stale = match self.inner.pending.load(key).await? {
            Some(req) if is_live(&req, now) => {
                return Ok(LoginRequest {
                    request: req,
                    replaced: false,
                })
            }
            Some(stale) => Some(stale),
            None => None,
        };
        let request = self.inner.provider.start_authorization(key).await?;
        self.inner.pending.save(&request).await?;
        if let Some(reauth) = self.status().reauth.as_mut() {
            reauth.url = Some(request.url.clone());
        }
        if stale.is_some() && warn {
            self.emit(Event::Warning {
                key: key.clone(),
                at: now,
                message: format!(
                    "the login URL sent earlier for {key} has expired and no longer works; open the new one: {}",
                    request.url
                ),
            });
        }
        Ok(LoginRequest {
            request,
            replaced: stale.is_some(),
        })
    }

    /// The login request pending for this account (live or stale), without
    /// starting one: `None` when no process has started one.
    pub async fn pending_authorization(&self) -> Result<Option<AuthorizationRequest>, Error> {
        Ok(self.inner.pending.load(&self.inner.key).await?)
    }

    /// Starts an interactive authorization, or returns the live one any
    /// process sharing the pending logins started, and returns what a
    /// person must do. See [`TokenManager::login_request`].
    pub async fn begin_authorization(&self) -> Result<AuthorizationRequest, Error> {
        self.login_request().await.map(|l| l.request)
    }

    /// Completes the pending authorization (whichever process started it)
    /// with what the person brought back (verifier or redirect URL), saves
    /// and installs the new credentials, and forgets the request (it is
    /// single use).
    ///
    /// Fails with [`Error::AuthorizationExpired`] (carrying the new URL)
    /// when the pending request had expired, and with [`Error::Config`]
    /// when no login is in progress.
    pub async fn complete_authorization(
        &self,
        response: &SecretString,
    ) -> Result<Credentials<P>, Error> {
        let key = &self.inner.key;
        let now = self.inner.clock.now();
        let request = match self.inner.pending.load(key).await? {
            Some(req) if !is_live(&req, now) => {
                // The person answered a request that is no longer valid:
                // start a new one and say where, rather than fail at the broker.
                let fresh = self.login_request().await?;
                return Err(Error::AuthorizationExpired {
                    url: fresh.request.url,
                });
            }
            Some(req) => req,
            None => {
                return Err(Error::Config(format!(
                    "no login is in progress for {key}: start one first, then answer its URL"
                )))
            }
        };
        let record = match self
            .inner
            .provider
            .complete_authorization(&request, response)
            .await
        {
            Ok(record) => record,
            Err(e) => {
                // A refused setting (e.g. the redirect URI): another login
                // will not help; say what will.
                if !e.is_retryable() && !e.remedy().needs_login() {
                    self.raise_person_action(now, &e, e.remedy());
                }
                return Err(e);
            }
        };
        if let Err(e) = self.inner.pending.remove(key).await {
            // The broker will refuse the used request anyway.
            tracing::warn!(account = %key, error = %e, "could not forget the finished login request");
        }
        self.install_authorized(record).await
    }

    /// Saves and installs credentials obtained by a person (or by a test),
    /// clearing any "re-authorization required" state.
    pub async fn install_authorized(&self, record: Record<P>) -> Result<Credentials<P>, Error> {
        // Serialized with renewals, keep-alives and save retries, so none of
        // them can put the old credentials back over these.
        let _guard = self.inner.renewal_lock.lock().await;
        self.status().authorization.revoked = false;
        let creds = self.persist_and_install(record).await;
        let now = self.inner.clock.now();
        let recovered = self.status().new_credentials();
        self.emit(Event::Authorized {
            key: self.inner.key.clone(),
            at: now,
        });
        self.emit_recovered(recovered, now);
        Ok(creds)
    }

    /// Revokes the credentials at the broker and deletes them from the store.
    pub async fn revoke(&self) -> Result<(), Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        if let Some(record) = self.current_record() {
            match self.inner.provider.revoke(&record).await {
                Ok(()) | Err(Error::Unsupported(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // Dead at the broker: never hand out, re-save or reload these again,
        // even if deleting them from the store fails.
        self.inner.current.store(None);
        {
            let mut st = self.status();
            st.authorization.revoked = true;
            st.saving.unsaved = None;
            st.saving.retry_at = None;
        }
        self.inner.changed.notify_one();
        self.inner.store.delete(&self.inner.key).await?;
        Ok(())
    }
}

/// Whether `request` can still be answered at `now`.
fn is_live(request: &AuthorizationRequest, now: DateTime<Utc>) -> bool {
    request.expires_at.is_none_or(|e| e > now)
}
