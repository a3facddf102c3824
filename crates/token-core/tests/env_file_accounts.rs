//! Issue 14 item 9: several accounts in one `.env` file. Each owns exactly
//! the variables its mapping names; accounts that could write the same
//! variable are refused with both names; a variable the store did not write
//! is never read, changed or removed.

use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::store::{EnvFileStore, EnvMapping, TokenStore};
use token_core::{
    AccountKey, Environment, Metadata, Record, SecretFields, StoreError, StoredRecord,
};

fn key(label: &str) -> AccountKey {
    AccountKey::new("fyers", Environment::Production, label).unwrap()
}

fn record(label: &str, access: &str, refresh: &str) -> StoredRecord {
    let mut f = SecretFields::new();
    f.insert("access_token", SecretString::from(access.to_string()));
    f.insert("refresh_token", SecretString::from(refresh.to_string()));
    Record::new(
        key(label),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 5, 4, 3, 0, 0).unwrap()),
        f,
    )
}

fn field(r: &StoredRecord, name: &str) -> Option<String> {
    r.payload.get(name).map(|v| v.expose_secret().to_owned())
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn saving_main_never_touches_main_x_or_the_operators_own_variables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "FYERS_PRODUCTION_MAIN_NOTE=desk 4, ask Priya\n").unwrap();
    let store = EnvFileStore::new(&path);
    store
        .save(&record("main_x", "S3cr3t-X-Acc-Jq2", "S3cr3t-X-Ref-Jq2"))
        .await
        .unwrap();
    store
        .save(&record("main", "S3cr3t-M-Acc-Vb8", "S3cr3t-M-Ref-Vb8"))
        .await
        .unwrap();
    // A second save of main (e.g. after a renewal without a new refresh
    // token) drops only main's own variable.
    let mut renewed = record("main", "S3cr3t-M-Acc-2", "unused");
    renewed.payload = {
        let mut f = SecretFields::new();
        f.insert(
            "access_token",
            SecretString::from("S3cr3t-M-Acc-2".to_string()),
        );
        f
    };
    store.save(&renewed).await.unwrap();

    let text = lines(&path);
    for kept in [
        "FYERS_PRODUCTION_MAIN_NOTE=desk 4, ask Priya",
        "FYERS_PRODUCTION_MAIN_X_ACCESS_TOKEN=S3cr3t-X-Acc-Jq2",
        "FYERS_PRODUCTION_MAIN_X_REFRESH_TOKEN=S3cr3t-X-Ref-Jq2",
    ] {
        assert!(text.iter().any(|l| l == kept), "{kept} lost: {text:?}");
    }
    assert!(text
        .iter()
        .any(|l| l.starts_with("FYERS_PRODUCTION_MAIN_X_META=")));
    assert!(!text
        .iter()
        .any(|l| l.starts_with("FYERS_PRODUCTION_MAIN_REFRESH_TOKEN=")));

    let x = store.load(&key("main_x")).await.unwrap().unwrap();
    assert_eq!(
        field(&x, "access_token").as_deref(),
        Some("S3cr3t-X-Acc-Jq2")
    );
    let main = store.load(&key("main")).await.unwrap().unwrap();
    assert_eq!(
        field(&main, "access_token").as_deref(),
        Some("S3cr3t-M-Acc-2")
    );
    assert_eq!(
        main.payload.len(),
        1,
        "main loaded someone else's variables"
    );
    assert_eq!(
        store.list().await.unwrap(),
        vec![key("main"), key("main_x")]
    );

    assert!(store.delete(&key("main")).await.unwrap());
    let text = lines(&path);
    assert!(text.contains(&"FYERS_PRODUCTION_MAIN_NOTE=desk 4, ask Priya".to_string()));
    assert_eq!(
        text.iter()
            .filter(|l| l.starts_with("FYERS_PRODUCTION_MAIN_X_"))
            .count(),
        3
    );
    assert!(store.load(&key("main")).await.unwrap().is_none());
}

#[tokio::test]
async fn with_only_main_x_saved_main_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let store = EnvFileStore::new(&path);
    store
        .save(&record("main_x", "S3cr3t-X-Acc-Lp5", "S3cr3t-X-Ref-Lp5"))
        .await
        .unwrap();
    assert!(store.load(&key("main")).await.unwrap().is_none());
    assert!(!store.delete(&key("main")).await.unwrap());
    assert!(store.load(&key("main_x")).await.unwrap().is_some());
}

#[tokio::test]
async fn labels_differing_only_by_case_or_dash_are_refused_naming_both() {
    let store = EnvFileStore::new("unused.env");
    for (a, b) in [("main", "MAIN"), ("ma-in", "ma_in")] {
        let err = store.check_accounts([&key(a), &key(b)]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Config(_)), "{text}");
        assert!(
            text.contains(&key(a).to_string()) && text.contains(&key(b).to_string()),
            "{text}"
        );
    }
    store
        .check_accounts([&key("main"), &key("main_x"), &key("backup")])
        .expect("distinct variable names");

    // Without the configuration check, a save refuses instead of overwriting.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let store = EnvFileStore::new(&path);
    store
        .save(&record("ma-in", "S3cr3t-Dash-Nw3", "S3cr3t-Dash-R"))
        .await
        .unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    let err = store
        .save(&record("ma_in", "S3cr3t-Under-Nw3", "S3cr3t-Under-R"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("fyers/production/ma-in") && text.contains("fyers/production/ma_in"),
        "{text}"
    );
    assert!(!text.contains("S3cr3t"), "{text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    assert!(matches!(
        store.load(&key("ma_in")).await,
        Err(StoreError::Config(_))
    ));
    let dash = store.load(&key("ma-in")).await.unwrap().unwrap();
    assert_eq!(
        field(&dash, "access_token").as_deref(),
        Some("S3cr3t-Dash-Nw3")
    );
}

#[tokio::test]
async fn an_explicit_mapping_never_shares_a_variable_with_another_account() {
    let explicit = EnvMapping::explicit("DESK_META")
        .field("access_token", "FYERS_PRODUCTION_MAIN_ACCESS_TOKEN");
    let store = EnvFileStore::new("unused.env").with_mapping(key("desk"), explicit.clone());
    let err = store.check_accounts([&key("main")]).unwrap_err();
    assert!(
        err.to_string().contains("fyers/production/desk")
            && err.to_string().contains("fyers/production/main"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let store = EnvFileStore::new(&path).with_mapping(key("desk"), explicit);
    let err = store
        .save(&record("main", "S3cr3t-M-Hh6", "S3cr3t-R-Hh6"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err}");
    assert!(
        err.to_string()
            .contains("FYERS_PRODUCTION_MAIN_ACCESS_TOKEN"),
        "{err}"
    );
    assert!(!path.exists());
}
