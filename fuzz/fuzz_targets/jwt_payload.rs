//! FYERS JWT claims: any token string, and any payload bytes wrapped as a
//! JWT, give an expiry or a typed error, never a panic. Redirect URLs too.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fyers::jwt::token_expiry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = token_expiry(text);
        let _ = fyers::redirect::parse_redirect(text);
    }
    // The payload segment as the fuzzer chose it (usually JSON-ish bytes).
    let token = format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", URL_SAFE_NO_PAD.encode(data));
    match token_expiry(&token) {
        Ok(_) | Err(_) => {}
    }
});
