//! The person: when to ask for a login, how often to remind, when a missed
//! window turns the account critical, and what the next person action is.
//! Owns the `login` part of the status.
//!
//! A login need (a raised re-authorization whose remedy is
//! [`Remedy::LogIn`]) is answered by [`Event::LoginRequested`]:
//! - with no [`ManagerConfig::login_window`](super::ManagerConfig): at once;
//! - inside a window: at once, then reminders
//!   ([`crate::login_window::next_reminder`]) until the login or the close;
//! - before a window (e.g. a token dead at 00:00 New York): when it opens
//!   on the next trading day of the [`ManagerConfig::calendar`](super::ManagerConfig);
//!   weekends and holidays have no window, so no prompt;
//! - after the day's window closed on a trading day (a refusal in the
//!   afternoon): at once, the account already critical, and again at the
//!   next window.
//!
//! At a close with no login: [`Event::LoginWindowMissed`], the account
//! critical, the next window planned. Other remedies (fix a setting or the
//! PIN) are told at once by `ReauthorizationRequired` and never windowed.

use chrono::{DateTime, Utc};

use super::TokenManager;
use crate::events::Event;
use crate::health::PersonAction;
use crate::login_window::next_reminder;
use crate::record::Payload;
use crate::remedy::Remedy;

/// When a login need arising at some instant is put to a person.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Plan {
    /// The first prompt.
    pub(super) first: DateTime<Utc>,
    /// The window's close, if the prompt is in a window.
    pub(super) closes: Option<DateTime<Utc>>,
    /// The day's window had already closed: critical at once.
    pub(super) late: bool,
}

impl<P: Payload> TokenManager<P> {
    /// What a person must do about the raised re-authorization, if any.
    pub(super) fn reauth_remedy(&self) -> Option<Remedy> {
        self.status().reauth.as_ref().map(|r| r.remedy.clone())
    }

    /// When a login needed from `at` is asked for (see the module docs).
    pub(super) fn plan_login(&self, at: DateTime<Utc>) -> Plan {
        let config = &self.inner.config;
        let calendar = config.calendar.as_deref();
        let at_once = Plan {
            first: at,
            closes: None,
            late: false,
        };
        let Some(window) = config.login_window else {
            return at_once;
        };
        if window.closed_today(at, calendar).is_some() {
            return Plan {
                late: true,
                ..at_once
            };
        }
        match window.next_window(at, calendar) {
            Some((open, close)) => Plan {
                first: open.max(at),
                closes: Some(close),
                late: false,
            },
            None => at_once,
        }
    }

    /// The configured window that opens next after `now` (`None` without one).
    fn next_window(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let config = &self.inner.config;
        config
            .login_window
            .and_then(|w| w.next_window(now, config.calendar.as_deref()))
    }

    /// Plans, prompts, reminds and marks missed windows for a raised login
    /// need at `now`; forgets it all once no login is needed.
    pub(super) async fn tend_login(&self, now: DateTime<Utc>) {
        if !self.reauth_remedy().is_some_and(|r| r.needs_login()) {
            self.status().login = Default::default();
            return;
        }
        let missed_next = {
            let mut st = self.status();
            let login = &mut st.login;
            match login.window {
                None => {
                    let plan = self.plan_login(now);
                    login.window = Some((plan.first, plan.closes));
                    login.next_at = Some(plan.first);
                    login.sent = 0;
                    login.missed |= plan.late;
                    None
                }
                Some((_, Some(closes))) if now >= closes => {
                    login.missed = true;
                    let next = self.next_window(now);
                    login.window = next.map(|(open, close)| (open, Some(close)));
                    login.next_at = next.map(|(open, _)| open);
                    login.sent = 0;
                    Some((closes, login.next_at))
                }
                Some(_) => None,
            }
        };
        if let Some((closed, next)) = missed_next {
            self.status().trouble.troubled = true;
            self.emit(Event::LoginWindowMissed {
                key: self.inner.key.clone(),
                at: closed,
                next_window: next,
            });
        }
        let due = {
            let st = self.status();
            st.login.next_at.filter(|t| *t <= now).and(st.login.window)
        };
        let Some((_, closes)) = due else { return };
        let (url, replaced) = match self.inner.provider.capabilities().authorize {
            true => match self.prompt_request().await {
                Ok(login) => (Some(login.request.url), login.replaced),
                Err(e) => {
                    tracing::warn!(account = %self.inner.key, error = %e, "could not start authorization");
                    (None, false)
                }
            },
            false => (None, false),
        };
        let (reminder, reason) = {
            let mut st = self.status();
            let mut reason = st
                .reauth
                .as_ref()
                .map(|r| r.reason.clone())
                .unwrap_or_default();

            if let (Some(reauth), Some(u)) = (st.reauth.as_mut(), url.as_ref()) {
                reauth.url = Some(u.clone());
            }
            let sent = st.login.sent;
            if replaced && sent > 0 {
                // Said in the reminder itself: the URL sent before went stale.
                reason.push_str("; the earlier login URL no longer works, use this one");
            }
            st.login.sent += 1;
            st.login.next_at = match closes {
                Some(c) => next_reminder(now, c),
                // Asked at once outside a window: ask again when the next opens.
                None => {
                    let next = self.next_window(now);
                    if let Some((open, close)) = next {
                        st.login.window = Some((open, Some(close)));
                        st.login.sent = 0;
                    }
                    next.map(|(open, _)| open)
                }
            };
            (sent, reason)
        };
        self.emit(Event::LoginRequested {
            key: self.inner.key.clone(),
            at: now,
            reason,
            url,
            reminder,
            window_closes: closes,
        });
    }

    /// When the login prompt next needs a pass: the next prompt or the
    /// window's close.
    pub(super) fn login_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let st = self.status();
        let closes = st.login.window.and_then(|(_, c)| c);
        [st.login.next_at, closes]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }

    /// The next thing a person must do, and when, at `now`: the raised
    /// remedy (a login at its planned prompt), else a login at the window
    /// after the policy's deadline `reauthorize_by`.
    pub(super) fn next_person_action(
        &self,
        now: DateTime<Utc>,
        reauthorize_by: Option<DateTime<Utc>>,
    ) -> Option<PersonAction> {
        let zone = self
            .inner
            .config
            .login_window
            .map(|w| w.zone().name().to_owned());
        let login = |plan: Plan| PersonAction {
            remedy: Remedy::LogIn,
            at: plan.first,
            window_closes: plan.closes,
            zone: zone.clone(),
        };
        match self.reauth_remedy() {
            Some(Remedy::LogIn) => {
                let planned = self.status().login.window;
                Some(match planned {
                    Some((first, closes)) => PersonAction {
                        remedy: Remedy::LogIn,
                        at: first,
                        window_closes: closes,
                        zone: zone.clone(),
                    },
                    None => login(self.plan_login(now)),
                })
            }
            Some(remedy) => Some(PersonAction {
                remedy,
                at: now,
                window_closes: None,
                zone: None,
            }),
            None => reauthorize_by.map(|deadline| login(self.plan_login(deadline.max(now)))),
        }
    }
}
