//! The one reading of a broker's "wait before retrying" headers, shared by
//! every adapter (token-core has no HTTP dependency: it takes header values
//! as `&str`).
//!
//! - `Retry-After` (RFC 9110 section 10.2.3): delta-seconds (`120`) or an
//!   HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`, and the two obsolete forms
//!   RFC 9110 says a recipient must accept).
//! - `X-Retry-After-Ms` (FYERS sends it beside `Retry-After` on 429):
//!   milliseconds, more precise, so it wins when both parse.
//!
//! Waits are clamped to [`MAX_RETRY_AFTER`]: a broker (or a garbled header)
//! asking for years must not park an account forever; a date in the past
//! means "now" (zero).

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// The longest wait a header can ask for (one day): a longer one is clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A `Retry-After` value: delta-seconds or an HTTP-date, relative to `now`.
/// `None` when it is neither.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use token_core::retry_after::parse_retry_after;
/// let now = Utc.with_ymd_and_hms(2026, 10, 21, 7, 27, 0).unwrap();
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now), Some(Duration::from_secs(60)));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: delta-seconds (overflow means "very long").
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(clamp(Duration::from_secs(secs)));
    }
    let at = http_date(value)?;
    Some(clamp((at - now).to_std().unwrap_or(Duration::ZERO)))
}

/// An `X-Retry-After-Ms` value (milliseconds). `None` when it is not a
/// non-negative integer.
///
/// ```
/// use std::time::Duration;
/// use token_core::retry_after::parse_retry_after_ms;
/// assert_eq!(parse_retry_after_ms("1500"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_retry_after_ms("-1"), None);
/// ```
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let ms = value.parse::<u64>().unwrap_or(u64::MAX);
    Some(clamp(Duration::from_millis(ms)))
}

/// The wait a response asks for, from its `Retry-After` and
/// `X-Retry-After-Ms` header values (either may be absent): the
/// millisecond header when it parses, else `Retry-After`.
///
/// ```
/// use std::time::Duration;
/// use chrono::Utc;
/// use token_core::retry_after::retry_after;
/// let now = Utc::now();
/// assert_eq!(retry_after(Some("2"), Some("1500"), now), Some(Duration::from_millis(1500)));
/// assert_eq!(retry_after(Some("2"), Some("x"), now), Some(Duration::from_secs(2)));
/// assert_eq!(retry_after(None, None, now), None);
/// ```
pub fn retry_after(
    retry_after: Option<&str>,
    retry_after_ms: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    retry_after_ms
        .and_then(parse_retry_after_ms)
        .or_else(|| retry_after.and_then(|v| parse_retry_after(v, now)))
}

fn clamp(d: Duration) -> Duration {
    d.min(MAX_RETRY_AFTER)
}

/// IMF-fixdate, RFC 850 and asctime (RFC 9110 section 5.6.7), all GMT.
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(value) {
        return Some(t.with_timezone(&Utc));
    }
    const OBSOLETE: [&str; 2] = ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"];
    OBSOLETE
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc;

    #[test]
    fn reads_delta_seconds_and_all_three_http_date_forms() {
        let now = utc(1994, 11, 6, 8, 48);
        let minute = Some(Duration::from_secs(97));
        for v in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_retry_after(v, now), minute, "{v}");
        }
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn past_dates_mean_now_and_huge_values_are_clamped() {
        let now = utc(2026, 3, 6, 12, 0);
        assert_eq!(
            parse_retry_after("Fri, 06 Mar 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after_ms("99999999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn garbage_is_none() {
        let now = utc(2026, 3, 6, 12, 0);
        for v in [
            "",
            "-5",
            "1.5",
            "in a while",
            "Fri, 36 Mar 2026 11:00:00 GMT",
        ] {
            assert_eq!(parse_retry_after(v, now), None, "{v:?}");
            assert_eq!(parse_retry_after_ms(v), None, "{v:?}");
        }
    }

    #[test]
    fn the_millisecond_header_wins_when_it_parses() {
        let now = utc(2026, 3, 6, 12, 0);
        assert_eq!(
            retry_after(Some("60"), Some("250"), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(Some("60"), Some("soon"), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(None, Some("250"), now),
            Some(Duration::from_millis(250))
        );
    }
}
