//! When FYERS tokens end, and the default policy and schedule built on that.
//!
//! The access token's and refresh token's own `exp` claims win. When a token
//! is not a JWT, the access token ends at **the next 06:00 Asia/Kolkata after
//! issue** (seen on every real token: one issued 00:42 IST expired 06:00 the
//! same day, one issued 14:20 IST at 06:00 the next day), the same rule as
//! [`default_policy`]'s daily cutoff; the refresh token ends at 06:00 IST a
//! configurable number of days after the issue date (15 by default:
//! 2026-08-15 14:20 IST -> 2026-08-30 06:00 IST in a field report).

use chrono::{DateTime, Days, Duration, NaiveTime, Utc};
use chrono_tz::Asia::Kolkata;
use secrecy::{ExposeSecret, SecretString};

use token_core::policy::{DailyCutoff, EarliestOf, ExpiryPolicy, ExplicitExpiry};
use token_core::schedule::resolve_local;
use token_core::{Error, ManagerConfig, Metadata, Schedule};

use crate::jwt::{token_expiry, TokenExpiry};

/// The FYERS daily cutoff: 06:00 local time in Asia/Kolkata.
pub fn cutoff_time() -> NaiveTime {
    NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// 06:00 Asia/Kolkata on the calendar day `days` after `t`'s IST date.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// // 2026-03-06 02:00 IST (still the 6th in India) -> 2026-03-07 06:00 IST.
/// let t = Utc.with_ymd_and_hms(2026, 3, 5, 20, 30, 0).unwrap();
/// assert_eq!(fyers::expiry::ist_0600_after(t, 1), Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap());
/// ```
pub fn ist_0600_after(t: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let date = t.with_timezone(&Kolkata).date_naive();
    let date = date
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(date);
    resolve_local(Kolkata, date.and_time(cutoff_time()))
}

/// The first 06:00 Asia/Kolkata strictly after `t`: when an access token
/// issued at `t` ends (the default policy's daily cutoff, read from it).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use fyers::expiry::next_0600_ist;
/// // 2024-07-20 00:42 IST -> 06:00 IST the same day.
/// let t = Utc.with_ymd_and_hms(2024, 7, 19, 19, 12, 0).unwrap();
/// assert_eq!(next_0600_ist(t), Utc.with_ymd_and_hms(2024, 7, 20, 0, 30, 0).unwrap());
/// ```
pub fn next_0600_ist(t: DateTime<Utc>) -> DateTime<Utc> {
    daily_cutoff()
        .limits(&Metadata::issued(t))
        .expires_at
        .unwrap_or_else(|| ist_0600_after(t, 1))
}

fn daily_cutoff() -> DailyCutoff {
    DailyCutoff::new(cutoff_time(), Kolkata)
}

/// The default expiry policy: the JWT `exp` stored in the record, capped by
/// the 06:00 Asia/Kolkata daily cutoff.
///
/// Past the access expiry the token is `Idle` (renewable) while the refresh
/// token lives, and `Expired` after.
pub fn default_policy() -> EarliestOf {
    EarliestOf::new().with(ExplicitExpiry).with(daily_cutoff())
}

/// The default refresh schedule: 08:45 Asia/Kolkata, Monday to Friday
/// (before the 09:15 market open).
pub fn default_schedule() -> Schedule {
    Schedule::new(
        NaiveTime::from_hms_opt(8, 45, 0).unwrap_or(NaiveTime::MIN),
        Kolkata,
        token_core::schedule::Weekdays::MON_FRI,
    )
}

/// Manager settings for FYERS: refresh on [`default_schedule`] and warn 3
/// days before the refresh token (and so silent refresh) ends.
pub fn default_manager_config() -> ManagerConfig {
    manager_config(Some(default_schedule()), 3)
}

/// Manager settings with your own schedule and warning lead in days.
pub fn manager_config(schedule: Option<Schedule>, warn_days: i64) -> ManagerConfig {
    ManagerConfig {
        schedule,
        expiry_warnings: vec![Duration::days(warn_days)],
        ..ManagerConfig::default()
    }
}

/// Record metadata for tokens issued at `now`: `expires_at` from the access
/// token, `refresh_expires_at` from the refresh token (when there is one).
///
/// A token that looks like a JWT but cannot be read is an
/// [`Error::Protocol`]; the message names the token kind, never its content.
pub fn metadata_for(
    now: DateTime<Utc>,
    access_token: &SecretString,
    refresh_token: Option<&SecretString>,
    refresh_token_days: u32,
) -> Result<Metadata, Error> {
    let mut meta = Metadata::issued(now);
    meta.expires_at = Some(access_expiry(now, access_token)?);
    meta.refresh_expires_at = match refresh_token {
        Some(r) => Some(refresh_expiry(now, r, refresh_token_days)?),
        None => None,
    };
    Ok(meta)
}

/// The access token's end: its `exp`, or the next 06:00 IST after `now`.
pub fn access_expiry(now: DateTime<Utc>, token: &SecretString) -> Result<DateTime<Utc>, Error> {
    match token_expiry(token.expose_secret()) {
        Ok(TokenExpiry::At(t)) => Ok(t),
        Ok(TokenExpiry::NoExp | TokenExpiry::Opaque) => Ok(next_0600_ist(now)),
        Err(e) => Err(Error::Protocol(format!("access token: {e}"))),
    }
}

/// The refresh token's end: its `exp`, or 06:00 IST `days` days after issue.
pub fn refresh_expiry(
    now: DateTime<Utc>,
    token: &SecretString,
    days: u32,
) -> Result<DateTime<Utc>, Error> {
    match token_expiry(token.expose_secret()) {
        Ok(TokenExpiry::At(t)) => Ok(t),
        Ok(TokenExpiry::NoExp | TokenExpiry::Opaque) => Ok(ist_0600_after(now, days)),
        Err(e) => Err(Error::Protocol(format!("refresh token: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use token_core::policy::{evaluate, TokenState};
    use token_core::testing::utc;

    fn jwt_with_exp(exp: DateTime<Utc>) -> SecretString {
        let p = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{}}}"#, exp.timestamp()));
        SecretString::from(format!("eyJhbGciOiJIUzI1NiJ9.{p}.sig"))
    }

    #[test]
    fn opaque_access_token_expires_at_the_next_0600_ist() {
        // Issued 2026-03-06 23:30 IST (18:00 UTC) -> 2026-03-07 06:00 IST.
        let now = utc(2026, 3, 6, 18, 0);
        let t = access_expiry(now, &SecretString::from("opaque")).unwrap();
        assert_eq!(t, utc(2026, 3, 7, 0, 30));
        // Issued 00:30 IST on the 7th (19:00 UTC on the 6th) -> 06:00 IST the
        // same day, not the 8th.
        let now = utc(2026, 3, 6, 19, 0);
        assert_eq!(
            access_expiry(now, &SecretString::from("opaque")).unwrap(),
            utc(2026, 3, 7, 0, 30)
        );
    }

    #[test]
    fn field_reports_of_real_tokens_hold() {
        let cases = [
            // 2024-07-20 00:42 IST -> 06:00 IST the same day (about 5 hours).
            (utc(2024, 7, 19, 19, 12), utc(2024, 7, 20, 0, 30)),
            // 2026-08-15 14:20 IST -> 2026-08-16 06:00 IST.
            (utc(2026, 8, 15, 8, 50), utc(2026, 8, 16, 0, 30)),
            // Exactly 06:00 IST -> the next day's 06:00.
            (utc(2026, 8, 16, 0, 30), utc(2026, 8, 17, 0, 30)),
        ];
        for (issued, ends) in cases {
            assert_eq!(next_0600_ist(issued), ends, "issued {issued}");
        }
        // The refresh token: 15 days ending 06:00 IST.
        let refresh = refresh_expiry(utc(2026, 8, 15, 8, 50), &SecretString::from("opaque"), 15);
        assert_eq!(refresh.unwrap(), utc(2026, 8, 30, 0, 30));
    }

    #[test]
    fn the_fallback_and_the_policy_agree() {
        let p = default_policy();
        for issued in [
            utc(2026, 3, 6, 19, 0),
            utc(2026, 3, 6, 4, 0),
            utc(2026, 3, 7, 0, 29),
        ] {
            let mut meta = Metadata::issued(issued);
            let by_policy = evaluate(&p, &meta, issued).expires_at;
            meta.expires_at = Some(access_expiry(issued, &SecretString::from("opaque")).unwrap());
            assert_eq!(
                evaluate(&p, &meta, issued).expires_at,
                by_policy,
                "{issued}"
            );
        }
    }

    #[test]
    fn jwt_exp_wins_over_the_fallback() {
        let now = utc(2026, 3, 6, 4, 0);
        let exp = utc(2026, 3, 6, 9, 0);
        assert_eq!(access_expiry(now, &jwt_with_exp(exp)).unwrap(), exp);
        let rexp = utc(2026, 4, 1, 0, 30);
        let meta = metadata_for(now, &jwt_with_exp(exp), Some(&jwt_with_exp(rexp)), 15).unwrap();
        assert_eq!(meta.expires_at, Some(exp));
        assert_eq!(meta.refresh_expires_at, Some(rexp));
    }

    #[test]
    fn opaque_refresh_token_lives_the_configured_days() {
        let now = utc(2026, 3, 6, 4, 0); // 09:30 IST on the 6th
        let t = refresh_expiry(now, &SecretString::from("opaque"), 30).unwrap();
        assert_eq!(t, utc(2026, 4, 5, 0, 30));
    }

    #[test]
    fn malformed_token_is_a_protocol_error_without_content() {
        let bad = SecretString::from("x.bm90LWpzb24.y");
        let e = metadata_for(utc(2026, 3, 6, 4, 0), &bad, None, 15).unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e:?}");
        assert!(!e.to_string().contains("bm90"));
    }

    #[test]
    fn default_policy_is_idle_after_access_expiry_until_refresh_expiry() {
        let issued = utc(2026, 3, 6, 4, 0);
        let meta = metadata_for(
            issued,
            &SecretString::from("opaque"),
            Some(&SecretString::from("opaque")),
            15,
        )
        .unwrap();
        let p = default_policy();
        assert_eq!(evaluate(&p, &meta, issued).state, TokenState::Fresh);
        assert_eq!(
            evaluate(&p, &meta, utc(2026, 3, 7, 0, 30)).state,
            TokenState::Idle
        );
        let ev = evaluate(&p, &meta, utc(2026, 3, 10, 0, 0));
        assert_eq!(ev.reauthorize_by, Some(utc(2026, 3, 21, 0, 30)));
        assert_eq!(
            evaluate(&p, &meta, utc(2026, 3, 21, 0, 30)).state,
            TokenState::Expired
        );
    }

    #[test]
    fn default_schedule_is_0845_ist_on_weekdays() {
        let s = default_schedule();
        // Friday 2026-03-06 10:00 IST -> Monday 08:45 IST (03:15 UTC).
        assert_eq!(
            s.next_after(utc(2026, 3, 6, 4, 30)),
            Some(utc(2026, 3, 9, 3, 15))
        );
        let c = default_manager_config();
        assert_eq!(c.expiry_warnings, vec![Duration::days(3)]);
        assert_eq!(c.schedule, Some(s));
    }
}
