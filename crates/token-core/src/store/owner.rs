//! One maintenance owner per account, across processes and hosts.
//!
//! A daemon (e.g. `tokenctl run`) claims each account it maintains for its
//! whole life, beside the store the account lives in, so that a second
//! daemon over the same store neither renews nor prompts for it: the second
//! one sees who holds the claim ([`OwnerInfo`]) and refuses, or waits as a
//! standby ([`wait_for_claim`]) and takes over when the owner goes away.
//!
//! Each store implements [`OwnerClaims`] its own way: the file-based stores
//! with an advisory lock (`flock`) on a hidden `.owner` file that the OS
//! drops with the holding process, Redis with a key kept alive by a
//! heartbeat, the in-memory store in-process. One-shot commands (status,
//! renew, login) do not claim: the renewal lease already keeps two renewals
//! of one account apart.
//!
//! ```
//! # async fn demo() -> Result<(), token_core::StoreError> {
//! use token_core::store::{ClaimAttempt, MemoryStore, OwnerClaims, OwnerInfo};
//! use token_core::{AccountKey, Environment};
//!
//! let store = MemoryStore::new();
//! let key = AccountKey::new("etrade", Environment::Sandbox, "main").map_err(|e| {
//!     token_core::StoreError::Config(e.to_string())
//! })?;
//! let me = OwnerInfo::this_process(chrono::Utc::now());
//! let ClaimAttempt::Claimed(claim) = store.try_claim(&key, &me).await? else {
//!     panic!("nobody else holds it");
//! };
//! // A second daemon over the same store is told who maintains the account.
//! match store.try_claim(&key, &me).await? {
//!     ClaimAttempt::Held { holder } => assert_eq!(holder, Some(me)),
//!     ClaimAttempt::Claimed(_) => unreachable!(),
//! }
//! claim.release().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::key::AccountKey;

/// Who holds an account's maintenance claim: shown to a process that finds
/// it taken, so the person knows which process to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerInfo {
    /// The holder's process id.
    pub pid: u32,
    /// The holder's host name.
    pub host: String,
    /// When the holder started.
    pub started: DateTime<Utc>,
}

impl OwnerInfo {
    /// This process, on this host, started at `started`.
    pub fn this_process(started: DateTime<Utc>) -> Self {
        Self {
            pid: std::process::id(),
            host: host_name(),
            started,
        }
    }
}

impl fmt::Display for OwnerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "process {} on host {} (since {})",
            self.pid,
            self.host,
            self.started.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// This host's name, or `unknown-host`.
pub fn host_name() -> String {
    #[cfg(target_os = "linux")]
    {
        let uname = rustix::system::uname();
        let name = uname.nodename().to_string_lossy().into_owned();
        if !name.is_empty() {
            return name;
        }
    }
    ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown-host".into())
}

/// The answer to one [`OwnerClaims::try_claim`].
#[derive(Debug)]
pub enum ClaimAttempt {
    /// This process now maintains the account, until the claim is released
    /// or dropped.
    Claimed(Box<dyn OwnerClaim>),
    /// Another process does; `holder` is who, when it could be read (a
    /// holder that is just starting may not have written it yet).
    Held {
        /// The current owner.
        holder: Option<OwnerInfo>,
    },
}

/// Where a store keeps its accounts' maintenance claims: a daemon claims
/// each account it maintains for its whole life, so that a second daemon
/// over the same store neither renews nor prompts for it. Files: an
/// advisory lock on a hidden `.owner` file, dropped by the OS with the
/// process; Redis: a key kept alive by a heartbeat; memory: in-process.
#[async_trait]
pub trait OwnerClaims: Send + Sync + fmt::Debug {
    /// Claims the maintenance of `key` for this process as `me`, without
    /// waiting: [`ClaimAttempt::Held`] when another process (or another
    /// claim in this process) holds it.
    async fn try_claim(&self, key: &AccountKey, me: &OwnerInfo)
        -> Result<ClaimAttempt, StoreError>;
}

/// A held maintenance claim. Dropping it releases it too (a file lock at
/// once; a Redis key at once when a runtime is running, else by its TTL).
#[async_trait]
pub trait OwnerClaim: Send + Sync + fmt::Debug {
    /// The account.
    fn key(&self) -> &AccountKey;

    /// Resolves if the claim is lost while held (a Redis key whose heartbeat
    /// could not extend it, so another process may own the account now):
    /// the holder must stop maintaining the account. Never resolves for
    /// claims the OS holds for the process (file locks, in-process).
    async fn lost(&self);

    /// Gives the claim up.
    async fn release(self: Box<Self>) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: OwnerClaims + ?Sized> OwnerClaims for Arc<T> {
    async fn try_claim(
        &self,
        key: &AccountKey,
        me: &OwnerInfo,
    ) -> Result<ClaimAttempt, StoreError> {
        (**self).try_claim(key, me).await
    }
}

/// Claims `key`, waiting as a standby while another process holds it:
/// tries every `poll` until the claim is free (the owner stopped, died or
/// its claim expired). `on_wait` is called with the holder each time the
/// holder changes (including the first refusal), to tell the person.
pub async fn wait_for_claim(
    claims: &dyn OwnerClaims,
    key: &AccountKey,
    me: &OwnerInfo,
    poll: Duration,
    mut on_wait: impl FnMut(Option<&OwnerInfo>) + Send,
) -> Result<Box<dyn OwnerClaim>, StoreError> {
    let mut told: Option<Option<OwnerInfo>> = None;
    loop {
        match claims.try_claim(key, me).await? {
            ClaimAttempt::Claimed(claim) => return Ok(claim),
            ClaimAttempt::Held { holder } => {
                if told.as_ref() != Some(&holder) {
                    on_wait(holder.as_ref());
                    told = Some(holder);
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// Resolves when any of `claims` is lost, with its account; never when
/// `claims` is empty or none can be lost.
pub async fn any_lost(claims: &[Box<dyn OwnerClaim>]) -> AccountKey {
    if claims.is_empty() {
        return std::future::pending().await;
    }
    let lost = claims.iter().map(|c| {
        Box::pin(async move {
            c.lost().await;
            c.key().clone()
        })
    });
    futures::future::select_all(lost).await.0
}
