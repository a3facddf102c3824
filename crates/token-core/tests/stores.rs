//! Every store passes the conformance suite; file-specific guarantees.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::store::{EnvFileStore, EnvMapping, FileStore, MemoryStore, TokenStore};
use token_core::testing::store_conformance;
use token_core::{AccountKey, Environment, Metadata, Record, SecretFields, StoreError};

fn key() -> AccountKey {
    AccountKey::new("fyers", Environment::Production, "main").unwrap()
}

fn record(token: &str) -> token_core::StoredRecord {
    let mut f = SecretFields::new();
    f.insert("access_token", SecretString::from(token.to_string()));
    f.insert("refresh_token", SecretString::from(format!("r-{token}")));
    Record::new(
        key(),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 5, 4, 3, 0, 0).unwrap()),
        f,
    )
}

#[tokio::test]
async fn memory_store_conforms() {
    store_conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    store_conformance(Arc::new(
        FileStore::open(dir.path().join("tokens")).unwrap(),
    ))
    .await;
}

#[tokio::test]
async fn env_file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    store_conformance(Arc::new(EnvFileStore::new(dir.path().join(".env")))).await;
}

#[cfg(unix)]
#[tokio::test]
async fn file_store_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path().join("tokens")).unwrap();
    store.save(&record("a")).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(&store.path_of(&key())), 0o600);
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[tokio::test]
async fn corrupt_file_is_typed_error_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of(&key());
    std::fs::write(
        &path,
        b"{\"schema_version\":1,\"key\":{\"broker\":\"fyers\"",
    )
    .unwrap();
    let err = store.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = store.save(&record("new")).await.unwrap_err();
    assert!(matches!(err, StoreError::WouldOverwrite { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"{\"schema_version\":1,\"key\":{\"broker\":\"fyers\""
    );
}

#[tokio::test]
async fn future_schema_file_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let path = store.path_of(&key());
    let future = r#"{"schema_version":2,"whatever":"new format"}"#;
    std::fs::write(&path, future).unwrap();
    let err = store.load(&key()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 2, .. }),
        "{err:?}"
    );
    assert!(store.save(&record("x")).await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), future);
}

#[tokio::test]
async fn env_file_keeps_comments_order_and_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        "# my bot\nDB_URL=postgres://x\nFYERS_ACCESS_TOKEN=old\n\n# tail comment\nexport LOG=debug\n",
    )
    .unwrap();
    let mapping = EnvMapping::explicit("FYERS_TOKEN_META")
        .field("access_token", "FYERS_ACCESS_TOKEN")
        .field("refresh_token", "FYERS_REFRESH_TOKEN");
    let store = EnvFileStore::new(&path).with_mapping(key(), mapping);

    // A hand-written file (no metadata) loads as an imported record.
    let imported = store.load(&key()).await.unwrap().unwrap();
    assert_eq!(
        imported
            .payload
            .get("access_token")
            .unwrap()
            .expose_secret(),
        "old"
    );
    assert!(imported.payload.get("refresh_token").is_none());

    store.save(&record("new")).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..6],
        &[
            "# my bot",
            "DB_URL=postgres://x",
            "FYERS_ACCESS_TOKEN=new",
            "",
            "# tail comment",
            "export LOG=debug"
        ]
    );
    assert!(lines[6..].contains(&"FYERS_REFRESH_TOKEN=r-new"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("FYERS_TOKEN_META=")));
    let back = store.load(&key()).await.unwrap().unwrap();
    assert_eq!(
        back.payload.get("refresh_token").unwrap().expose_secret(),
        "r-new"
    );
    assert_eq!(store.list().await.unwrap(), vec![key()]);

    assert!(store.delete(&key()).await.unwrap());
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "# my bot\nDB_URL=postgres://x\n\n# tail comment\nexport LOG=debug\n"
    );
}

/// Issue 14 item 10 changed this: a line the parser does not understand is
/// kept untouched and no longer makes the whole file unusable. What is still
/// never overwritten: a file that is not text, and a file where a line this
/// store does not understand assigns one of the account's variables.
#[tokio::test]
async fn unparseable_env_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let binary = b"GOOD=1\n\xff\xfe broken\n".to_vec();
    std::fs::write(&path, &binary).unwrap();
    let store = EnvFileStore::new(&path);
    assert!(matches!(
        store.load(&key()).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.save(&record("x")).await,
        Err(StoreError::WouldOverwrite { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), binary);

    let ours = "GOOD=1\nFYERS_PRODUCTION_MAIN_ACCESS_TOKEN=\"unterminated\n";
    std::fs::write(&path, ours).unwrap();
    let err = store.save(&record("x")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::WouldOverwrite { reason, .. } if reason.contains("line 2")),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), ours);
}
