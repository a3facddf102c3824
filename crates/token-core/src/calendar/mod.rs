//! Exchange trading calendars: which days a market trades, so a person is
//! never asked to log in for a closed market.
//!
//! The NYSE and NSE holidays for 2026 and 2027 ship as data
//! (`calendars/nyse.toml`, `calendars/nse.toml` in this crate, each citing
//! its source); Saturdays and Sundays are always closed. A configuration can
//! add holidays announced later ([`TradingCalendar::with_holiday`]). Days in
//! years the data does not cover follow the weekend rule only: see
//! [`TradingCalendar::covers`].
//!
//! ```
//! use chrono::NaiveDate;
//! use token_core::calendar::TradingCalendar;
//! let nyse = TradingCalendar::builtin("NYSE").expect("shipped");
//! let christmas = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
//! assert!(!nyse.is_trading_day(christmas));
//! assert_eq!(nyse.holiday(christmas), Some("Christmas Day"));
//! // Friday the 25th is closed: the next trading day is Monday the 28th.
//! assert_eq!(nyse.next_trading_day(christmas - chrono::Days::new(1)),
//!            NaiveDate::from_ymd_opt(2026, 12, 28).unwrap());
//! ```

mod data;
mod exchange;

pub use exchange::{Exchange, NSE, NYSE};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use thiserror::Error;

/// Errors reading calendar data or configuration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    /// No calendar by that name ships with this crate.
    #[error("unknown trading calendar {name:?}: use one of {known}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The shipped names, comma-separated.
        known: String,
    },
    /// The data is not valid.
    #[error("trading calendar {name}: {message}")]
    Invalid {
        /// The calendar.
        name: String,
        /// What is wrong and how to write it.
        message: String,
    },
}

/// One exchange's trading days: weekdays minus its holidays.
#[derive(Clone, PartialEq, Eq)]
pub struct TradingCalendar {
    name: String,
    zone: Tz,
    years: BTreeSet<i32>,
    holidays: BTreeMap<NaiveDate, String>,
    early_closes: BTreeMap<NaiveDate, (NaiveTime, String)>,
}

impl fmt::Debug for TradingCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TradingCalendar")
            .field("name", &self.name)
            .field("zone", &self.zone)
            .field("years", &self.years)
            .field("holidays", &self.holidays.len())
            .finish()
    }
}

impl TradingCalendar {
    /// The names of the calendars that ship with this crate.
    pub const BUILTIN: [&'static str; 2] = ["NYSE", "NSE"];

    /// A calendar with no holidays (weekends only), for tests and exchanges
    /// without shipped data.
    pub fn weekends_only(name: &str, zone: Tz) -> Self {
        Self {
            name: name.to_owned(),
            zone,
            years: BTreeSet::new(),
            holidays: BTreeMap::new(),
            early_closes: BTreeMap::new(),
        }
    }

    /// The shipped calendar `name` (`"NYSE"` or `"NSE"`, any case), shared.
    pub fn builtin(name: &str) -> Option<Arc<TradingCalendar>> {
        data::builtin(name)
    }

    /// [`TradingCalendar::builtin`] with an error that lists the known names.
    pub fn named(name: &str) -> Result<Arc<TradingCalendar>, CalendarError> {
        Self::builtin(name).ok_or_else(|| CalendarError::Unknown {
            name: name.to_owned(),
            known: Self::BUILTIN.join(", "),
        })
    }

    /// Its name, e.g. `NYSE`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exchange's time zone (dates are its local dates).
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// Whether the shipped data lists `year`'s holidays. Outside those years
    /// only weekends are known to be closed.
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// This calendar with one more closed day (e.g. from configuration).
    pub fn with_holiday(mut self, date: NaiveDate, name: impl Into<String>) -> Self {
        self.holidays.insert(date, name.into());
        self
    }

    /// Whether the market trades on `date` (its local date): not a Saturday,
    /// Sunday or listed holiday.
    pub fn is_trading_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains_key(&date)
    }

    /// The first trading day strictly after `date`.
    pub fn next_trading_day(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        loop {
            match d.succ_opt() {
                Some(next) => d = next,
                None => return d,
            }
            if self.is_trading_day(d) {
                return d;
            }
        }
    }

    /// The holiday's name when `date` is a listed holiday.
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        self.holidays.get(&date).map(String::as_str)
    }

    /// The listed holidays in `year`, in date order.
    pub fn holidays_in(&self, year: i32) -> impl Iterator<Item = (NaiveDate, &str)> {
        self.holidays
            .iter()
            .filter(move |(d, _)| d.year() == year)
            .map(|(d, n)| (*d, n.as_str()))
    }

    /// The early close (local time and occasion) on `date`, if any.
    pub fn early_close(&self, date: NaiveDate) -> Option<(NaiveTime, &str)> {
        self.early_closes.get(&date).map(|(t, n)| (*t, n.as_str()))
    }
}

#[cfg(test)]
mod tests;
