use chrono::{Duration, NaiveTime, TimeZone};
use chrono_tz::America::New_York;
use chrono_tz::Asia::Kolkata;
use proptest::prelude::*;

use super::*;
use crate::testing::utc;

fn etrade() -> EarliestOf {
    EarliestOf::new()
        .with(DailyCutoff::new(NaiveTime::MIN, New_York))
        .with(IdleTimeout::new(Duration::hours(2), Duration::minutes(10)))
}

#[test]
fn expires_at_midnight_new_york_on_spring_forward_day() {
    // Issued Sun 2026-03-08 01:00 EST (06:00 UTC); clocks jump at 02:00.
    // Next midnight is 2026-03-09 00:00 EDT = 04:00 UTC (not 05:00).
    let meta = Metadata::issued(utc(2026, 3, 8, 6, 0));
    let ev = evaluate(&etrade(), &meta, utc(2026, 3, 8, 6, 0));
    assert_eq!(ev.expires_at, Some(utc(2026, 3, 9, 4, 0)));
    let p = DailyCutoff::new(NaiveTime::MIN, New_York);
    assert_eq!(
        evaluate(&p, &meta, utc(2026, 3, 9, 3, 59)).state,
        TokenState::Fresh
    );
    assert_eq!(
        evaluate(&p, &meta, utc(2026, 3, 9, 4, 0)).state,
        TokenState::Expired
    );
}

#[test]
fn expires_at_midnight_new_york_on_fall_back_day() {
    // Issued Sun 2026-11-01 00:30 EDT (04:30 UTC); clocks fall back at 02:00.
    // That day is 25 h long: next midnight 2026-11-02 00:00 EST = 05:00 UTC.
    let meta = Metadata::issued(utc(2026, 11, 1, 4, 30));
    let p = DailyCutoff::new(NaiveTime::MIN, New_York);
    assert_eq!(p.limits(&meta).expires_at, Some(utc(2026, 11, 2, 5, 0)));
    assert_eq!(
        evaluate(&p, &meta, utc(2026, 11, 2, 4, 30)).state,
        TokenState::Fresh
    );
    assert_eq!(
        evaluate(&p, &meta, utc(2026, 11, 2, 5, 0)).state,
        TokenState::Expired
    );
}

#[test]
fn issued_just_before_midnight_expires_minutes_later() {
    let meta = Metadata::issued(utc(2026, 6, 2, 3, 55)); // 23:55 EDT
    let p = DailyCutoff::new(NaiveTime::MIN, New_York);
    assert_eq!(p.limits(&meta).expires_at, Some(utc(2026, 6, 2, 4, 0)));
}

#[test]
fn kolkata_cutoff_ignores_us_dst() {
    let p = DailyCutoff::new(NaiveTime::from_hms_opt(6, 0, 0).unwrap(), Kolkata);
    for (y, m, d) in [(2026, 3, 8), (2026, 11, 1), (2026, 7, 1)] {
        // Issued 10:00 IST -> expires 06:00 IST next day = 00:30 UTC.
        let meta = Metadata::issued(utc(y, m, d, 4, 30));
        let want = utc(y, m, d, 0, 30) + Duration::days(1);
        assert_eq!(p.limits(&meta).expires_at, Some(want), "{y}-{m}-{d}");
    }
}

#[test]
fn idle_counts_from_last_activity() {
    let t = utc(2026, 6, 1, 14, 0);
    let mut meta = Metadata::issued(t);
    meta.last_used = Some(t + Duration::minutes(90));
    let ev = evaluate(&etrade(), &meta, t + Duration::hours(2));
    assert_eq!(ev.state, TokenState::Fresh);
    assert_eq!(ev.keepalive_at, Some(t + Duration::minutes(200)));
    assert_eq!(ev.next_change, Some(t + Duration::minutes(200)));
    let ev = evaluate(&etrade(), &meta, t + Duration::minutes(205));
    assert_eq!(ev.state, TokenState::KeepAliveDue);
    assert_eq!(ev.next_change, Some(t + Duration::minutes(210)));
    let ev = evaluate(&etrade(), &meta, t + Duration::minutes(210));
    assert_eq!(ev.state, TokenState::Idle);
    assert_eq!(ev.next_change, ev.expires_at);
    assert_eq!(ev.reauthorize_by, ev.expires_at);
}

#[test]
fn past_expiry_with_live_refresh_token_is_renewable() {
    let t = utc(2026, 6, 1, 4, 0);
    let mut meta = Metadata::issued(t);
    meta.expires_at = Some(t + Duration::hours(20));
    meta.refresh_expires_at = Some(t + Duration::days(15));
    let p = EarliestOf::new()
        .with(ExplicitExpiry)
        .with(FixedLifetime(Duration::days(2)));
    let ev = evaluate(&p, &meta, t + Duration::hours(21));
    assert_eq!(ev.state, TokenState::Idle);
    assert_eq!(ev.next_change, meta.refresh_expires_at);
    assert_eq!(ev.reauthorize_by, meta.refresh_expires_at);
    assert_eq!(
        evaluate(&p, &meta, t + Duration::days(15)).state,
        TokenState::Expired
    );
}

#[test]
fn fixed_lifetime_and_no_policy() {
    let t = utc(2026, 6, 1, 4, 0);
    let meta = Metadata::issued(t);
    let ev = evaluate(&FixedLifetime(Duration::hours(1)), &meta, t);
    assert_eq!(
        (ev.state, ev.next_change),
        (TokenState::Fresh, Some(t + Duration::hours(1)))
    );
    let ev = evaluate(&EarliestOf::new(), &meta, t + Duration::days(999));
    assert_eq!((ev.state, ev.next_change), (TokenState::Fresh, None));
}

fn any_meta() -> impl Strategy<Value = (Metadata, i64)> {
    // Instants across 2026 (both DST changes), use/refresh offsets in minutes.
    let start = utc(2026, 1, 1, 0, 0).timestamp();
    (
        0i64..365 * 24 * 60,
        0i64..3000,
        proptest::option::of(0i64..30 * 24 * 60),
        0i64..4000,
    )
        .prop_map(move |(issue, used, refresh, now)| {
            let issued = Utc.timestamp_opt(start + issue * 60, 0).unwrap();
            let mut meta = Metadata::issued(issued);
            meta.last_used = Some(issued + Duration::minutes(used / 2));
            meta.refresh_expires_at = refresh.map(|r| issued + Duration::minutes(r));
            (meta, now)
        })
}

proptest! {
    #[test]
    fn next_change_is_never_in_the_past((meta, now) in any_meta()) {
        let now = meta.issued_at + Duration::minutes(now);
        let ev = evaluate(&etrade(), &meta, now);
        if let Some(next) = ev.next_change {
            prop_assert!(next > now, "next {next} <= now {now}");
            // And the state really differs after it (or the deadline moved on).
            let after = evaluate(&etrade(), &meta, next);
            prop_assert!(after.state != ev.state || after.next_change != ev.next_change);
        }
    }

    #[test]
    fn time_alone_never_revives_an_expired_token((meta, now) in any_meta(), later in 0i64..100_000) {
        let now = meta.issued_at + Duration::minutes(now);
        if evaluate(&etrade(), &meta, now).state == TokenState::Expired {
            let later = now + Duration::minutes(later);
            prop_assert_eq!(evaluate(&etrade(), &meta, later).state, TokenState::Expired);
        }
    }
}
