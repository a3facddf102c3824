//! Issue 14 item 8: temp files that killed writers left behind hold secrets.
//! A store removes its own abandoned ones when it opens, at once, but never
//! one a live writer in another process is still writing, and never a file
//! that does not follow its temp-name pattern.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use token_core::store::{EnvFileStore, FileStore, TokenStore};
use token_core::{AccountKey, Environment};

const CHILD_ENV: &str = "TOKEN_CORE_TEMP_WRITER_CHILD";
const SECRET: &[u8] = b"S3cr3t-HalfWritten-Tk8Qz3-7710";

/// Child mode: create the temp file named in `CHILD_ENV`, lock it the way a
/// saving writer does, write half a record, say so, and wait to be killed.
#[test]
fn temp_writer_child_entry() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // not a child
    };
    let mut f = std::fs::File::create_new(&path).unwrap();
    f.lock().unwrap();
    f.write_all(SECRET).unwrap();
    println!("writing");
    std::thread::sleep(std::time::Duration::from_secs(600));
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A writer child, killed when dropped (also when an assertion fails).
struct Writer(std::process::Child);

impl Writer {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a child writing `path`, returns once its lock is held.
fn live_writer(path: &Path) -> Writer {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "temp_writer_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines.map_while(Result::ok).any(|l| l.contains("writing"));
    let writer = Writer(child);
    assert!(started, "the writer child did not start");
    writer
}

#[test]
fn file_store_open_removes_abandoned_temp_files_but_not_a_live_writers() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    FileStore::open(&tokens).unwrap();
    let abandoned = [
        ".fyers.production.main.json.00000000deadbeef.tmp",
        "..login-fyers.production.main.json.0123456789abcdef.tmp",
    ];
    for name in abandoned {
        std::fs::write(tokens.join(name), SECRET).unwrap();
    }
    let not_ours = [".notes.txt.0123456789abcdef.tmp", "scratch.tmp"];
    for name in not_ours {
        std::fs::write(tokens.join(name), "operator's").unwrap();
    }
    let live = ".fyers.production.other.json.feedfacecafebeef.tmp";
    let mut writer = live_writer(&tokens.join(live));

    FileStore::open(&tokens).unwrap();
    let mut expected: Vec<String> = not_ours.iter().map(|s| s.to_string()).collect();
    expected.push(live.to_string());
    expected.sort();
    assert_eq!(
        names(&tokens),
        expected,
        "abandoned removed, live and foreign kept"
    );
    assert_eq!(std::fs::read(tokens.join(live)).unwrap(), SECRET);

    writer.kill();
    FileStore::open(&tokens).unwrap();
    let mut expected: Vec<String> = not_ours.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        names(&tokens),
        expected,
        "the killed writer's file is abandoned now"
    );
}

#[tokio::test]
async fn env_file_store_removes_its_abandoned_temp_files_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "OTHER=1\n").unwrap();
    std::fs::write(dir.path().join("..env.00000000deadbeef.tmp"), SECRET).unwrap();
    std::fs::write(dir.path().join("..envrc.00000000deadbeef.tmp"), "not ours").unwrap();
    let key = AccountKey::new("fyers", Environment::Production, "main").unwrap();
    assert!(EnvFileStore::new(&path).load(&key).await.unwrap().is_none());
    assert_eq!(
        names(dir.path()),
        vec!["..envrc.00000000deadbeef.tmp", ".env"]
    );
}
