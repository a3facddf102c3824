//! Personal E*TRADE consumer keys stop working about two years after they
//! were issued, with no notice: every call then answers
//! `consumer_key_rejected` (pyetrade issues 38 and 52). Given the key's
//! issue date, warn a month ahead so a person can request a new key before
//! the bot stops.

use std::fmt;

use chrono::{DateTime, Days, Months, NaiveDate, Utc};
use chrono_tz::America::New_York;
use token_core::Notice;

/// How long a personal consumer key lasts (about two years).
pub const KEY_LIFETIME_MONTHS: u32 = 24;

/// How many days before the expected end the warning starts.
pub const KEY_WARNING_LEAD_DAYS: i64 = 30;

/// "The consumer key stops working soon (or already has)."
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyAgeWarning {
    /// The issue date from the configuration.
    pub issued: NaiveDate,
    /// About when the key stops working: issue date + two years.
    pub expected_end: NaiveDate,
    /// Days from today (New York) to `expected_end`; negative once past it.
    pub days_left: i64,
}

impl fmt::Display for KeyAgeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = if self.days_left >= 0 {
            format!(
                "stops working around {} (in {} days)",
                self.expected_end, self.days_left
            )
        } else {
            format!(
                "was expected to stop working around {} ({} days ago)",
                self.expected_end, -self.days_left
            )
        };
        write!(
            f,
            "the E*TRADE consumer key issued {} {when}: personal keys last about two years; \
             request a new key on the E*TRADE developer site and update the configuration",
            self.issued
        )
    }
}

/// The warning due at `now` for a key issued on `issued`, if any: from
/// [`KEY_WARNING_LEAD_DAYS`] before issue + [`KEY_LIFETIME_MONTHS`] on.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// let issued = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
/// let now = Utc.with_ymd_and_hms(2026, 5, 10, 14, 0, 0).unwrap();
/// let w = etrade::key_age_warning(issued, now).expect("22 days left");
/// assert_eq!(w.days_left, 22);
/// assert!(etrade::key_age_warning(issued, Utc.with_ymd_and_hms(2026, 4, 1, 14, 0, 0).unwrap()).is_none());
/// ```
pub fn key_age_warning(issued: NaiveDate, now: DateTime<Utc>) -> Option<KeyAgeWarning> {
    let expected_end = issued.checked_add_months(Months::new(KEY_LIFETIME_MONTHS))?;
    let today = now.with_timezone(&New_York).date_naive();
    let days_left = (expected_end - today).num_days();
    (days_left <= KEY_WARNING_LEAD_DAYS).then_some(KeyAgeWarning {
        issued,
        expected_end,
        days_left,
    })
}

/// The same warning as a [`Notice`] for a manager
/// ([`token_core::ManagerConfig::notices`]): due from the start of the day
/// (New York) [`KEY_WARNING_LEAD_DAYS`] before issue + two years, when
/// [`key_age_warning`] starts warning. `None` only for dates near the end of
/// the calendar.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// let issued = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
/// let n = etrade::key_age_notice(issued).unwrap();
/// // 2026-05-02 00:00 in New York (EDT).
/// assert_eq!(n.from, Utc.with_ymd_and_hms(2026, 5, 2, 4, 0, 0).unwrap());
/// assert!(n.message.contains("2026-06-01"));
/// ```
pub fn key_age_notice(issued: NaiveDate) -> Option<Notice> {
    let expected_end = issued.checked_add_months(Months::new(KEY_LIFETIME_MONTHS))?;
    let lead = Days::new(KEY_WARNING_LEAD_DAYS.unsigned_abs());
    let first_day = expected_end.checked_sub_days(lead)?;
    let from = first_day
        .and_hms_opt(0, 0, 0)?
        .and_local_timezone(New_York)
        .earliest()?
        .with_timezone(&Utc);
    Some(Notice::new(
        from,
        format!(
            "the E*TRADE consumer key issued {issued} stops working around {expected_end}: \
             personal keys last about two years; request a new key on the E*TRADE developer \
             site and update consumer_key (and consumer_key_issued) in the configuration"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::testing::utc;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn warns_from_thirty_days_before_the_second_anniversary() {
        let issued = date(2024, 3, 15);
        // 2026-02-12 in New York: 31 days left, quiet.
        assert_eq!(key_age_warning(issued, utc(2026, 2, 12, 17, 0)), None);
        // 2026-02-13: 30 days left.
        let w = key_age_warning(issued, utc(2026, 2, 13, 17, 0)).unwrap();
        assert_eq!((w.expected_end, w.days_left), (date(2026, 3, 15), 30));
        assert!(w.to_string().contains("2026-03-15"), "{w}");
        assert!(w.to_string().contains("new key"), "{w}");
    }

    #[test]
    fn keeps_warning_after_the_expected_end() {
        let w = key_age_warning(date(2024, 3, 15), utc(2026, 4, 1, 17, 0)).unwrap();
        assert_eq!(w.days_left, -17);
        assert!(w.to_string().contains("17 days ago"), "{w}");
    }

    #[test]
    fn the_notice_falls_due_when_the_warning_starts() {
        let issued = date(2024, 3, 15);
        let n = key_age_notice(issued).unwrap();
        // 2026-02-13 00:00 EST is 05:00 UTC.
        assert_eq!(n.from, utc(2026, 2, 13, 5, 0));
        assert!(key_age_warning(issued, n.from).is_some());
        assert!(key_age_warning(issued, n.from - chrono::Duration::minutes(1)).is_none());
        assert!(n.message.contains("2026-03-15"), "{}", n.message);
    }

    #[test]
    fn the_day_is_new_yorks() {
        // 2026-02-13 02:00 UTC is still the 12th in New York: 31 days left.
        assert_eq!(
            key_age_warning(date(2024, 3, 15), utc(2026, 2, 13, 2, 0)),
            None
        );
    }
}
