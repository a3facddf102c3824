//! The HTTP control surface as an axum [`Router`].
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /health` | bearer (unless `auth_health = false`) | the health report; 200, or 503 when critical |
//! | `GET /metrics` | bearer (unless `auth_metrics = false`) | Prometheus text |
//! | `POST /refresh[?account=KEY]` | bearer | renew all accounts or one |
//! | `POST /keepalive[?account=KEY]` | bearer | keep-alive all accounts or one |
//! | `GET /events` | bearer or page session (always) | each account's events of the last 24 h and its exchange zone ([`events_feed`]) |
//! | `GET /`, `/assets/*`, `/session` | open | the page for a person, and its sign-in ([`page`]) |
//!
//! Wherever the bearer token is accepted, the page's session cookie is too
//! (with its CSRF header and the page's origin on writes; [`session`]).
//! | `POST /login/{account}` | bearer or page session | start or return the account's login in progress ([`login`]) |
//! | `POST /login/{account}/complete` | bearer or page session | finish it with `{"code": "..."}` |
//! | `GET /callback/{broker}/{environment}/{label}` | `state` of the login in progress | capture the broker's redirect |
//!
//! Every route is rate limited ([`guard`]); connections are capped and
//! timed out by the accept loop ([`serve`]).

mod auth;
pub(crate) mod events_feed;
mod guard;
pub mod login;
mod page;
mod ratelimit;
pub(crate) mod serve;
mod session;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use token_core::{AccountKey, Clock, HealthStatus, ManagedAccount};

pub use auth::{BearerToken, WeakTokenError, MIN_TOKEN_CHARS};
pub use events_feed::{EVENTS_PER_ACCOUNT, TIMELINE_SPAN};
pub use guard::RouteLimits;
pub use ratelimit::{RateLimiter, DEFAULT_SLOTS};
pub use serve::{
    serve_limited, Accept, ServeLimits, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_GRACE,
};

use crate::config::ControlConfig;
use crate::metrics::Metrics;
use events_feed::EventLog;
use guard::{Guard, Route};

/// Everything the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub accounts: Arc<[Arc<dyn ManagedAccount>]>,
    pub guard: Arc<Guard>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub events: Arc<EventLog>,
    pub auth_health: bool,
    pub auth_metrics: bool,
    pub allow_remote: bool,
    /// `[control] public_url`, trailing `/` removed.
    pub public_url: Option<String>,
}

impl AppState {
    pub fn new(
        accounts: Arc<[Arc<dyn ManagedAccount>]>,
        token: BearerToken,
        config: &ControlConfig,
        limits: RouteLimits,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        events: Arc<EventLog>,
    ) -> Self {
        Self {
            accounts,
            guard: Arc::new(Guard::new(token, config.rate_limit, limits, clock.clone())),
            clock,
            metrics,
            events,
            auth_health: config.auth_health,
            auth_metrics: config.auth_metrics,
            allow_remote: config.allow_remote,
            public_url: config
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        }
    }
}

/// The routes. Serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` so rate limits are
/// per client IP (without it all clients share one bucket).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/refresh", post(refresh))
        .route("/keepalive", post(keepalive))
        .route("/events", get(events_feed::events))
        .route("/", get(page::index))
        .route("/assets/{name}", get(page::assets))
        .route("/session", get(page::session).post(page::sign_in))
        .route("/session/end", post(page::sign_out))
        .route("/login/{*account}", post(login::login))
        .route("/callback/{broker}/{*account}", get(login::callback))
        .with_state(state)
}

/// The client's IP, when the server was started with connect info.
pub(crate) struct ClientIp(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

#[derive(Serialize)]
pub(crate) struct ErrorBody {
    pub error: &'static str,
}

pub(crate) fn unauthorized() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(ErrorBody {
            error: "unauthorized",
        }),
    )
        .into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn health(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap) -> Response {
    let route = Route::Read {
        open: !state.auth_health,
    };
    if let Err(r) = state.guard.admit(route, &headers, ip.0) {
        return *r;
    }
    let mut report = token_core::health_report(state.clock.now(), &state.accounts);
    if !state.guard.authenticated(&headers) {
        // An open `/health` tells the status, never where to log in.
        for a in &mut report.accounts {
            a.reauthorization_url = None;
        }
    }
    let code = if report.status == HealthStatus::Critical {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(report)).into_response()
}

async fn metrics(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap) -> Response {
    let route = Route::Read {
        open: !state.auth_metrics,
    };
    if let Err(r) = state.guard.admit(route, &headers, ip.0) {
        return *r;
    }
    let text = state.metrics.render(state.clock.now(), &state.accounts);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `?account=broker/environment/label`; none means all accounts.
#[derive(Deserialize)]
struct Target {
    account: Option<String>,
}

/// One account's outcome.
#[derive(Serialize)]
struct Outcome {
    account: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<token_core::ErrorKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct Outcomes {
    results: Vec<Outcome>,
}

fn select(
    state: &AppState,
    target: &Target,
) -> Result<Vec<Arc<dyn ManagedAccount>>, Box<Response>> {
    let Some(raw) = &target.account else {
        return Ok(state.accounts.to_vec());
    };
    let key: AccountKey = raw.parse().map_err(|_| {
        let r = (
            StatusCode::BAD_REQUEST,
            Json(ErrorBody {
                error: "account must be broker/environment/label",
            }),
        )
            .into_response();
        Box::new(r)
    })?;
    state
        .accounts
        .iter()
        .find(|a| *a.key() == key)
        .map(|a| vec![a.clone()])
        .ok_or_else(|| {
            let r = (
                StatusCode::NOT_FOUND,
                Json(ErrorBody {
                    error: "unknown account",
                }),
            )
                .into_response();
            Box::new(r)
        })
}

#[derive(Clone, Copy)]
enum Action {
    Refresh,
    KeepAlive,
}

async fn run(
    state: AppState,
    headers: HeaderMap,
    ip: ClientIp,
    target: Target,
    action: Action,
) -> Response {
    if let Err(r) = state.guard.admit(Route::Mutation, &headers, ip.0) {
        return *r;
    }
    let accounts = match select(&state, &target) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let results = futures::future::join_all(accounts.iter().map(|a| {
        async move {
            let result = match action {
                // Latency is recorded from the `Renewed` event it emits.
                Action::Refresh => a.renew_now().await,
                Action::KeepAlive => a.keep_alive().await,
            };
            match result {
                Ok(()) => Outcome {
                    account: a.key().to_string(),
                    ok: true,
                    kind: None,
                    error: None,
                },
                Err(e) => Outcome {
                    account: a.key().to_string(),
                    ok: false,
                    kind: Some(e.kind()),
                    // token-core errors never carry secrets.
                    error: Some(e.to_string()),
                },
            }
        }
    }))
    .await;
    let code = if results.iter().all(|r| r.ok) {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    (code, Json(Outcomes { results })).into_response()
}

async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(target): Query<Target>,
) -> Response {
    run(state, headers, ip, target, Action::Refresh).await
}

async fn keepalive(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    Query(target): Query<Target>,
) -> Response {
    run(state, headers, ip, target, Action::KeepAlive).await
}
