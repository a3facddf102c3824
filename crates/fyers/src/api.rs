//! The FYERS HTTP calls and how their failures are classified.
//!
//! Classification drives the manager: `Transient` is retried with backoff,
//! `Inactive` triggers a silent refresh, `Rejected` escalates to "a person
//! must log in again" and is never retried; a refused setting
//! ([`Error::Setting`]: `secret_key`, `redirect_uri`, `client_id`, app
//! permissions, `base_url`) or a PIN verdict ([`Error::PinRefused`], only
//! when FYERS's message names the PIN) asks a person to fix that instead. Bodies of successful calls are
//! parsed only for the fields we need (the profile's personal data is never
//! read, logged or stored); error messages carry codes and our own words,
//! plus the broker's message only when it is short and echoes nothing we sent.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use token_core::{Clock, Error};

use crate::config::{is_loopback, FyersConfig};

/// The `version` header value the official SDK sends on every call.
pub(crate) const API_VERSION: &str = "3";

/// Which FYERS call a response came from; it changes what a code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `POST /validate-authcode`.
    ValidateAuthcode,
    /// `POST /validate-refresh-token`.
    ValidateRefreshToken,
    /// `GET /profile`.
    Profile,
    /// `POST /logout`.
    Logout,
}

impl Call {
    fn path(self) -> &'static str {
        match self {
            Call::ValidateAuthcode => "validate-authcode",
            Call::ValidateRefreshToken => "validate-refresh-token",
            Call::Profile => "profile",
            Call::Logout => "logout",
        }
    }
}

/// A classified failure.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) error: Error,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { error }
    }
}

/// A thin FYERS client: one reqwest client, the config, no token state.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    http: Client,
    config: FyersConfig,
    /// For `Retry-After` HTTP-dates.
    clock: Arc<dyn Clock>,
}

/// Builds the `Authorization` value `client_id:access_token`.
pub(crate) fn auth_value(client_id: &str, access_token: &SecretString) -> SecretString {
    SecretString::from(format!("{client_id}:{}", access_token.expose_secret()))
}

impl Api {
    pub(crate) fn new(config: FyersConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        config.validate()?;
        let base = config.base()?;
        // The official SDK (fyers-apiv3) sends `version: 3` on every call.
        let mut headers = HeaderMap::new();
        headers.insert("version", HeaderValue::from_static(API_VERSION));
        let mut builder = Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("broker-tokens-fyers/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&base) {
            // Never send loopback traffic (a simulator) through a proxy.
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            config,
            clock,
        })
    }

    pub(crate) fn config(&self) -> &FyersConfig {
        &self.config
    }

    /// POSTs a JSON body and returns the parsed success body.
    pub(crate) async fn post_json(
        &self,
        call: Call,
        body: &Value,
        sent: &[&SecretString],
    ) -> Result<Value, Failure> {
        let url = self.config.endpoint(call.path())?;
        let req = self.http.post(url).json(body);
        self.send(call, req, sent).await
    }

    /// Sends an authenticated request (`Authorization: client_id:token`).
    pub(crate) async fn authed(
        &self,
        call: Call,
        access_token: &SecretString,
    ) -> Result<Value, Failure> {
        let url = self.config.endpoint(call.path())?;
        let mut value =
            HeaderValue::from_str(auth_value(&self.config.client_id, access_token).expose_secret())
                .map_err(|_| Error::Protocol("access token is not a valid header value".into()))?;
        value.set_sensitive(true);
        let req = match call {
            Call::Profile => self.http.get(url),
            _ => self.http.post(url),
        }
        .header(AUTHORIZATION, value);
        self.send(call, req, &[access_token]).await
    }

    async fn send(
        &self,
        call: Call,
        req: reqwest::RequestBuilder,
        sent: &[&SecretString],
    ) -> Result<Value, Failure> {
        let resp = req
            .send()
            .await
            .map_err(|e| Failure::from(transport_error(call, &e)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(|e| {
            Failure::from(Error::transient(format!(
                "{}: connection failed while reading the response ({})",
                call.path(),
                short_reqwest(&e)
            )))
        })?;
        classify(call, status, &headers, &bytes, sent, self.clock.now())
    }
}

fn short_reqwest(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "body interrupted"
    } else {
        "network error"
    }
}

fn transport_error(call: Call, e: &reqwest::Error) -> Error {
    // reqwest errors can include the URL; ours carry no secrets in URLs, but
    // keep the message to our own words anyway.
    Error::transient(format!("{}: {}", call.path(), short_reqwest(e)))
}

/// The wait FYERS asks for: `X-Retry-After-Ms` (more precise) or
/// `Retry-After`, read by core's one parser.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    token_core::retry_after::retry_after(value(RETRY_AFTER.as_str()), value(RETRY_AFTER_MS), now)
}

/// FYERS's millisecond companion of `Retry-After` on 429 answers.
const RETRY_AFTER_MS: &str = "x-retry-after-ms";

/// The broker's message, if safe to repeat: short, printable, and free of
/// anything we sent.
fn safe_message(v: &Value, sent: &[&SecretString]) -> Option<String> {
    let m = v.get("message")?.as_str()?.trim();
    let safe = !m.is_empty()
        && m.len() <= 120
        && m.chars().all(|c| !c.is_control())
        && !sent
            .iter()
            .any(|s| !s.expose_secret().is_empty() && m.contains(s.expose_secret()));
    safe.then(|| m.to_string())
}

/// Turns a response into a success body or a classified failure.
pub(crate) fn classify(
    call: Call,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    sent: &[&SecretString],
    now: DateTime<Utc>,
) -> Result<Value, Failure> {
    let what = call.path();
    let parsed: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_i64);
    if status == StatusCode::TOO_MANY_REQUESTS || code == Some(-429) {
        return Err(Error::Transient {
            message: format!("{what}: rate limited by FYERS (HTTP {})", status.as_u16()),
            retry_after: retry_after(headers, now),
        }
        .into());
    }
    if status.is_server_error() {
        return Err(Error::Transient {
            message: format!("{what}: FYERS server error (HTTP {})", status.as_u16()),
            retry_after: retry_after(headers, now),
        }
        .into());
    }
    let Some(v) = parsed else {
        let html = headers
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|c| c.contains("html"))
            || body.trim_ascii_start().starts_with(b"<");
        return Err(match status.as_u16() {
            // A maintenance page or a garbled body: the same call may well
            // work later, and escalating to a person would be premature.
            200..=299 => Error::transient(format!(
                "{what}: {} (HTTP {})",
                if html {
                    "HTML page instead of JSON (maintenance?)"
                } else {
                    "unparseable response body"
                },
                status.as_u16()
            )),
            401 => Error::rejected(format!("{what}: HTTP 401 without a FYERS body")),
            403 => permission_error(what),
            404 => Error::setting("base_url", format!("{what}: HTTP 404: check base_url")),
            408 => Error::transient(format!("{what}: HTTP 408")),
            s => Error::Protocol(format!("{what}: HTTP {s} with a non-JSON body")),
        }
        .into());
    };
    let ok = v.get("s").and_then(Value::as_str) == Some("ok");
    if status.is_success() && ok {
        return Ok(v);
    }
    let message = safe_message(&v, sent);
    let detail = |words: &str| match (&code, &message) {
        (Some(c), Some(m)) => format!("{what}: {words} (code {c}: {m})"),
        (Some(c), None) => format!("{what}: {words} (code {c})"),
        (None, Some(m)) => format!("{what}: {words} (HTTP {}: {m})", status.as_u16()),
        (None, None) => format!("{what}: {words} (HTTP {})", status.as_u16()),
    };
    let names = |word: &str| {
        message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains(word))
    };
    let pin_named = names("pin");
    let refresh = call == Call::ValidateRefreshToken;
    let error = match code {
        Some(-371) => Error::setting(
            "secret_key",
            detail("appIdHash refused: check secret_key (and client_id) for this app"),
        ),
        Some(-352) if names("redirect") => redirect_refused(detail(
            "redirect_uri refused: it must match the app's registered redirect URI exactly",
        )),
        Some(-352) => Error::setting("client_id", detail("app id refused: check client_id")),
        Some(-441) => Error::Protocol(detail("grant type refused")),
        Some(-437) | Some(-374) => Error::rejected(detail(
            "auth code invalid, expired or already used; log in again",
        )),
        Some(-501) => Error::rejected(detail(
            "refresh token invalid or expired, or refresh no longer allowed; log in again",
        )),
        // Only a message naming the PIN is a PIN verdict; -16 alone is
        // FYERS's generic "could not authenticate".
        _ if refresh && pin_named => Error::PinRefused {
            reason: detail("refresh refused"),
        },
        Some(-17 | -16 | -15 | -8) if refresh => Error::rejected(detail(
            "refresh refused (expired or invalid refresh token, or refresh no longer offered); log in again",
        )),
        // The exchange sends no access token: "token invalid" there means
        // the login was refused, not that a renewal could help.
        Some(-17 | -16 | -15 | -8) if call == Call::ValidateAuthcode => {
            Error::rejected(detail("login refused; log in again"))
        }
        // -17 "invalid or expired token" comes with 401 or 400: either way
        // the access token is dead and a refresh may revive it.
        Some(-17 | -16 | -15 | -8) => Error::Inactive {
            reason: detail("access token invalid or expired"),
        },
        _ => match status.as_u16() {
            401 => Error::rejected(detail("not authorized")),
            403 => permission_error(what),
            404 => Error::setting("base_url", detail("not found: check base_url")),
            408 => Error::transient(detail("request timeout")),
            200..=299 => Error::Protocol(detail("unexpected answer")),
            _ => Error::Protocol(detail("request refused")),
        },
    };
    Err(Failure { error })
}

/// FYERS refused the redirect URI (code -352 naming it): only correcting
/// `redirect_uri` (or the app's registration) helps, never a new login.
pub(crate) fn redirect_refused(message: String) -> Error {
    Error::setting("redirect_uri", message)
}

/// HTTP 403 is FYERS's "permission error": the app lacks a permission the
/// call needs. A configuration problem a login cannot fix.
fn permission_error(what: &str) -> Error {
    Error::setting(
        "app permissions",
        format!(
            "{what}: HTTP 403 permission error: the FYERS app lacks a permission this call needs; \
         enable it for this app (client_id) in the FYERS API dashboard"
        ),
    )
}

/// A required string field of a success body, as a secret.
pub(crate) fn secret_field(v: &Value, call: Call, name: &str) -> Result<SecretString, Error> {
    match v.get(name).and_then(Value::as_str).map(str::trim) {
        Some(s) if !s.is_empty() => Ok(SecretString::from(s.to_string())),
        _ => Err(Error::Protocol(format!(
            "{}: success answer without {name}",
            call.path()
        ))),
    }
}

/// An optional string field of a success body, as a secret.
pub(crate) fn optional_secret(v: &Value, name: &str) -> Option<SecretString> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::ErrorKind;

    fn run(call: Call, status: u16, body: &str) -> Result<Value, Failure> {
        let secret = SecretString::from("sent-secret");
        classify(
            call,
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
            &[&secret],
            Utc::now(),
        )
    }

    fn kind(call: Call, status: u16, body: &str) -> ErrorKind {
        run(call, status, body).unwrap_err().error.kind()
    }

    #[test]
    fn codes_map_to_kinds() {
        use Call::*;
        let e = |c: i32| format!(r#"{{"s":"error","code":{c},"message":"m"}}"#);
        assert_eq!(
            kind(ValidateRefreshToken, 400, &e(-501)),
            ErrorKind::Rejected
        );
        assert_eq!(
            kind(ValidateRefreshToken, 400, &e(-16)),
            ErrorKind::Rejected
        );
        assert_eq!(kind(ValidateRefreshToken, 400, &e(-371)), ErrorKind::Config);
        assert_eq!(
            kind(ValidateRefreshToken, 400, &e(-441)),
            ErrorKind::Protocol
        );
        assert_eq!(kind(ValidateAuthcode, 400, &e(-437)), ErrorKind::Rejected);
        assert_eq!(kind(ValidateAuthcode, 400, &e(-374)), ErrorKind::Rejected);
        assert_eq!(kind(Profile, 401, &e(-16)), ErrorKind::Inactive);
        assert_eq!(kind(Profile, 401, &e(-15)), ErrorKind::Inactive);
        assert_eq!(kind(Profile, 401, &e(-8)), ErrorKind::Inactive);
        assert_eq!(kind(Profile, 429, &e(-429)), ErrorKind::Transient);
        assert_eq!(kind(Profile, 503, &e(503)), ErrorKind::Transient);
        assert_eq!(
            kind(Profile, 200, "<html>down</html>"),
            ErrorKind::Transient
        );
        assert_eq!(kind(Profile, 200, r#"{"s":"ok","da"#), ErrorKind::Transient);
        assert_eq!(kind(Profile, 404, "nope"), ErrorKind::Config);
        assert_eq!(kind(Profile, 400, &e(400)), ErrorKind::Protocol);
        assert_eq!(kind(Profile, 401, &e(401)), ErrorKind::Rejected);
        assert!(run(Profile, 200, r#"{"s":"ok","code":200,"data":{}}"#).is_ok());
    }

    fn is_pin_verdict(call: Call, status: u16, body: &str) -> bool {
        matches!(
            run(call, status, body).unwrap_err().error,
            Error::PinRefused { .. }
        )
    }

    #[test]
    fn only_a_refresh_answer_naming_the_pin_is_a_pin_verdict() {
        let body = r#"{"s":"error","code":-16,"message":"Invalid PIN"}"#;
        assert!(is_pin_verdict(Call::ValidateRefreshToken, 400, body));
        assert!(!is_pin_verdict(Call::Profile, 401, body));
        let body = r#"{"s":"error","code":-501,"message":"Invalid refresh token"}"#;
        assert!(!is_pin_verdict(Call::ValidateRefreshToken, 400, body));
    }

    #[test]
    fn refused_settings_are_named() {
        use token_core::Remedy;
        let fix = |s: &str| Remedy::FixConfig { setting: s.into() };
        let e = |c: i32, m: &str| format!(r#"{{"s":"error","code":{c},"message":"{m}"}}"#);
        let remedy = |call, status, body: &str| run(call, status, body).unwrap_err().error.remedy();
        assert_eq!(
            remedy(
                Call::ValidateAuthcode,
                400,
                &e(-352, "Invalid redirect_uri")
            ),
            fix("redirect_uri")
        );
        assert_eq!(
            remedy(Call::ValidateAuthcode, 400, &e(-352, "Invalid app id")),
            fix("client_id")
        );
        assert_eq!(
            remedy(
                Call::ValidateRefreshToken,
                400,
                &e(-371, "Invalid appIdHash")
            ),
            fix("secret_key")
        );
        assert_eq!(remedy(Call::Profile, 403, ""), fix("app permissions"));
        assert_eq!(
            remedy(Call::ValidateRefreshToken, 400, &e(-16, "Invalid PIN")),
            Remedy::FixPin
        );
        assert_eq!(
            remedy(
                Call::ValidateRefreshToken,
                400,
                &e(-16, "Could not authenticate the user")
            ),
            Remedy::LogIn
        );
        assert_eq!(
            remedy(Call::Profile, 429, &e(-429, "slow down")),
            Remedy::Wait { until: None }
        );
    }

    #[test]
    fn minus_17_on_the_profile_is_an_inactive_token_with_401_or_400() {
        let body = r#"{"s":"error","code":-17,"message":"Invalid or expired token"}"#;
        assert_eq!(kind(Call::Profile, 401, body), ErrorKind::Inactive);
        assert_eq!(kind(Call::Profile, 400, body), ErrorKind::Inactive);
        assert_eq!(
            kind(Call::ValidateRefreshToken, 400, body),
            ErrorKind::Rejected
        );
    }

    #[test]
    fn http_403_is_a_permission_problem_not_a_login() {
        let body = r#"{"s":"error","code":-99,"message":"permission error"}"#;
        for (status, body) in [(403, body), (403, "<html>Forbidden</html>"), (403, "")] {
            let e = run(Call::Profile, status, body).unwrap_err().error;
            assert_eq!(e.kind(), ErrorKind::Config, "{body}: {e}");
            assert!(e.to_string().contains("permission"), "{e}");
        }
    }

    #[test]
    fn minus_16_alone_is_not_a_pin_verdict() {
        let body = r#"{"s":"error","code":-16,"message":"Could not authenticate the user"}"#;
        let f = run(Call::ValidateRefreshToken, 401, body).unwrap_err();
        assert!(!matches!(f.error, Error::PinRefused { .. }));
        assert_eq!(f.error.kind(), ErrorKind::Rejected);
        assert!(!f.error.to_string().contains("PIN"), "{}", f.error);
        let body = r#"{"s":"error","code":-16,"message":"Invalid PIN"}"#;
        let f = run(Call::ValidateRefreshToken, 400, body).unwrap_err();
        assert!(matches!(f.error, Error::PinRefused { .. }));
        assert!(f.error.to_string().contains("PIN"), "{}", f.error);
    }

    #[test]
    fn both_retry_after_headers_are_read() {
        let now = token_core::testing::utc(2026, 3, 6, 4, 0);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER_MS, HeaderValue::from_static("2500"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn retry_after_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let f = classify(
            Call::Profile,
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            b"{}",
            &[],
            Utc::now(),
        )
        .unwrap_err();
        assert!(matches!(
            f.error,
            Error::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
    }

    #[test]
    fn broker_messages_echoing_what_we_sent_are_dropped() {
        let body = r#"{"s":"error","code":-501,"message":"bad token sent-secret"}"#;
        let msg = run(Call::ValidateRefreshToken, 400, body)
            .unwrap_err()
            .error
            .to_string();
        assert!(!msg.contains("sent-secret"), "{msg}");
        assert!(msg.contains("-501"), "{msg}");
        let body = r#"{"s":"error","code":-501,"message":"Invalid refresh token"}"#;
        let msg = run(Call::ValidateRefreshToken, 400, body)
            .unwrap_err()
            .error
            .to_string();
        assert!(msg.contains("Invalid refresh token"), "{msg}");
    }

    #[test]
    fn success_needs_the_fields() {
        let v: Value = serde_json::json!({"s":"ok","access_token":""});
        assert!(matches!(
            secret_field(&v, Call::ValidateAuthcode, "access_token"),
            Err(Error::Protocol(_))
        ));
        assert!(optional_secret(&v, "refresh_token").is_none());
    }
}
