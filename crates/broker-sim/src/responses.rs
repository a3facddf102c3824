//! Response bodies in each broker's own shapes, and fault rendering.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde_json::json;

use crate::config::{EtradeErrorStyle, EtradeProblem, FyersAnswer};
use crate::etrade::{renewed_body, xml_escape};
use crate::faults::{Endpoint, Fault, Rejection};

/// An E*TRADE error with `message`, in the configured style.
pub(crate) fn etrade_error(style: EtradeErrorStyle, status: StatusCode, message: &str) -> Response {
    match style {
        EtradeErrorStyle::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"Error": {"message": message}}).to_string(),
        )
            .into_response(),
        EtradeErrorStyle::Html => {
            let code = status.as_u16();
            let body = format!(
                "<html><head><title>Apache Tomcat/7.0.42 - Error report</title></head><body>\
                 <h1>HTTP Status {code} - {message}</h1><HR size=\"1\" noshade=\"noshade\">\
                 <p><b>type</b> Status report</p><p><b>message</b> <u>{message}</u></p>\
                 <p><b>description</b> <u>This request requires HTTP authentication.</u></p>\
                 <HR size=\"1\" noshade=\"noshade\"><h3>Apache Tomcat/7.0.42</h3></body></html>"
            );
            (
                status,
                [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
                body,
            )
                .into_response()
        }
        EtradeErrorStyle::Xml => (
            status,
            [(header::CONTENT_TYPE, "application/xml")],
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
                 <Error><code>{}</code><message>{}</message></Error>",
                status.as_u16(),
                xml_escape(message)
            ),
        )
            .into_response(),
    }
}

/// The legacy HTTP 401 `Invalid access token used`, with no
/// `oauth_problem` (PROTOCOLS.md, "More error shapes").
pub(crate) fn etrade_legacy_invalid_token(style: EtradeErrorStyle) -> Response {
    etrade_error(style, StatusCode::UNAUTHORIZED, "Invalid access token used")
}

/// HTTP 401 `oauth_problem=...`.
pub(crate) fn etrade_problem(style: EtradeErrorStyle, problem: &EtradeProblem) -> Response {
    etrade_error(
        style,
        StatusCode::UNAUTHORIZED,
        &format!("oauth_problem={problem}"),
    )
}

/// E*TRADE's rate limit answer: HTTP 400 with an HTML page.
pub(crate) fn etrade_rate_limited() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
        "<html><head><title>Error</title></head><body><h1>HTTP Status 400</h1>\
         <p>Number of requests exceeded the rate limit set</p></body></html>",
    )
        .into_response()
}

/// FYERS `{"s":"error","code":CODE,"message":MESSAGE}`.
pub(crate) fn fyers_error(status: StatusCode, code: i32, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"s": "error", "code": code, "message": message}).to_string(),
    )
        .into_response()
}

/// A configured FYERS answer (an out-of-range status becomes 400).
pub(crate) fn fyers_answer(a: &FyersAnswer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_REQUEST);
    fyers_error(status, a.code, &a.message)
}

/// FYERS 429 with `Retry-After` (seconds) and `X-Retry-After-Ms`.
pub(crate) fn fyers_rate_limited(retry_after_secs: u64) -> Response {
    let mut r = fyers_error(StatusCode::TOO_MANY_REQUESTS, -429, "request limit reached");
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r.headers_mut().insert(
        "x-retry-after-ms",
        HeaderValue::from(retry_after_secs.saturating_mul(1000)),
    );
    r
}

/// FYERS 403 "permission error": the app lacks a permission for the call
/// (a configuration problem, not a login one). Code -373 is the error
/// sheet's "please provide valid permission".
pub(crate) fn fyers_permission_error() -> Response {
    fyers_error(
        StatusCode::FORBIDDEN,
        -373,
        "please provide valid permission",
    )
}

/// The message FYERS pairs with a code.
pub(crate) fn fyers_message(code: i32) -> &'static str {
    match code {
        -16 => "Could not authenticate the user",
        -15 => "Invalid token",
        -8 => "Your token has expired. Please generate a token",
        -437 => "Invalid auth code",
        -371 => "Invalid appIdHash",
        -374 => "Please provide valid auth code",
        -441 => "Invalid grant type",
        -501 => "Invalid refresh token",
        -17 => "Token is invalid or expired",
        -429 => "request limit reached",
        _ => "Something went wrong",
    }
}

fn json_ok(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What a fault turns a request into.
pub(crate) enum FaultOutcome {
    /// Answer with this instead of the real handler.
    Respond(Response),
    /// Wait, then run the real handler.
    Delay(std::time::Duration),
    /// Cut the connection.
    Drop,
}

/// Renders `fault` for `endpoint`.
pub(crate) fn render_fault(
    endpoint: Endpoint,
    fault: Fault,
    style: EtradeErrorStyle,
) -> FaultOutcome {
    if endpoint.is_kite() {
        if let Some(outcome) = crate::kite::render_fault(&fault) {
            return outcome;
        }
    }
    let fyers = endpoint.is_fyers();
    let expects_json = fyers
        || endpoint.is_kite()
        || matches!(
            endpoint,
            Endpoint::EtradeAccountsList | Endpoint::EtradeQuote
        );
    let r = match fault {
        Fault::Delay(d) => return FaultOutcome::Delay(d),
        Fault::DropConnection => return FaultOutcome::Drop,
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("Error");
            if fyers {
                fyers_error(status, i32::from(code), reason)
            } else {
                etrade_error(style, status, reason)
            }
        }
        Fault::MalformedBody => {
            if expects_json {
                json_ok(r#"{"s":"ok","code":200,"message":"","data":{"#.to_owned())
            } else {
                (
                    [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
                    "oauth_token_secret=%ZZ%&&=oauth_callback_confirmed",
                )
                    .into_response()
            }
        }
        Fault::TruncatedBody => {
            let full: &'static [u8] = if expects_json {
                br#"{"s":"ok","code":200,"message":"","access_token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}"#
            } else {
                b"oauth_token=c2ltLXRydW5jYXRlZA%3D%3D&oauth_token_secret=c2ltLXRydW5jYXRlZA%3D%3D"
            };
            let half = Bytes::from_static(&full[..full.len() / 2]);
            // Let the head and the first half reach the client before the
            // body fails, so the cut lands mid-body rather than before it.
            let head = futures::stream::iter([Ok::<Bytes, std::io::Error>(half)]);
            let cut = futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(std::io::Error::other("truncated by broker-sim fault"))
            });
            let mut r = Response::new(Body::from_stream(head.chain(cut)));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(if expects_json {
                    "application/json"
                } else {
                    "application/x-www-form-urlencoded"
                }),
            );
            r
        }
        Fault::HtmlInsteadOfJson => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Service Unavailable</title></head>\
             <body><h1>We'll be back soon</h1><p>Scheduled maintenance in progress.</p></body></html>",
        )
            .into_response(),
        Fault::RateLimited { retry_after_secs } => {
            if fyers {
                fyers_rate_limited(retry_after_secs)
            } else {
                etrade_rate_limited()
            }
        }
        Fault::Unauthorized(Rejection::Etrade(p)) => etrade_problem(style, &p),
        Fault::EtradeLegacyInvalidToken => etrade_legacy_invalid_token(style),
        Fault::RenewWithoutEffect => renewed_body(),
        Fault::FyersPermissionError => fyers_permission_error(),
        Fault::FyersAnswer(a) => fyers_answer(&a),
        Fault::Unauthorized(Rejection::Fyers(code)) => {
            fyers_error(StatusCode::UNAUTHORIZED, code, fyers_message(code))
        }
    };
    FaultOutcome::Respond(r)
}
