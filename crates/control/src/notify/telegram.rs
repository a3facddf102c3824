//! Alerts to a Telegram chat through the Bot API's `sendMessage`.

use async_trait::async_trait;

use super::{Alert, AlertKind, Notifier, NotifyError};
use crate::telegram::TelegramBot;

/// Sends each alert as a plain-text message to one chat.
#[derive(Debug, Clone)]
pub struct TelegramNotifier {
    bot: TelegramBot,
    chat_id: i64,
    skip_reauth: bool,
}

impl TelegramNotifier {
    /// Alerts go to `chat_id` through `bot`.
    pub fn new(bot: TelegramBot, chat_id: i64) -> Self {
        Self {
            bot,
            chat_id,
            skip_reauth: false,
        }
    }

    /// Leave re-authorization alerts to a Telegram re-authorization channel
    /// on the same chat, so the person gets one message, not two.
    pub fn skip_reauthorization(mut self, skip: bool) -> Self {
        self.skip_reauth = skip;
        self
    }
}

#[async_trait]
impl Notifier for TelegramNotifier {
    fn name(&self) -> &str {
        "telegram"
    }

    fn accepts(&self, kind: AlertKind) -> bool {
        !(self.skip_reauth && kind == AlertKind::ReauthorizationRequired)
    }

    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        self.bot.send_message(self.chat_id, &alert.text()).await?;
        Ok(())
    }
}
