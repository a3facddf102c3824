//! Kite token state: single-use request tokens and access tokens that die
//! at the next 06:00 Asia/Kolkata on the simulator clock.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use chrono::{NaiveTime, TimeZone};
use chrono_tz::Asia::Kolkata;

/// The first 06:00 Asia/Kolkata strictly after `t`.
pub(crate) fn next_ist_0600(t: DateTime<Utc>) -> DateTime<Utc> {
    let six = NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN);
    let local = t.with_timezone(&Kolkata);
    let mut date = local.date_naive();
    if local.time() >= six {
        date = date.succ_opt().unwrap_or(date);
    }
    // India has no DST: 06:00 exists exactly once every day.
    Kolkata
        .from_local_datetime(&date.and_time(six))
        .earliest()
        .map_or(t, |d| d.with_timezone(&Utc))
}

/// Why a session exchange failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    /// Unknown, used or expired request token.
    StaleToken,
    /// The checksum is not sha256(api_key + request_token + api_secret).
    BadChecksum,
}

#[derive(Debug)]
struct Access {
    exp: DateTime<Utc>,
    revoked: bool,
}

/// Kite state.
#[derive(Debug, Default)]
pub(crate) struct KiteState {
    /// Request token → (issued at, used).
    request_tokens: HashMap<String, (DateTime<Utc>, bool)>,
    access: HashMap<String, Access>,
    /// The last redirect URL an approval produced.
    pub(crate) last_redirect: Option<String>,
}

/// 32 random letters and digits, like Kite's tokens.
fn token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 32)
}

/// The simulator's own checksum: lowercase hex SHA-256 of the concatenation.
pub(crate) fn kite_checksum(api_key: &str, request_token: &str, api_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(api_key);
    h.update(request_token);
    h.update(api_secret);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl KiteState {
    pub(crate) fn issue_request_token(&mut self, now: DateTime<Utc>) -> String {
        let t = token();
        self.request_tokens.insert(t.clone(), (now, false));
        t
    }

    /// Checks and consumes a request token; returns the access token.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn exchange(
        &mut self,
        api_key: &str,
        api_secret: &str,
        request_token: &str,
        checksum: &str,
        ttl: Duration,
        same_token: bool,
        now: DateTime<Utc>,
    ) -> Result<(String, bool), ExchangeError> {
        match self.request_tokens.get_mut(request_token) {
            Some((issued, used)) if !*used && now < *issued + ttl => {
                if kite_checksum(api_key, request_token, api_secret) != checksum {
                    return Err(ExchangeError::BadChecksum);
                }
                *used = true;
            }
            _ => return Err(ExchangeError::StaleToken),
        }
        if same_token {
            if let Some((t, _)) = self.access.iter().find(|(_, a)| !a.revoked && now < a.exp) {
                return Ok((t.clone(), false));
            }
        }
        let t = token();
        self.access.insert(
            t.clone(),
            Access {
                exp: next_ist_0600(now),
                revoked: false,
            },
        );
        Ok((t, true))
    }

    /// True when `access_token` is live at `now`.
    pub(crate) fn live(&self, access_token: &str, now: DateTime<Utc>) -> bool {
        self.access
            .get(access_token)
            .is_some_and(|a| !a.revoked && now < a.exp)
    }

    /// Ends a live access token; false when it was not live.
    pub(crate) fn revoke(&mut self, access_token: &str, now: DateTime<Utc>) -> bool {
        match self.access.get_mut(access_token) {
            Some(a) if !a.revoked && now < a.exp => {
                a.revoked = true;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_the_protocol_vector() {
        assert_eq!(
            kite_checksum("abc", "xyz", "secret"),
            "5dbb6a325def5c484212585e6848e1ae87b5228c89805ba7b33789bd88442ea8"
        );
    }

    #[test]
    fn request_tokens_are_single_use_and_short_lived() {
        let now = Utc.with_ymd_and_hms(2026, 3, 6, 3, 0, 0).unwrap();
        let mut s = KiteState::default();
        let ttl = Duration::minutes(5);
        let rt = s.issue_request_token(now);
        let sum = kite_checksum("k", &rt, "sec");
        assert_eq!(
            s.exchange("k", "sec", &rt, "bad", ttl, true, now),
            Err(ExchangeError::BadChecksum)
        );
        let (at, new) = s.exchange("k", "sec", &rt, &sum, ttl, true, now).unwrap();
        assert!(new && s.live(&at, now));
        assert_eq!(
            s.exchange("k", "sec", &rt, &sum, ttl, true, now),
            Err(ExchangeError::StaleToken)
        );
        let late = s.issue_request_token(now);
        let sum = kite_checksum("k", &late, "sec");
        let after = now + ttl;
        assert_eq!(
            s.exchange("k", "sec", &late, &sum, ttl, true, after),
            Err(ExchangeError::StaleToken)
        );
        // Dies at the next 06:00 IST (00:30 UTC).
        let six = Utc.with_ymd_and_hms(2026, 3, 7, 0, 30, 0).unwrap();
        assert!(s.live(&at, six - Duration::seconds(1)));
        assert!(!s.live(&at, six));
    }

    #[test]
    fn same_day_relogin_follows_the_setting() {
        let now = Utc.with_ymd_and_hms(2026, 3, 6, 3, 0, 0).unwrap();
        let ttl = Duration::minutes(5);
        for same in [true, false] {
            let mut s = KiteState::default();
            let mut login = || {
                let rt = s.issue_request_token(now);
                let sum = kite_checksum("k", &rt, "sec");
                s.exchange("k", "sec", &rt, &sum, ttl, same, now).unwrap().0
            };
            let (a, b) = (login(), login());
            assert_eq!(a == b, same);
        }
    }
}
