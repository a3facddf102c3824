//! The pre-market check: at [`ManagerConfig::check_at`](super::ManagerConfig)
//! on the exchange's trading days, one real authenticated call (the
//! provider's probe, through the keep-alive path, so it counts as use)
//! proves the token the store calls fresh is accepted before the open.
//! Owns the `check` part of the status.
//!
//! - accepted: [`Event::CheckPassed`] and `last_checked` in health;
//! - inactive: renewed, then probed again (the keep-alive path);
//! - rejected or expired: the person-action path (re-authorization, then a
//!   login prompt in the open login window), early enough to log in;
//! - a transient failure: retried with the usual backoff until the login
//!   window closes (or an hour after the check without a window), then the
//!   account turns critical until a call succeeds.
//!
//! No check runs while a person is already asked to log in, or when no
//! token is held.

use chrono::{DateTime, Duration, Utc};

use super::TokenManager;
use crate::events::{Event, RenewalReason};
use crate::record::Payload;

impl<P: Payload> TokenManager<P> {
    /// The first check time strictly after `after` on a trading day.
    fn next_check(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let config = &self.inner.config;
        let schedule = config.check_at?;
        let mut t = after;
        for _ in 0..400 {
            t = schedule.next_after(t)?;
            let date = t.with_timezone(&schedule.zone()).date_naive();
            if config
                .calendar
                .as_deref()
                .is_none_or(|c| c.is_trading_day(date))
            {
                return Some(t);
            }
        }
        None
    }

    /// Until when transient failures of a check started at `now` are retried.
    fn check_retry_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let config = &self.inner.config;
        config
            .login_window
            .and_then(|w| w.next_window(now, config.calendar.as_deref()))
            .map(|(_, close)| close)
            .filter(|close| *close - now <= Duration::hours(12))
            .unwrap_or(now + Duration::hours(1))
    }

    /// Runs the check when due at `now`; plans the first one.
    pub(super) async fn run_check(&self, now: DateTime<Utc>) {
        if self.inner.config.check_at.is_none() {
            return;
        }
        let due = {
            let planned = self.status().check.next_at;
            match planned {
                Some(t) => t,
                None => {
                    let next = self.next_check(now);
                    self.status().check.next_at = next;
                    return;
                }
            }
        };
        if due > now {
            return;
        }
        let nothing_to_check = self.current_record().is_none() || self.status().reauth.is_some();
        if nothing_to_check {
            let next = self.next_check(now);
            let mut st = self.status();
            st.check.next_at = next;
            st.check.retry_until = None;
            return;
        }
        let result = self.keep_alive_for(RenewalReason::Check).await;
        let next = self.next_check(now);
        let until = self.check_retry_until(now);
        let passed = {
            let mut st = self.status();
            st.check.last_checked = Some(now);
            st.check.last_ok = Some(result.is_ok());
            match &result {
                Ok(()) => {
                    st.check.failed = false;
                    st.check.retry_until = None;
                    st.check.next_at = next;
                    true
                }
                Err(e) if e.is_retryable() => {
                    let until = *st.check.retry_until.get_or_insert(until);
                    if now < until {
                        let retry = st
                            .failures
                            .retry_at
                            .filter(|t| *t > now)
                            .unwrap_or(now + Duration::minutes(1));
                        st.check.next_at = Some(retry.min(until));
                    } else {
                        // Out of time before the open: a person must look.
                        st.check.failed = true;
                        st.trouble.troubled = true;
                        st.check.retry_until = None;
                        st.check.next_at = next;
                    }
                    false
                }
                Err(_) => {
                    // Rejected or expired: the person path is under way.
                    st.check.retry_until = None;
                    st.check.next_at = next;
                    false
                }
            }
        };
        if passed {
            self.emit(Event::CheckPassed {
                key: self.inner.key.clone(),
                at: now,
            });
        }
    }

    /// When the next check (or check retry) is due after `now`.
    pub(super) fn check_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.status().check.next_at.filter(|t| *t > now)
    }
}
