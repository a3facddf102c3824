//! Instants for tests, written the way specifications are read.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// `y-m-d h:mi:00` UTC. Panics on an impossible date: test input only.
///
/// ```
/// use token_core::testing::utc;
/// assert_eq!(utc(2026, 3, 6, 14, 30).to_rfc3339(), "2026-03-06T14:30:00+00:00");
/// ```
pub fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .unwrap_or_else(|| panic!("not a UTC instant: {y}-{m}-{d} {h}:{mi}"))
}

/// `y-m-d h:mi:00` on the wall clocks of `zone` (e.g. New York, Kolkata),
/// as UTC; the earlier instant when the time occurs twice. Panics on a time
/// that does not occur there (a DST gap): test input only.
///
/// ```
/// use token_core::testing::local;
/// let t = local(chrono_tz::America::New_York, 2026, 3, 5, 9, 0);
/// assert_eq!(t.to_rfc3339(), "2026-03-05T14:00:00+00:00");
/// ```
pub fn local(zone: Tz, y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    zone.with_ymd_and_hms(y, m, d, h, mi, 0)
        .earliest()
        .unwrap_or_else(|| panic!("not a time in {zone}: {y}-{m}-{d} {h}:{mi}"))
        .with_timezone(&Utc)
}
