//! Alerts as `tracing` records.

use async_trait::async_trait;

use super::{Alert, AlertKind, Notifier, NotifyError};

/// Writes alerts to the log: `warn` for problems, `info` for recoveries.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    fn name(&self) -> &str {
        "log"
    }

    async fn notify(&self, alert: &Alert) -> Result<(), NotifyError> {
        let account = alert.account.to_string();
        match alert.kind {
            AlertKind::Recovered => {
                tracing::info!(account, kind = ?alert.kind, url = ?alert.url, "{}", alert.message)
            }
            _ => tracing::warn!(account, kind = ?alert.kind, url = ?alert.url, "{}", alert.message),
        }
        Ok(())
    }
}
