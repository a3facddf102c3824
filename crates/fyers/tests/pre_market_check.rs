//! The FYERS pre-market check against broker-sim on the manual clock, with
//! the bundle's NSE calendar, login window and check time: a token logged
//! out behind the manager's back is caught at 08:30 IST and the person is
//! asked before the 09:15 open; a healthy token costs one call; none on
//! an NSE holiday.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use common::*;
use fyers::{Fyers, FyersCreds, FyersProvider};
use token_core::{Broker, Event, HealthStatus, ManualClock, MemoryStore, TokenManager};

struct Desk {
    clock: ManualClock,
    running: broker_sim::RunningSim,
    manager: TokenManager<FyersCreds>,
}

async fn desk() -> Desk {
    let (clock, running) = start_sim(broker_sim::SimConfig::default(), monday_10_ist()).await;
    let provider = Arc::new(
        FyersProvider::new(config_for(&running), Arc::new(clock.clone())).expect("valid config"),
    );
    let manager = Fyers::manager(key(), provider)
        .store(Arc::new(MemoryStore::new()))
        .clock(Arc::new(clock.clone()))
        .configure(|c| c.reauth_poll = Duration::hours(1))
        .build();
    let request = manager.begin_authorization().await.expect("login URL");
    let c = running.credentials();
    let redirect = running
        .sim
        .approve_fyers(
            &c.fyers_client_id,
            &c.fyers_redirect_uri,
            &state_of(&request.url),
        )
        .expect("simulated login");
    manager
        .complete_authorization(&secrecy::SecretString::from(redirect))
        .await
        .expect("login completes");
    Desk {
        clock,
        running,
        manager,
    }
}

impl Desk {
    async fn run_until(&self, until: DateTime<Utc>) {
        token_core::testing::maintain_until(&self.manager, &self.clock, until).await
    }

    /// Calls to every simulated endpoint so far.
    fn calls(&self) -> u64 {
        broker_sim::Endpoint::ALL
            .iter()
            .map(|e| self.running.sim.calls(*e))
            .sum()
    }
}

#[tokio::test]
async fn a_token_logged_out_overnight_is_caught_at_the_check_and_the_person_asked_before_the_open()
{
    let d = desk().await;
    let mut events = d.manager.subscribe();
    // Wednesday 07:00 IST (Tuesday 3 March is Holi, an NSE holiday: no
    // check): the 06:00 refresh has happened; another device logs the new
    // token out.
    d.run_until(ist(2026, 3, 4, 7, 0)).await;
    let creds = d.manager.current().expect("a token");
    let c = d.running.credentials();
    let answer = reqwest::Client::new()
        .post(format!("{}/logout", c.fyers_base_url))
        .header(
            "Authorization",
            format!("{}:{}", c.fyers_client_id, access(&creds.payload)),
        )
        .send()
        .await
        .expect("logout call");
    assert!(answer.status().is_success());
    drain(&mut events);
    d.run_until(ist(2026, 3, 4, 8, 29)).await;
    assert!(
        !drain(&mut events)
            .iter()
            .any(|e| matches!(e, Event::LoginRequested { .. })),
        "nothing noticed before the check"
    );
    d.run_until(ist(2026, 3, 4, 8, 31)).await;
    let asked: Vec<DateTime<Utc>> = drain(&mut events)
        .iter()
        .filter_map(|e| match e {
            Event::LoginRequested { at, .. } => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(asked, vec![ist(2026, 3, 4, 8, 30)], "asked at the check");
    let h = d.manager.health();
    assert_eq!(h.last_checked, Some(ist(2026, 3, 4, 8, 30)));
    assert_eq!(h.last_check_ok, Some(false));
    assert!(h
        .next_person_action
        .is_some_and(|a| a.at < ist(2026, 3, 4, 9, 15)));
}

#[tokio::test]
async fn a_healthy_token_costs_one_call_at_the_check() {
    let d = desk().await;
    let mut events = d.manager.subscribe();
    d.run_until(ist(2026, 3, 4, 8, 29)).await;
    drain(&mut events);
    let before = d.calls();
    d.run_until(ist(2026, 3, 4, 8, 31)).await;
    assert_eq!(d.calls(), before + 1, "one profile call");
    let names: Vec<&str> = drain(&mut events).iter().map(Event::name).collect();
    assert_eq!(names, ["keep_alive_sent", "check_passed"]);
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Healthy);
    assert_eq!(h.last_check_ok, Some(true));
}

#[tokio::test]
async fn no_check_on_holi_an_nse_holiday() {
    let d = desk().await;
    // Monday 2 March 10:00 IST: the next check skips Tuesday (Holi).
    d.run_until(ist(2026, 3, 2, 10, 1)).await;
    assert_eq!(
        d.manager.health().next_check_at,
        Some(ist(2026, 3, 4, 8, 30))
    );
    d.run_until(ist(2026, 3, 3, 12, 0)).await;
    assert_eq!(d.manager.health().last_checked, None);
}
