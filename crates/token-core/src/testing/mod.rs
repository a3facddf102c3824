//! Test utilities for this crate, adapters and users' own bots (feature
//! `testing`): a scriptable [`FakeProvider`] that counts calls, a
//! [`FaultyStore`] that fails on demand, and the store conformance suite
//! every [`TokenStore`](crate::TokenStore) must pass, [`utc`] / [`local`] for
//! writing instants in tests, [`maintain_until`] to drive maintenance, and
//! [`account_health`] to start from a healthy account's health.

mod conformance;
mod drive;
mod fake;
mod health;
mod store;
mod time;

pub use conformance::store_conformance;
pub use drive::maintain_until;
pub use fake::{FakeCreds, FakeProvider};
pub use health::account_health;
pub use store::FaultyStore;
pub use time::{local, utc};
