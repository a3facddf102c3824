//! `DirPendingLogins`: the login in progress beside a file store, 0600,
//! never read or written through a symbolic link, refused in a directory
//! others can write.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;

use token_core::store::{DirPendingLogins, PendingLogins};
use token_core::{
    AccountKey, AuthorizationRequest, Environment, Expects, SecretFields, StoreError,
};

fn key() -> AccountKey {
    AccountKey::new("demo", Environment::Sandbox, "main").unwrap()
}

fn request() -> AuthorizationRequest {
    let mut pending = SecretFields::new();
    pending.insert(
        "request_token_secret",
        secrecy::SecretString::from("S3cr3t-Qw7Zp-pending"),
    );
    AuthorizationRequest {
        key: key(),
        url: "https://broker.invalid/authorize?token=Rt-4Kx".into(),
        expects: Expects::Verifier,
        instructions: "log in, then bring back the code".into(),
        expires_at: None,
        pending,
    }
}

#[tokio::test]
async fn written_0600_read_back_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let logins = DirPendingLogins::new(dir.path().join("tokens"));
    logins.save(&request()).await.unwrap();
    let path = logins.path(&key());
    assert_eq!(path.file_name().unwrap(), ".login-demo.sandbox.main.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        logins.load(&key()).await.unwrap().unwrap().url,
        request().url
    );
    assert!(logins.remove(&key()).await.unwrap());
    assert!(logins.load(&key()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_symbolic_link_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let logins = DirPendingLogins::new(dir.path());
    let target = dir.path().join("elsewhere.json");
    std::fs::write(&target, serde_json::to_vec(&request()).unwrap()).unwrap();
    std::os::unix::fs::symlink(&target, logins.path(&key())).unwrap();
    let err = logins.load(&key()).await.unwrap_err();
    assert!(!err.to_string().contains("S3cr3t"), "{err}");
    // Saving replaces the link; the link's target is left untouched.
    let before = std::fs::read(&target).unwrap();
    logins.save(&request()).await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert!(!std::fs::symlink_metadata(logins.path(&key()))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[tokio::test]
async fn a_directory_others_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let logins = DirPendingLogins::new(&open);
    let err = logins.save(&request()).await.unwrap_err();
    assert!(matches!(err, StoreError::Insecure { .. }), "{err:?}");
    let err = logins.load(&key()).await.unwrap_err();
    assert!(matches!(err, StoreError::Insecure { .. }), "{err:?}");
}

#[tokio::test]
async fn another_accounts_request_in_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let logins = DirPendingLogins::new(dir.path());
    let other = AccountKey::new("demo", Environment::Sandbox, "other").unwrap();
    let mut foreign = request();
    foreign.key = other;
    std::fs::write(logins.path(&key()), serde_json::to_vec(&foreign).unwrap()).unwrap();
    let err = logins.load(&key()).await.unwrap_err();
    assert!(err.to_string().contains("not demo/sandbox/main"), "{err}");
}
