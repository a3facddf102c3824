//! A per-app budget for probe and keep-alive calls.
//!
//! FYERS counts requests per app (client_id): 10 per second and 200 per
//! minute, and an app that breaches the per-minute limit more than 3 times
//! in a day is blocked for the rest of it. Probes are our traffic, not the
//! bot's, so they get a small share: at most [`PROBES_PER_SECOND`] per second
//! and [`PROBES_PER_MINUTE`] per minute per app, counted across every
//! account (and provider) of the process that uses the same app on the same
//! FYERS host. A probe over budget waits for a slot (it is not refused: the
//! caller's answer stays what FYERS says), on tokio's clock, which tests can
//! pause.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

/// Probes per second per app: half of FYERS's 10/s.
pub const PROBES_PER_SECOND: usize = 5;

/// Probes per minute per app: under a third of FYERS's 200/min, so the
/// bot's own calls keep most of it.
pub const PROBES_PER_MINUTE: usize = 60;

/// Limiters by (base URL, client_id).
type Apps = HashMap<(String, String), Weak<ProbeLimiter>>;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// A sliding-window budget: at most `per_second` starts in any second and
/// `per_minute` in any minute.
#[derive(Debug)]
pub struct ProbeLimiter {
    per_second: usize,
    per_minute: usize,
    /// Start instants of the last minute's probes, oldest first.
    recent: Mutex<VecDeque<Instant>>,
}

impl ProbeLimiter {
    /// A limiter with its own budget (not shared; see [`ProbeLimiter::for_app`]).
    pub fn new(per_second: usize, per_minute: usize) -> Self {
        Self {
            per_second: per_second.max(1),
            per_minute: per_minute.max(1),
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// The process-wide limiter of one app on one FYERS host: every provider
    /// built for the same `client_id` and base URL gets the same one (while
    /// any of them lives; the registry holds no limiter nobody uses).
    pub fn for_app(base_url: &str, client_id: &str) -> Arc<ProbeLimiter> {
        static APPS: OnceLock<Mutex<Apps>> = OnceLock::new();
        let apps = APPS.get_or_init(Default::default);
        let mut apps = apps.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (
            base_url.trim_end_matches('/').to_ascii_lowercase(),
            client_id.trim().to_owned(),
        );
        if let Some(shared) = apps.get(&key).and_then(Weak::upgrade) {
            return shared;
        }
        apps.retain(|_, limiter| limiter.strong_count() > 0);
        let limiter = Arc::new(ProbeLimiter::new(PROBES_PER_SECOND, PROBES_PER_MINUTE));
        apps.insert(key, Arc::downgrade(&limiter));
        limiter
    }

    /// Waits until a probe may start within the budget, and counts it.
    pub async fn acquire(&self) {
        loop {
            match self.try_start(Instant::now()) {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Counts a probe starting at `now` if the budget allows, else says how
    /// long until it would.
    pub fn try_start(&self, now: Instant) -> Result<(), Duration> {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        while recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            recent.pop_front();
        }
        if recent.len() >= self.per_minute {
            return Err(until_out_of(
                recent[recent.len() - self.per_minute],
                MINUTE,
                now,
            ));
        }
        let in_last_second = recent
            .iter()
            .rev()
            .take_while(|t| now.saturating_duration_since(**t) < SECOND)
            .count();
        if in_last_second >= self.per_second {
            return Err(until_out_of(
                recent[recent.len() - self.per_second],
                SECOND,
                now,
            ));
        }
        recent.push_back(now);
        Ok(())
    }
}

/// How long until `start` is `window` old (never zero: always progress).
fn until_out_of(start: Instant, window: Duration, now: Instant) -> Duration {
    (start + window)
        .saturating_duration_since(now)
        .max(Duration::from_millis(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_per_second_budget_starts_in_any_second() {
        let l = ProbeLimiter::new(5, 60);
        let t0 = Instant::now();
        for _ in 0..5 {
            l.try_start(t0).unwrap();
        }
        assert_eq!(l.try_start(t0), Err(SECOND));
        let half = t0 + Duration::from_millis(500);
        assert_eq!(l.try_start(half), Err(Duration::from_millis(500)));
        // One second on, the first five are out of the window.
        for _ in 0..5 {
            l.try_start(t0 + SECOND).unwrap();
        }
        assert!(l.try_start(t0 + SECOND).is_err());
    }

    #[test]
    fn at_most_the_per_minute_budget_starts_in_any_minute() {
        let l = ProbeLimiter::new(5, 60);
        let t0 = Instant::now();
        // As fast as the per-second budget allows: 60 probes take 12 s.
        let mut started = 0;
        let mut t = t0;
        while t < t0 + MINUTE {
            while l.try_start(t).is_ok() {
                started += 1;
            }
            t += Duration::from_millis(100);
        }
        assert_eq!(started, 60);
        // The 61st waits until the first is a minute old.
        let wait = l.try_start(t0 + Duration::from_secs(30)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        assert!(l.try_start(t0 + MINUTE).is_ok());
    }

    #[test]
    fn counted_over_an_hour_the_budget_holds_in_every_window() {
        let l = ProbeLimiter::new(PROBES_PER_SECOND, PROBES_PER_MINUTE);
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for ms in (0..3_600_000u64).step_by(20) {
            let t = t0 + Duration::from_millis(ms);
            if l.try_start(t).is_ok() {
                starts.push(t);
            }
        }
        for (i, t) in starts.iter().enumerate() {
            let in_window = |w: Duration| starts[i..].iter().take_while(|s| **s < *t + w).count();
            assert!(in_window(SECOND) <= PROBES_PER_SECOND);
            assert!(in_window(MINUTE) <= PROBES_PER_MINUTE);
        }
        assert_eq!(
            starts.len(),
            60 * PROBES_PER_MINUTE,
            "the budget is used, not starved"
        );
    }

    #[test]
    fn accounts_of_one_app_share_one_budget() {
        let a = ProbeLimiter::for_app("https://api-t1.fyers.in/api/v3", "SHARED-100");
        let b = ProbeLimiter::for_app("https://api-t1.fyers.in/api/v3", "SHARED-100");
        let c = ProbeLimiter::for_app("https://API-t1.fyers.in/api/v3/", "SHARED-100");
        let other = ProbeLimiter::for_app("https://api-t1.fyers.in/api/v3", "OTHER-100");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a, &c), "the same host spelled differently");
        assert!(!Arc::ptr_eq(&a, &other));
        // Once nobody uses it, a new one starts with a fresh budget.
        a.try_start(Instant::now()).unwrap();
        drop((a, b, c));
        let fresh = ProbeLimiter::for_app("https://api-t1.fyers.in/api/v3", "SHARED-100");
        assert!(fresh.recent.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_over_budget_probe_waits_for_its_slot() {
        let l = ProbeLimiter::new(5, 60);
        let t0 = Instant::now();
        for _ in 0..12 {
            l.acquire().await;
        }
        // 5 at once, 5 a second later, 2 more a second after that.
        assert_eq!(Instant::now() - t0, 2 * SECOND);
    }
}
