//! A login redirect (FYERS) caught on 127.0.0.1 by
//! [`token_core::loopback::LoopbackListener`].

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use token_core::loopback::{ListenerError, LoopbackListener};
use token_core::{AccountKey, Expects};
use tokio::sync::Mutex;

use super::{ReauthChannel, ReauthError, ReauthPrompt};

type Show = Box<dyn Fn(&str) + Send + Sync>;

/// Shows the login URL through `show` (print it, send it, open a browser)
/// and captures the browser's redirect to the registered loopback
/// `redirect_uri`. Only for logins that end in a redirect (FYERS).
pub struct LoopbackChannel {
    redirect_uri: String,
    bound: Mutex<Option<LoopbackListener>>,
    timeout: Duration,
    show: Show,
}

impl std::fmt::Debug for LoopbackChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackChannel")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl LoopbackChannel {
    /// Binds the redirect URI's port for each login; waits up to `timeout`.
    pub fn new(
        redirect_uri: impl Into<String>,
        timeout: Duration,
        show: impl Fn(&str) + Send + Sync + 'static,
    ) -> Self {
        Self {
            redirect_uri: redirect_uri.into(),
            bound: Mutex::new(None),
            timeout,
            show: Box::new(show),
        }
    }

    /// Uses `listener` for the first login (e.g. one bound on port 0 in tests).
    pub fn with_listener(self, listener: LoopbackListener) -> Self {
        Self {
            bound: Mutex::new(Some(listener)),
            ..self
        }
    }
}

#[async_trait]
impl ReauthChannel for LoopbackChannel {
    async fn ask(&self, prompt: &ReauthPrompt) -> Result<SecretString, ReauthError> {
        if prompt.expects != Expects::RedirectUrl {
            return Err(ReauthError::Unsupported(prompt.expects));
        }
        let mut bound = self.bound.lock().await;
        let listener = match bound.take() {
            Some(l) => l,
            None => LoopbackListener::bind(&self.redirect_uri)
                .await
                .map_err(|e| ReauthError::Channel(e.to_string()))?,
        };
        (self.show)(&prompt.text());
        listener
            .capture_login(&prompt.url, self.timeout)
            .await
            .map_err(|e| match e {
                ListenerError::Timeout(t) => ReauthError::Timeout(t),
                other => ReauthError::Channel(other.to_string()),
            })
    }

    async fn tell(&self, _account: &AccountKey, message: &str) -> Result<(), ReauthError> {
        (self.show)(message);
        Ok(())
    }
}
