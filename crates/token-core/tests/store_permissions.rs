//! Issue 14 item 7: symbolic links and permissions. Each test plants what
//! another local user could plant, and checks that the store refuses it with
//! a typed error, loads nothing foreign and writes nothing outside.
#![cfg(unix)]

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::store::{read_private_file, write_private_file, EnvFileStore, FileStore};
use token_core::{AccountKey, Environment, Metadata, Record, SecretFields, StoreError, TokenStore};

const OURS: &str = "S3cr3t-Ours-Zq9vKx-5521";
const PLANTED: &str = "S3cr3t-Planted-Wm4Hc7-0093";

fn key(label: &str) -> AccountKey {
    AccountKey::new("fyers", Environment::Production, label).unwrap()
}

fn record(label: &str, token: &str) -> token_core::StoredRecord {
    let mut f = SecretFields::new();
    f.insert("access_token", SecretString::from(token.to_string()));
    Record::new(
        key(label),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 5, 4, 3, 0, 0).unwrap()),
        f,
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn token_of(r: &token_core::StoredRecord) -> String {
    r.payload
        .get("access_token")
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// A record file of `label` with `token`, written outside any store.
fn outside_record(dir: &Path, label: &str, token: &str) -> std::path::PathBuf {
    let path = dir.join("outside.json");
    std::fs::write(&path, serde_json::to_vec(&record(label, token)).unwrap()).unwrap();
    path
}

fn assert_insecure(result: Result<impl std::fmt::Debug, StoreError>, what: &str) -> String {
    match result {
        Err(e @ StoreError::Insecure { .. }) => e.to_string(),
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_store_directory_writable_by_group_or_others_is_refused_with_how_to_fix_it() {
    let base = tempfile::tempdir().unwrap();
    for (bits, who) in [
        (0o777, "its group and every user"),
        (0o703, "every user"),
        (0o770, "its group"),
    ] {
        let dir = base.path().join(format!("tokens-{bits:o}"));
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, bits);
        let message = assert_insecure(FileStore::open(&dir), "FileStore::open");
        assert!(message.contains(who), "{message}");
        assert!(
            message.contains("chmod go-w"),
            "says how to fix it: {message}"
        );
        // Refused, not repaired behind the operator's back.
        assert_eq!(mode(&dir), bits);
        chmod(&dir, 0o700);
        FileStore::open(&dir).expect("a private directory is fine");
    }
}

#[tokio::test]
async fn an_env_file_in_a_directory_others_can_write_is_refused_and_left_alone() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("app");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join(".env");
    std::fs::write(&path, "OTHER=1\n").unwrap();
    chmod(&dir, 0o777);
    let store = EnvFileStore::new(&path);
    assert_insecure(store.load(&key("main")).await, "load");
    assert_insecure(store.save(&record("main", OURS)).await, "save");
    assert_insecure(store.list().await, "list");
    let lease = store
        .lease(&key("main"), Duration::from_secs(1), Duration::ZERO)
        .await;
    assert_insecure(lease.map(|l| l.is_some()), "lease");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "OTHER=1\n");
    chmod(&dir, 0o700);
}

#[tokio::test]
async fn a_symlink_planted_in_place_of_a_record_is_refused_not_loaded() {
    let base = tempfile::tempdir().unwrap();
    let outside = outside_record(base.path(), "main", PLANTED);
    let before = std::fs::read(&outside).unwrap();
    let store = FileStore::open(base.path().join("tokens")).unwrap();
    symlink(&outside, store.path_of(&key("main"))).unwrap();

    let message = assert_insecure(store.load(&key("main")).await, "load");
    assert!(message.contains("symbolic link"), "{message}");
    assert!(!message.contains(PLANTED));
    assert!(store.save(&record("main", OURS)).await.is_err());
    assert!(
        !store.list().await.unwrap().contains(&key("main")),
        "a link is never listed as an account"
    );
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        before,
        "the target was written"
    );
}

#[tokio::test]
async fn a_symlinked_lock_file_is_refused_and_its_target_untouched() {
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    chmod(&victim, 0o644);

    let store = FileStore::open(base.path().join("tokens")).unwrap();
    symlink(&victim, store.dir().join(".fyers.production.main.lock")).unwrap();
    let lease = store
        .lease(&key("main"), Duration::from_secs(1), Duration::ZERO)
        .await;
    assert_insecure(lease.map(|l| l.is_some()), "FileStore lease");

    let env_dir = base.path().join("app");
    std::fs::create_dir(&env_dir).unwrap();
    chmod(&env_dir, 0o700);
    let env = env_dir.join(".env");
    symlink(&victim, env_dir.join(".env.lock")).unwrap();
    let store = EnvFileStore::new(&env);
    assert_insecure(store.save(&record("main", OURS)).await, "EnvFileStore save");
    symlink(&victim, env_dir.join(".env.fyers.production.main.lock")).unwrap();
    let lease = store
        .lease(&key("main"), Duration::from_secs(1), Duration::ZERO)
        .await;
    assert_insecure(lease.map(|l| l.is_some()), "EnvFileStore lease");

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    assert!(!env.exists());
}

#[tokio::test]
async fn an_env_file_that_is_a_symlink_is_refused_and_its_target_untouched() {
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("elsewhere.env");
    let text = format!("FYERS_ACCESS_TOKEN={PLANTED}\n");
    std::fs::write(&victim, &text).unwrap();
    let app = base.path().join("app");
    std::fs::create_dir(&app).unwrap();
    chmod(&app, 0o700);
    let path = app.join(".env");
    symlink(&victim, &path).unwrap();
    let store = EnvFileStore::new(&path);
    assert_insecure(store.load(&key("main")).await, "load");
    assert_insecure(store.save(&record("main", OURS)).await, "save");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), text);
}

#[tokio::test]
async fn a_file_holding_another_accounts_record_is_never_overwritten() {
    let base = tempfile::tempdir().unwrap();
    let store = FileStore::open(base.path().join("tokens")).unwrap();
    store.save(&record("other", PLANTED)).await.unwrap();
    // Someone copies (or an old bug wrote) `other`'s record under `main`'s name.
    let foreign = std::fs::read(store.path_of(&key("other"))).unwrap();
    std::fs::write(store.path_of(&key("main")), &foreign).unwrap();

    let err = store.save(&record("main", OURS)).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::WouldOverwrite { reason, .. }
            if reason.contains("fyers/production/other")),
        "{err}"
    );
    assert_eq!(std::fs::read(store.path_of(&key("main"))).unwrap(), foreign);
    assert!(matches!(
        store.load(&key("main")).await,
        Err(StoreError::Corrupt { .. })
    ));
    let other = store.load(&key("other")).await.unwrap().unwrap();
    assert_eq!(token_of(&other), PLANTED);
}

#[test]
fn a_private_file_replaces_a_0644_file_with_a_0600_one() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("tokens");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let path = dir.join(".login-fyers.production.main.json");
    std::fs::write(&path, "old").unwrap();
    chmod(&path, 0o644);
    write_private_file(&path, OURS.as_bytes()).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(read_private_file(&path).unwrap().unwrap(), OURS.as_bytes());
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(names.len(), 1, "no temp file left: {names:?}");
}

#[test]
fn a_private_file_never_writes_through_a_planted_symlink() {
    let base = tempfile::tempdir().unwrap();
    let victim = base.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    chmod(&victim, 0o644);
    let dir = base.path().join("tokens");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o700);
    let path = dir.join(".login-fyers.production.main.json");
    symlink(&victim, &path).unwrap();

    assert_insecure(read_private_file(&path), "read through a link");
    write_private_file(&path, OURS.as_bytes()).unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode(&victim), 0o644);
    assert!(!std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_private_file_is_refused_in_a_directory_others_can_write() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    chmod(&dir, 0o777);
    let path = dir.join(".login.json");
    assert_insecure(write_private_file(&path, b"x"), "write");
    assert!(!path.exists());
    chmod(&dir, 0o700);
    // A missing directory is created private.
    let fresh = base.path().join("new").join("tokens").join(".login.json");
    write_private_file(&fresh, b"x").unwrap();
    assert_eq!(mode(fresh.parent().unwrap()), 0o700);
}
