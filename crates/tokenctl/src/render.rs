//! Human-readable output: durations, exchange-local times, the status
//! table and event lines. Nothing here ever sees a secret.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use token_core::{
    AccountHealth, Event, HealthReport, HealthStatus, PersonAction, Remedy, RenewalReason,
    TokenState,
};

use crate::registry::Registry;

/// `Mon 01 Jun 09:00 EDT (13:00 UTC)`: exchange-local time and UTC.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let t = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
/// let new_york = chrono_tz::America::New_York;
/// assert_eq!(tokenctl::render::local_and_utc(t, new_york), "Mon 01 Jun 09:00 EDT (13:00 UTC)");
/// let mumbai = chrono_tz::Asia::Kolkata;
/// assert_eq!(tokenctl::render::local_and_utc(t, mumbai), "Mon 01 Jun 18:30 IST (13:00 UTC)");
/// ```
pub fn local_and_utc(t: DateTime<Utc>, zone: Tz) -> String {
    let local = t.with_timezone(&zone);
    format!(
        "{} ({} UTC)",
        local.format("%a %d %b %H:%M %Z"),
        t.format("%H:%M")
    )
}

/// A timeline stamp: UTC first (so lines sort), then the exchange's local
/// time, e.g. `Tue 02 Jun 00:00 UTC = Mon 20:00 EDT`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let t = Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap();
/// let new_york = chrono_tz::America::New_York;
/// assert_eq!(tokenctl::render::timeline_stamp(t, new_york), "Tue 02 Jun 00:00 UTC = Mon 20:00 EDT");
/// let mumbai = chrono_tz::Asia::Kolkata;
/// assert_eq!(tokenctl::render::timeline_stamp(t, mumbai), "Tue 02 Jun 00:00 UTC = Tue 05:30 IST");
/// ```
pub fn timeline_stamp(t: DateTime<Utc>, zone: Tz) -> String {
    let local = t.with_timezone(&zone);
    format!(
        "{} UTC = {}",
        t.format("%a %d %b %H:%M"),
        local.format("%a %H:%M %Z")
    )
}

/// A compact duration: `2d 3h`, `3h 12m`, `5m`, `45s`; negative ones read
/// `3h ago`.
///
/// ```
/// use chrono::Duration;
/// use tokenctl::render::human_duration;
/// assert_eq!(human_duration(Duration::minutes(192)), "3h 12m");
/// assert_eq!(human_duration(Duration::hours(51)), "2d 3h");
/// assert_eq!(human_duration(Duration::seconds(-90)), "1m ago");
/// ```
pub fn human_duration(d: Duration) -> String {
    let (neg, d) = if d < Duration::zero() {
        (true, -d)
    } else {
        (false, d)
    };
    let (days, hours, mins, secs) = (
        d.num_days(),
        d.num_hours() % 24,
        d.num_minutes() % 60,
        d.num_seconds() % 60,
    );
    let s = if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{secs}s")
    };
    if neg {
        format!("{s} ago")
    } else {
        s
    }
}

fn until(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| human_duration(t - now))
}

/// `fresh`, `keep-alive due`, `idle`, `expired` or `no token`.
pub fn state_name(state: Option<TokenState>) -> &'static str {
    match state {
        None => "no token",
        Some(TokenState::Fresh) => "fresh",
        Some(TokenState::KeepAliveDue) => "keep-alive due",
        Some(TokenState::Idle) => "idle",
        Some(TokenState::Expired) => "expired",
    }
}

/// `healthy`, `degraded` or `critical`.
pub fn status_name(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Degraded => "degraded",
        HealthStatus::Critical => "critical",
    }
}

fn last_error(a: &AccountHealth) -> String {
    if let Some(remedy @ (Remedy::FixConfig { .. } | Remedy::FixPin)) = &a.remedy {
        let why = a.remedy_reason.as_deref().unwrap_or("-");
        return format!("{remedy}: {why}");
    }
    if a.reauthorization_required {
        let why = a
            .reauthorization_reason
            .as_deref()
            .unwrap_or("a person must log in");
        return format!("log in again: {why}");
    }
    match &a.last_error {
        Some(e) => e.message.clone(),
        None if a.state.is_none() => "never logged in: run `tokenctl login`".to_owned(),
        None => "-".to_owned(),
    }
}

/// The status table: one row per account, then the overall status.
pub fn status_table(report: &HealthReport) -> String {
    let now = report.generated_at;
    let header = [
        "ACCOUNT",
        "STATUS",
        "STATE",
        "EXPIRES IN",
        "IDLE IN",
        "REFRESH TOKEN",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 7]> = report
        .accounts
        .iter()
        .map(|a| {
            [
                a.key.to_string(),
                status_name(a.status).to_owned(),
                state_name(a.state).to_owned(),
                until(a.expires_at, now),
                until(a.idle_at, now),
                until(a.refresh_expires_at, now),
                last_error(a),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    if report.accounts.is_empty() {
        out.push_str("(no accounts configured)\n");
    }
    for a in &report.accounts {
        for w in &a.warnings {
            out.push_str(&format!("WARNING {}: {w}\n", a.key));
        }
    }
    for a in &report.accounts {
        if let Some(at) = a.last_checked {
            let verdict = match a.last_check_ok {
                Some(true) => "token accepted",
                _ => "FAILED",
            };
            out.push_str(&format!(
                "{}: pre-market check {} UTC: {verdict}\n",
                a.key,
                at.format("%Y-%m-%d %H:%M")
            ));
        }
        if let Some(action) = &a.next_person_action {
            out.push_str(&format!(
                "{}: next person action: {}\n",
                a.key,
                person_action(action)
            ));
        }
    }
    out.push_str(&format!("overall: {}\n", status_name(report.status)));
    out
}

/// `log in at 2026-12-03 08:00 America/New_York (13:00 UTC), window closes
/// 09:20`: what a person must do next and when, in the login window's zone.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use token_core::{PersonAction, Remedy};
/// let a = PersonAction {
///     remedy: Remedy::LogIn,
///     at: Utc.with_ymd_and_hms(2026, 12, 3, 13, 0, 0).unwrap(),
///     window_closes: Some(Utc.with_ymd_and_hms(2026, 12, 3, 14, 20, 0).unwrap()),
///     zone: Some("America/New_York".into()),
/// };
/// assert_eq!(
///     tokenctl::render::person_action(&a),
///     "log in at 2026-12-03 08:00 America/New_York (13:00 UTC), window closes 09:20"
/// );
/// ```
pub fn person_action(a: &PersonAction) -> String {
    let zone: Tz = a
        .zone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC);
    let local = |t: DateTime<Utc>| t.with_timezone(&zone);
    let mut s = if zone == chrono_tz::UTC {
        format!("{} at {} UTC", a.remedy, a.at.format("%Y-%m-%d %H:%M"))
    } else {
        format!(
            "{} at {} {} ({} UTC)",
            a.remedy,
            local(a.at).format("%Y-%m-%d %H:%M"),
            zone.name(),
            a.at.format("%H:%M")
        )
    };
    if let Some(closes) = a.window_closes {
        s.push_str(&format!(
            ", window closes {}",
            local(closes).format("%H:%M")
        ));
    }
    s
}

/// One line describing an event (no time, no account); renewals are worded
/// and times shown by the account's broker in `registry`.
pub fn describe_event(event: &Event, registry: &Registry) -> String {
    describe_event_answering(event, registry, control::reauth::AnswerWays::default())
}

/// [`describe_event`], naming `ways` (besides `tokenctl login`) in a
/// re-authorization alert as ways to answer (the daemon: the control
/// server's `/login` route when it listens).
pub fn describe_event_answering(
    e: &Event,
    registry: &Registry,
    ways: control::reauth::AnswerWays,
) -> String {
    let broker = e.key().broker();
    let zone = registry.zone(broker);
    match e {
        Event::Authorized { .. } => "logged in; token saved to the store".into(),
        Event::Renewed { reason, .. } => registry.describe_renewal(broker, *reason),
        Event::KeepAliveSent {
            reason: RenewalReason::Operator,
            ..
        } => "keep-alive call (asked for by an operator): idle timer reset".into(),
        Event::KeepAliveSent {
            reason: RenewalReason::Check,
            ..
        } => "pre-market check: one authenticated call".into(),
        Event::KeepAliveSent { .. } => "keep-alive call: idle timer reset".into(),
        Event::ExpiringSoon { deadline, .. } => format!(
            "WARNING: silent renewal ends {}; a person must log in before then",
            local_and_utc(*deadline, zone)
        ),
        Event::Expired { .. } => "token expired".into(),
        // The need, not the prompt: the person is asked by `LoginRequested`
        // (at the login window, or at once without one).
        Event::ReauthorizationRequired { key, reason, .. } => {
            format!("{key}: a login is needed ({reason}); the person is asked at the login window")
        }
        Event::PersonActionRequired { remedy, reason, .. } => {
            format!("ALERT: {remedy} ({reason})")
        }
        Event::RenewalFailed {
            error, retry_at, ..
        } => match retry_at {
            Some(t) => format!("renewal failed: {error}; retry {}", local_and_utc(*t, zone)),
            None => format!("renewal failed: {error}"),
        },
        Event::StoreFailure { error, .. } => {
            format!("token store failed: {error}; kept in memory, retrying")
        }
        Event::Recovered { .. } => "recovered".into(),
        Event::Warning { message, .. } => format!("WARNING: {message}"),
        Event::LoginRequested {
            key,
            reason,
            url,
            reminder,
            window_closes,
            ..
        } => {
            let mut s = match reminder {
                0 => format!("ALERT: {key}: log in now ({reason})"),
                n => format!("ALERT: {key}: reminder {n}: log in now ({reason})"),
            };
            if let Some(c) = window_closes {
                s.push_str(&format!("; critical at {}", local_and_utc(*c, zone)));
            }
            if let Some(u) = url {
                s.push_str(&format!(
                    "; open {u}\n{}",
                    control::reauth::how_to_answer(key, None, ways)
                ));
            }
            s
        }
        Event::CheckPassed { .. } => "pre-market check: the broker accepted the token".into(),
        Event::LoginWindowMissed { next_window, .. } => match next_window {
            Some(t) => format!(
                "CRITICAL: login window closed with no login; asking again {}",
                local_and_utc(*t, zone)
            ),
            None => "CRITICAL: login window closed with no login".into(),
        },
        _ => e.name().replace('_', " "),
    }
}

/// The demo's wording: this module's status table and event lines, times in
/// each broker's exchange zone from `registry`.
#[derive(Debug, Clone, Copy)]
pub struct DemoRender<'a>(pub &'a Registry);

impl tokenctl_demo::Render for DemoRender<'_> {
    fn describe_event(&self, event: &Event) -> String {
        describe_event(event, self.0)
    }
    fn status_table(&self, report: &HealthReport) -> String {
        status_table(report)
    }
    fn state_name(&self, state: Option<TokenState>) -> &'static str {
        state_name(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use token_core::{AccountKey, Environment};

    #[test]
    fn exchange_time_follows_dst() {
        let winter = Utc.with_ymd_and_hms(2026, 1, 5, 14, 30, 0).unwrap();
        assert_eq!(
            local_and_utc(winter, chrono_tz::America::New_York),
            "Mon 05 Jan 09:30 EST (14:30 UTC)"
        );
        assert_eq!(
            local_and_utc(winter, Registry::new().zone("other")),
            "Mon 05 Jan 14:30 UTC (14:30 UTC)"
        );
    }

    fn healthy(now: DateTime<Utc>) -> AccountHealth {
        let key = AccountKey::new("acme", Environment::Sandbox, "main").unwrap();
        token_core::testing::account_health(key, now)
    }

    #[test]
    fn table_lists_every_account_and_the_overall_status() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
        let mut a = healthy(now);
        a.next_person_action = Some(PersonAction {
            remedy: token_core::Remedy::LogIn,
            at: now + Duration::hours(19),
            window_closes: None,
            zone: None,
        });
        a.last_checked = Some(now - Duration::hours(1));
        a.last_check_ok = Some(true);
        let t = status_table(&HealthReport::new(now, vec![a]));
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ACCOUNT"), "{t}");
        assert!(lines[1].starts_with("acme/sandbox/main"), "{t}");
        assert!(
            lines[1].contains("healthy")
                && lines[1].contains("15h 0m")
                && lines[1].contains("2h 0m"),
            "{t}"
        );
        assert_eq!(
            lines[2],
            "acme/sandbox/main: pre-market check 2026-06-01 12:00 UTC: token accepted"
        );
        assert_eq!(
            lines[3],
            "acme/sandbox/main: next person action: log in at 2026-06-02 08:00 UTC"
        );
        assert_eq!(lines[4], "overall: healthy");
    }

    #[test]
    fn status_names_the_setting_to_fix_instead_of_a_login() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
        let mut a = healthy(now);
        a.status = HealthStatus::Degraded;
        a.remedy = Some(Remedy::FixConfig {
            setting: "consumer_secret".into(),
        });
        a.remedy_reason = Some("E*TRADE refused the signature".into());
        let t = status_table(&HealthReport::new(now, vec![a]));
        assert!(
            t.contains("fix the configuration: consumer_secret: E*TRADE refused the signature"),
            "{t}"
        );
        assert!(!t.contains("log in"), "{t}");
    }

    #[test]
    fn a_setting_to_fix_is_not_shown_as_a_login() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
        let key = AccountKey::new("etrade", Environment::Sandbox, "main").unwrap();
        let event = Event::PersonActionRequired {
            key,
            at: now,
            remedy: Remedy::FixConfig {
                setting: "consumer_secret".into(),
            },
            reason: "signature refused".into(),
        };
        let line = describe_event(&event, &Registry::new());
        assert!(
            line.contains("fix the configuration: consumer_secret"),
            "{line}"
        );
        assert!(!line.contains("re-authorization"), "{line}");
    }
}
