//! From events to alerts: dedup per account and episode, a rate limit per
//! notifier, and delivery on each notifier's own task so a slow or dead
//! endpoint never holds up token upkeep (or the other notifiers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use token_core::{AccountKey, Clock, Event};
use tokio::sync::mpsc;

use super::episode::{Episode, Recovering};
use super::{Alert, AlertKind, Notifier};
use crate::config::NotifyConfig;
use crate::reauth::{how_to_answer, AnswerWays};

/// Alerts waiting for one notifier beyond this are dropped (and logged).
const QUEUE: usize = 64;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: DateTime<Utc>,
}

struct Sink {
    notifier: Arc<dyn Notifier>,
    tx: mpsc::Sender<Alert>,
    bucket: Mutex<Bucket>,
}

/// Turns token-core [`Event`]s into alerts for a set of notifiers.
///
/// - One alert per problem per episode: a broker outage that fails renewals
///   for hours yields one "renewal failures" alert (after
///   `failure_threshold` in a row) and one "recovered".
/// - "Recovered" only follows an alert that was sent, and only once the
///   account stayed healthy for `recovery_quiet_secs` (on the injected
///   clock): a problem that comes back within that quiet period continues
///   the same episode, so a flapping account yields no second alert /
///   "recovered" pair.
/// - Each notifier has a token bucket (`burst`, `per_hour`); alerts beyond it
///   are dropped with a log line.
/// - [`Alerter::handle`] never waits: alerts are queued to per-notifier tasks
///   that deliver with a timeout.
#[derive(Clone)]
pub struct Alerter {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Arc<dyn Clock>,
    threshold: u32,
    burst: f64,
    per_sec: f64,
    sinks: Vec<Sink>,
    episodes: Mutex<HashMap<AccountKey, Episode>>,
    quiet: chrono::Duration,
    next_recovery: AtomicU64,
    runtime: tokio::runtime::Handle,
    /// The ways a person can answer a login, named in re-authorization alerts.
    ways: AnswerWays,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.sinks.iter().map(|s| s.notifier.name()).collect();
        f.debug_struct("Alerter")
            .field("notifiers", &names)
            .finish()
    }
}

impl Alerter {
    /// Starts one delivery task per notifier on the current tokio runtime
    /// (quiet-period timers run there too).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn new(
        notifiers: Vec<Arc<dyn Notifier>>,
        config: &NotifyConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::answering(notifiers, config, clock, AnswerWays::default())
    }

    /// [`Alerter::new`], naming `ways` (besides `tokenctl login`) in
    /// re-authorization alerts as ways to answer.
    pub fn answering(
        notifiers: Vec<Arc<dyn Notifier>>,
        config: &NotifyConfig,
        clock: Arc<dyn Clock>,
        ways: AnswerWays,
    ) -> Self {
        let now = clock.now();
        let timeout = config.timeout();
        let burst = f64::from(config.burst.max(1));
        let sinks = notifiers
            .into_iter()
            .map(|notifier| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(deliver(notifier.clone(), rx, timeout));
                Sink {
                    notifier,
                    tx,
                    bucket: Mutex::new(Bucket {
                        tokens: burst,
                        updated: now,
                    }),
                }
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                clock,
                threshold: config.failure_threshold.max(1),
                burst,
                per_sec: f64::from(config.per_hour.max(1)) / 3600.0,
                sinks,
                episodes: Mutex::new(HashMap::new()),
                quiet: chrono::Duration::from_std(config.recovery_quiet())
                    .unwrap_or(chrono::Duration::MAX),
                next_recovery: AtomicU64::new(0),
                runtime: tokio::runtime::Handle::current(),
                ways,
            }),
        }
    }

    /// Decides whether `event` warrants an alert and queues it. Never waits.
    pub fn handle(&self, event: &Event) {
        if let Some(alert) = self.decide(event) {
            self.dispatch(alert);
        }
    }

    fn decide(&self, event: &Event) -> Option<Alert> {
        let mut episodes = self
            .inner
            .episodes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let ep = episodes.entry(event.key().clone()).or_default();
        let alert = |kind, at, message: String, url, deadline| Alert {
            account: event.key().clone(),
            kind,
            at,
            message,
            url,
            deadline,
            answer: None,
            resolves: Vec::new(),
        };
        if matches!(
            event,
            Event::ReauthorizationRequired { .. }
                | Event::PersonActionRequired { .. }
                | Event::RenewalFailed { .. }
                | Event::StoreFailure { .. }
        ) && ep.relapse()
            && matches!(
                event,
                Event::ReauthorizationRequired { .. } | Event::PersonActionRequired { .. }
            )
        {
            // A person just logged in and it already failed: they must be
            // told again (with the new URL), not left believing it worked.
            ep.reauth = false;
            ep.action = false;
        }
        match event {
            // The person is asked by `LoginRequested` (at the login window,
            // then reminders), not when the need arises (e.g. 00:00 New York).
            Event::LoginRequested {
                at,
                reason,
                url,
                reminder,
                window_closes,
                ..
            } => {
                ep.reauth = true;
                let mut message = format!("a person must log in ({reason})");
                if *reminder > 0 {
                    message.push_str(&format!("; reminder {reminder}"));
                }
                if let Some(closes) = window_closes {
                    message.push_str(&format!(
                        "; the account turns critical at {}",
                        closes.format("%Y-%m-%d %H:%M UTC")
                    ));
                }
                let mut a = alert(
                    AlertKind::ReauthorizationRequired,
                    *at,
                    message,
                    url.clone(),
                    *window_closes,
                );
                if url.is_some() {
                    a.answer = Some(how_to_answer(event.key(), None, self.inner.ways));
                }
                Some(a)
            }
            Event::PersonActionRequired {
                at, remedy, reason, ..
            } if !ep.action => {
                ep.action = true;
                Some(alert(
                    AlertKind::PersonActionRequired,
                    *at,
                    format!("{remedy}, then restart the daemon so it tries again ({reason})"),
                    None,
                    None,
                ))
            }
            Event::ExpiringSoon { at, deadline, .. } if ep.warned != Some((*deadline, *at)) => {
                ep.warned = Some((*deadline, *at));
                Some(alert(
                    AlertKind::ExpiringSoon,
                    *at,
                    format!(
                        "a person must log in within {} (by {})",
                        human(*deadline - *at),
                        deadline.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None,
                    Some(*deadline),
                ))
            }
            Event::RenewalFailed {
                at, kind, error, ..
            } => {
                ep.consecutive += 1;
                (ep.consecutive >= self.inner.threshold && !ep.failures).then(|| {
                    ep.failures = true;
                    alert(
                        AlertKind::RenewalFailures,
                        *at,
                        format!(
                            "{} renewal failures in a row ({}): {error}",
                            ep.consecutive,
                            serde_json::to_value(kind)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default()
                        ),
                        None,
                        None,
                    )
                })
            }
            Event::StoreFailure { at, error, .. } if !ep.store => {
                ep.store = true;
                Some(alert(
                    AlertKind::StoreFailure,
                    *at,
                    format!("token store failing, record kept in memory: {error}"),
                    None,
                    None,
                ))
            }
            Event::Recovered { at, .. } | Event::Authorized { at, .. } => {
                ep.consecutive = 0;
                if ep.recovering.is_some() {
                    // Already waiting out the quiet period (e.g. `Authorized`
                    // then `Recovered` for the same login).
                    return None;
                }
                let resolves = ep.sent();
                if resolves.is_empty() || self.inner.quiet <= chrono::Duration::zero() {
                    ep.close();
                    return (!resolves.is_empty()).then(|| recovered(event.key(), *at, resolves));
                }
                let id = self.inner.next_recovery.fetch_add(1, Ordering::Relaxed);
                ep.recovering = Some(Recovering {
                    id,
                    at: *at,
                    by_person: matches!(event, Event::Authorized { .. }),
                    timer: None,
                });
                let timer = self.inner.runtime.spawn(quiet_period(
                    Arc::downgrade(&self.inner),
                    event.key().clone(),
                    id,
                    // A quiet period too long for the calendar never ends.
                    at.checked_add_signed(self.inner.quiet)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                ));
                if let Some(r) = ep.recovering.as_mut() {
                    r.timer = Some(timer.abort_handle());
                }
                None
            }
            Event::Renewed { .. } | Event::KeepAliveSent { .. } => {
                ep.consecutive = 0;
                None
            }
            _ => None,
        }
    }

    /// The quiet period after recovery `id` of `key` ended: sends
    /// "recovered" unless the problem came back meanwhile.
    fn quiet_period_over(&self, key: &AccountKey, id: u64) {
        let alert = {
            let mut episodes = self
                .inner
                .episodes
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let Some(ep) = episodes.get_mut(key) else {
                return;
            };
            let Some(at) = ep.recovering.as_ref().filter(|r| r.id == id).map(|r| r.at) else {
                return;
            };
            let resolves = ep.sent();
            ep.recovering = None;
            ep.close();
            recovered(key, at, resolves)
        };
        self.dispatch(alert);
    }

    fn dispatch(&self, alert: Alert) {
        let now = self.inner.clock.now();
        for sink in &self.inner.sinks {
            let wanted = if alert.kind == AlertKind::Recovered {
                alert.resolves.iter().any(|k| sink.notifier.accepts(*k))
            } else {
                sink.notifier.accepts(alert.kind)
            };
            if !wanted {
                continue;
            }
            let allowed = {
                let mut b = sink.bucket.lock().unwrap_or_else(|p| p.into_inner());
                let elapsed = (now - b.updated).num_milliseconds().max(0) as f64 / 1000.0;
                b.tokens = (b.tokens + elapsed * self.inner.per_sec).min(self.inner.burst);
                b.updated = b.updated.max(now);
                let ok = b.tokens >= 1.0;
                if ok {
                    b.tokens -= 1.0;
                }
                ok
            };
            if !allowed {
                tracing::warn!(notifier = sink.notifier.name(), account = %alert.account, kind = ?alert.kind, "alert rate limit reached; alert dropped");
                continue;
            }
            if sink.tx.try_send(alert.clone()).is_err() {
                tracing::warn!(notifier = sink.notifier.name(), account = %alert.account, "alert queue full; alert dropped");
            }
        }
    }
}

fn recovered(key: &AccountKey, at: DateTime<Utc>, resolves: Vec<AlertKind>) -> Alert {
    Alert {
        account: key.clone(),
        kind: AlertKind::Recovered,
        at,
        message: "recovered: tokens are live again".into(),
        url: None,
        deadline: None,
        answer: None,
        resolves,
    }
}

/// Waits on the injected clock until `deadline`, then ends the quiet
/// period. Holds the alerter weakly: a dropped alerter sends nothing.
async fn quiet_period(inner: Weak<Inner>, key: AccountKey, id: u64, deadline: DateTime<Utc>) {
    let Some(clock) = inner.upgrade().map(|i| i.clock.clone()) else {
        return;
    };
    clock.sleep_until(deadline).await;
    if let Some(inner) = inner.upgrade() {
        Alerter { inner }.quiet_period_over(&key, id);
    }
}

async fn deliver(notifier: Arc<dyn Notifier>, mut rx: mpsc::Receiver<Alert>, timeout: Duration) {
    while let Some(alert) = rx.recv().await {
        match tokio::time::timeout(timeout, notifier.notify(&alert)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(notifier = notifier.name(), account = %alert.account, error = %e, "alert not delivered")
            }
            Err(_) => {
                tracing::warn!(notifier = notifier.name(), account = %alert.account, "alert delivery timed out")
            }
        }
    }
}

/// "3 days", "5 hours", "30 minutes".
fn human(d: chrono::Duration) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if d.num_days() >= 1 {
        plural(d.num_days(), "day")
    } else if d.num_hours() >= 1 {
        plural(d.num_hours(), "hour")
    } else {
        plural(d.num_minutes().max(0), "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human(chrono::Duration::days(3)), "3 days");
        assert_eq!(human(chrono::Duration::hours(1)), "1 hour");
        assert_eq!(human(chrono::Duration::minutes(30)), "30 minutes");
    }
}
