//! Expiry the broker told us (a JWT `exp`), stored in the record.

use super::{ExpiryPolicy, Limits};
use crate::record::Metadata;

/// Expires at [`Metadata::expires_at`] when the record has one.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplicitExpiry;

impl ExpiryPolicy for ExplicitExpiry {
    fn limits(&self, meta: &Metadata) -> Limits {
        Limits {
            expires_at: meta.expires_at,
            idle: None,
        }
    }
}
