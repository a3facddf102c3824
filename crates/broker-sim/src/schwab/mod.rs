//! The Charles Schwab Trader API side (PROTOCOLS.md, "Charles Schwab"),
//! written from the protocol notes, sharing nothing with the adapter:
//!
//! - [`settings`]: the Schwab settings, the uncertain behaviours among them;
//! - [`state`]: one-time codes, refresh and access tokens on the sim clock;
//! - [`oauth`]: the authorize page and `POST /v1/oauth/token` (its own
//!   Basic-auth check, both grants);
//! - [`api`]: `GET /trader/v1/accounts/accountNumbers` (bearer check), the
//!   programmatic approval (Rust and `/__sim/schwab/approve`);
//! - [`control`]: `/__sim/schwab/settings` (demo app, uncertain switches).

mod api;
mod control;
mod oauth;
pub mod settings;
mod state;

use axum::routing::{get, post};
use axum::Router;

pub(crate) use state::SchwabState;

use crate::BrokerSim;

/// The Schwab routes and their control route.
pub(crate) fn routes() -> Router<BrokerSim> {
    Router::new()
        .route("/v1/oauth/authorize", get(oauth::authorize))
        .route("/v1/oauth/token", post(oauth::token))
        .route(
            "/trader/v1/accounts/accountNumbers",
            get(api::account_numbers),
        )
        .route("/__sim/schwab/approve", post(api::approve_http))
        .route(
            "/__sim/schwab/settings",
            get(control::get_settings).post(control::set_settings),
        )
}
