//! Reading E*TRADE's error answers: `oauth_problem=...` in a JSON body
//! (`{"Error":{"message":"oauth_problem=token_expired"}}`) or in a Tomcat
//! HTML page (`HTTP Status 401 - oauth_problem=token_rejected`), the 401s
//! without one (the legacy `Invalid access token used`, XML
//! `<Error><code>…</code><message>…</message></Error>`), and the HTML
//! rate-limit page (HTTP 400).

use std::fmt;

/// An `oauth_problem` E*TRADE reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthProblem {
    /// `token_expired`: idle (before midnight ET) or past midnight ET.
    TokenExpired,
    /// `token_rejected`: unknown, revoked or consumed token.
    TokenRejected,
    /// `signature_invalid`.
    SignatureInvalid,
    /// `consumer_key_rejected`: unknown or expired consumer key.
    ConsumerKeyRejected,
    /// `timestamp_refused`, with the acceptable window (Unix seconds) when given.
    TimestampRefused {
        /// The acceptable window `(from, to)`.
        acceptable: Option<(i64, i64)>,
    },
    /// `nonce_used`.
    NonceUsed,
    /// Anything else, e.g. `parameter_absent`.
    Other(String),
}

impl fmt::Display for OAuthProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TokenExpired => f.write_str("token_expired"),
            Self::TokenRejected => f.write_str("token_rejected"),
            Self::SignatureInvalid => f.write_str("signature_invalid"),
            Self::ConsumerKeyRejected => f.write_str("consumer_key_rejected"),
            Self::TimestampRefused { acceptable: None } => f.write_str("timestamp_refused"),
            Self::TimestampRefused {
                acceptable: Some((a, b)),
            } => write!(f, "timestamp_refused,oauth_acceptable_timestamps={a}-{b}"),
            Self::NonceUsed => f.write_str("nonce_used"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// Finds `oauth_problem=...` in a JSON or HTML error body.
///
/// ```
/// use etrade::{parse_oauth_problem, OAuthProblem};
/// let json = r#"{"Error":{"message":"oauth_problem=token_expired"}}"#;
/// assert_eq!(parse_oauth_problem(json), Some(OAuthProblem::TokenExpired));
/// let html = "<h1>HTTP Status 401 - oauth_problem=token_rejected</h1>";
/// assert_eq!(parse_oauth_problem(html), Some(OAuthProblem::TokenRejected));
/// ```
pub fn parse_oauth_problem(body: &str) -> Option<OAuthProblem> {
    const MARK: &str = "oauth_problem=";
    let start = body.find(MARK)? + MARK.len();
    let rest = &body[start..];
    // The problem text ends where JSON/HTML/form syntax resumes.
    let end = rest
        .find(['"', '<', '&', '\'', ' ', '\n', '\r', '}'])
        .unwrap_or(rest.len());
    let text = &rest[..end];
    let (name, params) = text.split_once(',').unwrap_or((text, ""));
    Some(match name {
        "token_expired" => OAuthProblem::TokenExpired,
        "token_rejected" => OAuthProblem::TokenRejected,
        "signature_invalid" => OAuthProblem::SignatureInvalid,
        "consumer_key_rejected" | "consumer_key_unknown" => OAuthProblem::ConsumerKeyRejected,
        "nonce_used" => OAuthProblem::NonceUsed,
        "timestamp_refused" => OAuthProblem::TimestampRefused {
            acceptable: parse_window(params),
        },
        // Only the name: parameters may echo request data.
        other => OAuthProblem::Other(other.chars().take(64).collect()),
    })
}

fn parse_window(params: &str) -> Option<(i64, i64)> {
    let value = params
        .split(',')
        .find_map(|p| p.strip_prefix("oauth_acceptable_timestamps="))?;
    // Some servers percent-encode the '-'.
    let value = value.replace("%2D", "-").replace("%2d", "-");
    let (a, b) = value.split_once('-')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Words for a 401 that names no `oauth_problem`, for errors and logs:
/// the XML error code and the legacy "Invalid access token used" when
/// present, never other body text (it may echo request data).
///
/// ```
/// use etrade::unauthorized_reason;
/// let xml = "<Error><code>10033</code><message>Invalid access token used</message></Error>";
/// assert_eq!(unauthorized_reason(xml), "HTTP 401 error code 10033: invalid access token used");
/// assert_eq!(unauthorized_reason("Invalid access token used"), "HTTP 401: invalid access token used");
/// assert_eq!(unauthorized_reason("{}"), "HTTP 401 without an oauth_problem");
/// ```
pub fn unauthorized_reason(body: &str) -> String {
    let code = body
        .split_once("<code>")
        .and_then(|(_, rest)| rest.split_once("</code>"))
        .map(|(code, _)| code.trim())
        .filter(|c| !c.is_empty() && c.len() <= 12 && c.bytes().all(|b| b.is_ascii_digit()));
    let legacy = body.to_ascii_lowercase().contains("invalid access token");
    match (code, legacy) {
        (Some(c), true) => format!("HTTP 401 error code {c}: invalid access token used"),
        (Some(c), false) => format!("HTTP 401 error code {c}"),
        (None, true) => "HTTP 401: invalid access token used".into(),
        (None, false) => "HTTP 401 without an oauth_problem".into(),
    }
}

/// True for E*TRADE's rate-limit answer ("Number of requests exceeded the rate limit set").
pub fn is_rate_limit_body(body: &str) -> bool {
    body.to_ascii_lowercase()
        .contains("exceeded the rate limit")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_html_bodies_alike() {
        for p in [
            "token_expired",
            "token_rejected",
            "signature_invalid",
            "consumer_key_rejected",
            "nonce_used",
        ] {
            let json = format!(r#"{{"Error":{{"message":"oauth_problem={p}"}}}}"#);
            let html = format!(
                "<html><body><h1>HTTP Status 401 - oauth_problem={p}</h1><p><u>oauth_problem={p}</u></p></body></html>"
            );
            let a = parse_oauth_problem(&json).unwrap();
            assert_eq!(a, parse_oauth_problem(&html).unwrap());
            assert_eq!(a.to_string(), p);
        }
    }

    #[test]
    fn reads_the_acceptable_timestamp_window() {
        let body = r#"{"Error":{"message":"oauth_problem=timestamp_refused,oauth_acceptable_timestamps=1772800000-1772800600"}}"#;
        assert_eq!(
            parse_oauth_problem(body),
            Some(OAuthProblem::TimestampRefused {
                acceptable: Some((1_772_800_000, 1_772_800_600))
            })
        );
        let html = "<h1>HTTP Status 401 - oauth_problem=timestamp_refused</h1>";
        assert_eq!(
            parse_oauth_problem(html),
            Some(OAuthProblem::TimestampRefused { acceptable: None })
        );
    }

    #[test]
    fn unknown_problems_keep_only_their_name() {
        let body = r#"{"Error":{"message":"oauth_problem=parameter_absent,oauth_parameters_absent=oauth_nonce"}}"#;
        assert_eq!(
            parse_oauth_problem(body),
            Some(OAuthProblem::Other("parameter_absent".into()))
        );
        assert_eq!(parse_oauth_problem("Internal Server Error"), None);
    }

    #[test]
    fn xml_error_bodies_are_read_like_json_ones() {
        let xml = "<?xml version=\"1.0\"?><Error><code>401</code><message>oauth_problem=token_expired</message></Error>";
        assert_eq!(parse_oauth_problem(xml), Some(OAuthProblem::TokenExpired));
        let secretish =
            "<Error><code>abc S3cr3t-Zq9vKx</code><message>S3cr3t-Zq9vKx</message></Error>";
        assert_eq!(
            unauthorized_reason(secretish),
            "HTTP 401 without an oauth_problem"
        );
    }

    #[test]
    fn recognises_the_rate_limit_page() {
        assert!(is_rate_limit_body(
            "<p>Number of requests exceeded the rate limit set</p>"
        ));
        assert!(!is_rate_limit_body("Service Unavailable"));
    }
}
