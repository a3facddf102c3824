//! What a command can fail with.

use thiserror::Error;

use crate::accounts::AccountError;
use crate::config::{ConfigError, SelectError};
use crate::demo;

/// A command's failure.
#[derive(Debug, Error)]
pub enum CliError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The account selector.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Building an account.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A library operation on an account.
    #[error("{account}: {source}")]
    Token {
        /// The account.
        account: String,
        /// The error.
        #[source]
        source: token_core::Error,
    },
    /// The demo.
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    /// Terminal or output trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Another process already maintains an account (`run`/`exec` without
    /// `--standby`); exits with [`super::owner::EXIT_OWNED`].
    #[error("{0}")]
    Owned(String),
    /// Anything else worth saying plainly.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this failure: [`super::owner::EXIT_OWNED`]
    /// when another process maintains an account, else
    /// [`super::EXIT_FAILURE`].
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Owned(_) => super::owner::EXIT_OWNED,
            _ => super::EXIT_FAILURE,
        }
    }
}

pub(crate) fn token_err(account: &str) -> impl FnOnce(token_core::Error) -> CliError + '_ {
    move |source| CliError::Token {
        account: account.to_owned(),
        source,
    }
}
