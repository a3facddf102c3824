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
/// `503` show it: `null`, or `{ "action", "required_now", "due_at",
/// "asked_at", "window_closes", "reason", "url" }` (plus `"setting"` for a
/// setting to fix). `action` is `"login"`, `"fix_config"` or `"fix_pin"`
/// ([`token_core::Remedy`]); `asked_at` is when the person is (or was)
/// asked: the login window on the exchange's next trading day. The one
/// place this is decided.
pub fn next_action(h: &token_core::AccountHealth) -> Value {
    use token_core::Remedy;
    // Waiting out an outage is not a person's action.
    let raised = h
        .remedy
        .clone()
        .filter(|r| !matches!(r, Remedy::Wait { .. }));
    let person = h.next_person_action.as_ref();
    if raised.is_none()
        && !h.reauthorization_required
        && h.reauthorize_by.is_none()
        && person.is_none()
    {
        return Value::Null;
    }
    let remedy = raised
        .clone()
        .or_else(|| h.reauthorization_required.then_some(Remedy::LogIn))
        .or_else(|| person.map(|p| p.remedy.clone()))
        .unwrap_or(Remedy::LogIn);
    let mut action = json!({
        "action": if remedy.needs_login() { "login" } else { remedy.code() },
        "required_now": h.reauthorization_required || raised.is_some(),
        "due_at": rfc3339(h.reauthorize_by.or(h.next_action_at)),
        "asked_at": rfc3339(person.map(|p| p.at)),
        "window_closes": rfc3339(person.and_then(|p| p.window_closes)),
        "reason": h.reauthorization_reason.clone().or_else(|| h.remedy_reason.clone()),
        "url": h.reauthorization_url,
    });
    if let Remedy::FixConfig { setting } = &remedy {
        action["setting"] = json!(setting);
    }
    action
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

#[cfg(test)]
mod tests {
    use token_core::testing::{account_health, utc};
    use token_core::{PersonAction, Remedy};

    use super::next_action;

    #[test]
    fn the_next_action_names_the_remedy_and_when_the_person_is_asked() {
        let now = utc(2026, 12, 1, 18, 0);
        let mut h = account_health("etrade/sandbox/main".parse().unwrap(), now);
        assert!(next_action(&h).is_null(), "nothing to do");
        // Healthy, but a login is coming: asked at tomorrow's window.
        h.reauthorize_by = Some(utc(2026, 12, 2, 5, 0));
        h.next_person_action = Some(PersonAction {
            remedy: Remedy::LogIn,
            at: utc(2026, 12, 2, 13, 0),
            window_closes: Some(utc(2026, 12, 2, 14, 20)),
            zone: Some("America/New_York".into()),
        });
        let a = next_action(&h);
        assert_eq!(a["action"], "login");
        assert_eq!(a["required_now"], false);
        assert_eq!(a["due_at"], "2026-12-02T05:00:00Z");
        assert_eq!(a["asked_at"], "2026-12-02T13:00:00Z");
        assert_eq!(a["window_closes"], "2026-12-02T14:20:00Z");
        // A refused setting: fix it, now, and which one.
        h.remedy = Some(Remedy::FixConfig {
            setting: "consumer_secret".into(),
        });
        h.remedy_reason = Some("E*TRADE refused the signature".into());
        let a = next_action(&h);
        assert_eq!(a["action"], "fix_config");
        assert_eq!(a["setting"], "consumer_secret");
        assert_eq!(a["required_now"], true);
        assert_eq!(a["reason"], "E*TRADE refused the signature");
        // Waiting out an outage is no person's action.
        let mut w = account_health("etrade/sandbox/main".parse().unwrap(), now);
        w.remedy = Some(Remedy::Wait { until: None });
        assert!(next_action(&w).is_null());
    }
}
