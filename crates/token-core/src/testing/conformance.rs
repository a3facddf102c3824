use std::sync::Arc;

use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::error::StoreError;
use crate::key::{AccountKey, Environment};
use crate::record::{Metadata, Record, SecretFields, StoredRecord};
use crate::store::TokenStore;

fn key(label: &str) -> AccountKey {
    AccountKey::new("conformance", Environment::Sandbox, label).expect("valid key")
}

fn record(label: &str, version: u32) -> StoredRecord {
    let mut fields = SecretFields::new();
    // Two fields that must always match: a torn write would mix versions.
    fields.insert(
        "access_token",
        SecretString::from(format!("access-{version}")),
    );
    fields.insert(
        "token_secret",
        SecretString::from(format!("secret-{version}")),
    );
    let issued = Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("valid time")
        + chrono::Duration::seconds(i64::from(version));
    let mut meta = Metadata::issued(issued);
    meta.expires_at = Some(issued + chrono::Duration::hours(8));
    Record::new(key(label), meta, fields)
}

fn version_of(r: &StoredRecord) -> u32 {
    let a = r.payload.get("access_token").expect("access_token field");
    let s = r.payload.get("token_secret").expect("token_secret field");
    let va = a.expose_secret().trim_start_matches("access-");
    let vs = s.expose_secret().trim_start_matches("secret-");
    assert_eq!(va, vs, "torn record: fields from different saves");
    va.parse().expect("numeric version")
}

/// Runs the conformance suite against `store`, panicking with a description
/// of the first violation. Uses keys under broker `conformance`; give it a
/// store that holds nothing else under that broker.
///
/// Checks: missing key, round trip (payload and metadata), overwrite, delete,
/// list, concurrent saves never tearing, and rejection of an unknown schema
/// version without damage to the stored record.
pub async fn store_conformance(store: Arc<dyn TokenStore>) {
    // Missing key.
    assert!(
        store
            .load(&key("missing"))
            .await
            .expect("load missing")
            .is_none(),
        "missing key must load as None"
    );
    assert!(!store.delete(&key("missing")).await.expect("delete missing"));

    // Round trip.
    let r1 = record("roundtrip", 1);
    store.save(&r1).await.expect("save");
    let back = store.load(&r1.key).await.expect("load").expect("present");
    assert_eq!(back.key, r1.key);
    assert_eq!(back.meta, r1.meta, "metadata must round-trip");
    assert!(back.payload == r1.payload, "payload must round-trip");
    assert_eq!(back.schema_version, r1.schema_version);

    // Overwrite.
    let r2 = record("roundtrip", 2);
    store.save(&r2).await.expect("overwrite");
    let back = store.load(&r2.key).await.expect("load").expect("present");
    assert_eq!(version_of(&back), 2, "overwrite must replace");

    // List.
    store.save(&record("listed", 1)).await.expect("save listed");
    let keys = store.list().await.expect("list");
    assert!(
        keys.contains(&key("roundtrip")) && keys.contains(&key("listed")),
        "list: {keys:?}"
    );

    // Delete.
    assert!(store.delete(&key("listed")).await.expect("delete"));
    assert!(store
        .load(&key("listed"))
        .await
        .expect("load deleted")
        .is_none());
    assert!(!store.list().await.expect("list").contains(&key("listed")));

    // Unknown schema version: rejected, and the stored record is untouched.
    let mut future = record("roundtrip", 3);
    future.schema_version = crate::record::SCHEMA_VERSION + 1;
    let err = store
        .save(&future)
        .await
        .expect_err("unknown schema version must be rejected");
    assert!(
        matches!(err, StoreError::UnsupportedVersion { .. }),
        "got {err:?}"
    );
    let back = store
        .load(&key("roundtrip"))
        .await
        .expect("load")
        .expect("present");
    assert_eq!(version_of(&back), 2);

    // Concurrent saves and loads: every load sees one whole record.
    let mut tasks = Vec::new();
    for v in 10..60u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .save(&record("race", v))
                .await
                .expect("concurrent save");
            if let Some(r) = store.load(&key("race")).await.expect("concurrent load") {
                let got = version_of(&r);
                assert!((10..60).contains(&got));
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let last = store
        .load(&key("race"))
        .await
        .expect("load")
        .expect("present");
    assert!((10..60).contains(&version_of(&last)));
    for label in ["roundtrip", "race"] {
        store.delete(&key(label)).await.expect("cleanup");
    }
}
