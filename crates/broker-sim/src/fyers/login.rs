//! `GET /api/v3/generate-authcode`: the login URL a person opens. The
//! simulated person logs in at once, so it redirects straight to the app's
//! registered `redirect_uri` with `auth_code` and `state`.

use std::collections::HashMap;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Ctx;
use crate::faults::Endpoint;
use crate::responses::fyers_error;

/// `{redirect_uri}?s=ok&code=200&auth_code=...&state=...`.
pub(crate) fn redirect_url(redirect_uri: &str, auth_code: &str, state: &str) -> String {
    with_query(
        redirect_uri,
        &[
            ("s", "ok"),
            ("code", "200"),
            ("auth_code", auth_code),
            ("state", state),
        ],
    )
}

fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            u.query_pairs_mut().extend_pairs(pairs);
            u.to_string()
        }
        Err(_) => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            format!("{base}?{q}")
        }
    }
}

fn found(url: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, url.to_owned())]).into_response()
}

/// `GET /api/v3/generate-authcode`.
pub(crate) async fn generate_authcode(
    (State(sim), ConnectInfo(conn)): Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = sim.before(Endpoint::FyersGenerateAuthcode, &conn).await {
        return r;
    }
    let config = sim.config();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("redirect_uri") != config.fyers_redirect_uri {
        // Never redirect to an unregistered URI.
        return fyers_error(StatusCode::BAD_REQUEST, -352, "Invalid redirect_uri");
    }
    let state = get("state");
    let error = |message: &str| {
        let url = with_query(
            &config.fyers_redirect_uri,
            &[
                ("s", "error"),
                ("code", "-352"),
                ("message", message),
                ("state", state),
            ],
        );
        found(&url)
    };
    if get("client_id") != config.fyers_client_id {
        return error("Invalid app id");
    }
    if get("response_type") != "code" {
        return error("Invalid response_type");
    }
    match sim.approve_fyers(get("client_id"), get("redirect_uri"), state) {
        Ok(url) => found(&url),
        Err(_) => error("Invalid request"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_url_keeps_existing_query_and_encodes() {
        assert_eq!(
            redirect_url("https://app.example/cb?x=1", "a.b.c", "s t"),
            "https://app.example/cb?x=1&s=ok&code=200&auth_code=a.b.c&state=s+t"
        );
    }
}
