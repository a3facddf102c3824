//! Keep-alive: a cheap authenticated probe that resets the broker's idle
//! timer. A provider without a probe keeps alive by renewing; a probe
//! answered "inactive" renews (both through the one renewal path).

use super::renewal::RenewMode;
use super::TokenManager;
use crate::error::{Error, ErrorKind, Unavailable};
use crate::events::Event;
use crate::record::Payload;

impl<P: Payload> TokenManager<P> {
    /// Sends a keep-alive probe now.
    pub async fn keep_alive(&self) -> Result<(), Error> {
        let now = self.inner.clock.now();
        let Some(record) = self.current_record() else {
            return Err(Unavailable::NoToken.into());
        };
        if !self.inner.provider.capabilities().probe {
            return self.renew(RenewMode::KeepAlive).await.map(|_| ());
        }
        let started = std::time::Instant::now();
        let outcome = self.inner.provider.probe(&record).await;
        let took = started.elapsed();
        match outcome {
            Ok(()) => {
                self.mark_used();
                // Persist the activity so other processes sharing the store
                // (a `tokenctl status`, another replica) see the token alive;
                // only if these are still the credentials in use (a login or
                // renewal may have replaced them while the probe ran).
                {
                    let _guard = self.inner.renewal_lock.lock().await;
                    if self.is_current(&record) {
                        let mut used = (*record).clone();
                        used.meta.last_used = Some(now);
                        self.persist_and_install(used).await;
                    }
                }
                let recovered = {
                    let mut st = self.status();
                    st.counters.keepalives += 1;
                    st.succeeded()
                };
                self.emit(Event::KeepAliveSent {
                    key: self.inner.key.clone(),
                    at: now,
                });
                self.emit_recovered(recovered, now);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Inactive => {
                self.renew(RenewMode::Always).await.map(|_| ())
            }
            Err(e) => {
                // A failure of credentials already replaced says nothing
                // about the new ones.
                if self.is_current(&record) {
                    self.handle_failure(now, &e, record.meta.expires_at, took)
                        .await;
                }
                Err(e)
            }
        }
    }
}
