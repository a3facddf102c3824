//! The hot-path snapshot: the credentials in use with their deadlines as
//! plain integers.

use std::sync::Arc;

use crate::error::Unavailable;
use crate::policy::Limits;
use crate::record::Record;

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

    /// The same rules as [`Limits::evaluate`], on integers.
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
