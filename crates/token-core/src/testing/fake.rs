use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::Error;
use crate::key::AccountKey;
use crate::provider::{AuthorizationRequest, Capabilities, Expects, TokenProvider};
use crate::record::{serde_secret, Metadata, Record, SecretFields};
use crate::sync::lock;

/// The fake provider's credentials.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FakeCreds {
    /// An opaque token, `tok-N`.
    #[serde(with = "serde_secret")]
    pub token: SecretString,
}

/// A provider that talks to no broker: it counts calls and returns scripted
/// results, so tests can assert "exactly one renewal".
///
/// By default renewals succeed and keep the same credentials (like an
/// E*TRADE renew); [`FakeProvider::remint_on_renew`] makes them issue new ones
/// (like a FYERS refresh).
#[derive(Debug)]
pub struct FakeProvider {
    clock: Arc<dyn Clock>,
    caps: Capabilities,
    remint: bool,
    delay: StdDuration,
    serial: AtomicU64,
    renewals: AtomicU64,
    probes: AtomicU64,
    authorizations: AtomicU64,
    renew_script: Mutex<VecDeque<Error>>,
    probe_script: Mutex<VecDeque<Error>>,
}

impl FakeProvider {
    /// A provider that supports everything and always succeeds.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            caps: Capabilities::ALL,
            remint: false,
            delay: StdDuration::ZERO,
            serial: AtomicU64::new(0),
            renewals: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            authorizations: AtomicU64::new(0),
            renew_script: Mutex::new(VecDeque::new()),
            probe_script: Mutex::new(VecDeque::new()),
        }
    }

    /// Renewals issue new credentials instead of reactivating the same ones.
    pub fn remint_on_renew(mut self) -> Self {
        self.remint = true;
        self
    }

    /// Each renewal and probe takes this long (real time; keep it to a few ms).
    pub fn with_delay(mut self, delay: StdDuration) -> Self {
        self.delay = delay;
        self
    }

    /// Advertise these capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// The next renewals fail with these errors, in order.
    pub fn fail_renewals(&self, errors: impl IntoIterator<Item = Error>) {
        lock(&self.renew_script).extend(errors);
    }

    /// The next probes fail with these errors, in order.
    pub fn fail_probes(&self, errors: impl IntoIterator<Item = Error>) {
        lock(&self.probe_script).extend(errors);
    }

    /// Upstream renew calls so far (failed ones included).
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::SeqCst)
    }

    /// Upstream probe calls so far.
    pub fn probes(&self) -> u64 {
        self.probes.load(Ordering::SeqCst)
    }

    /// Authorizations started so far.
    pub fn authorizations(&self) -> u64 {
        self.authorizations.load(Ordering::SeqCst)
    }

    /// Fresh credentials for `key`, issued now (as a completed login would).
    pub fn issue(&self, key: &AccountKey) -> Record<FakeCreds> {
        let n = self.serial.fetch_add(1, Ordering::SeqCst);
        Record::new(
            key.clone(),
            Metadata::issued(self.clock.now()),
            FakeCreds {
                token: SecretString::from(format!("tok-{n}")),
            },
        )
    }
}

#[async_trait]
impl TokenProvider<FakeCreds> for FakeProvider {
    fn broker(&self) -> &str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        let n = self.authorizations.fetch_add(1, Ordering::SeqCst);
        Ok(AuthorizationRequest {
            key: key.clone(),
            url: format!("https://fake.invalid/authorize?request={n}"),
            expects: Expects::Verifier,
            instructions: "enter any code".into(),
            expires_at: Some(self.clock.now() + chrono::Duration::minutes(5)),
            pending: SecretFields::new(),
        })
    }

    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        response: &SecretString,
    ) -> Result<Record<FakeCreds>, Error> {
        if response.expose_secret().is_empty() {
            return Err(Error::rejected("empty verifier"));
        }
        Ok(self.issue(&request.key))
    }

    async fn renew(&self, record: &Record<FakeCreds>) -> Result<Record<FakeCreds>, Error> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if let Some(e) = lock(&self.renew_script).pop_front() {
            return Err(e);
        }
        if self.remint {
            let mut fresh = self.issue(&record.key);
            fresh.meta.refresh_expires_at = record.meta.refresh_expires_at;
            Ok(fresh)
        } else {
            let mut same = record.clone();
            same.meta.renewed_at = Some(self.clock.now());
            Ok(same)
        }
    }

    async fn probe(&self, _record: &Record<FakeCreds>) -> Result<(), Error> {
        self.probes.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match lock(&self.probe_script).pop_front() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn revoke(&self, _record: &Record<FakeCreds>) -> Result<(), Error> {
        Ok(())
    }
}
