//! One maintenance owner per account: `tokenctl run` and `exec` claim each
//! account they maintain, beside its store, for their whole life. A second
//! one over the same store refuses (exit code [`EXIT_OWNED`]) naming the
//! account and the process that holds it, or with `--standby` waits and
//! takes over when that process stops. So one account never gets two
//! maintenance loops or two prompts.

use std::sync::Arc;
use std::time::Duration;

use token_core::store::{
    wait_for_claim, ClaimAttempt, OwnerClaim, OwnerClaims, OwnerInfo, StoreError,
};
use token_core::{AccountKey, Clock, EnvFileStore, FileStore};

use super::CliError;
use crate::config::{AccountConfig, StoreSpec};

/// Exit code of `run`/`exec` when another process already maintains one of
/// the accounts (and `--standby` was not given).
pub const EXIT_OWNED: u8 = 4;

/// What `run`/`exec` do when another process maintains an account.
#[derive(Debug, Clone, clap::Args)]
pub struct OwnerArgs {
    /// When another `tokenctl run`/`exec` already maintains an account, wait
    /// as a standby and take over when it stops, instead of refusing (exit
    /// code 4).
    #[arg(long)]
    pub standby: bool,
    /// How often a standby checks whether the owner is gone, in ms.
    #[arg(long, hide = true, default_value_t = 1000, value_name = "MS")]
    pub standby_poll_ms: u64,
}

impl Default for OwnerArgs {
    fn default() -> Self {
        Self {
            standby: false,
            standby_poll_ms: 1000,
        }
    }
}

/// The claims of the store `cfg` names.
async fn claims_for(
    cfg: &AccountConfig,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn OwnerClaims>, StoreError> {
    Ok(match &cfg.store_spec {
        StoreSpec::Dir(dir) => Arc::new(FileStore::open(dir)?),
        StoreSpec::Env(path) => Arc::new(EnvFileStore::new(path)),
        StoreSpec::Redis { .. } => Arc::new(crate::stores::connect_redis(cfg, clock).await?),
    })
}

/// Why an account cannot be maintained here: who holds it, and what to do.
fn refusal(key: &AccountKey, holder: Option<&OwnerInfo>) -> String {
    let who = holder.map_or_else(
        || "another process (just starting; not yet named)".to_string(),
        ToString::to_string,
    );
    format!(
        "account {key} is already maintained by {who}: one `tokenctl run` or `exec` maintains \
         an account at a time, so a second would prompt twice. Stop that process, or start \
         this one with --standby to take over when it stops"
    )
}

/// Claims every account of `cfgs` for this process: refuses with
/// [`CliError::Owned`] when another process holds one, or with
/// `args.standby` waits for each in turn. Claims taken before a refusal
/// are released (dropped).
pub(crate) async fn claim_all(
    cfgs: &[&AccountConfig],
    clock: Arc<dyn Clock>,
    args: &OwnerArgs,
) -> Result<Vec<Box<dyn OwnerClaim>>, CliError> {
    let me = OwnerInfo::this_process(clock.now());
    let poll = Duration::from_millis(args.standby_poll_ms.max(1));
    let mut held = Vec::new();
    // One handle (one Redis connection) per store, however many accounts.
    let mut opened: Vec<(&StoreSpec, Arc<dyn OwnerClaims>)> = Vec::new();
    for cfg in cfgs {
        let key = &cfg.key;
        let store_err = |e: StoreError| {
            CliError::Other(format!("account {key}: cannot claim its maintenance: {e}"))
        };
        let claims = match opened.iter().find(|(spec, _)| **spec == cfg.store_spec) {
            Some((_, claims)) => claims.clone(),
            None => {
                let claims = claims_for(cfg, clock.clone()).await.map_err(store_err)?;
                opened.push((&cfg.store_spec, claims.clone()));
                claims
            }
        };
        let claim = if args.standby {
            wait_for_claim(claims.as_ref(), key, &me, poll, |holder| {
                let who = holder.map_or_else(|| "another process".into(), ToString::to_string);
                tracing::warn!(account = %key, "standing by: {key} is maintained by {who}; taking over when it stops");
            })
            .await
            .map_err(store_err)?
        } else {
            match claims.try_claim(key, &me).await.map_err(store_err)? {
                ClaimAttempt::Claimed(claim) => claim,
                ClaimAttempt::Held { holder } => {
                    return Err(CliError::Owned(refusal(key, holder.as_ref())))
                }
            }
        };
        tracing::debug!(account = %key, "maintenance claimed by {me}");
        held.push(claim);
    }
    Ok(held)
}

/// Releases the claims at shutdown (dropping would too; this is prompt for
/// Redis).
pub(crate) async fn release_all(claims: Vec<Box<dyn OwnerClaim>>) {
    for claim in claims {
        let key = claim.key().clone();
        if let Err(e) = claim.release().await {
            tracing::warn!(account = %key, error = %e, "cannot release the maintenance claim");
        }
    }
}

/// The error when a claim was lost while running.
pub(crate) fn lost(key: &AccountKey) -> CliError {
    CliError::Other(format!(
        "account {key}: lost its maintenance claim (the store was unreachable for longer than \
         the claim lives, or another process took it over); stopped so that the account is \
         maintained once. Start again (with --standby to wait for the other process)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_account_holder_and_the_way_out() {
        let key = AccountKey::new("etrade", token_core::Environment::Sandbox, "main").unwrap();
        let holder = OwnerInfo {
            pid: 4242,
            host: "desk-7".into(),
            started: chrono::DateTime::from_timestamp(1_796_203_800, 0).unwrap(),
        };
        let text = refusal(&key, Some(&holder));
        assert!(text.contains("account etrade/sandbox/main"), "{text}");
        assert!(text.contains("process 4242 on host desk-7"), "{text}");
        assert!(text.contains("--standby"), "{text}");
        assert!(refusal(&key, None).contains("another process"));
    }
}
