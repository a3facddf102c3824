//! One JSON file per account in a private directory.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::owner::{ClaimAttempt, OwnerClaims, OwnerInfo};
use super::{fsutil, lockfile, tempfiles};
use super::{ownerfile, Lease, TokenStore};
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::{check_version, StoredRecord};

/// Stores each account as `<dir>/<broker>.<environment>.<label>.json`.
///
/// The directory is created 0700 and files 0600. Saves are crash-safe (temp
/// file, fsync, rename, directory fsync). A file that is corrupt, written by
/// an unknown schema version or holding another account's record is reported
/// as a typed error by `load` and is never overwritten by `save`: move it
/// aside yourself after looking at it.
///
/// Safety: a directory that group or others can write is refused
/// ([`StoreError::Insecure`], saying how to fix it) rather than repaired,
/// since someone else may already have planted files in it; record and lock
/// files are never opened through a symbolic link (a link planted in place
/// of a record is refused, not loaded); temp files that killed writers left
/// behind (they hold secrets) are removed when the store opens and on each
/// save, except those a live writer in any process still holds.
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
    /// Opens (creating it 0700 if needed) a store directory, refusing one
    /// that group or others can write, and removes the temp files of saves
    /// killed midway.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fsutil::ensure_private_dir(&dir)?;
        // Records and pending logins are `*.json`.
        tempfiles::sweep(&dir, |target| target.ends_with(".json"));
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
        let key = record.key.clone();
        let location = path.display().to_string();
        check_version(&location, record.schema_version)?;
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| StoreError::Payload(format!("cannot encode record: {e}")))?;
        fsutil::blocking(move || {
            // Saves of one account by several processes are each atomic (last
            // one wins), so no lock here; temp files of saves killed midway
            // are removed unless a live writer holds them.
            tempfiles::sweep_for(&path);
            if let Some(existing) = fsutil::read_opt(&path)? {
                let refuse = |reason: String| StoreError::WouldOverwrite {
                    location: location.clone(),
                    reason,
                };
                match parse(&location, &existing) {
                    Err(e) => return Err(refuse(e.to_string())),
                    Ok(other) if other.key != key => {
                        return Err(refuse(format!(
                            "the file holds the record of {}, not of {key}",
                            other.key
                        )))
                    }
                    Ok(_) => {}
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
        lockfile::lease(path, key, wait).await.map(Some)
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        let dir = self.dir.clone();
        fsutil::blocking(move || {
            let entries = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
            let mut keys = Vec::new();
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
                // Only regular files (a link is never a record).
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
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

/// The claim is an advisory lock on `<dir>/.<broker>.<environment>.<label>.owner`
/// (see [`OwnerClaims`]), dropped by the OS with the holding process.
#[async_trait]
impl OwnerClaims for FileStore {
    async fn try_claim(
        &self,
        key: &AccountKey,
        me: &OwnerInfo,
    ) -> Result<ClaimAttempt, StoreError> {
        let path = self.dir.join(format!(".{}.owner", key.file_stem()));
        ownerfile::try_claim(path, key, me).await
    }
}
