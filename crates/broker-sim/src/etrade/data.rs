//! The signed E*TRADE v1 data endpoints that count as use:
//! `/v1/accounts/list` and `/v1/market/quote/{symbols}`, in XML by default
//! and JSON on request (see [`super::xml`]).

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chrono_tz::America::New_York;
use serde_json::{json, Value};

use super::state::Use;
use super::verify::{signed, Raw, Signer};
use super::xml::Format;
use super::Ctx;
use crate::config::EtradeProblem;
use crate::faults::Endpoint;
use crate::responses::{etrade_error, etrade_legacy_invalid_token, etrade_rate_limited};
use crate::server::Conn;
use crate::BrokerSim;

/// Shared path of the signed data endpoints: signature, rate limit, token
/// state, then `doc` in the format the request asked for (or, when `doc`
/// fails, an HTTP 400 with its message).
async fn api_call(
    sim: &BrokerSim,
    conn: &Conn,
    endpoint: Endpoint,
    raw: Raw,
    doc: impl FnOnce(&BrokerSim) -> Result<Value, &'static str>,
) -> Response {
    let v = match signed(sim, conn, endpoint, &raw, Signer::AccessToken).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let config = sim.config();
    if !sim.within_rate_limit(&config.etrade_consumer_key) {
        return etrade_rate_limited();
    }
    match sim.use_access_token(v.token.as_deref().unwrap_or(""), &config, false) {
        Use::Ok => match doc(sim) {
            Ok(doc) => Format::of(raw.uri.path(), &raw.headers).render(&doc),
            Err(message) => {
                etrade_error(config.etrade_error_style, StatusCode::BAD_REQUEST, message)
            }
        },
        Use::Fail(p) if config.etrade_legacy_token_errors && is_dead_token(&p) => {
            etrade_legacy_invalid_token(config.etrade_error_style)
        }
        Use::Fail(p) => sim.etrade_fail(p),
    }
}

/// Problems the legacy `Invalid access token used` answer stands for.
fn is_dead_token(p: &EtradeProblem) -> bool {
    matches!(
        p,
        EtradeProblem::TokenExpired | EtradeProblem::TokenRejected
    )
}

/// `GET /v1/accounts/list` and `/v1/accounts/list.json`.
pub(crate) async fn accounts_list(
    (State(sim), ConnectInfo(conn)): Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = Raw::new(method, uri, headers, body);
    api_call(&sim, &conn, Endpoint::EtradeAccountsList, raw, |_| {
        Ok(json!({
            "AccountListResponse": {"Accounts": {"Account": [{
                "accountId": "84010429",
                "accountIdKey": "JIdOIAcSpwR1Jva7RQBraQ",
                "accountMode": "MARGIN",
                "accountDesc": "Brokerage",
                "accountName": "Simulated",
                "accountType": "INDIVIDUAL",
                "institutionType": "BROKERAGE",
                "accountStatus": "ACTIVE",
                "closedDate": 0
            }]}}
        }))
    })
    .await
}

/// `GET /v1/market/quote/{symbols}` (comma-separated, optional `.json`).
pub(crate) async fn quote(
    (State(sim), ConnectInfo(conn)): Ctx,
    Path(symbols): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw = Raw::new(method, uri, headers, body);
    let symbols = symbols.strip_suffix(".json").unwrap_or(&symbols).to_owned();
    api_call(&sim, &conn, Endpoint::EtradeQuote, raw, move |sim| {
        let list: Vec<&str> = symbols.split(',').filter(|s| !s.is_empty()).collect();
        if list.is_empty() || list.len() > 25 {
            return Err("Invalid symbol list");
        }
        let now = sim.now();
        let data: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let last = 100.0 + 7.25 * i as f64;
                json!({
                    "dateTime": now.with_timezone(&New_York).format("%H:%M:%S %Z %m-%d-%Y").to_string(),
                    "dateTimeUTC": now.timestamp(),
                    "quoteStatus": "REALTIME",
                    "ahFlag": "false",
                    "All": {"lastTrade": last, "bid": last - 0.01, "ask": last + 0.01, "totalVolume": 1_000_000},
                    "Product": {"symbol": s.to_ascii_uppercase(), "securityType": "EQ"}
                })
            })
            .collect();
        Ok(json!({"QuoteResponse": {"QuoteData": data}}))
    })
    .await
}
