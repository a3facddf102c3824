//! Escalation: what a failure leads to, by its [`Remedy`]
//! ([`Error::remedy`]). Retryable failures back off (the `failures` part of
//! the status; remedy `Wait`). A cause a login fixes raises
//! "re-authorization required" with a fresh URL (the `reauth` part). A
//! setting or PIN the broker refused raises a person action naming the
//! remedy ([`Event::PersonActionRequired`]), never a login URL. Either of
//! the last two stops silent renewals of these credentials until a person
//! acts (a login, a restart with fixed settings, or
//! [`TokenManager::clear_rejection`]). Meanwhile the still-valid
//! credentials keep being served.

use chrono::{DateTime, Duration, Utc};

use super::status::Reauth;
use super::{millis, TokenManager};
use crate::error::Error;
use crate::events::Event;
use crate::record::Payload;
use crate::remedy::Remedy;

impl<P: Payload> TokenManager<P> {
    /// Tells the manager the broker refused the credentials outright (e.g.
    /// an API call answered `token_rejected`): raises "re-authorization
    /// required" (with a fresh URL) and stops silent renewals until a
    /// person authorizes.
    pub async fn report_rejection(&self, reason: &str) {
        self.raise_reauth_for(reason, true).await;
        // Ask the person now if a login window is open (or none applies).
        self.tend_login(self.inner.clock.now()).await;
    }

    /// Allows silent renewal again after a rejection, once the cause was
    /// fixed without a new login (e.g. a corrected FYERS PIN or consumer
    /// secret). Clears the "re-authorization required" / person-action
    /// state; the next renewal asks the broker.
    pub fn clear_rejection(&self) {
        let mut st = self.status();
        if st.reauth.as_ref().is_some_and(|r| r.rejected) {
            st.reauth = None;
        }
    }

    /// The error to answer with when the broker refused the credentials
    /// held (no silent renewal may re-send them): the refusal itself for a
    /// setting or PIN, [`Error::Rejected`] with the broker's words otherwise.
    pub(super) fn refusal(&self) -> Option<Error> {
        self.status()
            .reauth
            .as_ref()
            .filter(|r| r.rejected)
            .map(|r| match &r.refused_with {
                Some(e) => e.clone(),
                None => Error::Rejected {
                    reason: r.reason.clone(),
                },
            })
    }

    /// Whether renewals and keep-alives must wait for the backoff at `now`.
    pub(super) fn backing_off(&self, now: DateTime<Utc>) -> bool {
        self.status().failures.retry_at.is_some_and(|r| now < r)
    }

    /// Retryable: back off. Otherwise a person must act.
    pub(super) async fn handle_failure(
        &self,
        now: DateTime<Utc>,
        e: &Error,
        deadline: Option<DateTime<Utc>>,
        took: std::time::Duration,
    ) {
        tracing::warn!(account = %self.inner.key, kind = ?e.kind(), error = %e, "renewal failed");
        let retryable = e.is_retryable();
        let retry_at = {
            let mut st = self.status();
            st.failed(now, e);
            retryable.then(|| {
                let left = deadline.map(|d| d - now).filter(|d| *d > Duration::zero());
                let mut delay = self.inner.config.retry.delay(st.failures.consecutive, left);
                if let Error::Transient {
                    retry_after: Some(after),
                    ..
                } = e
                {
                    if let Ok(after) = Duration::from_std(*after) {
                        delay = delay.max(after);
                    }
                }
                let at = now + delay;
                st.failures.retry_at = Some(at);
                at
            })
        };
        self.emit(Event::RenewalFailed {
            key: self.inner.key.clone(),
            at: now,
            kind: e.kind(),
            error: e.to_string(),
            retry_at,
            took_ms: millis(took),
        });
        if !retryable {
            match e.remedy() {
                Remedy::LogIn => {
                    self.raise_reauth_for(&format!("renewal refused: {e}"), true)
                        .await
                }
                remedy => self.raise_person_action(now, e, remedy),
            }
        }
    }

    /// Raises a person action that a login does not fix (a setting or the
    /// PIN): no authorization URL is started, silent renewals of these
    /// credentials stop, and [`Event::PersonActionRequired`] says what to
    /// do. Once per remedy and episode; a more specific cause replaces a
    /// pending "log in".
    pub(super) fn raise_person_action(&self, now: DateTime<Utc>, error: &Error, remedy: Remedy) {
        let reason = error.to_string();
        {
            let mut st = self.status();
            if let Some(existing) = st.reauth.as_mut() {
                if existing.remedy == remedy {
                    existing.rejected = true;
                    return;
                }
            }
            st.reauth = Some(Reauth {
                reason: reason.clone(),
                url: None,
                remedy: remedy.clone(),
                refused_with: Some(error.clone()),
                rejected: true,
            });
            st.trouble.troubled = true;
        }
        self.emit(Event::PersonActionRequired {
            key: self.inner.key.clone(),
            at: now,
            remedy,
            reason,
        });
    }

    /// Raises "re-authorization required" once per episode, with a fresh
    /// authorization URL when the provider can make one.
    pub(super) async fn raise_reauth(&self, reason: &str) {
        self.raise_reauth_for(reason, false).await
    }

    /// `rejected`: the broker refused the credentials, so no silent renewal
    /// is attempted again until a person authorizes (a wrong PIN retried
    /// could lock the account).
    async fn raise_reauth_for(&self, reason: &str, rejected: bool) {
        {
            let mut st = self.status();
            if let Some(existing) = st.reauth.as_mut() {
                existing.rejected |= rejected;
                return;
            }
        }
        let url = if self.inner.provider.capabilities().authorize {
            match self.begin_authorization().await {
                Ok(req) => Some(req.url),
                // The broker refused a setting when asked to start a login
                // (e.g. E*TRADE's request token with a wrong consumer
                // secret): a login cannot work until it is fixed.
                Err(e) if !e.is_retryable() && !e.remedy().needs_login() => {
                    let now = self.inner.clock.now();
                    self.raise_person_action(now, &e, e.remedy());
                    return;
                }
                Err(e) => {
                    tracing::warn!(account = %self.inner.key, error = %e, "could not start authorization");
                    None
                }
            }
        } else {
            None
        };
        let now = self.inner.clock.now();
        {
            let mut st = self.status();
            st.reauth = Some(Reauth {
                reason: reason.to_string(),
                url: url.clone(),
                remedy: Remedy::LogIn,
                refused_with: None,
                rejected,
            });
            st.trouble.troubled = true;
        }
        // Raised outside a maintenance pass (e.g. a keep-alive asked for
        // over HTTP): the loop must re-plan, to look for a login by another
        // process every `reauth_poll`.
        self.inner.changed.notify_one();
        self.emit(Event::ReauthorizationRequired {
            key: self.inner.key.clone(),
            at: now,
            reason: reason.to_string(),
            url,
        });
        // The maintenance pass asks the person (person.rs), now or at the window.
        self.inner.changed.notify_one();
    }
}
