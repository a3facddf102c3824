//! The FYERS login window on the manual clock: with daily logins (no
//! silent refresh), the token dies at 06:00 Kolkata and the person is asked
//! at 08:00 on NSE trading days only: never on an NSE holiday.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Asia::Kolkata;
use fyers::Fyers;
use token_core::testing::{local, maintain_until, FakeProvider};
use token_core::{
    AccountKey, Broker, Capabilities, Environment, Event, ManualClock, MemoryStore, TokenManager,
};

fn ist(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    local(Kolkata, y, m, d, h, mi)
}

#[tokio::test]
async fn no_prompt_on_an_nse_holiday() {
    // Monday 23 Nov 2026, 10:00 IST; Tuesday 24 Nov is Guru Nanak Jayanti.
    let clock = ManualClock::new(ist(2026, 11, 23, 10, 0));
    let provider = Arc::new(
        FakeProvider::new(Arc::new(clock.clone())).with_capabilities(Capabilities {
            renew: false,
            ..Capabilities::ALL
        }),
    );
    let key = AccountKey::new("fyers", Environment::Sandbox, "desk").unwrap();
    let mut config = Fyers::standard_manager_config();
    config.reauth_poll = Duration::hours(1);
    let manager = TokenManager::builder(key.clone(), provider.clone())
        .policy(Fyers::default_policy())
        .config(config)
        .store(Arc::new(MemoryStore::new()))
        .clock(Arc::new(clock.clone()))
        .build();
    let mut events = manager.subscribe();
    manager
        .install_authorized(provider.issue(&key))
        .await
        .unwrap();
    assert_eq!(
        manager.health().next_person_action.map(|a| a.at),
        Some(ist(2026, 11, 25, 8, 0)),
        "the holiday is skipped"
    );
    maintain_until(&manager, &clock, ist(2026, 11, 25, 8, 1)).await;
    let mut prompts = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let Event::LoginRequested {
            at, window_closes, ..
        } = e
        {
            prompts.push((at, window_closes));
        }
    }
    assert_eq!(
        prompts,
        vec![(ist(2026, 11, 25, 8, 0), Some(ist(2026, 11, 25, 9, 0)))]
    );
}

#[test]
fn the_bundle_names_nse_and_its_window() {
    assert_eq!(Fyers::calendar(), Some("NSE"));
    assert_eq!(
        Fyers::login_window().map(|w| w.to_string()).as_deref(),
        Some("08:00-09:00 Asia/Kolkata Mon-Fri")
    );
    assert_eq!(
        Fyers::standard_manager_config()
            .check_at
            .map(|s| s.to_string())
            .as_deref(),
        Some("08:30 Asia/Kolkata Mon-Fri")
    );
}
