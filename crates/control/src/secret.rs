//! Where a secret (bearer token, bot token, HMAC key) comes from: an
//! environment variable or a file, never the configuration text itself.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Names where to read a secret from. In TOML: `{ env = "VAR" }` or
/// `{ file = "/run/secrets/name" }`. An inline string is refused so secrets
/// never end up in a config file checked into git.
///
/// ```
/// use control::SecretSource;
/// let src: SecretSource = serde_json::from_str(r#"{"env":"MY_TOKEN"}"#).unwrap();
/// assert_eq!(src, SecretSource::Env("MY_TOKEN".into()));
/// assert!(serde_json::from_str::<SecretSource>(r#""hunter2""#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSource")]
pub enum SecretSource {
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file (one trailing newline is ignored).
    File(PathBuf),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Env { env: String },
    File { file: PathBuf },
    Inline(#[allow(dead_code)] String),
}

impl TryFrom<RawSource> for SecretSource {
    type Error = String;
    fn try_from(raw: RawSource) -> Result<Self, String> {
        match raw {
            RawSource::Env { env } => Ok(SecretSource::Env(env)),
            RawSource::File { file } => Ok(SecretSource::File(file)),
            // Never echo the value: it may be a real secret.
            RawSource::Inline(_) => Err(
                "secrets are not accepted inline; use { env = \"VAR\" } or { file = \"PATH\" }"
                    .into(),
            ),
        }
    }
}

/// Why a secret could not be read. Never contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    /// The file cannot be read.
    #[error("cannot read secret file {path}: {source}")]
    File {
        /// Which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The secret is empty.
    #[error("the secret from {0} is empty")]
    Empty(String),
}

impl SecretSource {
    /// Reads the secret now.
    pub fn read(&self) -> Result<SecretString, SecretError> {
        let (value, origin) = match self {
            SecretSource::Env(var) => (
                std::env::var(var).map_err(|_| SecretError::EnvMissing(var.clone()))?,
                format!("environment variable {var}"),
            ),
            SecretSource::File(path) => (
                std::fs::read_to_string(path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?,
                format!("file {}", path.display()),
            ),
        };
        let secret = SecretString::from(value.trim_end_matches(['\r', '\n']).to_string());
        if secret.expose_secret().is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_are_refused_without_echoing_them() {
        let err = serde_json::from_str::<SecretSource>(r#""s3cr3t-value""#).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("not accepted inline"), "{msg}");
        assert!(!msg.contains("s3cr3t"), "{msg}");
    }

    #[test]
    fn reads_files_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok");
        std::fs::write(&path, "abc123\n").unwrap();
        let s = SecretSource::File(path).read().unwrap();
        assert_eq!(s.expose_secret(), "abc123");
    }

    #[test]
    fn missing_or_empty_sources_are_clear_errors() {
        let err = SecretSource::Env("CONTROL_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("CONTROL_TEST_SURELY_UNSET_VAR"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            SecretSource::File(path).read(),
            Err(SecretError::Empty(_))
        ));
        assert!(matches!(
            SecretSource::File(dir.path().join("nope")).read(),
            Err(SecretError::File { .. })
        ));
    }
}
