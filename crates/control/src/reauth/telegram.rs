//! Re-authorization from a phone over Telegram.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use token_core::AccountKey;
use tokio::sync::Mutex;

use super::{ReauthChannel, ReauthError, ReauthPrompt};
use crate::telegram::TelegramBot;

/// Sends the login URL to one chat and takes the next text message from
/// that same chat as the answer.
///
/// - Messages from any other chat are ignored (and logged without content).
/// - Messages that arrived before the prompt was sent are skipped, so an
///   old paste is never replayed; each answer is consumed once (the
///   `getUpdates` offset moves past it).
/// - One conversation at a time.
pub struct TelegramChannel {
    bot: TelegramBot,
    chat_id: i64,
    poll: Duration,
    timeout: Duration,
    offset: Mutex<Option<i64>>,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("chat_id", &self.chat_id)
            .finish_non_exhaustive()
    }
}

impl TelegramChannel {
    /// Talks to `chat_id` through `bot`, long-polling `poll` at a time and
    /// giving up on an answer after `timeout`.
    pub fn new(bot: TelegramBot, chat_id: i64, poll: Duration, timeout: Duration) -> Self {
        Self {
            bot,
            chat_id,
            poll,
            timeout,
            offset: Mutex::new(None),
        }
    }

    async fn skip_backlog(&self, offset: &mut Option<i64>) -> Result<(), ReauthError> {
        loop {
            let updates = self
                .bot
                .get_updates(*offset, Duration::ZERO)
                .await
                .map_err(|e| ReauthError::Channel(e.to_string()))?;
            let Some(last) = updates.last() else {
                return Ok(());
            };
            *offset = Some(last.update_id + 1);
        }
    }

    async fn wait_for_answer(&self, offset: &mut Option<i64>) -> SecretString {
        let mut backoff = Duration::from_millis(200);
        loop {
            let updates = match self.bot.get_updates(*offset, self.poll).await {
                Ok(u) => {
                    backoff = Duration::from_millis(200);
                    u
                }
                Err(e) => {
                    tracing::warn!(error = %e, "telegram getUpdates failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            for update in updates {
                *offset = Some(update.update_id + 1);
                let Some(message) = update.message else {
                    continue;
                };
                if message.chat.id != self.chat_id {
                    tracing::warn!(
                        chat = message.chat.id,
                        "ignored a message from another chat"
                    );
                    continue;
                }
                if let Some(text) = message.text.as_deref().map(str::trim) {
                    if !text.is_empty() {
                        return SecretString::from(text.to_string());
                    }
                }
            }
        }
    }
}

#[async_trait]
impl ReauthChannel for TelegramChannel {
    async fn ask(&self, prompt: &ReauthPrompt) -> Result<SecretString, ReauthError> {
        let mut offset = self.offset.lock().await;
        self.skip_backlog(&mut offset).await?;
        self.bot
            .send_message(self.chat_id, &prompt.text())
            .await
            .map_err(|e| ReauthError::Channel(e.to_string()))?;
        tokio::time::timeout(self.timeout, self.wait_for_answer(&mut offset))
            .await
            .map_err(|_| ReauthError::Timeout(self.timeout))
    }

    async fn tell(&self, _account: &AccountKey, message: &str) -> Result<(), ReauthError> {
        self.bot
            .send_message(self.chat_id, message)
            .await
            .map(|_| ())
            .map_err(|e| ReauthError::Channel(e.to_string()))
    }
}
