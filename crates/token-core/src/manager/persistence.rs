//! Persistence: loading from the store, adopting a newer record another
//! process saved, saving (a failed save keeps the record in memory and
//! retries it; it is never dropped). Owns the `saving` part of the status.

use chrono::{DateTime, Utc};

use super::{Credentials, TokenManager};
use crate::error::Error;
use crate::events::Event;
use crate::record::{Payload, Record, SecretFields, StoredRecord};
use crate::store::TokenStoreExt;

impl<P: Payload> TokenManager<P> {
    /// Loads the account's record from the store, replacing what is held.
    /// Returns whether one was found.
    pub async fn load(&self) -> Result<bool, Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        if self.status().authorization.revoked {
            return Ok(false);
        }
        match self.inner.store.load_typed::<P>(&self.inner.key).await? {
            Some(record) => {
                self.adopt(record);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Re-reads the store and adopts its record when it is newer than the
    /// held one (another process renewed it or a person logged in there).
    /// Returns whether it did. Introspection for tests; maintenance and
    /// `ensure_fresh` call it when it matters.
    #[doc(hidden)]
    pub async fn reload_if_newer(&self) -> Result<bool, Error> {
        let _guard = self.inner.renewal_lock.lock().await;
        self.reload_newer_locked().await
    }

    /// [`TokenManager::reload_if_newer`] for a caller that holds the renewal
    /// lock and has nothing to do with a store error (the renewal that
    /// follows reports its own).
    pub(super) async fn adopt_newer_locked(&self) {
        let _ = self.reload_newer_locked().await;
    }

    async fn reload_newer_locked(&self) -> Result<bool, Error> {
        if self.status().authorization.revoked {
            return Ok(false);
        }
        let Some(stored) = self.inner.store.load_typed::<P>(&self.inner.key).await? else {
            return Ok(false);
        };
        let newer = match self.current_record() {
            Some(ours) => {
                let stamp = |r: &Record<P>| (r.meta.issued_at, r.meta.renewed_at);
                let different = || {
                    let fields = |r: &Record<P>| SecretFields::from_payload(&r.payload).ok();
                    fields(&stored) != fields(&ours)
                };
                stamp(&stored) > stamp(&ours) || (stamp(&stored) == stamp(&ours) && different())
            }
            None => true,
        };
        if newer && self.status().saving.unsaved.is_none() {
            self.adopt(stored);
            return Ok(true);
        }
        Ok(false)
    }

    /// Installs a record found in the store (loaded at start, or newer than
    /// ours: another process logged in or renewed). Credentials someone else
    /// produced work, so our failures and "re-authorization required" for the
    /// old ones no longer apply.
    fn adopt(&self, record: Record<P>) -> Credentials<P> {
        let creds = self.install(record);
        let now = self.inner.clock.now();
        let recovered = self.status().new_credentials();
        self.emit_recovered(recovered, now);
        creds
    }

    /// Saves then installs; a failed save keeps the record in memory, reports
    /// it, and schedules a retry (the record is never dropped).
    pub(super) async fn persist_and_install(&self, mut record: Record<P>) -> Credentials<P> {
        let now = self.inner.clock.now();
        record.meta.last_used = self.meta_with_use(&record).last_used.filter(|_| {
            // Keep the use time only if it belongs to these same credentials.
            self.current_record()
                .is_some_and(|c| c.meta.issued_at == record.meta.issued_at)
        });
        let stored = match record.to_stored() {
            Ok(s) => s,
            Err(e) => {
                self.store_failed(now, e.into(), None);
                return self.install(record);
            }
        };
        // Renewals run in the asking task: if every asker is dropped while
        // the save is under way, the guard still keeps the record.
        let guard = KeepIfInterrupted {
            manager: self,
            record: Some(record),
        };
        let saved = self.inner.store.save(&stored).await;
        let record = guard.disarm();
        match saved {
            Ok(()) => {
                let creds = self.install(record);
                let recovered = self.status().store_ok();
                self.emit_recovered(recovered, now);
                creds
            }
            Err(e) => {
                let creds = self.install(record);
                self.store_failed(now, e.into(), Some(stored));
                creds
            }
        }
    }

    /// A save that never finished: install the record and keep it for the
    /// save retry, as after a failed save.
    fn keep_unsaved(&self, record: Record<P>) {
        let now = self.inner.clock.now();
        let stored = record.to_stored();
        self.install(record);
        let error = Error::transient("the save was interrupted (its caller went away)");
        match stored {
            Ok(stored) => self.store_failed(now, error, Some(stored)),
            Err(e) => self.store_failed(now, e.into(), None),
        }
    }

    /// Records a failed save (or load): keeps `unsaved` for a retry with
    /// backoff and reports it.
    pub(super) fn store_failed(&self, now: DateTime<Utc>, e: Error, unsaved: Option<StoredRecord>) {
        let retry_at = {
            let mut st = self.status();
            if let Some(record) = unsaved {
                st.saving.unsaved = Some(record);
            }
            st.saving.failures += 1;
            st.trouble.note(now, &e);
            let at = now
                + self
                    .inner
                    .config
                    .store_retry
                    .delay(st.saving.failures, None);
            st.saving.retry_at = Some(at);
            at
        };
        tracing::error!(account = %self.inner.key, error = %e, "token store failed; record kept in memory");
        self.emit(Event::StoreFailure {
            key: self.inner.key.clone(),
            at: now,
            error: e.to_string(),
            retry_at: Some(retry_at),
        });
    }

    /// Saves the record a failed save kept in memory, once its retry is due.
    pub(super) async fn retry_save(&self, now: DateTime<Utc>) {
        // Under the lock: no newer record can be saved (and then overwritten
        // by this older one) while the retry runs.
        let _guard = self.inner.renewal_lock.lock().await;
        let pending = {
            let st = self.status();
            match (&st.saving.unsaved, st.saving.retry_at) {
                (Some(record), Some(at)) if at <= now => Some(record.clone()),
                _ => None,
            }
        };
        let Some(record) = pending else { return };
        match self.inner.store.save(&record).await {
            Ok(()) => {
                let recovered = self.status().store_ok();
                self.emit_recovered(recovered, now);
            }
            Err(e) => self.store_failed(now, Error::Store(e), None),
        }
    }

    /// When the kept record's save retry is due (`None`: nothing unsaved).
    pub(super) fn save_retry_due(&self) -> Option<DateTime<Utc>> {
        let st = self.status();
        st.saving.retry_at.filter(|_| st.saving.unsaved.is_some())
    }
}

/// Holds a record the broker returned while its save is awaited; dropped
/// before [`KeepIfInterrupted::disarm`] (the awaiting task was cancelled),
/// it installs the record and schedules the save retry, so no renewed
/// credentials are lost.
struct KeepIfInterrupted<'a, P: Payload> {
    manager: &'a TokenManager<P>,
    record: Option<Record<P>>,
}

impl<P: Payload> KeepIfInterrupted<'_, P> {
    /// The save finished (well or not): the caller handles the record.
    fn disarm(mut self) -> Record<P> {
        match self.record.take() {
            Some(record) => record,
            None => unreachable!("the guard is built holding the record"),
        }
    }
}

impl<P: Payload> Drop for KeepIfInterrupted<'_, P> {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            self.manager.keep_unsaved(record);
        }
    }
}
