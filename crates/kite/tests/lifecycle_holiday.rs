//! Kite over five NSE trading days with Holi (Tuesday 3 March 2026, an NSE
//! holiday) and a weekend in between, on the manual clock against
//! broker-sim, with the bundle's calendar, 08:00-09:00 IST login window and
//! 08:30 check (issue 17 item 5): every trading day the token dies at 06:00
//! IST, the person is asked once at 08:00, logs in (approval in the
//! simulator, the redirect URL pasted), and the bot's `profile` call works;
//! on the holiday and the weekend nobody is asked.

mod common;

use std::sync::Arc;

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use common::{config_for, ist, key};
use kite::{Kite, KiteCreds, KiteProvider, KiteRequestAuth};
use secrecy::{ExposeSecret, SecretString};
use token_core::bundle::{ApiRequest, RequestAuth};
use token_core::testing::maintain_until;
use token_core::{
    Broker, Event, ManualClock, MemoryStore, TokenManager, TokenState, TradingCalendar, Unavailable,
};

struct Desk {
    clock: ManualClock,
    running: broker_sim::RunningSim,
    provider: Arc<KiteProvider>,
    manager: TokenManager<KiteCreds>,
}

impl Desk {
    async fn run_until(&self, until: DateTime<Utc>) {
        maintain_until(&self.manager, &self.clock, until).await
    }

    /// The person: opens the login URL, logs in (the simulator approves),
    /// pastes the redirect URL.
    async fn log_in(&self) -> token_core::Credentials<KiteCreds> {
        let request = self.manager.begin_authorization().await.expect("login URL");
        assert!(request.url.contains("/connect/login?v=3&api_key="));
        let sim = &self.running.sim;
        let redirect = sim
            .approve_kite(&sim.config().kite.api_key)
            .expect("approved");
        self.manager
            .complete_authorization(&SecretString::from(redirect))
            .await
            .expect("login completes")
    }

    /// The bot: `GET /user/profile` with the manager's token and the
    /// bundle's request headers. Returns the HTTP status.
    async fn bot_profile(&self) -> u16 {
        let token = self.manager.token().expect("a live token");
        let auth = KiteRequestAuth::new(&self.provider).expect("request auth");
        let url = auth.api_base().join("user/profile").expect("URL");
        let request = ApiRequest {
            method: "GET",
            url: &url,
            content_type: None,
            body: b"",
        };
        let mut call = reqwest::Client::new().get(url.as_str());
        for h in auth.authorize(&token.payload, &request).expect("headers") {
            call = call.header(h.name, h.value.expose_secret());
        }
        let answer = call.send().await.expect("profile call");
        let status = answer.status().as_u16();
        let body: serde_json::Value = answer.json().await.expect("JSON");
        assert_eq!(body["status"], "success", "{body}");
        status
    }
}

fn date(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, m, d).expect("a date")
}

fn prompts(events: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<DateTime<Utc>> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            Event::LoginRequested { at, .. } => Some(at),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn five_trading_days_around_holi_ask_five_times_and_never_on_the_holiday_or_weekend() {
    // Wednesday 25 Feb 2026, 10:00 IST: the person logs in once to start.
    let clock = ManualClock::new(ist(2026, 2, 25, 10, 0));
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .expect("simulator starts");
    let secret = running.sim.config().kite.api_secret;
    let provider = Arc::new(
        KiteProvider::new(config_for(&running, &secret), Arc::new(clock.clone()))
            .expect("valid config"),
    );
    let manager = Kite::manager(key(), provider.clone())
        .store(Arc::new(MemoryStore::new()))
        .clock(Arc::new(clock.clone()))
        .configure(|c| c.reauth_poll = Duration::hours(1))
        .build();
    let desk = Desk {
        clock,
        running,
        provider,
        manager,
    };
    let mut events = desk.manager.subscribe();
    desk.log_in().await;
    desk.running.sim.reset_counters();

    // Thu 26 Feb .. Thu 5 Mar: Sat 28, Sun 1 and Tue 3 (Holi) are closed.
    let trading = [date(2, 26), date(2, 27), date(3, 2), date(3, 4), date(3, 5)];
    let closed = [date(2, 28), date(3, 1), date(3, 3)];
    let nse = TradingCalendar::builtin("NSE").expect("the NSE calendar");
    assert_eq!(nse.holiday(date(3, 3)), Some("Holi"));
    assert_eq!(date(3, 3).weekday(), Weekday::Tue, "a weekday holiday");
    let mut tokens = std::collections::BTreeSet::new();
    let mut day = date(2, 26);
    while day <= date(3, 5) {
        let (m, d) = (day.month(), day.day());
        let is_trading = trading.contains(&day);
        assert_eq!(is_trading, !closed.contains(&day), "{day}");
        // Yesterday's token lives until 05:59 and dies at 06:00 IST (on a
        // closed day there is none left to die).
        desk.run_until(ist(2026, m, d, 5, 59)).await;
        let prior = desk.manager.token();
        desk.run_until(ist(2026, m, d, 6, 0)).await;
        if prior.is_ok() {
            assert!(matches!(desk.manager.token(), Err(Unavailable::Expired)));
            assert_eq!(desk.manager.health().state, Some(TokenState::Expired));
        }
        let prev = day.pred_opt().expect("previous day");
        let logged_in_yesterday = prev == date(2, 25) || trading.contains(&prev);
        assert_eq!(
            prior.is_ok(),
            logged_in_yesterday,
            "{day}: a token until 06:00"
        );
        // Nobody is asked before the window.
        desk.run_until(ist(2026, m, d, 7, 59)).await;
        assert!(
            prompts(&mut events).is_empty(),
            "{day}: no prompt before 08:00"
        );
        desk.run_until(ist(2026, m, d, 8, 0)).await;
        let asked = prompts(&mut events);
        if is_trading {
            assert_eq!(asked, [ist(2026, m, d, 8, 0)], "{day}: asked once at 08:00");
            assert!(desk.manager.token().is_err(), "{day}: no token to hand out");
            let creds = desk.log_in().await;
            assert_eq!(
                creds.meta.expires_at,
                Some(ist(2026, m, d, 6, 0) + Duration::days(1)),
                "{day}: dies at the next 06:00 IST"
            );
            tokens.insert(creds.payload.access_token.expose_secret().to_owned());
            assert_eq!(desk.bot_profile().await, 200, "{day}");
        } else {
            assert!(asked.is_empty(), "{day}: closed, nobody asked");
            if day == date(3, 3) {
                // Holi: the token died at 06:00; the login waits for Wednesday.
                let h = desk.manager.health();
                assert!(h.reauthorization_required);
                let action = h.next_person_action.expect("a login ahead");
                assert_eq!(action.at, ist(2026, 3, 4, 8, 0));
            }
        }
        // The rest of the day: no reminders (logged in) and no prompts.
        desk.run_until(ist(2026, m, d, 23, 0)).await;
        assert!(
            prompts(&mut events).is_empty(),
            "{day}: nothing more that day"
        );
        assert_eq!(desk.manager.token().is_ok(), is_trading, "{day}: evening");
        day = day.succ_opt().expect("next day");
    }
    let sim = &desk.running.sim;
    assert_eq!(sim.calls(Endpoint::KiteSessionToken), 5, "five logins");
    // Five bot calls and five 08:30 checks; none on closed days.
    assert_eq!(sim.calls(Endpoint::KiteProfile), 10);
    assert_eq!(tokens.len(), 5, "a new token every trading day");
    let h = desk.manager.health();
    assert_eq!(h.renewals, 0, "Kite has no silent renewal");
    assert_eq!(h.last_checked, Some(ist(2026, 3, 5, 8, 30)));
    assert_eq!(h.last_check_ok, Some(true));
}
