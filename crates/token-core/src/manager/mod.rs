//! The token manager: owns one account's credentials and keeps them alive.
//!
//! - [`TokenManager::token`] is the hot path: no lock, no allocation, no
//!   await. It hands out shared credentials only when the policy considers
//!   them usable at that instant, and records the use for idle tracking with
//!   one atomic store.
//! - [`TokenManager::ensure_fresh`] renews when needed with single flight:
//!   concurrent callers share one upstream call and its result.
//! - [`TokenManager::spawn_maintenance`] sends keep-alives, renews idle or
//!   scheduled credentials, retries transient failures with backoff, warns
//!   ahead of hard deadlines and raises "re-authorization required" with the
//!   URL a person must open.
//!
//! One concern per file: `hot_path.rs` ([`TokenRef`], `token()`),
//! `renewal.rs` (the one renewal path, under [`SingleFlight`]),
//! `keep_alive.rs`, `persistence.rs` (load, reload, adopt, save retry),
//! `escalation.rs` (failures, backoff, re-authorization), `person.rs` (when
//! a person is asked to log in, reminders, missed windows, the next person
//! action), `check.rs` (the pre-market check), `authorization.rs`
//! (the shared pending login: begin / complete / revoke), `maintenance.rs` (the loop),
//! `health.rs`, `account.rs` ([`ManagedAccount`]), `lease.rs` (the one
//! lease-wait loop, [`wait_for_lease`], which stores use); the state they
//! share is `snapshot.rs` (the hot path's) and `status.rs` (everything else,
//! in parts).

mod account;
mod authorization;
mod check;
mod config;
mod escalation;
mod health;
mod hot_path;
mod keep_alive;
mod lease;
mod maintenance;
mod persistence;
mod person;
mod renewal;
mod single_flight;
mod snapshot;
mod status;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, Notify};

use crate::clock::Clock;
use crate::error::Error;
use crate::events::Event;
use crate::key::AccountKey;
use crate::policy::{Evaluation, ExpiryPolicy};
use crate::provider::TokenProvider;
use crate::record::{Metadata, Payload, Record};
use crate::store::{MemoryPendingLogins, PendingLogins, TokenStore};

pub use account::{health_report, ManagedAccount};
pub use authorization::LoginRequest;
pub use config::{ManagerConfig, RetryPolicy};
pub use hot_path::TokenRef;
pub use lease::wait_for_lease;
pub use maintenance::MaintenanceHandle;
use renewal::RenewMode;
pub use single_flight::SingleFlight;
use snapshot::Snapshot;
use status::Status;

/// Credentials handed out by the manager: shared, cheap to clone.
pub type Credentials<P> = Arc<Record<P>>;

/// What one renewal flight lands with: its result, and the mode it ran in
/// (a forced renewal does not settle for a flight that could skip the broker).
type Flown<P> = (Result<Credentials<P>, Error>, RenewMode);

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
    /// Serializes everything that replaces the credentials (renewals,
    /// keep-alive saves, loads, logins, revocation, save retries).
    renewal_lock: tokio::sync::Mutex<()>,
    /// Concurrent renewal requests share one flight.
    flight: SingleFlight<Flown<P>>,
    /// Created on first subscription: accounts nobody listens to cost no
    /// event buffer (it matters with thousands of accounts).
    events: std::sync::OnceLock<broadcast::Sender<Event>>,
    status: Mutex<Status>,
    /// Wakes the maintenance task when the credentials change.
    changed: Notify,
    passes: AtomicU64,
    /// Where the pending login is shared with other processes.
    pending: Arc<dyn PendingLogins>,
    /// Serializes "look, then start a login" in this process.
    login_lock: tokio::sync::Mutex<()>,
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
        Self::with_pending_logins(
            key,
            provider,
            store,
            policy,
            clock,
            config,
            Arc::new(MemoryPendingLogins::new()),
        )
    }

    /// [`TokenManager::new`], sharing the pending login through `pending`
    /// (e.g. a [`DirPendingLogins`](crate::store::DirPendingLogins) beside
    /// the store) so other processes see and can finish it.
    pub fn with_pending_logins(
        key: AccountKey,
        provider: Arc<dyn TokenProvider<P>>,
        store: Arc<dyn TokenStore>,
        policy: Arc<dyn ExpiryPolicy>,
        clock: Arc<dyn Clock>,
        config: ManagerConfig,
        pending: Arc<dyn PendingLogins>,
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
                flight: SingleFlight::new(),
                events: std::sync::OnceLock::new(),
                status: Mutex::new(Status::default()),
                changed: Notify::new(),
                passes: AtomicU64::new(0),
                pending,
                login_lock: tokio::sync::Mutex::new(()),
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

    /// Subscribes to lifecycle events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner
            .events
            .get_or_init(|| broadcast::channel(self.inner.config.event_capacity.max(1)).0)
            .subscribe()
    }

    /// The held credentials whatever their state (`None`: none held). Does
    /// not count as use; check [`TokenManager::evaluate`] before relying on them.
    pub fn current(&self) -> Option<Credentials<P>> {
        self.current_record()
    }

    /// The policy's view of the held credentials right now (`None`: none
    /// held). Introspection for tests and demos.
    #[doc(hidden)]
    pub fn evaluate(&self) -> Option<Evaluation> {
        let now = self.inner.clock.now();
        self.current_record().map(|r| self.evaluate_at(&r, now))
    }

    // ----- internals shared by the concern files -----

    /// The policy's one evaluation of `record` at `now`, with the latest
    /// in-memory use folded in. Every decision calls this once.
    fn evaluate_at(&self, record: &Record<P>, now: DateTime<Utc>) -> Evaluation {
        crate::policy::evaluate(&*self.inner.policy, &self.meta_with_use(record), now)
    }

    /// Whether `record` is still the held snapshot (not replaced since).
    fn is_current(&self, record: &Credentials<P>) -> bool {
        self.current_record()
            .is_some_and(|current| Arc::ptr_eq(&current, record))
    }

    fn current_record(&self) -> Option<Credentials<P>> {
        self.inner.current.load().as_ref().map(|s| s.record.clone())
    }

    /// The record's metadata with the latest in-memory use folded in.
    fn meta_with_use(&self, record: &Record<P>) -> Metadata {
        let mut meta = record.meta.clone();
        let used = self.inner.last_used_ms.load(Ordering::Relaxed);
        if let Some(t) = DateTime::<Utc>::from_timestamp_millis(used) {
            if meta.last_used.is_none_or(|u| u < t) {
                meta.last_used = Some(t);
            }
        }
        meta
    }

    /// Makes `record` the credentials in use (the hot path sees them at once).
    fn install(&self, record: Record<P>) -> Credentials<P> {
        let limits = self.inner.policy.limits(&record.meta);
        let last = record.meta.last_activity().timestamp_millis();
        let snap = Snapshot::new(Arc::new(record), &limits);
        let creds = snap.record.clone();
        self.inner.last_used_ms.store(last, Ordering::Relaxed);
        self.inner.current.store(Some(Arc::new(snap)));
        self.status().on_install();
        self.inner.changed.notify_one();
        creds
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        crate::sync::lock(&self.inner.status)
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
        crate::events::log(&event, &"token event");
        // No subscribers is fine.
        if let Some(events) = self.inner.events.get() {
            let _ = events.send(event);
        }
    }
}

/// Milliseconds of `d`, saturating.
fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
