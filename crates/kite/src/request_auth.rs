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

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::Arc;
    use token_core::{Environment, SystemClock};

    #[test]
    fn adds_the_token_header_and_the_api_version_on_the_api_base() {
        let config = crate::KiteConfig::new(
            Environment::Production,
            "kiteapikey1",
            SecretString::from("S3cr3t-Qw7Zp-kite-api-secret"),
            "https://127.0.0.1/cb",
        );
        let provider = KiteProvider::new(config, Arc::new(SystemClock)).unwrap();
        let auth = KiteRequestAuth::new(&provider).unwrap();
        assert_eq!(auth.api_base().as_str(), "https://api.kite.trade/");
        let creds = KiteCreds {
            access_token: SecretString::from("Tk-Qw7Zp-kite-access"),
            user_id: "AB1234".into(),
            public_token: None,
            login_time: None,
        };
        let url = auth.api_base().join("user/profile").unwrap();
        let req = ApiRequest {
            method: "GET",
            url: &url,
            content_type: None,
            body: b"",
        };
        let headers = auth.authorize(&creds, &req).unwrap();
        let found: Vec<(&str, &str)> = headers
            .iter()
            .map(|h| (h.name, h.value.expose_secret()))
            .collect();
        assert_eq!(
            found,
            vec![
                ("Authorization", "token kiteapikey1:Tk-Qw7Zp-kite-access"),
                ("X-Kite-Version", "3")
            ]
        );
        assert!(!format!("{headers:?}").contains("Tk-Qw7Zp"));
    }
}
