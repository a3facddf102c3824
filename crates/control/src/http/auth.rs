//! Bearer-token check in constant time, and the refusal of weak tokens.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token clients must present as `Authorization: Bearer <token>`.
///
/// Only the SHA-256 digest is kept; comparing digests of equal length with
/// `subtle` reveals neither the token's content nor its length through timing.
///
/// ```
/// use control::BearerToken;
/// let t = BearerToken::new(&"s3cret".to_string().into());
/// assert!(t.verify_header("Bearer s3cret"));
/// assert!(!t.verify_header("Bearer s3cre"));
/// assert!(!t.verify_header("Basic s3cret"));
/// ```
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken([REDACTED])")
    }
}

/// Shortest control token accepted.
pub const MIN_TOKEN_CHARS: usize = 32;

/// Least estimated entropy accepted, in bits (a random 32-character hex
/// token estimates at about 110).
const MIN_ENTROPY_BITS: f64 = 80.0;

/// Why a control token was refused. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakTokenError {
    /// Fewer than [`MIN_TOKEN_CHARS`] characters.
    #[error("is {chars} characters long; at least {MIN_TOKEN_CHARS} random ones are needed (make one with `openssl rand -hex 32`)")]
    TooShort {
        /// Its length in characters.
        chars: usize,
    },
    /// Long enough but guessable: few distinct characters or a repeated
    /// pattern.
    #[error("is too predictable (few distinct characters or a repeating pattern); use a random one (make one with `openssl rand -hex 32`)")]
    LowEntropy,
}

impl BearerToken {
    /// From the configured secret, refusing one that could be guessed:
    /// shorter than [`MIN_TOKEN_CHARS`] characters, made of a repeating
    /// pattern, or with an estimated entropy under 80 bits.
    ///
    /// ```
    /// use control::{BearerToken, WeakTokenError};
    /// let weak = |t: &str| BearerToken::configured(&t.to_string().into()).unwrap_err();
    /// assert_eq!(weak("s3cret"), WeakTokenError::TooShort { chars: 6 });
    /// assert_eq!(weak(&"ab".repeat(20)), WeakTokenError::LowEntropy);
    /// assert!(BearerToken::configured(&"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string().into()).is_ok());
    /// ```
    pub fn configured(token: &SecretString) -> Result<Self, WeakTokenError> {
        check_strength(token.expose_secret().trim())?;
        Ok(Self::new(token))
    }

    /// From the configured secret, as it is (see [`BearerToken::configured`]).
    pub fn new(token: &SecretString) -> Self {
        Self {
            digest: Sha256::digest(token.expose_secret().as_bytes()).into(),
        }
    }

    /// Whether `candidate` is the token (constant time).
    pub fn verify(&self, candidate: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        bool::from(self.digest.ct_eq(&d))
    }

    /// Whether an `Authorization` header value carries the token.
    pub fn verify_header(&self, value: &str) -> bool {
        let mut parts = value.splitn(2, ' ');
        match (parts.next(), parts.next()) {
            (Some(scheme), Some(token)) if scheme.eq_ignore_ascii_case("bearer") => {
                self.verify(token.trim())
            }
            _ => false,
        }
    }
}

/// Length, repetition and a Shannon estimate over the characters used.
fn check_strength(t: &str) -> Result<(), WeakTokenError> {
    let chars: Vec<char> = t.chars().collect();
    let n = chars.len();
    if n < MIN_TOKEN_CHARS {
        return Err(WeakTokenError::TooShort { chars: n });
    }
    let repeats = (1..=n / 2).any(|p| chars.iter().skip(p).zip(&chars).all(|(a, b)| a == b));
    let mut counts = std::collections::HashMap::<char, usize>::new();
    for c in &chars {
        *counts.entry(*c).or_default() += 1;
    }
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    if repeats || per_char * (n as f64) < MIN_ENTROPY_BITS {
        return Err(WeakTokenError::LowEntropy);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let t = BearerToken::new(&"topsecret".to_string().into());
        assert_eq!(format!("{t:?}"), "BearerToken([REDACTED])");
        assert!(t.verify("topsecret"));
        assert!(!t.verify(""));
        assert!(t.verify_header("bearer topsecret"));
        assert!(!t.verify_header("Bearer"));
    }

    #[test]
    fn weak_tokens_are_refused_and_random_ones_accepted() {
        let strength = |t: &str| check_strength(t);
        assert_eq!(
            strength("control-test-token-Zq81"),
            Err(WeakTokenError::TooShort { chars: 23 })
        );
        for weak in [
            "a".repeat(64),
            "0123456789abcdef0123456789abcdef".to_string(),
            "passwordpasswordpasswordpassword".to_string(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab".to_string(),
        ] {
            assert_eq!(strength(&weak), Err(WeakTokenError::LowEntropy), "{weak}");
        }
        // Real `openssl rand -hex 16` / `-hex 32` / `-base64 32` outputs.
        for ok in [
            "3f9c1e27b04d8a6f5e2c7b19d0a4f863",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "q3VnZ8tR1xLw0pYb5sKd7hJm2cFa9eUo4iNg6Tz+QyA=",
        ] {
            assert_eq!(strength(ok), Ok(()), "{ok}");
        }
        let msg = WeakTokenError::TooShort { chars: 4 }.to_string();
        assert!(msg.contains("openssl rand -hex 32"), "{msg}");
    }
}
