//! Renewal: the one path every silent renewal takes, whoever asks.
//!
//! `ensure_fresh` / `renew_now` / `renew_if_current` (callers), the
//! keep-alive fallback and the maintenance pass all call
//! [`TokenManager::renew`], which runs in the caller's own task:
//!
//! 1. [`SingleFlight`](super::SingleFlight): concurrent requests share one flight;
//! 2. the renewal lock (this process), then the store's lease (other
//!    processes sharing the store);
//! 3. adopt a newer record another process saved, then evaluate the policy
//!    once and re-check whether the broker must still be asked;
//! 4. ask the provider, then save and install (`persistence.rs`) or
//!    handle the failure (`escalation.rs`).

use chrono::{DateTime, Utc};

use super::{millis, Credentials, TokenManager};
use crate::error::{Error, Unavailable};
use crate::events::{Event, RenewalReason};
use crate::policy::TokenState;
use crate::record::{Payload, Record};

/// When a renewal should actually call the broker, decided again after the
/// renewal lock is held and the store re-read (someone may have renewed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RenewMode {
    /// Only if the credentials are not usable.
    IfNeeded,
    /// Only if the credentials are not fresh (keep-alive by renewal).
    KeepAlive,
    /// Only if not usable or the schedule is still due.
    IfScheduleDue,
    /// Always (asked for explicitly, or the broker said inactive).
    Always,
}

impl<P: Payload> TokenManager<P> {
    /// Returns usable credentials, renewing silently first when the policy
    /// says the held ones are idle. Concurrent callers share one renewal.
    ///
    /// Fails with [`Unavailable::Expired`] / [`Unavailable::NoToken`] when only
    /// a person can help (a `ReauthorizationRequired` event says where), or
    /// with the renewal's error.
    pub async fn ensure_fresh(&self) -> Result<Credentials<P>, Error> {
        if self.inner.current.load().is_none() {
            self.load().await?;
        }
        match self.token() {
            Ok(creds) => Ok(creds.to_arc()),
            // Idle or past its access end: the renewal's one evaluation
            // tells which (`renew_locked`).
            Err(Unavailable::Idle) => self.renew(RenewMode::IfNeeded, RenewalReason::Idle).await,
            Err(other) => {
                // Another process (a `tokenctl login`) may have stored new
                // credentials since: look before asking for a person.
                if self.reload_if_newer().await.unwrap_or(false) {
                    if let Ok(creds) = self.token() {
                        return Ok(creds.to_arc());
                    }
                }
                Err(other.into())
            }
        }
    }

    /// Renews now even if the credentials are fresh (single flight). The
    /// `Renewed` event says [`RenewalReason::Operator`]: this is the
    /// explicit request (control `POST /refresh`, `tokenctl renew`).
    pub async fn renew_now(&self) -> Result<Credentials<P>, Error> {
        self.renew(RenewMode::Always, RenewalReason::Operator).await
    }

    /// Renews because a broker call made with `used` was refused as
    /// inactive, unless the credentials were already replaced since `used`
    /// was handed out (then the newer ones are returned without a call).
    /// Concurrent callers share one renewal.
    pub async fn renew_if_current(&self, used: &Credentials<P>) -> Result<Credentials<P>, Error> {
        let replaced = self
            .current_record()
            .is_some_and(|current| !std::sync::Arc::ptr_eq(&current, used));
        if replaced {
            if let Ok(creds) = self.peek() {
                return Ok(creds);
            }
        }
        let mode = if replaced {
            RenewMode::IfNeeded
        } else {
            RenewMode::Always
        };
        self.renew(mode, RenewalReason::Inactive).await
    }

    /// The one renewal path: joins the flight under way or runs one in this
    /// task. A request that needs the broker asked (`Always`) does not
    /// settle for a flight that may decide not to ask: it waits for that
    /// flight, then runs its own (bounded: at most two extra waits).
    /// `reason` is what triggered this request; the `Renewed` event of a
    /// flight carries the reason of the request that flew it.
    pub(super) async fn renew(
        &self,
        mode: RenewMode,
        reason: RenewalReason,
    ) -> Result<Credentials<P>, Error> {
        let fly = || async move { (self.renew_exclusive(mode, reason).await, mode) };
        for _ in 0..2 {
            let (result, flown) = self.inner.flight.run(fly).await;
            if flown == mode || mode != RenewMode::Always {
                return result;
            }
        }
        self.inner.flight.run(fly).await.0
    }

    /// Under the renewal lock and the store's lease, with a re-check so
    /// queued callers and other processes sharing the store do not renew twice.
    async fn renew_exclusive(
        &self,
        mode: RenewMode,
        reason: RenewalReason,
    ) -> Result<Credentials<P>, Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        let config = &self.inner.config;
        let lease = match self
            .inner
            .store
            .lease(&self.inner.key, config.lease_ttl, config.lease_wait)
            .await
        {
            Ok(lease) => lease,
            Err(e) => {
                // Someone else is renewing (or the store is down): use what
                // they saved if it meets the need, otherwise retry later.
                self.adopt_newer_locked().await;
                let now = self.inner.clock.now();
                if let Some(record) = self.current_record() {
                    let state = self.evaluate_at(&record, now).state;
                    if !self.renewal_needed(mode, &record, state, now) {
                        return Ok(record);
                    }
                }
                let e = Error::Store(e);
                self.handle_failure(now, &e, None, std::time::Duration::ZERO)
                    .await;
                return Err(e);
            }
        };
        let result = self.renew_locked(mode, reason).await;
        if let Some(lease) = lease {
            if let Err(e) = lease.release().await {
                tracing::warn!(account = %self.inner.key, error = %e, "could not release renewal lease");
            }
        }
        result
    }

    /// Whether `mode` still calls for asking the broker, given the record
    /// held now (possibly just adopted from another process) and its state.
    fn renewal_needed(
        &self,
        mode: RenewMode,
        record: &Record<P>,
        state: TokenState,
        now: DateTime<Utc>,
    ) -> bool {
        match mode {
            RenewMode::IfNeeded => !state.is_usable(),
            RenewMode::KeepAlive => state != TokenState::Fresh,
            RenewMode::IfScheduleDue => !state.is_usable() || self.schedule_due(record, now),
            RenewMode::Always => true,
        }
    }

    async fn renew_locked(
        &self,
        mode: RenewMode,
        reason: RenewalReason,
    ) -> Result<Credentials<P>, Error> {
        let now = self.inner.clock.now();
        self.adopt_newer_locked().await;
        let Some(record) = self.current_record() else {
            self.raise_reauth("no credentials: authorize this account")
                .await;
            return Err(Unavailable::NoToken.into());
        };
        let ev = self.evaluate_at(&record, now);
        let state = ev.state;
        if state == TokenState::Expired {
            self.raise_reauth("credentials expired").await;
            return Err(Unavailable::Expired.into());
        }
        // A lapse is "idle" until this evaluation shows the access end passed.
        let reason = match reason {
            RenewalReason::Idle if ev.expires_at.is_some_and(|e| e <= now) => {
                RenewalReason::Expired
            }
            other => other,
        };
        if !self.renewal_needed(mode, &record, state, now) {
            return Ok(record);
        }
        if let Some(refused) = self.refusal() {
            // Never re-send credentials the broker refused.
            return Err(refused);
        }
        if !self.inner.provider.capabilities().renew {
            self.raise_reauth("this broker cannot renew silently").await;
            return Err(Error::Unsupported("renew"));
        }
        let started = std::time::Instant::now();
        let outcome = self.inner.provider.renew(&record).await;
        let took = started.elapsed();
        match outcome {
            Ok(renewed) => {
                let creds = self.persist_and_install(renewed).await;
                let recovered = {
                    let mut st = self.status();
                    st.counters.renewals += 1;
                    st.reauth = None;
                    st.succeeded()
                };
                self.emit(Event::Renewed {
                    key: self.inner.key.clone(),
                    at: now,
                    reason,
                    scheduled: reason == RenewalReason::Scheduled,
                    took_ms: millis(took),
                });
                self.emit_recovered(recovered, now);
                Ok(creds)
            }
            Err(e) => {
                let deadline = record.meta.refresh_expires_at.or(record.meta.expires_at);
                self.handle_failure(now, &e, deadline, took).await;
                Err(e)
            }
        }
    }

    /// When the configured schedule next renews credentials like `record`.
    pub(super) fn next_scheduled(&self, record: &Record<P>) -> Option<DateTime<Utc>> {
        let base = record
            .meta
            .renewed_at
            .map_or(record.meta.issued_at, |r| r.max(record.meta.issued_at));
        self.inner.config.schedule.and_then(|s| s.next_after(base))
    }

    /// Whether a scheduled renewal of `record` is due at `now`.
    pub(super) fn schedule_due(&self, record: &Record<P>, now: DateTime<Utc>) -> bool {
        self.inner.provider.capabilities().renew
            && self.next_scheduled(record).is_some_and(|t| t <= now)
    }
}
