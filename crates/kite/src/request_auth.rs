//! The local signing proxy's Kite part: `Authorization: token
//! api_key:access_token` and `X-Kite-Version: 3`. Kite offers no silent
//! renewal, so no answer is "inactive": a dead token needs a login.

use secrecy::SecretString;
use token_core::bundle::{ApiRequest, AuthHeader, RequestAuth};
use token_core::Error;
use url::Url;

use crate::{KiteCreds, KiteProvider};

/// Adds Kite's headers to proxied requests.
#[derive(Debug, Clone)]
pub struct KiteRequestAuth {
    api_key: String,
    base: Url,
}

impl KiteRequestAuth {
    /// For accounts of `provider` (fails only on a base URL that does not
    /// parse, which a built provider never has).
    pub fn new(provider: &KiteProvider) -> Result<Self, Error> {
        Ok(Self {
            api_key: provider.api_key().to_owned(),
            base: provider.config().base()?,
        })
    }
}

impl RequestAuth<KiteCreds> for KiteRequestAuth {
    fn api_base(&self) -> &Url {
        &self.base
    }

    fn authorize(&self, payload: &KiteCreds, _: &ApiRequest<'_>) -> Result<Vec<AuthHeader>, Error> {
        Ok(vec![
            AuthHeader {
                name: "Authorization",
                value: payload.authorization(&self.api_key),
            },
            AuthHeader {
                name: crate::KITE_VERSION_HEADER,
                value: SecretString::from("3"),
            },
        ])
    }
}
