//! The E*TRADE OAuth endpoints and the authorize page (PROTOCOLS.md,
//! "E*TRADE" table): request token, authorize, access token, renew, revoke.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::state::{new_token, next_midnight_new_york, AccessToken, RequestToken, Use};
use super::verify::{signed, Raw, Signer};
use super::Ctx;
use crate::config::EtradeProblem;
use crate::faults::Endpoint;
use crate::oauth1;
use crate::{lock, SimError};

/// A form-encoded answer (`oauth_token=...&oauth_token_secret=...`).
fn form(pairs: &[(&str, &str)]) -> Response {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", oauth1::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    (
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

/// `GET /oauth/request_token` (pyetrade POSTs; both are accepted).
pub(crate) async fn request_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = Raw::new(method, uri, headers, body);
    let endpoint = Endpoint::EtradeRequestToken;
    let v = match signed(&sim, &conn, endpoint, &raw, Signer::ConsumerOnly).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.oauth.get("oauth_callback").map(String::as_str) {
        Some("oob") => {}
        Some(_) => {
            return sim.etrade_fail(EtradeProblem::ParameterRejected("oauth_callback".into()))
        }
        None => return sim.etrade_fail(EtradeProblem::ParameterAbsent("oauth_callback".into())),
    }
    let (token, secret) = (new_token(), new_token());
    lock(&sim.inner.etrade).request_tokens.insert(
        token.clone(),
        RequestToken {
            secret: secret.clone(),
            created: sim.now(),
            verifier: None,
        },
    );
    form(&[
        ("oauth_token", &token),
        ("oauth_token_secret", &secret),
        ("oauth_callback_confirmed", "true"),
    ])
}

/// The value of `name` in a raw query string, percent-decoded but with
/// `+` kept as `+`: pyetrade puts base64 request tokens in the authorize
/// URL without encoding them, and the real page reads them literally.
pub(super) fn raw_query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode_str(k).decode_utf8_lossy() == name)
            .then(|| percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// `GET /e/t/etws/authorize?key=...&token=...`: the page a person sees after
/// logging in, showing the verifier to copy; with a callback registered on
/// the key, a redirect to it carrying `oauth_verifier` instead.
pub(crate) async fn authorize((State(sim), ConnectInfo(conn)): Ctx, uri: Uri) -> Response {
    if let Some(r) = sim.before(Endpoint::EtradeAuthorize, &conn).await {
        return r;
    }
    let config = sim.config();
    let page_error = |msg: &str| {
        (
            StatusCode::BAD_REQUEST,
            Html(format!(
                "<html><head><title>E*TRADE</title></head><body><h1>Authorization failed</h1><p>{msg}</p></body></html>"
            )),
        )
            .into_response()
    };
    let query = uri.query().unwrap_or("");
    if raw_query_value(query, "key").as_deref() != Some(config.etrade_consumer_key.as_str()) {
        return page_error("The consumer key is not valid.");
    }
    let Some(token) = raw_query_value(query, "token") else {
        return page_error("The request token is missing.");
    };
    match sim.approve_etrade(&token) {
        Ok(verifier) if config.etrade_registered_callback.is_some() => {
            let callback = config.etrade_registered_callback.unwrap_or_default();
            let sep = if callback.contains('?') { '&' } else { '?' };
            let location = format!(
                "{callback}{sep}oauth_token={}&oauth_verifier={}",
                oauth1::encode(&token),
                oauth1::encode(&verifier)
            );
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
        Ok(verifier) => Html(format!(
            "<html><head><title>E*TRADE - Authorize</title></head><body>\
             <p>Please copy the code below and paste it into the application.</p>\
             <input type=\"text\" id=\"verifier\" readonly value=\"{verifier}\"/>\
             <div class=\"verifier\">{verifier}</div></body></html>"
        ))
        .into_response(),
        Err(SimError::RequestTokenExpired) => page_error("The request token has expired."),
        Err(_) => page_error("The request token is not valid."),
    }
}

/// `GET /oauth/access_token`.
pub(crate) async fn access_token(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = Raw::new(method, uri, headers, body);
    let endpoint = Endpoint::EtradeAccessToken;
    let v = match signed(&sim, &conn, endpoint, &raw, Signer::RequestToken).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(verifier) = v.oauth.get("oauth_verifier") else {
        return sim.etrade_fail(EtradeProblem::ParameterAbsent("oauth_verifier".into()));
    };
    let config = sim.config();
    let now = sim.now();
    let token = v.token.unwrap_or_default();
    let mut state = lock(&sim.inner.etrade);
    let Some(rt) = state.request_tokens.get(&token) else {
        return sim.etrade_fail(EtradeProblem::TokenRejected);
    };
    if now - rt.created >= config.etrade_request_token_ttl {
        state.request_tokens.remove(&token);
        drop(state);
        return sim.etrade_fail(EtradeProblem::TokenExpired);
    }
    if rt.verifier.as_deref() != Some(verifier.as_str()) {
        drop(state);
        return sim.etrade_fail(EtradeProblem::TokenRejected);
    }
    // Single use: the request token and its verifier die here.
    state.request_tokens.remove(&token);
    let (access, secret) = (new_token(), new_token());
    state.access_tokens.insert(
        access.clone(),
        AccessToken {
            secret: secret.clone(),
            last_used: now,
            expires: next_midnight_new_york(now),
            revoked: false,
        },
    );
    drop(state);
    form(&[("oauth_token", &access), ("oauth_token_secret", &secret)])
}

/// `GET /oauth/renew_access_token`.
pub(crate) async fn renew(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = Raw::new(method, uri, headers, body);
    let endpoint = Endpoint::EtradeRenew;
    let v = match signed(&sim, &conn, endpoint, &raw, Signer::AccessToken).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let config = sim.config();
    match sim.use_access_token(v.token.as_deref().unwrap_or(""), &config, true) {
        Use::Ok => renewed_body(),
        Use::Fail(p) => sim.etrade_fail(p),
    }
}

/// The plain-text 200 a successful renew answers with.
pub(crate) fn renewed_body() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain")],
        "Access Token has been renewed",
    )
        .into_response()
}

/// `GET /oauth/revoke_access_token`.
pub(crate) async fn revoke(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = Raw::new(method, uri, headers, body);
    let endpoint = Endpoint::EtradeRevoke;
    let v = match signed(&sim, &conn, endpoint, &raw, Signer::AccessToken).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let token = v.token.unwrap_or_default();
    let mut state = lock(&sim.inner.etrade);
    match state.access_tokens.get_mut(&token) {
        Some(at) if !at.revoked => {
            at.revoked = true;
            let secret = at.secret.clone();
            drop(state);
            form(&[("oauth_token", &token), ("oauth_token_secret", &secret)])
        }
        _ => {
            drop(state);
            sim.etrade_fail(EtradeProblem::TokenRejected)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_query_values_keep_plus_and_decode_percent_escapes() {
        let q = "key=K&token=ab+c/d%2Be==";
        assert_eq!(raw_query_value(q, "token").as_deref(), Some("ab+c/d+e=="));
        assert_eq!(raw_query_value(q, "key").as_deref(), Some("K"));
        assert_eq!(raw_query_value(q, "nope"), None);
        assert_eq!(raw_query_value("token", "token").as_deref(), Some(""));
    }
}
