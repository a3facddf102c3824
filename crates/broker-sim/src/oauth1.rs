//! OAuth 1.0a HMAC-SHA1 signature verification, written from RFC 5849 section
//! 3.4 and deliberately independent of any client library: a signing bug in
//! a client must not be able to hide behind the same bug here.
//!
//! The pieces follow the RFC's structure: collect the parameters (3.4.1.3.1),
//! normalize them (3.4.1.3.2), build the base string URI (3.4.1.2) and the
//! base string (3.4.1.1), then sign with HMAC-SHA1 (3.4.2).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

/// RFC 3986 unreserved characters stay as they are; everything else is
/// percent-encoded with uppercase hex (RFC 5849 section 3.6).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `s` as RFC 5849 section 3.6 requires.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Why a request's OAuth parameters could not even be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No `Authorization: OAuth ...` header.
    #[error("no OAuth Authorization header")]
    MissingHeader,
    /// The header is not a comma-separated list of `name="value"` pairs.
    #[error("malformed OAuth Authorization header")]
    Malformed,
}

/// Parses an `Authorization: OAuth realm="",oauth_consumer_key="..",...`
/// header (RFC 5849 section 3.5.1) into decoded name/value pairs, `realm`
/// included (the caller drops it from the signature).
pub fn parse_authorization(header: &str) -> Result<Vec<(String, String)>, ParseError> {
    let header = header.trim();
    let rest = match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("OAuth") => rest,
        _ if header.eq_ignore_ascii_case("OAuth") => "",
        _ => return Err(ParseError::MissingHeader),
    };
    let mut out = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (name, value) = part.split_once('=').ok_or(ParseError::Malformed)?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or(ParseError::Malformed)?;
        let name = decode(name.trim()).ok_or(ParseError::Malformed)?;
        let value = decode(value).ok_or(ParseError::Malformed)?;
        out.push((name, value));
    }
    Ok(out)
}

/// Percent-decodes (no `+` handling), failing on invalid UTF-8.
fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Parses `application/x-www-form-urlencoded` text (a query string or a form
/// body) as RFC 5849 section 3.4.1.3.1 says: `+` is a space, names without
/// `=` have an empty value.
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The base string URI (RFC 5849 section 3.4.1.2): lowercase scheme and host,
/// the port only when it is not the scheme's default, the path, no query.
pub fn base_uri(scheme: &str, host: &str, port: Option<u16>, path: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let path = if path.is_empty() { "/" } else { path };
    match port {
        Some(p) if Some(p) != default => format!("{scheme}://{host}:{p}{path}"),
        _ => format!("{scheme}://{host}{path}"),
    }
}

/// Normalizes parameters (RFC 5849 section 3.4.1.3.2): encode names and
/// values, sort by name then value, join with `=` and `&`.
/// `oauth_signature` and `realm` must already be excluded.
pub fn normalize(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature base string (RFC 5849 section 3.4.1.1).
pub fn base_string(method: &str, base_uri: &str, params: &[(String, String)]) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_uri),
        encode(&normalize(params))
    )
}

/// HMAC-SHA1 of `base` with key `encode(consumer_secret)&encode(token_secret)`,
/// base64-encoded (RFC 5849 section 3.4.2).
pub fn hmac_sha1_signature(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(base.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `signature` (already percent-decoded, base64) against the expected
/// one in constant time.
pub fn verify_hmac_sha1(
    base: &str,
    consumer_secret: &str,
    token_secret: &str,
    signature: &str,
) -> bool {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key.as_bytes()) else {
        return false;
    };
    mac.update(base.as_bytes());
    match STANDARD.decode(signature) {
        Ok(raw) => mac.verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    /// RFC 5849 section 3.4.1.1: the request is
    /// `POST /request?b5=%3D%253D&a3=a&c%40=&a2=r%20b` on example.com with
    /// body `c2&a3=2+q` and the header parameters below.
    #[test]
    fn rfc5849_section_3_4_1_base_string_reproduces_exactly() {
        let header = r#"OAuth realm="Example",
            oauth_consumer_key="9djdj82h48djs9d2",
            oauth_token="kkk9d7dh3k39sjv7",
            oauth_signature_method="HMAC-SHA1",
            oauth_timestamp="137131201",
            oauth_nonce="7d8f3e4a",
            oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D""#;
        let mut params: Vec<_> = parse_authorization(header)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| k != "realm" && k != "oauth_signature")
            .collect();
        params.extend(parse_form("b5=%3D%253D&a3=a&c%40=&a2=r%20b"));
        params.extend(parse_form("c2&a3=2+q"));
        assert_eq!(
            normalize(&params),
            "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2\
             &oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201\
             &oauth_token=kkk9d7dh3k39sjv7"
        );
        let uri = base_uri("HTTP", "EXAMPLE.COM", Some(80), "/request");
        assert_eq!(uri, "http://example.com/request");
        assert_eq!(
            base_string("post", &uri, &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    /// The OAuth Core 1.0 appendix A.5 example ("photos.example.net").
    #[test]
    fn oauth_core_photos_example_signature_reproduces() {
        let params = vec![
            p("file", "vacation.jpg"),
            p("size", "original"),
            p("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            p("oauth_token", "nnch734d00sl2jdk"),
            p("oauth_signature_method", "HMAC-SHA1"),
            p("oauth_timestamp", "1191242096"),
            p("oauth_nonce", "kllo9940pd9333jh"),
            p("oauth_version", "1.0"),
        ];
        let base = base_string(
            "GET",
            &base_uri("http", "photos.example.net", None, "/photos"),
            &params,
        );
        assert_eq!(
            base,
            "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg\
             %26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh\
             %26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1191242096\
             %26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26size%3Doriginal"
        );
        let sig = hmac_sha1_signature(&base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00");
        assert_eq!(sig, "tR3+Ty81lMeYAr/Fid0kMTYa/WM=");
        assert!(verify_hmac_sha1(
            &base,
            "kd94hf93k423kf44",
            "pfkkdhi9sl3r4s00",
            &sig
        ));
        assert!(!verify_hmac_sha1(
            &base,
            "kd94hf93k423kf45",
            "pfkkdhi9sl3r4s00",
            &sig
        ));
        assert!(!verify_hmac_sha1(
            &base,
            "kd94hf93k423kf44",
            "pfkkdhi9sl3r4s00",
            "not base64!"
        ));
    }

    /// RFC 5849 section 1.2: the protected resource request (realm "Photos"
    /// is excluded from the base string; no `oauth_version`).
    #[test]
    fn rfc5849_section_1_2_resource_request_signature_reproduces() {
        let params = vec![
            p("file", "vacation.jpg"),
            p("size", "original"),
            p("oauth_consumer_key", "dpf43f3p2l4k3l03"),
            p("oauth_token", "nnch734d00sl2jdk"),
            p("oauth_signature_method", "HMAC-SHA1"),
            p("oauth_timestamp", "137131202"),
            p("oauth_nonce", "chapoH"),
        ];
        let base = base_string(
            "GET",
            &base_uri("http", "photos.example.net", None, "/photos"),
            &params,
        );
        assert_eq!(
            hmac_sha1_signature(&base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("a-._~Z9"), "a-._~Z9");
        assert_eq!(encode("a b+c/=%é"), "a%20b%2Bc%2F%3D%25%C3%A9");
    }

    #[test]
    fn base_uri_keeps_non_default_ports_only() {
        assert_eq!(
            base_uri("http", "127.0.0.1", Some(9000), "/oauth/request_token"),
            "http://127.0.0.1:9000/oauth/request_token"
        );
        assert_eq!(
            base_uri("https", "Api.Etrade.com", Some(443), "/v1/x"),
            "https://api.etrade.com/v1/x"
        );
    }

    #[test]
    fn authorization_header_parsing_rejects_garbage_without_panicking() {
        assert_eq!(
            parse_authorization("Bearer abc"),
            Err(ParseError::MissingHeader)
        );
        assert_eq!(
            parse_authorization("OAuth oauth_nonce=unquoted"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse_authorization("OAuth noequals"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse_authorization("OAuth a=\"%FF\""),
            Err(ParseError::Malformed)
        );
        assert_eq!(parse_authorization("OAuth").unwrap(), vec![]);
        assert_eq!(
            parse_authorization(r#"OAuth realm="",oauth_token="a%2Bb""#).unwrap(),
            vec![p("realm", ""), p("oauth_token", "a+b")]
        );
    }
}
