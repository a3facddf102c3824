//! `[[account.sink]]`: files `tokenctl run` keeps up to date with an
//! account's token, for bots that are not written in Rust.
//!
//! ```toml
//! [[account.sink]]
//! kind = "dotenv"                      # or "json"
//! path = "bot/.env"                    # relative to the config file
//! vars = { access_token = "FYERS_ACCESS_TOKEN" }   # dotenv: field = variable (default: the broker's names)
//! on_expiry = "remove"                 # or "keep" (the JSON sink's state says "expired")
//! on_change = ["systemctl", "--user", "reload", "bot"]   # argv, no shell
//! on_change_timeout_secs = 10
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// What a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Named variables in a `.env` file; other lines untouched.
    Dotenv,
    /// One JSON document (see the tokenctl README for its schema).
    Json,
}

/// What a sink does once the token has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExpiry {
    /// Remove the token: the dotenv variables are deleted, the JSON token
    /// fields become null (its `state` says `expired`).
    #[default]
    Remove,
    /// Keep the last token; the JSON `state` says `expired`.
    Keep,
}

/// One configured sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSpec {
    /// What it writes.
    pub kind: SinkKind,
    /// The file (absolute).
    pub path: PathBuf,
    /// Token field → variable name (dotenv) or JSON key; empty: the
    /// broker's defaults.
    pub vars: BTreeMap<String, String>,
    /// What happens at expiry.
    pub on_expiry: OnExpiry,
    /// Run after each write (argv, no shell).
    pub on_change: Option<Vec<String>>,
    /// How long `on_change` may run before it is killed.
    pub on_change_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    kind: SinkKind,
    path: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    on_expiry: OnExpiry,
    on_change: Option<Vec<String>>,
    on_change_timeout_secs: Option<u64>,
}

impl RawSink {
    pub(super) fn resolve(self, base: &Path) -> Result<SinkSpec, String> {
        if let Some(argv) = &self.on_change {
            if argv.first().is_none_or(|p| p.is_empty()) {
                return Err("on_change must be a non-empty argv array, e.g. [\"/usr/bin/systemctl\", \"reload\", \"bot\"]".into());
            }
        }
        for var in self.vars.values() {
            let ok = !var.is_empty()
                && !var.starts_with(|c: char| c.is_ascii_digit())
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(format!(
                    "sink variable {var:?} is not a valid name (letters, digits and _, not starting with a digit)"
                ));
            }
        }
        Ok(SinkSpec {
            kind: self.kind,
            path: base.join(self.path),
            vars: self.vars,
            on_expiry: self.on_expiry,
            on_change: self.on_change,
            on_change_timeout: Duration::from_secs(self.on_change_timeout_secs.unwrap_or(10)),
        })
    }
}
