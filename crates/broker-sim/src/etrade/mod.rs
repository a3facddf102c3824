//! The E*TRADE side: OAuth 1.0a token endpoints, the authorize page, and a
//! few signed API endpoints that count as use (PROTOCOLS.md, "E*TRADE").
//!
//! - [`state`]: token life cycle (idle, renew, midnight New York, revoke);
//! - [`verify`]: the RFC 5849 checks every signed request passes;
//! - [`oauth`]: request token, authorize page, access token, renew, revoke;
//! - [`data`]: `/v1/accounts/list` and `/v1/market/quote`, in [`xml`] by
//!   default and JSON on request.

mod data;
mod oauth;
mod state;
mod verify;
mod xml;

use axum::extract::{ConnectInfo, State};

pub(crate) use data::{accounts_list, quote};
pub(crate) use oauth::{access_token, authorize, renew, renewed_body, request_token, revoke};
pub(crate) use state::EtradeState;
pub(crate) use xml::escape as xml_escape;

use crate::server::Conn;
use crate::BrokerSim;

/// What every E*TRADE handler extracts first.
type Ctx = (State<BrokerSim>, ConnectInfo<Conn>);
