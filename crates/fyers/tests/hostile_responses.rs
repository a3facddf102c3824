//! The FYERS response parsing meets arbitrary answers: any status, any
//! content type, any body (random bytes, near-valid JSON, truncated JWTs).
//! Every call returns a typed outcome, never panics, and no error message
//! carries a secret the adapter sent (secret key, PIN, tokens).
//!
//! The answers come from a tiny loopback server that replies with whatever
//! the case says, so the real HTTP and parsing code runs end to end.
//! `PROPTEST_CASES=<n>` runs longer campaigns (the fuzz target
//! `fyers_response` in `fuzz/` does the same under libFuzzer).

use std::sync::Arc;
use std::time::Duration as StdDuration;

use broker_sim::canned::{CannedAnswer as Answer, CannedServer};
use chrono::{TimeZone, Utc};
use fyers::{FyersConfig, FyersCreds, FyersProvider};
use proptest::prelude::*;
use secrecy::SecretString;
use token_core::{
    AccountKey, AuthorizationRequest, Environment, ErrorKind, Expects, ManualClock, Metadata,
    Record, SecretFields, TokenProvider,
};

const SECRET_KEY: &str = "SECRETKEY-never-shown-7731";
const PIN: &str = "4321";
const ACCESS: &str = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3ODAwMDAwMDB9.ACCESS-never-shown";
const REFRESH: &str = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3ODAwMDAwMDB9.REFRESH-never-shown";

fn cases(n: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n)
}

async fn hostile_server() -> CannedServer {
    CannedServer::start().await.expect("loopback server")
}

fn provider(base: &str) -> FyersProvider {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 4, 30, 0).unwrap());
    let config = FyersConfig::new(
        token_core::Environment::Production,
        "ABCD1234-100",
        SecretString::from(SECRET_KEY),
        SecretString::from(PIN),
        "http://127.0.0.1:9/callback",
    )
    .with_base_url(&format!("{base}/api/v3"))
    .unwrap()
    .with_request_timeout(StdDuration::from_secs(5));
    FyersProvider::new(config, Arc::new(clock)).unwrap()
}

fn record() -> Record<FyersCreds> {
    Record::new(
        AccountKey::new("fyers", Environment::Production, "main").unwrap(),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap()),
        FyersCreds {
            access_token: SecretString::from(ACCESS),
            refresh_token: Some(SecretString::from(REFRESH)),
        },
    )
}

fn assert_no_secret(text: &str) {
    for secret in [
        SECRET_KEY,
        PIN,
        "ACCESS-never-shown",
        "REFRESH-never-shown",
        "AUTHCODE-never-shown",
    ] {
        assert!(
            !text.contains(secret),
            "an error message carries a secret: {text}"
        );
    }
}

/// Bodies worth trying: random bytes, random text, and near-valid FYERS
/// answers with odd values in the fields the parser reads.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("null".to_string()),
        Just("\"ok\"".to_string()),
        Just("\"error\"".to_string()),
        Just("200".to_string()),
        Just("-16".to_string()),
        Just("-429".to_string()),
        Just("1e400".to_string()),
        Just("-99999999999999999999".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("\"a.b.c\"".to_string()),
        Just("\"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOiJzb29uIn0.x\"".to_string()),
        Just("\"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTk5OTk5fQ.x\"".to_string()),
        Just("\"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3ODAwMDAwMDB9.x\"".to_string()),
        "\\PC{0,16}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
    ];
    let field = prop_oneof![
        Just("s"),
        Just("code"),
        Just("message"),
        Just("access_token"),
        Just("refresh_token"),
        Just("data"),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "\\PC{0,100}".prop_map(String::into_bytes),
        proptest::collection::vec((field, value), 0..6).prop_map(|fields| {
            let body: Vec<String> = fields
                .into_iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", body.join(",")).into_bytes()
        }),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(400),
        Just(401),
        Just(403),
        Just(404),
        Just(429),
        Just(500),
        Just(503),
        100u16..600
    ]
    .prop_filter("1xx and 204/304 have no body", |s| {
        *s >= 200 && *s != 204 && *s != 304
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    #[test]
    fn any_answer_to_any_call_is_a_typed_outcome_without_secrets(
        status in status(),
        html in any::<bool>(),
        body in body(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let server = hostile_server().await;
            server.set(Answer::new(
                status,
                if html { "text/html" } else { "application/json" },
                body,
            ));
            let p = provider(server.base_url());
            let r = record();
            let mut pending = SecretFields::new();
            pending.insert("state", SecretString::from("st".to_string()));
            let request = AuthorizationRequest {
                key: r.key.clone(),
                url: format!("{}/api/v3/generate-authcode", server.base_url()),
                expects: Expects::RedirectUrl,
                instructions: String::new(),
                expires_at: None,
                pending,
            };
            let redirect = SecretString::from(
                "http://127.0.0.1:9/callback?s=ok&code=200&auth_code=AUTHCODE-never-shown&state=st"
                    .to_string(),
            );
            // Revoking a token the broker calls dead succeeds (nothing left
            // to revoke), so only its errors are checked.
            if let Err(e) = p.revoke(&r).await {
                assert_no_secret(&e.to_string());
                assert_no_secret(&format!("{e:?}"));
            }
            let outcomes = [
                p.renew(&r).await.map(|_| ()),
                p.probe(&r).await,
                p.complete_authorization(&request, &redirect).await.map(|_| ()),
            ];
            for outcome in outcomes {
                if let Err(e) = outcome {
                    assert_no_secret(&e.to_string());
                    assert_no_secret(&format!("{e:?}"));
                    // Anything but a 2xx must not be mistaken for success of
                    // a kind the manager would act on wrongly.
                    prop_assert!(e.kind() != ErrorKind::Unavailable, "{e}");
                } else {
                    prop_assert!((200..300).contains(&status), "success from status {status}");
                }
            }
            Ok(())
        })?;
    }
}

fn claim() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1780000000".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("1.5".to_string()),
        Just("9223372036854775807".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775808".to_string()),
        Just("null".to_string()),
        Just("\"1780000000\"".to_string()),
        Just("[]".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(512)))]

    /// JWT payloads with odd `exp` claims: an expiry or a typed error.
    #[test]
    fn jwt_exp_claims_of_any_shape_are_read_or_refused(exp in claim(), extra in "\\PC{0,10}") {
        use base64::Engine as _;
        let payload = format!("{{\"exp\":{exp},\"x\":{}}}", serde_json::to_string(&extra).unwrap());
        let token = format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.sig",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
        );
        match fyers::jwt::token_expiry(&token) {
            Ok(fyers::jwt::TokenExpiry::At(t)) => {
                prop_assert_eq!(Some(t.timestamp()), exp.parse::<i64>().ok());
            }
            Ok(fyers::jwt::TokenExpiry::NoExp) => prop_assert_eq!(exp.as_str(), "null"),
            Ok(other) => prop_assert!(false, "a JWT with exp read as {:?}", other),
            Err(e) => prop_assert!(!e.to_string().contains("sig")),
        }
    }

    /// Whatever a person pastes as the redirect URL: a typed answer that never
    /// repeats the auth code in an error.
    #[test]
    fn any_pasted_redirect_is_parsed_or_refused_without_echoing_it(
        prefix in prop_oneof![Just(""), Just("http://127.0.0.1:9/callback?"), Just("?"), Just("x://")],
        pairs in proptest::collection::vec(
            (prop_oneof![Just("s"), Just("code"), Just("auth_code"), Just("state"), Just("message"), Just("")],
             "[a-zA-Z0-9%&=?#. -]{0,12}"),
            0..6,
        ),
    ) {
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let input = format!("{prefix}{}&auth_code=AUTHCODE-never-shown", query.join("&"));
        if let Err(e) = fyers::redirect::parse_redirect(&input) {
            assert_no_secret(&e.to_string());
            assert_no_secret(&format!("{e:?}"));
        }
    }
}
