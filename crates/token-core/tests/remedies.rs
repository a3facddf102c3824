//! Escalation by remedy and renewal reasons (issue 13, item 3), against the
//! counting fake provider and a manual clock.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use token_core::policy::IdleTimeout;
use token_core::testing::{FakeCreds, FakeProvider};
use token_core::*;
use tokio::sync::broadcast;

struct Rig {
    clock: ManualClock,
    provider: Arc<FakeProvider>,
    manager: TokenManager<FakeCreds>,
    events: broadcast::Receiver<Event>,
}

async fn rig(caps: Capabilities) -> Rig {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap());
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())).with_capabilities(caps));
    let key = AccountKey::new("fake", Environment::Sandbox, "main").unwrap();
    let manager = TokenManager::new(
        key.clone(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
        Arc::new(clock.clone()),
        ManagerConfig {
            event_capacity: 1024,
            ..ManagerConfig::default()
        },
    );
    manager
        .install_authorized(provider.issue(&key))
        .await
        .unwrap();
    let events = manager.subscribe();
    Rig {
        clock,
        provider,
        manager,
        events,
    }
}

fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

fn reasons(events: &[Event]) -> Vec<RenewalReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Renewed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_refused_setting_raises_a_person_action_not_a_login() {
    let mut r = rig(Capabilities::ALL).await;
    r.provider.fail_renewals([Error::setting(
        "consumer_secret",
        "the broker refused the signature",
    )]);
    r.clock.advance(Duration::hours(3)); // idle: maintenance renews
    r.manager.maintain().await;
    let got = drain(&mut r.events);
    let names: Vec<&str> = got.iter().map(Event::name).collect();
    assert!(names.contains(&"person_action_required"), "{names:?}");
    assert!(!names.contains(&"reauthorization_required"), "{names:?}");
    assert_eq!(r.provider.authorizations(), 0, "no login URL was started");
    let h = r.manager.health();
    let fix = Remedy::FixConfig {
        setting: "consumer_secret".into(),
    };
    assert_eq!(h.remedy, Some(fix.clone()));
    assert!(!h.reauthorization_required && h.reauthorization_url.is_none());
    // Not retried, and callers get the refusal itself (its remedy intact).
    for _ in 0..5 {
        r.clock.advance(Duration::minutes(30));
        r.manager.maintain().await;
        assert_eq!(r.manager.ensure_fresh().await.unwrap_err().remedy(), fix);
    }
    assert_eq!(r.provider.renewals(), 1);
    assert_eq!(
        drain(&mut r.events)
            .iter()
            .filter(|e| e.name() == "person_action_required")
            .count(),
        0,
        "raised once"
    );
    // Fixed: the operator clears it and the next pass renews.
    r.manager.clear_rejection();
    r.manager.maintain().await;
    assert_eq!(r.provider.renewals(), 2);
    assert_eq!(r.manager.health().remedy, None);
    assert_eq!(r.manager.health().status, HealthStatus::Healthy);
}

#[tokio::test]
async fn rejections_still_ask_for_a_login_and_outages_say_wait() {
    let mut r = rig(Capabilities::ALL).await;
    r.provider.fail_renewals([
        Error::transient("HTTP 503"),
        Error::rejected("token_rejected"),
    ]);
    r.clock.advance(Duration::hours(3));
    r.manager.maintain().await;
    let h = r.manager.health();
    match h.remedy {
        Some(Remedy::Wait { until: Some(t) }) => assert!(t > r.clock.now()),
        other => panic!("expected wait, got {other:?}"),
    }
    r.clock.advance(Duration::minutes(10));
    r.manager.maintain().await;
    let h = r.manager.health();
    assert_eq!(h.remedy, Some(Remedy::LogIn));
    assert!(h.reauthorization_required && h.reauthorization_url.is_some());
    assert!(drain(&mut r.events)
        .iter()
        .any(|e| e.name() == "reauthorization_required"));
}

#[tokio::test]
async fn each_renewal_says_what_triggered_it() {
    let mut r = rig(Capabilities::ALL).await;
    // An operator, 11 minutes after the login.
    r.clock.advance(Duration::minutes(11));
    r.manager.renew_now().await.unwrap();
    // The broker refuses it as inactive on a probe: renewed for that.
    r.provider.fail_probes([Error::Inactive {
        reason: "idle".into(),
    }]);
    r.manager.keep_alive().await.unwrap();
    // A caller's request refused as inactive.
    let used = r.manager.current().unwrap();
    r.manager.renew_if_current(&used).await.unwrap();
    // Idle: maintenance revives it.
    r.clock.advance(Duration::hours(3));
    r.manager.maintain().await;
    let got = drain(&mut r.events);
    assert_eq!(
        reasons(&got),
        [
            RenewalReason::Operator,
            RenewalReason::Inactive,
            RenewalReason::Inactive,
            RenewalReason::Idle
        ]
    );
    // Only a scheduled one says scheduled, in the old field too.
    assert!(got.iter().all(|e| !matches!(
        e,
        Event::Renewed {
            scheduled: true,
            ..
        }
    )));
}

#[tokio::test]
async fn keep_alive_probes_say_who_asked() {
    let mut r = rig(Capabilities::ALL).await;
    r.clock.advance(Duration::minutes(111)); // keep-alive due
    r.manager.maintain().await;
    r.manager.keep_alive().await.unwrap();
    let sent: Vec<RenewalReason> = drain(&mut r.events)
        .iter()
        .filter_map(|e| match e {
            Event::KeepAliveSent { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [RenewalReason::KeepAlive, RenewalReason::Operator]);
    assert_eq!(r.provider.probes(), 2);
}

#[tokio::test]
async fn a_broker_without_a_probe_keeps_alive_by_renewing_and_says_so() {
    let mut r = rig(Capabilities {
        probe: false,
        ..Capabilities::ALL
    })
    .await;
    r.clock.advance(Duration::minutes(111)); // keep-alive due
    r.manager.maintain().await;
    assert_eq!(reasons(&drain(&mut r.events)), [RenewalReason::KeepAlive]);
    let json = serde_json::to_value(Event::Renewed {
        key: r.manager.key().clone(),
        at: r.clock.now(),
        reason: RenewalReason::KeepAlive,
        scheduled: false,
        took_ms: 1,
    })
    .unwrap();
    assert_eq!(json["reason"], "keep_alive");
}
