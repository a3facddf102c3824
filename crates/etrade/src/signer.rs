//! OAuth 1.0a HMAC-SHA1 signing of any request (RFC 5849), with
//! `oauth1-request` doing the signature.
//!
//! The URI handed to the signer never carries the query string: query and
//! form-body parameters are decoded from the request and fed to the signer
//! as request parameters, pre-encoded and sorted as RFC 5849 section
//! 3.4.1.3.2 requires. `oauth_timestamp` comes from the injected [`Clock`]
//! plus a correction learnt from `timestamp_refused` answers.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use oauth1_request::serializer::{Serializer, SerializerExt};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use secrecy::{ExposeSecret, SecretString};
use token_core::{Clock, Error, SystemClock};
use url::Url;

use crate::payload::EtradeCredentials;

/// RFC 3986 unreserved characters stay; everything else is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The widest `oauth_acceptable_timestamps` window the signer corrects its
/// clock from (about an hour; E*TRADE's own is 10 minutes).
pub const MAX_ACCEPTABLE_WINDOW_SECS: i64 = 60 * 60;

/// The largest clock correction the signer accepts (about a day): a bigger
/// one says more about the answer than about our clock.
pub const MAX_CLOCK_CORRECTION_SECS: i64 = 24 * 60 * 60;

/// Signs E*TRADE requests for one consumer key.
///
/// Cheap to share (`Arc`); the clock offset is atomic.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use etrade::{EtradeCredentials, Signer};
/// use token_core::ManualClock;
///
/// let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap()));
/// let signer = Signer::with_clock("consumer-key", "consumer-secret".to_string().into(), clock);
/// let creds = EtradeCredentials::new("token".to_string().into(), "token-secret".to_string().into());
/// let url = url::Url::parse("https://api.etrade.com/v1/market/quote/AAPL.json?detailFlag=ALL").unwrap();
/// let header = signer.sign("GET", &url, None, &creds).unwrap();
/// assert!(header.starts_with("OAuth realm=\"\",oauth_consumer_key=\"consumer-key\""));
/// assert!(header.contains("oauth_timestamp=\"1772807400\""));
/// assert!(!header.contains("token-secret"));
/// ```
pub struct Signer {
    consumer_key: String,
    consumer_secret: SecretString,
    clock: Arc<dyn Clock>,
    offset_secs: AtomicI64,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"[REDACTED]")
            .field("clock_offset_secs", &self.clock_offset_secs())
            .finish()
    }
}

/// Extra OAuth parameters of the token endpoints.
#[derive(Clone, Copy, Default)]
pub(crate) struct OAuthExtras<'a> {
    pub(crate) callback: Option<&'a str>,
    pub(crate) verifier: Option<&'a str>,
}

/// The OAuth token and token secret a request is signed with: the request
/// token during login, the access token after. (Not the manager's
/// [`token_core::TokenRef`], which borrows stored credentials.)
#[derive(Clone, Copy)]
pub(crate) struct TokenPair<'a> {
    pub(crate) token: &'a str,
    pub(crate) secret: &'a str,
}

impl<'a> From<&'a EtradeCredentials> for TokenPair<'a> {
    fn from(c: &'a EtradeCredentials) -> Self {
        TokenPair {
            token: c.oauth_token.expose_secret(),
            secret: c.oauth_token_secret.expose_secret(),
        }
    }
}

impl Signer {
    /// A signer reading the system clock.
    pub fn new(consumer_key: impl Into<String>, consumer_secret: SecretString) -> Self {
        Self::with_clock(consumer_key, consumer_secret, Arc::new(SystemClock))
    }

    /// A signer reading `clock` (share the manager's clock in tests).
    pub fn with_clock(
        consumer_key: impl Into<String>,
        consumer_secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            consumer_key: consumer_key.into(),
            consumer_secret,
            clock,
            offset_secs: AtomicI64::new(0),
        }
    }

    /// The consumer key.
    pub fn consumer_key(&self) -> &str {
        &self.consumer_key
    }

    /// Seconds added to the clock for `oauth_timestamp` (learnt from
    /// `timestamp_refused`).
    pub fn clock_offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::Relaxed)
    }

    /// Sets the clock correction.
    pub fn set_clock_offset_secs(&self, secs: i64) {
        self.offset_secs.store(secs, Ordering::Relaxed);
    }

    /// Whether an `oauth_acceptable_timestamps=FROM-TO` window is one to
    /// correct the clock from: ordered, at most [`MAX_ACCEPTABLE_WINDOW_SECS`]
    /// wide, and its middle within [`MAX_CLOCK_CORRECTION_SECS`] of the local
    /// clock. During an outage E*TRADE sent `1636665132-16366687` (a
    /// truncated bound): its midpoint is 26 years off, and signing with that
    /// would fail every request until restart.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use chrono::{TimeZone, Utc};
    /// # use token_core::ManualClock;
    /// # let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2021, 11, 11, 21, 12, 12).unwrap()));
    /// let signer = etrade::Signer::with_clock("ck", "cs".to_string().into(), clock);
    /// let now = signer.timestamp();
    /// assert!(signer.plausible_window(now + 300, now + 900));
    /// assert!(!signer.plausible_window(1_636_665_132, 16_366_687));
    /// ```
    pub fn plausible_window(&self, acceptable_from: i64, acceptable_to: i64) -> bool {
        let width = acceptable_to.saturating_sub(acceptable_from);
        let middle = acceptable_from / 2 + acceptable_to / 2;
        let local = self.clock.now().timestamp();
        (0..=MAX_ACCEPTABLE_WINDOW_SECS).contains(&width)
            && middle.saturating_sub(local).saturating_abs() <= MAX_CLOCK_CORRECTION_SECS
    }

    /// Adjusts the correction so our timestamps land in the middle of the
    /// window E*TRADE said it accepts. Returns the new offset.
    pub fn correct_clock(&self, acceptable_from: i64, acceptable_to: i64) -> i64 {
        let server_now =
            acceptable_from / 2 + acceptable_to / 2 + (acceptable_from % 2 + acceptable_to % 2) / 2;
        let offset = server_now - self.clock.now().timestamp();
        self.set_clock_offset_secs(offset);
        offset
    }

    /// The local clock, without the correction.
    pub(crate) fn local_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The `oauth_timestamp` value a request signed now carries.
    pub fn timestamp(&self) -> i64 {
        self.clock
            .now()
            .timestamp()
            .saturating_add(self.clock_offset_secs())
    }

    /// The `Authorization` header value for a request made with an access
    /// token: `method` (`GET`, `POST`, ...), the full `url` including its
    /// query, and the `application/x-www-form-urlencoded` body if there is
    /// one (other bodies are not signed, per RFC 5849).
    pub fn sign(
        &self,
        method: &str,
        url: &Url,
        form_body: Option<&str>,
        credentials: &EtradeCredentials,
    ) -> Result<String, Error> {
        self.authorization(
            method,
            url,
            form_body,
            Some(credentials.into()),
            OAuthExtras::default(),
        )
    }

    pub(crate) fn authorization(
        &self,
        method: &str,
        url: &Url,
        form_body: Option<&str>,
        token: Option<TokenPair<'_>>,
        extras: OAuthExtras<'_>,
    ) -> Result<String, Error> {
        let params = Params::collect(url, form_body)?;
        let base = base_uri(url)?;
        let timestamp = u64::try_from(self.timestamp())
            .ok()
            .and_then(NonZeroU64::new)
            .ok_or_else(|| Error::Config("the clock is before 1970".into()))?;
        let mut builder = oauth1_request::Builder::<_, &str, &str>::new(
            oauth1_request::Credentials::new(
                self.consumer_key.as_str(),
                self.consumer_secret.expose_secret(),
            ),
            oauth1_request::HMAC_SHA1,
        );
        if let Some(t) = token {
            builder.token(oauth1_request::Credentials::new(t.token, t.secret));
        }
        builder
            .callback(extras.callback)
            .verifier(extras.verifier)
            .timestamp(timestamp);
        let header = builder.authorize(method, base, &params);
        // E*TRADE's documented form carries an empty realm first.
        Ok(match header.strip_prefix("OAuth ") {
            Some(rest) => format!("OAuth realm=\"\",{rest}"),
            None => header,
        })
    }
}

/// The base string URI (RFC 5849 section 3.4.1.2): scheme, host, port when
/// not the default, path; never the query.
fn base_uri(url: &Url) -> Result<String, Error> {
    let host = url
        .host_str()
        .ok_or_else(|| Error::Config("request URL has no host".into()))?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = if url.path().is_empty() {
        "/"
    } else {
        url.path()
    };
    Ok(format!(
        "{}://{}{}{}",
        url.scheme(),
        host.to_ascii_lowercase(),
        port,
        path
    ))
}

/// Request parameters, once-encoded and sorted; fed to the signer already
/// encoded so the order is the RFC's (by encoded name, then value).
struct Params {
    /// (name encoded twice, value encoded once): what the signer expects.
    list: Vec<(String, String)>,
}

impl Params {
    fn collect(url: &Url, form_body: Option<&str>) -> Result<Self, Error> {
        let form = form_body.map(|b| url::form_urlencoded::parse(b.as_bytes()));
        let mut list: Vec<(String, String)> = url
            .query_pairs()
            .chain(form.into_iter().flatten())
            .map(|(k, v)| (encode(&k), encode(&v)))
            .collect();
        if list.iter().any(|(k, _)| k.starts_with("oauth_")) {
            return Err(Error::Config(
                "request parameters must not start with oauth_ (the signer adds those)".into(),
            ));
        }
        list.sort();
        for (k, _) in &mut list {
            *k = encode(k);
        }
        Ok(Self { list })
    }
}

impl oauth1_request::Request for Params {
    fn serialize<S: Serializer>(&self, mut s: S) -> S::Output {
        let mut oauth_done = false;
        for (k, v) in &self.list {
            // No request parameter starts with `oauth_`, so every one sorts
            // entirely before or after the protocol parameters.
            if !oauth_done && k.as_str() > "oauth_" {
                s.serialize_oauth_parameters();
                oauth_done = true;
            }
            s.serialize_parameter_encoded(k, v);
        }
        if !oauth_done {
            s.serialize_oauth_parameters();
        }
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use token_core::ManualClock;

    fn signer() -> Signer {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 6, 14, 30, 0).unwrap());
        Signer::with_clock("ck", "cs".to_string().into(), Arc::new(clock))
    }

    fn header_params(h: &str) -> Vec<(String, String)> {
        h.trim_start_matches("OAuth ")
            .split(',')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| {
                (
                    k.to_string(),
                    percent_encoding::percent_decode_str(v.trim_matches('"'))
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            })
            .collect()
    }

    /// Verifies with broker-sim's RFC 5849 implementation, written
    /// independently of oauth1-request: awkward names and values, repeated
    /// names, `+` in a form body, an encoded `=`.
    #[test]
    fn signature_verifies_with_an_independent_rfc5849_implementation() {
        let clock = ManualClock::new(Utc.timestamp_opt(137_131_201, 0).unwrap());
        let s = Signer::with_clock(
            "9djdj82h48djs9d2",
            "j49sk3j29djd".to_string().into(),
            Arc::new(clock),
        );
        let url = Url::parse(
            "http://Example.com:8080/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b&z=%5B1%5D&z=A&z=~",
        )
        .unwrap();
        let form = "c2&a3=2+q";
        let h = s
            .authorization(
                "POST",
                &url,
                Some(form),
                Some(TokenPair {
                    token: "kkk9d7dh3k39sjv7",
                    secret: "dh893hdasih9",
                }),
                OAuthExtras::default(),
            )
            .unwrap();
        let p = header_params(&h);
        assert_eq!(p[0], ("realm".into(), "".into()));
        assert!(p
            .iter()
            .any(|(k, v)| k == "oauth_timestamp" && v == "137131201"));
        let sig = p
            .iter()
            .find(|(k, _)| k == "oauth_signature")
            .map(|(_, v)| v.clone())
            .unwrap();
        let mut all: Vec<(String, String)> = p
            .into_iter()
            .filter(|(k, _)| k != "realm" && k != "oauth_signature")
            .collect();
        all.extend(broker_sim::oauth1::parse_form(url.query().unwrap()));
        all.extend(broker_sim::oauth1::parse_form(form));
        let base = broker_sim::oauth1::base_string("POST", "http://example.com:8080/request", &all);
        assert!(broker_sim::oauth1::verify_hmac_sha1(
            &base,
            "j49sk3j29djd",
            "dh893hdasih9",
            &sig
        ));
        assert!(!h.contains("dh893hdasih9") && !h.contains("j49sk3j29djd"));
    }

    #[test]
    fn clock_offset_moves_the_timestamp() {
        let s = signer();
        let t = s.timestamp();
        let offset = s.correct_clock(t + 1000 - 300, t + 1000 + 300);
        assert_eq!(offset, 1000);
        assert_eq!(s.timestamp(), t + 1000);
    }

    #[test]
    fn only_ordered_narrow_windows_near_the_local_clock_are_accepted() {
        let s = signer();
        let t = s.timestamp();
        assert!(s.plausible_window(t - 300, t + 300));
        assert!(s.plausible_window(t + 20 * 3600, t + 20 * 3600 + 600));
        // The outage answer (pyetrade issue 55): a truncated upper bound.
        assert!(!s.plausible_window(1_636_665_132, 16_366_687));
        // Reversed, too wide, or more than a day away.
        assert!(!s.plausible_window(t + 300, t - 300));
        assert!(!s.plausible_window(t - 3 * 3600, t + 3 * 3600));
        assert!(!s.plausible_window(t + 2 * 86_400, t + 2 * 86_400 + 600));
        assert!(!s.plausible_window(i64::MIN, i64::MAX));
        assert!(!s.plausible_window(1, 2));
    }

    #[test]
    fn refuses_user_oauth_parameters() {
        let url = Url::parse("https://api.etrade.com/v1/x?oauth_token=evil").unwrap();
        let creds = EtradeCredentials::new("t".to_string().into(), "s".to_string().into());
        assert!(matches!(
            signer().sign("GET", &url, None, &creds),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn base_uri_drops_query_and_default_port() {
        let u = Url::parse("https://API.etrade.com:443/v1/a?x=1").unwrap();
        assert_eq!(base_uri(&u).unwrap(), "https://api.etrade.com/v1/a");
        let u = Url::parse("http://127.0.0.1:8080/oauth/request_token").unwrap();
        assert_eq!(
            base_uri(&u).unwrap(),
            "http://127.0.0.1:8080/oauth/request_token"
        );
    }

    #[test]
    fn debug_hides_the_consumer_secret() {
        let s = Signer::new("ck", "very-secret".to_string().into());
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
