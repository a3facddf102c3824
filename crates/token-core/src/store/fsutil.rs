//! Safe file access shared by the file-based stores: private directories,
//! no symbolic links, crash-safe replacement.
//!
//! Threat model: another local user (or a compromised service account)
//! who can write into a store directory can plant a symbolic link named like
//! a record or a lock, so that the store loads foreign credentials or
//! overwrites a file elsewhere. So a directory that group or others can
//! write is refused, and no store file is ever opened through a link.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::tempfiles;
use crate::error::StoreError;

/// Creates `dir` (and parents) if missing, 0700, then checks that it is
/// private (see [`check_private_dir`]).
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<(), StoreError> {
    if !dir.is_dir() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    check_private_dir(dir)
}

/// Refuses a directory that group or others can write: they could plant
/// links or replace files in it. (The directory itself may be reached
/// through a link the operator made; its contents never are.)
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(dir).map_err(|e| StoreError::io(dir, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            let who = match mode & 0o022 {
                0o020 => "its group",
                0o002 => "every user",
                _ => "its group and every user",
            };
            return Err(StoreError::Insecure {
                path: dir.to_path_buf(),
                problem: format!(
                    "the directory is writable by {who} (mode {mode:04o}), who could plant \
                     links or replace token files in it; run `chmod go-w {}` (0700 is best)",
                    dir.display()
                ),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// `opts` will not follow a symbolic link in the last path component, nor
/// block on a FIFO planted in place of a file.
pub(crate) fn no_follow(opts: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    opts
}

/// The error for a failed no-follow open: a typed refusal when `path` is a
/// symbolic link, the I/O error otherwise.
pub(crate) fn open_error(path: &Path, e: io::Error) -> StoreError {
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        StoreError::Insecure {
            path: path.to_path_buf(),
            problem: "it is a symbolic link; store files are never reached through links \
                      (one planted here could load or overwrite another file): remove it"
                .into(),
        }
    } else {
        StoreError::io(path, e)
    }
}

fn not_regular(path: &Path) -> StoreError {
    StoreError::Insecure {
        path: path.to_path_buf(),
        problem: "it is not a regular file: remove it".into(),
    }
}

/// Reads `path` without following a link; `None` if it does not exist.
pub(crate) fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(read_opt_with_meta(path)?.map(|(bytes, _)| bytes))
}

/// [`read_opt`] plus the file's metadata (of the file read, not of a path
/// looked up again).
pub(crate) fn read_opt_with_meta(path: &Path) -> Result<Option<(Vec<u8>, Metadata)>, StoreError> {
    let mut file = match no_follow(OpenOptions::new().read(true)).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(open_error(path, e)),
    };
    let meta = file.metadata().map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    let mut bytes = Vec::with_capacity(meta.len().try_into().unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(|e| StoreError::io(path, e))?;
    Ok(Some((bytes, meta)))
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the
/// old content or the new, never a mix: write a temp file in the same
/// directory, fsync it, rename it over the target, fsync the directory.
/// The new file gets `mode` (e.g. 0600). The rename replaces a link planted
/// at `path` instead of writing through it.
pub(crate) fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    let dir = parent(path);
    // The temp file stays locked until it is renamed (and the handle
    // dropped): sweepers never remove a file a live writer is writing.
    let (mut f, tmp) = tempfiles::create(path, mode).map_err(|e| StoreError::io(path, e))?;
    let result = (|| -> io::Result<()> {
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io(path, e));
    }
    Ok(())
}

/// Removes `path` (a link is removed, not followed); `false` if it did not
/// exist. Syncs the directory.
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

/// The permission bits of an existing regular file (to keep them on
/// rewrite); never those of a link's target.
pub(crate) fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::symlink_metadata(path)
            .ok()
            .filter(Metadata::is_file)
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Writes a small private file (e.g. a pending login holding a request-token
/// secret) the way the stores write records: its directory is created 0700
/// if missing and must not be writable by group or others; the content goes
/// to a temp file that is fsynced and renamed over `path`, so the result is
/// a fresh 0600 file even where a 0644 file (or a planted link) was before.
///
/// ```
/// # fn main() -> Result<(), token_core::StoreError> {
/// let dir = tempfile::tempdir().map_err(|e| token_core::StoreError::Backend(e.to_string()))?;
/// let path = dir.path().join("tokens").join(".login.json");
/// token_core::store::write_private_file(&path, b"{}")?;
/// assert_eq!(token_core::store::read_private_file(&path)?, Some(b"{}".to_vec()));
/// # Ok(()) }
/// ```
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    ensure_private_dir(&parent(path))?;
    atomic_write(path, bytes, 0o600)
}

/// Reads a file written by [`write_private_file`]; `None` if there is none.
/// Refuses a symbolic link or a directory others can write, never
/// following the link.
pub fn read_private_file(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let dir = parent(path);
    if dir.is_dir() {
        check_private_dir(&dir)?;
    }
    read_opt(path)
}

pub(crate) fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A hidden file next to `path`: `<dir>/.<name><suffix>` (no doubled dot for
/// a name that is already hidden, e.g. `.env`).
pub(crate) fn hidden_sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = file_name(path);
    let dot = if name.starts_with('.') { "" } else { "." };
    parent(path).join(format!("{dot}{name}{suffix}"))
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
