//! Schwab token state on the simulator clock.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};

use super::settings::SchwabSimConfig;

/// A login code: when issued, for which redirect URI, used yet.
#[derive(Debug)]
struct Code {
    issued: DateTime<Utc>,
    redirect_uri: String,
    used: bool,
}

/// A refresh token: the original login it belongs to, and whether revoked.
#[derive(Debug)]
struct Refresh {
    login: u64,
    login_at: DateTime<Utc>,
    revoked: bool,
}

/// Why a code was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeRefusal {
    Unknown,
    Used,
    Expired,
    RedirectMismatch,
}

/// Why a refresh was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    /// Unknown, superseded or revoked: the nested
    /// `refresh_token_authentication_error`.
    Authentication,
    /// Past the 7-day end: `invalid_client: refresh token invalid`.
    Expired,
}

/// Issued tokens.
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
}

/// Everything the Schwab side remembers.
#[derive(Debug, Default)]
pub(crate) struct SchwabState {
    codes: HashMap<String, Code>,
    refresh: HashMap<String, Refresh>,
    /// Access token -> (expiry, refresh token it came from).
    access: HashMap<String, (DateTime<Utc>, String)>,
    logins: u64,
}

fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

impl SchwabState {
    /// A one-time code `C0.<b64>.<random>@` for `redirect_uri`.
    pub(crate) fn issue_code(&mut self, redirect_uri: &str, now: DateTime<Utc>) -> String {
        let code = format!(
            "C0.{}.{}@",
            STANDARD_NO_PAD.encode("oauth2.cdc.schwab.com"),
            random(40)
        );
        self.codes.insert(
            code.clone(),
            Code {
                issued: now,
                redirect_uri: redirect_uri.to_owned(),
                used: false,
            },
        );
        code
    }

    /// Spends `code` (sent with `redirect_uri`) and starts a login.
    pub(crate) fn redeem_code(
        &mut self,
        code: &str,
        redirect_uri: &str,
        now: DateTime<Utc>,
        cfg: &SchwabSimConfig,
    ) -> Result<Issued, CodeRefusal> {
        let c = self.codes.get_mut(code).ok_or(CodeRefusal::Unknown)?;
        if c.used {
            return Err(CodeRefusal::Used);
        }
        c.used = true;
        if now >= c.issued + cfg.code_ttl {
            return Err(CodeRefusal::Expired);
        }
        if c.redirect_uri != redirect_uri {
            return Err(CodeRefusal::RedirectMismatch);
        }
        if cfg.login_revokes_older {
            for r in self.refresh.values_mut() {
                r.revoked = true;
            }
        }
        self.logins += 1;
        let refresh_token = format!("{}@", random(32));
        self.refresh.insert(
            refresh_token.clone(),
            Refresh {
                login: self.logins,
                login_at: now,
                revoked: false,
            },
        );
        let access_token = self.mint_access(&refresh_token, now, cfg);
        Ok(Issued {
            access_token,
            refresh_token,
        })
    }

    fn mint_access(&mut self, refresh: &str, now: DateTime<Utc>, cfg: &SchwabSimConfig) -> String {
        let token = format!(
            "I0.{}.{}@",
            STANDARD_NO_PAD.encode("oauth2.bdc.schwab.com"),
            random(43)
        );
        self.access
            .insert(token.clone(), (now + cfg.access_ttl, refresh.to_owned()));
        token
    }

    /// A refresh with `token`.
    pub(crate) fn refresh(
        &mut self,
        token: &str,
        now: DateTime<Utc>,
        cfg: &SchwabSimConfig,
    ) -> Result<Issued, RefreshRefusal> {
        let r = self
            .refresh
            .get(token)
            .ok_or(RefreshRefusal::Authentication)?;
        if r.revoked {
            return Err(RefreshRefusal::Authentication);
        }
        if now >= r.login_at + cfg.refresh_ttl {
            return Err(RefreshRefusal::Expired);
        }
        let (login, login_at) = (r.login, r.login_at);
        if cfg.refresh_revokes_access {
            self.access.retain(|_, (_, from)| from != token);
        }
        let refresh_token = if cfg.rotation {
            if let Some(old) = self.refresh.get_mut(token) {
                old.revoked = true;
            }
            let new = format!("{}@", random(32));
            self.refresh.insert(
                new.clone(),
                Refresh {
                    login,
                    login_at,
                    revoked: false,
                },
            );
            new
        } else {
            token.to_owned()
        };
        let access_token = self.mint_access(&refresh_token, now, cfg);
        Ok(Issued {
            access_token,
            refresh_token,
        })
    }

    /// True when `token` is a live access token at `now` (its refresh
    /// token not revoked by a newer login).
    pub(crate) fn access_ok(&self, token: &str, now: DateTime<Utc>) -> bool {
        self.access.get(token).is_some_and(|(exp, from)| {
            now < *exp
                && self
                    .refresh
                    .get(from)
                    .is_some_and(|r| !r.revoked || self.rotated_within_login(r))
        })
    }

    /// A rotated-away refresh token is revoked, but the access tokens it
    /// minted stay good until they expire unless a newer login revoked the
    /// whole login: true when a live refresh token of the same login exists.
    fn rotated_within_login(&self, r: &Refresh) -> bool {
        self.refresh
            .values()
            .any(|o| o.login == r.login && !o.revoked)
    }
}
