//! broker-tokens: keeps broker API tokens alive for automated trading systems.
//!
//! This facade re-exports the workspace crates so one dependency brings the
//! core and the adapters; see the README for the tour.
//!
//! - [`core`]: the broker-agnostic engine (`TokenManager`, stores, policies, clocks).
//! - [`etrade`]: E*TRADE OAuth 1.0a adapter.
//! - [`fyers`]: FYERS API v3 adapter.
#![forbid(unsafe_code)]
// The README's examples are compiled as doc tests so they cannot rot.
#![doc = ""]
#![doc = include_str!("../README.md")]

pub use etrade;
pub use fyers;
pub use token_core as core;
