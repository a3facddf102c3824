//! Faults on demand: which endpoint, what goes wrong, how many times; and
//! the per-endpoint call counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{EtradeProblem, FyersAnswer};

/// Every endpoint the simulator serves (the control API is not one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /oauth/request_token`.
    EtradeRequestToken,
    /// `GET /e/t/etws/authorize` (the browser page).
    EtradeAuthorize,
    /// `GET /oauth/access_token`.
    EtradeAccessToken,
    /// `GET /oauth/renew_access_token`.
    EtradeRenew,
    /// `GET /oauth/revoke_access_token`.
    EtradeRevoke,
    /// `GET /v1/accounts/list(.json)`.
    EtradeAccountsList,
    /// `GET /v1/market/quote/{symbols}`.
    EtradeQuote,
    /// `GET /api/v3/generate-authcode`.
    FyersGenerateAuthcode,
    /// `POST /api/v3/validate-authcode`.
    FyersValidateAuthcode,
    /// `POST /api/v3/validate-refresh-token`.
    FyersValidateRefreshToken,
    /// `GET /api/v3/profile`.
    FyersProfile,
    /// `POST /api/v3/logout`.
    FyersLogout,
    /// Schwab `GET /v1/oauth/authorize` (the browser page).
    SchwabAuthorize,
    /// Schwab `POST /v1/oauth/token`.
    SchwabToken,
    /// Schwab `GET /trader/v1/accounts/accountNumbers`.
    SchwabAccountNumbers,
    /// `GET /connect/login` (Kite's login page).
    KiteLogin,
    /// `POST /session/token` (Kite's session exchange).
    KiteSessionToken,
    /// `GET /user/profile` (Kite).
    KiteProfile,
    /// `DELETE /session/token` (Kite's logout).
    KiteLogout,
}

impl Endpoint {
    /// All endpoints, in a fixed order.
    pub const ALL: [Endpoint; 19] = [
        Endpoint::EtradeRequestToken,
        Endpoint::EtradeAuthorize,
        Endpoint::EtradeAccessToken,
        Endpoint::EtradeRenew,
        Endpoint::EtradeRevoke,
        Endpoint::EtradeAccountsList,
        Endpoint::EtradeQuote,
        Endpoint::FyersGenerateAuthcode,
        Endpoint::FyersValidateAuthcode,
        Endpoint::FyersValidateRefreshToken,
        Endpoint::FyersProfile,
        Endpoint::FyersLogout,
        Endpoint::SchwabAuthorize,
        Endpoint::SchwabToken,
        Endpoint::SchwabAccountNumbers,
        Endpoint::KiteLogin,
        Endpoint::KiteSessionToken,
        Endpoint::KiteProfile,
        Endpoint::KiteLogout,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|e| *e == self).unwrap_or(0)
    }

    /// True for the FYERS endpoints.
    pub fn is_fyers(self) -> bool {
        matches!(
            self,
            Endpoint::FyersGenerateAuthcode
                | Endpoint::FyersValidateAuthcode
                | Endpoint::FyersValidateRefreshToken
                | Endpoint::FyersProfile
                | Endpoint::FyersLogout
        )
    }

    /// True for the Kite endpoints.
    pub fn is_kite(self) -> bool {
        matches!(
            self,
            Endpoint::KiteLogin
                | Endpoint::KiteSessionToken
                | Endpoint::KiteProfile
                | Endpoint::KiteLogout
        )
    }

    /// The snake_case name used by the HTTP control API.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// An authorization rejection to force, in the broker's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// E*TRADE HTTP 401 with this `oauth_problem` (in the configured style).
    Etrade(EtradeProblem),
    /// FYERS HTTP 401 `{"s":"error","code":CODE,...}` (e.g. -16, -15, -8).
    Fyers(i32),
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a plausible broker body.
    Status(u16),
    /// Wait this long (real time), then answer normally.
    Delay(Duration),
    /// 200 with a body that does not parse.
    MalformedBody,
    /// A 200 whose body stops halfway and the connection closes.
    TruncatedBody,
    /// 200 with an HTML maintenance page where JSON/form data was expected.
    HtmlInsteadOfJson,
    /// Close the connection without answering.
    DropConnection,
    /// FYERS: 429 with `Retry-After` and code -429. E*TRADE: HTTP 400 with
    /// the HTML rate-limit page (E*TRADE sends no `Retry-After`).
    RateLimited {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// An authorization rejection.
    Unauthorized(Rejection),
    /// E*TRADE: the legacy HTTP 401 `Invalid access token used`, without
    /// an `oauth_problem` (in the configured error style).
    EtradeLegacyInvalidToken,
    /// E*TRADE: 200 `Access Token has been renewed` while the token stays
    /// as it was (an idle token stays idle): the renew that does not help.
    RenewWithoutEffect,
    /// FYERS: HTTP 403 permission error (code -373): the app lacks a
    /// permission, a configuration problem.
    FyersPermissionError,
    /// FYERS: this status, code and message.
    FyersAnswer(FyersAnswer),
}

/// How many requests a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Times {
    /// The next N requests to the endpoint.
    N(u32),
    /// Every request until [`crate::BrokerSim::clear_faults`].
    UntilCleared,
}

/// JSON form of a [`Fault`] for the HTTP control API, e.g.
/// `{"kind":"status","status":503}` or `{"kind":"delay","millis":250}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultSpec {
    /// [`Fault::Status`].
    Status {
        /// HTTP status.
        status: u16,
    },
    /// [`Fault::Delay`].
    Delay {
        /// Milliseconds of real time.
        millis: u64,
    },
    /// [`Fault::MalformedBody`].
    MalformedBody,
    /// [`Fault::TruncatedBody`].
    TruncatedBody,
    /// [`Fault::HtmlInsteadOfJson`].
    HtmlInsteadOfJson,
    /// [`Fault::DropConnection`].
    DropConnection,
    /// [`Fault::RateLimited`].
    RateLimited {
        /// Seconds in `Retry-After`.
        retry_after_secs: u64,
    },
    /// [`Fault::Unauthorized`] with [`Rejection::Etrade`].
    EtradeProblem {
        /// The problem.
        problem: EtradeProblem,
    },
    /// [`Fault::Unauthorized`] with [`Rejection::Fyers`].
    FyersError {
        /// The negative FYERS code.
        code: i32,
    },
    /// [`Fault::EtradeLegacyInvalidToken`].
    EtradeLegacyInvalidToken,
    /// [`Fault::RenewWithoutEffect`].
    RenewWithoutEffect,
    /// [`Fault::FyersPermissionError`].
    FyersPermissionError,
    /// [`Fault::FyersAnswer`].
    FyersAnswer {
        /// HTTP status.
        status: u16,
        /// The FYERS code.
        code: i32,
        /// The message.
        message: String,
    },
}

impl From<FaultSpec> for Fault {
    fn from(s: FaultSpec) -> Self {
        match s {
            FaultSpec::Status { status } => Fault::Status(status),
            FaultSpec::Delay { millis } => Fault::Delay(Duration::from_millis(millis)),
            FaultSpec::MalformedBody => Fault::MalformedBody,
            FaultSpec::TruncatedBody => Fault::TruncatedBody,
            FaultSpec::HtmlInsteadOfJson => Fault::HtmlInsteadOfJson,
            FaultSpec::DropConnection => Fault::DropConnection,
            FaultSpec::RateLimited { retry_after_secs } => Fault::RateLimited { retry_after_secs },
            FaultSpec::EtradeProblem { problem } => Fault::Unauthorized(Rejection::Etrade(problem)),
            FaultSpec::FyersError { code } => Fault::Unauthorized(Rejection::Fyers(code)),
            FaultSpec::EtradeLegacyInvalidToken => Fault::EtradeLegacyInvalidToken,
            FaultSpec::RenewWithoutEffect => Fault::RenewWithoutEffect,
            FaultSpec::FyersPermissionError => Fault::FyersPermissionError,
            FaultSpec::FyersAnswer {
                status,
                code,
                message,
            } => Fault::FyersAnswer(FyersAnswer {
                status,
                code,
                message,
            }),
        }
    }
}

/// Queued faults per endpoint, and call counters.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    queued: HashMap<Endpoint, Vec<(Fault, Times)>>,
}

impl FaultTable {
    pub(crate) fn push(&mut self, endpoint: Endpoint, fault: Fault, times: Times) {
        if times == Times::N(0) {
            return;
        }
        self.queued
            .entry(endpoint)
            .or_default()
            .push((fault, times));
    }

    pub(crate) fn clear(&mut self) {
        self.queued.clear();
    }

    /// The fault for the next request to `endpoint`, if any; oldest first.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let list = self.queued.get_mut(&endpoint)?;
        let (fault, times) = list.first_mut()?;
        let fault = fault.clone();
        if let Times::N(n) = times {
            *n -= 1;
            if *n == 0 {
                list.remove(0);
            }
        }
        Some(fault)
    }
}

/// One counter per endpoint.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: [AtomicU64; Endpoint::ALL.len()],
}

impl Counters {
    pub(crate) fn hit(&self, e: Endpoint) {
        self.counts[e.index()].fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn get(&self, e: Endpoint) -> u64 {
        self.counts[e.index()].load(Ordering::SeqCst)
    }

    pub(crate) fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_times_faults_run_out_and_until_cleared_ones_stay() {
        let mut t = FaultTable::default();
        t.push(Endpoint::EtradeRenew, Fault::Status(500), Times::N(2));
        t.push(
            Endpoint::EtradeRenew,
            Fault::Status(503),
            Times::UntilCleared,
        );
        assert_eq!(t.take(Endpoint::EtradeRenew), Some(Fault::Status(500)));
        assert_eq!(t.take(Endpoint::EtradeRenew), Some(Fault::Status(500)));
        assert_eq!(t.take(Endpoint::EtradeRenew), Some(Fault::Status(503)));
        assert_eq!(t.take(Endpoint::EtradeRenew), Some(Fault::Status(503)));
        assert_eq!(t.take(Endpoint::FyersProfile), None);
        t.clear();
        assert_eq!(t.take(Endpoint::EtradeRenew), None);
    }

    #[test]
    fn endpoint_names_are_snake_case() {
        assert_eq!(Endpoint::EtradeRenew.name(), "etrade_renew");
        assert_eq!(
            Endpoint::FyersValidateRefreshToken.name(),
            "fyers_validate_refresh_token"
        );
    }

    #[test]
    fn fault_spec_json_maps_to_faults() {
        let s: FaultSpec = serde_json::from_str(r#"{"kind":"delay","millis":5}"#).unwrap();
        assert_eq!(Fault::from(s), Fault::Delay(Duration::from_millis(5)));
        let s: FaultSpec =
            serde_json::from_str(r#"{"kind":"etrade_problem","problem":"token_rejected"}"#)
                .unwrap();
        assert_eq!(
            Fault::from(s),
            Fault::Unauthorized(Rejection::Etrade(EtradeProblem::TokenRejected))
        );
    }
}
