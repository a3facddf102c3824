//! Credentials that go inactive without use (E*TRADE: 2 hours).

use chrono::Duration;

use super::{ExpiryPolicy, IdleRule, Limits};
use crate::record::Metadata;

/// Inactive after `timeout` without activity; a keep-alive is due
/// `keepalive_margin` before that. Activity that resets the timer: issue,
/// renewal and use ([`Metadata::last_activity`]).
#[derive(Debug, Clone, Copy)]
pub struct IdleTimeout {
    rule: IdleRule,
}

impl IdleTimeout {
    /// Idle after `timeout`, keep-alive due `keepalive_margin` earlier.
    pub fn new(timeout: chrono::Duration, keepalive_margin: Duration) -> Self {
        let keepalive_margin = keepalive_margin.clamp(Duration::zero(), timeout);
        Self {
            rule: IdleRule {
                timeout,
                keepalive_margin,
            },
        }
    }
}

impl ExpiryPolicy for IdleTimeout {
    fn limits(&self, _meta: &Metadata) -> Limits {
        Limits {
            expires_at: None,
            idle: Some(self.rule),
        }
    }
}
