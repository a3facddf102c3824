//! Instants for tests, written the way specifications are read.

use chrono::{DateTime, TimeZone, Utc};

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
