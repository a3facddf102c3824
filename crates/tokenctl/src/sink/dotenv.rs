//! The dotenv sink: the account's variables in a `.env` file, every other
//! line kept as written, through token-core's `.env` editor (quoting that
//! shells, python-dotenv and docker `--env-file` read alike) and its
//! private-file writer (atomic replace, 0600).

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use token_core::store::dotenv::DotEnv;
use token_core::store::{read_private_file, write_private_file};

use super::SinkError;

/// Sets `values`, removes the other `names`; true when the file changed.
pub(super) fn write(
    path: &Path,
    values: &[(String, &SecretString)],
    names: &[String],
) -> Result<bool, SinkError> {
    let file_err = |source| SinkError::File {
        path: path.display().to_string(),
        source,
    };
    let old = read_private_file(path).map_err(file_err)?;
    let old_text = match &old {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => String::new(),
    };
    let mut env = DotEnv::parse(&old_text);
    for name in names {
        if !values.iter().any(|(n, _)| n == name) {
            env.remove(name);
        }
    }
    for (name, value) in values {
        env.set(name, value.expose_secret())
            .map_err(|source| SinkError::DotEnv {
                path: path.display().to_string(),
                source,
            })?;
    }
    let new_text = env.to_string();
    if old.is_some() && new_text == old_text {
        return Ok(false);
    }
    write_private_file(path, new_text.as_bytes()).map_err(file_err)?;
    Ok(true)
}
