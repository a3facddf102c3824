//! One maintenance owner per account (issue 13 item 2), in-process: two
//! "daemons" (two store handles over one directory, one `.env` file or one
//! memory store) cannot both claim an account; the second is told who holds
//! it, and a standby takes over once the first lets go.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use token_core::store::{
    wait_for_claim, ClaimAttempt, EnvFileStore, FileStore, MemoryStore, OwnerClaim, OwnerClaims,
    OwnerInfo,
};
use token_core::{AccountKey, Environment, StoreError};

fn key(label: &str) -> AccountKey {
    AccountKey::new("etrade", Environment::Sandbox, label).unwrap()
}

fn owner(pid: u32) -> OwnerInfo {
    OwnerInfo {
        pid,
        host: "desk-7.example".into(),
        started: Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap(),
    }
}

async fn claimed(
    claims: &dyn OwnerClaims,
    key: &AccountKey,
    me: &OwnerInfo,
) -> Box<dyn OwnerClaim> {
    match claims.try_claim(key, me).await.unwrap() {
        ClaimAttempt::Claimed(c) => c,
        ClaimAttempt::Held { holder } => panic!("expected to claim {key}, held by {holder:?}"),
    }
}

async fn holder(claims: &dyn OwnerClaims, key: &AccountKey, me: &OwnerInfo) -> Option<OwnerInfo> {
    match claims.try_claim(key, me).await.unwrap() {
        ClaimAttempt::Held { holder } => holder,
        ClaimAttempt::Claimed(c) => panic!("{} was claimed twice", c.key()),
    }
}

/// The checks every store passes: exclusive per account, the holder is
/// named, other accounts are independent, release and drop free it.
async fn exclusive(first: &dyn OwnerClaims, second: &dyn OwnerClaims) {
    let (a, b) = (owner(4101), owner(4102));
    let claim = claimed(first, &key("main"), &a).await;
    assert_eq!(holder(second, &key("main"), &b).await, Some(a.clone()));
    // The same process asking again is refused too: never two loops.
    assert_eq!(holder(first, &key("main"), &a).await, Some(a.clone()));
    // Another account is independent.
    let other = claimed(second, &key("desk"), &b).await;
    assert_eq!(holder(first, &key("desk"), &a).await, Some(b.clone()));
    // Released: the second takes it over, and is named from then on.
    claim.release().await.unwrap();
    let taken = claimed(second, &key("main"), &b).await;
    assert_eq!(holder(first, &key("main"), &a).await, Some(b.clone()));
    // Dropped (as when the process ends): free again.
    drop(taken);
    drop(other);
    let again = claimed(first, &key("main"), &a).await;
    let lost = tokio::time::timeout(Duration::from_millis(50), again.lost()).await;
    assert!(lost.is_err(), "a lock held by the OS is never lost");
}

#[tokio::test]
async fn two_file_stores_over_one_directory_have_one_owner() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::open(dir.path()).unwrap();
    let second = FileStore::open(dir.path()).unwrap();
    exclusive(&first, &second).await;
}

#[tokio::test]
async fn two_env_file_stores_over_one_file_have_one_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.env");
    let first = EnvFileStore::new(&path);
    let second = EnvFileStore::new(&path);
    exclusive(&first, &second).await;
}

#[tokio::test]
async fn one_memory_store_has_one_owner_per_account() {
    let store = Arc::new(MemoryStore::new());
    exclusive(&store, &store.clone()).await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_owner_file_is_private_and_never_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let claim = claimed(&store, &key("main"), &owner(1)).await;
    let path = dir.path().join(".etrade.sandbox.main.owner");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(claim);

    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "keep me").unwrap();
    let planted = dir.path().join(".etrade.sandbox.desk.owner");
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    let err = store.try_claim(&key("desk"), &owner(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Insecure { .. }), "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep me");
}

#[tokio::test]
async fn a_standby_takes_over_when_the_owner_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::open(dir.path()).unwrap();
    let second = FileStore::open(dir.path()).unwrap();
    let claim = claimed(&first, &key("main"), &owner(4101)).await;

    let (told_tx, mut told) = tokio::sync::mpsc::unbounded_channel();
    let standby = tokio::spawn(async move {
        wait_for_claim(
            &second,
            &key("main"),
            &owner(4102),
            Duration::from_millis(5),
            move |h| {
                let _ = told_tx.send(h.cloned());
            },
        )
        .await
    });
    // Told once who holds it, then it waits (polling does not repeat it).
    assert_eq!(told.recv().await.unwrap(), Some(owner(4101)));
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(
        !standby.is_finished(),
        "the standby must wait while the owner lives"
    );
    assert!(told.try_recv().is_err(), "the standby repeated itself");

    drop(claim);
    let taken = tokio::time::timeout(Duration::from_secs(5), standby)
        .await
        .expect("the standby did not take over within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(taken.key(), &key("main"));
    assert_eq!(
        holder(&first, &key("main"), &owner(4101)).await,
        Some(owner(4102))
    );
}

#[test]
fn the_owner_reads_as_process_host_and_start() {
    let text = owner(4101).to_string();
    assert_eq!(
        text,
        "process 4101 on host desk-7.example (since 2026-12-02 09:30:00 UTC)"
    );
    let me = OwnerInfo::this_process(Utc::now());
    assert_eq!(me.pid, std::process::id());
    assert!(!me.host.is_empty());
}
