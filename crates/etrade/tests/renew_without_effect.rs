//! E*TRADE can answer a renew with 200 while the token stays dead. The
//! manager's maintenance verifies a reviving renewal with one probe (at once
//! after a probe said inactive; the next keep-alive after renewing an idle
//! token) and, when the token is still inactive, asks for a person instead
//! of renewing again every idle period (issue 15).

mod common;

use broker_sim::{Endpoint, Fault, SimConfig, Times};
use chrono::Duration;
use common::*;
use token_core::Event;

/// The re-authorization events among `events`, with their reasons.
fn reauth_reasons(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ReauthorizationRequired { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// Renew answers 200 without effect from now on.
fn renew_does_nothing(env: &Env) {
    env.sim.inject_fault(
        Endpoint::EtradeRenew,
        Fault::RenewWithoutEffect,
        Times::UntilCleared,
    );
}

/// After the first renewal: one re-authorization event saying the renewal
/// did not revive the token, and no renew call for the rest of the day.
async fn escalates_once_and_never_renews_again(env: &mut Env) {
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1, "exactly one renew");
    let events = env.drain();
    let reasons = reauth_reasons(&events);
    assert_eq!(reasons.len(), 1, "one re-authorization event: {events:?}");
    assert!(
        reasons[0].contains("did not revive the token"),
        "{}",
        reasons[0]
    );
    assert!(asks_for_login(&events), "with an authorize URL: {events:?}");
    assert!(env.manager.health().reauthorization_required);

    // The next simulated hours, until just before midnight New York.
    let probes = env.sim.calls(Endpoint::EtradeAccountsList);
    env.maintain_until(ny(2026, 3, 5, 23, 50)).await;
    assert_eq!(
        env.sim.calls(Endpoint::EtradeRenew),
        1,
        "no renewal loop after the escalation"
    );
    assert_eq!(
        env.sim.calls(Endpoint::EtradeAccountsList),
        probes,
        "no probing of refused credentials"
    );
    assert!(reauth_reasons(&env.drain()).is_empty(), "raised once");
}

#[tokio::test]
async fn maintenance_renewing_an_idle_token_without_effect_escalates_once() {
    let mut env = setup().await;
    env.login().await;
    renew_does_nothing(&env);
    env.drain();
    // Maintenance was asleep past the 2 h idle timeout (here and at the sim).
    env.clock
        .advance(Duration::hours(2) + Duration::minutes(30));
    env.manager.maintain().await;
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1);
    assert_eq!(names(&env.drain()), vec!["renewed"]);
    // The next keep-alive (1 h 50 later) verifies the renewal: refused as
    // inactive, so the manager escalates instead of renewing again.
    env.maintain_until(ny(2026, 3, 5, 13, 30)).await;
    assert_eq!(env.sim.calls(Endpoint::EtradeAccountsList), 1);
    escalates_once_and_never_renews_again(&mut env).await;
}

#[tokio::test]
async fn keep_alive_renewal_without_effect_escalates_once() {
    // The simulator idles tokens after 30 min; our policy still says 2 h, so
    // the keep-alive probe finds the token inactive and maintenance renews.
    let config = SimConfig {
        etrade_idle_timeout: Duration::minutes(30),
        ..SimConfig::default()
    };
    let mut env = setup_at(ny(2026, 3, 5, 9, 0), config).await;
    env.login().await;
    renew_does_nothing(&env);
    env.drain();
    env.maintain_until(ny(2026, 3, 5, 11, 0)).await;
    // The keep-alive probe, then the probe verifying the renewal.
    assert_eq!(env.sim.calls(Endpoint::EtradeAccountsList), 2);
    escalates_once_and_never_renews_again(&mut env).await;
}

#[tokio::test]
async fn a_renewal_that_works_is_verified_by_the_next_keep_alive_and_nothing_is_raised() {
    let mut env = setup().await;
    env.login().await;
    env.drain();
    env.clock
        .advance(Duration::hours(2) + Duration::minutes(30));
    env.maintain_until(ny(2026, 3, 5, 13, 30)).await;
    assert_eq!(env.sim.calls(Endpoint::EtradeRenew), 1);
    assert_eq!(env.sim.calls(Endpoint::EtradeAccountsList), 1, "verified");
    let events = env.drain();
    assert_eq!(names(&events), vec!["renewed", "keep_alive_sent"]);
    assert!(!env.manager.health().reauthorization_required);
}
