//! From events to alerts: dedup per account and episode, a rate limit per
//! notifier, and delivery on each notifier's own task so a slow or dead
//! endpoint never holds up token upkeep (or the other notifiers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use token_core::{AccountKey, Clock, Event};
use tokio::sync::mpsc;

use super::{Alert, AlertKind, Notifier};
use crate::config::NotifyConfig;

/// Alerts waiting for one notifier beyond this are dropped (and logged).
const QUEUE: usize = 64;

/// What has been said about one account in the current episode (from the
/// first problem to recovery).
#[derive(Debug, Default)]
struct Episode {
    reauth: bool,
    failures: bool,
    store: bool,
    consecutive: u32,
    warned_for: Option<DateTime<Utc>>,
}

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
/// - "Recovered" only follows an alert that was sent.
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
    /// Starts one delivery task per notifier on the current tokio runtime.
    pub fn new(
        notifiers: Vec<Arc<dyn Notifier>>,
        config: &NotifyConfig,
        clock: Arc<dyn Clock>,
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
            resolves: Vec::new(),
        };
        match event {
            Event::ReauthorizationRequired {
                at, reason, url, ..
            } if !ep.reauth => {
                ep.reauth = true;
                Some(alert(
                    AlertKind::ReauthorizationRequired,
                    *at,
                    format!("a person must log in ({reason})"),
                    url.clone(),
                    None,
                ))
            }
            Event::ExpiringSoon { at, deadline, .. } if ep.warned_for != Some(*deadline) => {
                ep.warned_for = Some(*deadline);
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
                let resolves: Vec<AlertKind> = [
                    (ep.reauth, AlertKind::ReauthorizationRequired),
                    (ep.failures, AlertKind::RenewalFailures),
                    (ep.store, AlertKind::StoreFailure),
                ]
                .into_iter()
                .filter_map(|(sent, kind)| sent.then_some(kind))
                .collect();
                *ep = Episode {
                    warned_for: ep.warned_for,
                    ..Episode::default()
                };
                (!resolves.is_empty()).then(|| Alert {
                    resolves,
                    ..alert(
                        AlertKind::Recovered,
                        *at,
                        "recovered: tokens are live again".into(),
                        None,
                        None,
                    )
                })
            }
            Event::Renewed { .. } | Event::KeepAliveSent { .. } => {
                ep.consecutive = 0;
                None
            }
            _ => None,
        }
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
