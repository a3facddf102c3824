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
