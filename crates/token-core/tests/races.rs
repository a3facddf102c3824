//! Credentials written by one path (login, renewal, keep-alive, save retry,
//! revoke, another process) are never overwritten by an older one.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use secrecy::ExposeSecret;
use token_core::policy::{DailyCutoff, EarliestOf, IdleTimeout};
use token_core::testing::{FakeCreds, FakeProvider, FaultyStore};
use token_core::*;

fn key() -> AccountKey {
    AccountKey::new("fake", Environment::Sandbox, "main").unwrap()
}

fn t0() -> DateTime<Utc> {
    New_York
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn policy() -> Arc<dyn ExpiryPolicy> {
    Arc::new(
        EarliestOf::new()
            .with(DailyCutoff::new(NaiveTime::MIN, New_York))
            .with(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
    )
}

fn manager(
    clock: &ManualClock,
    provider: &Arc<FakeProvider>,
    store: Arc<dyn TokenStore>,
) -> TokenManager<FakeCreds> {
    TokenManager::new(
        key(),
        provider.clone(),
        store,
        policy(),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    )
}

fn token_of(m: &TokenManager<FakeCreds>) -> String {
    m.current()
        .unwrap()
        .payload
        .token
        .expose_secret()
        .to_owned()
}

async fn stored_token(store: &dyn TokenStore) -> String {
    let rec = store.load(&key()).await.unwrap().unwrap();
    rec.payload.get("token").unwrap().expose_secret().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_finishing_after_a_login_does_not_restore_the_old_credentials() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(
        FakeProvider::new(Arc::new(clock.clone())).with_delay(StdDuration::from_millis(100)),
    );
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = manager(&clock, &provider, store.clone());
    m.install_authorized(provider.issue(&key())).await.unwrap(); // tok-0
    let probing = tokio::spawn({
        let m = m.clone();
        async move { m.keep_alive().await }
    });
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    m.install_authorized(provider.issue(&key())).await.unwrap(); // tok-1
    probing.await.unwrap().unwrap();
    assert_eq!(token_of(&m), "tok-1");
    assert_eq!(stored_token(&*store).await, "tok-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_in_flight_does_not_overwrite_a_login() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(
        FakeProvider::new(Arc::new(clock.clone()))
            .remint_on_renew()
            .with_delay(StdDuration::from_millis(100)),
    );
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let m = manager(&clock, &provider, store.clone());
    m.install_authorized(provider.issue(&key())).await.unwrap(); // tok-0
    let renewing = tokio::spawn({
        let m = m.clone();
        async move { m.renew_now().await }
    });
    tokio::time::sleep(StdDuration::from_millis(20)).await;
    let login = provider.issue(&key()); // tok-1, issued while the renewal runs
    m.install_authorized(login).await.unwrap();
    renewing.await.unwrap().unwrap(); // tok-2 from the old credentials
    assert_eq!(token_of(&m), "tok-1", "the person's login is the last word");
    assert_eq!(stored_token(&*store).await, "tok-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_retry_never_overwrites_a_newer_saved_record() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())).remint_on_renew());
    let store = Arc::new(FaultyStore::new());
    let m = manager(&clock, &provider, store.clone());
    m.install_authorized(provider.issue(&key())).await.unwrap(); // tok-0
    store.fail_saves(1);
    m.renew_now().await.unwrap(); // tok-1, unsaved
    assert!(m.health().unsaved);
    store.slow_saves(Some(StdDuration::from_millis(50)));
    clock.advance(Duration::minutes(1)); // the retry is due
    let retrying = tokio::spawn({
        let m = m.clone();
        async move { m.maintain().await }
    });
    tokio::time::sleep(StdDuration::from_millis(10)).await;
    m.renew_now().await.unwrap(); // tok-2, saved
    retrying.await.unwrap();
    assert_eq!(token_of(&m), "tok-2");
    assert_eq!(stored_token(&*store).await, "tok-2");
    assert!(!m.health().unsaved);
}

#[tokio::test]
async fn an_expired_account_adopts_a_login_saved_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let daemon = manager(
        &clock,
        &provider,
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    daemon
        .install_authorized(provider.issue(&key()))
        .await
        .unwrap();
    clock.set(t0() + Duration::hours(16)); // past midnight New York
    daemon.maintain().await;
    assert!(daemon.health().reauthorization_required);
    // `tokenctl login` in another process saves new credentials.
    let cli = manager(
        &clock,
        &provider,
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    cli.install_authorized(provider.issue(&key()))
        .await
        .unwrap(); // tok-1
    let creds = daemon.ensure_fresh().await.unwrap();
    assert_eq!(creds.payload.token.expose_secret(), "tok-1");
    let h = daemon.health();
    assert!(!h.reauthorization_required, "{h:?}");
    assert_eq!(h.status, HealthStatus::Healthy);
}

#[tokio::test]
async fn maintenance_looks_for_a_login_while_a_person_must_act() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let daemon = manager(
        &clock,
        &provider,
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    daemon
        .install_authorized(provider.issue(&key()))
        .await
        .unwrap();
    clock.set(t0() + Duration::hours(16));
    let next = daemon
        .maintain()
        .await
        .expect("polls the store while expired");
    assert!(next - clock.now() <= Duration::seconds(30));
    let cli = manager(
        &clock,
        &provider,
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    cli.install_authorized(provider.issue(&key()))
        .await
        .unwrap();
    clock.set(next);
    daemon.maintain().await;
    assert_eq!(token_of(&daemon), "tok-1");
    assert!(daemon.token().is_ok());
}

#[tokio::test]
async fn adopting_newer_credentials_ends_a_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let a = manager(
        &clock,
        &provider,
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    a.install_authorized(provider.issue(&key())).await.unwrap();
    clock.advance(Duration::hours(3));
    provider.fail_renewals([Error::rejected("token_rejected")]);
    assert!(a.ensure_fresh().await.is_err());
    assert!(a.health().reauthorization_required);
    let b = manager(
        &clock,
        &provider,
        Arc::new(FileStore::open(dir.path()).unwrap()),
    );
    b.install_authorized(provider.issue(&key())).await.unwrap(); // tok-1
    assert!(a.reload_if_newer().await.unwrap());
    assert!(!a.health().reauthorization_required);
    clock.advance(Duration::hours(3)); // idle again: a renews silently
    a.ensure_fresh().await.unwrap();
    assert_eq!(provider.renewals(), 2);
}

#[tokio::test]
async fn revoked_credentials_never_come_back() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let store = Arc::new(FaultyStore::new());
    let m = manager(&clock, &provider, store.clone());
    m.install_authorized(provider.issue(&key())).await.unwrap();
    store.fail_deletes(true);
    assert!(m.revoke().await.is_err(), "the failed delete is reported");
    assert_eq!(m.token().unwrap_err(), Unavailable::NoToken);
    m.maintain().await;
    assert_eq!(m.token().unwrap_err(), Unavailable::NoToken, "not reloaded");
    assert!(matches!(
        m.ensure_fresh().await,
        Err(Error::Unavailable(Unavailable::NoToken))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_renewal_does_not_settle_for_a_flight_that_skipped_the_broker() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(
        FakeProvider::new(Arc::new(clock.clone())).with_delay(StdDuration::from_millis(50)),
    );
    let m = manager(&clock, &provider, Arc::new(MemoryStore::new()));
    m.install_authorized(provider.issue(&key())).await.unwrap();
    clock.advance(Duration::hours(3)); // idle
    let (a, b) = tokio::join!(m.ensure_fresh(), async {
        tokio::time::sleep(StdDuration::from_millis(10)).await;
        m.renew_now().await
    });
    a.unwrap();
    b.unwrap();
    assert_eq!(provider.renewals(), 2, "renew_now asked the broker itself");
}

#[tokio::test]
async fn a_busy_lease_fails_a_forced_renewal_and_schedules_a_retry() {
    let clock = ManualClock::new(t0());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let store = Arc::new(FaultyStore::new());
    let m = manager(&clock, &provider, store.clone());
    m.install_authorized(provider.issue(&key())).await.unwrap();
    store.lease_busy(true);
    assert!(matches!(
        m.renew_now().await,
        Err(Error::Store(StoreError::LeaseBusy { .. }))
    ));
    assert_eq!(provider.renewals(), 0);
    // An unforced call with usable credentials is fine without the lease.
    assert!(m.ensure_fresh().await.is_ok());
    let h = m.health();
    assert_eq!(h.consecutive_failures, 1);
    assert_eq!(h.last_error.map(|e| e.kind), Some(ErrorKind::Store));
    assert_eq!(h.status, HealthStatus::Degraded);
}
