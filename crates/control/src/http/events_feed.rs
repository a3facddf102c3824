//! The last 24 hours of each account's events, for the page's timeline:
//! a bounded ring per account in memory, filled by
//! [`Server::start`](crate::Server::start), served at `GET /events` to holders of the
//! bearer token or a page session only (even where `/health` is open).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use token_core::{AccountKey, Clock, Event};

use super::guard::Route;
use super::{AppState, ClientIp};

/// Events kept per account (older ones drop out first).
pub const EVENTS_PER_ACCOUNT: usize = 500;
/// How far back `GET /events` reaches.
pub const TIMELINE_SPAN: chrono::Duration = chrono::Duration::hours(24);

/// The event rings and each account's exchange time zone.
pub(crate) struct EventLog {
    clock: Arc<dyn Clock>,
    rings: Mutex<HashMap<AccountKey, VecDeque<Event>>>,
    zones: HashMap<AccountKey, String>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("zones", &self.zones)
            .finish_non_exhaustive()
    }
}

/// One account's timeline.
#[derive(Serialize)]
struct Timeline<'a> {
    /// `broker/environment/label`.
    account: String,
    /// IANA zone name of the account's exchange (`UTC` when not known).
    zone: &'a str,
    /// Oldest first, within the last 24 h.
    events: Vec<Event>,
}

#[derive(Serialize)]
struct Feed<'a> {
    generated_at: chrono::DateTime<chrono::Utc>,
    accounts: Vec<Timeline<'a>>,
}

impl EventLog {
    pub fn new(clock: Arc<dyn Clock>, zones: HashMap<AccountKey, String>) -> Self {
        Self {
            clock,
            rings: Mutex::new(HashMap::new()),
            zones,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountKey, VecDeque<Event>>> {
        self.rings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `event` (dropping the account's oldest beyond the bound).
    pub fn record(&self, event: &Event) {
        let mut rings = self.lock();
        let ring = rings.entry(event.key().clone()).or_default();
        if ring.len() >= EVENTS_PER_ACCOUNT {
            ring.pop_front();
        }
        ring.push_back(event.clone());
    }

    /// The account's events of the last 24 h, oldest first.
    pub fn recent(&self, key: &AccountKey) -> Vec<Event> {
        let since = self.clock.now() - TIMELINE_SPAN;
        self.lock()
            .get(key)
            .map(|r| r.iter().filter(|e| e.at() >= since).cloned().collect())
            .unwrap_or_default()
    }

    /// The exchange zone's IANA name for `key` (`UTC` when not given).
    pub fn zone(&self, key: &AccountKey) -> &str {
        self.zones.get(key).map_or("UTC", String::as_str)
    }
}

/// `GET /events`: every account's timeline of the last 24 hours.
pub(crate) async fn events(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Response {
    // Always authed: events carry authorize URLs, even where `/health` is open.
    if let Err(r) = state
        .guard
        .admit(Route::Read { open: false }, &headers, ip.0)
    {
        return *r;
    }
    let feed = Feed {
        generated_at: state.clock.now(),
        accounts: state
            .accounts
            .iter()
            .map(|a| Timeline {
                account: a.key().to_string(),
                zone: state.events.zone(a.key()),
                events: state.events.recent(a.key()),
            })
            .collect(),
    };
    Json(feed).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use token_core::ManualClock;

    #[test]
    fn keeps_a_bounded_ring_of_the_last_day() {
        let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2026, 3, 5, 14, 0, 0).unwrap());
        let key: AccountKey = "etrade/sandbox/main".parse().unwrap();
        let zones = HashMap::from([(key.clone(), "America/New_York".to_string())]);
        let log = EventLog::new(Arc::new(clock.clone()), zones);
        let at = clock.now();
        log.record(&Event::KeepAliveSent {
            key: key.clone(),
            at: at - chrono::Duration::hours(25),
            reason: token_core::events::RenewalReason::KeepAlive,
        });
        for i in 0..EVENTS_PER_ACCOUNT as i64 + 7 {
            log.record(&Event::KeepAliveSent {
                key: key.clone(),
                at: at - chrono::Duration::seconds(EVENTS_PER_ACCOUNT as i64 + 7 - i),
                reason: token_core::events::RenewalReason::KeepAlive,
            });
        }
        let recent = log.recent(&key);
        assert_eq!(recent.len(), EVENTS_PER_ACCOUNT, "bounded");
        assert!(
            recent.windows(2).all(|w| w[0].at() < w[1].at()),
            "oldest first"
        );
        assert_eq!(log.zone(&key), "America/New_York");
        assert_eq!(log.zone(&"fyers/production/x".parse().unwrap()), "UTC");
        clock.advance(chrono::Duration::hours(24) - chrono::Duration::seconds(7));
        assert_eq!(log.recent(&key).len(), 7, "older than 24 h drops out");
    }
}
