//! The hot path: [`TokenManager::token`] and the [`TokenRef`] it hands out.
//! No lock, no allocation, no await; the decision is the snapshot's integer
//! check, which states the same rules as the policy evaluation.

use std::sync::atomic::Ordering;

use super::{Credentials, Snapshot, TokenManager};
use crate::clock::COARSE_TOLERANCE_MS;
use crate::error::Unavailable;
use crate::record::{Payload, Record};

/// Use is recorded at most once per this many milliseconds per account.
const USE_GRANULARITY_MS: i64 = 1_000;

/// Credentials borrowed from the hot path: dereferences to the [`Record`].
/// Cheap to take and drop; hold it for a call, not for hours (it keeps the
/// snapshot it was taken from alive). [`TokenRef::to_arc`] gives an owned handle.
pub struct TokenRef<P: Payload> {
    guard: arc_swap::Guard<Option<std::sync::Arc<Snapshot<P>>>>,
}

impl<P: Payload> TokenRef<P> {
    fn snapshot(&self) -> &Snapshot<P> {
        // Only built by `token()` after checking the slot is filled.
        self.guard
            .as_deref()
            .expect("TokenRef is only created for a held snapshot")
    }

    /// An owned, shareable handle on the same credentials.
    pub fn to_arc(&self) -> Credentials<P> {
        self.snapshot().record.clone()
    }
}

impl<P: Payload> std::ops::Deref for TokenRef<P> {
    type Target = Record<P>;
    fn deref(&self) -> &Record<P> {
        &self.snapshot().record
    }
}

impl<P: Payload> std::fmt::Debug for TokenRef<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<P: Payload> TokenManager<P> {
    /// The hot path: the current credentials if the policy considers them
    /// usable right now, recording the use (idle tracking). No lock, no
    /// allocation, no await.
    ///
    /// The returned [`TokenRef`] borrows the credentials without touching
    /// any shared reference count (so readers on many threads do not contend);
    /// use it for the call at hand, or [`TokenRef::to_arc`] to keep them.
    #[inline]
    pub fn token(&self) -> Result<TokenRef<P>, Unavailable> {
        let coarse = self.inner.clock.now_millis_coarse();
        let guard = self.inner.current.load();
        let Some(snap) = guard.as_ref() else {
            return Err(Unavailable::NoToken);
        };
        let last = self.inner.last_used_ms.load(Ordering::Relaxed);
        // The coarse reading may lag a little: trust it only when even the
        // latest the true time could be passes the check; near a deadline,
        // decide with the precise clock.
        let now = if snap
            .check(coarse.saturating_add(COARSE_TOLERANCE_MS), last)
            .is_ok()
        {
            coarse
        } else {
            let precise = self.inner.clock.now_millis();
            snap.check(precise, last)?;
            precise
        };
        // Idle tracking at one-second granularity: most calls only read the
        // shared counter, so concurrent readers do not fight over its line.
        if now - last >= USE_GRANULARITY_MS {
            self.inner.last_used_ms.fetch_max(now, Ordering::Relaxed);
        }
        Ok(TokenRef { guard })
    }

    /// Like [`TokenManager::token`] but does not count as use.
    pub fn peek(&self) -> Result<Credentials<P>, Unavailable> {
        let now = self.inner.clock.now_millis();
        let guard = self.inner.current.load();
        let snap = guard.as_ref().ok_or(Unavailable::NoToken)?;
        snap.check(now, self.inner.last_used_ms.load(Ordering::Relaxed))?;
        Ok(snap.record.clone())
    }

    /// Records a broker call made with the credentials now (idle tracking).
    pub fn mark_used(&self) {
        let now = self.inner.clock.now_millis();
        self.inner.last_used_ms.fetch_max(now, Ordering::Relaxed);
    }
}
