//! The type-erased account: one process can hold accounts of different
//! brokers (payload types) in one list: a daemon, a control server, a CLI.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{MaintenanceHandle, TokenManager};
use crate::error::Error;
use crate::events::Event;
use crate::health::AccountHealth;
use crate::record::Payload;

/// Type-erased access to a manager, so one process can hold accounts of
/// different brokers in one list (a daemon, a control server, a CLI).
#[async_trait::async_trait]
pub trait ManagedAccount: Send + Sync {
    /// The account.
    fn key(&self) -> &crate::key::AccountKey;
    /// Its health now.
    fn health(&self) -> AccountHealth;
    /// Its events.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event>;
    /// One maintenance pass (as `TokenManager::maintain`).
    #[doc(hidden)]
    async fn maintain(&self) -> Option<DateTime<Utc>>;
    /// Renew now.
    async fn renew_now(&self) -> Result<(), Error>;
    /// Keep-alive now.
    async fn keep_alive(&self) -> Result<(), Error>;
    /// Start an interactive authorization, or return the live shared one.
    async fn begin_authorization(&self) -> Result<crate::provider::AuthorizationRequest, Error>;
    /// The live shared login request, or a new one (see
    /// [`TokenManager::login_request`]).
    async fn login_request(&self) -> Result<super::LoginRequest, Error>;
    /// The pending login request, live or stale, without starting one.
    async fn pending_authorization(
        &self,
    ) -> Result<Option<crate::provider::AuthorizationRequest>, Error>;
    /// Whether its provider can run an interactive authorization.
    fn can_authorize(&self) -> bool;
    /// Complete it with what the person brought back.
    async fn complete_authorization(&self, response: &secrecy::SecretString) -> Result<(), Error>;
    /// Revoke and forget the credentials.
    async fn revoke(&self) -> Result<(), Error>;
    /// Spawn the maintenance loop.
    fn spawn_maintenance(&self) -> MaintenanceHandle;
}

#[async_trait::async_trait]
impl<P: Payload> ManagedAccount for TokenManager<P> {
    fn key(&self) -> &crate::key::AccountKey {
        TokenManager::key(self)
    }
    fn health(&self) -> AccountHealth {
        TokenManager::health(self)
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        TokenManager::subscribe(self)
    }
    async fn maintain(&self) -> Option<DateTime<Utc>> {
        TokenManager::maintain(self).await
    }
    async fn renew_now(&self) -> Result<(), Error> {
        TokenManager::renew_now(self).await.map(|_| ())
    }
    async fn keep_alive(&self) -> Result<(), Error> {
        TokenManager::keep_alive(self).await
    }
    async fn begin_authorization(&self) -> Result<crate::provider::AuthorizationRequest, Error> {
        TokenManager::begin_authorization(self).await
    }
    async fn login_request(&self) -> Result<super::LoginRequest, Error> {
        TokenManager::login_request(self).await
    }
    async fn pending_authorization(
        &self,
    ) -> Result<Option<crate::provider::AuthorizationRequest>, Error> {
        TokenManager::pending_authorization(self).await
    }
    fn can_authorize(&self) -> bool {
        self.inner.provider.capabilities().authorize
    }
    async fn complete_authorization(&self, response: &secrecy::SecretString) -> Result<(), Error> {
        TokenManager::complete_authorization(self, response)
            .await
            .map(|_| ())
    }
    async fn revoke(&self) -> Result<(), Error> {
        TokenManager::revoke(self).await
    }
    fn spawn_maintenance(&self) -> MaintenanceHandle {
        TokenManager::spawn_maintenance(self)
    }
}

/// Health of several accounts in one report.
pub fn health_report(
    now: DateTime<Utc>,
    accounts: &[Arc<dyn ManagedAccount>],
) -> crate::health::HealthReport {
    crate::health::HealthReport::new(now, accounts.iter().map(|a| a.health()).collect())
}
