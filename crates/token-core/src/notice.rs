//! [`Notice`]: a dated warning about an account's setup that time alone
//! makes due, such as an E*TRADE consumer key nearing the end of its
//! two-year life. The manager raises each once as an [`Event::Warning`]
//! when it falls due and lists the due ones in health reports
//! ([`AccountHealth::warnings`]).
//!
//! [`Event::Warning`]: crate::Event::Warning
//! [`AccountHealth::warnings`]: crate::AccountHealth::warnings

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A warning shown from `from` on. Never holds a secret.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use token_core::Notice;
/// let from = Utc.with_ymd_and_hms(2026, 5, 2, 4, 0, 0).unwrap();
/// let n = Notice::new(from, "the consumer key stops working around 2026-06-01");
/// assert!(!n.is_due(from - Duration::seconds(1)));
/// assert!(n.is_due(from));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// From when the warning applies.
    pub from: DateTime<Utc>,
    /// What it warns of and what to do, in words.
    pub message: String,
}

impl Notice {
    /// A warning of `message`, due from `from` on.
    pub fn new(from: DateTime<Utc>, message: impl Into<String>) -> Self {
        Self {
            from,
            message: message.into(),
        }
    }

    /// Whether the warning applies at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        now >= self.from
    }
}
