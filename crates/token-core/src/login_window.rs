//! When a person is asked to log in: a daily window such as
//! `08:00-09:20 America/New_York Mon-Fri`, on the exchange's trading days.
//!
//! A token that dies at 00:00 New York (E*TRADE) or 06:00 Kolkata (FYERS)
//! is not worth waking anyone for: the manager asks when the window opens on
//! the next trading day, reminds on a rising cadence
//! ([`next_reminder`]) and turns the account critical when the window closes
//! unanswered. Weekends and the calendar's holidays have no window at all.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::calendar::TradingCalendar;
use crate::schedule::{parse_time, parse_zone, resolve_local, ScheduleError, Weekdays};

/// A daily login window (see the [module docs](self)).
///
/// ```
/// use token_core::login_window::LoginWindow;
/// use token_core::calendar::TradingCalendar;
/// use chrono::{TimeZone, Utc};
/// let w: LoginWindow = "08:00-09:20 America/New_York Mon-Fri".parse()?;
/// let nyse = TradingCalendar::builtin("NYSE").unwrap();
/// // Thursday 24 Dec 2026 after the window: Friday is Christmas, so Monday.
/// let now = Utc.with_ymd_and_hms(2026, 12, 24, 20, 0, 0).unwrap();
/// let (open, close) = w.next_window(now, Some(&nyse)).unwrap();
/// assert_eq!(open, Utc.with_ymd_and_hms(2026, 12, 28, 13, 0, 0).unwrap());
/// assert_eq!(close, Utc.with_ymd_and_hms(2026, 12, 28, 14, 20, 0).unwrap());
/// assert_eq!(w.to_string(), "08:00-09:20 America/New_York Mon-Fri");
/// # Ok::<(), token_core::schedule::ScheduleError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginWindow {
    open: NaiveTime,
    close: NaiveTime,
    zone: Tz,
    days: Weekdays,
}

impl LoginWindow {
    /// Opens at `open` and closes at `close` (later the same day) in `zone`
    /// on `days`; `None` when `close` is not after `open`.
    pub fn new(open: NaiveTime, close: NaiveTime, zone: Tz, days: Weekdays) -> Option<Self> {
        (close > open).then_some(Self {
            open,
            close,
            zone,
            days,
        })
    }

    /// A setting as written in configuration: a window, or `none` (ask at
    /// once, whatever the time) as `Ok(None)`.
    pub fn parse_setting(s: &str) -> Result<Option<Self>, ScheduleError> {
        if s.trim().eq_ignore_ascii_case("none") {
            Ok(None)
        } else {
            s.parse().map(Some)
        }
    }

    /// The zone its times are in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// When it opens and closes on local date `date`, as UTC instants.
    pub fn on(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            resolve_local(self.zone, date.and_time(self.open)),
            resolve_local(self.zone, date.and_time(self.close)),
        )
    }

    /// Whether there is a window on local date `date`: one of its weekdays
    /// and, with a calendar, a trading day.
    pub fn applies_on(&self, date: NaiveDate, calendar: Option<&TradingCalendar>) -> bool {
        self.days.contains(date.weekday()) && calendar.is_none_or(|c| c.is_trading_day(date))
    }

    /// The first window (open, close) that has not closed by `now`: the
    /// current one when `now` is inside a window. `None` only when no day in
    /// the next year has a window (no weekdays selected).
    pub fn next_window(
        &self,
        now: DateTime<Utc>,
        calendar: Option<&TradingCalendar>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = now.with_timezone(&self.zone).date_naive();
        (-1..=366)
            .filter_map(|d| today.checked_add_signed(Duration::days(d)))
            .filter(|date| self.applies_on(*date, calendar))
            .map(|date| self.on(date))
            .find(|(_, close)| *close > now)
    }

    /// The window of local date `today` at `now` when it has already closed
    /// (a need that arose after it, on a day it applies): the person is asked
    /// at once rather than the next trading day.
    pub fn closed_today(
        &self,
        now: DateTime<Utc>,
        calendar: Option<&TradingCalendar>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let today = now.with_timezone(&self.zone).date_naive();
        self.applies_on(today, calendar)
            .then(|| self.on(today))
            .filter(|(_, close)| *close <= now)
    }
}

/// When to remind a person who has not logged in yet, after a prompt at
/// `now` in a window that closes at `closes`: 20 minutes later while more
/// than 40 minutes remain, 10 minutes while more than 15 remain, then every
/// 5 minutes; `None` when that would be at or after the close. For
/// `08:00-09:20` the prompts are at 08:00, 08:20, 08:40, 08:50, 09:00,
/// 09:10 and 09:15.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use token_core::login_window::next_reminder;
/// let close = Utc.with_ymd_and_hms(2026, 12, 3, 14, 20, 0).unwrap();
/// assert_eq!(next_reminder(close - Duration::minutes(80), close), Some(close - Duration::minutes(60)));
/// assert_eq!(next_reminder(close - Duration::minutes(40), close), Some(close - Duration::minutes(30)));
/// assert_eq!(next_reminder(close - Duration::minutes(10), close), Some(close - Duration::minutes(5)));
/// assert_eq!(next_reminder(close - Duration::minutes(5), close), None);
/// ```
pub fn next_reminder(now: DateTime<Utc>, closes: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let left = closes - now;
    let step = if left > Duration::minutes(40) {
        Duration::minutes(20)
    } else if left > Duration::minutes(15) {
        Duration::minutes(10)
    } else {
        Duration::minutes(5)
    };
    Some(now + step).filter(|t| *t < closes)
}

impl fmt::Display for LoginWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{} {} {}",
            self.open.format("%H:%M"),
            self.close.format("%H:%M"),
            self.zone.name(),
            self.days
        )
    }
}

impl FromStr for LoginWindow {
    type Err = ScheduleError;
    /// `"HH:MM-HH:MM Zone/Name [days]"`, days defaulting to Mon-Fri.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let (span, zone, days) = match parts.as_slice() {
            [t, z] => (*t, *z, Weekdays::MON_FRI),
            [t, z, d] => (*t, *z, d.parse()?),
            _ => return Err(ScheduleError::Window(s.to_string())),
        };
        let (open, close) = span
            .split_once('-')
            .ok_or_else(|| ScheduleError::Window(s.to_string()))?;
        LoginWindow::new(
            parse_time(open)?,
            parse_time(close)?,
            parse_zone(zone)?,
            days,
        )
        .ok_or_else(|| ScheduleError::Window(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{local, utc};
    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Kolkata;

    #[test]
    fn parses_defaults_and_refuses_bad_windows() {
        let w: LoginWindow = "08:00-09:00 Asia/Kolkata".parse().unwrap();
        assert_eq!(w.to_string(), "08:00-09:00 Asia/Kolkata Mon-Fri");
        assert_eq!(LoginWindow::parse_setting(" None ").unwrap(), None);
        for bad in [
            "09:20-08:00 UTC",
            "08:00 UTC",
            "0800-0900 UTC",
            "08:00-09:00",
        ] {
            assert!(
                LoginWindow::parse_setting(bad).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(matches!(
            "08:00-09:00 Mars/Base".parse::<LoginWindow>(),
            Err(ScheduleError::Zone(_))
        ));
        let msg = "9-10 UTC".parse::<LoginWindow>().unwrap_err().to_string();
        assert!(msg.contains("9"), "{msg}");
    }

    #[test]
    fn next_window_is_the_current_one_or_the_next_trading_day() {
        let w: LoginWindow = "08:00-09:20 America/New_York Mon-Fri".parse().unwrap();
        let nyse = TradingCalendar::builtin("NYSE").unwrap();
        // Thu 03 Dec 00:00 NY: today's window.
        let at = local(New_York, 2026, 12, 3, 0, 0);
        let today = (
            local(New_York, 2026, 12, 3, 8, 0),
            local(New_York, 2026, 12, 3, 9, 20),
        );
        assert_eq!(w.next_window(at, Some(&nyse)), Some(today));
        // Inside it: still today's.
        assert_eq!(
            w.next_window(today.0 + Duration::minutes(5), Some(&nyse)),
            Some(today)
        );
        // Fri 04 Dec after the window: Monday 07 Dec.
        let fri = local(New_York, 2026, 12, 4, 10, 0);
        assert_eq!(
            w.next_window(fri, Some(&nyse)).map(|(o, _)| o),
            Some(local(New_York, 2026, 12, 7, 8, 0))
        );
        assert_eq!(
            w.closed_today(fri, Some(&nyse)).map(|(_, c)| c),
            Some(local(New_York, 2026, 12, 4, 9, 20))
        );
        // Christmas (a Friday) has none, with the calendar; without, it does.
        let xmas = local(New_York, 2026, 12, 25, 0, 0);
        assert_eq!(
            w.next_window(xmas, Some(&nyse)).map(|(o, _)| o),
            Some(local(New_York, 2026, 12, 28, 8, 0))
        );
        assert_eq!(
            w.next_window(xmas, None).map(|(o, _)| o),
            Some(local(New_York, 2026, 12, 25, 8, 0))
        );
        assert_eq!(
            w.closed_today(local(New_York, 2026, 12, 25, 10, 0), Some(&nyse)),
            None
        );
    }

    #[test]
    fn windows_follow_the_local_clock_across_dst() {
        let w: LoginWindow = "08:00-09:20 America/New_York".parse().unwrap();
        // EST: 13:00 UTC; EDT (after 2027-03-14): 12:00 UTC.
        assert_eq!(
            w.on(NaiveDate::from_ymd_opt(2027, 3, 12).unwrap()).0,
            utc(2027, 3, 12, 13, 0)
        );
        assert_eq!(
            w.on(NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()).0,
            utc(2027, 3, 15, 12, 0)
        );
        let ist: LoginWindow = "08:00-09:00 Asia/Kolkata".parse().unwrap();
        assert_eq!(ist.zone(), Kolkata);
        assert_eq!(
            ist.on(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()).0,
            utc(2026, 12, 3, 2, 30)
        );
    }

    #[test]
    fn reminders_rise_towards_the_close() {
        let open = utc(2026, 12, 3, 13, 0);
        let close = open + Duration::minutes(80);
        let mut at = open;
        let mut minutes = vec![0];
        while let Some(next) = next_reminder(at, close) {
            minutes.push((next - open).num_minutes());
            at = next;
        }
        assert_eq!(minutes, vec![0, 20, 40, 50, 60, 70, 75]);
    }
}
