//! Reading the URL FYERS redirects the browser to after a login:
//! `{redirect_uri}?s=ok&code=200&auth_code={JWT}&state={state}`, or
//! `?s=error&code=-352&message=...` when the login failed.

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use token_core::Error;

/// What a login redirect says.
#[derive(Debug)]
pub enum Redirect {
    /// The person logged in; exchange the code.
    Code {
        /// The auth code (a JWT valid about 8 h). Secret.
        auth_code: SecretString,
        /// The `state` echoed back.
        state: Option<String>,
    },
    /// FYERS reported a failure.
    Failed {
        /// FYERS' code, e.g. -352.
        code: Option<i64>,
        /// FYERS' message, if short and printable.
        message: Option<String>,
        /// The `state` echoed back.
        state: Option<String>,
    },
}

/// Parses a full redirect URL (or just its query string).
///
/// The input holds the auth code, so errors never quote it.
///
/// ```
/// use fyers::redirect::{parse_redirect, Redirect};
/// let r = parse_redirect("http://127.0.0.1:8080/cb?s=ok&code=200&auth_code=a.b.c&state=xyz")?;
/// assert!(matches!(r, Redirect::Code { state: Some(ref s), .. } if s == "xyz"));
/// let r = parse_redirect("https://app/cb?s=error&code=-352&message=Invalid%20app%20id&state=xyz")?;
/// assert!(matches!(r, Redirect::Failed { code: Some(-352), .. }));
/// # Ok::<(), token_core::Error>(())
/// ```
pub fn parse_redirect(input: &str) -> Result<Redirect, Error> {
    let input = input.trim();
    let query = match Url::parse(input) {
        Ok(url) => url.query().unwrap_or("").to_string(),
        Err(_) => input.rsplit_once('?').map_or(input, |(_, q)| q).to_string(),
    };
    let mut s = None;
    let mut code = None;
    let mut auth_code = None;
    let mut state = None;
    let mut message = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "s" => s = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            "auth_code" => auth_code = Some(SecretString::from(v.into_owned())),
            "state" => state = Some(v.into_owned()),
            "message" => message = Some(v.into_owned()),
            _ => {}
        }
    }
    let code_num = code.as_deref().and_then(|c| c.trim().parse::<i64>().ok());
    if s.as_deref() == Some("error") || code_num.is_some_and(|c| c < 0) {
        return Ok(Redirect::Failed {
            code: code_num,
            message: message.filter(|m| m.len() <= 120 && m.chars().all(|c| !c.is_control())),
            state,
        });
    }
    match auth_code {
        Some(a) if !a.expose_secret().trim().is_empty() => Ok(Redirect::Code {
            auth_code: a,
            state,
        }),
        _ => Err(Error::Protocol(
            "the redirect URL has no auth_code: paste the full URL the browser landed on".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_bare_query_string() {
        let r = parse_redirect("?s=ok&code=200&auth_code=x.y.z&state=abc").unwrap();
        match r {
            Redirect::Code { auth_code, state } => {
                assert_eq!(auth_code.expose_secret(), "x.y.z");
                assert_eq!(state.as_deref(), Some("abc"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_redirect("s=ok&auth_code=q&state=abc").unwrap(),
            Redirect::Code { .. }
        ));
    }

    #[test]
    fn missing_code_is_a_typed_error_without_the_input() {
        let e = parse_redirect("https://app/cb?s=ok&state=secretish").unwrap_err();
        assert!(matches!(e, Error::Protocol(_)));
        assert!(!e.to_string().contains("secretish"));
        assert!(parse_redirect("garbage").is_err());
        assert!(parse_redirect("").is_err());
    }

    #[test]
    fn debug_hides_the_auth_code() {
        let r = parse_redirect("http://h/cb?auth_code=TOPSECRET&state=s").unwrap();
        assert!(!format!("{r:?}").contains("TOPSECRET"));
    }
}
