//! Simulator settings: demo credentials, lifetimes, and the switches for
//! behaviour PROTOCOLS.md marks as uncertain.

use std::fmt;

use chrono::Duration;
use serde::{Deserialize, Serialize};

/// How E*TRADE error bodies look. Both shapes are seen in the wild.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtradeErrorStyle {
    /// `{"Error":{"message":"oauth_problem=token_expired"}}`.
    #[default]
    Json,
    /// A Tomcat-style page titled `HTTP Status 401 - oauth_problem=...`.
    Html,
    /// `<Error><code>401</code><message>oauth_problem=...</message></Error>`.
    Xml,
}

/// Which clock `oauth_timestamp` is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampClock {
    /// The simulator's clock, control-API moves included: a client must
    /// sign with simulated time (fine for tests sharing a `ManualClock`).
    #[default]
    Simulated,
    /// The clock the simulator was started on, without the offset the
    /// control API moves: a client on the real clock keeps working while
    /// tokens age on simulated time (standalone `--timestamps real`).
    Real,
}

/// One FYERS error answer: HTTP status, negative code, message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FyersAnswer {
    /// HTTP status.
    pub status: u16,
    /// The `code` field (negative).
    pub code: i32,
    /// The `message` field.
    pub message: String,
}

impl FyersAnswer {
    /// An answer.
    pub fn new(status: u16, code: i32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

/// The FYERS answers PROTOCOLS.md marks as unconfirmed, one setting each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FyersAnswers {
    /// Refresh refused because the broker ended the refresh flow
    /// (with `fyers_refresh_disabled`). Default 400 / -501.
    pub refresh_refused: FyersAnswer,
    /// A wrong PIN on refresh. Default 400 / -16 (FYERS's generic
    /// "could not authenticate", also its answer to a wrong PIN).
    pub wrong_pin: FyersAnswer,
    /// An expired, revoked or unknown refresh token. Default 400 / -501.
    pub expired_refresh: FyersAnswer,
    /// An expired, revoked or unknown access token on `/profile` and
    /// `/logout`. Default 401 / -16; the error table's -17 ("token invalid
    /// or expired") is the other observed code.
    pub dead_token: FyersAnswer,
}

impl Default for FyersAnswers {
    fn default() -> Self {
        Self {
            refresh_refused: FyersAnswer::new(
                400,
                -501,
                "Invalid refresh token: the refresh token flow is not available",
            ),
            wrong_pin: FyersAnswer::new(400, -16, "Invalid PIN"),
            expired_refresh: FyersAnswer::new(400, -501, "Invalid refresh token"),
            dead_token: FyersAnswer::new(401, -16, "Could not authenticate the user"),
        }
    }
}

/// An `oauth_problem` value as E*TRADE reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EtradeProblem {
    /// `token_expired`: past midnight ET (and, by default, idle).
    TokenExpired,
    /// `token_rejected`: unknown, revoked or consumed token.
    TokenRejected,
    /// `signature_invalid`.
    SignatureInvalid,
    /// `consumer_key_rejected`: unknown or expired consumer key.
    ConsumerKeyRejected,
    /// `nonce_used`: the nonce was seen before.
    NonceUsed,
    /// `signature_method_rejected`: anything but HMAC-SHA1.
    SignatureMethodRejected,
    /// `version_rejected`: `oauth_version` present and not `1.0`.
    VersionRejected,
    /// `parameter_absent,oauth_parameters_absent=NAME`.
    ParameterAbsent(String),
    /// `parameter_rejected,oauth_parameters_rejected=NAME`.
    ParameterRejected(String),
    /// `timestamp_refused,oauth_acceptable_timestamps=FROM-TO` (Unix seconds).
    TimestampRefused {
        /// Earliest acceptable timestamp.
        from: i64,
        /// Latest acceptable timestamp.
        to: i64,
    },
}

impl fmt::Display for EtradeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TokenExpired => f.write_str("token_expired"),
            Self::TokenRejected => f.write_str("token_rejected"),
            Self::SignatureInvalid => f.write_str("signature_invalid"),
            Self::ConsumerKeyRejected => f.write_str("consumer_key_rejected"),
            Self::NonceUsed => f.write_str("nonce_used"),
            Self::SignatureMethodRejected => f.write_str("signature_method_rejected"),
            Self::VersionRejected => f.write_str("version_rejected"),
            Self::ParameterAbsent(p) => write!(f, "parameter_absent,oauth_parameters_absent={p}"),
            Self::ParameterRejected(p) => {
                write!(f, "parameter_rejected,oauth_parameters_rejected={p}")
            }
            Self::TimestampRefused { from, to } => {
                write!(
                    f,
                    "timestamp_refused,oauth_acceptable_timestamps={from}-{to}"
                )
            }
        }
    }
}

/// A fixed-window request limit per consumer key / client id, on the
/// simulator clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub max_requests: u32,
    /// Window length in milliseconds of simulator time.
    pub window_millis: i64,
}

/// Everything the simulator can be told at start. [`Default`] gives demo
/// credentials and the documented lifetimes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The E*TRADE consumer key the simulator accepts.
    pub etrade_consumer_key: String,
    /// Its consumer secret.
    pub etrade_consumer_secret: String,
    /// Inactivity after which an access token needs renew (2 h).
    pub etrade_idle_timeout: Duration,
    /// Lifetime of a request token (5 min).
    pub etrade_request_token_ttl: Duration,
    /// Accepted distance between `oauth_timestamp` and the clock (5 min).
    pub etrade_timestamp_window: Duration,
    /// JSON or HTML error bodies.
    pub etrade_error_style: EtradeErrorStyle,
    /// The `oauth_problem` an idle (inactive) token gets on API calls.
    /// Which one the real service sends is not documented.
    pub etrade_idle_problem: EtradeProblem,
    /// Data endpoints reject dead tokens with the legacy 401 body
    /// `Invalid access token used` (no `oauth_problem`) instead.
    pub etrade_legacy_token_errors: bool,
    /// The clock `oauth_timestamp` is checked against.
    pub etrade_timestamp_clock: TimestampClock,
    /// A callback registered on the consumer key: the authorize page then
    /// redirects the browser to it with `oauth_token` and `oauth_verifier`
    /// in the query instead of showing the verifier.
    pub etrade_registered_callback: Option<String>,
    /// The FYERS app id with its type suffix.
    pub fyers_client_id: String,
    /// The FYERS app secret (only its appIdHash travels).
    pub fyers_secret_key: String,
    /// The account PIN required for refresh.
    pub fyers_pin: String,
    /// The registered redirect URI; must match exactly.
    pub fyers_redirect_uri: String,
    /// The simulated user id (`fy_id` claim).
    pub fyers_fy_id: String,
    /// Lifetime of an auth code (about 8 h).
    pub fyers_auth_code_ttl: Duration,
    /// Refresh tokens end at 06:00 IST this many days after issue (15).
    pub fyers_refresh_token_days: u32,
    /// Refresh responses carry a new refresh token; the old one dies.
    pub fyers_rotation: bool,
    /// Every refresh is rejected, as if the broker ended the flow (with
    /// `fyers_answers.refresh_refused`).
    pub fyers_refresh_disabled: bool,
    /// The unconfirmed FYERS error answers.
    pub fyers_answers: FyersAnswers,
    /// HS256 key for the simulator's JWTs.
    pub fyers_jwt_key: String,
    /// Optional per-key limit on the data endpoints.
    pub rate_limit: Option<RateLimit>,
    /// The Schwab app and its uncertain behaviours.
    pub schwab: crate::SchwabSimConfig,
    /// Zerodha Kite Connect settings.
    #[serde(default)]
    pub kite: crate::KiteSimConfig,
}

/// The default FYERS PIN. Like every default secret here it is a string
/// that cannot occur by chance in logs (a 4-digit PIN such as `1234` shows
/// up inside timestamps), so leak scanners can search for it.
pub const DEMO_FYERS_PIN: &str = "SimPin-Zq9vKx-4821";

/// The default FYERS app secret (only its appIdHash travels).
pub const DEMO_FYERS_SECRET_KEY: &str = "SimFyersSecret-Wd8Kp4-0001";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            etrade_consumer_key: "SIMKEYdemo0000000000000000000001".into(),
            etrade_consumer_secret: "SIMSECRETdemo00000000000000000000000000001".into(),
            etrade_idle_timeout: Duration::hours(2),
            etrade_request_token_ttl: Duration::minutes(5),
            etrade_timestamp_window: Duration::minutes(5),
            etrade_error_style: EtradeErrorStyle::Json,
            etrade_idle_problem: EtradeProblem::TokenExpired,
            etrade_legacy_token_errors: false,
            etrade_timestamp_clock: TimestampClock::Simulated,
            etrade_registered_callback: None,
            fyers_client_id: "SIMAPP0001-100".into(),
            fyers_secret_key: DEMO_FYERS_SECRET_KEY.into(),
            fyers_pin: DEMO_FYERS_PIN.into(),
            fyers_redirect_uri: "http://127.0.0.1/fyers/callback".into(),
            fyers_fy_id: "XS00001".into(),
            fyers_auth_code_ttl: Duration::hours(8),
            fyers_refresh_token_days: 15,
            fyers_rotation: false,
            fyers_refresh_disabled: false,
            fyers_answers: FyersAnswers::default(),
            fyers_jwt_key: "broker-sim-demo-jwt-key".into(),
            rate_limit: None,
            schwab: crate::SchwabSimConfig::default(),
            kite: crate::KiteSimConfig::default(),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of Debug output, even demo ones.
        f.debug_struct("SimConfig")
            .field("port", &self.port)
            .field("etrade_consumer_key", &self.etrade_consumer_key)
            .field("etrade_consumer_secret", &"<redacted>")
            .field("etrade_idle_timeout", &self.etrade_idle_timeout)
            .field("etrade_request_token_ttl", &self.etrade_request_token_ttl)
            .field("etrade_error_style", &self.etrade_error_style)
            .field("etrade_timestamp_clock", &self.etrade_timestamp_clock)
            .field("fyers_client_id", &self.fyers_client_id)
            .field("fyers_secret_key", &"<redacted>")
            .field("fyers_pin", &"<redacted>")
            .field("fyers_redirect_uri", &self.fyers_redirect_uri)
            .field("fyers_rotation", &self.fyers_rotation)
            .field("fyers_refresh_disabled", &self.fyers_refresh_disabled)
            .field("rate_limit", &self.rate_limit)
            .field("kite", &self.kite)
            .finish_non_exhaustive()
    }
}

/// The credentials and URLs a client needs to talk to a running simulator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoCredentials {
    /// E*TRADE OAuth host (`/oauth/...`, `/e/t/etws/authorize`).
    pub etrade_oauth_base_url: String,
    /// E*TRADE API host (`/v1/...`).
    pub etrade_api_base_url: String,
    /// E*TRADE consumer key.
    pub etrade_consumer_key: String,
    /// E*TRADE consumer secret.
    pub etrade_consumer_secret: String,
    /// FYERS API base (`.../api/v3`).
    pub fyers_base_url: String,
    /// FYERS app id.
    pub fyers_client_id: String,
    /// FYERS app secret.
    pub fyers_secret_key: String,
    /// FYERS PIN.
    pub fyers_pin: String,
    /// FYERS registered redirect URI.
    pub fyers_redirect_uri: String,
}

impl fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoCredentials")
            .field("etrade_oauth_base_url", &self.etrade_oauth_base_url)
            .field("etrade_consumer_key", &self.etrade_consumer_key)
            .field("fyers_base_url", &self.fyers_base_url)
            .field("fyers_client_id", &self.fyers_client_id)
            .field("fyers_redirect_uri", &self.fyers_redirect_uri)
            .finish_non_exhaustive()
    }
}
