//! The OAuth 1.0a checks every signed E*TRADE request goes through
//! (RFC 5849 section 3.4, PROTOCOLS.md "Signature"): required parameters,
//! method, version, consumer key, timestamp window, the signature itself,
//! then the single-use nonce.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::Response;

use crate::config::{EtradeProblem, TimestampClock};
use crate::faults::Endpoint;
use crate::oauth1;
use crate::responses::etrade_problem;
use crate::server::Conn;
use crate::{lock, BrokerSim};

/// Which token, if any, a request must be signed with.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Signer {
    ConsumerOnly,
    RequestToken,
    AccessToken,
}

/// A request that passed signature, timestamp and nonce checks.
pub(super) struct Verified {
    pub(super) token: Option<String>,
    pub(super) oauth: HashMap<String, String>,
}

/// The parts of a request the signature covers.
pub(super) struct Raw {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Raw {
    pub(super) fn new(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            method,
            uri,
            headers,
            body,
        }
    }
}

impl BrokerSim {
    pub(super) fn etrade_fail(&self, problem: EtradeProblem) -> Response {
        etrade_problem(self.config().etrade_error_style, &problem)
    }

    /// RFC 5849 checks, in the order a server can make them.
    fn verify(&self, raw: &Raw, signer: Signer) -> Result<Verified, EtradeProblem> {
        let config = self.config();
        let header = raw
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let header_params = oauth1::parse_authorization(header).map_err(|_| {
            EtradeProblem::ParameterAbsent(
                "oauth_consumer_key,oauth_signature,oauth_signature_method,oauth_nonce,oauth_timestamp"
                    .into(),
            )
        })?;
        let mut params: Vec<(String, String)> = header_params
            .into_iter()
            .filter(|(k, _)| k != "realm")
            .collect();
        params.extend(oauth1::parse_form(raw.uri.query().unwrap_or("")));
        let is_form = raw
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            params.extend(oauth1::parse_form(&String::from_utf8_lossy(&raw.body)));
        }
        let oauth: HashMap<String, String> = params
            .iter()
            .filter(|(k, _)| k.starts_with("oauth_"))
            .cloned()
            .collect();
        let mut required = vec![
            "oauth_consumer_key",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_nonce",
            "oauth_timestamp",
        ];
        if signer != Signer::ConsumerOnly {
            required.push("oauth_token");
        }
        let absent: Vec<&str> = required
            .into_iter()
            .filter(|k| !oauth.contains_key(*k))
            .collect();
        if !absent.is_empty() {
            return Err(EtradeProblem::ParameterAbsent(absent.join(",")));
        }
        let get = |k: &str| oauth.get(k).map(String::as_str).unwrap_or("");
        if get("oauth_signature_method") != "HMAC-SHA1" {
            return Err(EtradeProblem::SignatureMethodRejected);
        }
        if oauth.get("oauth_version").is_some_and(|v| v != "1.0") {
            return Err(EtradeProblem::VersionRejected);
        }
        if get("oauth_consumer_key") != config.etrade_consumer_key {
            return Err(EtradeProblem::ConsumerKeyRejected);
        }
        // Timestamps may be checked on the real clock while tokens age on
        // the simulated one, so clients without skew correction still work
        // after the control API moved time (README, "through a midnight").
        let now = match config.etrade_timestamp_clock {
            TimestampClock::Simulated => self.now(),
            TimestampClock::Real => self.inner.clock.base_now(),
        }
        .timestamp();
        let window = config.etrade_timestamp_window.num_seconds();
        let ts: i64 = get("oauth_timestamp")
            .parse()
            .map_err(|_| EtradeProblem::ParameterRejected("oauth_timestamp".into()))?;
        if (ts - now).abs() > window {
            return Err(EtradeProblem::TimestampRefused {
                from: now - window,
                to: now + window,
            });
        }
        let token = oauth.get("oauth_token").cloned();
        let token_secret = {
            let state = lock(&self.inner.etrade);
            match (signer, token.as_deref()) {
                (Signer::ConsumerOnly, _) => String::new(),
                (Signer::RequestToken, Some(t)) => state
                    .request_tokens
                    .get(t)
                    .map(|r| r.secret.clone())
                    .ok_or(EtradeProblem::TokenRejected)?,
                (Signer::AccessToken, Some(t)) => state
                    .access_tokens
                    .get(t)
                    .map(|a| a.secret.clone())
                    .ok_or(EtradeProblem::TokenRejected)?,
                (_, None) => return Err(EtradeProblem::TokenRejected),
            }
        };
        let base_uri = request_base_uri(raw);
        let signed: Vec<(String, String)> = params
            .into_iter()
            .filter(|(k, _)| k != "oauth_signature")
            .collect();
        let base = oauth1::base_string(raw.method.as_str(), &base_uri, &signed);
        if !oauth1::verify_hmac_sha1(
            &base,
            &config.etrade_consumer_secret,
            &token_secret,
            get("oauth_signature"),
        ) {
            return Err(EtradeProblem::SignatureInvalid);
        }
        {
            let mut state = lock(&self.inner.etrade);
            state
                .nonces
                .retain(|_, seen| (now - *seen).abs() <= 2 * window);
            let key = (
                config.etrade_consumer_key.clone(),
                get("oauth_nonce").to_owned(),
            );
            if state.nonces.contains_key(&key) {
                return Err(EtradeProblem::NonceUsed);
            }
            state.nonces.insert(key, ts);
        }
        Ok(Verified { token, oauth })
    }
}

/// `http://{Host}{path}` as the client must have signed it.
fn request_base_uri(raw: &Raw) -> String {
    let host = raw
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| raw.uri.authority().map(|a| a.as_str()))
        .unwrap_or("127.0.0.1");
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(port) => (h, Some(port)),
            Err(_) => (host, None),
        },
        None => (host, None),
    };
    oauth1::base_uri("http", host, port, raw.uri.path())
}

/// The start of every signed endpoint: counters and injected faults, then
/// the OAuth 1.0a signature check (the broker's error shape on failure).
pub(super) async fn signed(
    sim: &BrokerSim,
    conn: &Conn,
    endpoint: Endpoint,
    raw: &Raw,
    signer: Signer,
) -> Result<Verified, Response> {
    if let Some(r) = sim.before(endpoint, conn).await {
        return Err(r);
    }
    sim.verify(raw, signer).map_err(|p| sim.etrade_fail(p))
}
