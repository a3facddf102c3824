//! "Call the broker; on an inactive-token answer renew once and retry": the
//! rule every adapter's API client (and the local proxy) needs, written once.
//!
//! The adapter makes the call and says what the answer means ([`Attempt`]);
//! this module owns the rest:
//!
//! 1. take usable credentials from the manager ([`TokenManager::ensure_fresh`]);
//! 2. call; an answer that reached the broker counts as use;
//! 3. on [`Attempt::Inactive`], renew through the manager's single flight
//!    ([`TokenManager::renew_if_current`]: every caller that hit the same
//!    answer with the same credentials shares one renewal, and none is made
//!    if the credentials were already replaced) and call once more;
//! 4. if that call is refused as inactive too, the renewal did not revive the
//!    token (E*TRADE has been seen answering a renew with 200 while the token
//!    stays dead): the retried call was the verification, so the manager is
//!    told ([`TokenManager::report_rejection`]: re-authorization required, no
//!    more silent renewals) and the caller gets [`Error::Rejected`].
//!
//! At most one renewal per call, and never a loop: once the manager knows the
//! credentials are refused, later calls get the rejection without asking the
//! broker to renew.

use std::future::Future;

use crate::error::Error;
use crate::manager::{Credentials, TokenManager};
use crate::record::Payload;

/// What one attempt of a broker call came to, as the adapter reads it.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// The broker answered, or the call failed in a way a renewal cannot
    /// fix (network trouble, a configuration error, a rejection): final.
    Done(Result<T, E>),
    /// The broker refused the credentials as inactive or expired in a way a
    /// silent renewal may fix (E*TRADE `token_expired` before midnight, a
    /// FYERS `-17`). The text says why in the broker's words, without secrets.
    Inactive(String),
}

/// Runs `attempt` with the manager's credentials, renewing once (single
/// flight) and retrying once when the broker says the token is inactive;
/// see the module docs. Errors from the manager (no token, expired, the
/// renewal refused) come back as `E::from(token_core::Error)`.
///
/// ```
/// # use std::sync::Arc;
/// # use chrono::{Duration, TimeZone, Utc};
/// # use token_core::{*, policy::*, testing::*};
/// use token_core::retry::{call_renewing_once, Attempt};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap());
/// # let key = AccountKey::new("demo", Environment::Sandbox, "main")?;
/// # let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
/// # let manager = TokenManager::new(key.clone(), provider.clone(), Arc::new(MemoryStore::new()),
/// #     Arc::new(IdleTimeout::new(Duration::hours(2), Duration::minutes(10))),
/// #     Arc::new(clock.clone()), ManagerConfig::default());
/// # manager.install_authorized(provider.issue(&key)).await?;
/// let mut first = true;
/// let answer: Result<&str, Error> = call_renewing_once(&manager, |_creds| {
///     // The broker says "inactive" once, then answers.
///     let inactive = std::mem::replace(&mut first, false);
///     async move {
///         if inactive {
///             Attempt::Inactive("token_expired".into())
///         } else {
///             Attempt::Done(Ok("quote"))
///         }
///     }
/// })
/// .await;
/// assert_eq!(answer?, "quote");
/// assert_eq!(provider.renewals(), 1);
/// # Ok(()) }
/// ```
pub async fn call_renewing_once<P, T, E, F, Fut>(
    manager: &TokenManager<P>,
    mut attempt: F,
) -> Result<T, E>
where
    P: Payload,
    E: From<Error>,
    F: FnMut(Credentials<P>) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    let creds = manager.ensure_fresh().await?;
    let reason = match attempt(creds.clone()).await {
        Attempt::Done(result) => return used(manager, result),
        Attempt::Inactive(reason) => reason,
    };
    tracing::info!(account = %manager.key(), %reason, "broker says the token is inactive; renewing once");
    let renewed = manager.renew_if_current(&creds).await?;
    match attempt(renewed).await {
        Attempt::Done(result) => used(manager, result),
        Attempt::Inactive(again) => {
            let reason = format!(
                "{again}, again right after a renewal: the renewal did not revive the token"
            );
            manager.report_rejection(&reason).await;
            Err(Error::Rejected { reason }.into())
        }
    }
}

/// A call that got through counts as use (idle tracking).
fn used<P: Payload, T, E>(manager: &TokenManager<P>, result: Result<T, E>) -> Result<T, E> {
    if result.is_ok() {
        manager.mark_used();
    }
    result
}
