//! Single flight: one load for all concurrent waiters.
//!
//! Modelled on smithy-rs's `ExpiringCache`: the first caller runs the load in
//! its own task (nothing is spawned) and everyone who arrives while it runs
//! waits for, and shares, that one result. The result is not cached: once the
//! flight lands, the next caller starts a new one, and the load itself
//! re-checks whether there is anything to do (after taking its lock), so
//! callers queued behind a finished flight never repeat its work.
//!
//! If the caller running the load is dropped (e.g. by a timeout), one of the
//! waiters runs its own load instead; only when every waiter is gone is the
//! flight abandoned.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::sync::lock;

/// Deduplicates concurrent runs of an async load: see the module docs.
///
/// ```
/// # use std::sync::atomic::{AtomicU32, Ordering};
/// # use token_core::manager::SingleFlight;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let flight = SingleFlight::new();
/// let loads = AtomicU32::new(0);
/// let load = || async {
///     loads.fetch_add(1, Ordering::Relaxed);
///     tokio::task::yield_now().await;
///     "fresh"
/// };
/// let (a, b) = tokio::join!(flight.run(load), flight.run(load));
/// assert_eq!((a, b), ("fresh", "fresh"));
/// assert_eq!(loads.load(Ordering::Relaxed), 1);
/// # }
/// ```
#[derive(Debug)]
pub struct SingleFlight<T> {
    /// The flight under way, if any.
    current: Mutex<Option<Arc<OnceCell<T>>>>,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    /// No flight under way.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a flight is under way right now.
    pub fn in_flight(&self) -> bool {
        lock(&self.current).is_some()
    }

    /// Joins the flight under way, or starts one running `load`, and returns
    /// the flight's result (the same value for every caller who joined it).
    pub async fn run<F, Fut>(&self, load: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = lock(&self.current)
            .get_or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let value = cell.get_or_init(load).await.clone();
        // Landed: the next caller starts a new flight. Every waiter tries;
        // only the first finds this flight still in the slot.
        let mut slot = lock(&self.current);
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            *slot = None;
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_load_for_1000_concurrent_callers() {
        let flight = Arc::new(SingleFlight::new());
        let loads = Arc::new(AtomicU32::new(0));
        let barrier = Arc::new(tokio::sync::Barrier::new(1000));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (flight, loads, barrier) = (flight.clone(), loads.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    flight
                        .run(|| async {
                            let n = loads.fetch_add(1, Ordering::SeqCst) + 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            n
                        })
                        .await
                })
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let loads = loads.load(Ordering::SeqCst);
        // Callers that arrive after a flight landed start a new one, but
        // with a 20 ms load and every caller released at once, the first
        // flight is all there is.
        assert_eq!(loads, 1, "one load for every caller");
        assert!(results.iter().all(|r| *r == 1), "all share its result");
        assert!(!flight.in_flight());
    }

    #[tokio::test]
    async fn a_caller_after_a_landed_flight_starts_a_new_one() {
        let flight = SingleFlight::new();
        let loads = AtomicU32::new(0);
        let load = || async { loads.fetch_add(1, Ordering::SeqCst) + 1 };
        assert_eq!(flight.run(load).await, 1);
        assert!(!flight.in_flight(), "nothing cached after landing");
        assert_eq!(flight.run(load).await, 2);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_waiter_takes_over_when_the_loading_caller_is_dropped() {
        let flight = Arc::new(SingleFlight::new());
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let leader = {
            let flight = flight.clone();
            tokio::spawn(async move {
                flight
                    .run(|| async move {
                        let _ = started_tx.send(());
                        std::future::pending::<&str>().await
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        assert!(flight.in_flight());
        let waiter = {
            let flight = flight.clone();
            tokio::spawn(async move { flight.run(|| async { "waiter's load" }).await })
        };
        tokio::task::yield_now().await;
        leader.abort();
        assert_eq!(waiter.await.unwrap(), "waiter's load");
        assert!(!flight.in_flight());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_flights_result_not_its_own() {
        let flight = Arc::new(SingleFlight::new());
        let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
        let leader = {
            let flight = flight.clone();
            tokio::spawn(async move {
                flight
                    .run(|| async move {
                        let _ = release_rx.await;
                        "leader's load"
                    })
                    .await
            })
        };
        while !flight.in_flight() {
            tokio::task::yield_now().await;
        }
        let waiter = {
            let flight = flight.clone();
            tokio::spawn(async move { flight.run(|| async { "waiter's load" }).await })
        };
        tokio::task::yield_now().await;
        release_tx.send(()).unwrap();
        assert_eq!(leader.await.unwrap(), "leader's load");
        assert_eq!(waiter.await.unwrap(), "leader's load");
    }
}
