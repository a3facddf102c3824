//! The one lease-wait loop: how a renewal waits for another process's
//! renewal lease. Stores that can only *try* to take their lease (a
//! non-blocking `flock`, a Redis `SET NX`) implement
//! [`TokenStore::lease`](crate::store::TokenStore::lease) with this loop.

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;
use crate::key::AccountKey;

/// First pause between attempts; doubled after each, up to [`MAX_PAUSE`].
pub const FIRST_PAUSE: Duration = Duration::from_millis(2);
/// Longest pause between attempts: a freed lease is noticed within this.
pub const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Calls `try_take` until it yields a lease (`Ok(Some)`) or fails, pausing
/// with exponential backoff between busy answers (`Ok(None)`), for at most
/// `wait`; then fails with [`StoreError::LeaseBusy`] for `key`. Tries at
/// least once, even with a zero `wait`.
pub async fn wait_for_lease<L, F, Fut>(
    key: &AccountKey,
    wait: Duration,
    mut try_take: F,
) -> Result<L, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<L>, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(lease) = try_take().await? {
            return Ok(lease);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(StoreError::LeaseBusy {
                key: key.to_string(),
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::key::Environment;

    fn key() -> AccountKey {
        AccountKey::new("demo", Environment::Sandbox, "main").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn takes_the_lease_once_the_holder_lets_go() {
        let tries = Cell::new(0);
        let got = wait_for_lease(&key(), Duration::from_secs(5), || {
            tries.set(tries.get() + 1);
            let free = tries.get() == 4;
            async move { Ok(free.then_some("lease")) }
        })
        .await;
        assert_eq!(got.unwrap(), "lease");
        assert_eq!(tries.get(), 4, "busy three times, then taken");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_busy_after_the_wait_with_backoff() {
        let tries = Cell::new(0u32);
        let started = tokio::time::Instant::now();
        let got: Result<(), _> = wait_for_lease(&key(), Duration::from_secs(1), || {
            tries.set(tries.get() + 1);
            async { Ok(None) }
        })
        .await;
        assert!(matches!(got, Err(StoreError::LeaseBusy { key }) if key == "demo/sandbox/main"));
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1),
            "waits exactly `wait`"
        );
        // 2+4+...+64 ms, then 100 ms pauses: about a dozen tries, not a spin.
        assert!((10..=20).contains(&tries.get()), "{} tries", tries.get());
    }

    #[tokio::test]
    async fn a_store_error_ends_the_wait_at_once() {
        let got: Result<(), _> = wait_for_lease(&key(), Duration::from_secs(60), || async {
            Err(StoreError::Backend("down".into()))
        })
        .await;
        assert!(matches!(got, Err(StoreError::Backend(_))));
    }

    #[tokio::test]
    async fn tries_once_with_no_wait() {
        let got: Result<u8, _> =
            wait_for_lease(&key(), Duration::ZERO, || async { Ok(Some(1)) }).await;
        assert_eq!(got.unwrap(), 1);
    }
}
