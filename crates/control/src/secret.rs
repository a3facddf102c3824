//! Where a secret (bearer token, bot token, HMAC key) comes from: the
//! workspace's one [`SecretSource`] (an environment variable or a file,
//! never the configuration text itself), shared with the broker settings.

pub use token_core::{SecretError, SecretSource};
