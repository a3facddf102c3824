//! Invariant 3: a store never holds a torn or half-written record, after any
//! crash.
//!
//! A child process (this test binary, re-executed in "child mode") saves
//! numbered records in a loop through [`FileStore`] or [`EnvFileStore`] and
//! acknowledges each completed save on stdout. The parent kills it with
//! SIGKILL at a random moment, then loads the record: it must be the last
//! acknowledged one or the one being written (never torn, never missing,
//! never older), and everything else in the file must have survived.
//!
//! `CRASH_KILLS=<n>` (default 200 per store) runs a longer campaign.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::store::{EnvFileStore, FileStore, TokenStore};
use token_core::{AccountKey, Environment, Metadata, Record, SecretFields, StoredRecord};

/// Set in the child: `file:<dir>` or `env:<path>`.
const CHILD_ENV: &str = "TOKEN_CORE_CRASH_CHILD";
/// Padding per field so a save spans many pages and a torn write would show.
const PAD: usize = 24 * 1024;

fn key() -> AccountKey {
    AccountKey::new("crash", Environment::Production, "main").unwrap()
}

fn bystander_key() -> AccountKey {
    AccountKey::new("crash", Environment::Sandbox, "other").unwrap()
}

/// Record number `n`: every field and the metadata encode `n`, so a mix of
/// two saves is detectable.
fn record(key: AccountKey, n: u64) -> StoredRecord {
    let mut f = SecretFields::new();
    let pad = format!("{n:08}").repeat(PAD / 8);
    f.insert("access_token", SecretString::from(format!("a{n}-{pad}")));
    f.insert("token_secret", SecretString::from(format!("s{n}-{pad}")));
    f.insert("serial", SecretString::from(n.to_string()));
    let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut meta = Metadata::issued(base + Duration::seconds(n as i64));
    meta.renewed_at = Some(base + Duration::seconds(n as i64 + 1));
    Record::new(key, meta, f)
}

/// The record's number, after checking that every part agrees on it.
fn number_of(r: &StoredRecord) -> Result<u64, String> {
    let field = |name: &str| {
        r.payload
            .get(name)
            .map(|v| v.expose_secret().to_owned())
            .ok_or_else(|| format!("field {name} missing"))
    };
    let n: u64 = field("serial")?
        .parse()
        .map_err(|e| format!("serial: {e}"))?;
    let want = record(r.key.clone(), n);
    for name in ["access_token", "token_secret"] {
        if field(name)? != want.payload.get(name).unwrap().expose_secret() {
            return Err(format!("field {name} does not belong to record {n}: torn"));
        }
    }
    if r.meta != want.meta {
        return Err(format!("metadata does not belong to record {n}: torn"));
    }
    Ok(n)
}

fn open(spec: &str) -> Box<dyn TokenStore> {
    match spec.split_once(':') {
        Some(("file", dir)) => Box::new(FileStore::open(dir).unwrap()),
        Some(("env", path)) => Box::new(EnvFileStore::new(path)),
        _ => panic!("bad child spec {spec}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Child mode: continue from the stored record, save n+1, n+2, ... forever,
/// printing `saved <n>` after each save returns.
#[test]
fn crash_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // not a child: nothing to do
    };
    runtime().block_on(async {
        let store = open(&spec);
        let mut n = match store.load(&key()).await {
            Ok(Some(r)) => number_of(&r).unwrap(),
            Ok(None) => 0,
            Err(e) => panic!("child cannot load: {e}"),
        };
        loop {
            n += 1;
            store.save(&record(key(), n)).await.unwrap();
            println!("saved {n}");
        }
    });
}

fn kills() -> usize {
    std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// The number in a `saved <n>` line (the test harness may print its own
/// text before it on the same line). Stdout is line-buffered, so each line
/// reaches the pipe in one write (atomic below `PIPE_BUF`): a kill cannot
/// leave half a number behind.
fn acknowledged(line: &str) -> Option<u64> {
    let (_, n) = line.rsplit_once("saved ")?;
    n.trim().parse().ok()
}

struct Campaign {
    kills: usize,
    saves: u64,
    in_flight_seen: usize,
    elapsed: StdDuration,
}

/// Runs `kills` child lifetimes against `spec`, checking after each with `check`.
fn campaign(spec: &str, kills: usize, check: impl Fn()) -> Campaign {
    let rt = runtime();
    let store = open(spec);
    let started = Instant::now();
    let mut acked = 0u64;
    let mut in_flight_seen = 0;
    for round in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait for the first completed save, then kill at a random moment
        // during the next ones.
        let mut last = None;
        for line in lines.by_ref() {
            if let Some(n) = acknowledged(&line.unwrap()) {
                last = Some(n);
                break;
            }
        }
        let Some(first) = last else {
            let out = child.wait_with_output().unwrap();
            panic!(
                "round {round}: child saved nothing: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        assert_eq!(
            first,
            acked + 1,
            "round {round}: child resumed from the wrong record"
        );
        std::thread::sleep(StdDuration::from_micros(rand::random_range(0..3_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(n) = acknowledged(&line) {
                last = Some(n);
            }
        }
        acked = last.unwrap();
        let loaded = rt
            .block_on(store.load(&key()))
            .unwrap_or_else(|e| panic!("round {round}: record unreadable after kill: {e}"))
            .unwrap_or_else(|| panic!("round {round}: record missing after kill"));
        let n = number_of(&loaded).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            n == acked || n == acked + 1,
            "round {round}: loaded record {n}, but {acked} was acknowledged"
        );
        if n == acked + 1 {
            // The kill landed after the rename but before the acknowledgement.
            in_flight_seen += 1;
        }
        acked = n;
        check();
    }
    Campaign {
        kills,
        saves: acked,
        in_flight_seen,
        elapsed: started.elapsed(),
    }
}

fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count()
}

#[test]
fn file_store_record_survives_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    let spec = format!("file:{}", tokens.display());
    let store = FileStore::open(&tokens).unwrap();
    let rt = runtime();
    rt.block_on(store.save(&record(bystander_key(), 7)))
        .unwrap();
    let result = campaign(&spec, kills(), || {
        let other = rt.block_on(store.load(&bystander_key())).unwrap().unwrap();
        assert_eq!(
            number_of(&other).unwrap(),
            7,
            "another account's record changed"
        );
    });
    eprintln!(
        "FileStore: {} kills, {} saves, {} kills between rename and ack, {} leftover temp files, {:?}",
        result.kills,
        result.saves,
        result.in_flight_seen,
        temp_files(&tokens),
        result.elapsed
    );
    assert!(result.saves >= result.kills as u64);
    // Temp files of killed saves hold secrets. Each child removed those of
    // the children before it when it opened the store: at most the last
    // kill's is left, and opening the store again removes it at once (no
    // waiting for it to age).
    let left = temp_files(&tokens);
    assert!(left <= 1, "{left} temp files pile up");
    FileStore::open(&tokens).unwrap();
    assert_eq!(temp_files(&tokens), 0, "abandoned temp files were kept");
    assert_eq!(
        rt.block_on(store.list()).unwrap(),
        {
            let mut keys = vec![key(), bystander_key()];
            keys.sort();
            keys
        },
        "temp files must never be listed as accounts"
    );
}

#[test]
fn env_file_store_record_and_neighbours_survive_sigkill_at_any_moment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let header = "# my trading bot\nexport BOT_MODE=live # keep me\nOTHER='untouched value'\n";
    std::fs::write(&path, header).unwrap();
    let spec = format!("env:{}", path.display());
    let store = EnvFileStore::new(&path);
    let rt = runtime();
    rt.block_on(store.save(&record(bystander_key(), 7)))
        .unwrap();
    let result = campaign(&spec, kills(), || {
        let other = rt.block_on(store.load(&bystander_key())).unwrap().unwrap();
        assert_eq!(
            number_of(&other).unwrap(),
            7,
            "another account's record changed"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(header), "unrelated lines were lost");
    });
    eprintln!(
        "EnvFileStore: {} kills, {} saves, {} kills between rename and ack, {} leftover temp files, {:?}",
        result.kills,
        result.saves,
        result.in_flight_seen,
        temp_files(dir.path()),
        result.elapsed
    );
    assert!(result.saves >= result.kills as u64);
    // Each child's first access, and each save, removes the temp files of
    // saves killed before it: at most the last kill's is left, and the next
    // store to touch the file removes it.
    assert!(temp_files(dir.path()) <= 1, "temp files pile up");
    rt.block_on(EnvFileStore::new(&path).load(&key())).unwrap();
    assert_eq!(temp_files(dir.path()), 0, "abandoned temp files were kept");
}
