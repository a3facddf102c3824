//! `tokenctl`: the command-line front door to broker-tokens.
//!
//! The binary is a thin wrapper over this library so the pieces can be
//! tested and reused, and so another build can register other brokers:
//!
//! ```no_run
//! # async fn demo() -> u8 {
//! let registry = tokenctl::Registry::new().register::<etrade::Etrade>();
//! tokenctl::run_cli(&registry, std::env::args_os()).await
//! # }
//! ```
//!
//! - [`registry`]: the brokers this build knows ([`Registry`]); nothing else
//!   names a broker.
//! - [`config`]: the TOML configuration (accounts, stores, where secrets
//!   come from; `[control]`/`[notify]` kept opaque for the control server).
//! - [`accounts`]: configured accounts turned into token managers.
//! - [`proxy`]: the local signing proxy of `tokenctl run --proxy`.
//! - [`render`]: the status table and timeline lines.
//! - [`cli`]: argument parsing and the commands; `tokenctl demo` runs the
//!   `tokenctl_demo` scenario.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod cli;
pub mod config;
pub mod proxy;
pub mod registry;
pub mod render;
pub mod sink;
pub mod stores;
#[cfg(feature = "test-clock")]
pub mod test_clock;

pub use registry::Registry;
pub use tokenctl_demo as demo;

/// Parses `args` (program name first), runs the command with the brokers in
/// `registry` and returns the process exit code: 0 ok/healthy, 1 degraded,
/// 2 critical, 3 tokenctl failed.
pub async fn run_cli(
    registry: &Registry,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> u8 {
    cli::main_with(registry, args).await
}
