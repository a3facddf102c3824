//! Memory and wake-ups for 10,000 managed accounts.
//!
//! Spawns a maintenance task for each of 10,000 accounts on a manual clock,
//! reports resident memory, then moves time forward through a quiet hour (no
//! deadline due) and counts maintenance passes: idle accounts must cost none.
//! Exits non-zero when a target is missed (RSS <= 64 MiB, zero wake-ups).
//!
//! Run: `cargo bench --bench fleet`

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, NaiveTime, TimeZone, Utc};
use token_core::policy::DailyCutoff;
use token_core::testing::FakeProvider;
use token_core::{AccountKey, Environment, ManagerConfig, ManualClock, MemoryStore, TokenManager};

const ACCOUNTS: usize = 10_000;
const RSS_LIMIT_KIB: u64 = 64 * 1024;

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    // `cargo bench` passes flags such as `--bench`; this harness takes none.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let before = rss_kib();
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 14, 0, 0)
        .single()
        .expect("valid start");
    let clock = ManualClock::new(start);
    let (managers, handles, built) = rt.block_on(async {
        let t0 = Instant::now();
        let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
        let store = Arc::new(MemoryStore::new());
        let policy = Arc::new(DailyCutoff::new(
            NaiveTime::MIN,
            chrono_tz::America::New_York,
        ));
        let mut managers = Vec::with_capacity(ACCOUNTS);
        let mut handles = Vec::with_capacity(ACCOUNTS);
        for i in 0..ACCOUNTS {
            let key =
                AccountKey::new("fleet", Environment::Production, format!("acct{i}")).expect("key");
            let m = TokenManager::new(
                key.clone(),
                provider.clone(),
                store.clone(),
                policy.clone(),
                Arc::new(clock.clone()),
                ManagerConfig {
                    event_capacity: 16,
                    ..ManagerConfig::default()
                },
            );
            m.install_authorized(provider.issue(&key))
                .await
                .expect("install");
            handles.push(m.spawn_maintenance());
            managers.push(m);
        }
        clock.wait_for_sleepers(ACCOUNTS).await;
        (managers, handles, t0.elapsed())
    });
    let after = rss_kib();
    let passes_before: u64 = managers.iter().map(|m| m.maintenance_passes()).sum();
    // A quiet hour in 5-minute steps: nothing is due before 23:30 ET.
    rt.block_on(async {
        for _ in 0..12 {
            clock.advance(Duration::minutes(5));
            tokio::task::yield_now().await;
        }
        clock.wait_for_sleepers(ACCOUNTS).await;
    });
    let passes_after: u64 = managers.iter().map(|m| m.maintenance_passes()).sum();
    let wakeups = passes_after - passes_before;
    let (before, after) = (before.unwrap_or(0), after.unwrap_or(0));
    println!("fleet: {ACCOUNTS} accounts with maintenance tasks, set up in {built:?}");
    println!(
        "fleet: RSS {} KiB before, {} KiB after (+{} KiB, {:.0} bytes/account); limit {} KiB",
        before,
        after,
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 * 1024.0 / ACCOUNTS as f64,
        RSS_LIMIT_KIB
    );
    println!("fleet: maintenance wake-ups during a quiet simulated hour: {wakeups}");
    rt.block_on(async {
        for h in handles {
            h.stop().await;
        }
    });
    let mut failed = false;
    if after > RSS_LIMIT_KIB {
        eprintln!("fleet: FAILED: RSS {after} KiB over {RSS_LIMIT_KIB} KiB");
        failed = true;
    }
    if wakeups != 0 {
        eprintln!("fleet: FAILED: {wakeups} wake-ups while nothing was due");
        failed = true;
    }
    if failed {
        std::process::exit(1);
    }
}
