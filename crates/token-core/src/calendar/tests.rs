use chrono::{Datelike, NaiveDate, Weekday};

use super::data::{parse, SHIPPED};
use super::*;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn shipped_files_parse_and_list_only_weekdays() {
    for text in SHIPPED {
        let cal = parse(text).unwrap();
        for year in [2026, 2027] {
            assert!(cal.covers(year), "{} {year}", cal.name());
            for (date, name) in cal.holidays_in(year) {
                assert!(
                    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
                    "{} lists a weekend day {date} ({name})",
                    cal.name()
                );
            }
        }
        assert!(!cal.covers(2028));
    }
}

#[test]
fn nyse_counts_and_known_dates() {
    let nyse = TradingCalendar::builtin("nyse").unwrap();
    assert_eq!(nyse.name(), "NYSE");
    assert_eq!(nyse.zone(), chrono_tz::America::New_York);
    assert_eq!(nyse.holidays_in(2026).count(), 10);
    assert_eq!(nyse.holidays_in(2027).count(), 10);
    for (date, name) in [
        (d(2026, 4, 3), "Good Friday"),
        (d(2026, 7, 3), "Independence Day (observed)"),
        (d(2026, 11, 26), "Thanksgiving Day"),
        (
            d(2027, 6, 18),
            "Juneteenth National Independence Day (observed)",
        ),
        (d(2027, 12, 24), "Christmas Day (observed)"),
    ] {
        assert_eq!(nyse.holiday(date), Some(name));
        assert!(!nyse.is_trading_day(date), "{date}");
    }
    // Christmas Eve 2026 closes early but trades.
    assert!(nyse.is_trading_day(d(2026, 12, 24)));
    assert_eq!(
        nyse.early_close(d(2026, 12, 24))
            .map(|(t, _)| t.to_string()),
        Some("13:00:00".to_string())
    );
}

#[test]
fn nse_counts_and_known_dates() {
    let nse = TradingCalendar::named("NSE").unwrap();
    assert_eq!(nse.zone(), chrono_tz::Asia::Kolkata);
    // 15 in the annual circular plus the 2026-01-15 election closure.
    assert_eq!(nse.holidays_in(2026).count(), 16);
    // 2027: provisional fixed-date holidays only (see the file's header).
    assert_eq!(nse.holidays_in(2027).count(), 3);
    assert_eq!(nse.holiday(d(2026, 11, 10)), Some("Diwali Balipratipada"));
    assert_eq!(
        nse.holiday(d(2026, 1, 15)).map(|n| n.contains("Election")),
        Some(true)
    );
    assert!(!nse.is_trading_day(d(2026, 3, 3)));
    // A US holiday is an Indian trading day.
    assert!(nse.is_trading_day(d(2026, 11, 26)));
}

#[test]
fn weekends_are_closed_and_next_trading_day_skips_them_and_holidays() {
    let nyse = TradingCalendar::builtin("NYSE").unwrap();
    assert!(!nyse.is_trading_day(d(2026, 12, 5))); // Saturday
    assert!(!nyse.is_trading_day(d(2026, 12, 6))); // Sunday
    assert!(nyse.is_trading_day(d(2026, 12, 7)));
    assert_eq!(nyse.next_trading_day(d(2026, 12, 4)), d(2026, 12, 7));
    // Thu 24 Dec -> Fri 25 is Christmas -> Mon 28.
    assert_eq!(nyse.next_trading_day(d(2026, 12, 24)), d(2026, 12, 28));
    // Outside the data's years only weekends are closed.
    assert!(nyse.is_trading_day(d(2028, 12, 25)));
}

#[test]
fn configured_holidays_extend_a_calendar() {
    let base = TradingCalendar::builtin("NYSE").unwrap();
    let extra = (*base)
        .clone()
        .with_holiday(d(2027, 1, 4), "Day of mourning");
    assert!(base.is_trading_day(d(2027, 1, 4)));
    assert!(!extra.is_trading_day(d(2027, 1, 4)));
    assert_eq!(extra.holiday(d(2027, 1, 4)), Some("Day of mourning"));
}

#[test]
fn unknown_names_and_bad_data_are_typed_errors() {
    let err = TradingCalendar::named("LSE").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown trading calendar \"LSE\": use one of NYSE, NSE"
    );
    let bad = "name = \"X\"\nzone = \"UTC\"\nyears = [2026]\nholidays = [{ date = 2026-01-01, name = \"a\" }, { date = 2026-01-01, name = \"b\" }]\n";
    assert!(matches!(parse(bad), Err(CalendarError::Invalid { .. })));
    let bad_zone = "name = \"X\"\nzone = \"Mars/Base\"\nyears = []\nholidays = []\n";
    assert!(parse(bad_zone)
        .unwrap_err()
        .to_string()
        .contains("Mars/Base"));
}
