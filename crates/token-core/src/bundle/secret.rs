//! Where a secret comes from: an environment variable or a file, never the
//! configuration text itself. One type for every configuration that names a
//! secret (broker settings, the control server's bearer token, alert keys).

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Names where to read a secret from. In TOML: `{ env = "VAR" }` or
/// `{ file = "/run/secrets/name" }`. An inline value (a string, a number)
/// is refused, without echoing it, so secrets never end up in a
/// configuration file checked into git.
///
/// Reading trims surrounding whitespace (a file's trailing newline) and
/// refuses an empty secret.
///
/// ```
/// use token_core::SecretSource;
/// let src: SecretSource = serde_json::from_str(r#"{"env":"MY_TOKEN"}"#).unwrap();
/// assert_eq!(src, SecretSource::Env("MY_TOKEN".into()));
/// assert!(serde_json::from_str::<SecretSource>(r#""hunter2""#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file (surrounding whitespace trimmed). A
    /// relative path is relative to the directory given to
    /// [`SecretSource::read_in`] (the current directory for
    /// [`SecretSource::read`]).
    File(PathBuf),
}

/// What an inline value is refused with. Never contains the value.
pub const INLINE_SECRET_REFUSED: &str = "secrets are never written in the config file (not accepted inline): use { env = \"VAR\" } or { file = \"PATH\" }";

impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{ env = \"VAR\" } or { file = \"PATH\" }")
            }
            // Every inline value is refused without echoing it: it may be
            // the secret itself (a PIN is a number).
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET_REFUSED))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET_REFUSED))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET_REFUSED))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET_REFUSED))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretSource, E> {
                Err(E::custom(INLINE_SECRET_REFUSED))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<SecretSource, A::Error> {
                Err(de::Error::custom(INLINE_SECRET_REFUSED))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretSource, A::Error> {
                let mut found: Option<SecretSource> = None;
                while let Some(k) = map.next_key::<String>()? {
                    let source = match k.as_str() {
                        "env" => SecretSource::Env(map.next_value()?),
                        "file" => SecretSource::File(map.next_value()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["env", "file"]));
                        }
                    };
                    if found.replace(source).is_some() {
                        return Err(de::Error::custom("give either `env` or `file`, not both"));
                    }
                }
                found.ok_or_else(|| {
                    de::Error::custom("expected `env = \"VAR\"` or `file = \"PATH\"`")
                })
            }
        }
        d.deserialize_any(V)
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
    /// A relative file path anchored at `base` (e.g. the directory of the
    /// configuration file that named it); absolute paths and variables are
    /// unchanged.
    pub fn relative_to(&self, base: &Path) -> SecretSource {
        match self {
            SecretSource::File(p) => SecretSource::File(base.join(p)),
            env => env.clone(),
        }
    }

    /// Reads the secret now (relative paths from the current directory).
    pub fn read(&self) -> Result<SecretString, SecretError> {
        self.read_in(Path::new(""))
    }

    /// Reads the secret now, a relative file path being relative to `base`.
    pub fn read_in(&self, base: &Path) -> Result<SecretString, SecretError> {
        let (value, origin) = match self {
            SecretSource::Env(var) => (
                std::env::var(var).map_err(|_| SecretError::EnvMissing(var.clone()))?,
                format!("environment variable {var}"),
            ),
            SecretSource::File(path) => {
                let path = base.join(path);
                let text = std::fs::read_to_string(&path).map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                })?;
                if let Some(mode) = loose_permissions(&path) {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{mode:o}"),
                        "secret file is readable by group or others; `chmod 600` it"
                    );
                }
                (text, format!("file {}", path.display()))
            }
        };
        let secret = SecretString::from(value.trim().to_owned());
        if secret.expose_secret().is_empty() {
            return Err(SecretError::Empty(origin));
        }
        Ok(secret)
    }
}

/// The permission bits of `path` when group or others may read or write it
/// (Unix); `None` when only its owner can, or elsewhere.
pub fn loose_permissions(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_values_are_refused_without_echoing_them() {
        for inline in [r#""s3cr3t-Zq9vKx""#, "48217", "4821.5", "true", "[1]"] {
            let err = serde_json::from_str::<SecretSource>(inline).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("not accepted inline"), "{msg}");
            for leaked in ["s3cr3t", "4821", "true"] {
                assert!(!msg.contains(leaked), "{inline}: {msg}");
            }
        }
    }

    #[test]
    fn reads_env_and_files_trimmed_and_relative_to_a_base() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s"), "  S3cr3t-Zq9vKx-file\n").unwrap();
        let src = SecretSource::File("s".into());
        let got = src.read_in(dir.path()).unwrap();
        assert_eq!(got.expose_secret(), "S3cr3t-Zq9vKx-file");
        assert_eq!(
            src.relative_to(dir.path()),
            SecretSource::File(dir.path().join("s"))
        );
        assert!(matches!(src.read(), Err(SecretError::File { .. })));
    }

    #[test]
    fn missing_or_empty_sources_are_clear_errors() {
        let err = SecretSource::Env("TOKEN_CORE_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TOKEN_CORE_TEST_SURELY_UNSET_VAR is not set"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(
            SecretSource::File(path).read(),
            Err(SecretError::Empty(_))
        ));
    }
}

#[cfg(all(test, unix))]
mod permission_tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn group_or_world_readable_secret_files_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "S3cr3t-Zq9vKx-perm").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_permissions(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(loose_permissions(&path), Some(0o640));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert_eq!(loose_permissions(&path), Some(0o604));
        // Still read (a warning, not a refusal).
        assert!(SecretSource::File(path).read().is_ok());
    }
}
