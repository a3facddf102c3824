//! `retry::call_renewing_once`: one renewal per inactive answer, shared by
//! concurrent callers, and never a loop when a renewal does not help.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::Duration;
use token_core::policy::IdleTimeout;
use token_core::retry::{call_renewing_once, Attempt};
use token_core::testing::{utc, FakeCreds, FakeProvider};
use token_core::*;

struct Rig {
    clock: ManualClock,
    provider: Arc<FakeProvider>,
    manager: TokenManager<FakeCreds>,
}

async fn rig() -> Rig {
    let clock = ManualClock::new(utc(2026, 6, 1, 13, 0));
    let key = AccountKey::new("fake", Environment::Sandbox, "main").unwrap();
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let manager = TokenManager::new(
        key.clone(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    manager
        .install_authorized(provider.issue(&key))
        .await
        .unwrap();
    Rig {
        clock,
        provider,
        manager,
    }
}

/// A broker that says "inactive" to the first `inactive` calls, then answers.
async fn call(rig: &Rig, calls: &AtomicU32, inactive: u32) -> Result<u32, Error> {
    call_renewing_once(&rig.manager, |_creds| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < inactive {
                Attempt::Inactive("token_expired".into())
            } else {
                Attempt::Done(Ok(n))
            }
        }
    })
    .await
}

#[tokio::test]
async fn an_inactive_answer_is_renewed_once_and_the_call_retried() {
    let rig = rig().await;
    let calls = AtomicU32::new(0);
    assert_eq!(call(&rig, &calls, 1).await.unwrap(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(rig.provider.renewals(), 1);
}

#[tokio::test]
async fn an_answer_that_is_not_inactive_is_final_without_renewal() {
    let rig = rig().await;
    let calls = AtomicU32::new(0);
    let r: Result<(), Error> = call_renewing_once(&rig.manager, |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Attempt::Done(Err(Error::Config("bad consumer key".into()))) }
    })
    .await;
    assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(rig.provider.renewals(), 0);
}

#[tokio::test]
async fn a_renewal_that_does_not_revive_the_token_escalates_and_never_loops() {
    let rig = rig().await;
    let mut events = rig.manager.subscribe();
    let calls = AtomicU32::new(0);
    // The broker renews "successfully" but keeps refusing the token.
    let err = call(&rig, &calls, u32::MAX).await.unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
    assert!(err.to_string().contains("did not revive"), "{err}");
    assert_eq!(rig.provider.renewals(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(rig.manager.health().reauthorization_required);
    let mut reauth = false;
    while let Ok(e) = events.try_recv() {
        reauth |= matches!(e, Event::ReauthorizationRequired { .. });
    }
    assert!(reauth, "a person is asked to log in");
    // Later calls: the manager remembers the refusal, no renewal is sent.
    for _ in 0..10 {
        let err = call(&rig, &calls, u32::MAX).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Rejected, "{err:?}");
    }
    assert_eq!(rig.provider.renewals(), 1, "renewals looped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inactive_answers_share_one_renewal() {
    let rig = Arc::new(rig().await);
    let creds = rig.manager.current().unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let rig = rig.clone();
            let first = creds.clone();
            tokio::spawn(async move {
                call_renewing_once(&rig.manager, move |c| {
                    // The credentials from before the renewal are refused.
                    let stale = Arc::ptr_eq(&c, &first);
                    async move {
                        if stale {
                            Attempt::Inactive("token_expired".into())
                        } else {
                            Attempt::Done(Ok::<_, Error>(()))
                        }
                    }
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("renewed and retried");
    }
    assert_eq!(rig.provider.renewals(), 1);
}

#[tokio::test]
async fn a_successful_call_counts_as_use() {
    let rig = rig().await;
    let before = rig.manager.evaluate().unwrap().idle_at.unwrap();
    // An hour later a call succeeds: the idle deadline moves with it.
    rig.clock.advance(Duration::hours(1));
    call(&rig, &AtomicU32::new(0), 0).await.unwrap();
    let after = rig.manager.evaluate().unwrap().idle_at.unwrap();
    assert_eq!(after, before + Duration::hours(1));
}
