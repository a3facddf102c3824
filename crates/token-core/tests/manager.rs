//! The manager's contract, against the counting fake provider and a manual clock.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use secrecy::{ExposeSecret, SecretString};
use token_core::policy::{DailyCutoff, EarliestOf, ExplicitExpiry, IdleTimeout};
use token_core::testing::{FakeCreds, FakeProvider, FaultyStore};
use token_core::*;
use tokio::sync::broadcast;

fn key() -> AccountKey {
    AccountKey::new("fake", Environment::Sandbox, "main").unwrap()
}

fn et(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    token_core::testing::local(New_York, y, m, d, h, mi)
}

fn etrade_like() -> Arc<dyn ExpiryPolicy> {
    Arc::new(
        EarliestOf::new()
            .with(DailyCutoff::new(NaiveTime::MIN, New_York))
            .with(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
    )
}

struct Rig {
    clock: ManualClock,
    provider: Arc<FakeProvider>,
    manager: TokenManager<FakeCreds>,
    events: broadcast::Receiver<Event>,
}

fn rig_with(
    clock: ManualClock,
    provider: FakeProvider,
    store: Arc<dyn TokenStore>,
    policy: Arc<dyn ExpiryPolicy>,
    config: ManagerConfig,
) -> Rig {
    let provider = Arc::new(provider);
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        store,
        policy,
        Arc::new(clock.clone()),
        ManagerConfig {
            event_capacity: 4096,
            ..config
        },
    );
    let events = manager.subscribe();
    Rig {
        clock,
        provider,
        manager,
        events,
    }
}

fn rig(start: DateTime<Utc>) -> Rig {
    let clock = ManualClock::new(start);
    let provider = FakeProvider::new(Arc::new(clock.clone()));
    rig_with(
        clock,
        provider,
        Arc::new(MemoryStore::new()),
        etrade_like(),
        ManagerConfig::default(),
    )
}

/// Runs maintenance passes, jumping the clock to each requested wake-up,
/// until `until`.
async fn run_until(manager: &TokenManager<FakeCreds>, clock: &ManualClock, until: DateTime<Utc>) {
    loop {
        match manager.maintain().await {
            Some(next) if next <= until => clock.set(next.max(clock.now())),
            _ => break,
        }
    }
    clock.set(until);
}

fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn timeline(events: &[Event]) -> Vec<(String, DateTime<Utc>)> {
    events
        .iter()
        .map(|e| (e.name().to_string(), e.at()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renews_once_when_1000_callers_race() {
    let start = et(2026, 3, 2, 9, 0);
    let clock = ManualClock::new(start);
    let provider =
        FakeProvider::new(Arc::new(clock.clone())).with_delay(StdDuration::from_millis(5));
    let r = rig_with(
        clock.clone(),
        provider,
        Arc::new(MemoryStore::new()),
        etrade_like(),
        ManagerConfig::default(),
    );
    r.manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    clock.advance(Duration::hours(3));
    assert_eq!(r.manager.token().unwrap_err(), Unavailable::Idle);

    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let m = r.manager.clone();
            let b = barrier.clone();
            tokio::spawn(async move {
                b.wait().await;
                m.ensure_fresh().await
            })
        })
        .collect();
    for t in tasks {
        let creds = t.await.unwrap().unwrap();
        assert_eq!(creds.payload.token.expose_secret(), "tok-0");
        assert!(
            creds.meta.renewed_at.is_some(),
            "every caller gets the renewed record"
        );
    }
    assert_eq!(r.provider.renewals(), 1);
    assert!(r.manager.token().is_ok());
    // A later caller finds it fresh: still one renewal.
    r.manager.ensure_fresh().await.unwrap();
    assert_eq!(r.provider.renewals(), 1);
}

#[tokio::test]
async fn hot_path_says_why_no_token() {
    let r = rig(et(2026, 3, 2, 9, 0));
    assert_eq!(r.manager.token().unwrap_err(), Unavailable::NoToken);
    r.manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    assert!(r.manager.token().is_ok());
    // Use resets the idle timer: 1h59 of steady use keeps it fresh.
    while r.clock.now() + Duration::minutes(100) < et(2026, 3, 3, 0, 0) {
        r.clock.advance(Duration::minutes(100));
        assert!(r.manager.token().is_ok(), "at {}", r.clock.now());
    }
    r.clock.set(et(2026, 3, 3, 0, 0));
    assert_eq!(r.manager.token().unwrap_err(), Unavailable::Expired);
    assert!(matches!(
        r.manager.ensure_fresh().await,
        Err(Error::Unavailable(Unavailable::Expired))
    ));
    assert_eq!(
        r.provider.renewals(),
        0,
        "no renewal attempts after midnight"
    );
}

#[tokio::test]
async fn three_simulated_days_of_keepalives_renewals_and_expiry() {
    // Mon 2026-03-02 .. Wed 2026-03-04, New York.
    let mut r = rig(et(2026, 3, 2, 9, 0));
    for day in 2..=4u32 {
        let login = et(2026, 3, day, 9, 0);
        r.clock.set(login);
        if day == 2 {
            r.manager
                .install_authorized(r.provider.issue(&key()))
                .await
                .unwrap();
        } else {
            // A person answers the URL raised at midnight, but that request
            // has expired by morning: a typed error with a fresh URL.
            let err = r
                .manager
                .complete_authorization(&SecretString::from("H92GX"))
                .await
                .unwrap_err();
            let Error::AuthorizationExpired { url } = err else {
                panic!("expected AuthorizationExpired, got {err:?}");
            };
            assert_eq!(
                r.manager.health().reauthorization_url.as_deref(),
                Some(url.as_str())
            );
            // The person opens the fresh URL and completes it.
            r.manager
                .complete_authorization(&SecretString::from("H92GX"))
                .await
                .unwrap();
        }
        // Trading: a call every 10 minutes until 10:00.
        while r.clock.now() < et(2026, 3, day, 10, 0) {
            r.clock.advance(Duration::minutes(10));
            r.manager.token().unwrap();
        }
        // Quiet until 13:00: maintenance keeps it alive.
        run_until(&r.manager, &r.clock, et(2026, 3, day, 13, 0)).await;
        // The bot's host sleeps 13:00-15:00 (no maintenance): the token idles.
        r.clock.set(et(2026, 3, day, 15, 0));
        assert_eq!(r.manager.token().unwrap_err(), Unavailable::Idle);
        // Maintenance resumes and runs past midnight.
        run_until(&r.manager, &r.clock, et(2026, 3, day + 1, 0, 30)).await;

        let events = drain(&mut r.events);
        let got = timeline(&events);
        let mut want: Vec<(&str, DateTime<Utc>)> = Vec::new();
        if day > 2 {
            // The person is told the midnight URL is dead.
            let Some(Event::Warning { message, .. }) = events.first() else {
                panic!("the replaced request must be announced: {events:?}");
            };
            assert!(message.contains("expired and no longer works"), "{message}");
            want.push(("warning", login));
        }
        want.push(("authorized", login));
        if day > 2 {
            want.push(("recovered", login));
        }
        want.push(("keep_alive_sent", et(2026, 3, day, 11, 50)));
        want.push(("renewed", et(2026, 3, day, 15, 0)));
        // After the renewal at 15:00: keep-alive every 1h50.
        for (h, m) in [(16, 50), (18, 40), (20, 30), (22, 20)] {
            want.push(("keep_alive_sent", et(2026, 3, day, h, m)));
        }
        want.push(("expiring_soon", et(2026, 3, day, 23, 30)));
        want.push(("expired", et(2026, 3, day + 1, 0, 0)));
        want.push(("reauthorization_required", et(2026, 3, day + 1, 0, 0)));
        // No login window configured: the person is asked at once.
        want.push(("login_requested", et(2026, 3, day + 1, 0, 0)));
        let want: Vec<(String, DateTime<Utc>)> =
            want.into_iter().map(|(n, t)| (n.to_string(), t)).collect();
        assert_eq!(got, want, "day {day}");
        let Some(Event::LoginRequested { url, .. }) = events.last() else {
            panic!("last event must be login_requested");
        };
        assert!(url
            .as_deref()
            .unwrap_or("")
            .starts_with("https://fake.invalid/authorize"));
        assert_eq!(r.manager.health().status, HealthStatus::Critical);
    }
    assert_eq!(r.provider.renewals(), 3);
    assert_eq!(r.provider.probes(), 15);
}

#[tokio::test]
async fn spawned_maintenance_follows_the_manual_clock() {
    let r = rig(et(2026, 3, 2, 9, 0));
    let mut events = r.manager.subscribe();
    r.manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    let handle = r.manager.spawn_maintenance();
    // A whole day of simulated time, stepping from one wake-up to the next.
    // (After midnight a person must act; maintenance then looks in the store
    // every 30 s for a login made elsewhere, so stop just past midnight.)
    let steps = r
        .clock
        .run_until(et(2026, 3, 3, 0, 0) + Duration::seconds(1), 1)
        .await;
    r.clock.wait_for_sleepers(1).await;
    handle.stop().await;
    let names: Vec<String> = drain(&mut events)
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    let keepalives = names.iter().filter(|n| *n == "keep_alive_sent").count();
    // 09:00 + n*1h50 before midnight: 10:50, 12:40, 14:30, 16:20, 18:10, 20:00, 21:50, 23:40.
    assert_eq!(keepalives, 8, "{names:?}");
    assert!(
        names.ends_with(&[
            "expired".to_string(),
            "reauthorization_required".to_string(),
            "login_requested".to_string()
        ]),
        "{names:?}"
    );
    assert!((10..20).contains(&steps), "{steps} steps: no busy wake-ups");
}

#[tokio::test]
async fn idle_account_costs_no_wakeups() {
    // A token with a far deadline and no idle rule: the loop sleeps until then.
    let clock = ManualClock::new(et(2026, 3, 2, 9, 0));
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(DailyCutoff::new(NaiveTime::MIN, New_York)),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    manager
        .install_authorized(provider.issue(&key()))
        .await
        .unwrap();
    let handle = manager.spawn_maintenance();
    clock.wait_for_sleepers(1).await;
    let passes = manager.maintenance_passes();
    for _ in 0..10 {
        clock.advance(Duration::minutes(60));
        tokio::task::yield_now().await;
    }
    clock.wait_for_sleepers(1).await;
    assert_eq!(
        manager.maintenance_passes(),
        passes,
        "no wake-ups while nothing is due"
    );
    assert_eq!(
        clock.next_deadline(),
        Some(et(2026, 3, 2, 23, 30)),
        "sleeps until the expiry warning"
    );
    handle.stop().await;
}

#[tokio::test]
async fn failing_renewal_keeps_serving_the_valid_token() {
    // Scheduled refresh at 08:45 Kolkata fails with transient errors; the token
    // (valid until its explicit expiry) keeps being served, with backoff retries.
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 3, 0, 0).unwrap(); // 08:30 IST
    let clock = ManualClock::new(start);
    let provider = FakeProvider::new(Arc::new(clock.clone())).remint_on_renew();
    let mut r = rig_with(
        clock.clone(),
        provider,
        Arc::new(MemoryStore::new()),
        Arc::new(ExplicitExpiry),
        ManagerConfig {
            schedule: Some("08:45 Asia/Kolkata Mon-Fri".parse().unwrap()),
            ..ManagerConfig::default()
        },
    );
    let mut rec = r.provider.issue(&key());
    rec.meta.issued_at = start - Duration::hours(2);
    rec.meta.expires_at = Some(start + Duration::hours(21));
    r.manager.install_authorized(rec).await.unwrap();
    drain(&mut r.events);

    r.provider.fail_renewals([
        Error::transient("HTTP 503"),
        Error::transient("HTTP 503"),
        Error::transient("timeout"),
    ]);
    let eight45 = Utc.with_ymd_and_hms(2026, 3, 2, 3, 15, 0).unwrap();
    run_until(&r.manager, &r.clock, eight45 + Duration::seconds(1)).await;
    assert_eq!(r.provider.renewals(), 1);
    assert_eq!(
        r.manager.token().unwrap().payload.token.expose_secret(),
        "tok-0"
    );
    let h = r.manager.health();
    assert_eq!(h.status, HealthStatus::Degraded);
    assert_eq!(h.consecutive_failures, 1);
    assert_eq!(
        h.last_error.as_ref().map(|e| e.kind),
        Some(ErrorKind::Transient)
    );

    // Backoff: retries at growing intervals, then succeeds; token served throughout.
    run_until(&r.manager, &r.clock, eight45 + Duration::minutes(10)).await;
    assert_eq!(r.provider.renewals(), 4);
    assert_eq!(
        r.manager.token().unwrap().payload.token.expose_secret(),
        "tok-1"
    );
    let got = timeline(&drain(&mut r.events));
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "renewal_failed",
            "renewal_failed",
            "renewal_failed",
            "renewed",
            "recovered"
        ]
    );
    let gaps: Vec<i64> = got
        .windows(2)
        .take(3)
        .map(|w| (w[1].1 - w[0].1).num_milliseconds())
        .collect();
    assert!(
        gaps[0] >= 4_000 && gaps[0] <= 6_000,
        "first backoff ~5s: {gaps:?}"
    );
    assert!(
        gaps[1] >= 8_000 && gaps[1] <= 12_000,
        "second backoff ~10s: {gaps:?}"
    );
    assert_eq!(r.manager.health().status, HealthStatus::Healthy);

    // A rejection is not retried: re-authorization required, valid token still served.
    r.provider
        .fail_renewals([Error::rejected("-501 invalid refresh token")]);
    let next_day = Utc.with_ymd_and_hms(2026, 3, 3, 3, 15, 0).unwrap();
    run_until(&r.manager, &r.clock, next_day + Duration::hours(1)).await;
    assert_eq!(r.provider.renewals(), 5);
    assert!(r.manager.token().is_ok());
    let names: Vec<String> = drain(&mut r.events)
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "renewal_failed",
            "reauthorization_required",
            "login_requested"
        ]
    );
    let h = r.manager.health();
    assert!(h.reauthorization_required);
    assert_eq!(h.status, HealthStatus::Degraded);
}

#[tokio::test]
async fn failing_store_keeps_the_new_record_and_reports_it() {
    let start = et(2026, 3, 2, 9, 0);
    let clock = ManualClock::new(start);
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())).remint_on_renew());
    let store = Arc::new(FaultyStore::new());
    let manager = TokenManager::new(
        key(),
        provider.clone(),
        store.clone(),
        etrade_like(),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    let mut events = manager.subscribe();
    manager
        .install_authorized(provider.issue(&key()))
        .await
        .unwrap();
    clock.advance(Duration::hours(3));

    store.fail_saves(2);
    let creds = manager.ensure_fresh().await.unwrap();
    assert_eq!(
        creds.payload.token.expose_secret(),
        "tok-1",
        "new record handed out from memory"
    );
    let stored = store.inner().load(&key()).await.unwrap().unwrap();
    assert_eq!(
        stored.payload.get("token").unwrap().expose_secret(),
        "tok-0"
    );
    let h = manager.health();
    assert!(h.unsaved);
    assert_eq!(h.status, HealthStatus::Degraded);

    // Maintenance retries the save until the store accepts it.
    run_until(&manager, &clock, clock.now() + Duration::minutes(1)).await;
    let stored = store.inner().load(&key()).await.unwrap().unwrap();
    assert_eq!(
        stored.payload.get("token").unwrap().expose_secret(),
        "tok-1"
    );
    assert!(!manager.health().unsaved);
    let names: Vec<String> = drain(&mut events)
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "authorized",
            "store_failure",
            "renewed",
            "store_failure",
            "recovered"
        ]
    );
    // The unsaved record is never replaced by the older stored one.
    assert_eq!(
        manager.token().unwrap().payload.token.expose_secret(),
        "tok-1"
    );
}

#[tokio::test]
async fn loads_from_store_on_first_maintenance_and_adopts_newer_records() {
    let start = et(2026, 3, 2, 9, 0);
    let clock = ManualClock::new(start);
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    store.save_typed(&provider.issue(&key())).await.unwrap();
    let a = TokenManager::new(
        key(),
        provider.clone(),
        store.clone(),
        etrade_like(),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    let b = TokenManager::new(
        key(),
        provider.clone(),
        store.clone(),
        etrade_like(),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    a.maintain().await;
    b.maintain().await;
    assert!(a.token().is_ok() && b.token().is_ok());
    clock.advance(Duration::hours(3));
    a.ensure_fresh().await.unwrap();
    // b shares the store: it re-reads inside its renewal and adopts a's record.
    b.ensure_fresh().await.unwrap();
    assert_eq!(provider.renewals(), 1);
}

#[tokio::test]
async fn debug_output_of_public_types_has_no_secrets() {
    let r = rig(et(2026, 3, 2, 9, 0));
    let creds = r
        .manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    let req = r.manager.begin_authorization().await.unwrap();
    let texts = [
        format!("{creds:?}"),
        format!("{:?}", r.manager),
        format!("{req:?}"),
        serde_json::to_string(&r.manager.health()).unwrap(),
    ];
    for t in texts {
        assert!(!t.contains("tok-0"), "{t}");
    }
}

#[tokio::test]
async fn a_rejected_renewal_is_never_retried_until_a_person_authorizes() {
    let mut r = rig(et(2026, 3, 2, 9, 0));
    r.manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    r.clock.advance(Duration::hours(3));
    r.provider.fail_renewals([Error::rejected("wrong PIN")]);
    assert!(matches!(
        r.manager.ensure_fresh().await,
        Err(Error::Rejected { .. })
    ));
    // Neither callers, forced renewals nor maintenance call the broker again.
    assert!(matches!(
        r.manager.ensure_fresh().await,
        Err(Error::Rejected { .. })
    ));
    assert!(matches!(
        r.manager.renew_now().await,
        Err(Error::Rejected { .. })
    ));
    run_until(&r.manager, &r.clock, et(2026, 3, 2, 20, 0)).await;
    assert_eq!(r.provider.renewals(), 1);
    let names: Vec<String> = drain(&mut r.events)
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "reauthorization_required")
            .count(),
        1,
        "{names:?}"
    );
    // After a person logs in (on a fresh request), renewals work again.
    r.manager.begin_authorization().await.unwrap();
    r.manager
        .complete_authorization(&SecretString::from("ok"))
        .await
        .unwrap();
    r.clock.advance(Duration::hours(3));
    r.manager.ensure_fresh().await.unwrap();
    assert_eq!(r.provider.renewals(), 2);
}

#[tokio::test]
async fn garbled_answers_back_off_instead_of_paging_a_person() {
    let mut r = rig(et(2026, 3, 2, 9, 0));
    r.manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    r.clock.advance(Duration::hours(3));
    r.provider
        .fail_renewals([Error::Protocol("body is not form-encoded".into())]);
    assert!(r.manager.ensure_fresh().await.is_err());
    assert!(!r.manager.health().reauthorization_required);
    run_until(&r.manager, &r.clock, r.clock.now() + Duration::minutes(1)).await;
    assert!(r.manager.token().is_ok());
    let names: Vec<String> = drain(&mut r.events)
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(
        names,
        ["authorized", "renewal_failed", "renewed", "recovered"]
    );
}

#[tokio::test]
async fn renew_if_current_skips_credentials_already_replaced() {
    let r = rig(et(2026, 3, 2, 9, 0));
    let old = r
        .manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    // First 401 on `old`: renews.
    let new = r.manager.renew_if_current(&old).await.unwrap();
    assert_eq!(r.provider.renewals(), 1);
    // A second caller whose call with `old` also failed: no second renewal.
    let again = r.manager.renew_if_current(&old).await.unwrap();
    assert!(Arc::ptr_eq(&new, &again));
    assert_eq!(r.provider.renewals(), 1);
}

#[tokio::test]
async fn reported_rejection_raises_reauthorization_once_with_a_url() {
    let mut r = rig(et(2026, 3, 2, 9, 0));
    r.manager
        .install_authorized(r.provider.issue(&key()))
        .await
        .unwrap();
    r.manager
        .report_rejection("oauth_problem=token_rejected")
        .await;
    r.manager
        .report_rejection("oauth_problem=token_rejected")
        .await;
    let events = drain(&mut r.events);
    let reauth: Vec<_> = events
        .iter()
        .filter(|e| e.name() == "reauthorization_required")
        .collect();
    assert_eq!(reauth.len(), 1);
    assert!(matches!(
        reauth[0],
        Event::ReauthorizationRequired { url: Some(_), .. }
    ));
    assert!(matches!(
        r.manager.renew_now().await,
        Err(Error::Rejected { .. })
    ));
    assert_eq!(r.provider.renewals(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_sharing_a_file_store_renew_once() {
    // Two managers with their own FileStore handles on one directory behave
    // like two processes: the store's lease makes them renew once, not twice.
    let dir = tempfile::tempdir().unwrap();
    let start = et(2026, 3, 2, 9, 0);
    let clock = ManualClock::new(start);
    let provider = Arc::new(
        FakeProvider::new(Arc::new(clock.clone())).with_delay(StdDuration::from_millis(20)),
    );
    let make = || {
        TokenManager::new(
            key(),
            provider.clone(),
            Arc::new(FileStore::open(dir.path()).unwrap()),
            etrade_like(),
            Arc::new(clock.clone()),
            ManagerConfig::default(),
        )
    };
    let (a, b) = (make(), make());
    a.install_authorized(provider.issue(&key())).await.unwrap();
    b.load().await.unwrap();
    clock.advance(Duration::hours(3));
    let (ra, rb) = tokio::join!(a.ensure_fresh(), b.ensure_fresh());
    ra.unwrap();
    rb.unwrap();
    assert_eq!(provider.renewals(), 1);
    assert!(a.token().is_ok() && b.token().is_ok());
}

#[tokio::test]
async fn replicas_pick_up_a_renewal_announced_by_the_store() {
    let start = et(2026, 3, 2, 9, 0);
    let clock = ManualClock::new(start);
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())).remint_on_renew());
    // A shared store that announces every save, like Redis pub/sub would.
    let store = Arc::new(FaultyStore::new());
    store.announce_changes();
    let make = || {
        TokenManager::new(
            key(),
            provider.clone(),
            store.clone(),
            etrade_like(),
            Arc::new(clock.clone()),
            ManagerConfig::default(),
        )
    };
    let (a, b) = (make(), make());
    a.install_authorized(provider.issue(&key())).await.unwrap();
    b.load().await.unwrap();
    let handle = b.spawn_maintenance();
    clock.wait_for_sleepers(1).await;
    let mut b_events = b.subscribe();
    a.renew_now().await.unwrap();
    // b's maintenance task reloads on the announcement, without time passing.
    tokio::time::timeout(StdDuration::from_secs(5), async {
        while b.peek().unwrap().payload.token.expose_secret() != "tok-1" {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("b adopts a's renewal");
    assert_eq!(provider.renewals(), 1);
    assert!(
        b_events.try_recv().is_err(),
        "adopting is not a renewal of b's own"
    );
    handle.stop().await;
}
