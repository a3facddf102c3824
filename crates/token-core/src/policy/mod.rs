//! Expiry policies: pure functions of (record metadata, now) that say what
//! state a token is in and when that state next changes.
//!
//! A policy only describes its [`Limits`] (when the access credentials stop
//! working, how long they may sit idle); [`evaluate`] turns a policy's limits,
//! metadata and the current instant into an [`Evaluation`]. Every policy
//! shares that one evaluation (it is a free function, not a trait method an
//! implementor could override), so the manager's lock-free hot path and its
//! maintenance task can never disagree about whether a token is usable.
//!
//! ```
//! use chrono::{Duration, NaiveTime, TimeZone, Utc};
//! use token_core::policy::{evaluate, DailyCutoff, EarliestOf, IdleTimeout, TokenState};
//! use token_core::Metadata;
//!
//! // E*TRADE: dies at midnight New York time, idles after 2 h without a call.
//! let policy = EarliestOf::new()
//!     .with(DailyCutoff::new(NaiveTime::MIN, chrono_tz::America::New_York))
//!     .with(IdleTimeout::new(Duration::hours(2), Duration::minutes(15)));
//! let issued = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap(); // 09:00 EDT
//! let meta = Metadata::issued(issued);
//! assert_eq!(evaluate(&policy, &meta, issued).state, TokenState::Fresh);
//! assert_eq!(evaluate(&policy, &meta, issued + Duration::minutes(110)).state, TokenState::KeepAliveDue);
//! assert_eq!(evaluate(&policy, &meta, issued + Duration::hours(2)).state, TokenState::Idle);
//! // 00:00 EDT = 04:00 UTC the next day.
//! let midnight = Utc.with_ymd_and_hms(2026, 6, 2, 4, 0, 0).unwrap();
//! assert_eq!(evaluate(&policy, &meta, midnight).state, TokenState::Expired);
//! ```

mod daily;
mod explicit;
mod idle;
mod lifetime;

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::record::Metadata;

pub use daily::DailyCutoff;
pub use explicit::ExplicitExpiry;
pub use idle::IdleTimeout;
pub use lifetime::FixedLifetime;

/// A token's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Usable; nothing to do.
    Fresh,
    /// Usable, but it will go idle soon: send a keep-alive (a probe).
    KeepAliveDue,
    /// Not usable as it is, but a silent renewal revives it: idle from disuse,
    /// or past its access expiry while a refresh token is still valid.
    Idle,
    /// Dead: a person must authorize again.
    Expired,
}

impl TokenState {
    /// Whether credentials in this state may be handed out.
    pub fn is_usable(self) -> bool {
        matches!(self, TokenState::Fresh | TokenState::KeepAliveDue)
    }
}

impl fmt::Display for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenState::Fresh => "fresh",
            TokenState::KeepAliveDue => "keep-alive due",
            TokenState::Idle => "idle (renewable)",
            TokenState::Expired => "expired",
        })
    }
}

/// The idle rule: inactive after `timeout` without activity; keep-alive is due
/// `keepalive_margin` before that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleRule {
    /// Time without activity after which the broker deactivates the token.
    pub timeout: Duration,
    /// How long before the timeout a keep-alive becomes due.
    pub keepalive_margin: Duration,
}

/// What a policy says about a record's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// When the access credentials stop working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The idle rule, if the broker has one.
    pub idle: Option<IdleRule>,
}

impl Limits {
    /// The stricter of two limits: earliest expiry, earliest keep-alive point.
    pub fn earliest(self, other: Limits) -> Limits {
        let expires_at = match (self.expires_at, other.expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let idle = match (self.idle, other.idle) {
            (Some(a), Some(b)) => Some(IdleRule {
                timeout: a.timeout.min(b.timeout),
                keepalive_margin: a.keepalive_margin.max(b.keepalive_margin),
            }),
            (a, b) => a.or(b),
        };
        Limits { expires_at, idle }
    }
}

/// A token's state at an instant, with the deadlines behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// The state now.
    pub state: TokenState,
    /// The next instant at which the state changes by the passage of time
    /// alone (`None`: never, e.g. already expired).
    pub next_change: Option<DateTime<Utc>>,
    /// When the access credentials expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the token goes idle without further activity.
    pub idle_at: Option<DateTime<Utc>>,
    /// When a keep-alive becomes due.
    pub keepalive_at: Option<DateTime<Utc>>,
    /// After this instant only a person can restore access: the access expiry,
    /// or the refresh-token expiry when silent renewal is possible.
    pub reauthorize_by: Option<DateTime<Utc>>,
}

/// Decides when a token expires, goes idle, or needs a keep-alive.
///
/// A policy only states its [`Limits`]; the state at an instant is
/// [`evaluate`] of those limits, the same for every policy. There is no
/// `evaluate` to override: the manager's hot path checks the limits
/// directly, so an overridden evaluation would split it from maintenance.
pub trait ExpiryPolicy: Send + Sync + fmt::Debug {
    /// The limits this policy puts on credentials with this metadata.
    fn limits(&self, meta: &Metadata) -> Limits;
}

impl<T: ExpiryPolicy + ?Sized> ExpiryPolicy for Arc<T> {
    fn limits(&self, meta: &Metadata) -> Limits {
        (**self).limits(meta)
    }
}

impl<T: ExpiryPolicy + ?Sized> ExpiryPolicy for Box<T> {
    fn limits(&self, meta: &Metadata) -> Limits {
        (**self).limits(meta)
    }
}

/// The state of credentials with `meta` at `now` under `policy`, and when
/// it next changes: [`Limits::evaluate`] of the policy's limits.
pub fn evaluate<E: ExpiryPolicy + ?Sized>(
    policy: &E,
    meta: &Metadata,
    now: DateTime<Utc>,
) -> Evaluation {
    policy.limits(meta).evaluate(meta, now)
}

impl Limits {
    /// The shared rules:
    /// - past `expires_at`: `Idle` while `meta.refresh_expires_at` is still ahead
    ///   (a silent re-mint works), otherwise `Expired`;
    /// - past the idle timeout (counted from [`Metadata::last_activity`]): `Idle`;
    /// - within the keep-alive margin of it: `KeepAliveDue`;
    /// - otherwise `Fresh`.
    pub fn evaluate(&self, meta: &Metadata, now: DateTime<Utc>) -> Evaluation {
        let renewable_until = meta.refresh_expires_at;
        let expires_at = self.expires_at;
        let idle_at = self.idle.map(|r| meta.last_activity() + r.timeout);
        let keepalive_at = self
            .idle
            .and_then(|r| idle_at.map(|i| i - r.keepalive_margin));
        let reauthorize_by = match (expires_at, renewable_until) {
            (Some(e), Some(r)) => Some(e.max(r)),
            (None, Some(_)) => None,
            (e, None) => e,
        };
        let min = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (state, next_change) = if expires_at.is_some_and(|e| now >= e) {
            match renewable_until {
                Some(r) if now < r => (TokenState::Idle, Some(r)),
                _ => (TokenState::Expired, None),
            }
        } else if idle_at.is_some_and(|i| now >= i) {
            (TokenState::Idle, expires_at)
        } else if keepalive_at.is_some_and(|k| now >= k) {
            (TokenState::KeepAliveDue, min(idle_at, expires_at))
        } else {
            (TokenState::Fresh, min(keepalive_at, expires_at))
        };
        Evaluation {
            state,
            next_change,
            expires_at,
            idle_at,
            keepalive_at,
            reauthorize_by,
        }
    }
}

/// The strictest of several policies.
#[derive(Debug, Default, Clone)]
pub struct EarliestOf {
    policies: Vec<Arc<dyn ExpiryPolicy>>,
}

impl EarliestOf {
    /// No policies yet (never expires).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy.
    pub fn with(mut self, policy: impl ExpiryPolicy + 'static) -> Self {
        self.policies.push(Arc::new(policy));
        self
    }
}

impl ExpiryPolicy for EarliestOf {
    fn limits(&self, meta: &Metadata) -> Limits {
        self.policies
            .iter()
            .map(|p| p.limits(meta))
            .fold(Limits::default(), Limits::earliest)
    }
}

#[cfg(test)]
mod tests;
