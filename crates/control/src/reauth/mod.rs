//! Re-authorization by a person, through an interchangeable channel.
//!
//! A [`ReauthChannel`] shows a person where to log in and brings back what
//! they got (an E*TRADE verifier, a FYERS redirect URL). [`reauthorize`]
//! drives one login over any channel, answering a stale reply with a fresh
//! URL; [`Reauthorizer`] does it whenever an account's login prompt is due
//! (`LoginRequested`: at its login window). Channels: [`ConsoleChannel`] (a terminal),
//! [`TelegramChannel`] (a phone), [`LoopbackChannel`] (the FYERS redirect
//! caught on 127.0.0.1).

mod answer;
mod console;
mod loopback;
mod telegram;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use token_core::{AccountKey, AuthorizationRequest, Error, Event, Expects, ManagedAccount};
use tokio::sync::mpsc;

pub use answer::{how_to_answer, what_to_bring, AnswerWays};
pub use console::ConsoleChannel;
pub use loopback::LoopbackChannel;
pub use telegram::TelegramChannel;

/// What a person is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ReauthPrompt {
    /// The account.
    pub account: AccountKey,
    /// Where to log in.
    pub url: String,
    /// What to bring back.
    pub expects: Expects,
    /// The broker's instructions.
    pub instructions: String,
    /// The request is stale after this.
    pub expires_at: Option<DateTime<Utc>>,
    /// Context for a repeated prompt, e.g. "that request expired".
    pub note: Option<String>,
}

impl ReauthPrompt {
    fn from_request(req: &AuthorizationRequest, note: Option<String>) -> Self {
        Self {
            account: req.key.clone(),
            url: req.url.clone(),
            expects: req.expects,
            instructions: req.instructions.clone(),
            expires_at: req.expires_at,
            note,
        }
    }

    /// The prompt as plain text.
    pub fn text(&self) -> String {
        let what = format!("reply with {}", what_to_bring(Some(self.expects)));
        let mut text = String::new();
        if let Some(note) = &self.note {
            text.push_str(note);
            text.push('\n');
        }
        text.push_str(&format!(
            "🔑 {} needs a login. Open:\n{}\nthen {what}.",
            self.account, self.url
        ));
        if let Some(at) = self.expires_at {
            // With the date: a FYERS login URL stays valid for days.
            text.push_str(&format!(
                " (valid until {} UTC)",
                at.format("%Y-%m-%d %H:%M")
            ));
        }
        text.push_str(&format!(
            "\nOr answer from a shell: `echo CODE | tokenctl login {}`.",
            self.account
        ));
        text
    }
}

/// Why a re-authorization did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    /// The channel cannot serve this kind of request (e.g. a loopback
    /// listener for an E*TRADE verifier).
    #[error("this channel cannot handle {0:?} logins")]
    Unsupported(Expects),
    /// No answer arrived in time.
    #[error("no answer arrived within {0:?}")]
    Timeout(Duration),
    /// The channel failed (network, closed input).
    #[error("re-authorization channel failed: {0}")]
    Channel(String),
    /// The account could not start or complete the authorization.
    #[error(transparent)]
    Account(#[from] Error),
    /// Every attempt was refused; `last` is why the last answer was.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Answers tried.
        attempts: u32,
        /// Why the last one failed.
        last: Box<Error>,
    },
}

/// Shows a person a login URL and brings back their answer.
#[async_trait]
pub trait ReauthChannel: Send + Sync {
    /// Shows `prompt` and waits for the answer (a verifier or a redirect
    /// URL: a secret). Each answer is returned once.
    async fn ask(&self, prompt: &ReauthPrompt) -> Result<SecretString, ReauthError>;

    /// Tells the person something (an outcome). Failures are only logged.
    async fn tell(&self, account: &AccountKey, message: &str) -> Result<(), ReauthError>;
}

/// Runs one login for `account` over `channel`: asks, completes, confirms.
/// A stale answer gets a fresh URL, a refused one a retry, up to
/// `max_attempts` answers. Returns how many answers it took.
pub async fn reauthorize(
    account: &dyn ManagedAccount,
    channel: &dyn ReauthChannel,
    max_attempts: u32,
) -> Result<u32, ReauthError> {
    reauthorize_with(account, channel, max_attempts, &|_| Ok(())).await
}

/// [`reauthorize`], showing each authorization request to `started` before
/// the person is asked (e.g. `tokenctl login` keeps it so a later process
/// can finish the login). An error from `started` ends the login.
///
/// The one login flow: the control server's phone re-authorization and
/// `tokenctl login` both run it.
pub async fn reauthorize_with(
    account: &dyn ManagedAccount,
    channel: &dyn ReauthChannel,
    max_attempts: u32,
    started: &(dyn Fn(&AuthorizationRequest) -> Result<(), ReauthError> + Sync),
) -> Result<u32, ReauthError> {
    converse(account, channel, max_attempts, started, false).await
}

/// The one login flow. `watch`: stop waiting for an answer (and return
/// `Ok(0)`, telling the person) once the account no longer needs a login:
/// done another way (the CLI, the `/login` routes, the redirect capture) or
/// adopted from another process; and send the new URL when a reminder
/// replaced a stale request. Without it, a conversation would wait on a
/// dead URL and hold up the next day's prompt.
async fn converse(
    account: &dyn ManagedAccount,
    channel: &dyn ReauthChannel,
    max_attempts: u32,
    started: &(dyn Fn(&AuthorizationRequest) -> Result<(), ReauthError> + Sync),
    watch: bool,
) -> Result<u32, ReauthError> {
    let key = account.key().clone();
    let max_attempts = max_attempts.max(1);
    // The login in progress, whoever started it (one URL per account).
    let begun = account.login_request().await?;
    let mut request = begun.request;
    started(&request)?;
    let mut note = begun.replaced.then(|| STALE_NOTE.to_owned());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let prompt = ReauthPrompt::from_request(&request, note.take());
        let reply = if watch {
            tokio::select! {
                reply = channel.ask(&prompt) => reply?,
                change = changed(account, &request.url) => match change {
                    Change::Done => {
                        say(channel, &key, &format!("✅ {key} was logged in another way; that login request is closed.")).await;
                        return Ok(0);
                    }
                    // A reminder replaced the stale request: the person
                    // gets the new URL (not counted as an answer).
                    Change::NewUrl => {
                        attempt -= 1;
                        request = account.login_request().await?.request;
                        started(&request)?;
                        note = Some(STALE_NOTE.to_owned());
                        continue;
                    }
                }
            }
        } else {
            channel.ask(&prompt).await?
        };
        let failure = match account.complete_authorization(&reply).await {
            Ok(()) => {
                say(
                    channel,
                    &key,
                    &format!("✅ {key} is authorized; tokens are live."),
                )
                .await;
                return Ok(attempt);
            }
            Err(e) => e,
        };
        note = Some(match &failure {
            // token-core already started a fresh request; ask with it.
            Error::AuthorizationExpired { .. } => {
                "⌛ That login request had expired. Here is a fresh one.".to_owned()
            }
            e if matches!(e.kind(), token_core::ErrorKind::Transient) => {
                format!("⚠️ Could not reach the broker ({e}). Please try again.")
            }
            e => format!("❌ That answer was not accepted ({e})."),
        });
        if attempt == max_attempts {
            say(
                channel,
                &key,
                &format!("❌ {key}: giving up after {max_attempts} answers."),
            )
            .await;
            return Err(ReauthError::GaveUp {
                attempts: max_attempts,
                last: Box::new(failure),
            });
        }
        request = account.begin_authorization().await?;
        started(&request)?;
    }
}

async fn say(channel: &dyn ReauthChannel, key: &AccountKey, message: &str) {
    if let Err(e) = channel.tell(key, message).await {
        tracing::warn!(account = %key, error = %e, "could not tell the person");
    }
}

/// How long after an unfinished conversation the person is asked again.
pub const REAUTH_RETRY: Duration = Duration::from_secs(300);

/// Runs [`reauthorize`] for every account whose login prompt falls due
/// (`LoginRequested`; and every account that already needs a login at
/// start), one conversation at a time; asks again later while the account
/// still needs a person.
#[derive(Clone)]
pub struct Reauthorizer {
    tx: mpsc::UnboundedSender<AccountKey>,
}

impl std::fmt::Debug for Reauthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reauthorizer")
    }
}

impl Reauthorizer {
    /// Starts the worker on the current tokio runtime. It ends when every
    /// clone of the returned handle is dropped.
    pub fn spawn(
        accounts: &[Arc<dyn ManagedAccount>],
        channel: Arc<dyn ReauthChannel>,
        max_attempts: u32,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        Self::spawn_with_retry(accounts, channel, max_attempts, REAUTH_RETRY)
    }

    /// Like [`Reauthorizer::spawn`], asking again `retry_after` a
    /// conversation ended without a login (no answer in time, the channel or
    /// the broker failed) while the account still needs a person.
    pub fn spawn_with_retry(
        accounts: &[Arc<dyn ManagedAccount>],
        channel: Arc<dyn ReauthChannel>,
        max_attempts: u32,
        retry_after: Duration,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<AccountKey>();
        // Weak, so the worker still ends when every handle is dropped.
        let retry_tx = tx.downgrade();
        let by_key: HashMap<AccountKey, Arc<dyn ManagedAccount>> = accounts
            .iter()
            .map(|a| (a.key().clone(), a.clone()))
            .collect();
        for a in accounts {
            if a.health().reauthorization_required {
                let _ = tx.send(a.key().clone());
            }
        }
        let task = tokio::spawn(async move {
            while let Some(key) = rx.recv().await {
                let Some(account) = by_key.get(&key) else {
                    continue;
                };
                // Queued twice, or someone else logged in meanwhile.
                if !account.health().reauthorization_required {
                    continue;
                }
                let outcome = converse(
                    account.as_ref(),
                    channel.as_ref(),
                    max_attempts,
                    &|_| Ok(()),
                    true,
                )
                .await;
                match outcome {
                    Ok(0) => {
                        tracing::info!(account = %key, "logged in another way; conversation closed")
                    }
                    Ok(n) => {
                        tracing::info!(account = %key, answers = n, "re-authorized by a person")
                    }
                    Err(e) => {
                        tracing::warn!(account = %key, error = %e, "re-authorization did not finish; asking again in {retry_after:?}");
                        let retry = retry_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(retry_after).await;
                            if let Some(tx) = retry.upgrade() {
                                let _ = tx.send(key);
                            }
                        });
                    }
                }
            }
        });
        (Self { tx }, task)
    }

    /// Feeds one event (only the first `LoginRequested` of a login window
    /// matters: the person is asked when the window opens, not when the
    /// token dies; the conversation itself asks again). Never waits.
    pub fn handle(&self, event: &Event) {
        if let Event::LoginRequested {
            key, reminder: 0, ..
        } = event
        {
            let _ = self.tx.send(key.clone());
        }
    }
}

/// Said with a new URL when the one sent before went stale.
const STALE_NOTE: &str =
    "⌛ The login URL sent earlier expired and no longer works. Here is a new one.";

/// What changed while a person was asked.
enum Change {
    /// The account no longer needs a person: logged in another way, or
    /// another process's login was adopted.
    Done,
    /// The login in progress is another one than `url` (a reminder replaced
    /// a stale request).
    NewUrl,
}

/// Returns when the account no longer needs a person or its login in
/// progress is no longer `url`: checked at every event of the account and
/// at least once a second.
async fn changed(account: &dyn ManagedAccount, url: &str) -> Change {
    let mut events = account.subscribe();
    loop {
        let h = account.health();
        if !h.reauthorization_required {
            return Change::Done;
        }
        if h.reauthorization_url.as_deref().is_some_and(|u| u != url) {
            return Change::NewUrl;
        }
        match tokio::time::timeout(Duration::from_secs(1), events.recv()).await {
            Err(_) | Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            // The account is gone: nothing will change any more.
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                std::future::pending::<()>().await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::TimeZone;
    use token_core::testing::FakeProvider;
    use token_core::{Environment, ManualClock, TokenManager};

    use super::*;

    /// Answers every prompt with `answer`, counting prompts.
    struct Fixed {
        answer: &'static str,
        asked: Mutex<u32>,
    }

    #[async_trait]
    impl ReauthChannel for Fixed {
        async fn ask(&self, _: &ReauthPrompt) -> Result<SecretString, ReauthError> {
            *self.asked.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            Ok(SecretString::from(self.answer))
        }
        async fn tell(&self, _: &AccountKey, _: &str) -> Result<(), ReauthError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_request_is_shown_first_and_the_last_refusal_is_kept() {
        let at = Utc.with_ymd_and_hms(2026, 6, 1, 13, 0, 0).unwrap();
        let clock: Arc<dyn token_core::Clock> = Arc::new(ManualClock::new(at));
        let provider = Arc::new(FakeProvider::new(clock.clone()));
        let key = AccountKey::new("fake", Environment::Sandbox, "a").unwrap();
        let manager = TokenManager::builder(key, provider).clock(clock).build();
        let seen = Mutex::new(Vec::new());
        let keep = |r: &AuthorizationRequest| {
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(r.url.clone());
            Ok(())
        };
        // An empty answer is refused by the fake broker.
        let refused = Fixed {
            answer: "",
            asked: Mutex::new(0),
        };
        let err = reauthorize_with(&manager, &refused, 2, &keep)
            .await
            .unwrap_err();
        match &err {
            ReauthError::GaveUp { attempts: 2, last } => {
                assert!(matches!(**last, Error::Rejected { .. }), "{last:?}")
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("empty verifier"), "{err}");
        // One request shown per answer, none started after the last one.
        let urls = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert_eq!(*refused.asked.lock().unwrap_or_else(|p| p.into_inner()), 2);
        // A hook that fails ends the login before anyone is asked.
        let accepted = Fixed {
            answer: "S3cr3t-Zq9vKx-code",
            asked: Mutex::new(0),
        };
        let fail = |_: &AuthorizationRequest| Err(ReauthError::Channel("disk full".into()));
        let err = reauthorize_with(&manager, &accepted, 1, &fail)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "re-authorization channel failed: disk full"
        );
        assert_eq!(*accepted.asked.lock().unwrap_or_else(|p| p.into_inner()), 0);
        assert_eq!(reauthorize(&manager, &accepted, 1).await.unwrap(), 1);
    }
}
