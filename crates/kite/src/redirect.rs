//! Reading the URL Kite redirects the browser to after a login:
//! `{redirect_url}?action=login&type=login&status=success&request_token=…`
//! (the parameter order varies).

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use token_core::Error;

/// Reads the `request_token` from a pasted redirect URL (or its query
/// string). The input holds the token, so errors never quote it.
///
/// ```
/// use secrecy::ExposeSecret;
/// let t = kite::redirect::request_token(
///     "http://127.0.0.1:8080/cb?action=login&type=login&status=success&request_token=rT0k3n")?;
/// assert_eq!(t.expose_secret(), "rT0k3n");
/// assert!(kite::redirect::request_token("http://127.0.0.1/cb?status=cancelled").is_err());
/// # Ok::<(), token_core::Error>(())
/// ```
pub fn request_token(input: &str) -> Result<SecretString, Error> {
    let input = input.trim();
    let query = match Url::parse(input) {
        Ok(url) => url.query().unwrap_or("").to_string(),
        Err(_) => input.rsplit_once('?').map_or(input, |(_, q)| q).to_string(),
    };
    let mut status = None;
    let mut token = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "status" => status = Some(v.into_owned()),
            "request_token" => token = Some(SecretString::from(v.into_owned())),
            _ => {}
        }
    }
    match status.as_deref() {
        Some("success") | None => {}
        Some(other) => {
            let shown: String = other
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect();
            return Err(Error::rejected(format!(
                "the Kite login did not succeed (status={shown}): log in again"
            )));
        }
    }
    match token {
        Some(t)
            if !t.expose_secret().is_empty()
                && t.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Ok(t)
        }
        Some(_) => Err(Error::Protocol(
            "the request_token in the redirect URL is malformed: paste the full URL exactly".into(),
        )),
        None => Err(Error::Protocol(
            "the redirect URL has no request_token: paste the full URL the browser landed on"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_order_and_a_bare_query_work() {
        for input in [
            "http://127.0.0.1/cb?request_token=Zq9vKx77&action=login&status=success",
            "  request_token=Zq9vKx77&status=success\n",
            "https://example.com/cb?status=success&request_token=Zq9vKx77&type=login",
        ] {
            assert_eq!(
                request_token(input).unwrap().expose_secret(),
                "Zq9vKx77",
                "{input}"
            );
        }
    }

    #[test]
    fn failures_are_typed_and_never_quote_the_token() {
        let e = request_token("http://x/cb?status=success").unwrap_err();
        assert!(matches!(e, Error::Protocol(_)));
        let e = request_token("http://x/cb?status=success&request_token=S3cr3t%20Zq9").unwrap_err();
        assert!(!e.to_string().contains("S3cr3t"), "{e}");
        let e = request_token("http://x/cb?status=error&request_token=S3cr3tZq9").unwrap_err();
        assert!(matches!(e, Error::Rejected { .. }));
        assert!(!e.to_string().contains("S3cr3tZq9"), "{e}");
    }
}
