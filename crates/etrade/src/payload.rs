//! The E*TRADE credentials a store holds for one account.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// An E*TRADE access token pair. Both halves are secret; `Debug` redacts them.
///
/// ```
/// use etrade::EtradeCredentials;
/// let c = EtradeCredentials::new("tok-123".to_string().into(), "xyz-789".to_string().into());
/// let shown = format!("{c:?}");
/// assert!(!shown.contains("tok-123") && !shown.contains("xyz-789"));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EtradeCredentials {
    /// `oauth_token`.
    #[serde(with = "token_core::serde_secret")]
    pub oauth_token: SecretString,
    /// `oauth_token_secret`.
    #[serde(with = "token_core::serde_secret")]
    pub oauth_token_secret: SecretString,
}

impl EtradeCredentials {
    /// A token pair.
    pub fn new(oauth_token: SecretString, oauth_token_secret: SecretString) -> Self {
        Self {
            oauth_token,
            oauth_token_secret,
        }
    }
}
