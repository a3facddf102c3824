//! Driving a manager's maintenance by hand on the manual clock.

use chrono::{DateTime, Utc};

use crate::clock::{Clock, ManualClock};
use crate::manager::TokenManager;
use crate::record::Payload;

/// Runs maintenance passes, moving `clock` to each wake-up the manager asks
/// for, until `until` (which ends with one last pass at `until`): a
/// simulated stretch of time with no real sleeping.
///
/// ```
/// # use std::sync::Arc;
/// # use chrono::Duration;
/// # use token_core::{*, testing::*};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let clock = ManualClock::new(utc(2026, 6, 1, 13, 0));
/// let provider = Arc::new(FakeProvider::new(Arc::new(clock.clone())));
/// let key = AccountKey::new("demo", Environment::Sandbox, "main").unwrap();
/// let manager = TokenManager::builder(key, provider).clock(Arc::new(clock.clone())).build();
/// maintain_until(&manager, &clock, utc(2026, 6, 2, 13, 0)).await;
/// assert_eq!(clock.now(), utc(2026, 6, 2, 13, 0));
/// # }
/// ```
pub async fn maintain_until<P: Payload>(
    manager: &TokenManager<P>,
    clock: &ManualClock,
    until: DateTime<Utc>,
) {
    loop {
        match manager.maintain().await {
            Some(next) if next <= until => clock.set(next.max(clock.now())),
            _ => break,
        }
    }
    clock.set(until);
    manager.maintain().await;
}
