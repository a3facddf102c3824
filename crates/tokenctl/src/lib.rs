//! `tokenctl`: the command-line front door to broker-tokens.
//!
//! The binary is a thin wrapper over this library so the pieces can be
//! tested and reused:
//!
//! - [`config`]: the TOML configuration (accounts, stores, where secrets
//!   come from; `[control]`/`[notify]` kept opaque for the control server).
//! - [`accounts`]: configured accounts turned into token managers.
//! - [`demo`]: the simulated multi-day lifecycle behind `tokenctl demo`.
//! - [`render`]: the status table and timeline lines.
//! - [`cli`]: argument parsing and the commands.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accounts;
pub mod cli;
pub mod config;
pub mod demo;
pub mod render;
