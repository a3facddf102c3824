//! What the manager remembers besides the credentials, in named parts: each
//! concern's file reads and writes its own part; health reads them all.
//!
//! | part            | written by          |
//! |-----------------|---------------------|
//! | `failures`      | `escalation.rs`     |
//! | `reauth`        | `escalation.rs`     |
//! | `saving`        | `persistence.rs`    |
//! | `authorization` | `authorization.rs`  |
//! | `warnings`      | `maintenance.rs`    |
//! | `counters`      | `renewal.rs`, `keep_alive.rs` |
//! | `login`         | `person.rs`         |
//! | `check`         | `check.rs`          |
//!
//! `trouble` spans them: it is how a `Recovered` event is decided once
//! every part is clear again.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::health::LastError;
use crate::record::StoredRecord;
use crate::remedy::Remedy;

/// Everything behind health reports and the maintenance decisions.
#[derive(Default)]
pub(super) struct Status {
    pub(super) failures: Failures,
    pub(super) reauth: Option<Reauth>,
    pub(super) saving: Saving,
    pub(super) authorization: Authorization,
    pub(super) warnings: Warnings,
    pub(super) counters: Counters,
    pub(super) trouble: Trouble,
    /// When maintenance will next act (for health reports).
    pub(super) next_action_at: Option<DateTime<Utc>>,
    /// Maintenance renewed an idle token and no probe has confirmed the
    /// renewal yet (`keep_alive.rs`: the next probe verifies it).
    pub(super) revival_unverified: bool,
    /// Asking a person to log in (`person.rs`).
    pub(super) login: LoginPrompt,
    /// The pre-market check (`check.rs`).
    pub(super) check: Check,
}

/// The pre-market check: when it is next due and what the last one found.
#[derive(Default, Debug, Clone)]
pub(super) struct Check {
    /// The next check (or retry of a failing one).
    pub(super) next_at: Option<DateTime<Utc>>,
    /// When the last check ran, and whether the broker accepted the token.
    pub(super) last_checked: Option<DateTime<Utc>>,
    pub(super) last_ok: Option<bool>,
    /// A failing check is retried until then.
    pub(super) retry_until: Option<DateTime<Utc>>,
    /// A check failed until the open: critical until a call succeeds.
    pub(super) failed: bool,
}

/// The login prompt under way while a person must log in: the window it
/// belongs to, the reminders given, and whether a window was missed.
#[derive(Default, Debug, Clone)]
pub(super) struct LoginPrompt {
    /// The planned prompt: (first prompt at, window closes at).
    pub(super) window: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// Prompts given in this window.
    pub(super) sent: u32,
    /// When the next prompt is due (`None`: none left in this window).
    pub(super) next_at: Option<DateTime<Utc>>,
    /// A window closed unanswered since the last login.
    pub(super) missed: bool,
}

/// Renewal and keep-alive failures, and the backoff gate they set.
#[derive(Default)]
pub(super) struct Failures {
    /// Failures since the last success.
    pub(super) consecutive: u32,
    /// Do not retry renewals/keep-alives before this (backoff).
    pub(super) retry_at: Option<DateTime<Utc>>,
}

/// A raised "a person must act" condition: log in (`remedy` is
/// [`Remedy::LogIn`]) or fix a setting or the PIN.
#[derive(Debug, Clone)]
pub(super) struct Reauth {
    pub(super) reason: String,
    pub(super) url: Option<String>,
    /// What the person must do.
    pub(super) remedy: Remedy,
    /// The broker's refusal of a setting or the PIN, answered to callers
    /// while it stands (`None` for a login).
    pub(super) refused_with: Option<Error>,
    /// The broker refused the credentials: no silent renewal until a person acts.
    pub(super) rejected: bool,
}

/// A record the store refused, kept in memory and retried.
#[derive(Default)]
pub(super) struct Saving {
    pub(super) unsaved: Option<StoredRecord>,
    /// Failed saves since the last good one.
    pub(super) failures: u32,
    pub(super) retry_at: Option<DateTime<Utc>>,
}

/// Whether the credentials were revoked (the interactive authorization
/// under way lives in the manager's shared `PendingLogins`).
#[derive(Default)]
pub(super) struct Authorization {
    /// Revoked at the broker: do not reload from the store until new
    /// credentials are authorized.
    pub(super) revoked: bool,
}

/// Warnings already given, so each is given once.
#[derive(Default)]
pub(super) struct Warnings {
    /// The deadline we already warned about, and the shortest lead
    /// warned for it so far.
    pub(super) warned: Option<(DateTime<Utc>, chrono::Duration)>,
    /// `Expired` was emitted for the credentials held.
    pub(super) expired_reported: bool,
    /// The configured notices (by index) already raised as events.
    pub(super) notices_raised: Vec<usize>,
}

/// Work done by this process.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) renewals: u64,
    pub(super) keepalives: u64,
}

/// The last error and whether a troubled spell is under way.
#[derive(Default)]
pub(super) struct Trouble {
    pub(super) last_error: Option<LastError>,
    /// Something went wrong since the last `Recovered`.
    pub(super) troubled: bool,
}

impl Trouble {
    /// Records `error` as the last one and starts (or continues) a spell.
    pub(super) fn note(&mut self, at: DateTime<Utc>, error: &Error) {
        self.troubled = true;
        self.last_error = Some(LastError {
            kind: error.kind(),
            message: error.to_string(),
            at,
        });
    }
}

impl Status {
    /// New credentials were installed: `Expired` may be reported for them.
    pub(super) fn on_install(&mut self) {
        self.warnings.expired_reported = false;
    }

    /// A renewal or keep-alive failed.
    pub(super) fn failed(&mut self, at: DateTime<Utc>, error: &Error) {
        self.failures.consecutive += 1;
        self.trouble.note(at, error);
    }

    /// New working credentials (a login, or a newer record from another
    /// process): the old ones' failures, retry gate and re-authorization
    /// request no longer apply. True if that ends a troubled spell.
    pub(super) fn new_credentials(&mut self) -> bool {
        self.reauth = None;
        self.login = LoginPrompt::default();
        self.revival_unverified = false;
        self.succeeded()
    }

    /// A renewal or keep-alive succeeded; true if that ends a troubled spell.
    pub(super) fn succeeded(&mut self) -> bool {
        self.failures = Failures::default();
        self.check.failed = false;
        self.take_recovery()
    }

    /// The store accepted a save; true if that ends a troubled spell.
    pub(super) fn store_ok(&mut self) -> bool {
        self.saving = Saving::default();
        self.take_recovery()
    }

    /// True (once) when nothing is failing any more after trouble.
    fn take_recovery(&mut self) -> bool {
        let clear = self.failures.consecutive == 0
            && self.saving.unsaved.is_none()
            && self.reauth.is_none();
        if clear {
            self.trouble.last_error = None;
        }
        if self.trouble.troubled && clear {
            self.trouble.troubled = false;
            true
        } else {
            false
        }
    }
}
