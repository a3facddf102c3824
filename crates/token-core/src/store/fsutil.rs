//! Crash-safe file replacement shared by the file-based stores.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Creates `dir` (and parents) if missing; a directory we create is 0700.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| StoreError::io(dir, e))
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the
/// old content or the new, never a mix: write a temp file in the same
/// directory, fsync it, rename it over the target, fsync the directory.
/// A new file is created with `mode` (e.g. 0600).
pub(crate) fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = parent(path);
    let tmp = temp_path(path);
    let result = (|| -> io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io(path, e));
    }
    Ok(())
}

/// Removes `path`; `false` if it did not exist. Syncs the directory.
pub(crate) fn remove(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(&parent(path)).map_err(|e| StoreError::io(path, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Reads `path`; `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// The permission bits of an existing file (to keep them on rewrite).
pub(crate) fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn temp_path(path: &Path) -> PathBuf {
    let nonce: u64 = rand::random();
    parent(path).join(format!(".{}.{nonce:016x}.tmp", file_name(path)))
}

/// A hidden file next to `path`: `<dir>/.<name><suffix>` (no doubled dot for
/// a name that is already hidden, e.g. `.env`).
pub(crate) fn hidden_sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = file_name(path);
    let dot = if name.starts_with('.') { "" } else { "." };
    parent(path).join(format!("{dot}{name}{suffix}"))
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| StoreError::io(path, e))
}

/// Held while a writer reads, changes and replaces a file: an exclusive
/// advisory lock (`flock`) on a hidden `.lock` file next to it, shared by
/// every process. The OS releases it when the holder dies, so a crashed
/// writer never blocks the others.
#[derive(Debug)]
pub(crate) struct WriteLock {
    _file: File,
}

/// Takes the write lock for `path` (waiting for other writers), then removes
/// temp files that writers killed mid-save left behind: with the lock held,
/// no other writer is in the middle of a save, so every temp file of `path`
/// is stale (and may hold secrets).
pub(crate) fn lock_for_write(path: &Path) -> Result<WriteLock, StoreError> {
    let lock_path = hidden_sibling(path, ".lock");
    let file = open_lock_file(&lock_path)?;
    file.lock().map_err(|e| StoreError::io(&lock_path, e))?;
    sweep_temp_files(path, None);
    Ok(WriteLock { _file: file })
}

/// How old a temp file must be before a save without the write lock treats
/// it as left behind by a writer that died (no save takes this long).
pub(crate) const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes temp files of `path` left by writers killed mid-save (they may
/// hold secrets): all of them (`None`, only safe under the write lock) or
/// those not modified for `older_than`. Best effort: errors are ignored.
pub(crate) fn sweep_temp_files(path: &Path, older_than: Option<std::time::Duration>) {
    let prefix = format!(".{}.", file_name(path));
    let Ok(entries) = fs::read_dir(parent(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(&prefix) && name.ends_with(".tmp")) {
            continue;
        }
        let stale = match older_than {
            None => true,
            Some(age) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|elapsed| elapsed >= age),
        };
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
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
        blocking(move || open_lock_file(&path)).await?
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

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Runs blocking file work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
}
