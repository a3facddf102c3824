//! One JSON file per account in a private directory.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::fsutil;
use super::{Lease, TokenStore};
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::{check_version, StoredRecord};

/// Stores each account as `<dir>/<broker>.<environment>.<label>.json`.
///
/// The directory is created 0700 and files 0600. Saves are crash-safe (temp
/// file, fsync, rename, directory fsync). A file that is corrupt or written by
/// an unknown schema version is reported as a typed error by `load` and is
/// never overwritten by `save`: move it aside yourself after looking at it.
///
/// ```no_run
/// # async fn demo() -> Result<(), token_core::StoreError> {
/// use token_core::store::{FileStore, TokenStore};
/// let store = FileStore::open("/var/lib/mybot/tokens")?;
/// for key in store.list().await? {
///     println!("{key}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens (creating if needed) a store directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fsutil::ensure_private_dir(&dir)?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `key`'s record.
    pub fn path_of(&self, key: &AccountKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.file_stem()))
    }
}

fn parse(location: &str, bytes: &[u8]) -> Result<StoredRecord, StoreError> {
    crate::record::parse_versioned(location, bytes)
}

#[async_trait]
impl TokenStore for FileStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        let path = self.path_of(key);
        let key = key.clone();
        fsutil::blocking(move || {
            let Some(bytes) = fsutil::read_opt(&path)? else {
                return Ok(None);
            };
            let location = path.display().to_string();
            let record = parse(&location, &bytes)?;
            if record.key != key {
                return Err(StoreError::Corrupt {
                    location,
                    detail: format!("file holds the record of {}", record.key),
                });
            }
            Ok(Some(record))
        })
        .await
    }

    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        let path = self.path_of(&record.key);
        let location = path.display().to_string();
        check_version(&location, record.schema_version)?;
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| StoreError::Payload(format!("cannot encode record: {e}")))?;
        fsutil::blocking(move || {
            // Saves of one account by several processes are each atomic (last
            // one wins), so no lock here; temp files of saves killed midway
            // are swept once they are clearly abandoned.
            fsutil::sweep_temp_files(&path, Some(fsutil::STALE_TEMP_AGE));
            if let Some(existing) = fsutil::read_opt(&path)? {
                if let Err(e) = parse(&location, &existing) {
                    return Err(StoreError::WouldOverwrite {
                        location,
                        reason: e.to_string(),
                    });
                }
            }
            fsutil::atomic_write(&path, &bytes, 0o600)
        })
        .await
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let path = self.path_of(key);
        fsutil::blocking(move || fsutil::remove(&path)).await
    }

    /// An advisory lock (`flock`) on `<dir>/.<broker>.<environment>.<label>.lock`:
    /// the OS releases it when the holding process dies, so a crashed
    /// renewer never blocks the others (the `ttl` is not needed here).
    async fn lease(
        &self,
        key: &AccountKey,
        _ttl: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<Option<Box<dyn Lease>>, StoreError> {
        let path = self.dir.join(format!(".{}.lock", key.file_stem()));
        fsutil::lease(path, key, wait).await.map(Some)
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        let dir = self.dir.clone();
        fsutil::blocking(move || {
            let entries = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
            let mut keys = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
                let name = entry.file_name();
                let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                    continue;
                };
                let mut parts = stem.split('.');
                if let (Some(b), Some(e), Some(l), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                {
                    if let Ok(key) = e.parse().and_then(|env| AccountKey::new(b, env, l)) {
                        keys.push(key);
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }
}
