//! The exchanges the shipped brokers trade on, with the rules that follow
//! from their opening times: written once, shared by every broker bundle on
//! that exchange.

use chrono_tz::Tz;

use crate::login_window::LoginWindow;
use crate::schedule::Schedule;

/// An exchange: its time zone, trading calendar and the default times a
/// person is asked to log in and the pre-market check runs (before the open).
///
/// ```
/// use token_core::calendar::NSE;
/// assert_eq!(NSE.calendar, "NSE");
/// assert!(NSE.login_window().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// The exchange's time zone.
    pub zone: Tz,
    /// Its trading calendar ([`TradingCalendar::builtin`](super::TradingCalendar::builtin)).
    pub calendar: &'static str,
    /// The default login window, e.g. `08:00-09:20 America/New_York Mon-Fri`.
    pub login_window: &'static str,
    /// The default pre-market check time, inside the login window.
    pub check_at: &'static str,
}

impl Exchange {
    /// [`Exchange::login_window`], parsed.
    pub fn login_window(&self) -> Option<LoginWindow> {
        self.login_window.parse().ok()
    }

    /// [`Exchange::check_at`], parsed.
    pub fn check_at(&self) -> Option<Schedule> {
        self.check_at.parse().ok()
    }
}

/// The New York Stock Exchange (E*TRADE, Schwab): asked from 08:00, before
/// the 09:30 open; checked at 08:00.
pub const NYSE: Exchange = Exchange {
    zone: chrono_tz::America::New_York,
    calendar: "NYSE",
    login_window: "08:00-09:20 America/New_York Mon-Fri",
    check_at: "08:00 America/New_York Mon-Fri",
};

/// The National Stock Exchange of India (FYERS, Kite): asked from 08:00,
/// before the 09:15 open; checked at 08:30.
pub const NSE: Exchange = Exchange {
    zone: chrono_tz::Asia::Kolkata,
    calendar: "NSE",
    login_window: "08:00-09:00 Asia/Kolkata Mon-Fri",
    check_at: "08:30 Asia/Kolkata Mon-Fri",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_exchanges_parse_and_have_calendars() {
        for e in [NYSE, NSE] {
            assert!(e.login_window().is_some(), "{e:?}");
            assert!(e.check_at().is_some(), "{e:?}");
            assert!(super::super::TradingCalendar::builtin(e.calendar).is_some());
        }
    }
}
