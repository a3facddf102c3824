//! Test utilities for this crate, adapters and users' own bots (feature
//! `testing`): a scriptable [`FakeProvider`] that counts calls, a
//! [`FaultyStore`] that fails on demand, and the store conformance suite
//! every [`TokenStore`](crate::TokenStore) must pass, [`utc`] / [`local`] for
//! writing instants in tests, and [`maintain_until`] to drive maintenance.

mod conformance;
mod drive;
mod fake;
mod store;
mod time;

pub use conformance::store_conformance;
pub use drive::maintain_until;
pub use fake::{FakeCreds, FakeProvider};
pub use store::FaultyStore;
pub use time::{local, utc};
