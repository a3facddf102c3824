//! The local signing proxy's E*TRADE part: OAuth 1.0a over the method,
//! URL, query and form body with the account's [`Signer`](crate::Signer),
//! and which answers mean "inactive, renew".

use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::SecretString;
use token_core::bundle::{ApiRequest, AuthHeader, RequestAuth};
use token_core::{Error, Record};
use url::Url;

use crate::payload::EtradeCredentials;
use crate::provider::EtradeProvider;
use crate::transport::ApiResponse;

/// Signs proxied requests with the provider's signer (its consumer key and
/// clock correction) and reads 401s the way [`crate::EtradeClient`] does.
#[derive(Debug, Clone)]
pub struct EtradeRequestAuth {
    provider: Arc<EtradeProvider>,
}

impl EtradeRequestAuth {
    /// For accounts of `provider`.
    pub fn new(provider: Arc<EtradeProvider>) -> Self {
        Self { provider }
    }
}

impl RequestAuth<EtradeCredentials> for EtradeRequestAuth {
    fn api_base(&self) -> &Url {
        self.provider.config().api_base_url()
    }

    fn authorize(
        &self,
        payload: &EtradeCredentials,
        request: &ApiRequest<'_>,
    ) -> Result<Vec<AuthHeader>, Error> {
        let header = self.provider.signer().sign(
            request.method,
            request.url,
            request.form_body(),
            payload,
        )?;
        Ok(vec![AuthHeader {
            name: "Authorization",
            value: SecretString::from(header),
        }])
    }

    fn inactive(
        &self,
        record: &Record<EtradeCredentials>,
        status: u16,
        body: &[u8],
    ) -> Option<String> {
        if status != StatusCode::UNAUTHORIZED.as_u16() {
            return None;
        }
        let reply = ApiResponse {
            status: StatusCode::UNAUTHORIZED,
            headers: HeaderMap::new(),
            body: body.to_vec(),
        };
        match self.provider.use_failure(&reply, record.meta.issued_at) {
            Error::Inactive { reason } => Some(reason),
            _ => None,
        }
    }
}
