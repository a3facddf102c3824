//! [`SchwabCreds`]: the stored payload and the `Authorization: Bearer` helper.

use chrono::{DateTime, Utc};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use token_core::{serde_secret, Error};

/// Schwab credentials as stored. `Debug` redacts both tokens; the
/// `id_token` Schwab also returns is not kept.
///
/// `logged_in_at` is the ORIGINAL login (the code exchange): refreshes keep
/// it, because the refresh token dies 7 days after it whatever happens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SchwabCreds {
    /// The bearer access token (30 minutes).
    #[serde(with = "serde_secret")]
    pub access_token: SecretString,
    /// The refresh token (7 days from `logged_in_at`, never extended).
    #[serde(with = "serde_secret")]
    pub refresh_token: SecretString,
    /// When a person logged in (the code exchange), kept through refreshes.
    pub logged_in_at: DateTime<Utc>,
}

impl SchwabCreds {
    /// The `Authorization` header value: `Bearer <access_token>`.
    ///
    /// ```
    /// use secrecy::{ExposeSecret, SecretString};
    /// let creds = schwab::SchwabCreds {
    ///     access_token: SecretString::from("I0.tok@"),
    ///     refresh_token: SecretString::from("rt@"),
    ///     logged_in_at: chrono::Utc::now(),
    /// };
    /// assert_eq!(creds.authorization().expose_secret(), "Bearer I0.tok@");
    /// assert!(!format!("{creds:?}").contains("I0.tok@"));
    /// ```
    pub fn authorization(&self) -> SecretString {
        bearer(&self.access_token)
    }

    /// The same as a header value marked sensitive (hidden from HTTP logs).
    pub fn authorization_header(&self) -> Result<HeaderValue, Error> {
        bearer_header(&self.access_token)
    }
}

/// `Bearer <token>`.
pub(crate) fn bearer(token: &SecretString) -> SecretString {
    SecretString::from(format!("Bearer {}", token.expose_secret()))
}

/// `Bearer <token>` as a sensitive header value.
pub(crate) fn bearer_header(token: &SecretString) -> Result<HeaderValue, Error> {
    let mut v = HeaderValue::from_str(bearer(token).expose_secret())
        .map_err(|_| Error::Protocol("access token is not a valid header value".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_no_id_token() {
        let json = r#"{"access_token":"I0.S3cr3t-Zq9vKx-a@","refresh_token":"S3cr3t-Zq9vKx-r@","logged_in_at":"2026-03-02T14:00:00Z","id_token":"eyJ.x.y"}"#;
        let c: SchwabCreds = serde_json::from_str(json).unwrap();
        let back = serde_json::to_string(&c).unwrap();
        assert!(back.contains("S3cr3t-Zq9vKx-r@"));
        assert!(!back.contains("id_token"), "{back}");
        assert!(c.authorization_header().unwrap().is_sensitive());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("S3cr3t-Zq9vKx"), "{dbg}");
    }
}
