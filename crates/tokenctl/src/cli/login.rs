//! `tokenctl login`: start a login, show the URL, bring back what the person
//! got (a typed code, or a redirect captured on loopback or pasted), and
//! finish it now or in a later run.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use control::reauth::{
    reauthorize_with, LoopbackChannel, ReauthChannel, ReauthError, ReauthPrompt,
};
use secrecy::SecretString;
use token_core::{AccountKey, AuthorizationRequest, Expects};

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

/// A login started by one `tokenctl login` and finished by a later
/// `tokenctl login --verifier`: the pending request (it holds the request
/// token secret) kept next to the token store, readable by its owner only.
pub(crate) struct PendingLogin {
    path: PathBuf,
}

impl PendingLogin {
    pub(crate) fn new(store: &std::path::Path, key: &token_core::AccountKey) -> Self {
        Self {
            path: store.join(format!(".login-{}.json", key.file_stem())),
        }
    }

    fn save(&self, req: &token_core::AuthorizationRequest) -> Result<(), CliError> {
        let fail = |e: &dyn std::fmt::Display| {
            CliError::Other(format!(
                "cannot keep the pending login at {}: {e}",
                self.path.display()
            ))
        };
        let body = serde_json::to_vec(req).map_err(|e| fail(&e))?;
        // Temp file + fsync + rename at 0600, never through a link.
        token_core::store::write_private_file(&self.path, &body).map_err(|e| fail(&e))
    }

    fn load(&self, name: &str) -> Result<token_core::AuthorizationRequest, CliError> {
        let bytes = match token_core::store::read_private_file(&self.path) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(CliError::Other(format!(
                    "{name}: no login in progress; run `tokenctl login` without --verifier first"
                )))
            }
            Err(e) => {
                return Err(CliError::Other(format!(
                    "cannot read the pending login at {}: {e}",
                    self.path.display()
                )))
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(format!(
                "the pending login at {} is unreadable (line {}); start the login again",
                self.path.display(),
                e.line()
            ))
        })
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Completes a login started earlier with what the person brought back.
pub(crate) async fn finish(
    acct: &Account,
    pending: &PendingLogin,
    answer: SecretString,
) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    let req = pending.load(&name)?;
    m.resume_authorization(req).map_err(token_err(&name))?;
    progress("exchanging it for a token...");
    match m.complete_authorization(&answer).await {
        Ok(()) => {}
        Err(token_core::Error::AuthorizationExpired { url }) => {
            // The old request is dead; keep the fresh one for the next try.
            if let Ok(fresh) = m.begin_authorization().await {
                pending.save(&fresh)?;
            }
            return Err(CliError::Other(format!(
                "{name}: that login request expired; open this URL and run `tokenctl login {name} --verifier CODE` again:\n\n  {url}\n"
            )));
        }
        Err(e) => return Err(token_err(&name)(e)),
    }
    pending.clear();
    println!("{name}: logged in; token saved");
    print_one(acct)?;
    Ok(())
}

/// Starts a login and waits up to `timeout` for the person's answer: the
/// control server's login flow ([`reauthorize_with`]) over the terminal.
pub(crate) async fn login(
    acct: &Account,
    pending: &PendingLogin,
    paste: bool,
    timeout: StdDuration,
) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    progress(&format!("asking the broker to start a login for {name}..."));
    let terminal = Terminal {
        name: name.clone(),
        paste,
        timeout,
        redirect_uri: acct.login_redirect_uri().map(str::to_owned),
        deferred: AtomicBool::new(false),
    };
    // Kept so `tokenctl login --verifier` can finish it in a later run.
    let keep = |req: &AuthorizationRequest| {
        pending
            .save(req)
            .map_err(|e| ReauthError::Channel(e.to_string()))
    };
    match reauthorize_with(m.as_ref(), &terminal, 1, &keep).await {
        Ok(_) => {}
        Err(_) if terminal.deferred.load(Ordering::SeqCst) => {
            println!("login started; finish it with `tokenctl login {name} --verifier CODE` within the request's lifetime");
            return Ok(());
        }
        Err(ReauthError::Account(e)) => return Err(token_err(&name)(e)),
        Err(ReauthError::GaveUp { last, .. }) => return Err(token_err(&name)(*last)),
        Err(ReauthError::Channel(message)) => return Err(CliError::Other(message)),
        Err(e) => return Err(CliError::Other(format!("{name}: {e}"))),
    }
    pending.clear();
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
                eprintln!("... type the verification code, then press Enter (or finish later with `tokenctl login {name} --verifier CODE`):");
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
