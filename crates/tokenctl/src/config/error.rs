//! What can go wrong loading the configuration or choosing an account.

use std::path::PathBuf;

use thiserror::Error;

use super::CONFIG_ENV;

/// Everything that can go wrong loading the configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file does not exist.
    #[error("config file not found: {path} ({origin}); create it or pass --config PATH (see `tokenctl --help`)")]
    Missing {
        /// Where we looked.
        path: PathBuf,
        /// Why we looked there.
        origin: &'static str,
    },
    /// No path given and no platform config directory could be determined.
    #[error("no config file given: pass --config PATH or set {CONFIG_ENV}")]
    NoPath,
    /// The file exists but cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A syntax error, a wrong type, an unknown or missing field.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// `broker = "..."` names a broker tokenctl does not know.
    #[error("{path}:{line}: unknown broker \"{broker}\" (known brokers: {known})")]
    UnknownBroker {
        /// The file.
        path: PathBuf,
        /// 1-based line of the `broker` field.
        line: usize,
        /// What was written.
        broker: String,
        /// The known ones.
        known: String,
    },
}

/// An account selector that matches nothing or several accounts.
#[derive(Debug, Error)]
pub enum SelectError {
    /// Nothing matches.
    #[error("no account \"{selector}\" in the config (configured: {known})")]
    None {
        /// What was asked for.
        selector: String,
        /// The configured keys.
        known: String,
    },
    /// Several match.
    #[error(
        "\"{selector}\" matches several accounts ({candidates}); use broker/environment/label"
    )]
    Ambiguous {
        /// What was asked for.
        selector: String,
        /// The matching keys.
        candidates: String,
    },
}
