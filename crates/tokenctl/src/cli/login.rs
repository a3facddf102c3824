//! `tokenctl login`: show the login in progress (whoever started it: the
//! daemon's alert, the control server, an earlier run) or start one, bring
//! back what the person got (a code or redirect URL typed, piped, read from
//! a file, or a redirect captured on loopback) and finish it.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use control::reauth::{reauthorize, LoopbackChannel, ReauthChannel, ReauthError, ReauthPrompt};
use secrecy::SecretString;
use token_core::{AccountKey, Expects};

use super::{print_one, progress, token_err, CliError};
use crate::accounts::Account;

/// Reads one line from stdin without blocking the runtime; `None` at EOF.
async fn read_line() -> Option<String> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_owned()),
        }
    })
    .await
    .ok()
    .flatten()
    .filter(|l| !l.is_empty())
}

/// Where the person's answer comes from when it is not typed at the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Given {
    /// `--verifier CODE`: on argv, visible to other users.
    Argv(String),
    /// `--code-file PATH`: read and trimmed.
    File(PathBuf),
}

/// How to answer the pending login of `name` without the prompt.
pub(crate) fn how_to_answer(name: &str) -> String {
    format!(
        "answer it with `echo CODE | tokenctl login {name}` (CODE: the verifier, or the whole URL the browser landed on) or `tokenctl login {name} --code-file PATH`"
    )
}

/// The answer from `given`: a warning for argv, the file read and trimmed
/// (with a warning when others may read it).
pub(crate) fn read_given(given: &Given) -> Result<SecretString, CliError> {
    match given {
        Given::Argv(code) => {
            eprintln!(
                "tokenctl: warning: --verifier puts the code on the command line, where other users can see it (ps, /proc) and your shell history keeps it; pipe it instead (`echo CODE | tokenctl login ACCOUNT`) or use --code-file PATH"
            );
            Ok(SecretString::from(code.trim().to_owned()))
        }
        Given::File(path) => {
            if let Some(mode) = token_core::bundle::loose_permissions(path) {
                eprintln!(
                    "tokenctl: warning: {} is readable by other users (mode {mode:o}); `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::Other(format!("cannot read the code file {}: {e}", path.display()))
            })?;
            let code = text.trim();
            if code.is_empty() {
                return Err(CliError::Other(format!(
                    "the code file {} is empty: put the verifier (or the redirect URL) in it",
                    path.display()
                )));
            }
            Ok(SecretString::from(code.to_owned()))
        }
    }
}

/// Completes the login in progress (whichever process started it: the
/// daemon's alert, an earlier `tokenctl login`, the control server) with
/// what the person brought back.
pub(crate) async fn finish(acct: &Account, answer: SecretString) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    if m.pending_authorization()
        .await
        .map_err(token_err(&name))?
        .is_none()
    {
        return Err(CliError::Other(format!(
            "{name}: no login in progress, so that code belongs to no request; run `tokenctl login {name}` to start one, then answer its URL"
        )));
    }
    progress("exchanging it for a token...");
    match m.complete_authorization(&answer).await {
        Ok(()) => {}
        Err(token_core::Error::AuthorizationExpired { url }) => {
            return Err(CliError::Other(format!(
                "{name}: that login request expired and its URL no longer works; open this new one, then {}:\n\n  {url}\n",
                how_to_answer(&name)
            )));
        }
        Err(e) => return Err(token_err(&name)(e)),
    }
    println!("{name}: logged in; token saved");
    print_one(acct)?;
    Ok(())
}

/// Shows the login in progress (or starts one when none is live) and waits
/// up to `timeout` for the person's answer: the control server's login flow
/// ([`reauthorize`]) over the terminal. Piped stdin answers the live request:
/// `echo CODE | tokenctl login ACCOUNT`.
pub(crate) async fn login(
    acct: &Account,
    paste: bool,
    timeout: StdDuration,
) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    progress(&format!(
        "looking for the login in progress for {name} (or asking the broker to start one)..."
    ));
    let terminal = Terminal {
        name: name.clone(),
        paste,
        timeout,
        redirect_uri: acct.login_redirect_uri().map(str::to_owned),
        deferred: AtomicBool::new(false),
    };
    match reauthorize(m.as_ref(), &terminal, 1).await {
        Ok(_) => {}
        Err(_) if terminal.deferred.load(Ordering::SeqCst) => {
            println!(
                "login in progress; {} within the request's lifetime",
                how_to_answer(&name)
            );
            return Ok(());
        }
        Err(ReauthError::Account(e)) => return Err(token_err(&name)(e)),
        Err(ReauthError::GaveUp { last, .. }) => return Err(token_err(&name)(*last)),
        Err(ReauthError::Channel(message)) => return Err(CliError::Other(message)),
        Err(e) => return Err(CliError::Other(format!("{name}: {e}"))),
    }
    println!("{name}: logged in; token saved");
    print_one(acct)?;
    Ok(())
}

/// The terminal as a re-authorization channel: the URL on stdout, the
/// answer typed or pasted on stdin, or a redirect captured on loopback.
struct Terminal {
    name: String,
    paste: bool,
    timeout: StdDuration,
    redirect_uri: Option<String>,
    /// Set when no verifier came: the login is finished by a later run.
    deferred: AtomicBool,
}

#[async_trait]
impl ReauthChannel for Terminal {
    async fn ask(&self, prompt: &ReauthPrompt) -> Result<SecretString, ReauthError> {
        let name = &self.name;
        if let Some(note) = &prompt.note {
            eprintln!("... {note}");
        }
        println!("{}\n\n  {}\n", prompt.instructions, prompt.url);
        let _ = std::io::stdout().flush();
        let channel = |e: CliError| ReauthError::Channel(e.to_string());
        let answer = match (prompt.expects, &self.redirect_uri) {
            (Expects::RedirectUrl, Some(redirect_uri)) if !self.paste => {
                capture_or_paste(prompt, redirect_uri, self.timeout)
                    .await
                    .map_err(channel)?
            }
            (Expects::RedirectUrl, _) => {
                eprintln!("... paste the URL your browser landed on, then press Enter:");
                wait_for_person(self.timeout, "the redirect URL")
                    .await
                    .map_err(channel)?
            }
            (Expects::Verifier, _) => {
                eprintln!("... type the verification code (or paste the callback URL), then press Enter (or finish later: `echo CODE | tokenctl login {name}`):");
                match tokio::time::timeout(self.timeout, read_line()).await {
                    Ok(Some(line)) => SecretString::from(line),
                    _ => {
                        self.deferred.store(true, Ordering::SeqCst);
                        return Err(ReauthError::Timeout(self.timeout));
                    }
                }
            }
        };
        progress("exchanging it for a token...");
        Ok(answer)
    }

    async fn tell(&self, _account: &AccountKey, message: &str) -> Result<(), ReauthError> {
        progress(message);
        Ok(())
    }
}

async fn wait_for_person(timeout: StdDuration, what: &str) -> Result<SecretString, CliError> {
    match tokio::time::timeout(timeout, read_line()).await {
        Ok(Some(line)) => Ok(SecretString::from(line)),
        Ok(None) => Err(CliError::Other(format!("no {what} given (end of input)"))),
        Err(_) => Err(CliError::Other(format!(
            "gave up waiting for {what} after {}s",
            timeout.as_secs()
        ))),
    }
}

/// Waits for the browser's redirect on the loopback `redirect_uri` or a
/// pasted URL, whichever comes first; only the paste when it cannot listen.
async fn capture_or_paste(
    prompt: &ReauthPrompt,
    redirect_uri: &str,
    timeout: StdDuration,
) -> Result<SecretString, CliError> {
    let name = prompt.account.to_string();
    let channel = LoopbackChannel::new(redirect_uri, timeout, |_| {});
    eprintln!(
        "... waiting for the browser redirect on {redirect_uri} (or paste the URL you landed on)"
    );
    let pasted = async {
        match read_line().await {
            Some(l) => l,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        captured = channel.ask(prompt) => match captured {
            Ok(answer) => Ok(answer),
            Err(ReauthError::Channel(e)) => {
                eprintln!("... cannot listen for the redirect ({e}); paste the URL you landed on:");
                wait_for_person(timeout, "the redirect URL").await
            }
            Err(ReauthError::Timeout(t)) => Err(CliError::Other(format!(
                "{name}: gave up waiting for the redirect URL after {}s",
                t.as_secs()
            ))),
            Err(e) => Err(CliError::Other(format!("{name}: {e}"))),
        },
        line = pasted => Ok(SecretString::from(line)),
    }
}
