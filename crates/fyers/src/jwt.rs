//! Reading `exp` from FYERS tokens.
//!
//! FYERS access and refresh tokens are HS256 JWTs signed with a key only
//! FYERS knows, so a client cannot verify them; it can only read the claims
//! to learn when the token ends. Nothing here trusts a token, it only
//! schedules around it.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Utc};

/// Why a token's claims could not be read. Never carries token content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// It has the dotted JWT shape but not three segments.
    #[error("token has {0} dot-separated segments; a JWT has 3")]
    Segments(usize),
    /// The payload segment is not base64url.
    #[error("token payload is not base64url")]
    Base64,
    /// The payload is not a JSON object.
    #[error("token payload is not a JSON object")]
    Json,
    /// `exp` is present but not a whole number of seconds in range.
    #[error("token exp claim is not a valid timestamp")]
    Exp,
}

/// What reading a token's expiry found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenExpiry {
    /// A JWT with this `exp`.
    At(DateTime<Utc>),
    /// A JWT without an `exp` claim.
    NoExp,
    /// Not a JWT at all (an opaque token): use the fallback rules.
    Opaque,
}

/// Reads the `exp` claim of `token` without verifying its signature.
///
/// A token without any `.` is opaque ([`TokenExpiry::Opaque`]); a token that
/// looks like a JWT but cannot be read is a [`JwtError`], never a panic.
///
/// ```
/// use fyers::jwt::{token_expiry, TokenExpiry};
/// // {"alg":"HS256"} . {"exp":1780000000} . sig
/// let t = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3ODAwMDAwMDB9.c2ln";
/// assert!(matches!(token_expiry(t), Ok(TokenExpiry::At(_))));
/// assert_eq!(token_expiry("opaque-token"), Ok(TokenExpiry::Opaque));
/// assert!(token_expiry("a.b").is_err());
/// ```
pub fn token_expiry(token: &str) -> Result<TokenExpiry, JwtError> {
    let token = token.trim();
    if !token.contains('.') {
        return Ok(TokenExpiry::Opaque);
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError::Segments(parts.len()));
    }
    let payload = parts[1];
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .or_else(|_| URL_SAFE.decode(payload))
        .map_err(|_| JwtError::Base64)?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Json)?;
    let obj = claims.as_object().ok_or(JwtError::Json)?;
    match obj.get("exp") {
        None | Some(serde_json::Value::Null) => Ok(TokenExpiry::NoExp),
        Some(exp) => {
            let secs = exp
                .as_i64()
                .or_else(|| {
                    exp.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                        .map(|f| f as i64)
                })
                .ok_or(JwtError::Exp)?;
            DateTime::<Utc>::from_timestamp(secs, 0)
                .map(TokenExpiry::At)
                .ok_or(JwtError::Exp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn reads_exp_of_a_fyers_style_access_token() {
        let t =
            jwt(r#"{"sub":"access_token","iat":1772768400,"exp":1772843400,"fy_id":"XS00001"}"#);
        let want = DateTime::<Utc>::from_timestamp(1_772_843_400, 0).unwrap();
        assert_eq!(token_expiry(&t), Ok(TokenExpiry::At(want)));
    }

    #[test]
    fn a_token_without_dots_is_opaque_and_a_jwt_without_exp_says_so() {
        assert_eq!(token_expiry("abcdef0123"), Ok(TokenExpiry::Opaque));
        assert_eq!(token_expiry(&jwt(r#"{"sub":"x"}"#)), Ok(TokenExpiry::NoExp));
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        assert_eq!(token_expiry("a.b"), Err(JwtError::Segments(2)));
        assert_eq!(token_expiry("a.b.c.d"), Err(JwtError::Segments(4)));
        assert_eq!(token_expiry("h.!!!.s"), Err(JwtError::Base64));
        assert_eq!(
            token_expiry(&format!("h.{}.s", URL_SAFE_NO_PAD.encode("not json"))),
            Err(JwtError::Json)
        );
        assert_eq!(token_expiry(&jwt("[1,2]")), Err(JwtError::Json));
        assert_eq!(
            token_expiry(&jwt(r#"{"exp":"tomorrow"}"#)),
            Err(JwtError::Exp)
        );
        assert_eq!(token_expiry(&jwt(r#"{"exp":1e300}"#)), Err(JwtError::Exp));
        assert_eq!(
            token_expiry(&jwt(r#"{"exp":9223372036854775807}"#)),
            Err(JwtError::Exp)
        );
    }

    #[test]
    fn errors_never_echo_the_token() {
        let secret = "h.c2VjcmV0LXBheWxvYWQ.s";
        let e = token_expiry(secret).unwrap_err();
        assert!(!e.to_string().contains("c2VjcmV0"));
        assert!(!format!("{e:?}").contains("c2VjcmV0"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(s in ".{0,200}") {
            let _ = token_expiry(&s);
        }

        #[test]
        fn never_panics_on_arbitrary_payloads(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let t = format!("h.{}.s", URL_SAFE_NO_PAD.encode(&bytes));
            let _ = token_expiry(&t);
        }
    }
}
