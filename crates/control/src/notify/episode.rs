//! One account's alert episode: what has been said from its first problem
//! to its recovery, so each problem is sent once and "recovered" only
//! resolves what was sent.

use chrono::{DateTime, Utc};
use tokio::task::AbortHandle;

use super::AlertKind;

/// What has been said about one account in the current episode (from the
/// first problem to recovery).
#[derive(Debug, Default)]
pub(super) struct Episode {
    pub(super) reauth: bool,
    /// A fix-the-setting / fix-the-PIN alert was sent.
    pub(super) action: bool,
    pub(super) failures: bool,
    pub(super) store: bool,
    pub(super) consecutive: u32,
    /// The last expiry warning sent: its deadline and time (a manager
    /// warns once per lead, e.g. a day and two hours ahead).
    pub(super) warned: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// A recovery waiting out the quiet period before "recovered" is sent.
    pub(super) recovering: Option<Recovering>,
}

#[derive(Debug)]
pub(super) struct Recovering {
    /// Tells this recovery's timer from an older, cancelled one.
    pub(super) id: u64,
    /// When the account recovered (the alert's time).
    pub(super) at: DateTime<Utc>,
    /// A person logged in (rather than the broker coming back).
    pub(super) by_person: bool,
    pub(super) timer: Option<AbortHandle>,
}

impl Episode {
    /// The problem is back: the pending "recovered" is not sent. Returns
    /// the cancelled recovery's `by_person`.
    pub(super) fn relapse(&mut self) -> bool {
        let Some(r) = self.recovering.take() else {
            return false;
        };
        if let Some(t) = r.timer {
            t.abort();
        }
        r.by_person
    }

    /// The alerts sent in this episode, which a recovery resolves.
    pub(super) fn sent(&self) -> Vec<AlertKind> {
        [
            (self.reauth, AlertKind::ReauthorizationRequired),
            (self.action, AlertKind::PersonActionRequired),
            (self.failures, AlertKind::RenewalFailures),
            (self.store, AlertKind::StoreFailure),
        ]
        .into_iter()
        .filter_map(|(sent, kind)| sent.then_some(kind))
        .collect()
    }

    /// Ends the episode (keeps the expiry warning, which has its own deadline).
    pub(super) fn close(&mut self) {
        self.relapse();
        *self = Episode {
            warned: self.warned,
            ..Episode::default()
        };
    }
}
