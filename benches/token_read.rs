//! The hot path: `TokenManager::token()` on a valid token, alone and with a
//! second thread hammering it, beside the naive baseline of the same read
//! through a `tokio::sync::RwLock` plus a clone of the credentials.
//!
//! Run: `cargo bench --bench token_read`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use chrono::{Duration, NaiveTime};
use criterion::{criterion_group, criterion_main, Criterion};
use futures::FutureExt;
use token_core::policy::{DailyCutoff, EarliestOf, IdleTimeout};
use token_core::testing::{FakeCreds, FakeProvider};
use token_core::{
    AccountKey, Clock, Environment, ManagerConfig, MemoryStore, Record, SystemClock, TokenManager,
};

fn manager() -> (TokenManager<FakeCreds>, Record<FakeCreds>) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let key = AccountKey::new("bench", Environment::Sandbox, "main").expect("key");
    let provider = Arc::new(FakeProvider::new(clock.clone()));
    // A realistic policy: E*TRADE's midnight cutoff plus the 2 h idle rule.
    let policy = EarliestOf::new()
        .with(DailyCutoff::new(
            NaiveTime::MIN,
            chrono_tz::Pacific::Kiritimati,
        ))
        .with(IdleTimeout::new(Duration::hours(2), Duration::minutes(10)));
    let manager = TokenManager::new(
        key.clone(),
        provider.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(policy),
        clock,
        ManagerConfig::default(),
    );
    let record = provider.issue(&key);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(manager.install_authorized(record.clone()))
        .expect("install");
    (manager, record)
}

/// Runs `f` on another thread until the returned guard is dropped.
struct Hammer {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl Hammer {
    fn start(f: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::spawn(move || {
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                f();
                n += 1;
            }
            n
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hammer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn bench(c: &mut Criterion) {
    let (manager, record) = manager();
    let baseline = Arc::new(tokio::sync::RwLock::new(record));

    let mut group = c.benchmark_group("token_read");
    group.bench_function("token_manager/uncontended", |b| {
        b.iter(|| std::hint::black_box(manager.token().expect("valid")))
    });
    // The naive engine code: `token.read().await.clone()`. Polled once
    // without an executor (an uncontended read completes at once), so the
    // baseline pays only for the lock and the clone.
    group.bench_function("rwlock_clone/uncontended", |b| {
        b.iter(|| {
            let guard = baseline.read().now_or_never().expect("no writer");
            std::hint::black_box(guard.clone())
        })
    });
    {
        let m = manager.clone();
        let _hammer = Hammer::start(move || {
            std::hint::black_box(m.token().ok());
        });
        group.bench_function("token_manager/contended", |b| {
            b.iter(|| std::hint::black_box(manager.token().expect("valid")))
        });
    }
    {
        let l = baseline.clone();
        let _hammer = Hammer::start(move || {
            let g = l.read().now_or_never().map(|g| g.clone());
            std::hint::black_box(g);
        });
        group.bench_function("rwlock_clone/contended", |b| {
            b.iter(|| {
                // Readers never block each other: the read completes at once.
                let guard = baseline.read().now_or_never().expect("no writer");
                std::hint::black_box(guard.clone())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
