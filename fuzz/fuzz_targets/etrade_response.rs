//! E*TRADE answers: the `oauth_problem` and rate-limit parsers take any
//! text, and an `ApiResponse` with any status and body yields its problem or
//! a typed JSON error, never a panic.
#![no_main]

use etrade::{is_rate_limit_body, parse_oauth_problem, ApiResponse};
use libfuzzer_sys::fuzz_target;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_oauth_problem(&text);
    let _ = is_rate_limit_body(&text);
    let (status, body) = match data.split_first() {
        Some((s, rest)) => (
            [200u16, 400, 401, 403, 429, 500, 503][*s as usize % 7],
            rest.to_vec(),
        ),
        None => (401, Vec::new()),
    };
    let response = ApiResponse {
        status: StatusCode::from_u16(status).expect("valid status"),
        headers: HeaderMap::new(),
        body,
    };
    let _ = response.oauth_problem();
    let _ = response.json::<serde_json::Value>();
    let _ = response.text();
});
