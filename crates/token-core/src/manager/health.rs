//! Health: the account's state for dashboards, HTTP health checks and
//! `tokenctl status`, read from every part of the status.

use chrono::{DateTime, Utc};

use super::TokenManager;
use crate::health::{AccountHealth, HealthStatus};
use crate::policy::TokenState;
use crate::record::Payload;
use crate::remedy::Remedy;

impl<P: Payload> TokenManager<P> {
    /// This account's health right now.
    pub fn health(&self) -> AccountHealth {
        self.health_at(self.inner.clock.now())
    }

    fn health_at(&self, now: DateTime<Utc>) -> AccountHealth {
        let record = self.current_record();
        let ev = record.as_ref().map(|r| self.evaluate_at(r, now));
        let st = self.status();
        let state = ev.map(|e| e.state);
        let warning = ev
            .and_then(|e| e.reauthorize_by)
            .filter(|d| self.warns_ahead(*d, now))
            .is_some_and(|d| d - now <= self.inner.config.first_warning());
        let warnings: Vec<String> = self
            .inner
            .config
            .notices
            .iter()
            .filter(|n| n.is_due(now))
            .map(|n| n.message.clone())
            .collect();
        let reauthorize_by = ev.and_then(|e| e.reauthorize_by);
        drop(st);
        let next_person_action = self.next_person_action(now, reauthorize_by);
        let st = self.status();
        // Expired with a login window still ahead: a person is due to be
        // asked, not late yet (critical once a window is missed).
        let awaiting_window = !st.login.missed
            && self.inner.config.login_window.is_some()
            && next_person_action
                .as_ref()
                .is_some_and(|a| a.remedy.needs_login() && a.window_closes.is_some());
        let status = match state {
            _ if st.login.missed || st.check.failed => HealthStatus::Critical,
            Some(TokenState::Expired) if awaiting_window => HealthStatus::Degraded,
            None | Some(TokenState::Expired) => HealthStatus::Critical,
            Some(TokenState::Idle) if st.reauth.is_some() => HealthStatus::Critical,
            Some(TokenState::Idle) => HealthStatus::Degraded,
            Some(_)
                if st.reauth.is_some()
                    || st.failures.consecutive > 0
                    || st.saving.unsaved.is_some()
                    || st.saving.failures > 0
                    || warning
                    || !warnings.is_empty() =>
            {
                HealthStatus::Degraded
            }
            Some(_) => HealthStatus::Healthy,
        };
        let login = st.reauth.as_ref().filter(|r| r.remedy.needs_login());
        let (remedy, remedy_reason) = match (&st.reauth, st.failures.retry_at) {
            (Some(r), _) => (Some(r.remedy.clone()), Some(r.reason.clone())),
            (None, Some(until)) => (
                Some(Remedy::Wait { until: Some(until) }),
                st.trouble.last_error.as_ref().map(|e| e.message.clone()),
            ),
            (None, None) => (None, None),
        };
        AccountHealth {
            key: self.inner.key.clone(),
            status,
            state,
            issued_at: record.as_ref().map(|r| r.meta.issued_at),
            last_used: record
                .as_ref()
                .map(|r| self.meta_with_use(r).last_activity()),
            expires_at: ev.and_then(|e| e.expires_at),
            idle_at: ev.and_then(|e| e.idle_at),
            refresh_expires_at: record.as_ref().and_then(|r| r.meta.refresh_expires_at),
            reauthorize_by: ev.and_then(|e| e.reauthorize_by),
            next_action_at: st.next_action_at,
            reauthorization_required: login.is_some(),
            reauthorization_reason: login.map(|r| r.reason.clone()),
            reauthorization_url: login.and_then(|r| r.url.clone()),
            remedy,
            remedy_reason,
            last_error: st.trouble.last_error.clone(),
            consecutive_failures: st.failures.consecutive,
            unsaved: st.saving.unsaved.is_some(),
            renewals: st.counters.renewals,
            keepalives: st.counters.keepalives,
            warnings,
            next_person_action,
            login_window_missed: st.login.missed,
            last_checked: st.check.last_checked,
            last_check_ok: st.check.last_ok,
            next_check_at: st.check.next_at,
        }
    }
}
