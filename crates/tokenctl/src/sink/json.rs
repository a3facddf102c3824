//! The JSON sink: one versioned document per account (schema in the
//! tokenctl README), replaced atomically, 0600.

use std::path::Path;

use super::{SinkError, Snapshot};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Map, Value};
use token_core::store::{read_private_file, write_private_file};

/// The version of the JSON sink's layout; bumped on any incompatible change.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Writes the document; true when the file changed.
pub(super) fn write(
    path: &Path,
    values: &[(String, &SecretString)],
    snap: &Snapshot,
) -> Result<bool, SinkError> {
    let file_err = |source| SinkError::File {
        path: path.display().to_string(),
        source,
    };
    let text = render(values, snap);
    let old = read_private_file(path).map_err(file_err)?;
    if old.as_deref() == Some(text.as_bytes()) {
        return Ok(false);
    }
    write_private_file(path, text.as_bytes()).map_err(file_err)?;
    Ok(true)
}

/// The person action an account needs, as the JSON sink and the proxy's
/// `503` show it: `null`, or `{ "action": "login", "required_now", "due_at",
/// "reason", "url" }`. The one place this is decided.
pub fn next_action(h: &token_core::AccountHealth) -> Value {
    if h.reauthorization_required || h.reauthorize_by.is_some() {
        json!({
            "action": "login",
            "required_now": h.reauthorization_required,
            "due_at": rfc3339(h.reauthorize_by.or(h.next_action_at)),
            "reason": h.reauthorization_reason,
            "url": h.reauthorization_url,
        })
    } else {
        Value::Null
    }
}

/// [`next_action`] for an account whose token cannot be used now (the
/// proxy's `503`): a login required now, with `reason`, even before the
/// account's maintenance has raised it.
pub fn next_action_now(h: &token_core::AccountHealth, reason: &str) -> Value {
    let mut h = h.clone();
    h.reauthorization_required = true;
    h.reauthorization_reason
        .get_or_insert_with(|| reason.to_owned());
    next_action(&h)
}

fn rfc3339(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    match t {
        Some(t) => Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        None => Value::Null,
    }
}

fn render(values: &[(String, &SecretString)], snap: &Snapshot) -> String {
    let h = &snap.health;
    let time = rfc3339;
    let mut doc = Map::new();
    doc.insert("schema_version".into(), json!(JSON_SCHEMA_VERSION));
    doc.insert("account".into(), json!(h.key.to_string()));
    doc.insert("broker".into(), json!(h.key.broker()));
    let tokens: Map<String, Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.expose_secret().to_owned())))
        .collect();
    doc.insert(
        "tokens".into(),
        if tokens.is_empty() {
            Value::Null
        } else {
            Value::Object(tokens)
        },
    );
    let state = if snap.expired() {
        json!("expired")
    } else {
        h.state.map_or(Value::Null, |s| {
            serde_json::to_value(s).unwrap_or(Value::Null)
        })
    };
    doc.insert("state".into(), state);
    doc.insert("issued_at".into(), time(h.issued_at));
    doc.insert("last_used".into(), time(h.last_used));
    doc.insert("expires_at".into(), time(h.expires_at));
    doc.insert("idle_at".into(), time(h.idle_at));
    doc.insert("refresh_expires_at".into(), time(h.refresh_expires_at));
    doc.insert("next_action".into(), next_action(h));
    let mut text = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
    text.push('\n');
    text
}
