//! Invariant 5 across processes: several processes sharing one store renew
//! an idle account once, not once each, and a renewer that dies (SIGKILL)
//! does not block the others.
//!
//! Children are this test binary re-executed in "child mode". Each builds
//! its own [`TokenManager`] over the shared store; renewals are counted in a
//! file every child appends to, so the count spans processes.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::policy::IdleTimeout;
use token_core::store::{EnvFileStore, FileStore, TokenStore, TokenStoreExt};
use token_core::{
    AccountKey, Capabilities, Clock, Environment, Error, ManagerConfig, ManualClock, Metadata,
    Record, StoreError, TokenManager, TokenProvider,
};

/// Set in the child: what to do (see `cross_child_entry`).
const CHILD_ENV: &str = "TOKEN_CORE_CROSS_CHILD";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Creds {
    #[serde(with = "token_core::serde_secret")]
    token: SecretString,
}

fn key() -> AccountKey {
    AccountKey::new("multi", Environment::Production, "main").unwrap()
}

fn issued() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap()
}

fn policy() -> IdleTimeout {
    IdleTimeout::new(Duration::hours(2), Duration::minutes(10))
}

/// A provider whose renewals append a line to a shared file and take a
/// while (so that the other processes really are waiting meanwhile).
#[derive(Debug)]
struct FileCountingProvider {
    counter: PathBuf,
    clock: Arc<dyn Clock>,
}

#[async_trait]
impl TokenProvider<Creds> for FileCountingProvider {
    fn broker(&self) -> &str {
        "multi"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            authorize: false,
            renew: true,
            probe: false,
            revoke: false,
        }
    }
    async fn renew(&self, record: &Record<Creds>) -> Result<Record<Creds>, Error> {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.counter)
            .unwrap();
        writeln!(f, "{}", std::process::id()).unwrap();
        drop(f);
        tokio::time::sleep(StdDuration::from_millis(40)).await;
        let mut renewed = record.clone();
        renewed.meta.renewed_at = Some(self.clock.now());
        renewed.payload.token = SecretString::from(format!("renewed-by-{}", std::process::id()));
        Ok(renewed)
    }
}

fn open(spec: &str) -> Arc<dyn TokenStore> {
    match spec.split_once(':') {
        Some(("file", dir)) => Arc::new(FileStore::open(dir).unwrap()),
        Some(("env", path)) => Arc::new(EnvFileStore::new(path)),
        _ => panic!("bad store spec {spec}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Child mode. `CHILD_ENV` is one of:
/// - `renew|<store>|<counter file>|<go file>|<minutes after issue>`: wait for
///   the go file, `ensure_fresh`, print `token <value>`;
/// - `hold|<store>`: take the renewal lease, print `holding`, sleep forever;
/// - `envsave|<path>|<label>|<count>`: save `count` records for account
///   `label` into a shared .env file, print `done`.
#[test]
fn cross_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return; // not a child
    };
    let parts: Vec<&str> = spec.split('|').collect();
    runtime().block_on(async {
        match parts.as_slice() {
            ["renew", store, counter, go, minutes] => {
                let clock =
                    ManualClock::new(issued() + Duration::minutes(minutes.parse::<i64>().unwrap()));
                let clock: Arc<dyn Clock> = Arc::new(clock);
                let manager = TokenManager::new(
                    key(),
                    Arc::new(FileCountingProvider {
                        counter: counter.into(),
                        clock: clock.clone(),
                    }),
                    open(store),
                    Arc::new(policy()),
                    clock,
                    ManagerConfig::default(),
                );
                assert!(manager.load().await.unwrap());
                println!("ready");
                while !Path::new(go).exists() {
                    tokio::time::sleep(StdDuration::from_millis(1)).await;
                }
                let creds = manager.ensure_fresh().await.unwrap();
                println!("token {}", creds.payload.token.expose_secret());
            }
            ["hold", store] => {
                let lease = open(store)
                    .lease(&key(), StdDuration::from_secs(3600), StdDuration::ZERO)
                    .await
                    .unwrap()
                    .expect("this store has a lease");
                println!("holding");
                tokio::time::sleep(StdDuration::from_secs(3600)).await;
                drop(lease);
            }
            ["envsave", path, label, count] => {
                let store = EnvFileStore::new(*path);
                let key = AccountKey::new("multi", Environment::Production, *label).unwrap();
                for n in 1..=count.parse::<u64>().unwrap() {
                    let r = Record::new(
                        key.clone(),
                        Metadata::issued(issued()),
                        Creds {
                            token: SecretString::from(format!("{label}-{n}")),
                        },
                    );
                    store.save_typed(&r).await.unwrap();
                }
                println!("done");
            }
            _ => panic!("bad child spec {spec}"),
        }
    });
}

fn spawn(spec: &str) -> (Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "cross_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads lines until one contains `prefix` (the test harness may print its
/// own text before it on the same line); returns what follows it.
fn expect_line(
    lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
    prefix: &str,
) -> String {
    for line in lines.by_ref() {
        if let Some((_, rest)) = line.unwrap().split_once(prefix) {
            return rest.trim().to_string();
        }
    }
    panic!("child ended without printing {prefix:?}");
}

fn save_idle_record(store: &dyn TokenStore) {
    let r = Record::new(
        key(),
        Metadata::issued(issued()),
        Creds {
            token: SecretString::from("original".to_string()),
        },
    );
    runtime().block_on(store.save_typed(&r)).unwrap();
}

fn renewals(counter: &Path) -> usize {
    std::fs::read_to_string(counter)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Starts `n` renewing children, lets them go at once, and returns the
/// tokens they ended up with.
fn race(store_spec: &str, counter: &Path, dir: &Path, round: usize, n: usize) -> Vec<String> {
    let go = dir.join(format!("go-{round}"));
    // Each round is later than the last, so the previous renewal has idled.
    let minutes = 180 * (round + 1);
    let mut children: Vec<_> = (0..n)
        .map(|_| {
            spawn(&format!(
                "renew|{store_spec}|{}|{}|{minutes}",
                counter.display(),
                go.display()
            ))
        })
        .collect();
    for (_, lines) in &mut children {
        expect_line(lines, "ready");
    }
    std::fs::write(&go, b"").unwrap();
    let tokens = children
        .iter_mut()
        .map(|(_, lines)| expect_line(lines, "token "))
        .collect();
    for (mut child, _) in children {
        assert!(child.wait().unwrap().success());
    }
    tokens
}

#[test]
fn processes_sharing_a_file_store_renew_an_idle_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("file:{}", dir.path().join("tokens").display());
    renew_once_across_processes(dir.path(), &spec);
}

#[test]
fn processes_sharing_an_env_file_renew_an_idle_account_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("env:{}", dir.path().join(".env").display());
    renew_once_across_processes(dir.path(), &spec);
}

fn renew_once_across_processes(dir: &Path, spec: &str) {
    let spec = spec.to_string();
    let counter = dir.join("renewals");
    save_idle_record(&*open(&spec));
    let rounds = 3;
    let processes = 4;
    for round in 0..rounds {
        let got = race(&spec, &counter, dir, round, processes);
        assert_eq!(
            renewals(&counter),
            round + 1,
            "round {round}: {processes} processes renewed {} times in total",
            renewals(&counter)
        );
        assert!(
            got.iter()
                .all(|t| *t == got[0] && t.starts_with("renewed-by-")),
            "round {round}: processes ended with different credentials: {got:?}"
        );
        let stored = runtime()
            .block_on(open(&spec).load_typed::<Creds>(&key()))
            .unwrap()
            .unwrap();
        assert_eq!(stored.payload.token.expose_secret(), got[0]);
    }
}

#[test]
fn a_lease_holder_killed_with_sigkill_does_not_block_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("file:{}", dir.path().join("tokens").display());
    let store = open(&spec);
    save_idle_record(&*store);
    let rt = runtime();
    for _ in 0..5 {
        let (mut holder, mut lines) = spawn(&format!("hold|{spec}"));
        expect_line(&mut lines, "holding");
        // The lease really is held across processes...
        let busy = rt.block_on(store.lease(
            &key(),
            StdDuration::from_secs(60),
            StdDuration::from_millis(20),
        ));
        assert!(
            matches!(busy, Err(StoreError::LeaseBusy { .. })),
            "{busy:?}"
        );
        // ...and its holder's death frees it at once (no TTL wait).
        holder.kill().unwrap();
        holder.wait().unwrap();
        let started = Instant::now();
        let lease = rt
            .block_on(store.lease(
                &key(),
                StdDuration::from_secs(60),
                StdDuration::from_secs(5),
            ))
            .unwrap()
            .unwrap();
        assert!(started.elapsed() < StdDuration::from_secs(1));
        rt.block_on(lease.release()).unwrap();
    }
    // A whole renewal after a killed holder goes through, once.
    let (mut holder, mut lines) = spawn(&format!("hold|{spec}"));
    expect_line(&mut lines, "holding");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let counter = dir.path().join("renewals");
    let got = race(&spec, &counter, dir.path(), 0, 2);
    assert_eq!(renewals(&counter), 1);
    assert_eq!(got[0], got[1]);
}

#[test]
fn processes_saving_different_accounts_to_one_env_file_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "# shared by two bots\nKEEP=1\n").unwrap();
    let count = 150;
    let labels = ["alpha", "beta", "gamma"];
    let mut children: Vec<_> = labels
        .iter()
        .map(|label| spawn(&format!("envsave|{}|{label}|{count}", path.display())))
        .collect();
    for (_, lines) in &mut children {
        expect_line(lines, "done");
    }
    for (mut child, _) in children {
        assert!(child.wait().unwrap().success());
    }
    let store = EnvFileStore::new(&path);
    let rt = runtime();
    for label in labels {
        let key = AccountKey::new("multi", Environment::Production, label).unwrap();
        let r = rt
            .block_on(store.load_typed::<Creds>(&key))
            .unwrap()
            .unwrap_or_else(|| panic!("account {label} was lost by a concurrent save"));
        assert_eq!(
            r.payload.token.expose_secret(),
            format!("{label}-{count}"),
            "account {label}: a concurrent save overwrote its last update"
        );
    }
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("# shared by two bots\nKEEP=1\n"));
}
