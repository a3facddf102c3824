//! Advisory locks (`flock`) on hidden `.lock` files next to the data: the
//! write lock a read-modify-write holds, and the cross-process renewal
//! lease. The OS releases them when the holder dies, so a crashed process
//! never blocks the others. Lock files are opened without following links.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::fsutil::{self, hidden_sibling};
use super::tempfiles;
use crate::error::StoreError;

pub(crate) fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let file = fsutil::no_follow(&mut opts)
        .open(path)
        .map_err(|e| fsutil::open_error(path, e))?;
    let is_file = file
        .metadata()
        .map_err(|e| StoreError::io(path, e))?
        .is_file();
    if !is_file {
        return Err(StoreError::Insecure {
            path: path.to_path_buf(),
            problem: "the lock file is not a regular file: remove it".into(),
        });
    }
    Ok(file)
}

/// Held while a writer reads, changes and replaces a file: an exclusive
/// lock on a hidden `.lock` file next to it, shared by every process.
#[derive(Debug)]
pub(crate) struct WriteLock {
    _file: File,
}

/// Takes the write lock for `path` (waiting for other writers), then removes
/// temp files of `path` that writers killed mid-save left behind (they may
/// hold secrets).
pub(crate) fn lock_for_write(path: &Path) -> Result<WriteLock, StoreError> {
    let lock_path = hidden_sibling(path, ".lock");
    let file = open_lock_file(&lock_path)?;
    file.lock().map_err(|e| StoreError::io(&lock_path, e))?;
    tempfiles::sweep_for(path);
    Ok(WriteLock { _file: file })
}

/// Takes the cross-process renewal lease held in the lock file `path`
/// (see [`crate::store::TokenStore::lease`]): tries a non-blocking `flock`
/// in the one lease-wait loop for up to `wait`. The OS drops it with the
/// holding process.
pub(crate) async fn lease(
    path: PathBuf,
    key: &crate::key::AccountKey,
    wait: std::time::Duration,
) -> Result<Box<dyn crate::store::Lease>, StoreError> {
    let file = {
        let path = path.clone();
        fsutil::blocking(move || open_lock_file(&path)).await?
    };
    let mut file = Some(file);
    crate::manager::wait_for_lease(key, wait, || {
        let taken = match file.as_ref().map(File::try_lock) {
            Some(Ok(())) => Ok(file.take().map(|file| {
                Box::new(FileLease {
                    file,
                    path: path.clone(),
                }) as Box<dyn crate::store::Lease>
            })),
            Some(Err(fs::TryLockError::WouldBlock)) | None => Ok(None),
            Some(Err(fs::TryLockError::Error(e))) => Err(StoreError::io(&path, e)),
        };
        std::future::ready(taken)
    })
    .await
}

/// A held file lease: the locked file.
#[derive(Debug)]
struct FileLease {
    file: File,
    path: PathBuf,
}

#[async_trait::async_trait]
impl crate::store::Lease for FileLease {
    async fn release(self: Box<Self>) -> Result<(), StoreError> {
        self.file
            .unlock()
            .map_err(|e| StoreError::io(&self.path, e))
    }
}
