//! Temp files of crash-safe saves, and removing the ones killed writers
//! left behind (they hold secrets).
//!
//! A save writes `<dir>/.<name>.<16 hex digits>.tmp` and renames it over
//! `<dir>/<name>`. The writer holds an exclusive advisory lock (`flock`) on
//! its temp file from creation until the handle is dropped after the rename;
//! the OS drops the lock when the writer dies. So a temp file whose lock can
//! be taken belongs to no live writer and can be removed at once, whatever
//! its age, by any process, while a file being written right now is never
//! touched.
//!
//! The one race: a sweeper may take the lock between the writer's create and
//! its lock. The writer then finds its file unlinked (no links left) and
//! starts again under a new name.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::fsutil::{file_name, no_follow, parent};

/// How many fresh names a writer tries before giving up.
const ATTEMPTS: usize = 8;

fn temp_path(path: &Path) -> PathBuf {
    let nonce: u64 = rand::random();
    parent(path).join(format!(".{}.{nonce:016x}.tmp", file_name(path)))
}

/// Creates and locks a new temp file for replacing `path`, with `mode`.
pub(crate) fn create(path: &Path, mode: u32) -> io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let tmp = temp_path(path);
        let mut opts = OpenOptions::new();
        // `create_new` (O_EXCL) never follows a link either.
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let file = match no_follow(&mut opts).open(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        file.lock()?;
        if still_linked(&file)? {
            return Ok((file, tmp));
        }
        // A sweeper removed it before we locked it: take another name.
        last = Some(io::Error::other("temp file removed while being created"));
    }
    Err(last.unwrap_or_else(|| io::Error::other("no temp file name available")))
}

fn still_linked(file: &File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(file.metadata()?.nlink() > 0)
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(true)
    }
}

/// The name of the file a temp file named `name` was replacing, if `name`
/// follows the temp-name pattern.
fn target_of(name: &str) -> Option<&str> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (target, nonce) = inner.rsplit_once('.')?;
    let hex = nonce.len() == 16 && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !target.is_empty()).then_some(target)
}

/// Removes, in `dir`, the temp files of saves whose target name satisfies
/// `ours` and that no live writer holds. Returns how many were removed.
/// Best effort: a file that cannot be examined is left alone.
pub(crate) fn sweep(dir: &Path, ours: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !target_of(name).is_some_and(&ours) {
            continue;
        }
        if remove_if_abandoned(&entry.path()) {
            removed += 1;
        }
    }
    removed
}

/// Removes the temp files left behind by writers of `path` that died.
pub(crate) fn sweep_for(path: &Path) -> usize {
    let target = file_name(path);
    sweep(&parent(path), |t| t == target)
}

fn remove_if_abandoned(path: &Path) -> bool {
    let Ok(file) = no_follow(OpenOptions::new().read(true)).open(path) else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if !meta.is_file() || file.try_lock().is_err() {
        return false; // not ours, or a live writer holds it
    }
    // Same file still under that name (temp names are never reused)?
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match fs::symlink_metadata(path) {
            Ok(now) if now.ino() == meta.ino() && now.dev() == meta.dev() => {}
            _ => return false,
        }
    }
    fs::remove_file(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_temp_name_pattern_matches() {
        assert_eq!(
            target_of(".a.b.c.json.0123456789abcdef.tmp"),
            Some("a.b.c.json")
        );
        assert_eq!(target_of("..env.0123456789abcdef.tmp"), Some(".env"));
        for other in [
            "a.json",
            ".a.json.tmp",
            ".a.json.0123.tmp",
            ".a.json.0123456789abcdeg.tmp",
            "x.a.json.0123456789abcdef.tmp",
            "..0123456789abcdef.tmp",
        ] {
            assert_eq!(target_of(other), None, "{other}");
        }
    }

    #[test]
    fn a_locked_temp_file_is_kept_and_an_abandoned_one_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.json");
        let (live, live_path) = create(&target, 0o600).unwrap();
        let (dead, dead_path) = create(&target, 0o600).unwrap();
        drop(dead); // its writer "died": the lock is gone
        std::fs::write(dir.path().join(".b.json.0123456789abcdef.tmp.keep"), "x").unwrap();
        assert_eq!(sweep_for(&target), 1);
        assert!(live_path.exists(), "a live writer's file was removed");
        assert!(!dead_path.exists());
        drop(live);
        assert_eq!(sweep(dir.path(), |t| t.ends_with(".json")), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
