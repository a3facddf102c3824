//! Kite's error envelope and what each answer means for the manager.
//!
//! Every Kite error is `{"status":"error","message":"…","error_type":"…"}`.
//! [`KiteErrorType`] names the documented types; `classify` turns a
//! response into a success `data` value or a [`token_core::Error`] whose kind
//! drives the manager: `Transient` is retried, `Rejected` means a person must
//! log in, `Config` names a setting to fix (never "log in" for those).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use token_core::Error;

/// The `error_type` of a Kite error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KiteErrorType {
    /// Session expired or invalid (HTTP 403): log in again.
    #[error("TokenException")]
    Token,
    /// Bad or missing parameters (HTTP 400).
    #[error("InputException")]
    Input,
    /// The app or user lacks a permission (HTTP 403; also sent as
    /// `PermissionError` or, on the login page, `ForbiddenError`).
    #[error("PermissionException")]
    Permission,
    /// Kite's upstream systems are unreachable.
    #[error("NetworkException")]
    Network,
    /// Any other type, e.g. `GeneralException`, kept by name.
    #[error("{0}")]
    Other(String),
}

impl KiteErrorType {
    /// Reads an `error_type` string.
    ///
    /// ```
    /// use kite::KiteErrorType;
    /// assert_eq!(KiteErrorType::parse("TokenException"), KiteErrorType::Token);
    /// assert_eq!(KiteErrorType::parse("PermissionError"), KiteErrorType::Permission);
    /// ```
    pub fn parse(s: &str) -> Self {
        match s {
            "TokenException" => Self::Token,
            "InputException" => Self::Input,
            "PermissionException" | "PermissionError" | "ForbiddenError" => Self::Permission,
            "NetworkException" => Self::Network,
            other => Self::Other(other.chars().take(40).collect()),
        }
    }
}

/// Which Kite call a response came from; it changes what an answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// `POST /session/token`.
    Session,
    /// `GET /user/profile`.
    Profile,
    /// `DELETE /session/token`.
    Logout,
}

impl Call {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Call::Session | Call::Logout => "session/token",
            Call::Profile => "user/profile",
        }
    }
}

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

fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
    token_core::retry_after::retry_after(value, None, now)
}

/// Turns a response into the success body's `data` or a classified error.
pub(crate) fn classify(
    call: Call,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    sent: &[&SecretString],
    now: DateTime<Utc>,
) -> Result<Value, Error> {
    let what = call.path();
    let code = status.as_u16();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Error::Transient {
            message: format!("{what}: rate limited by Kite (HTTP 429)"),
            retry_after: retry_after(headers, now),
        });
    }
    if status.is_server_error() {
        return Err(Error::Transient {
            message: format!("{what}: Kite server error (HTTP {code})"),
            retry_after: retry_after(headers, now),
        });
    }
    let json_type = headers
        .get(CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object);
    let Some(v) = parsed.filter(|_| json_type || !body.trim_ascii_start().starts_with(b"<")) else {
        return Err(match code {
            // A maintenance or edge page: the same call may work later.
            200..=299 | 403 => Error::transient(format!(
                "{what}: HTML or unparseable page instead of Kite JSON (HTTP {code}); retrying later"
            )),
            404 => Error::setting("base_url", format!("{what}: HTTP 404: check base_url")),
            _ => Error::Protocol(format!("{what}: HTTP {code} with a non-JSON body")),
        });
    };
    if status.is_success() && v.get("status").and_then(Value::as_str) == Some("success") {
        return Ok(v.get("data").cloned().unwrap_or(Value::Null));
    }
    let kind = v
        .get("error_type")
        .and_then(Value::as_str)
        .map(KiteErrorType::parse);
    let message = safe_message(&v, sent);
    let detail = |words: &str| {
        let ty = kind
            .as_ref()
            .map_or_else(|| "no error_type".to_string(), ToString::to_string);
        match &message {
            Some(m) => format!("{what}: {words} (HTTP {code} {ty}: {m})"),
            None => format!("{what}: {words} (HTTP {code} {ty})"),
        }
    };
    let checksum_named = message
        .as_deref()
        .is_some_and(|m| m.to_ascii_lowercase().contains("checksum"));
    Err(match kind {
        Some(KiteErrorType::Token) if call == Call::Session && checksum_named => {
            Error::setting(
                "api_secret",
                detail(
                    "Kite refused the checksum: check api_secret (it must be this app's secret, not the api_key)",
                ),
            )
        }
        Some(KiteErrorType::Token) if call == Call::Session => Error::rejected(detail(
            "request_token invalid, expired (about 5 minutes) or already used: log in again",
        )),
        Some(KiteErrorType::Token) => Error::rejected(detail(
            "session expired or invalid (06:00 IST, logout, or a login elsewhere): log in again",
        )),
        Some(KiteErrorType::Permission) => Error::setting(
            "app permissions",
            detail(
                "permission refused: enable this user and the needed permissions for the app \
                 (api_key) on the Kite Connect developer console",
            ),
        ),
        Some(KiteErrorType::Input) if call == Call::Session => Error::rejected(detail(
            "Kite refused the session request's input: log in again and paste the full redirect URL",
        )),
        Some(KiteErrorType::Input) => Error::Protocol(detail("Kite refused the request's input")),
        Some(KiteErrorType::Network) => Error::transient(detail("Kite network problem")),
        _ => match code {
            403 => Error::rejected(detail("refused: log in again")),
            404 => Error::setting("base_url", detail("not found: check base_url")),
            _ => Error::Protocol(detail("unexpected answer")),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use token_core::ErrorKind;

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h
    }

    fn run(call: Call, status: u16, body: &str) -> Result<Value, Error> {
        let sent = SecretString::from("S3cr3t-Zq9vKx-sent");
        classify(
            call,
            StatusCode::from_u16(status).unwrap(),
            &json_headers(),
            body.as_bytes(),
            &[&sent],
            Utc::now(),
        )
    }

    fn kind(call: Call, status: u16, body: &str) -> ErrorKind {
        run(call, status, body).unwrap_err().kind()
    }

    fn err(ty: &str, msg: &str) -> String {
        format!(r#"{{"status":"error","message":"{msg}","error_type":"{ty}"}}"#)
    }

    #[test]
    fn documented_error_types_map_to_kinds() {
        use Call::*;
        let token = err("TokenException", "Incorrect `api_key` or `access_token`.");
        assert_eq!(kind(Profile, 403, &token), ErrorKind::Rejected);
        assert_eq!(kind(Logout, 403, &token), ErrorKind::Rejected);
        let stale = err("TokenException", "Token is invalid or has expired.");
        assert_eq!(kind(Session, 403, &stale), ErrorKind::Rejected);
        let input = err("InputException", "Missing api_key");
        assert_eq!(kind(Profile, 400, &input), ErrorKind::Protocol);
        assert_eq!(kind(Session, 400, &input), ErrorKind::Rejected);
        for ty in ["PermissionException", "PermissionError", "ForbiddenError"] {
            let e = run(
                Profile,
                403,
                &err(ty, "The user is not enabled on the app."),
            )
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{ty}");
            assert!(e.to_string().contains("will not help"), "{e}");
        }
        assert_eq!(
            kind(Profile, 502, &err("NetworkException", "OMS down")),
            ErrorKind::Transient
        );
        assert_eq!(
            kind(Profile, 503, "<html>down</html>"),
            ErrorKind::Transient
        );
        assert_eq!(
            kind(Profile, 200, "<html>maintenance</html>"),
            ErrorKind::Transient
        );
        assert_eq!(kind(Profile, 404, "nope"), ErrorKind::Config);
        let ok = run(
            Profile,
            200,
            r#"{"status":"success","data":{"user_id":"AB1234"}}"#,
        )
        .unwrap();
        assert_eq!(ok["user_id"], "AB1234");
    }

    #[test]
    fn a_refused_checksum_names_the_secret_setting_not_a_login() {
        let e = run(
            Call::Session,
            403,
            &err("TokenException", "Invalid `checksum`."),
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("api_secret"), "{e}");
        assert_eq!(
            e.remedy(),
            token_core::Remedy::FixConfig {
                setting: "api_secret".into()
            }
        );
    }

    #[test]
    fn rate_limits_are_transient_with_retry_after() {
        let mut h = json_headers();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        let e = classify(
            Call::Profile,
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            err("NetworkException", "Too many requests").as_bytes(),
            &[],
            Utc::now(),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            Error::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
    }

    #[test]
    fn broker_messages_echoing_what_we_sent_are_dropped() {
        let body = err("TokenException", "bad token S3cr3t-Zq9vKx-sent");
        let msg = run(Call::Profile, 403, &body).unwrap_err().to_string();
        assert!(!msg.contains("S3cr3t-Zq9vKx-sent"), "{msg}");
        assert!(msg.contains("TokenException"), "{msg}");
    }
}
