//! The local signing proxy's FYERS part: `Authorization:
//! client_id:access_token`, and which answers mean "inactive, refresh".

use std::sync::Arc;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use token_core::bundle::{ApiRequest, AuthHeader, RequestAuth};
use token_core::{Clock, Error, Record};
use url::Url;

use crate::api::{classify, Call};
use crate::provider::{FyersCreds, FyersProvider};

/// Adds FYERS's header to proxied requests; reads FYERS error codes as
/// the provider does (-17, -16, -15, -8: inactive, a refresh may help).
#[derive(Debug, Clone)]
pub struct FyersRequestAuth {
    client_id: String,
    base: Url,
    clock: Arc<dyn Clock>,
}

impl FyersRequestAuth {
    /// For accounts of `provider`; fails when its base URL does not parse
    /// (a provider built from checked settings always has one that does).
    pub fn new(provider: &FyersProvider) -> Result<Self, Error> {
        Ok(Self {
            client_id: provider.client_id().to_owned(),
            base: provider.config().base()?,
            clock: provider.clock().clone(),
        })
    }
}

impl RequestAuth<FyersCreds> for FyersRequestAuth {
    fn api_base(&self) -> &Url {
        &self.base
    }

    fn authorize(
        &self,
        payload: &FyersCreds,
        _request: &ApiRequest<'_>,
    ) -> Result<Vec<AuthHeader>, Error> {
        Ok(vec![AuthHeader {
            name: "Authorization",
            value: payload.authorization(&self.client_id),
        }])
    }

    fn inactive(&self, record: &Record<FyersCreds>, status: u16, body: &[u8]) -> Option<String> {
        let status = StatusCode::from_u16(status).ok()?;
        let sent = [&record.payload.access_token];
        match classify(
            Call::Profile,
            status,
            &HeaderMap::new(),
            body,
            &sent,
            self.clock.now(),
        ) {
            Err(f) => match f.error {
                Error::Inactive { reason } => Some(reason),
                _ => None,
            },
            Ok(_) => None,
        }
    }
}
