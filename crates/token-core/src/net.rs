//! The one rule for broker and webhook URLs: HTTPS, except plain HTTP to a
//! loopback host (broker-sim, a local test server, a loopback redirect).
//!
//! Every crate that accepts a URL from configuration checks it here, so
//! "is `localhost` loopback?" has one answer (yes) everywhere.

use std::net::IpAddr;

use url::Url;

use crate::error::Error;

/// True for `localhost` (any case), 127.0.0.0/8 and `::1`.
///
/// ```
/// # use url::Url;
/// use token_core::net::is_loopback;
/// assert!(is_loopback(&Url::parse("http://127.0.0.7:9000/x").unwrap()));
/// assert!(is_loopback(&Url::parse("http://LocalHost/").unwrap()));
/// assert!(!is_loopback(&Url::parse("http://10.0.0.1/").unwrap()));
/// ```
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Parses `url` and enforces HTTPS, allowing plain HTTP only for loopback
/// hosts. `what` names the setting in the error ("base_url", "webhook url").
/// The error names the host, never the rest of the URL (it may carry a secret).
///
/// ```
/// use token_core::net::require_https_unless_loopback;
/// assert!(require_https_unless_loopback("base_url", "https://api.example.com").is_ok());
/// assert!(require_https_unless_loopback("base_url", "http://127.0.0.1:9000").is_ok());
/// assert!(require_https_unless_loopback("base_url", "http://api.example.com").is_err());
/// ```
pub fn require_https_unless_loopback(what: &str, url: &str) -> Result<Url, Error> {
    let parsed = Url::parse(url)
        .map_err(|e| Error::Config(format!("{what} is not an absolute URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(Error::Config(format!(
            "{what} must use https (plain http is allowed only for loopback hosts), got host {}",
            parsed.host_str().unwrap_or("")
        ))),
        other => Err(Error::Config(format!(
            "{what} must use https, got scheme {other:?}"
        ))),
    }
}

/// A broker's configured base URL: HTTPS unless loopback, trailing `/`
/// ignored. Empty means the environment has no default host (e.g. a broker
/// with no sandbox), and the error says to give one.
pub fn base_url(broker: &str, url: &str) -> Result<Url, Error> {
    if url.is_empty() {
        return Err(Error::Config(format!(
            "{broker} has no sandbox environment: give a base_url (e.g. a simulator's)"
        )));
    }
    require_https_unless_loopback("base_url", url.trim_end_matches('/'))
}

/// `{base}/{path}`, with exactly one `/` between them whatever either side has.
///
/// ```
/// # use url::Url;
/// use token_core::net::join;
/// let base = Url::parse("http://127.0.0.1:9/api/v3/").unwrap();
/// assert_eq!(join(&base, "/profile").unwrap().as_str(), "http://127.0.0.1:9/api/v3/profile");
/// assert_eq!(join(&base, "profile").unwrap().as_str(), "http://127.0.0.1:9/api/v3/profile");
/// ```
pub fn join(base: &Url, path: &str) -> Result<Url, Error> {
    let joined = format!(
        "{}/{}",
        base.as_str().trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    Url::parse(&joined).map_err(|e| Error::Config(format!("bad endpoint URL: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_may_use_plain_http() {
        for ok in [
            "http://127.0.0.1:1/",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
            "http://localhost/",
            "https://example.com/",
        ] {
            assert!(require_https_unless_loopback("u", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn other_hosts_and_schemes_are_refused_without_echoing_the_url() {
        for bad in [
            "http://example.com/hook?token=SeCrEt-Zq9vKx",
            "ftp://127.0.0.1/",
            "http://192.168.1.1/",
            "not a url",
        ] {
            let e = require_https_unless_loopback("webhook url", bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("webhook url"), "{msg}");
            assert!(!msg.contains("SeCrEt-Zq9vKx"), "{msg}");
        }
    }
}
