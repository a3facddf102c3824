//! Dated notices (`ManagerConfig::notices`): raised once as an event when
//! due, listed in health from then on, and a reason for maintenance to wake.

use std::sync::Arc;

use chrono::Duration;
use token_core::policy::ExplicitExpiry;
use token_core::testing::{utc, FakeProvider};
use token_core::*;

#[tokio::test]
async fn a_notice_is_raised_once_when_due_and_stays_in_health() {
    let clock = ManualClock::new(utc(2026, 5, 1, 12, 0));
    let key = AccountKey::new("fake", Environment::Sandbox, "main").unwrap();
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let due = utc(2026, 5, 2, 4, 0);
    let manager = TokenManager::new(
        key.clone(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(ExplicitExpiry),
        Arc::new(clock.clone()),
        ManagerConfig {
            notices: vec![Notice::new(due, "the consumer key stops working soon")],
            ..ManagerConfig::default()
        },
    );
    let mut record = provider.issue(&key);
    record.meta.expires_at = Some(utc(2026, 6, 1, 0, 0));
    manager.install_authorized(record).await.unwrap();
    let mut events = manager.subscribe();

    // Before: quiet and healthy, and maintenance plans to wake when it falls due.
    assert_eq!(manager.maintain().await, Some(due));
    assert!(events.try_recv().is_err());
    assert!(manager.health().warnings.is_empty());
    assert_eq!(manager.health().status, HealthStatus::Healthy);

    clock.set(due);
    manager.maintain().await;
    let Ok(Event::Warning { message, at, .. }) = events.try_recv() else {
        panic!("a warning event when the notice falls due");
    };
    assert_eq!(
        (message.as_str(), at),
        ("the consumer key stops working soon", due)
    );
    assert_eq!(
        manager.health().warnings,
        vec!["the consumer key stops working soon".to_string()]
    );
    assert_eq!(manager.health().status, HealthStatus::Degraded);

    // Later passes do not raise it again.
    clock.advance(Duration::days(3));
    manager.maintain().await;
    assert!(events.try_recv().is_err());
    assert_eq!(manager.health().warnings.len(), 1);
}
