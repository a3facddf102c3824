//! The loopback listener that captures the FYERS login redirect.
//!
//! The listener itself is broker-neutral and lives in
//! [`token_core::loopback`]; these re-exports keep `fyers::LoopbackListener`
//! and `fyers::login_via_loopback` working. Register a redirect URI such as
//! `http://127.0.0.1:8080/fyers/callback` for your FYERS app and pass it to
//! [`LoopbackListener::bind`]; [`login_via_loopback`] accepts only the
//! redirect whose `state` is the login in progress.

pub use token_core::loopback::{login_via_loopback, ListenerError, LoopbackListener};
