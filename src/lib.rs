//! broker-tokens: keeps broker API tokens alive for automated trading systems.
//!
//! This facade re-exports the workspace crates; see the README.
#![forbid(unsafe_code)]

pub use token_core as core;
