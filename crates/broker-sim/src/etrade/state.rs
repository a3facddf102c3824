//! E*TRADE token state: request tokens awaiting approval, access tokens and
//! their life cycle, and the nonces already seen.
//!
//! Access tokens: active → inactive after the idle timeout without a signed
//! API call → renew reactivates the same pair → expired at the next
//! midnight America/New_York (renew then fails) → revoked tokens are
//! rejected.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;

use crate::config::{EtradeProblem, SimConfig};
use crate::{lock, BrokerSim, SimError};

#[derive(Debug)]
pub(super) struct RequestToken {
    pub(super) secret: String,
    pub(super) created: DateTime<Utc>,
    pub(super) verifier: Option<String>,
}

#[derive(Debug)]
pub(super) struct AccessToken {
    pub(super) secret: String,
    pub(super) last_used: DateTime<Utc>,
    pub(super) expires: DateTime<Utc>,
    pub(super) revoked: bool,
}

/// E*TRADE token state.
#[derive(Debug, Default)]
pub(crate) struct EtradeState {
    pub(super) request_tokens: HashMap<String, RequestToken>,
    pub(super) access_tokens: HashMap<String, AccessToken>,
    /// (consumer key, nonce) → timestamp it came with.
    pub(super) nonces: HashMap<(String, String), i64>,
}

impl EtradeState {
    pub(crate) fn approve(
        &mut self,
        request_token: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<String, SimError> {
        let rt = self
            .request_tokens
            .get_mut(request_token)
            .ok_or(SimError::UnknownRequestToken)?;
        if now - rt.created >= ttl {
            return Err(SimError::RequestTokenExpired);
        }
        Ok(rt.verifier.get_or_insert_with(new_verifier).clone())
    }
}

/// The next 00:00 America/New_York strictly after `t`.
pub fn next_midnight_new_york(t: DateTime<Utc>) -> DateTime<Utc> {
    let local_date = t.with_timezone(&New_York).date_naive();
    let next = local_date.succ_opt().unwrap_or(local_date);
    let naive = next.and_time(NaiveTime::MIN);
    // Midnight always exists in New York (DST moves 02:00), but stay total.
    New_York
        .from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(t + Duration::hours(24))
}

/// A token or secret as E*TRADE makes them: base64 of random bytes (so
/// often with `+`, `/` and `=`, which clients must carry unmangled).
pub(super) fn new_token() -> String {
    let bytes: [u8; 31] = rand::random();
    STANDARD.encode(bytes)
}

/// A five-character verifier like `H92GX`.
fn new_verifier() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..5)
        .map(|_| {
            let i = rand::random_range(0..ALPHABET.len());
            char::from(ALPHABET[i])
        })
        .collect()
}

/// What an access token's state allows.
pub(super) enum Use {
    /// Usable (and now marked used).
    Ok,
    /// Rejected with this problem.
    Fail(EtradeProblem),
}

impl BrokerSim {
    /// Revokes every live E*TRADE access token behind its holder's back, as
    /// a logout on another device or a broker-side reset would: later
    /// signed calls with them get `token_rejected`. Returns how many were
    /// revoked (already revoked or expired ones are not counted).
    pub fn revoke_etrade_access_tokens(&self) -> usize {
        let now = self.now();
        let mut state = lock(&self.inner.etrade);
        let mut revoked = 0;
        for at in state.access_tokens.values_mut() {
            if !at.revoked && now < at.expires {
                at.revoked = true;
                revoked += 1;
            }
        }
        revoked
    }

    /// Applies the access-token state machine to a signed call. `renew`
    /// revives an idle token; other calls need an active one.
    pub(super) fn use_access_token(&self, token: &str, config: &SimConfig, renew: bool) -> Use {
        let now = self.now();
        let mut state = lock(&self.inner.etrade);
        let Some(at) = state.access_tokens.get_mut(token) else {
            return Use::Fail(EtradeProblem::TokenRejected);
        };
        if at.revoked {
            return Use::Fail(EtradeProblem::TokenRejected);
        }
        if now >= at.expires {
            return Use::Fail(EtradeProblem::TokenExpired);
        }
        if !renew && now - at.last_used >= config.etrade_idle_timeout {
            return Use::Fail(config.etrade_idle_problem.clone());
        }
        at.last_used = now;
        Use::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_new_york_follows_dst() {
        // Winter: EST, midnight is 05:00 UTC.
        let t = Utc.with_ymd_and_hms(2026, 1, 15, 20, 0, 0).unwrap();
        assert_eq!(
            next_midnight_new_york(t),
            Utc.with_ymd_and_hms(2026, 1, 16, 5, 0, 0).unwrap()
        );
        // 2026-03-08 is the spring-forward day: issued on the 7th (EST),
        // the day ends at 00:00 EST on the 8th; issued on the 8th after the
        // change, it ends at 00:00 EDT on the 9th (04:00 UTC).
        let t = Utc.with_ymd_and_hms(2026, 3, 8, 15, 0, 0).unwrap();
        assert_eq!(
            next_midnight_new_york(t),
            Utc.with_ymd_and_hms(2026, 3, 9, 4, 0, 0).unwrap()
        );
        // 2026-11-01 fall-back day: a 25-hour day; ends 00:00 EST on the 2nd.
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 4, 30, 0).unwrap();
        assert_eq!(
            next_midnight_new_york(t),
            Utc.with_ymd_and_hms(2026, 11, 2, 5, 0, 0).unwrap()
        );
    }

    #[test]
    fn verifiers_look_like_etrade_ones() {
        let v = new_verifier();
        assert_eq!(v.len(), 5);
        assert!(v
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    }
}
