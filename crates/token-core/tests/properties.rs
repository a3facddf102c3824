//! Property tests for the pure time logic and the parsers, biased towards
//! daylight-saving change days (and Samoa's skipped day) in several zones.
//!
//! What they prove, for every generated case:
//! - a schedule's next occurrence is strictly in the future, within a week,
//!   the earliest one, and at the configured local time (or the end of a gap);
//! - an expiry policy's next deadline is never in the past, its state holds
//!   until that deadline, and time alone only ever makes a token worse
//!   (Fresh → KeepAliveDue → Idle → Expired; never Expired → anything);
//! - a manager never hands out an Expired token again without a new
//!   authorization, whatever mix of time, maintenance and renew calls;
//! - the backoff stays within its bounds;
//! - the record and `.env` parsers return typed errors, never panic, on any
//!   input.
//!
//! `PROPTEST_CASES=<n>` runs longer campaigns.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use token_core::policy::{
    evaluate, DailyCutoff, EarliestOf, ExplicitExpiry, FixedLifetime, IdleTimeout,
};
use token_core::schedule::{Schedule, Weekdays};
use token_core::store::dotenv::DotEnv;
use token_core::store::{EnvFileStore, FileStore, TokenStore};
use token_core::testing::{FakeCreds, FakeProvider};
use token_core::*;

/// `n`, or `PROPTEST_CASES` when set (for longer campaigns).
fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

const ZONES: [Tz; 9] = [
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Sydney,
    chrono_tz::Australia::Lord_Howe, // 30-minute DST shift
    chrono_tz::Asia::Kolkata,        // no DST
    chrono_tz::Pacific::Chatham,     // +12:45 / +13:45
    chrono_tz::America::Santiago,    // DST change at midnight
    chrono_tz::Pacific::Apia,        // skipped 2011-12-30 entirely
    chrono_tz::UTC,
];

/// Days (per zone) on which the UTC offset changes, 2011-2030.
fn change_days() -> &'static Vec<Vec<NaiveDate>> {
    static DAYS: OnceLock<Vec<Vec<NaiveDate>>> = OnceLock::new();
    DAYS.get_or_init(|| {
        ZONES
            .iter()
            .map(|zone| {
                let mut days = Vec::new();
                let mut t = Utc.with_ymd_and_hms(2011, 1, 1, 0, 0, 0).unwrap();
                let end = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
                let offset = |t: DateTime<Utc>| t.with_timezone(zone).offset().fix();
                while t < end {
                    let next = t + Duration::hours(6);
                    if offset(t) != offset(next) {
                        days.push(next.with_timezone(zone).date_naive());
                    }
                    t = next;
                }
                days
            })
            .collect()
    })
}

/// An instant in zone `zone_ix`: on or next to an offset-change day 3 times
/// in 4, any day 2011-2030 otherwise; any minute of the day.
fn instant() -> impl Strategy<Value = (usize, DateTime<Utc>)> {
    (
        0..ZONES.len(),
        0u32..4,
        any::<prop::sample::Index>(),
        -1i64..=1,
        0i64..7300,
        0i64..1440,
    )
        .prop_map(|(z, pick, ix, around, day, minute)| {
            let days = &change_days()[z];
            let date = if pick > 0 && !days.is_empty() {
                *ix.get(days) + Duration::days(around)
            } else {
                NaiveDate::from_ymd_opt(2011, 1, 1).unwrap() + Duration::days(day)
            };
            let local = date.and_time(NaiveTime::MIN) + Duration::minutes(minute);
            (z, token_core::schedule::resolve_local(ZONES[z], local))
        })
}

fn weekdays() -> impl Strategy<Value = Weekdays> {
    (1u8..128).prop_map(|bits| {
        let mut set = Weekdays::none();
        let mut day = chrono::Weekday::Mon;
        for i in 0..7 {
            if bits & (1 << i) != 0 {
                set = set.with(day);
            }
            day = day.succ();
        }
        set
    })
}

/// A time of day, often in the small hours where offset changes happen.
fn time_of_day() -> impl Strategy<Value = NaiveTime> {
    prop_oneof![
        (0u32..4, 0u32..60).prop_map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap()),
        (0u32..24, 0u32..60).prop_map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn schedule_next_occurrence_is_future_earliest_and_at_the_local_time(
        (z, after) in instant(),
        time in time_of_day(),
        days in weekdays(),
    ) {
        let zone = ZONES[z];
        let s = Schedule::new(time, zone, days);
        let next = s.next_after(after).expect("a non-empty weekday set always has a next occurrence");
        prop_assert!(next > after, "next {next} not after {after}");
        prop_assert!(next <= after + Duration::days(8), "next {next} more than a week after {after}");
        // The earliest: nothing in between is an occurrence.
        let mid = after + (next - after) / 2;
        if mid > after && mid < next {
            prop_assert_eq!(s.next_after(mid), Some(next));
        }
        prop_assert_eq!(s.next_after(next - Duration::seconds(1)), Some(next));
        // On a selected weekday, at the local time, or where a gap pushed it.
        let local = next.with_timezone(&zone);
        let exact = local.time() == time;
        let gap_end = local.time() > time && {
            // The wall time did not exist that day: a minute earlier in UTC
            // the local clock read before `time`.
            let before = (next - Duration::minutes(1)).with_timezone(&zone);
            before.time() < time || before.date_naive() != local.date_naive()
        };
        prop_assert!(exact || gap_end, "{next} is {local} locally, schedule says {time}");
        if exact {
            prop_assert!(days.contains(local.weekday()), "{local} is not on {days}");
        }
    }
}

/// How bad a state is: time alone may only increase it.
fn rank(state: TokenState) -> u8 {
    match state {
        TokenState::Fresh => 0,
        TokenState::KeepAliveDue => 1,
        TokenState::Idle => 2,
        TokenState::Expired => 3,
    }
}

fn policy() -> impl Strategy<Value = EarliestOf> {
    (
        proptest::option::of((0..ZONES.len(), time_of_day())),
        proptest::option::of((1i64..600, 0i64..120)),
        proptest::option::of(1i64..3000),
        any::<bool>(),
    )
        .prop_map(|(daily, idle, lifetime, explicit)| {
            let mut p = EarliestOf::new();
            if let Some((z, t)) = daily {
                p = p.with(DailyCutoff::new(t, ZONES[z]));
            }
            if let Some((timeout, margin)) = idle {
                p = p.with(IdleTimeout::new(
                    Duration::minutes(timeout),
                    Duration::minutes(margin),
                ));
            }
            if let Some(minutes) = lifetime {
                p = p.with(FixedLifetime(Duration::minutes(minutes)));
            }
            if explicit {
                p = p.with(ExplicitExpiry);
            }
            p
        })
}

fn metadata() -> impl Strategy<Value = Metadata> {
    (
        instant(),
        proptest::option::of(0i64..3000),
        proptest::option::of(0i64..3000),
        proptest::option::of(0i64..3000),
        proptest::option::of(0i64..40_000),
    )
        .prop_map(|((_, issued), renewed, used, expires, refresh)| {
            let mut m = Metadata::issued(issued);
            m.renewed_at = renewed.map(|x| issued + Duration::minutes(x));
            m.last_used = used.map(|x| issued + Duration::minutes(x));
            m.expires_at = expires.map(|x| issued + Duration::minutes(x));
            m.refresh_expires_at = refresh.map(|x| issued + Duration::minutes(x));
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    #[test]
    fn next_deadline_is_never_in_the_past_and_the_state_holds_until_it(
        p in policy(),
        meta in metadata(),
        offsets in proptest::collection::vec(0i64..50_000, 1..6),
    ) {
        for offset in offsets {
            let now = meta.issued_at + Duration::minutes(offset) - Duration::minutes(600);
            let ev = evaluate(&p, &meta, now);
            if let Some(next) = ev.next_change {
                prop_assert!(next > now, "next change {next} is not after now {now}");
                let just_before = next - Duration::seconds(1);
                if just_before >= now {
                    prop_assert_eq!(evaluate(&p, &meta, just_before).state, ev.state,
                        "state changed before the announced deadline {}", next);
                }
            } else {
                // "Never changes by time alone": check far ahead.
                prop_assert_eq!(evaluate(&p, &meta, now + Duration::days(400)).state, ev.state);
            }
        }
    }

    #[test]
    fn time_alone_only_makes_a_token_worse(
        p in policy(),
        meta in metadata(),
        mut offsets in proptest::collection::vec(0i64..50_000, 2..12),
    ) {
        offsets.sort_unstable();
        let mut worst = 0;
        for offset in offsets {
            let now = meta.issued_at + Duration::minutes(offset) - Duration::minutes(600);
            let state = evaluate(&p, &meta, now).state;
            prop_assert!(rank(state) >= worst,
                "state went back to {state} at {now} without a renewal");
            worst = rank(state);
        }
    }

    #[test]
    fn backoff_stays_within_bounds(
        initial in 1i64..120,
        max in 1i64..3600,
        jitter in 0.0f64..1.5,
        attempt in 0u32..100,
        left in proptest::option::of(0i64..100_000),
    ) {
        let retry = RetryPolicy {
            initial: Duration::seconds(initial),
            max: Duration::seconds(max.max(initial)),
            jitter,
        };
        let d = retry.delay(attempt, left.map(Duration::seconds));
        prop_assert!(d >= Duration::seconds(1), "delay {d} under one second");
        let cap = retry.max.num_milliseconds() as f64 * (1.0 + jitter.min(1.0)) + 1.0;
        prop_assert!(d.num_milliseconds() as f64 <= cap.max(1000.0), "delay {d} over the cap");
        if let Some(left) = left {
            prop_assert!(d <= (Duration::seconds(left) / 2).max(Duration::seconds(1)));
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Advance(i64),
    Maintain,
    EnsureFresh,
    RenewNow,
    Use,
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            (1i64..600).prop_map(Op::Advance),
            Just(Op::Maintain),
            Just(Op::EnsureFresh),
            Just(Op::RenewNow),
            Just(Op::Use),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    /// Whatever happens (time passing, maintenance, renew calls, use), once
    /// the manager's token is Expired, `token()` never succeeds again: only
    /// a person's authorization could revive it, and none happens here.
    #[test]
    fn a_manager_never_revives_an_expired_token_without_authorization(
        (_, start) in instant(),
        z in 0..ZONES.len(),
        cutoff in time_of_day(),
        ops in ops(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = ManualClock::new(start);
            let key = AccountKey::new("prop", Environment::Sandbox, "main").unwrap();
            let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
            let policy = EarliestOf::new()
                .with(DailyCutoff::new(cutoff, ZONES[z]))
                .with(IdleTimeout::new(Duration::minutes(120), Duration::minutes(10)));
            let manager: TokenManager<FakeCreds> = TokenManager::new(
                key.clone(),
                provider.clone(),
                Arc::new(MemoryStore::new()),
                Arc::new(policy),
                Arc::new(clock.clone()),
                ManagerConfig::default(),
            );
            manager.install_authorized(provider.issue(&key)).await.unwrap();
            let mut expired = false;
            for op in ops {
                match op {
                    Op::Advance(m) => clock.advance(Duration::minutes(m)),
                    Op::Maintain => { manager.maintain().await; }
                    Op::EnsureFresh => { let _ = manager.ensure_fresh().await; }
                    Op::RenewNow => { let _ = manager.renew_now().await; }
                    Op::Use => { let _ = manager.token(); }
                }
                let state = manager.evaluate().map(|e| e.state);
                let usable = manager.token().is_ok();
                if expired {
                    prop_assert!(!usable, "an expired token was handed out again after {:?}", state);
                }
                if state == Some(TokenState::Expired) {
                    prop_assert!(!usable, "token() handed out an expired token");
                    expired = true;
                }
                if usable {
                    prop_assert!(state.is_some_and(TokenState::is_usable),
                        "token() handed out a token in state {:?}", state);
                }
            }
            Ok(())
        })?;
    }
}

fn record_json() -> impl Strategy<Value = String> {
    // Near-valid records: real field names with arbitrary values, so the
    // parser gets past its first checks.
    let value = prop_oneof![
        Just("null".to_string()),
        Just("1".to_string()),
        Just("-1".to_string()),
        Just("4294967296".to_string()),
        Just("\"2026-06-01T13:00:00Z\"".to_string()),
        Just("\"+262143-12-31T23:59:59Z\"".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        "\"\\PC{0,12}\"".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        Just(
            "{\"broker\":\"fyers\",\"environment\":\"production\",\"label\":\"main\"}".to_string()
        ),
        Just("{\"access_token\":\"x\"}".to_string()),
    ];
    let field = prop_oneof![
        Just("schema_version"),
        Just("key"),
        Just("meta"),
        Just("payload"),
        Just("issued_at"),
        Just("expires_at"),
        Just("broker"),
        Just("label"),
    ];
    proptest::collection::vec((field, value), 0..8).prop_map(|fields| {
        let body: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn file_store_load_never_panics_on_any_file(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            record_json().prop_map(String::into_bytes),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let key = AccountKey::new("fyers", Environment::Production, "main").unwrap();
        std::fs::write(store.path_of(&key), &bytes).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        match rt.block_on(store.load(&key)) {
            Ok(Some(r)) => prop_assert_eq!(r.key, key),
            Ok(None) => prop_assert!(false, "an existing file loaded as no record"),
            Err(e) => {
                // Typed, and never quoting the file (it may hold secrets).
                let text = e.to_string();
                prop_assert!(matches!(e, StoreError::Corrupt { .. } | StoreError::UnsupportedVersion { .. }), "{text}");
            }
        }
    }

    #[test]
    fn env_parsers_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                "\\PC{0,30}",
                ("(export )?[A-Za-z_][A-Za-z0-9_.]{0,8}", "[ \t]{0,2}", "[\"' #\\\\=a-z\t]{0,12}")
                    .prop_map(|(n, sp, v)| format!("{n}{sp}={sp}{v}")),
            ],
            0..12,
        )
    ) {
        let text = lines.join("\n");
        let env = DotEnv::parse(&text);
        // Nothing it does not own is changed: the file comes back byte for
        // byte, and what it writes back it reads back the same.
        prop_assert_eq!(env.to_string(), text.clone());
        let again = DotEnv::parse(&env.to_string());
        let names: Vec<_> = env.names().collect();
        for name in names {
            prop_assert_eq!(again.get(name), env.get(name));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, &text).unwrap();
        let store = EnvFileStore::new(&path);
        let key = AccountKey::new("fyers", Environment::Production, "main").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _ = rt.block_on(store.load(&key));
        let _ = rt.block_on(store.list());
        // Saving either works and round-trips, or refuses to touch the file.
        let mut f = SecretFields::new();
        f.insert("access_token", SecretString::from("a b\"c\\d".to_string()));
        let rec = Record::new(key.clone(), Metadata::issued(Utc.timestamp_opt(0, 0).unwrap()), f);
        match rt.block_on(store.save(&rec)) {
            Ok(()) => {
                let back = rt.block_on(store.load(&key)).unwrap().unwrap();
                let value = back.payload.get("access_token").map(|v| v.expose_secret().to_owned());
                prop_assert_eq!(value.as_deref(), Some("a b\"c\\d"));
            }
            Err(e) => {
                prop_assert!(matches!(e, StoreError::WouldOverwrite { .. }), "{e}");
                prop_assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
            }
        }
    }
}

#[test]
fn change_days_cover_every_dst_zone() {
    // Guards the generator: without change days the DST bias is void.
    for (zone, days) in ZONES.iter().zip(change_days()) {
        let fixed = matches!(*zone, chrono_tz::Asia::Kolkata | chrono_tz::UTC);
        assert_eq!(days.is_empty(), fixed, "{zone}: {} change days", days.len());
    }
    let samoa = &change_days()[7];
    assert!(samoa.iter().any(|d| d.year() == 2011 && d.month() == 12));
}
