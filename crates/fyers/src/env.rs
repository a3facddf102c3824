//! `.env` compatibility: many FYERS deployments keep `FYERS_ACCESS_TOKEN`
//! and `FYERS_REFRESH_TOKEN` in a `.env` file that other tools read.
//!
//! [`env_file_store`] keeps the record in those two variables (plus one
//! metadata variable, `FYERS_TOKEN_META`, holding JSON with no secrets)
//! through token-core's [`EnvFileStore`]. When a file was written by hand or
//! by another tool (no metadata), the expiry is read from the tokens
//! themselves rather than guessed from the file's modification time.

use std::path::PathBuf;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use token_core::StoreError;
use token_core::{AccountKey, EnvFileStore, EnvMapping, StoredRecord, TokenStore};

use crate::expiry::{access_expiry, refresh_expiry};

/// The access token variable.
pub const ACCESS_TOKEN_VAR: &str = "FYERS_ACCESS_TOKEN";
/// The refresh token variable.
pub const REFRESH_TOKEN_VAR: &str = "FYERS_REFRESH_TOKEN";
/// The metadata variable (JSON, no secrets).
pub const META_VAR: &str = "FYERS_TOKEN_META";

/// The mapping of [`crate::FyersCreds`] fields to the usual variable names.
pub fn env_mapping() -> EnvMapping {
    EnvMapping::explicit(META_VAR)
        .field("access_token", ACCESS_TOKEN_VAR)
        .field("refresh_token", REFRESH_TOKEN_VAR)
}

/// A store over the `.env` file at `path` that keeps `key`'s tokens in
/// `FYERS_ACCESS_TOKEN` / `FYERS_REFRESH_TOKEN`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use token_core::{AccountKey, Environment, TokenStore};
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join(".env");
/// std::fs::write(&path, "OTHER=1\nFYERS_ACCESS_TOKEN=opaque-access\n")?;
/// let key = AccountKey::new("fyers", Environment::Production, "main")?;
/// let store = fyers::env::env_file_store(&path, key.clone(), 15);
/// let record = store.load(&key).await?.expect("a record");
/// assert!(record.meta.expires_at.is_some()); // 06:00 IST after the file's mtime
/// # Ok(()) }
/// ```
pub fn env_file_store(
    path: impl Into<PathBuf>,
    key: AccountKey,
    refresh_token_days: u32,
) -> FyersEnvStore {
    FyersEnvStore {
        inner: EnvFileStore::new(path).with_mapping(key, env_mapping()),
        refresh_token_days,
    }
}

/// An [`EnvFileStore`] that fills in missing expiry metadata from the tokens.
#[derive(Debug, Clone)]
pub struct FyersEnvStore {
    inner: EnvFileStore,
    refresh_token_days: u32,
}

impl FyersEnvStore {
    /// The underlying store.
    pub fn inner(&self) -> &EnvFileStore {
        &self.inner
    }

    fn fill(&self, mut record: StoredRecord) -> Result<StoredRecord, StoreError> {
        let location = format!("{} ({})", self.inner.path().display(), record.key);
        let corrupt = |e: token_core::Error| StoreError::Corrupt {
            location: location.clone(),
            detail: e.to_string(),
        };
        let issued = record.meta.issued_at;
        if record.meta.expires_at.is_none() {
            if let Some(access) = record.payload.get("access_token") {
                let t = access_expiry(
                    issued,
                    &SecretString::from(access.expose_secret().to_owned()),
                )
                .map_err(corrupt)?;
                record.meta.expires_at = Some(t);
            }
        }
        if record.meta.refresh_expires_at.is_none() {
            if let Some(refresh) = record.payload.get("refresh_token") {
                let t = refresh_expiry(
                    issued,
                    &SecretString::from(refresh.expose_secret().to_owned()),
                    self.refresh_token_days,
                )
                .map_err(corrupt)?;
                record.meta.refresh_expires_at = Some(t);
            }
        }
        Ok(record)
    }
}

#[async_trait]
impl TokenStore for FyersEnvStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        match self.inner.load(key).await? {
            Some(r) => self.fill(r).map(Some),
            None => Ok(None),
        }
    }

    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        self.inner.save(record).await
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        self.inner.delete(key).await
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        self.inner.list().await
    }
}
