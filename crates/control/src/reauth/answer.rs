//! The one wording of "how to answer a login": every alert, prompt and log
//! line that asks a person to log in names the account, what to bring back
//! and every way to send it.

use token_core::{AccountKey, Expects};

/// Which ways to answer a login are open besides `tokenctl login`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerWays {
    /// The control server listens: `POST /login/{account}/complete`.
    pub http: bool,
    /// Telegram re-authorization is on: reply to the message.
    pub telegram: bool,
}

/// What a person brings back after logging in at the URL.
pub fn what_to_bring(expects: Option<Expects>) -> &'static str {
    match expects {
        Some(Expects::Verifier) => "the verifier code shown after login",
        Some(Expects::RedirectUrl) => "the full URL the browser lands on after login",
        None => "the verifier code shown after login, or the full URL the browser lands on",
    }
}

/// How to answer `account`'s login: what to bring back and every open way.
///
/// ```
/// use control::reauth::{how_to_answer, AnswerWays};
/// let key = "etrade/production/main".parse().unwrap();
/// let text = how_to_answer(&key, None, AnswerWays { http: true, telegram: false });
/// assert!(text.contains("echo CODE | tokenctl login etrade/production/main"));
/// assert!(text.contains("POST /login/etrade/production/main/complete"));
/// assert!(!text.contains("reply to this message"));
/// ```
pub fn how_to_answer(account: &AccountKey, expects: Option<Expects>, ways: AnswerWays) -> String {
    let mut text = format!(
        "Answer with {} as CODE: `echo CODE | tokenctl login {account}`",
        what_to_bring(expects)
    );
    if ways.http {
        text.push_str(&format!(
            "; or POST /login/{account}/complete with {{\"code\": \"CODE\"}} to the control server"
        ));
    }
    if ways.telegram {
        text.push_str("; or reply to this message with it on Telegram");
    }
    text.push('.');
    text
}
