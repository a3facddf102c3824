//! The token manager: owns one account's credentials and keeps them alive.
//!
//! - [`TokenManager::token`] is the hot path: no lock, no allocation, no
//!   await. It hands out shared credentials only when the policy considers
//!   them usable at that instant, and records the use for idle tracking with
//!   one atomic store.
//! - [`TokenManager::ensure_fresh`] renews when needed with single flight:
//!   concurrent callers share one upstream call and its result.
//! - [`TokenManager::maintain`] (run by [`TokenManager::spawn_maintenance`])
//!   sends keep-alives, renews idle or scheduled credentials, retries
//!   transient failures with backoff, warns ahead of hard deadlines and
//!   raises "re-authorization required" with the URL a person must open.

mod config;
mod maintain;
mod state;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};
use secrecy::SecretString;
use tokio::sync::{broadcast, Notify};

use crate::clock::{lock, Clock, COARSE_TOLERANCE_MS};
use crate::error::{Error, Unavailable};
use crate::events::Event;
use crate::health::AccountHealth;
use crate::key::AccountKey;
use crate::policy::{Evaluation, ExpiryPolicy};
use crate::provider::{AuthorizationRequest, TokenProvider};
use crate::record::{Payload, Record};
use crate::store::{TokenStore, TokenStoreExt};

pub use config::{ManagerConfig, RetryPolicy};
pub use maintain::{health_report, MaintenanceHandle, ManagedAccount};
use state::{Snapshot, Status};

/// When a renewal should actually call the broker, decided again after the
/// renewal lock is held and the store re-read (someone may have renewed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RenewMode {
    /// Only if the credentials are not usable.
    IfNeeded,
    /// Only if the credentials are not fresh (keep-alive by renewal).
    KeepAlive,
    /// Only if not usable or the schedule is still due.
    IfScheduleDue,
    /// Always (asked for explicitly, or the broker said inactive).
    Always,
}

/// Credentials handed out by the manager: shared, cheap to clone.
pub type Credentials<P> = Arc<Record<P>>;

/// Use is recorded at most once per this many milliseconds per account.
const USE_GRANULARITY_MS: i64 = 1_000;

/// Credentials borrowed from the hot path: dereferences to the [`Record`].
/// Cheap to take and drop; hold it for a call, not for hours (it keeps the
/// snapshot it was taken from alive). [`TokenRef::to_arc`] gives an owned handle.
pub struct TokenRef<P: Payload> {
    guard: arc_swap::Guard<Option<Arc<Snapshot<P>>>>,
}

impl<P: Payload> TokenRef<P> {
    fn snapshot(&self) -> &Snapshot<P> {
        // Only built by `token()` after checking the slot is filled.
        self.guard
            .as_deref()
            .expect("TokenRef is only created for a held snapshot")
    }

    /// An owned, shareable handle on the same credentials.
    pub fn to_arc(&self) -> Credentials<P> {
        self.snapshot().record.clone()
    }
}

impl<P: Payload> std::ops::Deref for TokenRef<P> {
    type Target = Record<P>;
    fn deref(&self) -> &Record<P> {
        &self.snapshot().record
    }
}

impl<P: Payload> std::fmt::Debug for TokenRef<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

type SharedRenewal<P> = Shared<BoxFuture<'static, Result<Credentials<P>, Error>>>;

/// Owns one account's credentials. Cheap to clone (clones share everything).
///
/// ```
/// # use std::sync::Arc;
/// # use chrono::{Duration, TimeZone, Utc};
/// # use token_core::{*, policy::*, testing::*};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap());
/// let key = AccountKey::new("demo", Environment::Sandbox, "main")?;
/// let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
/// let manager = TokenManager::new(
///     key.clone(),
///     provider.clone(),
///     Arc::new(MemoryStore::new()),
///     Arc::new(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
///     Arc::new(clock.clone()),
///     ManagerConfig::default(),
/// );
/// manager.install_authorized(provider.issue(&key)).await?;
/// assert!(manager.token().is_ok());
/// clock.advance(Duration::hours(3)); // idle now
/// assert_eq!(manager.token().unwrap_err(), Unavailable::Idle);
/// let creds = manager.ensure_fresh().await?; // one silent renewal
/// assert_eq!(provider.renewals(), 1);
/// assert!(manager.token().is_ok());
/// # let _ = creds; Ok(()) }
/// ```
pub struct TokenManager<P: Payload> {
    inner: Arc<Inner<P>>,
}

impl<P: Payload> Clone for TokenManager<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Payload> std::fmt::Debug for TokenManager<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("key", &self.inner.key)
            .field("holds_token", &self.inner.current.load().is_some())
            .finish_non_exhaustive()
    }
}

struct Inner<P: Payload> {
    key: AccountKey,
    provider: Arc<dyn TokenProvider<P>>,
    store: Arc<dyn TokenStore>,
    policy: Arc<dyn ExpiryPolicy>,
    clock: Arc<dyn Clock>,
    config: ManagerConfig,
    /// The credentials in use and their precomputed deadlines.
    current: ArcSwapOption<Snapshot<P>>,
    /// Last activity, milliseconds since the epoch (atomic: the hot path writes it).
    last_used_ms: AtomicI64,
    /// Serializes renewals (maintenance vs. callers); the shared future dedups callers.
    renewal_lock: tokio::sync::Mutex<()>,
    inflight: Mutex<Option<(SharedRenewal<P>, RenewMode)>>,
    /// Created on first subscription: accounts nobody listens to cost no
    /// event buffer (it matters with thousands of accounts).
    events: std::sync::OnceLock<broadcast::Sender<Event>>,
    status: Mutex<Status>,
    /// Wakes the maintenance task when the credentials change.
    changed: Notify,
    passes: AtomicU64,
}

impl<P: Payload> TokenManager<P> {
    /// A manager for `key`. It holds no credentials until
    /// [`TokenManager::load`], an authorization, or the first maintenance pass
    /// (which loads from the store).
    pub fn new(
        key: AccountKey,
        provider: Arc<dyn TokenProvider<P>>,
        store: Arc<dyn TokenStore>,
        policy: Arc<dyn ExpiryPolicy>,
        clock: Arc<dyn Clock>,
        config: ManagerConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                key,
                provider,
                store,
                policy,
                clock,
                config,
                current: ArcSwapOption::empty(),
                last_used_ms: AtomicI64::new(i64::MIN),
                renewal_lock: tokio::sync::Mutex::new(()),
                inflight: Mutex::new(None),
                events: std::sync::OnceLock::new(),
                status: Mutex::new(Status::default()),
                changed: Notify::new(),
                passes: AtomicU64::new(0),
            }),
        }
    }

    /// The account.
    pub fn key(&self) -> &AccountKey {
        &self.inner.key
    }

    /// The clock this manager reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The hot path: the current credentials if the policy considers them
    /// usable right now, recording the use (idle tracking). No lock, no
    /// allocation, no await.
    ///
    /// The returned [`TokenRef`] borrows the credentials without touching
    /// any shared reference count (so readers on many threads do not contend);
    /// use it for the call at hand, or [`TokenRef::to_arc`] to keep them.
    #[inline]
    pub fn token(&self) -> Result<TokenRef<P>, Unavailable> {
        let coarse = self.inner.clock.now_millis_coarse();
        let guard = self.inner.current.load();
        let Some(snap) = guard.as_ref() else {
            return Err(Unavailable::NoToken);
        };
        let last = self.inner.last_used_ms.load(Ordering::Relaxed);
        // The coarse reading may lag a little: trust it only when even the
        // latest the true time could be passes the check; near a deadline,
        // decide with the precise clock.
        let now = if snap
            .check(coarse.saturating_add(COARSE_TOLERANCE_MS), last)
            .is_ok()
        {
            coarse
        } else {
            let precise = self.inner.clock.now_millis();
            snap.check(precise, last)?;
            precise
        };
        // Idle tracking at one-second granularity: most calls only read the
        // shared counter, so concurrent readers do not fight over its line.
        if now - last >= USE_GRANULARITY_MS {
            self.inner.last_used_ms.fetch_max(now, Ordering::Relaxed);
        }
        Ok(TokenRef { guard })
    }

    /// Like [`TokenManager::token`] but does not count as use.
    pub fn peek(&self) -> Result<Credentials<P>, Unavailable> {
        let now = self.inner.clock.now_millis();
        let guard = self.inner.current.load();
        let snap = guard.as_ref().ok_or(Unavailable::NoToken)?;
        snap.check(now, self.inner.last_used_ms.load(Ordering::Relaxed))?;
        Ok(snap.record.clone())
    }

    /// Records a broker call made with the credentials now (idle tracking).
    pub fn mark_used(&self) {
        let now = self.inner.clock.now_millis();
        self.inner.last_used_ms.fetch_max(now, Ordering::Relaxed);
    }

    /// Subscribes to lifecycle events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner
            .events
            .get_or_init(|| broadcast::channel(self.inner.config.event_capacity.max(1)).0)
            .subscribe()
    }

    /// The policy's view of the held credentials right now (`None`: none held).
    pub fn evaluate(&self) -> Option<Evaluation> {
        let now = self.inner.clock.now();
        self.current_record()
            .map(|r| self.inner.policy.evaluate(&self.meta_with_use(&r), now))
    }

    /// Loads the account's record from the store, replacing what is held.
    /// Returns whether one was found.
    pub async fn load(&self) -> Result<bool, Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        if lock(&self.inner.status).revoked {
            return Ok(false);
        }
        match self.inner.store.load_typed::<P>(&self.inner.key).await? {
            Some(record) => {
                self.adopt(record);
                Ok(true)
            }
            None => Ok(false),
        }
    }

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
            Err(Unavailable::Idle) => self.renew_shared(RenewMode::IfNeeded).await,
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

    /// Renews now even if the credentials are fresh (single flight).
    pub async fn renew_now(&self) -> Result<Credentials<P>, Error> {
        self.renew_shared(RenewMode::Always).await
    }

    /// Renews because a broker call made with `used` was refused as
    /// inactive, unless the credentials were already replaced since `used`
    /// was handed out (then the newer ones are returned without a call).
    /// Concurrent callers share one renewal.
    pub async fn renew_if_current(&self, used: &Credentials<P>) -> Result<Credentials<P>, Error> {
        let replaced = self
            .current_record()
            .is_some_and(|current| !Arc::ptr_eq(&current, used));
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
        self.renew_shared(mode).await
    }

    /// Tells the manager the broker refused the credentials outright (e.g.
    /// an API call answered `token_rejected`): raises "re-authorization
    /// required" (with a fresh URL) and stops silent renewals until a
    /// person authorizes.
    pub async fn report_rejection(&self, reason: &str) {
        self.raise_reauth_for(reason, true).await
    }

    /// Allows silent renewal again after a rejection, once the cause was
    /// fixed without a new login (e.g. a corrected FYERS PIN). Clears the
    /// "re-authorization required" state; the next renewal asks the broker.
    pub fn clear_rejection(&self) {
        let mut st = lock(&self.inner.status);
        if st.reauth.as_ref().is_some_and(|r| r.rejected) {
            st.reauth = None;
        }
    }

    /// The held credentials whatever their state (`None`: none held). Does
    /// not count as use; check [`TokenManager::evaluate`] before relying on them.
    pub fn current(&self) -> Option<Credentials<P>> {
        self.current_record()
    }

    /// Sends a keep-alive probe now.
    pub async fn keep_alive(&self) -> Result<(), Error> {
        self.keep_alive_inner().await
    }

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
        lock(&self.inner.status).pending_auth = Some(request);
        Ok(())
    }

    /// Starts (or reuses a still-valid pending) interactive authorization and
    /// returns what a person must do.
    pub async fn begin_authorization(&self) -> Result<AuthorizationRequest, Error> {
        let now = self.inner.clock.now();
        let pending = lock(&self.inner.status).pending_auth.clone();
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
        lock(&self.inner.status).pending_auth = Some(req.clone());
        Ok(req)
    }

    /// Completes the pending authorization with what the person brought back
    /// (verifier or redirect URL). Saves and installs the new credentials.
    pub async fn complete_authorization(
        &self,
        response: &SecretString,
    ) -> Result<Credentials<P>, Error> {
        let pending = lock(&self.inner.status).pending_auth.clone();
        let now = self.inner.clock.now();
        let request = match pending {
            Some(req) if req.expires_at.is_some_and(|e| e <= now) => {
                // The person answered a request that is no longer valid: start
                // a new one and say where, rather than fail at the broker.
                lock(&self.inner.status).pending_auth = None;
                let fresh = self.begin_authorization().await?;
                if let Some(reauth) = lock(&self.inner.status).reauth.as_mut() {
                    reauth.url = Some(fresh.url.clone());
                }
                return Err(Error::AuthorizationExpired { url: fresh.url });
            }
            Some(req) => req,
            None => self.begin_authorization().await?,
        };
        let record = self
            .inner
            .provider
            .complete_authorization(&request, response)
            .await?;
        lock(&self.inner.status).pending_auth = None;
        self.install_authorized(record).await
    }

    /// Saves and installs credentials obtained by a person (or by a test),
    /// clearing any "re-authorization required" state.
    pub async fn install_authorized(&self, record: Record<P>) -> Result<Credentials<P>, Error> {
        // Serialized with renewals, keep-alives and save retries, so none of
        // them can put the old credentials back over these.
        let _guard = self.inner.renewal_lock.lock().await;
        lock(&self.inner.status).revoked = false;
        let creds = self.persist_and_install(record).await;
        let now = self.inner.clock.now();
        let recovered = lock(&self.inner.status).new_credentials();
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
            let mut st = lock(&self.inner.status);
            st.revoked = true;
            st.unsaved = None;
            st.save_retry_at = None;
        }
        self.inner.changed.notify_one();
        self.inner.store.delete(&self.inner.key).await?;
        Ok(())
    }

    /// This account's health right now.
    pub fn health(&self) -> AccountHealth {
        self.health_at(self.inner.clock.now())
    }

    /// How many maintenance passes have run (for wakeup accounting).
    pub fn maintenance_passes(&self) -> u64 {
        self.inner.passes.load(Ordering::Relaxed)
    }

    // ----- internals shared by the submodules -----

    /// Whether `record` is still the held snapshot (not replaced since).
    fn is_current(&self, record: &Credentials<P>) -> bool {
        self.current_record()
            .is_some_and(|current| Arc::ptr_eq(&current, record))
    }

    fn current_record(&self) -> Option<Credentials<P>> {
        self.inner.current.load().as_ref().map(|s| s.record.clone())
    }

    /// The record's metadata with the latest in-memory use folded in.
    fn meta_with_use(&self, record: &Record<P>) -> crate::record::Metadata {
        let mut meta = record.meta.clone();
        let used = self.inner.last_used_ms.load(Ordering::Relaxed);
        if let Some(t) = DateTime::<Utc>::from_timestamp_millis(used) {
            if meta.last_used.is_none_or(|u| u < t) {
                meta.last_used = Some(t);
            }
        }
        meta
    }

    /// Installs a record found in the store (loaded at start, or newer than
    /// ours: another process logged in or renewed). Credentials someone else
    /// produced work, so our failures and "re-authorization required" for the
    /// old ones no longer apply.
    fn adopt(&self, record: Record<P>) -> Credentials<P> {
        let creds = self.install(record);
        let now = self.inner.clock.now();
        let recovered = lock(&self.inner.status).new_credentials();
        self.emit_recovered(recovered, now);
        creds
    }

    fn install(&self, record: Record<P>) -> Credentials<P> {
        let limits = self.inner.policy.limits(&record.meta);
        let last = record.meta.last_activity().timestamp_millis();
        let snap = Snapshot::new(Arc::new(record), &limits);
        let creds = snap.record.clone();
        self.inner.last_used_ms.store(last, Ordering::Relaxed);
        self.inner.current.store(Some(Arc::new(snap)));
        lock(&self.inner.status).on_install();
        self.inner.changed.notify_one();
        creds
    }

    /// Emits `Recovered` when a troubled spell just ended.
    fn emit_recovered(&self, recovered: bool, at: DateTime<Utc>) {
        if recovered {
            self.emit(Event::Recovered {
                key: self.inner.key.clone(),
                at,
            });
        }
    }

    fn emit(&self, event: Event) {
        tracing::info!(account = %self.inner.key, event = event.name(), "token event");
        // No subscribers is fine.
        if let Some(events) = self.inner.events.get() {
            let _ = events.send(event);
        }
    }

    /// Single flight: the first caller spawns the renewal, everyone awaits it.
    async fn renew_shared(&self, mode: RenewMode) -> Result<Credentials<P>, Error> {
        // A caller that needs the broker to be asked (`Always`) does not
        // settle for a flight that may decide not to ask; it waits for that
        // flight, then starts its own (bounded: at most one extra wait).
        for _ in 0..2 {
            let (fut, joined) = self.join_or_start(mode);
            if joined == mode || mode != RenewMode::Always {
                return fut.await;
            }
            let _ = fut.await;
        }
        self.join_or_start(mode).0.await
    }

    fn join_or_start(&self, mode: RenewMode) -> (SharedRenewal<P>, RenewMode) {
        {
            let mut slot = lock(&self.inner.inflight);
            match slot.as_ref() {
                Some((f, joined)) => (f.clone(), *joined),
                None => {
                    let this = self.clone();
                    let task = tokio::spawn(async move {
                        let result = this.renew_exclusive(mode).await;
                        *lock(&this.inner.inflight) = None;
                        result
                    });
                    let fut: SharedRenewal<P> = async move {
                        task.await.unwrap_or_else(|e| {
                            Err(Error::transient(format!("renewal task failed: {e}")))
                        })
                    }
                    .boxed()
                    .shared();
                    *slot = Some((fut.clone(), mode));
                    (fut, mode)
                }
            }
        }
    }

    /// Saves then installs; a failed save keeps the record in memory, reports
    /// it, and schedules a retry (the record is never dropped).
    async fn persist_and_install(&self, mut record: Record<P>) -> Credentials<P> {
        let now = self.inner.clock.now();
        record.meta.last_used = self.meta_with_use(&record).last_used.filter(|_| {
            // Keep the use time only if it belongs to these same credentials.
            self.current_record()
                .is_some_and(|c| c.meta.issued_at == record.meta.issued_at)
        });
        let stored = match record.to_stored() {
            Ok(s) => s,
            Err(e) => {
                self.store_failed(now, e.into(), None);
                return self.install(record);
            }
        };
        match self.inner.store.save(&stored).await {
            Ok(()) => {
                let creds = self.install(record);
                let recovered = lock(&self.inner.status).store_ok();
                self.emit_recovered(recovered, now);
                creds
            }
            Err(e) => {
                let creds = self.install(record);
                self.store_failed(now, e.into(), Some(stored));
                creds
            }
        }
    }
}
