//! Prometheus metrics in the text exposition format (version 0.0.4).
//!
//! Written by hand: the format is a few lines of text per metric, and the
//! values come from two places only: the accounts' health (read at scrape
//! time) and counters fed by token-core [`Event`]s. A metrics crate would add
//! a global registry and more dependencies for no gain here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use token_core::{health_report, AccountKey, ErrorKind, Event, HealthStatus, ManagedAccount};

/// Upper bounds (seconds) of the renewal latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Counters {
    failures: BTreeMap<(String, &'static str), u64>,
    store_failures: BTreeMap<String, u64>,
    reauth: BTreeMap<String, u64>,
    latency: BTreeMap<String, Histogram>,
}

/// Event-fed counters and renewal latencies. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Transient => "transient",
        ErrorKind::Inactive => "inactive",
        ErrorKind::Rejected => "rejected",
        ErrorKind::Config => "config",
        ErrorKind::Store => "store",
        ErrorKind::Protocol => "protocol",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Unavailable => "unavailable",
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts what an event says (renewal latency, failures by kind, store
    /// failures, re-authorization requests).
    pub fn record(&self, event: &Event) {
        if let Event::Renewed { took_ms, .. } = event {
            self.observe_renewal(event.key(), Duration::from_millis(*took_ms));
            return;
        }
        let account = event.key().to_string();
        let mut c = self.counters();
        match event {
            Event::RenewalFailed { kind, .. } => {
                *c.failures.entry((account, kind_name(*kind))).or_default() += 1;
            }
            Event::StoreFailure { .. } => *c.store_failures.entry(account).or_default() += 1,
            Event::ReauthorizationRequired { .. } => *c.reauth.entry(account).or_default() += 1,
            _ => {}
        }
    }

    /// Records how long one renewal took (fed from `Renewed` events; call
    /// it for renewals you time yourself).
    pub fn observe_renewal(&self, key: &AccountKey, took: Duration) {
        let secs = took.as_secs_f64();
        let mut c = self.counters();
        let h = c.latency.entry(key.to_string()).or_default();
        for (slot, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS) {
            if secs <= bound {
                *slot += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The whole exposition: health-derived gauges and counters for
    /// `accounts` at `now`, then the event-fed counters.
    pub fn render(&self, now: DateTime<Utc>, accounts: &[Arc<dyn ManagedAccount>]) -> String {
        let report = health_report(now, accounts);
        let mut out = String::with_capacity(2048);
        let secs = |t: Option<DateTime<Utc>>| t.map(|t| (t - now).num_milliseconds() as f64 / 1e3);

        header(
            &mut out,
            "broker_tokens_renewals_total",
            "counter",
            "Silent renewals done by this process.",
        );
        for a in &report.accounts {
            sample(
                &mut out,
                "broker_tokens_renewals_total",
                &[("account", &a.key.to_string())],
                a.renewals as f64,
            );
        }
        header(
            &mut out,
            "broker_tokens_keepalives_total",
            "counter",
            "Keep-alive probes sent by this process.",
        );
        for a in &report.accounts {
            sample(
                &mut out,
                "broker_tokens_keepalives_total",
                &[("account", &a.key.to_string())],
                a.keepalives as f64,
            );
        }
        header(
            &mut out,
            "broker_tokens_account_status",
            "gauge",
            "0 healthy, 1 degraded, 2 critical.",
        );
        for a in &report.accounts {
            let v = match a.status {
                HealthStatus::Healthy => 0.0,
                HealthStatus::Degraded => 1.0,
                HealthStatus::Critical => 2.0,
            };
            sample(
                &mut out,
                "broker_tokens_account_status",
                &[("account", &a.key.to_string())],
                v,
            );
        }
        header(
            &mut out,
            "broker_tokens_reauthorization_required",
            "gauge",
            "1 when a person must log in.",
        );
        for a in &report.accounts {
            let v = if a.reauthorization_required { 1.0 } else { 0.0 };
            sample(
                &mut out,
                "broker_tokens_reauthorization_required",
                &[("account", &a.key.to_string())],
                v,
            );
        }
        header(
            &mut out,
            "broker_tokens_person_action",
            "gauge",
            "1 for what a person must do now, by remedy: log_in, fix_config, fix_pin, wait (retried by itself). No sample: nothing to do.",
        );
        for a in &report.accounts {
            if let Some(remedy) = &a.remedy {
                sample(
                    &mut out,
                    "broker_tokens_person_action",
                    &[("account", &a.key.to_string()), ("remedy", remedy.code())],
                    1.0,
                );
            }
        }
        header(
            &mut out,
            "broker_tokens_consecutive_failures",
            "gauge",
            "Failures since the last success.",
        );
        for a in &report.accounts {
            sample(
                &mut out,
                "broker_tokens_consecutive_failures",
                &[("account", &a.key.to_string())],
                f64::from(a.consecutive_failures),
            );
        }
        header(
            &mut out,
            "broker_tokens_seconds_to_expiry",
            "gauge",
            "Seconds until the access token expires (negative: expired).",
        );
        for a in &report.accounts {
            if let Some(v) = secs(a.expires_at) {
                sample(
                    &mut out,
                    "broker_tokens_seconds_to_expiry",
                    &[("account", &a.key.to_string())],
                    v,
                );
            }
        }
        header(
            &mut out,
            "broker_tokens_seconds_to_refresh_expiry",
            "gauge",
            "Seconds until the refresh token expires (negative: expired).",
        );
        for a in &report.accounts {
            if let Some(v) = secs(a.refresh_expires_at) {
                sample(
                    &mut out,
                    "broker_tokens_seconds_to_refresh_expiry",
                    &[("account", &a.key.to_string())],
                    v,
                );
            }
        }
        header(
            &mut out,
            "broker_tokens_next_person_action_timestamp_seconds",
            "gauge",
            "When a person will next be asked to act (Unix time), by remedy.",
        );
        for a in &report.accounts {
            if let Some(action) = &a.next_person_action {
                sample(
                    &mut out,
                    "broker_tokens_next_person_action_timestamp_seconds",
                    &[
                        ("account", &a.key.to_string()),
                        ("remedy", action.remedy.code()),
                    ],
                    action.at.timestamp() as f64,
                );
            }
        }
        header(
            &mut out,
            "broker_tokens_last_check_timestamp_seconds",
            "gauge",
            "When the last pre-market check ran (Unix time).",
        );
        for a in &report.accounts {
            if let Some(at) = a.last_checked {
                sample(
                    &mut out,
                    "broker_tokens_last_check_timestamp_seconds",
                    &[("account", &a.key.to_string())],
                    at.timestamp() as f64,
                );
            }
        }
        header(
            &mut out,
            "broker_tokens_last_check_ok",
            "gauge",
            "1 when the broker accepted the token at the last pre-market check.",
        );
        for a in &report.accounts {
            if let Some(ok) = a.last_check_ok {
                sample(
                    &mut out,
                    "broker_tokens_last_check_ok",
                    &[("account", &a.key.to_string())],
                    if ok { 1.0 } else { 0.0 },
                );
            }
        }
        header(
            &mut out,
            "broker_tokens_login_window_missed",
            "gauge",
            "1 when a login window closed with no login (critical until one).",
        );
        for a in &report.accounts {
            sample(
                &mut out,
                "broker_tokens_login_window_missed",
                &[("account", &a.key.to_string())],
                if a.login_window_missed { 1.0 } else { 0.0 },
            );
        }

        let c = self.counters();
        header(
            &mut out,
            "broker_tokens_renewal_failures_total",
            "counter",
            "Failed renewals and keep-alives, by error kind.",
        );
        for ((account, kind), n) in &c.failures {
            sample(
                &mut out,
                "broker_tokens_renewal_failures_total",
                &[("account", account), ("kind", kind)],
                *n as f64,
            );
        }
        header(
            &mut out,
            "broker_tokens_store_failures_total",
            "counter",
            "Token store failures.",
        );
        for (account, n) in &c.store_failures {
            sample(
                &mut out,
                "broker_tokens_store_failures_total",
                &[("account", account)],
                *n as f64,
            );
        }
        header(
            &mut out,
            "broker_tokens_reauthorization_requests_total",
            "counter",
            "Times a person was asked to log in.",
        );
        for (account, n) in &c.reauth {
            sample(
                &mut out,
                "broker_tokens_reauthorization_requests_total",
                &[("account", account)],
                *n as f64,
            );
        }
        let name = "broker_tokens_renewal_duration_seconds";
        header(&mut out, name, "histogram", "How long renewals took.");
        for (account, h) in &c.latency {
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                let le = bound.to_string();
                sample(
                    &mut out,
                    &format!("{name}_bucket"),
                    &[("account", account), ("le", &le)],
                    n as f64,
                );
            }
            sample(
                &mut out,
                &format!("{name}_bucket"),
                &[("account", account), ("le", "+Inf")],
                h.count as f64,
            );
            sample(
                &mut out,
                &format!("{name}_sum"),
                &[("account", account)],
                h.sum,
            );
            sample(
                &mut out,
                &format!("{name}_count"),
                &[("account", account)],
                h.count as f64,
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_value(value));
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], 1.5);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 1.5\n");
    }

    #[test]
    fn latency_lands_in_every_bucket_at_or_above_it() {
        let m = Metrics::new();
        let key = AccountKey::new("fake", token_core::Environment::Sandbox, "a").unwrap();
        m.observe_renewal(&key, Duration::from_millis(300));
        let text = m.render(Utc::now(), &[]);
        assert!(text.contains("broker_tokens_renewal_duration_seconds_bucket{account=\"fake/sandbox/a\",le=\"0.25\"} 0\n"), "{text}");
        assert!(text.contains("broker_tokens_renewal_duration_seconds_bucket{account=\"fake/sandbox/a\",le=\"0.5\"} 1\n"));
        assert!(text.contains("broker_tokens_renewal_duration_seconds_bucket{account=\"fake/sandbox/a\",le=\"+Inf\"} 1\n"));
        assert!(text.contains(
            "broker_tokens_renewal_duration_seconds_count{account=\"fake/sandbox/a\"} 1\n"
        ));
    }
}
