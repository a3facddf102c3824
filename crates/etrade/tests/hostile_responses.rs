//! The E*TRADE response and error parsing meets arbitrary answers: any
//! status, any content type, any body (random bytes, near-valid form data,
//! JSON and HTML `oauth_problem` pages with odd parameters). Every call returns
//! a typed outcome, never panics, never succeeds on a non-2xx answer, and no
//! error message carries a secret the adapter holds (consumer secret, token
//! secret, tokens, verifier).
//!
//! The answers come from a tiny loopback server that replies with whatever
//! the case says, so the real HTTP, signing and parsing code runs end to end.
//! Cases come from a seeded generator (no extra dependency);
//! `HOSTILE_CASES=<n>` runs longer campaigns, and the fuzz target
//! `etrade_response` in `fuzz/` covers the parsers under libFuzzer.

mod common;

use broker_sim::canned::{CannedAnswer as Answer, CannedServer};
use common::{offline_provider, offline_record};
use etrade::{is_rate_limit_body, parse_oauth_problem, EtradeCredentials, EtradeProvider};
use secrecy::SecretString;
use token_core::{AuthorizationRequest, Expects, Record, SecretFields, TokenProvider};

const CONSUMER_SECRET: &str = "CONSUMERSECRET-never-shown";
const TOKEN: &str = "TOKEN-never-shown";
const TOKEN_SECRET: &str = "TOKENSECRET-never-shown";
const VERIFIER: &str = "VERIF";

fn cases() -> usize {
    std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

/// xorshift64*: a deterministic case generator.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const PROBLEMS: &[&str] = &[
    "token_expired",
    "token_rejected",
    "signature_invalid",
    "consumer_key_rejected",
    "consumer_key_unknown",
    "timestamp_refused",
    "timestamp_refused,oauth_acceptable_timestamps=1-2",
    "timestamp_refused,oauth_acceptable_timestamps=99999999999999999999-1",
    "timestamp_refused,oauth_acceptable_timestamps=-5--3",
    "timestamp_refused,oauth_acceptable_timestamps=",
    "nonce_used",
    "parameter_absent",
    "",
    "\u{0}",
    "token_expired&oauth_problem=token_rejected",
];

/// One hostile body.
fn body(g: &mut Gen) -> Vec<u8> {
    let problem = g.pick(PROBLEMS);
    let junk = String::from_utf8_lossy(&g.bytes(24)).into_owned();
    match g.below(9) {
        0 => g.bytes(300),
        1 => format!("{{\"Error\":{{\"message\":\"oauth_problem={problem}\"}}}}").into_bytes(),
        2 => format!("<html><body>HTTP Status 401 - oauth_problem={problem}</body></html>")
            .into_bytes(),
        3 => format!("oauth_problem={problem}&{junk}").into_bytes(),
        4 => format!(
            "oauth_token={}&oauth_token_secret={}&oauth_callback_confirmed={}",
            g.pick(&["", "abc", "%E0%A4%A", "%zz", "a%2Bb%3D"]),
            g.pick(&["", "s", "%", "%FF%FE"]),
            g.pick(&["true", "false", ""]),
        )
        .into_bytes(),
        5 => g
            .pick(&[
                "oauth_token",
                "oauth_token=",
                "&&&",
                "=",
                "oauth_token_secret=x",
            ])
            .as_bytes()
            .to_vec(),
        6 => b"<html>Number of requests exceeded the rate limit set</html>".to_vec(),
        7 => format!("Access Token has been renewed{junk}").into_bytes(),
        _ => junk.into_bytes(),
    }
}

fn status(g: &mut Gen) -> u16 {
    let common = [200u16, 200, 400, 401, 401, 403, 404, 429, 500, 503];
    if g.below(5) == 0 {
        loop {
            let s = 200 + g.below(400) as u16;
            if s != 204 && s != 304 {
                return s;
            }
        }
    }
    common[g.below(common.len())]
}

async fn hostile_server() -> CannedServer {
    CannedServer::start().await.expect("loopback server")
}

fn provider(base: &str) -> EtradeProvider {
    offline_provider(base, CONSUMER_SECRET)
}

fn record() -> Record<EtradeCredentials> {
    offline_record(TOKEN, TOKEN_SECRET)
}

fn assert_no_secret(text: &str) {
    for secret in [
        CONSUMER_SECRET,
        TOKEN,
        TOKEN_SECRET,
        "REQSECRET-never-shown",
    ] {
        assert!(
            !text.contains(secret),
            "an error message carries a secret: {text}"
        );
    }
}

#[tokio::test]
async fn any_answer_to_any_call_is_a_typed_outcome_without_secrets() {
    let server = hostile_server().await;
    let p = provider(server.base_url());
    let r = record();
    let mut pending = SecretFields::new();
    pending.insert("request_token", SecretString::from("REQTOKEN".to_string()));
    pending.insert(
        "request_token_secret",
        SecretString::from("REQSECRET-never-shown".to_string()),
    );
    let request = AuthorizationRequest {
        key: r.key.clone(),
        url: format!("{}/e/t/etws/authorize", server.base_url()),
        expects: Expects::Verifier,
        instructions: String::new(),
        expires_at: None,
        pending,
    };
    let mut g = Gen(0x9E37_79B9_7F4A_7C15);
    let mut successes = 0;
    for case in 0..cases() {
        let answer = Answer::new(
            status(&mut g),
            if g.below(2) == 0 {
                "text/html"
            } else {
                "application/json"
            },
            body(&mut g),
        );
        server.set(answer.clone());
        // Revoking a token the broker calls dead succeeds (nothing left to
        // revoke), so only its errors are checked.
        if let Err(e) = p.revoke(&r).await {
            assert_no_secret(&e.to_string());
            assert_no_secret(&format!("{e:?}"));
        }
        let outcomes = [
            p.renew(&r).await.map(|_| ()),
            p.probe(&r).await,
            p.start_authorization(&r.key).await.map(|_| ()),
            p.complete_authorization(&request, &SecretString::from(VERIFIER))
                .await
                .map(|_| ()),
        ];
        for (call, outcome) in ["renew", "probe", "request token", "access token"]
            .iter()
            .zip(outcomes)
        {
            match outcome {
                Ok(()) => {
                    successes += 1;
                    assert!(
                        (200..300).contains(&answer.status),
                        "case {case}: {call} succeeded on {answer:?}"
                    );
                }
                Err(e) => {
                    assert_no_secret(&e.to_string());
                    assert_no_secret(&format!("{e:?}"));
                }
            }
        }
    }
    // The generator also produced well-formed answers the adapter accepts.
    assert!(
        successes > 0,
        "no case was accepted: the generator is too hostile"
    );
}

#[test]
fn problem_and_rate_limit_parsers_take_any_text() {
    let mut g = Gen(42);
    for _ in 0..20_000 {
        let text = match g.below(3) {
            0 => String::from_utf8_lossy(&g.bytes(80)).into_owned(),
            1 => format!(
                "oauth_problem={}{}",
                g.pick(PROBLEMS),
                String::from_utf8_lossy(&g.bytes(8))
            ),
            _ => {
                let b = body(&mut g);
                String::from_utf8_lossy(&b).into_owned()
            }
        };
        let _ = parse_oauth_problem(&text);
        let _ = is_rate_limit_body(&text);
    }
    // And what they find in real shapes is right.
    for problem in ["token_expired", "token_rejected"] {
        let json = format!("{{\"Error\":{{\"message\":\"oauth_problem={problem}\"}}}}");
        let html = format!("<html>HTTP Status 401 - oauth_problem={problem}</html>");
        assert_eq!(parse_oauth_problem(&json), parse_oauth_problem(&html));
        assert!(parse_oauth_problem(&json).is_some(), "{json}");
    }
}
