//! Credentials valid for a fixed time after issue.

use chrono::Duration;

use super::{ExpiryPolicy, Limits};
use crate::record::Metadata;

/// Expires a fixed `Duration` after [`Metadata::issued_at`].
#[derive(Debug, Clone, Copy)]
pub struct FixedLifetime(pub Duration);

impl ExpiryPolicy for FixedLifetime {
    fn limits(&self, meta: &Metadata) -> Limits {
        Limits {
            expires_at: Some(meta.issued_at + self.0),
            idle: None,
        }
    }
}
