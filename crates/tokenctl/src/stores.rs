//! Opening the store an account's config names: a directory, a `.env` file
//! or Redis.

use std::sync::Arc;

use token_core::store::{DirPendingLogins, PendingLogins};
use token_core::{Clock, EnvFileStore, FileStore, StoreError, TokenStore};

use crate::config::{AccountConfig, StoreSpec};

/// Opens a directory or `.env` store; a Redis store is refused with a
/// [`StoreError::Config`] (it needs [`open`]).
pub fn open_local(cfg: &AccountConfig) -> Result<Arc<dyn TokenStore>, StoreError> {
    match &cfg.store_spec {
        StoreSpec::Dir(dir) => Ok(Arc::new(FileStore::open(dir)?)),
        StoreSpec::Env(path) => {
            let store = EnvFileStore::new(path);
            let store = match &cfg.env_mapping {
                Some(m) => store.with_mapping(cfg.key.clone(), m.clone()),
                None => store,
            };
            Ok(Arc::new(store))
        }
        StoreSpec::Redis { .. } => Err(StoreError::Config(
            "a Redis store needs a connection: open it with Account::open".into(),
        )),
    }
}

/// Where a directory or `.env` account's pending login is shared with
/// every other process using the same store: hidden 0600 files in the store
/// directory (beside the `.env` file for a `.env` store). A Redis store
/// keeps it in Redis ([`open_with_pending`]).
pub fn local_pending_logins(cfg: &AccountConfig) -> Result<Arc<dyn PendingLogins>, StoreError> {
    match &cfg.store_spec {
        StoreSpec::Dir(dir) => Ok(Arc::new(DirPendingLogins::new(dir))),
        StoreSpec::Env(path) => Ok(Arc::new(DirPendingLogins::beside(path))),
        StoreSpec::Redis { .. } => Err(StoreError::Config(
            "a Redis store needs a connection: open it with Account::open".into(),
        )),
    }
}

/// Opens any store, connecting to Redis (the URL read from its secret
/// reference, never shown).
pub async fn open(
    cfg: &AccountConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn TokenStore>, StoreError> {
    open_with_pending(cfg, clock).await.map(|(store, _)| store)
}

/// [`open`], with the place the account's pending login is shared
/// (beside the records: [`local_pending_logins`], or in Redis).
pub async fn open_with_pending(
    cfg: &AccountConfig,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<dyn TokenStore>, Arc<dyn PendingLogins>), StoreError> {
    let StoreSpec::Redis { url, prefix } = &cfg.store_spec else {
        return Ok((open_local(cfg)?, local_pending_logins(cfg)?));
    };
    let url = url
        .read_in(&cfg.base_dir)
        .map_err(|e| StoreError::Config(format!("store url: {e}")))?;
    let mut builder = token_store_redis::RedisStore::builder(url).clock(clock);
    if let Some(p) = prefix {
        builder = builder.prefix(p.clone());
    }
    let store = builder.connect().await?;
    let pending = Arc::new(store.pending_logins());
    Ok((Arc::new(store), pending))
}
