//! Maintenance: what the manager does when time passes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::state::Reauth;
use super::{Credentials, RenewMode, TokenManager};
use crate::clock::lock;
use crate::error::{Error, ErrorKind};
use crate::events::Event;
use crate::health::{AccountHealth, HealthStatus};
use crate::policy::TokenState;
use crate::record::{Payload, Record, StoredRecord};
use crate::store::TokenStoreExt;

/// Stops a spawned maintenance task.
#[derive(Debug)]
pub struct MaintenanceHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MaintenanceHandle {
    /// Stops the task and waits for it to finish its current pass.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl<P: Payload> TokenManager<P> {
    /// Spawns the maintenance loop on the current tokio runtime: run a pass,
    /// sleep on the manager's clock until the next deadline (or until the
    /// credentials change), repeat. Idle accounts cost no wakeups.
    pub fn spawn_maintenance(&self) -> MaintenanceHandle {
        let (stop, mut stopped) = watch::channel(false);
        let this = self.clone();
        let mut changes = self.inner.store.changes();
        let task = tokio::spawn(async move {
            loop {
                // Boxed so the pass's (large) state lives only while it runs,
                // not in every sleeping account's task.
                let next = Box::pin(this.maintain()).await;
                let clock = this.inner.clock.clone();
                // Nothing due: sleep "forever" on the clock (a manual clock
                // still counts us as asleep; a change of credentials wakes us).
                let until = next.unwrap_or(DateTime::<Utc>::MAX_UTC);
                let sleep = async move { clock.sleep_until(until).await };
                let store_changed = async {
                    match changes.as_mut() {
                        Some(rx) => loop {
                            match rx.recv().await {
                                Ok(key) if key == this.inner.key => return,
                                Ok(_) => {}
                                // Missed notifications: reload to be safe.
                                Err(broadcast::error::RecvError::Lagged(_)) => return,
                                Err(broadcast::error::RecvError::Closed) => {
                                    std::future::pending::<()>().await
                                }
                            }
                        },
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = this.inner.changed.notified() => {}
                    _ = store_changed => {
                        let _ = this.reload_if_newer().await;
                    }
                    _ = sleep => {}
                }
            }
        });
        MaintenanceHandle { stop, task }
    }

    /// One maintenance pass at the clock's current instant. Returns when the
    /// next pass is due (`None`: nothing will change by time alone).
    pub async fn maintain(&self) -> Option<DateTime<Utc>> {
        self.inner.passes.fetch_add(1, Ordering::Relaxed);
        let now = self.inner.clock.now();
        self.retry_save(now).await;
        if self.inner.current.load().is_none() {
            match self.load().await {
                Ok(true) => {}
                Ok(false) => {
                    self.raise_reauth("no credentials: authorize this account")
                        .await
                }
                Err(e) => self.note_store_error(now, e),
            }
        }
        if let Some(record) = self.current_record() {
            self.act(now, &record).await;
        }
        let next = self.next_wake(now);
        lock(&self.inner.status).next_action_at = next;
        next
    }

    async fn act(&self, now: DateTime<Utc>, record: &Record<P>) {
        let ev = self.inner.policy.evaluate(&self.meta_with_use(record), now);
        let (gated, reauth) = {
            let st = lock(&self.inner.status);
            (st.retry_at.is_some_and(|r| now < r), st.reauth.is_some())
        };
        match ev.state {
            TokenState::Expired if self.reload_if_newer().await.unwrap_or(false) => {
                // A person logged in from another process: use that.
            }
            TokenState::Expired => {
                let first =
                    !std::mem::replace(&mut lock(&self.inner.status).expired_reported, true);
                if first {
                    self.emit(Event::Expired {
                        key: self.inner.key.clone(),
                        at: now,
                    });
                }
                self.raise_reauth("credentials expired").await;
            }
            TokenState::Idle if !gated && !reauth => {
                let _ = self.renew_shared(RenewMode::IfNeeded).await;
            }
            TokenState::KeepAliveDue if !gated => {
                let _ = self.keep_alive_inner().await;
            }
            TokenState::Fresh if !gated && !reauth && self.schedule_due(record, now) => {
                let _ = self.renew_shared(RenewMode::IfScheduleDue).await;
            }
            _ => {}
        }
        if let Some(deadline) = ev.reauthorize_by {
            let warn_at = deadline - self.inner.config.expiry_warning;
            let first = {
                let mut st = lock(&self.inner.status);
                let first = now >= warn_at && now < deadline && st.warned_for != Some(deadline);
                if first {
                    st.warned_for = Some(deadline);
                }
                first
            };
            if first {
                self.emit(Event::ExpiringSoon {
                    key: self.inner.key.clone(),
                    at: now,
                    deadline,
                });
            }
        }
    }

    fn next_scheduled(&self, record: &Record<P>) -> Option<DateTime<Utc>> {
        let base = record
            .meta
            .renewed_at
            .map_or(record.meta.issued_at, |r| r.max(record.meta.issued_at));
        self.inner.config.schedule.and_then(|s| s.next_after(base))
    }

    fn schedule_due(&self, record: &Record<P>, now: DateTime<Utc>) -> bool {
        self.inner.provider.capabilities().renew
            && self.next_scheduled(record).is_some_and(|t| t <= now)
    }

    fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let st_times = {
            let st = lock(&self.inner.status);
            [
                st.retry_at,
                st.save_retry_at.filter(|_| st.unsaved.is_some()),
            ]
        };
        let mut candidates: Vec<DateTime<Utc>> = st_times.into_iter().flatten().collect();
        if let Some(record) = self.current_record() {
            let ev = self
                .inner
                .policy
                .evaluate(&self.meta_with_use(&record), now);
            candidates.extend(ev.next_change);
            if ev.state == TokenState::Fresh {
                candidates.extend(self.next_scheduled(&record));
            }
            if let Some(deadline) = ev.reauthorize_by {
                let warn_at = deadline - self.inner.config.expiry_warning;
                if lock(&self.inner.status).warned_for != Some(deadline) {
                    candidates.push(warn_at);
                }
            }
        }
        if lock(&self.inner.status).reauth.is_some() {
            // Another process may save a person's login: look now and then.
            candidates.push(now + self.inner.config.reauth_poll);
        }
        let next = candidates.into_iter().filter(|t| *t > now).min();
        next.or_else(|| {
            // Something is due right now but could not act (e.g. backoff gate
            // equal to now): look again shortly rather than spin.
            let st = lock(&self.inner.status);
            (st.retry_at.is_some() || st.unsaved.is_some()).then(|| now + Duration::seconds(1))
        })
    }

    /// The renewal itself, under the renewal lock, with a re-check so queued
    /// callers and other processes sharing the store do not renew twice.
    pub(super) async fn renew_exclusive(&self, mode: RenewMode) -> Result<Credentials<P>, Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        // Other processes sharing the store: take its lease, then re-read.
        let lease = match self
            .inner
            .store
            .lease(
                &self.inner.key,
                self.inner.config.lease_ttl,
                self.inner.config.lease_wait,
            )
            .await
        {
            Ok(lease) => lease,
            Err(e) => {
                // Someone else is renewing (or the store is down): use what
                // they saved if it meets the need, otherwise retry later.
                self.adopt_newer_from_store().await;
                let now = self.inner.clock.now();
                if let Some(record) = self.current_record() {
                    if !self.renewal_needed(mode, &record, now) {
                        return Ok(record);
                    }
                }
                let e = Error::Store(e);
                self.handle_failure(self.inner.clock.now(), &e, None, StdDuration::ZERO)
                    .await;
                return Err(e);
            }
        };
        let result = self.renew_locked(mode).await;
        if let Some(lease) = lease {
            if let Err(e) = lease.release().await {
                tracing::warn!(account = %self.inner.key, error = %e, "could not release renewal lease");
            }
        }
        result
    }

    /// Whether `mode` still calls for asking the broker, given the record
    /// held now (possibly just adopted from another process).
    fn renewal_needed(&self, mode: RenewMode, record: &Record<P>, now: DateTime<Utc>) -> bool {
        let state = self
            .inner
            .policy
            .evaluate(&self.meta_with_use(record), now)
            .state;
        match mode {
            RenewMode::IfNeeded => !state.is_usable(),
            RenewMode::KeepAlive => state != TokenState::Fresh,
            RenewMode::IfScheduleDue => !state.is_usable() || self.schedule_due(record, now),
            RenewMode::Always => true,
        }
    }

    async fn renew_locked(&self, mode: RenewMode) -> Result<Credentials<P>, Error> {
        let now = self.inner.clock.now();
        self.adopt_newer_from_store().await;
        let Some(record) = self.current_record() else {
            self.raise_reauth("no credentials: authorize this account")
                .await;
            return Err(crate::error::Unavailable::NoToken.into());
        };
        let state = self
            .inner
            .policy
            .evaluate(&self.meta_with_use(&record), now)
            .state;
        if state == TokenState::Expired {
            self.raise_reauth("credentials expired").await;
            return Err(crate::error::Unavailable::Expired.into());
        }
        if !self.renewal_needed(mode, &record, now) {
            return Ok(record);
        }
        let refused = lock(&self.inner.status)
            .reauth
            .as_ref()
            .filter(|r| r.rejected)
            .map(|r| r.reason.clone());
        if let Some(reason) = refused {
            // Never re-send credentials the broker refused.
            return Err(Error::Rejected { reason });
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
                    let mut st = lock(&self.inner.status);
                    st.renewals += 1;
                    st.reauth = None;
                    st.succeeded()
                };
                self.emit(Event::Renewed {
                    key: self.inner.key.clone(),
                    at: now,
                    scheduled: mode == RenewMode::IfScheduleDue,
                    took_ms: millis(took),
                });
                self.emit_recovered(recovered, now);
                Ok(creds)
            }
            Err(e) => {
                self.handle_failure(
                    now,
                    &e,
                    record.meta.refresh_expires_at.or(record.meta.expires_at),
                    took,
                )
                .await;
                Err(e)
            }
        }
    }

    /// Another process sharing the store may have renewed already: use its
    /// record when it is newer than ours.
    /// (The caller holds the renewal lock.)
    async fn adopt_newer_from_store(&self) {
        let _ = self.reload_newer_locked().await;
    }

    /// Re-reads the store and adopts its record when it is newer than the
    /// held one (another process renewed it or a person logged in there).
    /// Returns whether it did.
    pub async fn reload_if_newer(&self) -> Result<bool, Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        self.reload_newer_locked().await
    }

    async fn reload_newer_locked(&self) -> Result<bool, Error> {
        if lock(&self.inner.status).revoked {
            return Ok(false);
        }
        let Some(stored) = self.inner.store.load_typed::<P>(&self.inner.key).await? else {
            return Ok(false);
        };
        let newer = match self.current_record() {
            Some(ours) => {
                let stamp = |r: &Record<P>| (r.meta.issued_at, r.meta.renewed_at);
                let different = || {
                    let fields =
                        |r: &Record<P>| crate::record::SecretFields::from_payload(&r.payload).ok();
                    fields(&stored) != fields(&ours)
                };
                stamp(&stored) > stamp(&ours) || (stamp(&stored) == stamp(&ours) && different())
            }
            None => true,
        };
        if newer && lock(&self.inner.status).unsaved.is_none() {
            self.adopt(stored);
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) async fn keep_alive_inner(&self) -> Result<(), Error> {
        let now = self.inner.clock.now();
        let Some(record) = self.current_record() else {
            return Err(crate::error::Unavailable::NoToken.into());
        };
        if !self.inner.provider.capabilities().probe {
            return self.renew_shared(RenewMode::KeepAlive).await.map(|_| ());
        }
        let started = std::time::Instant::now();
        let outcome = self.inner.provider.probe(&record).await;
        let took = started.elapsed();
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
                    let mut st = lock(&self.inner.status);
                    st.keepalives += 1;
                    st.succeeded()
                };
                self.emit(Event::KeepAliveSent {
                    key: self.inner.key.clone(),
                    at: now,
                });
                self.emit_recovered(recovered, now);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Inactive => {
                self.renew_shared(RenewMode::Always).await.map(|_| ())
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

    /// Transient: back off and retry. Rejection or misconfiguration: a person
    /// must act. Either way the still-valid credentials keep being served.
    async fn handle_failure(
        &self,
        now: DateTime<Utc>,
        e: &Error,
        deadline: Option<DateTime<Utc>>,
        took: StdDuration,
    ) {
        tracing::warn!(account = %self.inner.key, kind = ?e.kind(), error = %e, "renewal failed");
        let retry_at = if e.is_retryable() {
            let mut st = lock(&self.inner.status);
            st.failed(now, e);
            let left = deadline.map(|d| d - now).filter(|d| *d > Duration::zero());
            let mut delay = self.inner.config.retry.delay(st.consecutive_failures, left);
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
            st.retry_at = Some(at);
            Some(at)
        } else {
            lock(&self.inner.status).failed(now, e);
            None
        };
        self.emit(Event::RenewalFailed {
            key: self.inner.key.clone(),
            at: now,
            kind: e.kind(),
            error: e.to_string(),
            retry_at,
            took_ms: millis(took),
        });
        if !e.is_retryable() {
            self.raise_reauth_for(&format!("renewal refused: {e}"), true)
                .await;
        }
    }

    /// Raises "re-authorization required" once per episode, with a fresh
    /// authorization URL when the provider can make one.
    pub(super) async fn raise_reauth(&self, reason: &str) {
        self.raise_reauth_for(reason, false).await
    }

    /// `rejected`: the broker refused the credentials, so no silent renewal
    /// is attempted again until a person authorizes (a wrong PIN retried
    /// could lock the account).
    pub(super) async fn raise_reauth_for(&self, reason: &str, rejected: bool) {
        {
            let mut st = lock(&self.inner.status);
            if let Some(existing) = st.reauth.as_mut() {
                existing.rejected |= rejected;
                return;
            }
        }
        let url = if self.inner.provider.capabilities().authorize {
            match self.begin_authorization().await {
                Ok(req) => Some(req.url),
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
            let mut st = lock(&self.inner.status);
            st.reauth = Some(Reauth {
                reason: reason.to_string(),
                url: url.clone(),
                rejected,
            });
            st.troubled = true;
        }
        self.emit(Event::ReauthorizationRequired {
            key: self.inner.key.clone(),
            at: now,
            reason: reason.to_string(),
            url,
        });
    }

    pub(super) fn store_failed(&self, now: DateTime<Utc>, e: Error, unsaved: Option<StoredRecord>) {
        let retry_at = {
            let mut st = lock(&self.inner.status);
            if let Some(record) = unsaved {
                st.unsaved = Some(record);
            }
            st.store_failures += 1;
            st.troubled = true;
            st.last_error = Some(crate::health::LastError {
                kind: e.kind(),
                message: e.to_string(),
                at: now,
            });
            let at = now + self.inner.config.store_retry.delay(st.store_failures, None);
            st.save_retry_at = Some(at);
            at
        };
        tracing::error!(account = %self.inner.key, error = %e, "token store failed; record kept in memory");
        self.emit(Event::StoreFailure {
            key: self.inner.key.clone(),
            at: now,
            error: e.to_string(),
            retry_at: Some(retry_at),
        });
    }

    fn note_store_error(&self, now: DateTime<Utc>, e: Error) {
        self.store_failed(now, e, None);
    }

    async fn retry_save(&self, now: DateTime<Utc>) {
        // Under the lock: no newer record can be saved (and then overwritten
        // by this older one) while the retry runs.
        let _guard = self.inner.renewal_lock.lock().await;
        let pending = {
            let st = lock(&self.inner.status);
            match (&st.unsaved, st.save_retry_at) {
                (Some(record), Some(at)) if at <= now => Some(record.clone()),
                _ => None,
            }
        };
        let Some(record) = pending else { return };
        match self.inner.store.save(&record).await {
            Ok(()) => {
                let recovered = lock(&self.inner.status).store_ok();
                self.emit_recovered(recovered, now);
            }
            Err(e) => self.store_failed(now, Error::Store(e), None),
        }
    }

    pub(super) fn health_at(&self, now: DateTime<Utc>) -> AccountHealth {
        let record = self.current_record();
        let ev = record
            .as_ref()
            .map(|r| self.inner.policy.evaluate(&self.meta_with_use(r), now));
        let st = lock(&self.inner.status);
        let state = ev.map(|e| e.state);
        let warning = ev
            .and_then(|e| e.reauthorize_by)
            .is_some_and(|d| d - now <= self.inner.config.expiry_warning);
        let status = match state {
            None | Some(TokenState::Expired) => HealthStatus::Critical,
            Some(TokenState::Idle) if st.reauth.is_some() => HealthStatus::Critical,
            Some(TokenState::Idle) => HealthStatus::Degraded,
            Some(_)
                if st.reauth.is_some()
                    || st.consecutive_failures > 0
                    || st.unsaved.is_some()
                    || st.store_failures > 0
                    || warning =>
            {
                HealthStatus::Degraded
            }
            Some(_) => HealthStatus::Healthy,
        };
        AccountHealth {
            key: self.inner.key.clone(),
            status,
            state,
            issued_at: record.as_ref().map(|r| r.meta.issued_at),
            last_used: record
                .as_ref()
                .map(|r| self.meta_with_use(r).last_activity()),
            expires_at: ev.and_then(|e| e.expires_at),
            idle_at: ev.and_then(|e| e.idle_at),
            refresh_expires_at: record.as_ref().and_then(|r| r.meta.refresh_expires_at),
            reauthorize_by: ev.and_then(|e| e.reauthorize_by),
            next_action_at: st.next_action_at,
            reauthorization_required: st.reauth.is_some(),
            reauthorization_reason: st.reauth.as_ref().map(|r| r.reason.clone()),
            reauthorization_url: st.reauth.as_ref().and_then(|r| r.url.clone()),
            last_error: st.last_error.clone(),
            consecutive_failures: st.consecutive_failures,
            unsaved: st.unsaved.is_some(),
            renewals: st.renewals,
            keepalives: st.keepalives,
        }
    }
}

/// Type-erased access to a manager, so one process can hold accounts of
/// different brokers in one list (a daemon, a control server, a CLI).
#[async_trait::async_trait]
pub trait ManagedAccount: Send + Sync {
    /// The account.
    fn key(&self) -> &crate::key::AccountKey;
    /// Its health now.
    fn health(&self) -> AccountHealth;
    /// Its events.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event>;
    /// One maintenance pass.
    async fn maintain(&self) -> Option<DateTime<Utc>>;
    /// Renew now.
    async fn renew_now(&self) -> Result<(), Error>;
    /// Keep-alive now.
    async fn keep_alive(&self) -> Result<(), Error>;
    /// Start an interactive authorization.
    async fn begin_authorization(&self) -> Result<crate::provider::AuthorizationRequest, Error>;
    /// Resume an authorization started by an earlier process.
    fn resume_authorization(
        &self,
        request: crate::provider::AuthorizationRequest,
    ) -> Result<(), Error>;
    /// Complete it with what the person brought back.
    async fn complete_authorization(&self, response: &secrecy::SecretString) -> Result<(), Error>;
    /// Revoke and forget the credentials.
    async fn revoke(&self) -> Result<(), Error>;
    /// Spawn the maintenance loop.
    fn spawn_maintenance(&self) -> MaintenanceHandle;
}

#[async_trait::async_trait]
impl<P: Payload> ManagedAccount for TokenManager<P> {
    fn key(&self) -> &crate::key::AccountKey {
        TokenManager::key(self)
    }
    fn health(&self) -> AccountHealth {
        TokenManager::health(self)
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        TokenManager::subscribe(self)
    }
    async fn maintain(&self) -> Option<DateTime<Utc>> {
        TokenManager::maintain(self).await
    }
    async fn renew_now(&self) -> Result<(), Error> {
        TokenManager::renew_now(self).await.map(|_| ())
    }
    async fn keep_alive(&self) -> Result<(), Error> {
        TokenManager::keep_alive(self).await
    }
    async fn begin_authorization(&self) -> Result<crate::provider::AuthorizationRequest, Error> {
        TokenManager::begin_authorization(self).await
    }
    fn resume_authorization(
        &self,
        request: crate::provider::AuthorizationRequest,
    ) -> Result<(), Error> {
        TokenManager::resume_authorization(self, request)
    }
    async fn complete_authorization(&self, response: &secrecy::SecretString) -> Result<(), Error> {
        TokenManager::complete_authorization(self, response)
            .await
            .map(|_| ())
    }
    async fn revoke(&self) -> Result<(), Error> {
        TokenManager::revoke(self).await
    }
    fn spawn_maintenance(&self) -> MaintenanceHandle {
        TokenManager::spawn_maintenance(self)
    }
}

/// Health of several accounts in one report.
pub fn health_report(
    now: DateTime<Utc>,
    accounts: &[Arc<dyn ManagedAccount>],
) -> crate::health::HealthReport {
    crate::health::HealthReport::new(now, accounts.iter().map(|a| a.health()).collect())
}

fn millis(d: StdDuration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
