//! Where time comes from.
//!
//! Every component that reads the time or waits for it takes an
//! `Arc<dyn Clock>`. Production code uses [`SystemClock`]; tests (ours and
//! yours) use [`ManualClock`], which only moves when told to, so a whole
//! trading week can be simulated in milliseconds.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc, Duration};
//! use token_core::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap());
//! clock.advance(Duration::hours(2));
//! assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 3, 6, 16, 30, 0).unwrap());
//! let shared: Arc<dyn Clock> = Arc::new(clock.clone()); // same time, shared
//! assert_eq!(shared.now(), clock.now());
//! ```

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio::sync::{oneshot, Notify};

use crate::sync::lock;

/// The most [`Clock::now_millis_coarse`] may lag the true time. The hot path
/// only trusts a coarse reading when a deadline is further away than this,
/// and reads the precise clock otherwise.
pub const COARSE_TOLERANCE_MS: i64 = 1_000;

/// A source of wall-clock time that can also be waited on.
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// The current instant as milliseconds since the Unix epoch.
    ///
    /// This is what the token hot path reads; implementations should make it
    /// cheap (no allocation, no lock).
    fn now_millis(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// A cheap reading for the token hot path that may lag the true time
    /// by a little, never by [`COARSE_TOLERANCE_MS`] or more, and never reads
    /// ahead of it. Defaults to [`Clock::now_millis`].
    fn now_millis_coarse(&self) -> i64 {
        self.now_millis()
    }

    /// Completes once [`Clock::now`] is at or past `deadline`.
    async fn sleep_until(&self, deadline: DateTime<Utc>);

    /// Completes once `duration` has passed on this clock.
    async fn sleep(&self, duration: Duration) {
        let deadline = self.now() + duration;
        self.sleep_until(deadline).await
    }
}

/// How often [`SystemClock`] waits re-read the wall clock.
const SYSTEM_RECHECK: std::time::Duration = std::time::Duration::from_secs(300);

/// The real wall clock; waits use tokio timers, re-checking the wall clock
/// every 5 minutes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// The kernel's coarse real-time clock: a few ns instead of tens, at
    /// the resolution of the scheduler tick (it lags by up to a tick or so).
    #[cfg(target_os = "linux")]
    fn now_millis_coarse(&self) -> i64 {
        use rustix::time::{clock_gettime, ClockId};
        let ts = clock_gettime(ClockId::RealtimeCoarse);
        ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }

    fn now_millis(&self) -> i64 {
        // Straight from the OS clock, skipping the calendar conversion.
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        // Re-check after waking: the wall clock can be stepped (NTP) while we sleep.
        loop {
            let left = deadline - Utc::now();
            let Ok(left) = left.to_std() else { return };
            if left.is_zero() {
                return;
            }
            // tokio timers run on the monotonic clock; re-check the wall clock
            // every few minutes so a stepped clock or a suspended host is
            // noticed, at a cost of one cheap timer wake-up per waiter.
            tokio::time::sleep(left.min(SYSTEM_RECHECK)).await;
        }
    }
}

/// A clock that moves only when told to. Cheap to clone; clones share time.
///
/// Waiters (for example a [`TokenManager`](crate::TokenManager)'s maintenance
/// task) registered with [`Clock::sleep_until`] are woken as soon as
/// [`ManualClock::set`] or [`ManualClock::advance`] moves time to or past their
/// deadline. [`ManualClock::run_until`] steps time from one waiter's deadline to
/// the next, waiting for the woken tasks to go back to sleep before moving on,
/// so simulated days run deterministically and fast.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

struct ManualInner {
    now_millis: AtomicI64,
    next_id: AtomicU64,
    sleepers: Mutex<Vec<Sleeper>>,
    /// Signalled whenever a sleeper registers.
    registered: Notify,
}

struct Sleeper {
    id: u64,
    deadline_millis: i64,
    wake: oneshot::Sender<()>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .field("sleepers", &self.sleepers())
            .finish()
    }
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(ManualInner {
                now_millis: AtomicI64::new(start.timestamp_millis()),
                next_id: AtomicU64::new(0),
                sleepers: Mutex::new(Vec::new()),
                registered: Notify::new(),
            }),
        }
    }

    /// Moves time to `instant` (it may go backwards, as a stepped system clock
    /// can) and wakes every waiter whose deadline has been reached.
    pub fn set(&self, instant: DateTime<Utc>) {
        let now = instant.timestamp_millis();
        self.inner.now_millis.store(now, Ordering::SeqCst);
        let due: Vec<Sleeper> = {
            let mut sleepers = lock(&self.inner.sleepers);
            let (due, keep) = sleepers.drain(..).partition(|s| s.deadline_millis <= now);
            *sleepers = keep;
            due
        };
        for sleeper in due {
            let _ = sleeper.wake.send(());
        }
    }

    /// Moves time forward by `by` and wakes the waiters that became due.
    pub fn advance(&self, by: Duration) {
        self.set(self.now() + by);
    }

    /// How many tasks are currently waiting on this clock.
    pub fn sleepers(&self) -> usize {
        lock(&self.inner.sleepers).len()
    }

    /// The earliest deadline any waiter is sleeping until.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        lock(&self.inner.sleepers)
            .iter()
            .map(|s| s.deadline_millis)
            .min()
            .and_then(millis_to_datetime)
    }

    /// Waits (without moving time) until at least `count` tasks are sleeping
    /// on this clock. Use it to let spawned tasks finish their work before the
    /// next step.
    pub async fn wait_for_sleepers(&self, count: usize) {
        loop {
            let notified = self.inner.registered.notified();
            if self.sleepers() >= count {
                return;
            }
            notified.await;
        }
    }

    /// Steps time forward to `until`, one waiter deadline at a time.
    ///
    /// Before each step it waits until `sleepers` tasks are asleep on the
    /// clock (i.e. every task you expect to be driven by it has finished the
    /// work of the previous step), then jumps to the earliest deadline. Ends at
    /// `until` exactly. Returns the number of steps taken.
    pub async fn run_until(&self, until: DateTime<Utc>, sleepers: usize) -> usize {
        let mut steps = 0;
        loop {
            self.wait_for_sleepers(sleepers).await;
            match self.next_deadline() {
                Some(next) if next <= until => {
                    self.set(next.max(self.now()));
                    steps += 1;
                }
                _ => {
                    if self.now() < until {
                        self.set(until);
                    }
                    return steps;
                }
            }
        }
    }

    fn register(&self, deadline_millis: i64) -> Option<(u64, oneshot::Receiver<()>)> {
        let (tx, rx) = oneshot::channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut sleepers = lock(&self.inner.sleepers);
            // Checked under the lock so a concurrent `set` cannot slip between
            // the check and the registration and leave us asleep forever.
            if self.inner.now_millis.load(Ordering::SeqCst) >= deadline_millis {
                return None;
            }
            sleepers.push(Sleeper {
                id,
                deadline_millis,
                wake: tx,
            });
        }
        self.inner.registered.notify_waiters();
        Some((id, rx))
    }
}

/// Removes a sleeper whose future was dropped before it woke (e.g. lost a
/// `select!`), so it no longer counts as waiting.
struct Deregister<'a> {
    clock: &'a ManualClock,
    id: u64,
}

impl Drop for Deregister<'_> {
    fn drop(&mut self) {
        lock(&self.clock.inner.sleepers).retain(|s| s.id != self.id);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        millis_to_datetime(self.now_millis()).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn now_millis(&self) -> i64 {
        self.inner.now_millis.load(Ordering::SeqCst)
    }

    fn now_millis_coarse(&self) -> i64 {
        self.now_millis()
    }

    async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let Some((id, rx)) = self.register(deadline.timestamp_millis()) else {
            return;
        };
        let _guard = Deregister { clock: self, id };
        // The sender is only dropped after being removed from the list, which
        // happens when it fires; either way we are done waiting.
        let _ = rx.await;
    }
}

fn millis_to_datetime(millis: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(millis).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn sleeper_wakes_only_when_time_reaches_deadline() {
        let clock = ManualClock::new(t0());
        let c2 = clock.clone();
        let task = tokio::spawn(async move { c2.sleep(Duration::minutes(10)).await });
        clock.wait_for_sleepers(1).await;
        clock.advance(Duration::minutes(9));
        assert_eq!(clock.sleepers(), 1);
        assert!(!task.is_finished());
        clock.advance(Duration::minutes(1));
        task.await.unwrap();
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn sleep_into_the_past_returns_at_once() {
        let clock = ManualClock::new(t0());
        clock.sleep_until(t0() - Duration::seconds(1)).await;
        clock.sleep_until(t0()).await;
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn dropped_sleep_deregisters() {
        let clock = ManualClock::new(t0());
        tokio::select! {
            _ = clock.sleep(Duration::hours(1)) => panic!("must not wake"),
            _ = tokio::task::yield_now() => {}
        }
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn run_until_steps_through_each_deadline() {
        let clock = ManualClock::new(t0());
        let c2 = clock.clone();
        let ticks = Arc::new(Mutex::new(Vec::new()));
        let t2 = ticks.clone();
        let task = tokio::spawn(async move {
            loop {
                c2.sleep(Duration::hours(1)).await;
                lock(&t2).push(c2.now());
            }
        });
        let steps = clock.run_until(t0() + Duration::hours(5), 1).await;
        clock.wait_for_sleepers(1).await;
        assert_eq!(steps, 5);
        let got = lock(&ticks).clone();
        let want: Vec<_> = (1..=5).map(|h| t0() + Duration::hours(h)).collect();
        assert_eq!(got, want);
        assert_eq!(clock.now(), t0() + Duration::hours(5));
        task.abort();
    }

    #[test]
    fn system_clock_coarse_reading_lags_within_tolerance_and_never_leads() {
        for _ in 0..1000 {
            let coarse = SystemClock.now_millis_coarse();
            let precise = SystemClock.now_millis();
            assert!(
                coarse <= precise,
                "coarse {coarse} ahead of precise {precise}"
            );
            assert!(
                precise - coarse < COARSE_TOLERANCE_MS,
                "coarse lags {} ms",
                precise - coarse
            );
        }
    }

    #[tokio::test]
    async fn system_clock_sleep_until_past_is_immediate() {
        let c = SystemClock;
        c.sleep_until(Utc::now() - Duration::seconds(5)).await;
        assert!((c.now() - Utc::now()).num_seconds().abs() < 5);
    }
}
