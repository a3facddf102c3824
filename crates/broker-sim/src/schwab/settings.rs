//! Schwab settings of the simulator ([`crate::SimConfig::schwab`]).

use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// The simulated Schwab app and the behaviours PROTOCOLS.md marks
/// UNCERTAIN, one switch each.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SchwabSimConfig {
    /// The app key (`client_id`).
    pub app_key: String,
    /// The app secret (checked in the token call's Basic auth).
    pub app_secret: String,
    /// The registered callback URL; `redirect_uri` must equal it exactly.
    pub callback_url: String,
    /// How long a login code works (30 s), once.
    pub code_ttl: Duration,
    /// Access-token life (`expires_in`, 1800 s).
    pub access_ttl: Duration,
    /// Refresh-token life from the original login (7 days).
    pub refresh_ttl: Duration,
    /// UNCERTAIN: a refresh answers a NEW refresh token (same 7-day end) and
    /// the old one stops working. Off: the same value is echoed.
    pub rotation: bool,
    /// UNCERTAIN: a new login revokes the refresh tokens of older logins.
    pub login_revokes_older: bool,
    /// UNCERTAIN: a refresh kills the previous access token.
    pub refresh_revokes_access: bool,
    /// UNCERTAIN: HTTP status of `invalid_client: refresh token invalid`
    /// (the 7-day end), 400 or 401.
    pub expired_refresh_status: u16,
}

impl Default for SchwabSimConfig {
    fn default() -> Self {
        Self {
            app_key: "SimSchwabAppKey0000000000000001".into(),
            app_secret: "SimSchwabSecret-Qm7Vx2-0001".into(),
            callback_url: "https://127.0.0.1:8182/schwab/callback".into(),
            code_ttl: Duration::seconds(30),
            access_ttl: Duration::seconds(1800),
            refresh_ttl: Duration::days(7),
            rotation: false,
            login_revokes_older: true,
            refresh_revokes_access: false,
            expired_refresh_status: 400,
        }
    }
}

impl fmt::Debug for SchwabSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchwabSimConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field("callback_url", &self.callback_url)
            .field("rotation", &self.rotation)
            .field("login_revokes_older", &self.login_revokes_older)
            .field("refresh_revokes_access", &self.refresh_revokes_access)
            .finish_non_exhaustive()
    }
}
