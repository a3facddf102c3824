//! Credentials that die at a local time of day (E*TRADE: midnight New York).

use chrono::NaiveTime;
use chrono_tz::Tz;

use super::{ExpiryPolicy, Limits};
use crate::record::Metadata;
use crate::schedule::Schedule;

/// Expires at the first occurrence of a local time of day after issue:
/// midnight America/New_York for E*TRADE, 06:00 Asia/Kolkata for FYERS.
/// Renewals do not move it (an E*TRADE renew cannot outlive midnight).
#[derive(Debug, Clone, Copy)]
pub struct DailyCutoff {
    at: Schedule,
}

impl DailyCutoff {
    /// Cutoff at `time` local time in `zone`, every day.
    pub fn new(time: NaiveTime, zone: Tz) -> Self {
        Self {
            at: Schedule::daily(time, zone),
        }
    }
}

impl ExpiryPolicy for DailyCutoff {
    fn limits(&self, meta: &Metadata) -> Limits {
        Limits {
            expires_at: self.at.next_after(meta.issued_at),
            idle: None,
        }
    }
}
