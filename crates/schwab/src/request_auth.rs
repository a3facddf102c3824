//! The local signing proxy's Schwab part: `Authorization: Bearer
//! access_token`; a 401 means the 30-minute access token is no longer
//! accepted, which a refresh may fix.

use token_core::bundle::{ApiRequest, AuthHeader, RequestAuth};
use token_core::{Error, Record};
use url::Url;

use crate::{SchwabCreds, SchwabProvider};

/// Adds the bearer token to proxied Schwab requests.
#[derive(Debug, Clone)]
pub struct SchwabRequestAuth {
    base: Url,
}

impl SchwabRequestAuth {
    /// For accounts of `provider` (fails only on a base URL that does not
    /// parse, which a built provider never has).
    pub fn new(provider: &SchwabProvider) -> Result<Self, Error> {
        Ok(Self {
            base: provider.config().base()?,
        })
    }
}

impl RequestAuth<SchwabCreds> for SchwabRequestAuth {
    fn api_base(&self) -> &Url {
        &self.base
    }

    fn authorize(
        &self,
        payload: &SchwabCreds,
        _: &ApiRequest<'_>,
    ) -> Result<Vec<AuthHeader>, Error> {
        Ok(vec![AuthHeader {
            name: "Authorization",
            value: payload.authorization(),
        }])
    }

    fn inactive(&self, _: &Record<SchwabCreds>, status: u16, _: &[u8]) -> Option<String> {
        (status == 401).then(|| "HTTP 401: the access token was not accepted".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};
    use std::sync::Arc;
    use token_core::{Environment, SystemClock};

    #[test]
    fn adds_the_bearer_token_and_reads_401_as_inactive() {
        let config = crate::SchwabConfig::new(
            Environment::Production,
            "schwab-app-key",
            SecretString::from("S3cr3t-Qw7Zp-schwab-app-secret"),
            "https://127.0.0.1/cb",
        );
        let provider = SchwabProvider::new(config, Arc::new(SystemClock)).unwrap();
        let auth = SchwabRequestAuth::new(&provider).unwrap();
        let creds = SchwabCreds {
            access_token: SecretString::from("I0.Tk-Qw7Zp-schwab"),
            refresh_token: SecretString::from("rt-Qw7Zp"),
            logged_in_at: chrono::Utc::now(),
        };
        let url = auth
            .api_base()
            .join("trader/v1/accounts/accountNumbers")
            .unwrap();
        let req = ApiRequest {
            method: "GET",
            url: &url,
            content_type: None,
            body: b"",
        };
        let headers = auth.authorize(&creds, &req).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].name, "Authorization");
        assert_eq!(
            headers[0].value.expose_secret(),
            "Bearer I0.Tk-Qw7Zp-schwab"
        );
        let record = token_core::Record::new(
            token_core::AccountKey::new("schwab", Environment::Production, "main").unwrap(),
            token_core::Metadata::issued(chrono::Utc::now()),
            creds,
        );
        assert!(auth.inactive(&record, 401, b"{}").is_some());
        assert!(auth.inactive(&record, 400, b"{}").is_none());
    }
}
