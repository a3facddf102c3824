//! Five trading days on the manual clock: a person logs in every morning,
//! the token dies at 06:00 IST each day, and the manager asks for a login
//! with the login URL. The weekend in between needs no login. With the
//! bundle's NSE calendar, login window and an NSE holiday: `lifecycle_holiday.rs`.

mod common;

use broker_sim::{Endpoint, SimConfig};
use chrono::{Datelike, Duration, Weekday};
use chrono_tz::Asia::Kolkata;
use common::*;
use token_core::{Event, TokenProvider, TokenState, Unavailable};

#[tokio::test]
async fn five_trading_days_need_five_logins_and_each_token_dies_at_0600_ist() {
    // Thursday 2026-03-05 08:30 IST; the trading days are Thu, Fri, Mon,
    // Tue, Wed (the weekend of 7-8 March in between).
    let days = [(3, 5), (3, 6), (3, 9), (3, 10), (3, 11)];
    let env = start_at(SimConfig::default(), ist(2026, 3, 5, 8, 0)).await;
    let mut events = env.manager.subscribe();
    let mut tokens = Vec::new();
    for (i, (m, d)) in days.into_iter().enumerate() {
        let morning = ist(2026, m, d, 8, 30);
        env.clock.set(morning);
        let local = morning.with_timezone(&Kolkata);
        assert!(!matches!(local.weekday(), Weekday::Sat | Weekday::Sun));
        if i > 0 {
            // Before the login: the manager says a person must log in, with
            // the Kite login URL, and hands out no token.
            env.manager.maintain().await;
            let h = env.manager.health();
            assert!(h.reauthorization_required, "day {i}: {h:?}");
            let url = h.reauthorization_url.expect("a login URL");
            assert!(url.contains("/connect/login?v=3&api_key="), "{url}");
            assert!(env.manager.token().is_err());
        }
        let creds = login(&env).await;
        let next_six = ist(2026, m, d, 6, 0) + Duration::days(1);
        assert_eq!(creds.meta.expires_at, Some(next_six));
        tokens.push(creds.clone());
        // Usable all trading day, and the broker agrees.
        env.clock.set(ist(2026, m, d, 15, 30));
        env.manager.maintain().await;
        assert!(env.manager.token().is_ok(), "day {i}");
        env.provider
            .probe(&creds)
            .await
            .expect("profile during the day");
        // Two hours before 06:00 IST: the ExpiringSoon warning.
        env.clock.set(next_six - Duration::hours(2));
        env.manager.maintain().await;
        let warned = std::iter::from_fn(|| events.try_recv().ok())
            .any(|e| matches!(e, Event::ExpiringSoon { deadline, .. } if deadline == next_six));
        assert!(warned, "day {i}: no ExpiringSoon 2 h before 06:00 IST");
        // One minute before 06:00 IST: still usable.
        env.clock.set(next_six - Duration::minutes(1));
        env.manager.maintain().await;
        assert!(env.manager.token().is_ok(), "day {i} 05:59");
        // 06:00 IST: dead on both sides, and no silent renewal is tried.
        env.clock.set(next_six);
        env.manager.maintain().await;
        assert_eq!(env.manager.health().state, Some(TokenState::Expired));
        assert!(matches!(env.manager.token(), Err(Unavailable::Expired)));
        assert!(env.manager.ensure_fresh().await.is_err());
        let err = env.provider.probe(&creds).await.unwrap_err();
        assert!(err.to_string().contains("TokenException"), "{err}");
        if local.weekday() == Weekday::Fri {
            // The weekend: still expired on Sunday evening, nothing renewed.
            env.clock.set(ist(2026, 3, 8, 20, 0));
            env.manager.maintain().await;
            assert!(env.manager.health().reauthorization_required);
            assert_eq!(env.manager.health().renewals, 0);
        }
    }
    assert_eq!(env.sim().calls(Endpoint::KiteSessionToken), 5);
    // Every day's token was a new one.
    let distinct: std::collections::BTreeSet<String> = tokens
        .iter()
        .map(|c| secrecy::ExposeSecret::expose_secret(&c.payload.access_token).to_owned())
        .collect();
    assert_eq!(distinct.len(), 5);
    assert_eq!(env.manager.health().renewals, 0);
}
