//! E*TRADE's trading days on the manual clock, with the bundle's policy,
//! NYSE calendar, login window and pre-market check over a fake provider.
//!
//! The login window over a simulated week: the token dies at 00:00 New
//! York, the person is asked at 08:00 (not before), reminded on the rising
//! cadence, a login stops the reminders, a window answered late turns the
//! account critical at 09:20, and holidays and weekends have no prompt.
//!
//! The pre-market check at 08:00: a token revoked overnight is caught and
//! the person asked before the 09:30 open; an inactive token is renewed; a
//! healthy one costs one probe and nothing else; none on holidays or
//! weekends; transient failures are retried until 09:20, then critical.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::America::New_York;
use etrade::Etrade;
use token_core::testing::{local, maintain_until, FakeCreds, FakeProvider};
use token_core::{
    AccountKey, Broker, Environment, Error, Event, HealthStatus, ManualClock, MemoryStore, Remedy,
    TokenManager,
};
use tokio::sync::broadcast::Receiver;

struct Desk {
    clock: ManualClock,
    provider: Arc<FakeProvider>,
    manager: TokenManager<FakeCreds>,
    key: AccountKey,
    events: Receiver<Event>,
}

fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    local(New_York, y, m, d, h, mi)
}

/// An E*TRADE-configured manager (bundle policy, calendar and window) over
/// a fake provider, holding a token issued at `start`.
async fn desk(start: DateTime<Utc>) -> Desk {
    let clock = ManualClock::new(start);
    let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
    let key = AccountKey::new("etrade", Environment::Sandbox, "main").unwrap();
    let mut config = Etrade::standard_manager_config();
    // Look in the store for another process's login hourly, not every 30 s
    // (keeps the simulated week short; prompts are timed by the window).
    config.reauth_poll = Duration::hours(1);
    let manager = TokenManager::builder(key.clone(), provider.clone())
        .policy(Etrade::default_policy())
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .clock(Arc::new(clock.clone()))
        .build();
    let events = manager.subscribe();
    manager
        .install_authorized(provider.issue(&key))
        .await
        .unwrap();
    Desk {
        clock,
        provider,
        manager,
        key,
        events,
    }
}

impl Desk {
    async fn run_until(&self, until: DateTime<Utc>) {
        maintain_until(&self.manager, &self.clock, until).await
    }

    async fn log_in(&self) {
        self.manager
            .install_authorized(self.provider.issue(&self.key))
            .await
            .unwrap();
    }

    /// The login prompts since the last call: (when, reminder number).
    fn prompts(&mut self) -> Vec<(DateTime<Utc>, u32)> {
        self.drain()
            .into_iter()
            .filter_map(|e| match e {
                Event::LoginRequested {
                    at, reminder, url, ..
                } => {
                    assert!(url.is_some(), "every prompt carries a URL");
                    Some((at, reminder))
                }
                _ => None,
            })
            .collect()
    }

    fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}

fn at_minutes(day: (i32, u32, u32), minutes: &[(u32, u32, u32)]) -> Vec<(DateTime<Utc>, u32)> {
    minutes
        .iter()
        .map(|(h, m, n)| (ny(day.0, day.1, day.2, *h, *m), *n))
        .collect()
}

#[tokio::test]
async fn a_week_of_daily_logins_is_asked_in_the_window_only() {
    // Monday 30 Nov 2026, 10:00 New York: a token logged in this morning.
    let mut d = desk(ny(2026, 11, 30, 10, 0)).await;
    let healthy = d.manager.health();
    assert_eq!(healthy.status, HealthStatus::Healthy);
    let next = healthy.next_person_action.expect("foreseen");
    assert_eq!(next.remedy, Remedy::LogIn);
    assert_eq!(next.at, ny(2026, 12, 1, 8, 0));
    assert_eq!(next.window_closes, Some(ny(2026, 12, 1, 9, 20)));

    // Tuesday: dies at 00:00, nobody is asked before 08:00.
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    let night = d.drain();
    assert!(
        night
            .iter()
            .any(|e| matches!(e, Event::ReauthorizationRequired { .. })),
        "engines still hear the token died: {night:?}"
    );
    assert!(!night
        .iter()
        .any(|e| matches!(e, Event::LoginRequested { .. })));
    assert!(
        !night
            .iter()
            .any(|e| matches!(e, Event::ExpiringSoon { .. })),
        "no warning at 23:30 for a token the window's prompt replaces: {night:?}"
    );
    let waiting = d.manager.health();
    assert_eq!(
        waiting.status,
        HealthStatus::Degraded,
        "not critical before the window"
    );
    assert_eq!(
        waiting.next_person_action.map(|a| a.at),
        Some(ny(2026, 12, 1, 8, 0))
    );
    // Asked at 08:00, reminded at 08:20; logs in at 08:30: no more prompts.
    d.run_until(ny(2026, 12, 1, 8, 30)).await;
    assert_eq!(
        d.prompts(),
        at_minutes((2026, 12, 1), &[(8, 0, 0), (8, 20, 1)])
    );
    d.log_in().await;
    d.run_until(ny(2026, 12, 1, 23, 0)).await;
    assert_eq!(d.prompts(), vec![]);
    assert_eq!(d.manager.health().status, HealthStatus::Healthy);

    // Wednesday: answered late. The whole cadence, then critical at 09:20.
    d.run_until(ny(2026, 12, 2, 9, 19)).await;
    assert_eq!(
        d.prompts(),
        at_minutes(
            (2026, 12, 2),
            &[
                (8, 0, 0),
                (8, 20, 1),
                (8, 40, 2),
                (8, 50, 3),
                (9, 0, 4),
                (9, 10, 5),
                (9, 15, 6)
            ]
        )
    );
    assert_eq!(d.manager.health().status, HealthStatus::Degraded);
    d.run_until(ny(2026, 12, 2, 9, 21)).await;
    let missed: Vec<Event> = d.drain();
    assert!(
        missed.iter().any(|e| matches!(
            e,
            Event::LoginWindowMissed { at, next_window: Some(next), .. }
                if *at == ny(2026, 12, 2, 9, 20) && *next == ny(2026, 12, 3, 8, 0)
        )),
        "{missed:?}"
    );
    let late = d.manager.health();
    assert_eq!(late.status, HealthStatus::Critical);
    assert!(late.login_window_missed);
    d.run_until(ny(2026, 12, 2, 11, 0)).await;
    d.log_in().await;
    let back = d.manager.health();
    assert_eq!(back.status, HealthStatus::Healthy);
    assert!(!back.login_window_missed);

    // Thursday and Friday: asked at 08:00, log in at once.
    for day in [3, 4] {
        d.run_until(ny(2026, 12, day, 8, 5)).await;
        assert_eq!(d.prompts(), at_minutes((2026, 12, day), &[(8, 0, 0)]));
        d.log_in().await;
    }
    // The weekend: no prompt at all; Monday's window asks again.
    d.run_until(ny(2026, 12, 7, 7, 59)).await;
    assert_eq!(d.prompts(), vec![]);
    assert_eq!(
        d.manager.health().next_person_action.map(|a| a.at),
        Some(ny(2026, 12, 7, 8, 0))
    );
    d.run_until(ny(2026, 12, 7, 8, 1)).await;
    assert_eq!(d.prompts(), at_minutes((2026, 12, 7), &[(8, 0, 0)]));
}

#[tokio::test]
async fn no_prompt_on_christmas_2026_an_nyse_holiday() {
    // Thursday 24 Dec, 10:00: the token dies at 00:00 Friday (Christmas).
    let mut d = desk(ny(2026, 12, 24, 10, 0)).await;
    assert_eq!(
        d.manager.health().next_person_action.map(|a| a.at),
        Some(ny(2026, 12, 28, 8, 0)),
        "the next person action skips the holiday and the weekend"
    );
    d.run_until(ny(2026, 12, 28, 7, 59)).await;
    assert_eq!(d.prompts(), vec![]);
    d.run_until(ny(2026, 12, 28, 8, 0)).await;
    assert_eq!(d.prompts(), at_minutes((2026, 12, 28), &[(8, 0, 0)]));
}

#[tokio::test]
async fn a_refusal_after_the_window_asks_at_once_and_again_next_morning() {
    let mut d = desk(ny(2026, 12, 1, 8, 10)).await;
    d.run_until(ny(2026, 12, 1, 11, 0)).await;
    d.manager.report_rejection("token_rejected").await;
    d.run_until(ny(2026, 12, 1, 11, 1)).await;
    assert_eq!(d.prompts(), vec![(ny(2026, 12, 1, 11, 0), 0)]);
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Critical, "the day's window is gone");
    assert_eq!(
        h.next_person_action.and_then(|a| a.window_closes),
        Some(ny(2026, 12, 2, 9, 20))
    );
    d.run_until(ny(2026, 12, 2, 8, 1)).await;
    assert_eq!(d.prompts(), vec![(ny(2026, 12, 2, 8, 0), 0)]);
}

#[test]
fn the_bundle_names_nyse_and_its_window() {
    assert_eq!(Etrade::calendar(), Some("NYSE"));
    assert_eq!(
        Etrade::login_window().map(|w| w.to_string()).as_deref(),
        Some("08:00-09:20 America/New_York Mon-Fri")
    );
    let config = Etrade::standard_manager_config();
    assert_eq!(
        config.check_at.map(|s| s.to_string()).as_deref(),
        Some("08:00 America/New_York Mon-Fri")
    );
    assert_eq!(
        config.calendar.map(|c| c.name().to_owned()).as_deref(),
        Some("NYSE")
    );
}

// ----- the pre-market check -----

fn names(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::name).collect()
}

#[tokio::test]
async fn a_token_revoked_overnight_is_caught_at_the_check_and_the_person_asked_before_the_open() {
    // A person logged in at 01:00 (after the midnight expiry).
    let mut d = desk(ny(2026, 12, 1, 1, 0)).await;
    d.run_until(ny(2026, 12, 1, 7, 0)).await;
    d.drain();
    // 07:00: revoked behind the manager's back (another device logged out).
    d.provider.fail_probes([Error::rejected("token revoked")]);
    d.run_until(ny(2026, 12, 1, 8, 1)).await;
    let events = d.drain();
    assert_eq!(
        names(&events),
        [
            "renewal_failed",
            "reauthorization_required",
            "login_requested"
        ],
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.at() == ny(2026, 12, 1, 8, 0)));
    let h = d.manager.health();
    assert_eq!(h.last_checked, Some(ny(2026, 12, 1, 8, 0)));
    assert_eq!(h.last_check_ok, Some(false));
    let action = h.next_person_action.expect("a person must log in");
    assert_eq!(action.remedy, Remedy::LogIn);
    assert!(action.at < ny(2026, 12, 1, 9, 30), "asked before the open");
}

#[tokio::test]
async fn a_healthy_token_costs_one_probe_and_nothing_else() {
    let mut d = desk(ny(2026, 12, 1, 7, 0)).await;
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    d.drain();
    let (probes, renewals) = (d.provider.probes(), d.provider.renewals());
    d.run_until(ny(2026, 12, 1, 8, 1)).await;
    assert_eq!(d.provider.probes(), probes + 1);
    assert_eq!(d.provider.renewals(), renewals);
    assert_eq!(names(&d.drain()), ["keep_alive_sent", "check_passed"]);
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Healthy);
    assert_eq!(h.last_checked, Some(ny(2026, 12, 1, 8, 0)));
    assert_eq!(h.last_check_ok, Some(true));
    assert_eq!(h.next_check_at, Some(ny(2026, 12, 2, 8, 0)));
    // The health JSON monitors read.
    let json = serde_json::to_value(&h).unwrap();
    assert_eq!(json["last_checked"], "2026-12-01T13:00:00Z");
    assert_eq!(json["last_check_ok"], true);
    assert_eq!(json["next_person_action"]["remedy"], "log_in");
    let back: token_core::AccountHealth = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, h);
    assert_eq!(json["next_person_action"]["at"], "2026-12-02T13:00:00Z");
    assert_eq!(
        json["next_person_action"]["window_closes"],
        "2026-12-02T14:20:00Z"
    );
    assert_eq!(json["next_person_action"]["zone"], "America/New_York");
}

#[tokio::test]
async fn an_idle_but_renewable_token_is_renewed_at_the_check() {
    let mut d = desk(ny(2026, 12, 1, 7, 0)).await;
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    d.drain();
    let renewals = d.provider.renewals();
    d.provider.fail_probes([Error::Inactive {
        reason: "oauth_problem=token_inactive".into(),
    }]);
    d.run_until(ny(2026, 12, 1, 8, 1)).await;
    assert_eq!(d.provider.renewals(), renewals + 1);
    let events = names(&d.drain());
    assert_eq!(events, ["renewed", "check_passed"], "{events:?}");
    assert_eq!(d.manager.health().last_check_ok, Some(true));
}

#[tokio::test]
async fn no_check_on_a_holiday_or_a_weekend() {
    // Thursday 24 Dec, after the check: Friday is Christmas, then the weekend.
    let d = desk(ny(2026, 12, 24, 8, 30)).await;
    d.run_until(ny(2026, 12, 24, 9, 0)).await;
    assert_eq!(
        d.manager.health().next_check_at,
        Some(ny(2026, 12, 28, 8, 0))
    );
    let d = desk(ny(2026, 12, 4, 8, 30)).await;
    d.run_until(ny(2026, 12, 4, 9, 0)).await;
    assert_eq!(
        d.manager.health().next_check_at,
        Some(ny(2026, 12, 7, 8, 0))
    );
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_window_closes_then_critical() {
    let mut d = desk(ny(2026, 12, 1, 7, 30)).await;
    d.run_until(ny(2026, 12, 1, 7, 59)).await;
    d.provider
        .fail_probes((0..200).map(|_| Error::transient("503 Service Unavailable")));
    d.run_until(ny(2026, 12, 1, 9, 19)).await;
    let retries = d.provider.probes();
    assert!(retries >= 5, "retried with backoff: {retries} probes");
    assert_eq!(d.manager.health().status, HealthStatus::Degraded);
    d.run_until(ny(2026, 12, 1, 9, 21)).await;
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Critical, "still failing at 09:20");
    assert_eq!(h.last_check_ok, Some(false));
    d.drain();
}

#[tokio::test]
async fn a_status_reader_sees_the_same_verdict_without_running_maintenance() {
    // `tokenctl status` evaluates a stored token without a maintenance pass.
    let d = desk(ny(2026, 12, 1, 10, 0)).await;
    d.clock.set(ny(2026, 12, 2, 7, 0));
    let h = d.manager.health();
    assert_eq!(
        h.status,
        HealthStatus::Degraded,
        "dead, but the window is ahead"
    );
    assert_eq!(
        h.next_person_action.map(|a| a.at),
        Some(ny(2026, 12, 2, 8, 0))
    );
    d.clock.set(ny(2026, 12, 2, 10, 0));
    let h = d.manager.health();
    assert_eq!(h.status, HealthStatus::Critical, "the day's window is over");
    assert_eq!(
        h.next_person_action.map(|a| a.at),
        Some(ny(2026, 12, 2, 10, 0))
    );
}
