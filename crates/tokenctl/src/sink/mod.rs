//! Sinks: files `tokenctl run` keeps up to date with an account's token
//! (a `.env` file, a JSON document), rewritten on every change the
//! account's manager announces (login, renewal, rotation, expiry), each
//! optionally followed by an `on_change` command.
//!
//! What a sink sees is read from the account's store and health, so it
//! works for every broker; which fields it writes comes from the broker
//! bundle ([`token_core::Broker::sink_fields`]) unless the sink names them.
//! Token values are written to the sink files only, never logged.

mod command;
mod dotenv;
mod json;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use thiserror::Error;
use token_core::{AccountHealth, Clock, ManagedAccount, StoreError, TokenState, TokenStore};

use crate::accounts::Account;
use crate::config::{OnExpiry, SinkKind, SinkSpec};

pub use json::{next_action, next_action_now, JSON_SCHEMA_VERSION};

/// Why a sink could not be written. Never holds a token value.
#[derive(Debug, Error)]
pub enum SinkError {
    /// Reading the token store failed.
    #[error("cannot read the token store: {0}")]
    Store(#[source] StoreError),
    /// The sink file could not be read or written (e.g. its directory is
    /// writable by others: make it private, `chmod 700 DIR`).
    #[error("sink {path}: {source}")]
    File {
        /// The sink file.
        path: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// A value no `.env` quoting carries (names the variable, not the value).
    #[error("sink {path}: {source}")]
    DotEnv {
        /// The sink file.
        path: String,
        /// Why.
        #[source]
        source: token_core::store::dotenv::DotEnvError,
    },
}

/// What the sinks of one account are written from.
pub struct Snapshot {
    /// The account's health (state, times, next person action).
    pub health: AccountHealth,
    /// Token fields (payload field name, value), empty without a token.
    pub fields: Vec<(String, SecretString)>,
    /// When it was read.
    pub now: DateTime<Utc>,
}

impl Snapshot {
    /// Reads the account's current record from `store` at `now`.
    pub async fn read(
        account: &dyn ManagedAccount,
        store: &dyn TokenStore,
        now: DateTime<Utc>,
    ) -> Result<Snapshot, SinkError> {
        let mut health = account.health();
        let record = store.load(account.key()).await.map_err(SinkError::Store)?;
        if let Some(r) = &record {
            adopt_times(&mut health, &r.meta, now);
        }
        let fields = record
            .map(|r| {
                r.payload
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Snapshot {
            health,
            fields,
            now,
        })
    }

    /// Whether the token no longer works: the policy says expired, or its
    /// hard expiry has passed (a FYERS access token past its expiry is
    /// "idle" to the policy, renewable with the refresh token, but a bot
    /// cannot use it).
    pub fn expired(&self) -> bool {
        self.health.state == Some(TokenState::Expired)
            || self.health.expires_at.is_some_and(|e| e <= self.now)
    }
}

/// A record another process saved that the manager has not adopted yet
/// (it is busy, or polls later): the times and state the sinks and `exec`
/// show come from that record, so a new login is written at once instead of
/// being taken for the manager's expired token.
fn adopt_times(health: &mut AccountHealth, meta: &token_core::Metadata, now: DateTime<Utc>) {
    if health.issued_at.is_some_and(|held| meta.issued_at <= held) {
        return;
    }
    health.issued_at = Some(meta.issued_at);
    health.expires_at = meta.expires_at;
    health.refresh_expires_at = meta.refresh_expires_at;
    health.last_used = meta.last_used;
    health.idle_at = None;
    health.state = Some(if meta.expires_at.is_some_and(|e| e <= now) {
        TokenState::Expired
    } else {
        TokenState::Fresh
    });
}

/// One account's sinks with the variable names resolved.
#[derive(Debug, Clone)]
pub struct Sinks {
    specs: Vec<SinkSpec>,
    defaults: Vec<(String, String)>,
    broker: String,
}

impl Sinks {
    /// `specs` for an account of `broker`, whose bundle names the fields
    /// `defaults` (field, variable); empty: every field as `{BROKER}_{FIELD}`.
    pub fn new(specs: Vec<SinkSpec>, broker: &str, defaults: &[(&str, &str)]) -> Self {
        Self {
            specs,
            defaults: defaults
                .iter()
                .map(|(f, v)| ((*f).to_owned(), (*v).to_owned()))
                .collect(),
            broker: broker.to_owned(),
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The environment variables `tokenctl exec` gives a command: the names
    /// of the account's first dotenv sink, else the broker's; nothing once
    /// the token has expired.
    pub fn env_values(&self, snap: &Snapshot) -> Vec<(String, SecretString)> {
        let vars = self
            .specs
            .iter()
            .find(|s| s.kind == SinkKind::Dotenv)
            .map(|s| s.vars.clone())
            .unwrap_or_default();
        let spec = SinkSpec {
            kind: SinkKind::Dotenv,
            path: std::path::PathBuf::new(),
            vars,
            on_expiry: OnExpiry::Remove,
            on_change: None,
            on_change_timeout: std::time::Duration::ZERO,
        };
        self.values(&spec, snap)
            .into_iter()
            .map(|(n, v)| (n, v.clone()))
            .collect()
    }

    /// (name in the sink, value) for `spec`; nothing once expired when the
    /// sink removes expired tokens.
    fn values<'a>(&self, spec: &SinkSpec, snap: &'a Snapshot) -> Vec<(String, &'a SecretString)> {
        if snap.expired() && spec.on_expiry == OnExpiry::Remove {
            return Vec::new();
        }
        self.names(spec, snap)
            .into_iter()
            .filter_map(|(field, name)| {
                snap.fields
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map(|(_, v)| (name, v))
            })
            .collect()
    }

    /// (field, name in the sink) pairs `spec` writes.
    fn names(&self, spec: &SinkSpec, snap: &Snapshot) -> Vec<(String, String)> {
        if !spec.vars.is_empty() {
            return spec
                .vars
                .iter()
                .map(|(f, v)| (f.clone(), v.clone()))
                .collect();
        }
        let json = spec.kind == SinkKind::Json;
        if !self.defaults.is_empty() {
            return self
                .defaults
                .iter()
                .map(|(f, v)| (f.clone(), if json { f.clone() } else { v.clone() }))
                .collect();
        }
        snap.fields
            .iter()
            .map(|(f, _)| {
                let name = if json {
                    f.clone()
                } else {
                    format!("{}_{}", self.broker, f).to_ascii_uppercase()
                };
                (f.clone(), name)
            })
            .collect()
    }

    /// Writes every sink whose content changed and starts its `on_change`
    /// command (in the background: it never blocks the caller). Returns the
    /// paths written; a failing sink does not stop the others.
    pub fn write(&self, snap: &Snapshot) -> (Vec<std::path::PathBuf>, Vec<SinkError>) {
        let mut written = Vec::new();
        let mut errors = Vec::new();
        for spec in &self.specs {
            let values = self.values(spec, snap);
            let all_names: Vec<String> =
                self.names(spec, snap).into_iter().map(|(_, n)| n).collect();
            let result = match spec.kind {
                SinkKind::Dotenv => dotenv::write(&spec.path, &values, &all_names),
                SinkKind::Json => json::write(&spec.path, &values, snap),
            };
            match result {
                Ok(false) => {}
                Ok(true) => {
                    written.push(spec.path.clone());
                    if let Some(argv) = &spec.on_change {
                        command::spawn(argv.clone(), spec.on_change_timeout, &spec.path);
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        (written, errors)
    }
}

/// How often the sinks also look for a record saved by another process
/// (e.g. `tokenctl login` while `tokenctl run` runs), which the manager
/// announces no event for.
pub const POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a poll waits for the manager to adopt a newer stored record
/// before trying again at the next poll (see [`Account::adopt_newer_within`]).
pub const ADOPT_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Keeps `sinks` up to date with `account` until aborted: writes them now,
/// then after every event the account announces, and every [`POLL`] from
/// the store itself (a record another process saved is seen even while the
/// manager is busy renewing). Failures are logged (without
/// token values) and retried at the next event.
pub fn spawn(account: Account, sinks: Sinks, clock: Arc<dyn Clock>) -> tokio::task::JoinHandle<()> {
    let managed = account.managed();
    let mut rx = managed.subscribe();
    tokio::spawn(async move {
        let Some(store) = account.store() else {
            return;
        };
        loop {
            sync(managed.as_ref(), store.as_ref(), &sinks, clock.now()).await;
            tokio::select! {
                r = rx.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r {
                        break;
                    }
                }
                _ = tokio::time::sleep(POLL) => account.adopt_newer_within(ADOPT_WAIT).await,
            }
        }
    })
}

/// Writes `sinks` once from the account's current record, as of `now`.
pub async fn sync(
    account: &dyn ManagedAccount,
    store: &dyn TokenStore,
    sinks: &Sinks,
    now: DateTime<Utc>,
) {
    let name = account.key().to_string();
    match Snapshot::read(account, store, now).await {
        Ok(snap) => {
            let (written, errors) = sinks.write(&snap);
            for path in written {
                tracing::info!(account = %name, sink = %path.display(), "sink updated");
            }
            for e in errors {
                tracing::error!(account = %name, error = %e, "cannot write a sink");
            }
        }
        Err(e) => tracing::error!(account = %name, error = %e, "cannot update the sinks"),
    }
}
