//! The HTTP control surface as an axum [`Router`].
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /health` | bearer (unless `auth_health = false`) | the health report; 200, or 503 when critical |
//! | `GET /metrics` | bearer (unless `auth_metrics = false`) | Prometheus text |
//! | `POST /refresh[?account=KEY]` | bearer + rate limit | renew all accounts or one |
//! | `POST /keepalive[?account=KEY]` | bearer + rate limit | keep-alive all accounts or one |

mod auth;
mod ratelimit;

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

pub use auth::BearerToken;
pub use ratelimit::RateLimiter;

use crate::config::ControlConfig;
use crate::metrics::Metrics;

/// Everything the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub accounts: Arc<[Arc<dyn ManagedAccount>]>,
    pub token: BearerToken,
    pub clock: Arc<dyn Clock>,
    pub limiter: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    pub auth_health: bool,
    pub auth_metrics: bool,
}

impl AppState {
    pub fn new(
        accounts: Arc<[Arc<dyn ManagedAccount>]>,
        token: BearerToken,
        config: &ControlConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            accounts,
            token,
            limiter: Arc::new(RateLimiter::new(config.rate_limit, clock.clone())),
            clock,
            metrics,
            auth_health: config.auth_health,
            auth_metrics: config.auth_metrics,
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
struct ErrorBody {
    error: &'static str,
}

fn unauthorized() -> Response {
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

fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| state.token.verify_header(v))
}

/// Rate limit first (so guessing tokens is limited too), then auth.
fn guard_mutation(
    state: &AppState,
    headers: &HeaderMap,
    ip: ClientIp,
) -> Result<(), Box<Response>> {
    if let Err(wait) = state.limiter.check(ip.0) {
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
        return Err(Box::new(r));
    }
    if !authorized(state, headers) {
        return Err(Box::new(unauthorized()));
    }
    Ok(())
}

async fn health(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.auth_health && !authorized(&state, &headers) {
        return unauthorized();
    }
    let report = token_core::health_report(state.clock.now(), &state.accounts);
    let code = if report.status == HealthStatus::Critical {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(report)).into_response()
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.auth_metrics && !authorized(&state, &headers) {
        return unauthorized();
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
    if let Err(r) = guard_mutation(&state, &headers, ip) {
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
