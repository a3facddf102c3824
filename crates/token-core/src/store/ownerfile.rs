//! Maintenance claims of the file-based stores: an advisory lock (`flock`)
//! on a hidden `.owner` file next to the data, held for the process's life
//! and dropped by the OS when the process dies. The file (0600, never opened
//! through a link) records who holds it, for the message a second daemon
//! shows; it is never removed (removing a lock file lets two processes lock
//! two different files of one name).

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::owner::{ClaimAttempt, OwnerClaim, OwnerInfo};
use super::{fsutil, lockfile};
use crate::error::StoreError;
use crate::key::AccountKey;

/// Tries to claim `key` through the owner file `path`.
pub(crate) async fn try_claim(
    path: PathBuf,
    key: &AccountKey,
    me: &OwnerInfo,
) -> Result<ClaimAttempt, StoreError> {
    let key = key.clone();
    let me = me.clone();
    fsutil::blocking(move || try_claim_blocking(path, key, &me)).await
}

fn try_claim_blocking(
    path: PathBuf,
    key: AccountKey,
    me: &OwnerInfo,
) -> Result<ClaimAttempt, StoreError> {
    let mut file = lockfile::open_lock_file(&path)?;
    match file.try_lock() {
        Ok(()) => {
            let bytes = serde_json::to_vec(me)
                .map_err(|e| StoreError::Payload(format!("cannot encode the owner: {e}")))?;
            let io = |e| StoreError::io(&path, e);
            file.set_len(0).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            file.write_all(&bytes).map_err(io)?;
            file.sync_data().map_err(io)?;
            Ok(ClaimAttempt::Claimed(Box::new(FileClaim {
                file,
                path,
                key,
            })))
        }
        Err(fs::TryLockError::WouldBlock) => Ok(ClaimAttempt::Held {
            holder: read_holder(&mut file),
        }),
        Err(fs::TryLockError::Error(e)) => Err(StoreError::io(&path, e)),
    }
}

/// The holder recorded in the owner file; `None` while the holder has not
/// written it yet (or it is unreadable: the message then says "unknown").
fn read_holder(file: &mut File) -> Option<OwnerInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(4096).read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// A held file claim: the locked owner file.
#[derive(Debug)]
struct FileClaim {
    file: File,
    path: PathBuf,
    key: AccountKey,
}

#[async_trait]
impl OwnerClaim for FileClaim {
    fn key(&self) -> &AccountKey {
        &self.key
    }

    async fn lost(&self) {
        // The OS holds the lock for as long as this process lives.
        std::future::pending::<()>().await;
    }

    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        let path: &Path = &self.path;
        self.file.set_len(0).map_err(|e| StoreError::io(path, e))?;
        self.file.unlock().map_err(|e| StoreError::io(path, e))
    }
}
