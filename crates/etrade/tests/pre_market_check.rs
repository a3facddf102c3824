//! The E*TRADE pre-market check against broker-sim on the manual clock, with
//! the bundle's NYSE calendar, login window and 08:00 New York check
//! (issue 19, "Done when"): a token revoked overnight behind the manager's
//! back (the simulator's control API) is caught at 08:00 (one probe, one
//! refused renew) and the person is asked before the 09:30 open; an idle-but-renewable token is renewed at
//! the check and probed again; a healthy token costs one probe and nothing
//! else; no check on Christmas (an NYSE holiday) or a weekend.

mod common;

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use chrono::{DateTime, Duration, Utc};
use common::{config_for, ny, request_token_of};
use etrade::{Etrade, EtradeCredentials, EtradeProvider};
use token_core::testing::maintain_until;
use token_core::{
    Broker, Environment, Event, HealthStatus, ManualClock, MemoryStore, Remedy, TokenManager,
};
use tokio::sync::broadcast::Receiver;

struct Desk {
    clock: ManualClock,
    running: RunningSim,
    manager: TokenManager<EtradeCredentials>,
    events: Receiver<Event>,
}

/// An E*TRADE account built from the bundle (policy, calendar, window,
/// check) against broker-sim, logged in by a person at `login_at`.
async fn desk(sim_config: SimConfig, login_at: DateTime<Utc>) -> Desk {
    let clock = ManualClock::new(login_at);
    let running = BrokerSim::start_with_manual_clock(sim_config, clock.clone())
        .await
        .expect("simulator starts");
    let config = config_for(&running, Environment::Sandbox);
    let key = config.account_key("main").expect("valid key");
    let provider = Arc::new(
        EtradeProvider::with_clock(config, Arc::new(clock.clone())).expect("valid provider"),
    );
    let manager = Etrade::manager(key, provider)
        .store(Arc::new(MemoryStore::new()))
        .clock(Arc::new(clock.clone()))
        // Look for another process's login hourly, not every 30 s.
        .configure(|c| c.reauth_poll = Duration::hours(1))
        .build();
    let request = manager.begin_authorization().await.expect("request token");
    let verifier = running
        .sim
        .approve_etrade(&request_token_of(&request.url))
        .expect("the person approves");
    manager
        .complete_authorization(&verifier.into())
        .await
        .expect("access token");
    let events = manager.subscribe();
    Desk {
        clock,
        running,
        manager,
        events,
    }
}

impl Desk {
    async fn run_until(&self, until: DateTime<Utc>) {
        maintain_until(&self.manager, &self.clock, until).await
    }

    fn names(&mut self) -> Vec<&'static str> {
        std::iter::from_fn(|| self.events.try_recv().ok())
            .map(|e| e.name())
            .collect()
    }

    fn calls(&self, endpoint: Endpoint) -> u64 {
        self.running.sim.calls(endpoint)
    }

    fn all_calls(&self) -> u64 {
        Endpoint::ALL.iter().map(|e| self.calls(*e)).sum()
    }
}

#[tokio::test]
async fn a_token_revoked_overnight_is_caught_at_0800_and_the_person_asked_before_the_open() {
    // Tuesday 1 Dec 2026: a person logged in at 01:00 New York (after the
    // midnight expiry); the keep-alives keep the token active overnight.
    let mut d = desk(SimConfig::default(), ny(2026, 12, 1, 1, 0)).await;
    d.run_until(ny(2026, 12, 1, 7, 0)).await;
    assert!(d.calls(Endpoint::EtradeAccountsList) >= 2, "kept alive");
    d.names();
    // 07:00: revoked behind the manager's back, through the control API.
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/__sim/etrade/revoke", d.running.base_url))
        .send()
        .await
        .expect("control call")
        .json()
        .await
        .expect("JSON answer");
    assert_eq!(answer["revoked"], 1);
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    assert_eq!(
        d.names(),
        Vec::<&str>::new(),
        "nothing noticed before 08:00"
    );
    assert_eq!(d.manager.health().status, HealthStatus::Healthy);
    d.running.sim.reset_counters();
    d.run_until(ny(2026, 12, 1, 8, 1)).await;
    // The probe is refused; before midnight a refusal may be idleness
    // (E*TRADE does not document which problem an idle token gets), so one
    // renew tells: refused too. Then the new login's request token (its URL).
    assert_eq!(d.calls(Endpoint::EtradeAccountsList), 1, "one probe");
    assert_eq!(d.calls(Endpoint::EtradeRenew), 1, "one renew, refused");
    assert_eq!(d.calls(Endpoint::EtradeRequestToken), 1, "the login URL");
    assert_eq!(d.all_calls(), 3);
    let events: Vec<Event> = std::iter::from_fn(|| d.events.try_recv().ok()).collect();
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(
        names,
        [
            "renewal_failed",
            "reauthorization_required",
            "login_requested"
        ]
    );
    assert!(events.iter().all(|e| e.at() == ny(2026, 12, 1, 8, 0)));
    let h = d.manager.health();
    assert_eq!(h.last_checked, Some(ny(2026, 12, 1, 8, 0)));
    assert_eq!(h.last_check_ok, Some(false));
    assert!(h.reauthorization_required);
    let action = h.next_person_action.expect("a person must log in");
    assert_eq!(action.remedy, Remedy::LogIn);
    assert!(action.at < ny(2026, 12, 1, 9, 30), "asked before the open");
}

#[tokio::test]
async fn an_idle_but_renewable_token_is_renewed_at_the_check_and_probed_again() {
    // The simulator lets a token go idle after 30 minutes, sooner than the
    // policy's keep-alive (2 h less a margin) expects: at 08:00 the token
    // is inactive but renewable, and only the check can find out.
    let config = SimConfig {
        etrade_idle_timeout: Duration::minutes(30),
        ..SimConfig::default()
    };
    let mut d = desk(config, ny(2026, 12, 1, 7, 0)).await;
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    d.names();
    d.running.sim.reset_counters();
    d.run_until(ny(2026, 12, 1, 8, 1)).await;
    assert_eq!(d.calls(Endpoint::EtradeRenew), 1, "one renew");
    assert_eq!(
        d.calls(Endpoint::EtradeAccountsList),
        2,
        "the probe, then the probe again after the renew"
    );
    assert_eq!(d.all_calls(), 3);
    assert_eq!(d.names(), ["renewed", "check_passed"]);
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Healthy);
    assert_eq!(h.last_check_ok, Some(true));
    assert_eq!(h.renewals, 1);
}

#[tokio::test]
async fn a_healthy_token_produces_exactly_one_probe_and_nothing_else() {
    let mut d = desk(SimConfig::default(), ny(2026, 12, 1, 7, 0)).await;
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    d.names();
    d.running.sim.reset_counters();
    d.run_until(ny(2026, 12, 1, 8, 1)).await;
    assert_eq!(d.calls(Endpoint::EtradeAccountsList), 1);
    assert_eq!(d.all_calls(), 1, "nothing but the probe");
    assert_eq!(d.names(), ["keep_alive_sent", "check_passed"]);
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Healthy);
    assert_eq!(h.last_checked, Some(ny(2026, 12, 1, 8, 0)));
    assert_eq!(h.last_check_ok, Some(true));
    assert_eq!(h.next_check_at, Some(ny(2026, 12, 2, 8, 0)));
}

#[tokio::test]
async fn no_check_on_christmas_2026_or_a_weekend_even_with_a_live_token() {
    // A person logs in at 01:00 on Friday 25 Dec (NYSE closed) and on
    // Saturday 26 Dec: the tokens live all day, kept alive, never checked.
    for (day, next_check) in [
        (ny(2026, 12, 25, 1, 0), ny(2026, 12, 28, 8, 0)),
        (ny(2026, 12, 26, 1, 0), ny(2026, 12, 28, 8, 0)),
    ] {
        let mut d = desk(SimConfig::default(), day).await;
        d.run_until(day + Duration::hours(10)).await;
        let h = d.manager.health();
        assert_eq!(h.last_checked, None, "{day}: no check");
        assert_eq!(h.next_check_at, Some(next_check), "{day}");
        assert_eq!(h.status, HealthStatus::Healthy, "{day}");
        let names = d.names();
        assert!(!names.contains(&"check_passed"), "{day}: {names:?}");
        assert!(names.contains(&"keep_alive_sent"), "{day}: {names:?}");
        // Besides the login, every call the simulator saw is a keep-alive.
        let keep_alives = names.iter().filter(|n| **n == "keep_alive_sent").count() as u64;
        assert_eq!(d.calls(Endpoint::EtradeAccountsList), keep_alives, "{day}");
        let login = d.calls(Endpoint::EtradeRequestToken) + d.calls(Endpoint::EtradeAccessToken);
        assert_eq!((login, d.all_calls()), (2, 2 + keep_alives), "{day}");
    }
}
