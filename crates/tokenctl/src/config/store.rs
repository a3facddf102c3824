//! Where an account's tokens are kept: a directory (one JSON file per
//! account), a shared `.env` file, or Redis.
//!
//! ```toml
//! store = "tokens"                                   # a directory (the default)
//! store = { kind = "env", path = ".env" }            # one .env file
//! store = { kind = "redis", url = { env = "REDIS_URL" }, prefix = "bot:tokens" }
//! ```
//!
//! The Redis URL may carry a password, so it is a secret reference
//! (`{ env = "VAR" }` or `{ file = "PATH" }`), never written inline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use token_core::{EnvMapping, SecretSource};

/// The store an account uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A directory of JSON files ([`token_core::FileStore`]).
    Dir(PathBuf),
    /// One `.env` file shared by accounts ([`token_core::EnvFileStore`]).
    Env(PathBuf),
    /// Redis (`token_store_redis::RedisStore`).
    Redis {
        /// Where the URL (which may hold a password) is read from.
        url: SecretSource,
        /// The key prefix, if not the default.
        prefix: Option<String>,
    },
}

impl StoreSpec {
    /// A local directory for the account's side files (e.g. a pending
    /// login): the store directory, the `.env` file's directory, or
    /// `base` for Redis.
    pub fn local_dir(&self, base: &Path) -> PathBuf {
        match self {
            StoreSpec::Dir(d) => d.clone(),
            StoreSpec::Env(f) => f
                .parent()
                .map_or_else(|| base.to_path_buf(), Path::to_path_buf),
            StoreSpec::Redis { .. } => base.join("tokens"),
        }
    }
}

/// `store = ...` as written: a directory path, or a table with a `kind`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawStore {
    Dir(String),
    Table(toml::Table),
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum StoreTable {
    Dir {
        path: String,
    },
    Env {
        path: String,
    },
    Redis {
        url: SecretSource,
        prefix: Option<String>,
    },
}

impl RawStore {
    /// The spec, relative paths anchored at `base`; `Err` is a message.
    pub(super) fn resolve(self, base: &Path) -> Result<StoreSpec, String> {
        let table = match self {
            RawStore::Dir(d) => return Ok(StoreSpec::Dir(base.join(d))),
            RawStore::Table(t) => t,
        };
        let hint =
            "store must be a directory path or a table with kind = \"dir\", \"env\" or \"redis\"";
        let table: StoreTable = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| format!("{}; {hint}", e.message().trim()))?;
        Ok(match table {
            StoreTable::Dir { path } => StoreSpec::Dir(base.join(path)),
            StoreTable::Env { path } => StoreSpec::Env(base.join(path)),
            StoreTable::Redis { url, prefix } => StoreSpec::Redis {
                url: url.relative_to(base),
                prefix,
            },
        })
    }
}

/// `env_mapping = { meta = "FYERS_TOKEN_META", fields = { access_token = "FYERS_ACCESS_TOKEN" } }`
/// or `env_mapping = { prefix = "FYERS_" }`: which `.env` variables an
/// account of an `env` store uses.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvMapping {
    prefix: Option<String>,
    meta: Option<String>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
}

impl RawEnvMapping {
    pub(super) fn resolve(self) -> Result<EnvMapping, String> {
        match (self.prefix, self.meta) {
            (Some(p), None) if self.fields.is_empty() => Ok(EnvMapping::prefixed(p)),
            (None, Some(meta)) => Ok(self
                .fields
                .into_iter()
                .fold(EnvMapping::explicit(meta), |m, (f, v)| m.field(f, v))),
            _ => Err("env_mapping needs either `prefix` alone, or `meta` with `fields` (e.g. env_mapping = { meta = \"FYERS_TOKEN_META\", fields = { access_token = \"FYERS_ACCESS_TOKEN\" } })".into()),
        }
    }
}
