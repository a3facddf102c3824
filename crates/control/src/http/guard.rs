//! Who may call a route, and how often: the token is checked first, then
//! the caller is charged to the budget that fits it.
//!
//! | caller | charged to | on empty |
//! |---|---|---|
//! | correct token, `/refresh` `/keepalive` | its own per-source mutation budget (`[control] rate_limit`) | 429 |
//! | correct token, `/health` `/metrics` | its own per-source read budget | 429 |
//! | no token, on an open `/health` `/metrics` | per-source read budget **and** a global open-read budget | 429 |
//! | wrong or missing token | per-source failure budget **and** a global failure budget | 429 (else 401) |
//! | page session cookie, reads | as a correct token | 429 |
//! | page session cookie, writes, with its CSRF header and the page's origin | as a correct token | 429 |
//! | page session cookie, writes, without them (a forged cross-site request) | as a wrong token | 429 (else 403) |
//! | page sign-in (`POST /session`) | as a correct or wrong token | 429 (else 401 / 403) |
//!
//! So other callers' failures never touch a correct token's budgets (the
//! cron caller on the same host is never 429'd by a guesser), rotating
//! through 127.x addresses does not escape the global failure budget, and
//! every route is limited. A source that has spent its own budget for a
//! route also gets 429, not 401, for token-less calls to it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use token_core::Clock;

use secrecy::{ExposeSecret, SecretString};

use super::ratelimit::{RateLimiter, DEFAULT_SLOTS};
use super::session::{same_origin, NewSession, SessionCheck, Sessions};
use super::{unauthorized, BearerToken, ErrorBody};
use crate::config::RateLimitConfig;

/// Request budgets besides `[control] rate_limit` (which is each source's
/// budget of authenticated `/refresh` and `/keepalive` calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLimits {
    /// Wrong or missing tokens per source (default: 5 at once, 5 a minute).
    pub failures_per_source: RateLimitConfig,
    /// Wrong or missing tokens from all sources together (default: 20 at
    /// once, 20 a minute: about 10^4 guesses a year against a 2^128 space).
    pub failures_total: RateLimitConfig,
    /// `/health` and `/metrics` per source (default: 30 at once, 120 a
    /// minute: a health check every second plus a scrape every 15 s).
    pub reads_per_source: RateLimitConfig,
    /// Token-less calls to open `/health` `/metrics` from all sources
    /// together (default: 60 at once, 600 a minute).
    pub open_reads_total: RateLimitConfig,
    /// Buckets per per-source table (default [`DEFAULT_SLOTS`]).
    pub slots: usize,
}

impl Default for RouteLimits {
    fn default() -> Self {
        let rl = |burst, per_minute| RateLimitConfig { burst, per_minute };
        Self {
            failures_per_source: rl(5, 5),
            failures_total: rl(20, 20),
            reads_per_source: rl(30, 120),
            open_reads_total: rl(60, 600),
            slots: DEFAULT_SLOTS,
        }
    }
}

/// What a route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/health`, `/metrics`; `open` when configured without auth.
    Read {
        /// Token not required.
        open: bool,
    },
    /// `/refresh`, `/keepalive`.
    Mutation,
}

/// The token and every budget.
#[derive(Debug)]
pub(crate) struct Guard {
    token: BearerToken,
    mutations: RateLimiter,
    reads: RateLimiter,
    open_reads_total: RateLimiter,
    failures: RateLimiter,
    failures_total: RateLimiter,
    sessions: Sessions,
}

impl Guard {
    pub fn new(
        token: BearerToken,
        mutations: RateLimitConfig,
        limits: RouteLimits,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let table = |c| RateLimiter::with_slots(c, clock.clone(), limits.slots);
        Self {
            token,
            mutations: table(mutations),
            reads: table(limits.reads_per_source),
            failures: table(limits.failures_per_source),
            open_reads_total: RateLimiter::global(limits.open_reads_total, clock.clone()),
            failures_total: RateLimiter::global(limits.failures_total, clock.clone()),
            sessions: Sessions::new(clock),
        }
    }

    /// Admits the call or answers it (401 / 429).
    pub fn admit(
        &self,
        route: Route,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> Result<(), Box<Response>> {
        let own = match route {
            Route::Mutation => &self.mutations,
            Route::Read { .. } => &self.reads,
        };
        if self.authorized(headers) {
            return own.check(ip).map_err(too_many);
        }
        match (self.sessions.check(headers), route) {
            (SessionCheck::Live { same_site: true }, _)
            | (SessionCheck::Live { .. }, Route::Read { .. }) => {
                return own.check(ip).map_err(too_many);
            }
            (SessionCheck::Live { same_site: false }, Route::Mutation) => {
                return Err(self.fail(own, ip, cross_site()));
            }
            (SessionCheck::None, _) => {}
        }
        if route == (Route::Read { open: true }) {
            own.check(ip).map_err(too_many)?;
            return self.open_reads_total.check(ip).map_err(too_many);
        }
        Err(self.fail(own, ip, unauthorized()))
    }

    /// Charges a failure (per source first, so one noisy source spends no
    /// more of the global budget than its own allowance) and answers with
    /// `answer`, or 429 when a budget is spent.
    fn fail(&self, own: &RateLimiter, ip: Option<IpAddr>, answer: Response) -> Box<Response> {
        let charged = own
            .peek(ip)
            .and_then(|()| self.failures.check(ip))
            .and_then(|()| self.failures_total.check(ip));
        match charged {
            Ok(()) => Box::new(answer),
            Err(wait) => too_many(wait),
        }
    }

    /// The page's sign-in: the control token typed by a person, from the
    /// page's own origin. A wrong token counts as any wrong token does.
    pub fn sign_in(
        &self,
        candidate: &SecretString,
        headers: &HeaderMap,
        ip: Option<IpAddr>,
    ) -> Result<NewSession, Box<Response>> {
        if !same_origin(headers) {
            return Err(self.fail(&self.mutations, ip, cross_site()));
        }
        if !self.token.verify(candidate.expose_secret().trim()) {
            return Err(self.fail(&self.mutations, ip, unauthorized()));
        }
        self.mutations.check(ip).map_err(too_many)?;
        Ok(self.sessions.open())
    }

    /// Whether the request carries the bearer token or a live page session
    /// (without charging any budget; call after [`Guard::admit`]).
    pub fn authenticated(&self, headers: &HeaderMap) -> bool {
        self.authorized(headers) || self.sessions.check(headers) != SessionCheck::None
    }

    /// The browser sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| self.token.verify_header(v))
    }

    /// Bytes held by every table together (fixed at construction).
    #[cfg(test)]
    pub fn memory_bytes(&self) -> usize {
        [
            &self.mutations,
            &self.reads,
            &self.open_reads_total,
            &self.failures,
            &self.failures_total,
        ]
        .iter()
        .map(|l| l.memory_bytes())
        .sum()
    }
}

/// 403 for a session request without its CSRF header or from elsewhere.
fn cross_site() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(ErrorBody {
            error: "cross-site request refused: use the page at / (it sends the X-CSRF-Token header from the same origin)",
        }),
    )
        .into_response()
}

pub(crate) fn too_many(wait: Duration) -> Box<Response> {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(ErrorBody {
            error: "rate limited",
        }),
    )
        .into_response();
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Box::new(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use token_core::ManualClock;

    const TOKEN: &str = "ctl-0b7e4f1a9c3d5e8f2a6b4c1d9e7f3a5b8c2d6e4f";

    fn guard() -> Guard {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap());
        Guard::new(
            BearerToken::new(&TOKEN.to_string().into()),
            RateLimitConfig::default(),
            RouteLimits::default(),
            Arc::new(clock),
        )
    }

    fn bearer(t: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {t}")).unwrap(),
        );
        h
    }

    fn status(r: Result<(), Box<Response>>) -> u16 {
        r.map_or_else(|r| r.status().as_u16(), |()| 200)
    }

    #[test]
    fn memory_stays_fixed_across_100_000_distinct_sources() {
        let g = guard();
        let before = g.memory_bytes();
        let wrong = bearer("wrong-guess");
        let mut codes = std::collections::BTreeMap::<u16, u32>::new();
        for i in 0..100_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x7f00_0000 | i));
            let code = status(g.admit(Route::Mutation, &wrong, Some(ip)));
            *codes.entry(code).or_default() += 1;
        }
        assert_eq!(g.memory_bytes(), before, "no growth with sources");
        assert!(before < 256 * 1024, "{before} bytes");
        println!("guard tables: {before} bytes after 100000 distinct sources; {codes:?}");
        assert_eq!(
            codes.get(&401),
            Some(&20),
            "the global failure budget held: {codes:?}"
        );
        // ...and the owner is still served.
        let owner = Some(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(status(g.admit(Route::Mutation, &bearer(TOKEN), owner)), 200);
        assert_eq!(
            status(g.admit(Route::Read { open: false }, &bearer(TOKEN), owner)),
            200
        );
    }
}
