//! Authorization: what a person does. Begin (or reuse) an interactive
//! authorization, resume one an earlier process started, complete it,
//! install what it yields, and revoke. Owns the `authorization` part of the
//! status.

use secrecy::SecretString;

use super::{Credentials, TokenManager};
use crate::error::Error;
use crate::events::Event;
use crate::provider::AuthorizationRequest;
use crate::record::{Payload, Record};

impl<P: Payload> TokenManager<P> {
    /// Makes `request` (started by an earlier process and kept by the
    /// caller) the pending authorization, so [`TokenManager::complete_authorization`]
    /// finishes it. Fails with a configuration error for another account's request.
    pub fn resume_authorization(&self, request: AuthorizationRequest) -> Result<(), Error> {
        if request.key != self.inner.key {
            return Err(Error::Config(format!(
                "authorization request for {} cannot complete {}",
                request.key, self.inner.key
            )));
        }
        self.status().authorization.pending = Some(request);
        Ok(())
    }

    /// Starts (or reuses a still-valid pending) interactive authorization and
    /// returns what a person must do.
    pub async fn begin_authorization(&self) -> Result<AuthorizationRequest, Error> {
        let now = self.inner.clock.now();
        let pending = self.status().authorization.pending.clone();
        if let Some(req) = pending {
            if req.expires_at.is_none_or(|e| e > now) {
                return Ok(req);
            }
        }
        let req = self
            .inner
            .provider
            .start_authorization(&self.inner.key)
            .await?;
        self.status().authorization.pending = Some(req.clone());
        Ok(req)
    }

    /// Completes the pending authorization with what the person brought back
    /// (verifier or redirect URL). Saves and installs the new credentials.
    pub async fn complete_authorization(
        &self,
        response: &SecretString,
    ) -> Result<Credentials<P>, Error> {
        let pending = self.status().authorization.pending.clone();
        let now = self.inner.clock.now();
        let request = match pending {
            Some(req) if req.expires_at.is_some_and(|e| e <= now) => {
                // The person answered a request that is no longer valid: start
                // a new one and say where, rather than fail at the broker.
                self.status().authorization.pending = None;
                let fresh = self.begin_authorization().await?;
                if let Some(reauth) = self.status().reauth.as_mut() {
                    reauth.url = Some(fresh.url.clone());
                }
                return Err(Error::AuthorizationExpired { url: fresh.url });
            }
            Some(req) => req,
            None => self.begin_authorization().await?,
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
        self.status().authorization.pending = None;
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
