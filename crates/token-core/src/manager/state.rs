//! The manager's internal state: the hot-path snapshot and the status behind
//! health reports.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::{Error, Unavailable};
use crate::health::LastError;
use crate::policy::Limits;
use crate::provider::AuthorizationRequest;
use crate::record::{Record, StoredRecord};

/// Credentials plus their deadlines as plain integers, so the hot path
/// decides usability with a few comparisons.
pub(super) struct Snapshot<P> {
    pub(super) record: Arc<Record<P>>,
    expires_at_ms: i64,
    renewable_until_ms: i64,
    idle_ms: i64,
}

impl<P> Snapshot<P> {
    pub(super) fn new(record: Arc<Record<P>>, limits: &Limits) -> Self {
        Self {
            expires_at_ms: limits.expires_at.map_or(i64::MAX, |t| t.timestamp_millis()),
            renewable_until_ms: record
                .meta
                .refresh_expires_at
                .map_or(i64::MIN, |t| t.timestamp_millis()),
            idle_ms: limits
                .idle
                .map_or(i64::MAX, |r| r.timeout.num_milliseconds()),
            record,
        }
    }

    /// The same rules as [`crate::policy::evaluate`], on integers.
    #[inline]
    pub(super) fn check(&self, now_ms: i64, last_used_ms: i64) -> Result<(), Unavailable> {
        if now_ms >= self.expires_at_ms {
            return Err(if now_ms < self.renewable_until_ms {
                Unavailable::Idle
            } else {
                Unavailable::Expired
            });
        }
        if now_ms.saturating_sub(last_used_ms) >= self.idle_ms {
            return Err(Unavailable::Idle);
        }
        Ok(())
    }
}

/// A raised "a person must log in" condition.
#[derive(Debug, Clone)]
pub(super) struct Reauth {
    pub(super) reason: String,
    pub(super) url: Option<String>,
    /// The broker refused the credentials: no silent renewal until a person acts.
    pub(super) rejected: bool,
}

/// Everything behind health reports and the maintenance decisions.
#[derive(Default)]
pub(super) struct Status {
    pub(super) last_error: Option<LastError>,
    pub(super) consecutive_failures: u32,
    /// Do not retry renewals/keep-alives before this (backoff).
    pub(super) retry_at: Option<DateTime<Utc>>,
    /// A record the store refused, kept to retry.
    pub(super) unsaved: Option<StoredRecord>,
    pub(super) store_failures: u32,
    pub(super) save_retry_at: Option<DateTime<Utc>>,
    pub(super) reauth: Option<Reauth>,
    pub(super) pending_auth: Option<AuthorizationRequest>,
    /// The deadline we already warned about.
    pub(super) warned_for: Option<DateTime<Utc>>,
    pub(super) expired_reported: bool,
    /// Something went wrong since the last `Recovered`.
    pub(super) troubled: bool,
    pub(super) renewals: u64,
    pub(super) keepalives: u64,
    pub(super) next_action_at: Option<DateTime<Utc>>,
    /// Revoked at the broker: do not reload from the store until new
    /// credentials are authorized.
    pub(super) revoked: bool,
}

impl Status {
    pub(super) fn on_install(&mut self) {
        self.expired_reported = false;
    }

    pub(super) fn failed(&mut self, at: DateTime<Utc>, error: &Error) {
        self.consecutive_failures += 1;
        self.troubled = true;
        self.last_error = Some(LastError {
            kind: error.kind(),
            message: error.to_string(),
            at,
        });
    }

    /// New working credentials (a login, or a newer record from another
    /// process): the old ones' failures, retry gate and re-authorization
    /// request no longer apply. True if that ends a troubled spell.
    pub(super) fn new_credentials(&mut self) -> bool {
        self.reauth = None;
        self.pending_auth = None;
        self.succeeded()
    }

    /// A renewal or keep-alive succeeded; true if that ends a troubled spell.
    pub(super) fn succeeded(&mut self) -> bool {
        self.consecutive_failures = 0;
        self.retry_at = None;
        self.take_recovery()
    }

    /// The store accepted a save; true if that ends a troubled spell.
    pub(super) fn store_ok(&mut self) -> bool {
        self.unsaved = None;
        self.store_failures = 0;
        self.save_retry_at = None;
        self.take_recovery()
    }

    /// True (once) when nothing is failing any more after trouble.
    pub(super) fn take_recovery(&mut self) -> bool {
        let clear =
            self.consecutive_failures == 0 && self.unsaved.is_none() && self.reauth.is_none();
        if clear {
            self.last_error = None;
        }
        if self.troubled && clear {
            self.troubled = false;
            true
        } else {
            false
        }
    }
}
