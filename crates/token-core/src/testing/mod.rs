//! Test utilities for this crate, adapters and users' own bots (feature
//! `testing`): a scriptable [`FakeProvider`] that counts calls, and the store
//! conformance suite every [`TokenStore`](crate::TokenStore) must pass.

mod conformance;
mod fake;

pub use conformance::store_conformance;
pub use fake::{FakeCreds, FakeProvider};
