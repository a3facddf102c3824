//! Bearer-token check in constant time.

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

impl BearerToken {
    /// From the configured secret.
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
}
