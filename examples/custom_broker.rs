//! Adding a broker: a made-up "Acme" broker whose access tokens last 8 hours
//! and are re-minted from a 30-day refresh token. Three extension points:
//!
//! 1. the **payload**: what the store keeps (secrets as `SecretString`,
//!    serialized with `serde_secret`, redacted in `Debug`);
//! 2. the **provider**: `TokenProvider` (authorize, renew, probe, revoke);
//!    classify errors by kind (`Transient` is retried, `Rejected` pages a person);
//! 3. the **policy**: `ExpiryPolicy::limits` (here: "dead at 16:00 New
//!    York", composed with the record's own expiry).
//!
//! ```sh
//! cargo run --example custom_broker
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, NaiveTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use token_core::policy::{DailyCutoff, EarliestOf, ExpiryPolicy, ExplicitExpiry, Limits};
use token_core::{
    serde_secret, AccountKey, AuthorizationRequest, Capabilities, Clock, Environment, Error,
    Expects, ManualClock, Metadata, Record, SecretFields, TokenManager, TokenProvider,
};

/// Extension point 1, the payload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AcmeCreds {
    #[serde(with = "serde_secret")]
    pub access_token: SecretString,
    #[serde(with = "serde_secret")]
    pub refresh_token: SecretString,
}

/// Extension point 2, the provider. A real one holds an HTTP client and a
/// base URL; this one mints tokens itself and counts calls.
#[derive(Debug)]
pub struct AcmeProvider {
    clock: Arc<dyn Clock>,
    minted: AtomicU64,
}

impl AcmeProvider {
    fn mint(&self, key: &AccountKey, refresh: Option<SecretString>) -> Record<AcmeCreds> {
        let n = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.clock.now();
        let mut meta = Metadata::issued(now);
        meta.expires_at = Some(now + Duration::hours(8)); // what the broker said
        meta.refresh_expires_at = Some(now + Duration::days(30));
        let refresh = refresh.unwrap_or_else(|| SecretString::from(format!("acme-refresh-{n}")));
        let payload = AcmeCreds {
            access_token: SecretString::from(format!("acme-access-{n}")),
            refresh_token: refresh,
        };
        Record::new(key.clone(), meta, payload)
    }
}

#[async_trait]
impl TokenProvider<AcmeCreds> for AcmeProvider {
    fn broker(&self) -> &str {
        "acme"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            authorize: true,
            renew: true,
            probe: false,
            revoke: false,
        }
    }
    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        Ok(AuthorizationRequest {
            key: key.clone(),
            url: "https://acme.invalid/oauth/authorize?client_id=demo".into(),
            expects: Expects::Verifier,
            instructions: "Log in to Acme and paste the code shown".into(),
            expires_at: Some(self.clock.now() + Duration::minutes(10)),
            pending: SecretFields::new(),
        })
    }
    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        code: &SecretString,
    ) -> Result<Record<AcmeCreds>, Error> {
        if code.expose_secret() != "ACME-OK" {
            return Err(Error::rejected("invalid code")); // a person must try again
        }
        Ok(self.mint(&request.key, None))
    }
    async fn renew(&self, record: &Record<AcmeCreds>) -> Result<Record<AcmeCreds>, Error> {
        // POST /oauth/token grant_type=refresh_token; map 5xx/timeouts to
        // Error::transient(..), an invalid refresh token to Error::rejected(..).
        let mut renewed = self.mint(&record.key, Some(record.payload.refresh_token.clone()));
        renewed.meta.refresh_expires_at = record.meta.refresh_expires_at;
        Ok(renewed)
    }
}

/// Extension point 3, a policy piece of your own: Acme kills every token at
/// 16:00 New York.
#[derive(Debug)]
pub struct AcmeCloseOfDay;

impl ExpiryPolicy for AcmeCloseOfDay {
    fn limits(&self, meta: &Metadata) -> Limits {
        let close = NaiveTime::from_hms_opt(16, 0, 0).unwrap_or(NaiveTime::MIN);
        DailyCutoff::new(close, chrono_tz::America::New_York).limits(meta)
    }
}

pub async fn run() -> Result<u64, Box<dyn std::error::Error>> {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap()); // 09:00 NY
    let provider = Arc::new(AcmeProvider {
        clock: Arc::new(clock.clone()),
        minted: AtomicU64::new(0),
    });
    let manager = TokenManager::builder(
        AccountKey::new("acme", Environment::Production, "main")?,
        provider.clone(),
    )
    .policy(Arc::new(
        EarliestOf::new().with(ExplicitExpiry).with(AcmeCloseOfDay),
    ))
    .clock(Arc::new(clock.clone()))
    .build(); // a memory store and ManagerConfig::default() unless told otherwise
    let request = manager.begin_authorization().await?;
    println!("{}: {}", request.instructions, request.url);
    manager
        .complete_authorization(&SecretString::from("ACME-OK"))
        .await?;

    // Two days of maintenance: each token dies after 8 h or at 16:00 New York,
    // whichever comes first, and is re-minted from the refresh token with no
    // person involved (09:00 login, then 16:00, 00:00, 08:00, ...).
    let end = clock.now() + Duration::days(2);
    while let Some(next) = manager.maintain().await.filter(|t| *t <= end) {
        clock.set(next);
    }
    let minted = provider.minted.load(Ordering::Relaxed);
    println!(
        "tokens minted: {minted} (1 login + renewals); status {:?}",
        manager.health().status
    );
    Ok(minted)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await.map(|_| ())
}
