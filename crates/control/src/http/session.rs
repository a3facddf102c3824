//! Browser sessions for the page at `/`: the person signs in once with the
//! control token and gets a session cookie; state-changing requests made
//! with the cookie must also carry the session's CSRF token in a header and
//! come from the page's own origin.
//!
//! - Ids are 32 random bytes (hex); only their SHA-256 digest is kept, so
//!   the table holds nothing that could be replayed.
//! - The table is bounded ([`MAX_SESSIONS`]): a new sign-in beyond it drops
//!   the oldest session. Only a holder of the control token can add one.
//! - Sessions expire after [`SESSION_TTL`] on the injected clock; the
//!   cookie says the same (`Max-Age`).
//! - The cookie is `HttpOnly; SameSite=Strict; Path=/`, and `Secure` when
//!   the page is served over HTTPS (a TLS proxy in front that says
//!   `X-Forwarded-Proto: https`, or `allow_remote`, which requires one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use token_core::Clock;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "bt_session";
/// The request header that carries the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lives after sign-in.
pub(crate) const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);
/// Sessions held at once; the oldest goes when a new one would exceed it.
pub(crate) const MAX_SESSIONS: usize = 32;

struct Session {
    csrf: String,
    /// Order of sign-in (the oldest is dropped first when the table is full).
    serial: u64,
    expires: DateTime<Utc>,
}

/// What a request's cookie and headers amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionCheck {
    /// No session cookie, or one that is unknown or expired.
    None,
    /// A live session; `same_site` when the request also carries the
    /// session's CSRF token and comes from the page's own origin.
    Live {
        /// CSRF header and origin both check out.
        same_site: bool,
    },
}

/// The server-side session table.
pub(crate) struct Sessions {
    clock: Arc<dyn Clock>,
    table: Mutex<HashMap<[u8; 32], Session>>,
    serial: std::sync::atomic::AtomicU64,
}

/// A new session: the cookie value (secret, given to the browser once) and
/// its CSRF token.
pub(crate) struct NewSession {
    pub id: String,
    pub csrf: String,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("live", &self.lock().len())
            .finish()
    }
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            table: Mutex::new(HashMap::new()),
            serial: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a session (after the token was verified).
    pub fn open(&self) -> NewSession {
        let now = self.clock.now();
        let new = NewSession {
            id: random_hex(),
            csrf: random_hex(),
        };
        let mut table = self.lock();
        table.retain(|_, s| s.expires > now);
        while table.len() >= MAX_SESSIONS {
            let oldest = table.iter().min_by_key(|(_, s)| s.serial).map(|(k, _)| *k);
            match oldest {
                Some(k) => table.remove(&k),
                None => break,
            };
        }
        table.insert(
            digest(&new.id),
            Session {
                csrf: new.csrf.clone(),
                serial: self
                    .serial
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                expires: now + SESSION_TTL,
            },
        );
        new
    }

    /// The CSRF token of the request's live session, if any.
    pub fn csrf(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers)?;
        let now = self.clock.now();
        let table = self.lock();
        table
            .get(&digest(&id))
            .filter(|s| s.expires > now)
            .map(|s| s.csrf.clone())
    }

    /// Ends the request's session; true when there was one.
    pub fn close(&self, headers: &HeaderMap) -> bool {
        cookie(headers).is_some_and(|id| self.lock().remove(&digest(&id)).is_some())
    }

    /// Sessions held now (expired ones included until the next sign-in).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the request carries a live session, and whether it is a
    /// same-site request with the session's CSRF token.
    pub fn check(&self, headers: &HeaderMap) -> SessionCheck {
        let Some(csrf) = self.csrf(headers) else {
            return SessionCheck::None;
        };
        let header_ok = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| bool::from(v.as_bytes().ct_eq(csrf.as_bytes())));
        SessionCheck::Live {
            same_site: header_ok && same_origin(headers),
        }
    }
}

/// The session id from the `Cookie` header(s).
pub(crate) fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The request comes from the page's own origin: an `Origin` header whose
/// host and port equal the `Host` the request was sent to (or
/// `X-Forwarded-Host` behind a proxy), and no `Sec-Fetch-Site` other than
/// `same-origin`. A request without `Origin` is refused (browsers send it on
/// every POST).
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if get("sec-fetch-site").is_some_and(|s| s != "same-origin") {
        return false;
    }
    let host = get("x-forwarded-host").or_else(|| get(header::HOST.as_str()));
    let origin = get(header::ORIGIN.as_str()).and_then(|o| url::Url::parse(o).ok());
    match (host, origin) {
        (Some(host), Some(origin)) => {
            let authority = match (origin.host_str(), origin.port()) {
                (Some(h), Some(p)) => format!("{h}:{p}"),
                (Some(h), None) => h.to_string(),
                _ => return false,
            };
            authority.eq_ignore_ascii_case(host.trim())
        }
        _ => false,
    }
}

/// Whether the page is being served over HTTPS (so the cookie gets `Secure`).
pub(crate) fn over_https(headers: &HeaderMap, allow_remote: bool) -> bool {
    allow_remote
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that gives the browser `id`.
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_TTL.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use chrono::TimeZone;
    use token_core::ManualClock;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn sessions() -> (ManualClock, Sessions) {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 5, 14, 0, 0).unwrap());
        (clock.clone(), Sessions::new(Arc::new(clock)))
    }

    #[test]
    fn a_session_needs_its_csrf_token_and_the_same_origin_to_change_anything() {
        let (clock, s) = sessions();
        let new = s.open();
        assert_ne!(new.id, new.csrf);
        assert_eq!(new.id.len(), 64);
        let cookie = format!("other=1; {COOKIE}={}", new.id);
        let good = headers(&[
            ("cookie", &cookie),
            ("host", "127.0.0.1:9184"),
            ("origin", "http://127.0.0.1:9184"),
            (CSRF_HEADER, &new.csrf),
        ]);
        assert_eq!(s.check(&good), SessionCheck::Live { same_site: true });
        let mut no_csrf = good.clone();
        no_csrf.remove(CSRF_HEADER);
        assert_eq!(s.check(&no_csrf), SessionCheck::Live { same_site: false });
        let mut wrong_origin = good.clone();
        wrong_origin.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert_eq!(
            s.check(&wrong_origin),
            SessionCheck::Live { same_site: false }
        );
        let mut cross = good.clone();
        cross.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert_eq!(s.check(&cross), SessionCheck::Live { same_site: false });
        let forged = headers(&[("cookie", &format!("{COOKIE}={}", new.csrf))]);
        assert_eq!(
            s.check(&forged),
            SessionCheck::None,
            "the CSRF token is no id"
        );
        clock.advance(SESSION_TTL);
        assert_eq!(s.check(&good), SessionCheck::None, "expired");
    }

    #[test]
    fn the_table_is_bounded_and_sign_out_ends_a_session() {
        let (_clock, s) = sessions();
        let first = s.open();
        let h = headers(&[("cookie", &format!("{COOKIE}={}", first.id))]);
        for _ in 0..MAX_SESSIONS * 3 {
            s.open();
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert_eq!(s.check(&h), SessionCheck::None, "the oldest went first");
        let last = s.open();
        let h = headers(&[("cookie", &format!("{COOKIE}={}", last.id))]);
        assert!(s.csrf(&h).is_some());
        assert!(s.close(&h));
        assert!(s.csrf(&h).is_none());
        assert!(!s.close(&h));
    }

    #[test]
    fn cookies_say_httponly_samesite_strict_and_secure_over_https() {
        let c = set_cookie("abc", false);
        assert!(
            c.contains("HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"),
            "{c}"
        );
        assert!(!c.contains("Secure"));
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        let proxied = headers(&[("x-forwarded-proto", "https")]);
        assert!(over_https(&proxied, false));
        assert!(!over_https(&HeaderMap::new(), false));
        assert!(over_https(&HeaderMap::new(), true));
    }
}
