//! The one login in progress per account, shared by every process that
//! manages it: the daemon, `tokenctl login`, the control server and the
//! Telegram channel all see (and can finish) the same request, so a person
//! never gets two URLs for one account.
//!
//! A pending [`AuthorizationRequest`] holds provider secrets (an E*TRADE
//! request-token secret, a FYERS `state` nonce), so the directory
//! implementation writes it like a record: 0600, atomically, never through
//! a symbolic link, in a directory others cannot write.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{fsutil, lockfile, Lease};
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::provider::AuthorizationRequest;

/// Keeps at most one pending [`AuthorizationRequest`] per account where
/// every process managing the account sees it.
///
/// ```
/// # use token_core::store::{MemoryPendingLogins, PendingLogins};
/// # use token_core::{AccountKey, AuthorizationRequest, Environment, Expects, SecretFields};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let logins = MemoryPendingLogins::new();
/// let key = AccountKey::new("demo", Environment::Sandbox, "main")?;
/// let request = AuthorizationRequest {
///     key: key.clone(),
///     url: "https://broker.example/authorize?t=1".into(),
///     expects: Expects::Verifier,
///     instructions: "log in, then bring back the code".into(),
///     expires_at: None,
///     pending: SecretFields::default(),
/// };
/// logins.save(&request).await?;
/// assert_eq!(logins.load(&key).await?.map(|r| r.url), Some(request.url.clone()));
/// assert!(logins.remove(&key).await?);
/// assert!(logins.load(&key).await?.is_none());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait PendingLogins: Send + Sync + fmt::Debug {
    /// The request pending for `key`, if any (live or stale: the caller
    /// checks `expires_at`).
    async fn load(&self, key: &AccountKey) -> Result<Option<AuthorizationRequest>, StoreError>;

    /// Makes `request` the one pending for `request.key`, replacing any.
    async fn save(&self, request: &AuthorizationRequest) -> Result<(), StoreError>;

    /// Forgets the request pending for `key`; `true` if there was one.
    async fn remove(&self, key: &AccountKey) -> Result<bool, StoreError>;

    /// Serializes "look, then start a login if none is live" across
    /// processes, so two processes never mint two requests for one account.
    /// Waits up to `wait`. `Ok(None)`: nothing to serialize across (the
    /// default: one process only).
    async fn lock(
        &self,
        key: &AccountKey,
        wait: Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        let _ = (key, wait);
        Ok(None)
    }
}

#[async_trait]
impl<T: PendingLogins + ?Sized> PendingLogins for Arc<T> {
    async fn load(&self, key: &AccountKey) -> Result<Option<AuthorizationRequest>, StoreError> {
        (**self).load(key).await
    }
    async fn save(&self, request: &AuthorizationRequest) -> Result<(), StoreError> {
        (**self).save(request).await
    }
    async fn remove(&self, key: &AccountKey) -> Result<bool, StoreError> {
        (**self).remove(key).await
    }
    async fn lock(
        &self,
        key: &AccountKey,
        wait: Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        (**self).lock(key, wait).await
    }
}

/// Pending logins in this process only (the default of a manager built
/// without a shared place).
#[derive(Debug, Default)]
pub struct MemoryPendingLogins {
    requests: Mutex<HashMap<AccountKey, AuthorizationRequest>>,
}

impl MemoryPendingLogins {
    /// None pending.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl PendingLogins for MemoryPendingLogins {
    async fn load(&self, key: &AccountKey) -> Result<Option<AuthorizationRequest>, StoreError> {
        Ok(crate::sync::lock(&self.requests).get(key).cloned())
    }
    async fn save(&self, request: &AuthorizationRequest) -> Result<(), StoreError> {
        crate::sync::lock(&self.requests).insert(request.key.clone(), request.clone());
        Ok(())
    }
    async fn remove(&self, key: &AccountKey) -> Result<bool, StoreError> {
        Ok(crate::sync::lock(&self.requests).remove(key).is_some())
    }
}

/// Pending logins as hidden files in a directory (`.login-<account>.json`,
/// 0600), shared by every process that uses the directory: put it beside
/// the token store (a [`FileStore`](super::FileStore)'s directory, the
/// directory of an [`EnvFileStore`](super::EnvFileStore)'s `.env` file).
/// Starting a login is serialized with an OS lock on
/// `.login-<account>.lock`, released when its holder dies.
#[derive(Debug, Clone)]
pub struct DirPendingLogins {
    dir: PathBuf,
}

impl DirPendingLogins {
    /// Pending logins in `dir` (created 0700 on first save if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Pending logins beside the file `path` (e.g. a `.env` store).
    pub fn beside(path: &Path) -> Self {
        Self::new(fsutil::parent(path))
    }

    /// The file holding `key`'s pending request.
    pub fn path(&self, key: &AccountKey) -> PathBuf {
        self.dir.join(format!(".login-{}.json", key.file_stem()))
    }
}

#[async_trait]
impl PendingLogins for DirPendingLogins {
    async fn load(&self, key: &AccountKey) -> Result<Option<AuthorizationRequest>, StoreError> {
        let path = self.path(key);
        let read = path.clone();
        let Some(bytes) = fsutil::blocking(move || super::read_private_file(&read)).await? else {
            return Ok(None);
        };
        let location = path.display().to_string();
        match serde_json::from_slice::<AuthorizationRequest>(&bytes) {
            Ok(request) if request.key == *key => Ok(Some(request)),
            Ok(request) => Err(StoreError::Corrupt {
                location,
                detail: format!(
                    "it holds a login for {}, not {key}: delete it and log in again",
                    request.key
                ),
            }),
            Err(e) => Err(StoreError::corrupt_json(location, &e)),
        }
    }

    async fn save(&self, request: &AuthorizationRequest) -> Result<(), StoreError> {
        let path = self.path(&request.key);
        let bytes = serde_json::to_vec(request)
            .map_err(|e| StoreError::corrupt_json(path.display().to_string(), &e))?;
        fsutil::blocking(move || super::write_private_file(&path, &bytes)).await
    }

    async fn remove(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let path = self.path(key);
        fsutil::blocking(move || fsutil::remove(&path)).await
    }

    async fn lock(
        &self,
        key: &AccountKey,
        wait: Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        let dir = self.dir.clone();
        fsutil::blocking(move || fsutil::ensure_private_dir(&dir)).await?;
        let path = self.dir.join(format!(".login-{}.lock", key.file_stem()));
        lockfile::lease(path, key, wait).await.map(Some)
    }
}
