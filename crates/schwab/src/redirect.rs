//! Reading the URL a person pastes after logging in:
//! `<callback>?code=C0.…%40&session=<uuid>&state=<echo>`.

use secrecy::SecretString;
use url::Url;

use token_core::Error;

/// What the pasted redirect URL carried.
#[derive(Debug)]
pub struct Redirect {
    /// The one-time code, URL-decoded (it ends in `@`, sent as `%40`).
    pub code: SecretString,
    /// The echoed `state`, if any.
    pub state: Option<String>,
}

/// Parses a pasted redirect URL. The code is URL-decoded (`%40` -> `@`).
/// An `error=` answer (the person declined) is [`Error::Rejected`]; a URL
/// without a code is [`Error::Protocol`]. Messages never repeat the URL.
///
/// ```
/// use secrecy::ExposeSecret;
/// let r = schwab::redirect::parse_redirect(
///     "https://127.0.0.1:8182/cb?code=C0.abc.def%40&session=9f&state=xyz",
/// ).unwrap();
/// assert_eq!(r.code.expose_secret(), "C0.abc.def@");
/// assert_eq!(r.state.as_deref(), Some("xyz"));
/// ```
pub fn parse_redirect(pasted: &str) -> Result<Redirect, Error> {
    let url = Url::parse(pasted.trim()).map_err(|_| {
        Error::Protocol(
            "the pasted text is not a URL: paste the full address the browser landed on".into(),
        )
    })?;
    let mut code = None;
    let mut state = None;
    let mut error = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "code" => code = Some(v.into_owned()),
            "state" => state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        let e: String = e
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(40)
            .collect();
        return Err(Error::rejected(format!(
            "Schwab login was not completed ({e}): start a new login"
        )));
    }
    match code.filter(|c| !c.trim().is_empty()) {
        Some(c) => Ok(Redirect {
            code: SecretString::from(c),
            state,
        }),
        None => Err(Error::Protocol(
            "the pasted URL has no `code`: paste the full address the browser landed on".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_raw_at_sign_is_kept_and_plus_is_not_mangled_into_the_code() {
        let r = parse_redirect("https://127.0.0.1/?code=C0.S3cr3t-Zq9vKx@&session=s").unwrap();
        assert_eq!(r.code.expose_secret(), "C0.S3cr3t-Zq9vKx@");
        assert!(r.state.is_none());
    }

    #[test]
    fn errors_say_what_to_do_and_never_echo_the_url() {
        let e = parse_redirect("not a url S3cr3t-Zq9vKx")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("paste the full address") && !e.contains("S3cr3t"),
            "{e}"
        );
        let e = parse_redirect("https://127.0.0.1/?session=S3cr3t-Zq9vKx").unwrap_err();
        assert!(matches!(e, Error::Protocol(_)));
        assert!(!e.to_string().contains("S3cr3t"));
        let e = parse_redirect("https://127.0.0.1/?error=access_denied").unwrap_err();
        assert_eq!(e.kind(), token_core::ErrorKind::Rejected);
    }
}
