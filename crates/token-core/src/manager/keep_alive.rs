//! Keep-alive: a cheap authenticated probe that resets the broker's idle
//! timer. A provider without a probe keeps alive by renewing; a probe
//! answered "inactive" renews (both through the one renewal path).
//!
//! A renewal meant to revive an inactive token is verified by one probe, so
//! a broker that answers the renewal with 200 but keeps the token dead
//! (E*TRADE has been seen doing so) raises "re-authorization required"
//! instead of a renewal every idle period:
//!
//! - the probe said inactive: renew, then probe once more at once
//!   ([`TokenManager::renew_and_verify`]);
//! - maintenance found the token idle ([`TokenManager::revive`]): renew; the
//!   next keep-alive probe is the verification (no extra call), and if it
//!   says inactive the manager escalates instead of renewing again.

use super::renewal::RenewMode;
use super::TokenManager;
use crate::error::{Error, ErrorKind, Unavailable};
use crate::events::{Event, RenewalReason};
use crate::record::Payload;

impl<P: Payload> TokenManager<P> {
    /// Sends a keep-alive probe now, as asked for explicitly (its event
    /// says [`RenewalReason::Operator`]; maintenance's own keep-alives say
    /// [`RenewalReason::KeepAlive`]).
    pub async fn keep_alive(&self) -> Result<(), Error> {
        self.keep_alive_for(RenewalReason::Operator).await
    }

    /// [`TokenManager::keep_alive`] for `reason`.
    pub(super) async fn keep_alive_for(&self, reason: RenewalReason) -> Result<(), Error> {
        let now = self.inner.clock.now();
        let Some(record) = self.current_record() else {
            return Err(Unavailable::NoToken.into());
        };
        if !self.inner.provider.capabilities().probe {
            return self.renew(RenewMode::KeepAlive, reason).await.map(|_| ());
        }
        let started = std::time::Instant::now();
        let outcome = self.inner.provider.probe(&record).await;
        let took = started.elapsed();
        // The first probe after a revival verifies it, whatever it says.
        let unverified = std::mem::take(&mut self.status().revival_unverified);
        match outcome {
            Ok(()) => {
                self.mark_used();
                // Persist the activity so other processes sharing the store
                // (a `tokenctl status`, another replica) see the token alive;
                // only if these are still the credentials in use (a login or
                // renewal may have replaced them while the probe ran).
                {
                    let _guard = self.inner.renewal_lock.lock().await;
                    if self.is_current(&record) {
                        let mut used = (*record).clone();
                        used.meta.last_used = Some(now);
                        self.persist_and_install(used).await;
                    }
                }
                let recovered = {
                    let mut st = self.status();
                    st.counters.keepalives += 1;
                    st.succeeded()
                };
                self.emit(Event::KeepAliveSent {
                    key: self.inner.key.clone(),
                    at: now,
                    reason,
                });
                self.emit_recovered(recovered, now);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Inactive && unverified && self.is_current(&record) => {
                Err(self.renewal_had_no_effect(&e).await)
            }
            Err(e) if e.kind() == ErrorKind::Inactive => {
                self.renew_and_verify(RenewMode::Always, RenewalReason::Inactive)
                    .await
            }
            Err(e) => {
                // A failure of credentials already replaced says nothing
                // about the new ones.
                if self.is_current(&record) {
                    self.handle_failure(now, &e, record.meta.expires_at, took)
                        .await;
                }
                Err(e)
            }
        }
    }

    /// Maintenance found the token idle: renews it (through the one renewal
    /// path) and leaves the verification to the next keep-alive probe (see
    /// the module docs), so an idle renewal costs no extra call.
    pub(super) async fn revive(&self, reason: RenewalReason) -> Result<(), Error> {
        let before = self.current_record();
        let renewed = self.renew(RenewMode::IfNeeded, reason).await?;
        if before.is_none_or(|b| !std::sync::Arc::ptr_eq(&b, &renewed)) {
            self.status().revival_unverified = true;
        }
        Ok(())
    }

    /// Renews (`mode`, through the one renewal path) to revive a token the
    /// broker holds inactive, then verifies with one probe when the broker
    /// was actually asked. Still inactive: see
    /// [`TokenManager::renewal_had_no_effect`]. Never more than one renewal
    /// and one probe.
    pub(super) async fn renew_and_verify(
        &self,
        mode: RenewMode,
        reason: RenewalReason,
    ) -> Result<(), Error> {
        let before = self.current_record();
        let renewed = self.renew(mode, reason).await?;
        let asked = before.is_none_or(|b| !std::sync::Arc::ptr_eq(&b, &renewed));
        if !asked || !self.inner.provider.capabilities().probe {
            return Ok(());
        }
        match self.inner.provider.probe(&renewed).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Inactive => Err(self.renewal_had_no_effect(&e).await),
            Err(e) => {
                // The renewal itself succeeded; a probe that could not get
                // an answer says nothing about it.
                tracing::warn!(account = %self.inner.key, error = %e, "could not verify the renewal");
                Err(e)
            }
        }
    }

    /// The broker still says inactive right after a renewal it accepted: the
    /// renewal did not revive the token, so a person must authorize
    /// ([`TokenManager::report_rejection`]: no more silent renewals of these
    /// credentials). Returns the [`Error::Rejected`] to answer with.
    async fn renewal_had_no_effect(&self, still: &Error) -> Error {
        let reason = format!(
            "the broker accepted a renewal but still refuses the token as inactive \
             ({still}): the renewal did not revive the token; authorize this account again"
        );
        tracing::warn!(account = %self.inner.key, %reason, "renewal had no effect");
        self.report_rejection(&reason).await;
        Error::Rejected { reason }
    }
}
