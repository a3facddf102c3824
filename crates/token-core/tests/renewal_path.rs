//! One path for a renewal, whoever asks: it runs in the asking task (no
//! task is spawned for it) and each decision evaluates the policy once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use token_core::policy::{IdleTimeout, Limits};
use token_core::testing::{FakeCreds, FakeProvider};
use token_core::*;

fn key() -> AccountKey {
    AccountKey::new("fake", Environment::Sandbox, "main").unwrap()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap()
}

/// A 2 h idle timeout that counts how often the manager asks for its limits.
#[derive(Debug)]
struct CountingPolicy {
    inner: IdleTimeout,
    calls: AtomicU64,
}

impl ExpiryPolicy for CountingPolicy {
    fn limits(&self, meta: &Metadata) -> Limits {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.limits(meta)
    }
}

/// The fake provider, noting which task each renewal ran in.
#[derive(Debug)]
struct TaskNotingProvider {
    inner: FakeProvider,
    renewed_in: Mutex<Vec<Option<tokio::task::Id>>>,
}

#[async_trait]
impl TokenProvider<FakeCreds> for TaskNotingProvider {
    fn broker(&self) -> &str {
        self.inner.broker()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn renew(&self, record: &Record<FakeCreds>) -> Result<Record<FakeCreds>, Error> {
        self.renewed_in.lock().unwrap().push(tokio::task::try_id());
        self.inner.renew(record).await
    }
}

struct Rig {
    clock: ManualClock,
    provider: Arc<TaskNotingProvider>,
    policy: Arc<CountingPolicy>,
    manager: TokenManager<FakeCreds>,
}

async fn idle_rig() -> Rig {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(TaskNotingProvider {
        inner: FakeProvider::new(Arc::new(clock.clone())),
        renewed_in: Mutex::new(Vec::new()),
    });
    let policy = Arc::new(CountingPolicy {
        inner: IdleTimeout::new(Duration::hours(2), Duration::minutes(10)),
        calls: AtomicU64::new(0),
    });
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        policy.clone(),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    manager
        .install_authorized(provider.inner.issue(&key()))
        .await
        .unwrap();
    clock.advance(Duration::hours(3));
    assert_eq!(manager.token().unwrap_err(), Unavailable::Idle);
    policy.calls.store(0, Ordering::SeqCst);
    Rig {
        clock,
        provider,
        policy,
        manager,
    }
}

#[tokio::test]
async fn a_callers_renewal_runs_in_its_own_task_and_evaluates_once() {
    let r = idle_rig().await;
    let m = r.manager.clone();
    let task = tokio::spawn(async move {
        m.ensure_fresh().await.unwrap();
        tokio::task::id()
    });
    let caller = task.await.unwrap();
    assert_eq!(r.provider.inner.renewals(), 1);
    assert_eq!(
        *r.provider.renewed_in.lock().unwrap(),
        vec![Some(caller)],
        "renewed in the caller's task, not a spawned one"
    );
    // The hot path decided "idle" from the snapshot (no evaluation); the
    // renewal evaluated once under the lock; the renewed record's snapshot
    // read the limits once.
    assert_eq!(r.policy.calls.load(Ordering::SeqCst), 2);
    assert!(r.manager.token().is_ok());
}

#[tokio::test]
async fn a_maintenance_renewal_takes_the_same_path_in_the_maintenance_task() {
    let r = idle_rig().await;
    let m = r.manager.clone();
    let task = tokio::spawn(async move {
        let next = m.maintain().await;
        (tokio::task::id(), next)
    });
    let (pass, next) = task.await.unwrap();
    assert_eq!(r.provider.inner.renewals(), 1);
    assert_eq!(
        *r.provider.renewed_in.lock().unwrap(),
        vec![Some(pass)],
        "renewed in the maintenance task, not a spawned one"
    );
    // One evaluation to decide what to do, one re-check under the renewal
    // lock, one snapshot of the renewed record, one evaluation of it to
    // decide when to wake.
    assert_eq!(r.policy.calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        next,
        Some(r.clock.now() + Duration::minutes(110)),
        "next pass at the keep-alive point of the renewed record"
    );
}

#[tokio::test]
async fn a_pass_with_nothing_to_do_evaluates_once() {
    let r = idle_rig().await;
    r.manager.ensure_fresh().await.unwrap();
    r.policy.calls.store(0, Ordering::SeqCst);
    r.manager.maintain().await;
    assert_eq!(r.policy.calls.load(Ordering::SeqCst), 1);
    assert_eq!(r.provider.inner.renewals(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_renewal_whose_callers_all_went_away_mid_save_keeps_the_record() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let store = Arc::new(token_core::testing::FaultyStore::new());
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        store.clone(),
        Arc::new(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    manager
        .install_authorized(provider.issue(&key()))
        .await
        .unwrap();
    clock.advance(Duration::hours(3));
    let mut events = manager.subscribe();
    store.slow_saves(Some(std::time::Duration::from_secs(60)));
    let gave_up =
        tokio::time::timeout(std::time::Duration::from_millis(10), manager.ensure_fresh()).await;
    assert!(gave_up.is_err(), "the caller went away mid-save");
    assert_eq!(provider.renewals(), 1);
    let held = manager.current().unwrap();
    assert!(held.meta.renewed_at.is_some(), "the renewed record is held");
    assert!(manager.token().is_ok());
    let h = manager.health();
    assert!(h.unsaved, "and kept for the save retry");
    assert!(matches!(events.try_recv(), Ok(Event::StoreFailure { .. })));
    // The retry saves it.
    store.slow_saves(None);
    clock.advance(Duration::minutes(5));
    manager.maintain().await;
    assert!(!manager.health().unsaved);
    let stored = store.inner().load(&key()).await.unwrap().unwrap();
    assert_eq!(stored.meta.renewed_at, held.meta.renewed_at);
}
