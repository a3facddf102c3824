//! Reading Schwab's error answers (PROTOCOLS.md, "Error bodies") into a
//! typed [`SchwabError`], and that into the manager's [`token_core::Error`]
//! classes: transient (retry), inactive (refresh), rejected (a person logs
//! in), config (fix the settings).

use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

/// Which Schwab call an answer came from; it changes what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `POST /v1/oauth/token` with `grant_type=authorization_code`.
    CodeExchange,
    /// `POST /v1/oauth/token` with `grant_type=refresh_token`.
    Refresh,
    /// `GET /trader/v1/accounts/accountNumbers`.
    Probe,
}

impl Call {
    /// The call's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Call::CodeExchange => "code exchange",
            Call::Refresh => "refresh",
            Call::Probe => "accountNumbers probe",
        }
    }
}

/// A Schwab error answer, typed. Messages carry our own words and the
/// broker's error codes, never a token or the raw body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchwabError {
    /// HTTP 400 `unsupported_token_type` wrapping
    /// `refresh_token_authentication_error`: the refresh token was superseded
    /// (a newer login, another program) or is invalid.
    #[error("{0}: Schwab refused the refresh token (refresh_token_authentication_error: superseded by a newer login or invalid); log in again")]
    RefreshTokenAuthentication(&'static str),
    /// `invalid_client` with "refresh token invalid": the 7-day refresh
    /// token ended (HTTP status UNCERTAIN: 400 or 401).
    #[error("{0}: Schwab says the refresh token is invalid (invalid_client; usually the 7-day end); log in again")]
    RefreshTokenInvalid(&'static str),
    /// `invalid_client` for any other reason: the app key or secret.
    #[error("{0}: Schwab refused the app (invalid_client): check app_key and app_secret")]
    InvalidClient(&'static str),
    /// The code exchange refused the redirect URI (`redirect_uri_mismatch`,
    /// or an error whose description names the redirect URI): the
    /// `callback_url` setting differs from the app's registered callback.
    #[error("{0}: Schwab refused the redirect URI: set callback_url to the app's registered callback URL exactly")]
    RedirectMismatch(&'static str),
    /// Another OAuth error on the code exchange (`invalid_grant`, …): the
    /// code expired (it lives ~30 s), was used, or the callback differs.
    #[error("{call}: Schwab refused the login code ({error}): codes live about 30 seconds and work once; log in again and paste the URL at once")]
    CodeRefused {
        /// The call.
        call: &'static str,
        /// The OAuth `error` code.
        error: String,
    },
    /// HTTP 401 `Client not authorized`: the bearer token is bad or expired
    /// (or the app lacks the API product).
    #[error("{0}: HTTP 401 Client not authorized (access token expired or invalid)")]
    ClientNotAuthorized(&'static str),
    /// The edge's intermittent "Access Denied" HTML page.
    #[error("{0}: Schwab's edge answered an \"Access Denied\" page (intermittent); retrying")]
    AccessDenied(&'static str),
    /// HTTP 429.
    #[error("{call}: rate limited by Schwab (HTTP 429)")]
    RateLimited {
        /// The call.
        call: &'static str,
        /// The wait Schwab asked for, if it said.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx.
    #[error("{call}: Schwab server error (HTTP {status})")]
    Server {
        /// The call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The wait Schwab asked for, if it said.
        retry_after: Option<Duration>,
    },
    /// Anything else.
    #[error("{call}: unexpected answer (HTTP {status}{})", error.as_deref().map(|e| format!(", {e}")).unwrap_or_default())]
    Unexpected {
        /// The call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code, if the body had one.
        error: Option<String>,
    },
}

impl From<SchwabError> for token_core::Error {
    fn from(e: SchwabError) -> Self {
        use token_core::Error as E;
        let message = e.to_string();
        match e {
            SchwabError::RefreshTokenAuthentication(_)
            | SchwabError::RefreshTokenInvalid(_)
            | SchwabError::CodeRefused { .. } => E::Rejected { reason: message },
            SchwabError::InvalidClient(_) => E::setting("app_key or app_secret", message),
            SchwabError::RedirectMismatch(_) => E::setting("callback_url", message),
            SchwabError::ClientNotAuthorized(_) => E::Inactive { reason: message },
            SchwabError::AccessDenied(_) => E::transient(message),
            SchwabError::RateLimited { retry_after, .. }
            | SchwabError::Server { retry_after, .. } => E::Transient {
                message,
                retry_after,
            },
            SchwabError::Unexpected { status: 404, .. } => {
                E::setting("base_url", format!("{message}: check base_url"))
            }
            SchwabError::Unexpected { status: 401, .. } => E::Rejected { reason: message },
            SchwabError::Unexpected { .. } => E::Protocol(message),
        }
    }
}

/// An OAuth error code made safe to repeat: letters, digits, `_`, short.
fn code_word(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(48)
        .collect()
}

/// Classifies a failed answer: `status` is not 2xx, or the body is not the
/// JSON expected. `retry_after` is the parsed `Retry-After`.
pub fn classify(
    call: Call,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> SchwabError {
    let name = call.name();
    let text = String::from_utf8_lossy(body);
    if status == 429 {
        return SchwabError::RateLimited {
            call: name,
            retry_after,
        };
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("<title>access denied</title>")
        || lower.contains("you don't have permission to access")
    {
        return SchwabError::AccessDenied(name);
    }
    if (500..=599).contains(&status) {
        return SchwabError::Server {
            call: name,
            status,
            retry_after,
        };
    }
    let v: Option<Value> = serde_json::from_slice(body).ok();
    let error = v
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map(code_word);
    let description = v
        .as_ref()
        .and_then(|v| v.get("error_description"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    match error.as_deref() {
        Some("unsupported_token_type") | Some("refresh_token_authentication_error")
            if call == Call::Refresh
                || description.contains("refresh_token_authentication_error") =>
        {
            return SchwabError::RefreshTokenAuthentication(name)
        }
        Some("invalid_client") if description.to_ascii_lowercase().contains("refresh token") => {
            return SchwabError::RefreshTokenInvalid(name)
        }
        Some("invalid_client") => return SchwabError::InvalidClient(name),
        Some(e)
            if call == Call::CodeExchange
                && (e == "redirect_uri_mismatch"
                    || description.to_ascii_lowercase().contains("redirect")) =>
        {
            return SchwabError::RedirectMismatch(name)
        }
        Some(e) if call == Call::CodeExchange && (400..500).contains(&status) => {
            return SchwabError::CodeRefused {
                call: name,
                error: e.to_string(),
            }
        }
        _ => {}
    }
    let not_authorized = v
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .is_some_and(|errs| {
            errs.iter().any(|e| {
                e.get("detail")
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.contains("Client not authorized"))
            })
        });
    if status == 401 && (not_authorized || call == Call::Probe) {
        return SchwabError::ClientNotAuthorized(name);
    }
    if call == Call::Refresh && matches!(status, 400 | 401) && error.is_some() {
        // An OAuth refusal of the refresh we cannot name: the refresh token
        // is not accepted; retrying cannot help.
        return SchwabError::RefreshTokenAuthentication(name);
    }
    SchwabError::Unexpected {
        call: name,
        status,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::ErrorKind;

    const NESTED: &str = r#"{"error":"unsupported_token_type","error_description":"400 Bad Request: \"{\"error_description\":\"Exception while authenticating refresh token [tokenDigest=S3cr3t-Zq9vKx-digest, Exception=Failed refresh token authentication [tokenDigest=S3cr3t-Zq9vKx-digest]]\",\"error\":\"refresh_token_authentication_error\"}\""}"#;

    fn kind(call: Call, status: u16, body: &str) -> ErrorKind {
        token_core::Error::from(classify(call, status, body.as_bytes(), None)).kind()
    }

    #[test]
    fn the_nested_refresh_refusal_means_log_in_and_hides_the_digest() {
        let e = classify(Call::Refresh, 400, NESTED.as_bytes(), None);
        assert_eq!(e, SchwabError::RefreshTokenAuthentication("refresh"));
        let core = token_core::Error::from(e);
        assert_eq!(core.kind(), ErrorKind::Rejected);
        assert!(core.to_string().contains("log in again"));
        assert!(!core.to_string().contains("S3cr3t"), "{core}");
    }

    #[test]
    fn invalid_client_is_a_login_for_the_refresh_token_and_config_otherwise() {
        let body = r#"{"error":"invalid_client","error_description":"refresh token invalid"}"#;
        for status in [400, 401] {
            assert_eq!(kind(Call::Refresh, status, body), ErrorKind::Rejected);
        }
        let body = r#"{"error":"invalid_client","error_description":"Unauthorized"}"#;
        assert_eq!(kind(Call::CodeExchange, 401, body), ErrorKind::Config);
    }

    #[test]
    fn a_refused_redirect_uri_names_callback_url_not_a_login() {
        let fix = |s: &str| token_core::Remedy::FixConfig { setting: s.into() };
        let remedy = |body: &str| {
            token_core::Error::from(classify(Call::CodeExchange, 400, body.as_bytes(), None))
                .remedy()
        };
        for body in [
            r#"{"error":"redirect_uri_mismatch"}"#,
            r#"{"error":"invalid_request","error_description":"Invalid redirect_uri"}"#,
        ] {
            assert_eq!(remedy(body), fix("callback_url"), "{body}");
        }
        assert_eq!(
            remedy(r#"{"error":"invalid_client","error_description":"Unauthorized"}"#),
            fix("app_key or app_secret")
        );
        assert_eq!(
            remedy(r#"{"error":"invalid_grant","error_description":"code expired"}"#),
            token_core::Remedy::LogIn
        );
    }

    #[test]
    fn bearer_refusal_access_denied_and_rate_limits() {
        let body = r#"{"errors":[{"id":"6b2f","status":401,"title":"Unauthorized","detail":"Client not authorized"}]}"#;
        assert_eq!(kind(Call::Probe, 401, body), ErrorKind::Inactive);
        let page = r#"<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY>You don't have permission to access "http://api.schwabapi.com/v1/oauth/token" on this server.</BODY></HTML>"#;
        assert_eq!(kind(Call::Refresh, 403, page), ErrorKind::Transient);
        let e = token_core::Error::from(classify(
            Call::Probe,
            429,
            b"",
            Some(Duration::from_secs(7)),
        ));
        assert!(matches!(
            e,
            token_core::Error::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert_eq!(kind(Call::Probe, 503, "oops"), ErrorKind::Transient);
        assert_eq!(kind(Call::Probe, 404, "{}"), ErrorKind::Config);
    }

    #[test]
    fn a_refused_code_says_the_code_lives_30_seconds() {
        let body = r#"{"error":"invalid_grant","error_description":"S3cr3t-Zq9vKx-code"}"#;
        let e = token_core::Error::from(classify(Call::CodeExchange, 400, body.as_bytes(), None));
        assert_eq!(e.kind(), ErrorKind::Rejected);
        assert!(e.to_string().contains("30 seconds"), "{e}");
        assert!(!e.to_string().contains("S3cr3t"), "{e}");
    }
}
