//! Maintenance: what the manager does when time passes. One pass evaluates
//! the policy once, acts on that evaluation (keep-alive, renewal through the
//! one renewal path, expiry, warnings) and says when the next pass is due;
//! the loop sleeps on the manager's clock until then. Owns the `warnings`
//! part of the status.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::renewal::RenewMode;
use super::TokenManager;
use crate::events::{Event, RenewalReason};
use crate::policy::{Evaluation, TokenState};
use crate::record::{Payload, Record};

/// Stops a spawned maintenance task.
#[derive(Debug)]
pub struct MaintenanceHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MaintenanceHandle {
    /// Stops the task and waits for it to finish its current pass.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl<P: Payload> TokenManager<P> {
    /// Spawns the maintenance loop on the current tokio runtime: run a pass,
    /// sleep on the manager's clock until the next deadline (or until the
    /// credentials change), repeat. Idle accounts cost no wakeups.
    pub fn spawn_maintenance(&self) -> MaintenanceHandle {
        let (stop, mut stopped) = watch::channel(false);
        let this = self.clone();
        let mut changes = self.inner.store.changes();
        let task = tokio::spawn(async move {
            loop {
                // Boxed so the pass's (large) state lives only while it runs,
                // not in every sleeping account's task.
                let next = Box::pin(this.maintain()).await;
                let clock = this.inner.clock.clone();
                // Nothing due: sleep "forever" on the clock (a manual clock
                // still counts us as asleep; a change of credentials wakes us).
                let until = next.unwrap_or(DateTime::<Utc>::MAX_UTC);
                let sleep = async move { clock.sleep_until(until).await };
                let store_changed = async {
                    match changes.as_mut() {
                        Some(rx) => loop {
                            match rx.recv().await {
                                Ok(key) if key == this.inner.key => return,
                                Ok(_) => {}
                                // Missed notifications: reload to be safe.
                                Err(broadcast::error::RecvError::Lagged(_)) => return,
                                Err(broadcast::error::RecvError::Closed) => {
                                    std::future::pending::<()>().await
                                }
                            }
                        },
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = this.inner.changed.notified() => {}
                    _ = store_changed => {
                        let _ = this.reload_if_newer().await;
                    }
                    _ = sleep => {}
                }
            }
        });
        MaintenanceHandle { stop, task }
    }

    /// One maintenance pass at the clock's current instant. Returns when the
    /// next pass is due (`None`: nothing will change by time alone). The
    /// spawned loop runs it; exposed for tests and hand-driven loops.
    #[doc(hidden)]
    pub async fn maintain(&self) -> Option<DateTime<Utc>> {
        self.inner.passes.fetch_add(1, Ordering::Relaxed);
        let now = self.inner.clock.now();
        self.retry_save(now).await;
        if self.inner.current.load().is_none() {
            match self.load().await {
                Ok(true) => {}
                Ok(false) => {
                    self.raise_reauth("no credentials: authorize this account")
                        .await
                }
                Err(e) => self.store_failed(now, e, None),
            }
        }
        self.raise_due_notices(now);
        let mut seen = None;
        if let Some(record) = self.current_record() {
            let ev = self.evaluate_at(&record, now);
            self.act(now, &record, &ev).await;
            seen = Some((record, ev));
        }
        self.run_check(now).await;
        self.tend_login(now).await;
        let next = self.next_wake(now, seen);
        self.status().next_action_at = next;
        next
    }

    /// Number of maintenance passes run so far (for wakeup accounting in tests).
    #[doc(hidden)]
    pub fn maintenance_passes(&self) -> u64 {
        self.inner.passes.load(Ordering::Relaxed)
    }

    async fn act(&self, now: DateTime<Utc>, record: &Record<P>, ev: &Evaluation) {
        let gated = self.backing_off(now);
        let reauth = self.status().reauth.is_some();
        // The broker refused these credentials: probing them again (every
        // re-authorization poll) would only spend the broker's rate limit.
        let refused = self.refusal().is_some();
        // A person may have answered the login in progress from another
        // process (`tokenctl login`) while these still look fresh here (the
        // broker refused them): use that.
        if reauth
            && ev.state != TokenState::Expired
            && self.reload_if_newer().await.unwrap_or(false)
        {
            return;
        }
        match ev.state {
            TokenState::Expired if self.reload_if_newer().await.unwrap_or(false) => {
                // A person logged in from another process: use that.
            }
            TokenState::Expired => {
                let first = !std::mem::replace(&mut self.status().warnings.expired_reported, true);
                if first {
                    self.emit(Event::Expired {
                        key: self.inner.key.clone(),
                        at: now,
                    });
                }
                self.raise_reauth("credentials expired").await;
            }
            TokenState::Idle if !gated && !reauth => {
                // `renew_locked` tells idle from a passed access end.
                let _ = self.revive(RenewalReason::Idle).await;
            }
            TokenState::KeepAliveDue if !gated && !refused => {
                let _ = self.keep_alive_for(RenewalReason::KeepAlive).await;
            }
            TokenState::Fresh if !gated && !reauth && self.schedule_due(record, now) => {
                let _ = self
                    .renew(RenewMode::IfScheduleDue, RenewalReason::Scheduled)
                    .await;
            }
            _ => {}
        }
        if let Some(deadline) = ev.reauthorize_by.filter(|d| self.warns_ahead(*d, now)) {
            self.warn_ahead_of(deadline, now);
        }
    }

    /// Raises each configured notice once, when it falls due.
    fn raise_due_notices(&self, now: DateTime<Utc>) {
        for (i, notice) in self.inner.config.notices.iter().enumerate() {
            let first = notice.is_due(now) && {
                let raised = &mut self.status().warnings.notices_raised;
                !raised.contains(&i) && {
                    raised.push(i);
                    true
                }
            };
            if first {
                self.emit(Event::Warning {
                    key: self.inner.key.clone(),
                    at: now,
                    message: notice.message.clone(),
                });
            }
        }
    }

    /// When the next configured notice not raised yet falls due.
    fn next_notice(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let raised = self.status().warnings.notices_raised.clone();
        self.inner
            .config
            .notices
            .iter()
            .enumerate()
            .filter(|(i, n)| !raised.contains(i) && n.from > now)
            .map(|(_, n)| n.from)
            .min()
    }

    /// Whether `ExpiringSoon` warns, at `now`, ahead of `deadline`: always
    /// without a login window; with one, only when a window opens after
    /// `now` and before the deadline (e.g. FYERS's refresh token ending in
    /// three days). A token that dies before the next window (E*TRADE at
    /// 00:00, FYERS with `refresh = "off"` at 06:00) is asked for when that
    /// window opens: a warning "log in within 30 minutes" at 23:30, or on
    /// the eve of a weekend or a holiday, would wake a person for nothing.
    pub(super) fn warns_ahead(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let config = &self.inner.config;
        let Some(window) = config.login_window else {
            return true;
        };
        let calendar = config.calendar.as_deref();
        let next_open = match window.next_window(now, calendar) {
            // Inside a window now: the next one.
            Some((open, close)) if open <= now => window.next_window(close, calendar),
            next => next,
        }
        .map(|(open, _)| open);
        next_open.is_some_and(|open| open < deadline)
    }

    /// Emits `ExpiringSoon` once per warning lead and deadline: when the
    /// latest warning time passed is one not warned for yet.
    fn warn_ahead_of(&self, deadline: DateTime<Utc>, now: DateTime<Utc>) {
        let due = self
            .inner
            .config
            .expiry_warnings
            .iter()
            .copied()
            .filter(|lead| now >= deadline - *lead)
            .min();
        let Some(due) = due.filter(|_| now < deadline) else {
            return;
        };
        let first = {
            let mut st = self.status();
            let first = match st.warnings.warned {
                Some((d, warned)) if d == deadline => due < warned,
                _ => true,
            };
            if first {
                st.warnings.warned = Some((deadline, due));
            }
            first
        };
        if first {
            self.emit(Event::ExpiringSoon {
                key: self.inner.key.clone(),
                at: now,
                deadline,
            });
        }
    }

    /// When the next pass is due. `seen`: the record this pass evaluated and
    /// its evaluation, reused when the pass left that record in place.
    fn next_wake(
        &self,
        now: DateTime<Utc>,
        seen: Option<(Arc<Record<P>>, Evaluation)>,
    ) -> Option<DateTime<Utc>> {
        let mut candidates: Vec<DateTime<Utc>> = Vec::new();
        candidates.extend(self.status().failures.retry_at);
        candidates.extend(self.save_retry_due());
        candidates.extend(self.next_notice(now));
        candidates.extend(self.login_due(now));
        candidates.extend(self.check_due(now));
        if let Some(record) = self.current_record() {
            let ev = match seen {
                Some((old, ev)) if Arc::ptr_eq(&old, &record) => ev,
                // Replaced during the pass (renewed, adopted): a new decision.
                _ => self.evaluate_at(&record, now),
            };
            candidates.extend(ev.next_change);
            if ev.state == TokenState::Fresh {
                candidates.extend(self.next_scheduled(&record));
            }
            if let Some(deadline) = ev.reauthorize_by.filter(|d| self.warns_ahead(*d, now)) {
                let warned = match self.status().warnings.warned {
                    Some((d, lead)) if d == deadline => Some(lead),
                    _ => None,
                };
                candidates.extend(
                    self.inner
                        .config
                        .expiry_warnings
                        .iter()
                        .filter(|lead| warned.is_none_or(|w| **lead < w))
                        .map(|lead| deadline - *lead),
                );
            }
        }
        if self.status().reauth.is_some() {
            // Another process may save a person's login: look now and then.
            candidates.push(now + self.inner.config.reauth_poll);
        }
        let next = candidates.into_iter().filter(|t| *t > now).min();
        next.or_else(|| {
            // Something is due right now but could not act (e.g. backoff gate
            // equal to now): look again shortly rather than spin.
            let st = self.status();
            (st.failures.retry_at.is_some() || st.saving.unsaved.is_some())
                .then(|| now + Duration::seconds(1))
        })
    }
}
