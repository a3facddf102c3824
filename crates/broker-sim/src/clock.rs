//! The simulator's view of time.
//!
//! Token state machines read [`SimClock::now`]. Given a
//! [`ManualClock`], the simulator moves that very clock when told to, so a
//! library under test that shares it sees the same time. Given any other
//! clock (for example the system clock of the standalone binary), it keeps
//! an offset that the control API can move instead.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use token_core::clock::{Clock, ManualClock};

/// Time as the simulator sees it.
#[derive(Debug)]
pub(crate) struct SimClock {
    base: Arc<dyn Clock>,
    manual: Option<ManualClock>,
    /// Added to `base` when there is no manual handle.
    offset_millis: AtomicI64,
}

impl SimClock {
    pub(crate) fn new(base: Arc<dyn Clock>, manual: Option<ManualClock>) -> Self {
        Self {
            base,
            manual,
            offset_millis: AtomicI64::new(0),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(m) => m.now(),
            None => {
                self.base.now() + Duration::milliseconds(self.offset_millis.load(Ordering::SeqCst))
            }
        }
    }

    /// The clock the simulator was started on, without the offset the
    /// control API moves (the same as [`SimClock::now`] for a shared
    /// manual clock, which has no offset).
    pub(crate) fn base_now(&self) -> DateTime<Utc> {
        self.base.now()
    }

    pub(crate) fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    pub(crate) fn advance(&self, by: Duration) {
        match &self.manual {
            Some(m) => m.advance(by),
            None => {
                self.offset_millis
                    .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
            }
        }
    }

    pub(crate) fn set(&self, to: DateTime<Utc>) {
        match &self.manual {
            Some(m) => m.set(to),
            None => {
                let offset = (to - self.base.now()).num_milliseconds();
                self.offset_millis.store(offset, Ordering::SeqCst);
            }
        }
    }
}
