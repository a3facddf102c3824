//! Kite Connect settings of the simulator, with the behaviours PROTOCOLS.md
//! marks as uncertain as switches.

use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// The default Kite api_secret: a string that cannot occur by chance.
pub const DEMO_KITE_API_SECRET: &str = "SimKiteSecret-Qx7Rv2-0001";

/// Kite Connect settings (`SimConfig::kite`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KiteSimConfig {
    /// The app's api_key.
    pub api_key: String,
    /// The app's api_secret (only the checksum built with it travels).
    pub api_secret: String,
    /// The registered redirect URL: the login redirects exactly here.
    pub redirect_url: String,
    /// The simulated user id.
    pub user_id: String,
    /// Lifetime of a request token (5 minutes); it works once.
    pub request_token_ttl: Duration,
    /// UNCERTAIN: a second login the same trading day (before the next
    /// 06:00 IST) returns the same access token (default true, per a forum
    /// answer) or a new one (the old one then keeps working until 06:00).
    pub same_day_same_token: bool,
    /// Answer calls without `X-Kite-Version: 3` with 400 InputException.
    pub require_version_header: bool,
}

impl Default for KiteSimConfig {
    fn default() -> Self {
        Self {
            api_key: "simkiteapikey0001".into(),
            api_secret: DEMO_KITE_API_SECRET.into(),
            redirect_url: "http://127.0.0.1/kite/callback".into(),
            user_id: "ZS0001".into(),
            request_token_ttl: Duration::minutes(5),
            same_day_same_token: true,
            require_version_header: true,
        }
    }
}

impl fmt::Debug for KiteSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KiteSimConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("redirect_url", &self.redirect_url)
            .field("user_id", &self.user_id)
            .field("request_token_ttl", &self.request_token_ttl)
            .field("same_day_same_token", &self.same_day_same_token)
            .field("require_version_header", &self.require_version_header)
            .finish()
    }
}
