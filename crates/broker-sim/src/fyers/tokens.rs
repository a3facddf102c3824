//! FYERS token state and minting: auth codes, access and refresh tokens as
//! HS256 JWTs with the claims the real ones carry, and their lifetimes
//! (PROTOCOLS.md, "Lifetimes").
//!
//! An access token ends at the next 06:00 Asia/Kolkata after issue (00:42
//! IST → 06:00 the same day; 14:20 → 06:00 the next day). A refresh token
//! ends at 06:00 IST `fyers_refresh_token_days` (15) calendar days after
//! its issue date.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Asia::Kolkata;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::SimConfig;
use crate::jwt;

#[derive(Debug)]
pub(super) struct Issued {
    pub(super) exp: DateTime<Utc>,
    pub(super) revoked: bool,
}

/// FYERS token state.
#[derive(Debug, Default)]
pub(crate) struct FyersState {
    /// Auth code `uuid` claim → already used?
    pub(super) auth_codes: HashMap<String, bool>,
    pub(super) access_tokens: HashMap<String, Issued>,
    pub(super) refresh_tokens: HashMap<String, Issued>,
}

/// Lowercase hex SHA-256 of `"{client_id}:{secret_key}"`.
pub fn app_id_hash(client_id: &str, secret_key: &str) -> String {
    let digest = Sha256::digest(format!("{client_id}:{secret_key}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 06:00 Asia/Kolkata on the calendar day `days` after `t`'s IST date.
pub fn ist_0600_after_days(t: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let date = t.with_timezone(&Kolkata).date_naive();
    let date = date
        .checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(date);
    let six = NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(NaiveTime::MIN);
    // India has no DST: 06:00 always exists exactly once.
    Kolkata
        .from_local_datetime(&date.and_time(six))
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(t)
}

/// The next 06:00 Asia/Kolkata strictly after `t`: an access token's end.
pub fn next_ist_0600(t: DateTime<Utc>) -> DateTime<Utc> {
    let same_day = ist_0600_after_days(t, 0);
    if same_day > t {
        same_day
    } else {
        ist_0600_after_days(t, 1)
    }
}

pub(super) fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// `client_id` without its `-100` type suffix, as the `app_id` claim has it.
pub(super) fn app_id(client_id: &str) -> &str {
    client_id.split_once('-').map_or(client_id, |(a, _)| a)
}

impl FyersState {
    pub(crate) fn issue_auth_code(&mut self, config: &SimConfig, now: DateTime<Utc>) -> String {
        let uuid = random_hex(16);
        let iat = now.timestamp();
        let claims = json!({
            "iss": "api.login.fyers.in",
            "iat": iat,
            "exp": (now + config.fyers_auth_code_ttl).timestamp(),
            "nbf": iat,
            "aud": "[\"x:0\", \"x:1\", \"x:2\", \"d:1\", \"d:2\", \"x:1\", \"x:0\"]",
            "sub": "auth_code",
            "display_name": config.fyers_fy_id,
            "oms": "K1",
            "hsm_key": random_hex(12),
            "nonce": "",
            "app_id": app_id(&config.fyers_client_id),
            "uuid": uuid,
            "ipAddr": "127.0.0.1",
            "scope": ""
        });
        self.auth_codes.insert(uuid, false);
        jwt::encode(&claims, config.fyers_jwt_key.as_bytes())
    }

    pub(super) fn issue_access(&mut self, config: &SimConfig, now: DateTime<Utc>) -> String {
        let exp = next_ist_0600(now);
        let t = mint_token(config, now, exp, "access_token");
        self.access_tokens.insert(
            t.clone(),
            Issued {
                exp,
                revoked: false,
            },
        );
        t
    }

    pub(super) fn issue_refresh(&mut self, config: &SimConfig, now: DateTime<Utc>) -> String {
        let exp = ist_0600_after_days(now, config.fyers_refresh_token_days);
        let t = mint_token(config, now, exp, "refresh_token");
        self.refresh_tokens.insert(
            t.clone(),
            Issued {
                exp,
                revoked: false,
            },
        );
        t
    }
}

/// An HS256 JWT with the claims the real access and refresh tokens carry;
/// `sub` says which one it is.
fn mint_token(config: &SimConfig, now: DateTime<Utc>, exp: DateTime<Utc>, sub: &str) -> String {
    let iat = now.timestamp();
    let claims = json!({
        "iss": "api.fyers.in",
        "iat": iat,
        "exp": exp.timestamp(),
        "nbf": iat,
        "aud": ["d:1", "d:2", "x:0", "x:1", "x:2"],
        "sub": sub,
        "at_hash": format!("gAAAAA{}", random_hex(24)),
        "display_name": "",
        "oms": "K1",
        "hsm_key": random_hex(12),
        "isDdpiEnabled": "N",
        "isMtfEnabled": "N",
        "fy_id": config.fyers_fy_id,
        "appType": 100,
        "poa_flag": "N"
    });
    jwt::encode(&claims, config.fyers_jwt_key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ist(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Kolkata
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn app_id_hash_matches_the_protocol_vector() {
        assert_eq!(
            app_id_hash("app_id", "app_secret"),
            "7c7120d2b5004f8de22d8dc2da0453b4d7e6211e37a4108b8371266ecff00498"
        );
    }

    /// The two real tokens in PROTOCOLS.md: issued 00:42 IST, expired 06:00
    /// the same day; issued 14:20 IST, expired 06:00 the next day.
    #[test]
    fn access_tokens_end_at_the_next_0600_ist_after_issue() {
        assert_eq!(
            next_ist_0600(ist(2024, 7, 20, 0, 42)),
            ist(2024, 7, 20, 6, 0)
        );
        assert_eq!(
            next_ist_0600(ist(2026, 8, 15, 14, 20)),
            ist(2026, 8, 16, 6, 0)
        );
        // 02:00 IST: the same day's 06:00, four hours later.
        assert_eq!(next_ist_0600(ist(2026, 3, 6, 2, 0)), ist(2026, 3, 6, 6, 0));
        // Exactly 06:00: the next day's (a token is never born dead).
        assert_eq!(next_ist_0600(ist(2026, 3, 6, 6, 0)), ist(2026, 3, 7, 6, 0));
    }

    /// The field report: refresh token issued 2026-08-15 14:20 IST expired
    /// 2026-08-30 06:00 IST.
    #[test]
    fn refresh_tokens_end_at_0600_ist_fifteen_days_after_issue() {
        assert_eq!(
            ist_0600_after_days(ist(2026, 8, 15, 14, 20), 15),
            ist(2026, 8, 30, 6, 0)
        );
    }
}
