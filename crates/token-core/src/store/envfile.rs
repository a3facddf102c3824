//! Tokens kept in a `.env` file, as many existing deployments do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::dotenv::DotEnv;
use super::envclaims::{Accounts, EnvMeta};
use super::envmapping::{self, EnvMapping};
use super::owner::{ClaimAttempt, OwnerClaims, OwnerInfo};
use super::{fsutil, lockfile, ownerfile, tempfiles, TokenStore};
use crate::error::StoreError;
use crate::key::AccountKey;
use crate::record::{
    check_version, parse_versioned, Metadata, Record, SecretFields, StoredRecord, SCHEMA_VERSION,
};

/// A parsed file and its modification time.
type Loaded = (DotEnv, Option<DateTime<Utc>>);

/// Keeps records as variables in one `.env` file.
///
/// By default account `fyers/production/main` uses `FYERS_PRODUCTION_MAIN_*`
/// variables; [`EnvFileStore::with_mapping`] maps fields to the names your
/// deployment already uses (e.g. `FYERS_ACCESS_TOKEN`). Metadata is one
/// variable of JSON (no secrets in it) that also lists the fields written.
///
/// An account owns exactly the variables its mapping names (see
/// [`EnvMapping`]): labels `main` and `main_x` live side by side, and a
/// variable the store did not write (`FYERS_PRODUCTION_MAIN_NOTE`) is never
/// read, changed or removed. Two accounts that could write the same variable
/// (labels differing only in case or `-`/`_`, or clashing explicit names)
/// are refused by [`EnvFileStore::check_accounts`] at configuration time and
/// by every save, with both accounts named.
///
/// Comments, order, line endings, unrelated variables and lines it does not
/// understand are preserved (see [`super::dotenv`] for what is read and how
/// values are quoted); writes are crash-safe like [`super::FileStore`]'s and
/// serialized across processes by an advisory lock on a hidden `.lock`
/// file next to it. The file's directory must not be writable by group or
/// others, and the file and its lock are never opened through a symbolic
/// link. Credentials found without metadata through an explicit mapping (a
/// hand-written file) load as issued at the file's modification time.
#[derive(Debug, Clone)]
pub struct EnvFileStore {
    path: PathBuf,
    mappings: BTreeMap<AccountKey, EnvMapping>,
    write_lock: Arc<tokio::sync::Mutex<()>>,
    swept: Arc<AtomicBool>,
}

impl EnvFileStore {
    /// A store over `path` (created on first save, 0600).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            mappings: BTreeMap::new(),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            swept: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Uses `mapping` for `key` instead of the default prefix.
    pub fn with_mapping(mut self, key: AccountKey, mapping: EnvMapping) -> Self {
        self.mappings.insert(key, mapping);
        self
    }

    /// Checks, at configuration time, that the accounts `keys` and those with
    /// a mapping can share this file: fails with [`StoreError::Config`]
    /// naming both accounts when two could write the same variable.
    ///
    /// ```
    /// use token_core::{AccountKey, Environment, EnvFileStore};
    /// let main = AccountKey::new("fyers", Environment::Production, "main")?;
    /// let shouting = AccountKey::new("fyers", Environment::Production, "MAIN")?;
    /// let store = EnvFileStore::new(".env");
    /// let err = store.check_accounts([&main, &shouting]).unwrap_err();
    /// assert!(err.to_string().contains("fyers/production/MAIN"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_accounts<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a AccountKey>,
    ) -> Result<(), StoreError> {
        let mut all: Vec<(AccountKey, EnvMapping)> = self
            .mappings
            .iter()
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        for key in keys {
            if !all.iter().any(|(k, _)| k == key) {
                all.push((key.clone(), self.mapping(key)));
            }
        }
        envmapping::check_all(&all)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mapping(&self, key: &AccountKey) -> EnvMapping {
        self.accounts().mapping(key)
    }

    fn accounts(&self) -> Accounts<'_> {
        Accounts {
            mappings: &self.mappings,
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// Before any access: the directory must be private; on first access,
    /// temp files of killed writers are removed.
    fn prepare(&self) -> Result<(), StoreError> {
        let dir = fsutil::parent(&self.path);
        if dir.is_dir() {
            fsutil::check_private_dir(&dir)?;
            if !self.swept.swap(true, Ordering::SeqCst) {
                tempfiles::sweep_for(&self.path);
            }
        }
        Ok(())
    }

    fn read(path: &Path) -> Result<Option<Loaded>, StoreError> {
        let Some((bytes, meta)) = fsutil::read_opt_with_meta(path)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
            location: path.display().to_string(),
            detail: "not UTF-8".into(),
        })?;
        let mtime = meta.modified().ok().map(DateTime::<Utc>::from);
        Ok(Some((DotEnv::parse(&text), mtime)))
    }

    /// Reads the file for a change; a file we cannot parse must not be rewritten.
    fn read_for_update(path: &Path) -> Result<DotEnv, StoreError> {
        match Self::read(path) {
            Ok(Some((env, _))) => Ok(env),
            Ok(None) => Ok(DotEnv::default()),
            Err(e @ (StoreError::Io { .. } | StoreError::Insecure { .. })) => Err(e),
            Err(e) => Err(StoreError::WouldOverwrite {
                location: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// `key`'s metadata, checked to be `key`'s.
    fn meta_of(&self, env: &DotEnv, key: &AccountKey) -> Result<Option<EnvMeta>, StoreError> {
        let mapping = self.mapping(key);
        let Some(raw) = env.get(mapping.meta_var()) else {
            return Ok(None);
        };
        let location = format!("{} ({})", self.location(), mapping.meta_var());
        let m: EnvMeta = parse_versioned(&location, raw.as_bytes())?;
        if &m.key != key {
            return Err(StoreError::Config(format!(
                "accounts {key} and {} both use the variable {} in {}; rename one label or \
                 give one an explicit mapping",
                m.key,
                mapping.meta_var(),
                self.location()
            )));
        }
        Ok(Some(m))
    }

    fn extract(
        &self,
        env: &DotEnv,
        mtime: Option<DateTime<Utc>>,
        key: &AccountKey,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let meta = self.meta_of(env, key)?;
        let mut fields = SecretFields::new();
        for (field, var) in self.accounts().owned(env, key, meta.as_ref()) {
            if let Some(v) = env.get(&var) {
                fields.insert(field, SecretString::from(v.to_string()));
            }
        }
        match (meta, fields.is_empty()) {
            (None, true) => Ok(None),
            (Some(_), true) => Err(StoreError::Corrupt {
                location: format!("{} ({})", self.location(), self.mapping(key).meta_var()),
                detail: "metadata present but no credential variables".into(),
            }),
            (meta, false) => Ok(Some(Record {
                schema_version: SCHEMA_VERSION,
                key: key.clone(),
                meta: meta.map_or_else(
                    || Metadata::issued(mtime.unwrap_or_else(Utc::now)),
                    |m| m.meta,
                ),
                payload: fields,
            })),
        }
    }

    /// Refuses to write `vars` when another account claims one, or when a
    /// line this parser does not understand assigns one.
    fn check_writable(
        &self,
        env: &DotEnv,
        key: &AccountKey,
        vars: &[&str],
    ) -> Result<(), StoreError> {
        let others = self.accounts().others_claims(env, key);
        for var in vars {
            if let Some(owner) = others.get(*var) {
                return Err(StoreError::Config(format!(
                    "accounts {key} and {owner} could both write the variable {var} in {}; \
                     rename one label or give one an explicit mapping",
                    self.location()
                )));
            }
            if let Some(line) = env.unparsed_mentions(var).first() {
                return Err(StoreError::WouldOverwrite {
                    location: self.location(),
                    reason: format!(
                        "line {line} assigns {var} in a form this store does not understand; \
                         fix or remove that line"
                    ),
                });
            }
        }
        Ok(())
    }

    fn write(path: &Path, env: &DotEnv) -> Result<(), StoreError> {
        let mode = fsutil::mode_of(path).unwrap_or(0o600);
        fsutil::atomic_write(path, env.to_string().as_bytes(), mode)
    }

    /// The read-modify-write of `save` under the file's lock.
    fn save_locked(
        &self,
        key: &AccountKey,
        vars: &[(String, SecretString)],
        meta: &str,
    ) -> Result<(), StoreError> {
        let meta_var = self.mapping(key).meta_var().to_string();
        let mut env = Self::read_for_update(&self.path)?;
        let old = self.meta_of(&env, key).map_err(|e| match e {
            e @ StoreError::Config(_) => e,
            e => StoreError::WouldOverwrite {
                location: self.location(),
                reason: e.to_string(),
            },
        })?;
        let mut names: Vec<&str> = vars.iter().map(|(v, _)| v.as_str()).collect();
        names.push(&meta_var);
        self.check_writable(&env, key, &names)?;
        // Drop variables of fields the new record no longer has (only ones
        // this account owns); update the rest in place to keep the order.
        let others = self.accounts().others_claims(&env, key);
        for (_, var) in self.accounts().owned(&env, key, old.as_ref()) {
            if !names.contains(&var.as_str()) && !others.contains_key(&var) {
                env.remove(&var);
            }
        }
        for (var, value) in vars {
            env.set(var, value.expose_secret())
                .map_err(|e| StoreError::Payload(e.to_string()))?;
        }
        env.set(&meta_var, meta)
            .map_err(|e| StoreError::Payload(e.to_string()))?;
        Self::write(&self.path, &env)
    }

    fn delete_locked(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let mut env = Self::read_for_update(&self.path)?;
        let meta = self.meta_of(&env, key)?;
        let others = self.accounts().others_claims(&env, key);
        let mut removed = false;
        for (_, var) in self.accounts().owned(&env, key, meta.as_ref()) {
            if !others.contains_key(&var) {
                removed |= env.remove(&var);
            }
        }
        removed |= env.remove(self.mapping(key).meta_var());
        if removed {
            Self::write(&self.path, &env)?;
        }
        Ok(removed)
    }
}

#[async_trait]
impl TokenStore for EnvFileStore {
    async fn load(&self, key: &AccountKey) -> Result<Option<StoredRecord>, StoreError> {
        let this = self.clone();
        let key = key.clone();
        fsutil::blocking(move || {
            this.prepare()?;
            match Self::read(&this.path)? {
                Some((env, mtime)) => this.extract(&env, mtime, &key),
                None => Ok(None),
            }
        })
        .await
    }

    async fn save(&self, record: &StoredRecord) -> Result<(), StoreError> {
        check_version(&record.key.to_string(), record.schema_version)?;
        let mapping = self.mapping(&record.key);
        let mut vars = Vec::new();
        let mut fields = Vec::new();
        for (field, value) in record.payload.iter() {
            let var = mapping.var_for(field).ok_or_else(|| {
                StoreError::Payload(format!("field {field:?} has no variable in the mapping"))
            })?;
            vars.push((var, SecretString::from(value.expose_secret().to_owned())));
            fields.push(field.to_string());
        }
        let meta = serde_json::to_string(&EnvMeta {
            schema_version: record.schema_version,
            key: record.key.clone(),
            fields: Some(fields),
            meta: record.meta.clone(),
        })
        .map_err(|e| StoreError::Payload(format!("cannot encode metadata: {e}")))?;
        let this = self.clone();
        let key = record.key.clone();
        let _guard = self.write_lock.lock().await;
        fsutil::blocking(move || {
            this.prepare()?;
            // Other processes may share the file: read-modify-write under
            // its lock, or one process's save would undo another's.
            let _lock = lockfile::lock_for_write(&this.path)?;
            this.save_locked(&key, &vars, &meta)
        })
        .await
    }

    async fn delete(&self, key: &AccountKey) -> Result<bool, StoreError> {
        let this = self.clone();
        let key = key.clone();
        let _guard = self.write_lock.lock().await;
        fsutil::blocking(move || {
            this.prepare()?;
            if std::fs::symlink_metadata(&this.path).is_err() {
                return Ok(false);
            }
            let _lock = lockfile::lock_for_write(&this.path)?;
            this.delete_locked(&key)
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
        let this = self.clone();
        fsutil::blocking(move || this.prepare()).await?;
        let path = fsutil::hidden_sibling(&self.path, &format!(".{}.lock", key.file_stem()));
        lockfile::lease(path, key, wait).await.map(Some)
    }

    async fn list(&self) -> Result<Vec<AccountKey>, StoreError> {
        let this = self.clone();
        fsutil::blocking(move || {
            this.prepare()?;
            let Some((env, mtime)) = Self::read(&this.path)? else {
                return Ok(Vec::new());
            };
            let mut keys: Vec<AccountKey> = this
                .accounts()
                .metas(&env)
                .into_iter()
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

/// The claim is an advisory lock on
/// `.<file name>.<broker>.<environment>.<label>.owner` next to the file (see
/// [`OwnerClaims`]), dropped by the OS with the holding process.
#[async_trait]
impl OwnerClaims for EnvFileStore {
    async fn try_claim(
        &self,
        key: &AccountKey,
        me: &OwnerInfo,
    ) -> Result<ClaimAttempt, StoreError> {
        let this = self.clone();
        fsutil::blocking(move || this.prepare()).await?;
        let path = fsutil::hidden_sibling(&self.path, &format!(".{}.owner", key.file_stem()));
        ownerfile::try_claim(path, key, me).await
    }
}
