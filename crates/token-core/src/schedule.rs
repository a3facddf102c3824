//! "At HH:MM in zone Z on these weekdays": when scheduled refreshes and
//! daily cutoffs happen, correct across daylight-saving changes.

use std::fmt;
use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use thiserror::Error;

/// A set of weekdays.
///
/// ```
/// use token_core::schedule::Weekdays;
/// use chrono::Weekday;
/// let d: Weekdays = "Mon-Fri".parse()?;
/// assert!(d.contains(Weekday::Wed) && !d.contains(Weekday::Sat));
/// assert_eq!("sat,sun".parse::<Weekdays>()?, Weekdays::WEEKEND);
/// # Ok::<(), token_core::schedule::ScheduleError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Monday to Friday.
    pub const MON_FRI: Weekdays = Weekdays(0b0011111);
    /// Saturday and Sunday.
    pub const WEEKEND: Weekdays = Weekdays(0b1100000);
    /// Every day.
    pub const EVERY_DAY: Weekdays = Weekdays(0b1111111);

    /// No days.
    pub const fn none() -> Self {
        Weekdays(0)
    }

    /// This set plus `day`.
    pub const fn with(self, day: Weekday) -> Self {
        Weekdays(self.0 | (1 << day.num_days_from_monday()))
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Weekdays::MON_FRI => return f.write_str("Mon-Fri"),
            Weekdays::EVERY_DAY => return f.write_str("Mon-Sun"),
            _ => {}
        }
        let mut first = true;
        let mut day = Weekday::Mon;
        for _ in 0..7 {
            if self.contains(day) {
                if !first {
                    f.write_str(",")?;
                }
                write!(f, "{day}")?;
                first = false;
            }
            day = day.succ();
        }
        Ok(())
    }
}

impl FromStr for Weekdays {
    type Err = ScheduleError;
    /// Accepts comma-separated days or ranges: `Mon-Fri`, `sat,sun`, `Mon,Wed-Fri`, `daily`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("daily") || s == "*" {
            return Ok(Weekdays::EVERY_DAY);
        }
        let parse_day = |d: &str| {
            d.trim()
                .parse::<Weekday>()
                .map_err(|_| ScheduleError::Weekday(d.trim().to_string()))
        };
        let mut set = Weekdays::none();
        for part in s.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (mut day, end) = (parse_day(a)?, parse_day(b)?);
                    set = set.with(day);
                    while day != end {
                        day = day.succ();
                        set = set.with(day);
                    }
                }
                None => set = set.with(parse_day(part)?),
            }
        }
        Ok(set)
    }
}

/// Errors parsing a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// Not `HH:MM`.
    #[error("invalid time of day {0:?}: expected HH:MM (24-hour)")]
    Time(String),
    /// Not an IANA zone name.
    #[error("unknown time zone {0:?}: expected an IANA name such as America/New_York")]
    Zone(String),
    /// Not a weekday name.
    #[error("invalid weekday {0:?}: expected Mon..Sun")]
    Weekday(String),
    /// Wrong number of parts.
    #[error("invalid schedule {0:?}: expected \"HH:MM Zone/Name [Mon-Fri]\"")]
    Format(String),
    /// Not a login window (`HH:MM-HH:MM Zone [days]`, closing after it opens).
    #[error("invalid login window {0:?}: expected \"HH:MM-HH:MM Zone/Name [Mon-Fri]\" closing after it opens (same day), or \"none\" to ask at once")]
    Window(String),
}

/// A local time of day in a time zone on chosen weekdays.
///
/// On a day when the local time does not exist (clocks jump forward over it)
/// the occurrence is the first instant after the gap; when it happens twice
/// (clocks fall back) only the first occurrence counts.
///
/// ```
/// use token_core::schedule::Schedule;
/// use chrono::{TimeZone, Utc};
/// let s: Schedule = "08:45 Asia/Kolkata Mon-Fri".parse()?;
/// // Friday 2026-03-06 10:00 IST -> next is Monday 08:45 IST (03:15 UTC).
/// let fri = Utc.with_ymd_and_hms(2026, 3, 6, 4, 30, 0).unwrap();
/// assert_eq!(s.next_after(fri), Some(Utc.with_ymd_and_hms(2026, 3, 9, 3, 15, 0).unwrap()));
/// # Ok::<(), token_core::schedule::ScheduleError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    time: NaiveTime,
    zone: Tz,
    days: Weekdays,
}

impl Schedule {
    /// At `time` in `zone` on `days`.
    pub fn new(time: NaiveTime, zone: Tz, days: Weekdays) -> Self {
        Self { time, zone, days }
    }

    /// Every day at `time` in `zone`.
    pub fn daily(time: NaiveTime, zone: Tz) -> Self {
        Self::new(time, zone, Weekdays::EVERY_DAY)
    }

    /// The local time of day.
    pub fn time(&self) -> NaiveTime {
        self.time
    }

    /// The zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The weekdays.
    pub fn days(&self) -> Weekdays {
        self.days
    }

    /// The first occurrence strictly after `after`; `None` only when no
    /// weekday is selected.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.days.is_empty() {
            return None;
        }
        let today = after.with_timezone(&self.zone).date_naive();
        // Start a day early: a gap-shifted occurrence of yesterday can land today.
        (-1..=8)
            .filter_map(|d| today.checked_add_signed(Duration::days(d)))
            .filter(|date| self.days.contains(date.weekday()))
            .map(|date| resolve_local(self.zone, date.and_time(self.time)))
            .find(|t| *t > after)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.time.format("%H:%M"),
            self.zone.name(),
            self.days
        )
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    /// `"HH:MM Zone/Name [days]"`, days defaulting to every day.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let (time, zone, days) = match parts.as_slice() {
            [t, z] => (*t, *z, Weekdays::EVERY_DAY),
            [t, z, d] => (*t, *z, d.parse()?),
            _ => return Err(ScheduleError::Format(s.to_string())),
        };
        Ok(Schedule::new(parse_time(time)?, parse_zone(zone)?, days))
    }
}

/// `HH:MM` (24-hour), as schedules and login windows write it.
pub(crate) fn parse_time(s: &str) -> Result<NaiveTime, ScheduleError> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| ScheduleError::Time(s.to_string()))
}

/// An IANA zone name, as schedules and login windows write it.
pub(crate) fn parse_zone(s: &str) -> Result<Tz, ScheduleError> {
    s.parse::<Tz>()
        .map_err(|_| ScheduleError::Zone(s.to_string()))
}

/// The UTC instant of a local wall-clock time: the earlier one when it occurs
/// twice, the end of the gap when it does not occur at all.
pub fn resolve_local(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    // Real-world gaps are at most a day (Samoa 2011) and minute-aligned.
    for _ in 0..=(24 * 60) {
        match zone.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.with_timezone(&Utc),
            LocalResult::None => probe += Duration::minutes(1),
        }
    }
    // Unreachable for real zones; treat the wall time as UTC rather than fail.
    Utc.from_utc_datetime(&local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc;
    use chrono_tz::America::New_York;
    use chrono_tz::Asia::Kolkata;

    #[test]
    fn weekday_schedule_skips_weekend() {
        let s = Schedule::new(
            NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
            New_York,
            Weekdays::MON_FRI,
        );
        // Fri 2026-11-20 05:00 ET (10:00 UTC) -> Mon 2026-11-23 04:00 EST = 09:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 11, 20, 10, 0)),
            Some(utc(2026, 11, 23, 9, 0))
        );
        // Exactly at an occurrence: strictly after, so the next day.
        assert_eq!(
            s.next_after(utc(2026, 11, 23, 9, 0)),
            Some(utc(2026, 11, 24, 9, 0))
        );
    }

    #[test]
    fn nonexistent_local_time_fires_at_gap_end() {
        // 2026-03-08: New York jumps 02:00 EST -> 03:00 EDT; 02:30 does not exist.
        let s = Schedule::daily(NaiveTime::from_hms_opt(2, 30, 0).unwrap(), New_York);
        assert_eq!(
            s.next_after(utc(2026, 3, 8, 5, 0)),
            Some(utc(2026, 3, 8, 7, 0))
        );
        // Next day back to normal: 02:30 EDT = 06:30 UTC.
        assert_eq!(
            s.next_after(utc(2026, 3, 8, 7, 0)),
            Some(utc(2026, 3, 9, 6, 30))
        );
    }

    #[test]
    fn repeated_local_time_fires_once() {
        // 2026-11-01: New York falls back 02:00 EDT -> 01:00 EST; 01:30 happens twice.
        let s = Schedule::daily(NaiveTime::from_hms_opt(1, 30, 0).unwrap(), New_York);
        let first = utc(2026, 11, 1, 5, 30); // 01:30 EDT
        assert_eq!(s.next_after(utc(2026, 11, 1, 4, 0)), Some(first));
        // After the first occurrence, the second (06:30 UTC) is skipped.
        assert_eq!(s.next_after(first), Some(utc(2026, 11, 2, 6, 30)));
    }

    #[test]
    fn zone_without_dst() {
        let s: Schedule = "08:45 Asia/Kolkata Mon-Fri".parse().unwrap();
        assert_eq!(s.zone(), Kolkata);
        // Across the US DST dates, IST stays UTC+05:30.
        for (y, m, d) in [(2026, 3, 9), (2026, 11, 2)] {
            assert_eq!(
                s.next_after(utc(y, m, d, 0, 0)),
                Some(utc(y, m, d, 3, 15)),
                "{y}-{m}-{d}"
            );
        }
    }

    #[test]
    fn parse_errors_are_typed() {
        assert!(matches!(
            "8:45pm Asia/Kolkata".parse::<Schedule>(),
            Err(ScheduleError::Time(_))
        ));
        assert!(matches!(
            "08:45 Mars/Base".parse::<Schedule>(),
            Err(ScheduleError::Zone(_))
        ));
        assert!(matches!(
            "08:45 UTC Funday".parse::<Schedule>(),
            Err(ScheduleError::Weekday(_))
        ));
        assert!(matches!(
            "08:45".parse::<Schedule>(),
            Err(ScheduleError::Format(_))
        ));
        assert_eq!(
            "08:45 UTC Fri-Mon"
                .parse::<Schedule>()
                .unwrap()
                .days()
                .to_string(),
            "Mon,Fri,Sat,Sun"
        );
        assert_eq!(
            Schedule::new(NaiveTime::MIN, New_York, Weekdays::none())
                .next_after(utc(2026, 1, 1, 0, 0)),
            None
        );
    }
}
