//! What a person brings back from E*TRADE's authorize page: the verifier
//! code (5 to 7 characters; the docs' sample is `Y27X25F`), or, for keys
//! with a registered callback, the whole URL the browser was redirected to
//! (`https://…/cb?oauth_token=…&oauth_verifier=Y27X25F`).

use secrecy::{ExposeSecret, SecretString};
use token_core::Error;
use url::Url;

/// The verifier in `input`: the `oauth_verifier` of a pasted URL, or the
/// trimmed input itself. Errors never repeat the input.
pub(crate) fn verifier_from(input: &SecretString) -> Result<SecretString, Error> {
    let text = input.expose_secret().trim();
    if text.is_empty() {
        return Err(Error::Config("the verification code is empty".into()));
    }
    // A URL, or a bare query string copied without the address.
    let query = match Url::parse(text) {
        Ok(url) => url.query().map(str::to_owned),
        Err(_) if text.contains("oauth_verifier=") => Some(text.trim_start_matches('?').to_owned()),
        Err(_) => return Ok(SecretString::from(text.to_owned())),
    };
    let verifier = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "oauth_verifier")
            .map(|(_, v)| v.trim().to_owned())
    });
    match verifier {
        Some(v) if !v.is_empty() => Ok(SecretString::from(v)),
        _ => Err(Error::Config(
            "the pasted URL carries no oauth_verifier: enter the code E*TRADE shows, or paste the URL the browser was sent to after accepting".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Result<String, Error> {
        verifier_from(&SecretString::from(s.to_string())).map(|v| v.expose_secret().to_owned())
    }

    #[test]
    fn a_code_of_any_length_is_taken_as_is() {
        assert_eq!(read("Y27X25F").unwrap(), "Y27X25F");
        assert_eq!(read("  AB12C \n").unwrap(), "AB12C");
    }

    #[test]
    fn a_pasted_callback_url_yields_its_verifier() {
        let url = "https://bot.example.com/etrade/cb?oauth_token=cmVxLXRva2Vu%2Bx%3D&oauth_verifier=Y27X25F";
        assert_eq!(read(url).unwrap(), "Y27X25F");
        assert_eq!(
            read("?oauth_token=abc&oauth_verifier=Q9ZK4T1").unwrap(),
            "Q9ZK4T1"
        );
    }

    #[test]
    fn a_url_without_a_verifier_or_an_empty_answer_says_what_to_do() {
        let secretish = "https://bot.example.com/cb?oauth_token=S3cr3t-Zq9vKx-req";
        let e = read(secretish).unwrap_err();
        assert!(e.to_string().contains("oauth_verifier"), "{e}");
        assert!(!e.to_string().contains("S3cr3t-Zq9vKx"), "{e}");
        assert!(matches!(read("   "), Err(Error::Config(_))));
    }
}
