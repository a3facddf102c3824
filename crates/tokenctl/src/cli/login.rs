//! `tokenctl login`: start a login, show the URL, bring back what the person
//! got (a typed code, or a redirect captured on loopback or pasted), and
//! finish it now or in a later run.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use control::reauth::{LoopbackChannel, ReauthChannel, ReauthError, ReauthPrompt};
use secrecy::SecretString;
use token_core::Expects;

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
        if let Some(dir) = self.path.parent() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|e| fail(&e))?;
        }
        let body = serde_json::to_vec(req).map_err(|e| fail(&e))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&self.path).map_err(|e| fail(&e))?;
        f.write_all(&body).map_err(|e| fail(&e))
    }

    fn load(&self, name: &str) -> Result<token_core::AuthorizationRequest, CliError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
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

/// Starts a login and waits up to `timeout` for the person's answer.
pub(crate) async fn login(
    acct: &Account,
    pending: &PendingLogin,
    paste: bool,
    timeout: StdDuration,
) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    progress(&format!("asking the broker to start a login for {name}..."));
    let req = m.begin_authorization().await.map_err(token_err(&name))?;
    pending.save(&req)?;
    println!("{}\n\n  {}\n", req.instructions, req.url);
    std::io::stdout().flush()?;
    let answer: SecretString = match (req.expects, acct.login_redirect_uri()) {
        (Expects::RedirectUrl, Some(redirect_uri)) if !paste => {
            capture_or_paste(&req, redirect_uri, timeout).await?
        }
        (Expects::RedirectUrl, _) => {
            eprintln!("... paste the URL your browser landed on, then press Enter:");
            wait_for_person(timeout, "the redirect URL").await?
        }
        (Expects::Verifier, _) => {
            eprintln!("... type the verification code, then press Enter (or finish later with `tokenctl login {name} --verifier CODE`):");
            match tokio::time::timeout(timeout, read_line()).await {
                Ok(Some(line)) => SecretString::from(line),
                _ => {
                    println!("login started; finish it with `tokenctl login {name} --verifier CODE` within the request's lifetime");
                    return Ok(());
                }
            }
        }
    };
    progress("exchanging it for a token...");
    m.complete_authorization(&answer)
        .await
        .map_err(token_err(&name))?;
    pending.clear();
    println!("{name}: logged in; token saved");
    print_one(acct)?;
    Ok(())
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
    req: &token_core::AuthorizationRequest,
    redirect_uri: &str,
    timeout: StdDuration,
) -> Result<SecretString, CliError> {
    let name = req.key.to_string();
    let channel = LoopbackChannel::new(redirect_uri, timeout, |_| {});
    let prompt = ReauthPrompt {
        account: req.key.clone(),
        url: req.url.clone(),
        expects: req.expects,
        instructions: req.instructions.clone(),
        expires_at: req.expires_at,
        note: None,
    };
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
        captured = channel.ask(&prompt) => match captured {
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
