//! Manager settings.

use std::sync::Arc;

use chrono::Duration;

use crate::calendar::TradingCalendar;
use crate::login_window::LoginWindow;
use crate::notice::Notice;
use crate::schedule::Schedule;

/// Exponential backoff with jitter for transient failures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Random spread as a fraction of the delay (0.2 = ±20%).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::seconds(5),
            max: Duration::minutes(5),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based), with jitter, never
    /// more than half of `time_left` (so several retries fit before a
    /// deadline) and never less than one second.
    pub fn delay(&self, attempt: u32, time_left: Option<Duration>) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let base = self
            .initial
            .checked_mul(1i32 << exp.min(20))
            .unwrap_or(self.max)
            .min(self.max);
        let spread = (rand::random::<f64>() * 2.0 - 1.0) * self.jitter.clamp(0.0, 1.0);
        let ms = base.num_milliseconds() as f64 * (1.0 + spread);
        let mut delay = Duration::milliseconds(ms as i64);
        if let Some(left) = time_left {
            delay = delay.min(left / 2);
        }
        delay.max(Duration::seconds(1))
    }
}

/// How a [`TokenManager`](crate::TokenManager) behaves.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Renew at these times even when the credentials are fresh (e.g. FYERS
    /// 08:45 Asia/Kolkata Mon–Fri).
    pub schedule: Option<Schedule>,
    /// Raise `ExpiringSoon` this long before only a person can help, once
    /// per lead and deadline: `[Duration::days(1), Duration::hours(2)]`
    /// warns a day ahead and again two hours ahead. A manager that was not
    /// running at an earlier lead's time warns once, at the next one due.
    /// With a [`login_window`](Self::login_window), only for a deadline
    /// after the next window opens: a token that dies before it is asked
    /// for when it opens.
    pub expiry_warnings: Vec<Duration>,
    /// Backoff for transient renewal / keep-alive failures.
    pub retry: RetryPolicy,
    /// Backoff for failed store saves.
    pub store_retry: RetryPolicy,
    /// Event channel capacity (slow subscribers miss the oldest events).
    pub event_capacity: usize,
    /// While a person must log in, look in the store this often for
    /// credentials another process (e.g. `tokenctl login` answering the
    /// shared login in progress) saved (default 5 s: one store read per
    /// waiting account, and the daemon is healthy seconds after the login).
    pub reauth_poll: Duration,
    /// How long a cross-process renewal lease lasts if its holder dies
    /// (stores whose leases the OS releases, like `FileStore`, ignore it).
    pub lease_ttl: std::time::Duration,
    /// How long a renewal waits for another process's lease before giving
    /// up for now (maintenance retries). Longer than `lease_ttl`, so a
    /// crashed holder's lease runs out while we wait.
    pub lease_wait: std::time::Duration,
    /// Dated warnings about this account's setup (e.g. an E*TRADE consumer
    /// key's end of life): each is raised once as an `Event::Warning` when
    /// due and listed in health reports from then on.
    pub notices: Vec<Notice>,
    /// When a person is asked to log in (see [`crate::login_window`]):
    /// `None` asks at once, whatever the time.
    pub login_window: Option<LoginWindow>,
    /// The exchange's trading days: no login window (and so no prompt) on
    /// its holidays and weekends. `None`: every day the window names.
    pub calendar: Option<Arc<TradingCalendar>>,
    /// The pre-market check (see the `check` part of the manager): one real
    /// call at this time on the calendar's trading days, e.g. `08:00
    /// America/New_York Mon-Fri`. `None`: no check.
    pub check_at: Option<Schedule>,
}

impl ManagerConfig {
    /// The longest warning lead: from then on an account's health shows the
    /// coming deadline (zero when no warning is configured).
    pub fn first_warning(&self) -> Duration {
        self.expiry_warnings
            .iter()
            .copied()
            .max()
            .unwrap_or_else(Duration::zero)
    }
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            schedule: None,
            expiry_warnings: vec![Duration::minutes(30)],
            retry: RetryPolicy::default(),
            store_retry: RetryPolicy {
                initial: Duration::seconds(2),
                max: Duration::minutes(1),
                jitter: 0.2,
            },
            event_capacity: 256,
            reauth_poll: Duration::seconds(5),
            // Above a slow renewal's worst case (two 30 s HTTP attempts plus
            // the save), so a lease cannot run out under a live holder.
            lease_ttl: std::time::Duration::from_secs(120),
            lease_wait: std::time::Duration::from_secs(125),
            notices: Vec::new(),
            login_window: None,
            calendar: None,
            check_at: None,
        }
    }
}
