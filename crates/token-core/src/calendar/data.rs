//! The shipped calendar files, parsed once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;

use super::{CalendarError, TradingCalendar};

const NYSE: &str = include_str!("../../calendars/nyse.toml");
const NSE: &str = include_str!("../../calendars/nse.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    zone: String,
    years: Vec<i32>,
    holidays: Vec<Day>,
    #[serde(default)]
    early_closes: Vec<EarlyClose>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Day {
    date: toml::value::Datetime,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EarlyClose {
    date: toml::value::Datetime,
    time: String,
    name: String,
}

/// Parses calendar data in the shipped format.
pub(super) fn parse(text: &str) -> Result<TradingCalendar, CalendarError> {
    let file: File = toml::from_str(text).map_err(|e| CalendarError::Invalid {
        name: "(data)".into(),
        message: e.message().to_owned(),
    })?;
    let invalid = |message: String| CalendarError::Invalid {
        name: file.name.clone(),
        message,
    };
    let zone: Tz = file
        .zone
        .parse()
        .map_err(|_| invalid(format!("unknown zone {:?}", file.zone)))?;
    let date = |d: &toml::value::Datetime| -> Result<NaiveDate, CalendarError> {
        d.date
            .filter(|_| d.time.is_none())
            .and_then(|d| NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into()))
            .ok_or_else(|| invalid(format!("{d} is not a date: write YYYY-MM-DD")))
    };
    let mut holidays = BTreeMap::new();
    for h in &file.holidays {
        if holidays.insert(date(&h.date)?, h.name.clone()).is_some() {
            return Err(invalid(format!("{} is listed twice", h.date)));
        }
    }
    let mut early_closes = BTreeMap::new();
    for e in &file.early_closes {
        let time = NaiveTime::parse_from_str(&e.time, "%H:%M")
            .map_err(|_| invalid(format!("early close {:?}: write HH:MM", e.time)))?;
        early_closes.insert(date(&e.date)?, (time, e.name.clone()));
    }
    Ok(TradingCalendar {
        name: file.name.clone(),
        zone,
        years: file.years.iter().copied().collect::<BTreeSet<_>>(),
        holidays,
        early_closes,
    })
}

fn shipped(cell: &'static OnceLock<Arc<TradingCalendar>>, text: &str) -> Arc<TradingCalendar> {
    cell.get_or_init(|| {
        // The shipped files are checked by this crate's tests; a broken one
        // is a build defect, so fall back to weekends only rather than panic.
        Arc::new(parse(text).unwrap_or_else(|e| {
            tracing::error!(error = %e, "shipped trading calendar is invalid");
            TradingCalendar::weekends_only("invalid", chrono_tz::UTC)
        }))
    })
    .clone()
}

pub(super) fn builtin(name: &str) -> Option<Arc<TradingCalendar>> {
    static NYSE_CAL: OnceLock<Arc<TradingCalendar>> = OnceLock::new();
    static NSE_CAL: OnceLock<Arc<TradingCalendar>> = OnceLock::new();
    if name.eq_ignore_ascii_case("NYSE") {
        Some(shipped(&NYSE_CAL, NYSE))
    } else if name.eq_ignore_ascii_case("NSE") {
        Some(shipped(&NSE_CAL, NSE))
    } else {
        None
    }
}

/// The shipped texts, for the data tests.
#[cfg(test)]
pub(super) const SHIPPED: [&str; 2] = [NYSE, NSE];
