//! Tokens kept in a `.env` file, as many existing deployments do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::dotenv::DotEnv;
use super::fsutil;
use super::TokenStore;
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::{
    check_version, parse_versioned, Metadata, Record, SecretFields, StoredRecord, SCHEMA_VERSION,
};

/// Which variables hold an account's fields and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvMapping {
    prefix: Option<String>,
    fields: BTreeMap<String, String>,
    meta_var: String,
}

impl EnvMapping {
    /// Field `f` lives in `{prefix}{F}` (upper-cased), metadata in `{prefix}META`.
    /// Loading picks up every `{prefix}*` variable as a field.
    pub fn prefixed(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self {
            meta_var: format!("{prefix}META"),
            prefix: Some(prefix),
            fields: BTreeMap::new(),
        }
    }

    /// Only the listed fields, in the variables you name; metadata in `meta_var`.
    ///
    /// ```
    /// use token_core::store::EnvMapping;
    /// let m = EnvMapping::explicit("FYERS_TOKEN_META")
    ///     .field("access_token", "FYERS_ACCESS_TOKEN")
    ///     .field("refresh_token", "FYERS_REFRESH_TOKEN");
    /// ```
    pub fn explicit(meta_var: impl Into<String>) -> Self {
        Self {
            prefix: None,
            fields: BTreeMap::new(),
            meta_var: meta_var.into(),
        }
    }

    /// Maps payload field `field` to variable `var`.
    pub fn field(mut self, field: impl Into<String>, var: impl Into<String>) -> Self {
        self.fields.insert(field.into(), var.into());
        self
    }

    fn var_for(&self, field: &str) -> Option<String> {
        match self.fields.get(field) {
            Some(var) => Some(var.clone()),
            None => self
                .prefix
                .as_ref()
                .map(|p| format!("{p}{}", field.to_ascii_uppercase())),
        }
    }

    /// (field, variable) pairs present in `env`.
    fn present(&self, env: &DotEnv) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (field, var) in &self.fields {
            if env.get(var).is_some() {
                out.insert(field.clone(), var.clone());
            }
        }
        if let Some(prefix) = &self.prefix {
            for name in env.names() {
                if name == self.meta_var {
                    continue;
                }
                if let Some(rest) = name.strip_prefix(prefix.as_str()) {
                    if !rest.is_empty() && !self.fields.values().any(|v| v == name) {
                        out.insert(rest.to_ascii_lowercase(), name.to_string());
                    }
                }
            }
        }
        out.into_iter().collect()
    }
}

/// A parsed file and its modification time.
type Loaded = (DotEnv, Option<DateTime<Utc>>);

#[derive(Serialize, Deserialize)]
struct EnvMeta {
    schema_version: u32,
    key: AccountKey,
    #[serde(flatten)]
    meta: Metadata,
}

/// Keeps records as variables in one `.env` file.
///
/// By default account `fyers/production/main` uses `FYERS_PRODUCTION_MAIN_*`
/// variables; [`EnvFileStore::with_mapping`] maps fields to the names your
/// deployment already uses (e.g. `FYERS_ACCESS_TOKEN`). Metadata is one
/// variable of JSON (no secrets in it). Comments, order and unrelated
/// variables are preserved; writes are crash-safe like [`super::FileStore`]'s
/// and serialized across processes by an advisory lock on a hidden `.lock`
/// file next to it, and a file that cannot be parsed is never overwritten. Credentials found
/// without metadata (a hand-written file) load as issued at the file's
/// modification time.
#[derive(Debug, Clone)]
pub struct EnvFileStore {
    path: PathBuf,
    mappings: BTreeMap<AccountKey, EnvMapping>,
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

impl EnvFileStore {
    /// A store over `path` (created on first save, 0600).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            mappings: BTreeMap::new(),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Uses `mapping` for `key` instead of the default prefix.
    pub fn with_mapping(mut self, key: AccountKey, mapping: EnvMapping) -> Self {
        self.mappings.insert(key, mapping);
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mapping(&self, key: &AccountKey) -> EnvMapping {
        self.mappings
            .get(key)
            .cloned()
            .unwrap_or_else(|| EnvMapping::prefixed(key.env_prefix()))
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn read(path: &Path) -> Result<Option<Loaded>, StoreError> {
        let Some(bytes) = fsutil::read_opt(path)? else {
            return Ok(None);
        };
        let location = path.display().to_string();
        let text = String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
            location: location.clone(),
            detail: "not UTF-8".into(),
        })?;
        let env = DotEnv::parse(&text).map_err(|e| StoreError::Corrupt {
            location,
            detail: e.to_string(),
        })?;
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .map(DateTime::<Utc>::from);
        Ok(Some((env, mtime)))
    }

    fn parse_meta(location: &str, raw: &str) -> Result<EnvMeta, StoreError> {
        parse_versioned(location, raw.as_bytes())
    }

    fn extract(
        &self,
        env: &DotEnv,
        mtime: Option<DateTime<Utc>>,
        key: &AccountKey,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let mapping = self.mapping(key);
        let location = format!("{} ({})", self.location(), mapping.meta_var);
        let meta = match env.get(&mapping.meta_var) {
            Some(raw) => {
                let m = Self::parse_meta(&location, raw)?;
                if &m.key != key {
                    return Err(StoreError::Corrupt {
                        location,
                        detail: format!("metadata belongs to {}", m.key),
                    });
                }
                Some(m.meta)
            }
            None => None,
        };
        let mut fields = SecretFields::new();
        for (field, var) in mapping.present(env) {
            if let Some(v) = env.get(&var) {
                fields.insert(field, SecretString::from(v.to_string()));
            }
        }
        match (meta, fields.is_empty()) {
            (None, true) => Ok(None),
            (Some(_), true) => Err(StoreError::Corrupt {
                location,
                detail: "metadata present but no credential variables".into(),
            }),
            (meta, false) => Ok(Some(Record {
                schema_version: SCHEMA_VERSION,
                key: key.clone(),
                meta: meta.unwrap_or_else(|| Metadata::issued(mtime.unwrap_or_else(Utc::now))),
                payload: fields,
            })),
        }
    }

    /// Reads the file for a change; a file we cannot parse must not be rewritten.
    fn read_for_update(path: &Path) -> Result<DotEnv, StoreError> {
        match Self::read(path) {
            Ok(Some((env, _))) => Ok(env),
            Ok(None) => Ok(DotEnv::default()),
            Err(e @ StoreError::Io { .. }) => Err(e),
            Err(e) => Err(StoreError::WouldOverwrite {
                location: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    fn write(path: &Path, env: &DotEnv) -> Result<(), StoreError> {
        let mode = fsutil::mode_of(path).unwrap_or(0o600);
        fsutil::atomic_write(path, env.to_string().as_bytes(), mode)
    }

    fn remove_vars(env: &mut DotEnv, mapping: &EnvMapping) -> bool {
        let mut removed = false;
        for (_, var) in mapping.present(env) {
            removed |= env.remove(&var);
        }
        removed | env.remove(&mapping.meta_var)
    }
}

#[async_trait]
impl TokenStore for EnvFileStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        let this = self.clone();
        let key = key.clone();
        fsutil::blocking(move || match Self::read(&this.path)? {
            Some((env, mtime)) => this.extract(&env, mtime, &key),
            None => Ok(None),
        })
        .await
    }

    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        check_version(&record.key.to_string(), record.schema_version)?;
        let mapping = self.mapping(&record.key);
        let mut vars = Vec::new();
        for (field, value) in record.payload.iter() {
            let var = mapping.var_for(field).ok_or_else(|| {
                StoreError::Payload(format!("field {field:?} has no variable in the mapping"))
            })?;
            vars.push((var, SecretString::from(value.expose_secret().to_owned())));
        }
        let meta = serde_json::to_string(&EnvMeta {
            schema_version: record.schema_version,
            key: record.key.clone(),
            meta: record.meta.clone(),
        })
        .map_err(|e| StoreError::Payload(format!("cannot encode metadata: {e}")))?;
        let path = self.path.clone();
        let _guard = self.write_lock.lock().await;
        fsutil::blocking(move || {
            // Other processes may share the file: read-modify-write under
            // its lock, or one process's save would undo another's.
            let _lock = fsutil::lock_for_write(&path)?;
            let mut env = Self::read_for_update(&path)?;
            if let Some(raw) = env.get(&mapping.meta_var) {
                if let Err(e) = Self::parse_meta(&mapping.meta_var, raw) {
                    return Err(StoreError::WouldOverwrite {
                        location: path.display().to_string(),
                        reason: e.to_string(),
                    });
                }
            }
            // Drop variables of fields the new record no longer has; update
            // the rest in place so the file keeps its order.
            for (_, var) in mapping.present(&env) {
                if !vars.iter().any(|(v, _)| *v == var) {
                    env.remove(&var);
                }
            }
            for (var, value) in &vars {
                env.set(var, value.expose_secret());
            }
            env.set(&mapping.meta_var, &meta);
            Self::write(&path, &env)
        })
        .await
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let mapping = self.mapping(key);
        let path = self.path.clone();
        let _guard = self.write_lock.lock().await;
        fsutil::blocking(move || {
            if !path.exists() {
                return Ok(false);
            }
            let _lock = fsutil::lock_for_write(&path)?;
            let mut env = Self::read_for_update(&path)?;
            if !Self::remove_vars(&mut env, &mapping) {
                return Ok(false);
            }
            Self::write(&path, &env)?;
            Ok(true)
        })
        .await
    }

    /// An advisory lock (`flock`) on `.<file name>.<broker>.<environment>.<label>.lock`
    /// next to the file: processes sharing the `.env` renew once, and the OS
    /// releases the lock when its holder dies (the `ttl` is not needed).
    async fn lease(
        &self,
        key: &AccountKey,
        _ttl: std::time::Duration,
        wait: std::time::Duration,
    ) -> Result<Option<Box<dyn super::Lease>>, StoreError> {
        let path = fsutil::hidden_sibling(&self.path, &format!(".{}.lock", key.file_stem()));
        fsutil::lease(path, key, wait).await.map(Some)
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        let this = self.clone();
        fsutil::blocking(move || {
            let Some((env, mtime)) = Self::read(&this.path)? else {
                return Ok(Vec::new());
            };
            let mut keys: Vec<AccountKey> = env
                .names()
                .filter(|n| n.ends_with("META"))
                .filter_map(|n| env.get(n))
                .filter_map(|raw| serde_json::from_str::<EnvMeta>(raw).ok())
                .map(|m| m.key)
                .collect();
            for key in this.mappings.keys() {
                if let Ok(Some(_)) = this.extract(&env, mtime, key) {
                    keys.push(key.clone());
                }
            }
            keys.sort();
            keys.dedup();
            Ok(keys)
        })
        .await
    }
}
