//! What a store holds for one account: the broker's secret payload plus the
//! metadata every policy needs.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::StoreError;
use crate::key::AccountKey;

/// The record schema version this library reads and writes. Stores reject
/// records of any other version instead of guessing (and never overwrite them).
pub const SCHEMA_VERSION: u32 = 1;

/// Timestamps a policy needs to decide a token's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// When the broker issued the credentials (login or re-mint).
    pub issued_at: DateTime<Utc>,
    /// When the credentials were last renewed silently, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewed_at: Option<DateTime<Utc>>,
    /// When the credentials were last used for a broker call, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<DateTime<Utc>>,
    /// Hard expiry of the access credentials when the broker tells us (e.g. a JWT `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Until when a silent renewal is possible (e.g. the refresh token's `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<DateTime<Utc>>,
}

impl Metadata {
    /// Metadata for credentials issued at `issued_at`, nothing else known.
    pub fn issued(issued_at: DateTime<Utc>) -> Self {
        Self {
            issued_at,
            renewed_at: None,
            last_used: None,
            expires_at: None,
            refresh_expires_at: None,
        }
    }

    /// The last moment the broker saw activity on these credentials: the
    /// latest of issue, renewal and use. Idle timeouts count from here.
    pub fn last_activity(&self) -> DateTime<Utc> {
        [self.renewed_at, self.last_used]
            .into_iter()
            .flatten()
            .fold(self.issued_at, DateTime::max)
    }
}

/// A payload type: the adapter's credentials, with secrets as
/// [`SecretString`] (serialized with [`serde_secret`]).
///
/// It must serialize to a flat JSON object of strings (optional fields may be
/// `None`/absent), so that every store, including `.env` files, can hold it.
pub trait Payload:
    Serialize + DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static
{
}
impl<T> Payload for T where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static
{
}

/// One account's credentials and metadata.
///
/// `Debug` shows the key and metadata and delegates to the payload's `Debug`,
/// which for secrecy types prints `[REDACTED]`.
#[derive(Clone, Serialize, Deserialize)]
pub struct Record<P> {
    /// The format version; see [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Which account.
    pub key: AccountKey,
    /// Timestamps.
    pub meta: Metadata,
    /// The broker-specific credentials.
    pub payload: P,
}

impl<P: fmt::Debug> fmt::Debug for Record<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("schema_version", &self.schema_version)
            .field("key", &self.key)
            .field("meta", &self.meta)
            .field("payload", &self.payload)
            .finish()
    }
}

/// The form every store persists: a record whose payload is a flat map of
/// named secret strings.
pub type StoredRecord = Record<SecretFields>;

impl<P: Payload> Record<P> {
    /// A record at the current schema version.
    pub fn new(key: AccountKey, meta: Metadata, payload: P) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            key,
            meta,
            payload,
        }
    }

    /// Converts to the store's form.
    pub fn to_stored(&self) -> Result<StoredRecord, StoreError> {
        Ok(Record {
            schema_version: self.schema_version,
            key: self.key.clone(),
            meta: self.meta.clone(),
            payload: SecretFields::from_payload(&self.payload)?,
        })
    }

    /// Converts from the store's form, checking the schema version.
    pub fn from_stored(stored: StoredRecord) -> Result<Self, StoreError> {
        let location = stored.key.to_string();
        check_version(&location, stored.schema_version)?;
        Ok(Record {
            schema_version: stored.schema_version,
            payload: stored.payload.to_payload(&location)?,
            key: stored.key,
            meta: stored.meta,
        })
    }
}

/// Parses stored JSON (a record file, a Redis value, `.env` metadata),
/// checking `schema_version` before the full structure so a newer format is
/// reported as such rather than as corruption. Errors never echo content.
pub fn parse_versioned<T: DeserializeOwned>(location: &str, bytes: &[u8]) -> Result<T, StoreError> {
    #[derive(Deserialize)]
    struct Version {
        schema_version: u32,
    }
    let v: Version =
        serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt_json(location, &e))?;
    check_version(location, v.schema_version)?;
    serde_json::from_slice(bytes).map_err(|e| StoreError::corrupt_json(location, &e))
}

/// Fails with [`StoreError::UnsupportedVersion`] unless `found` is [`SCHEMA_VERSION`].
pub fn check_version(location: &str, found: u32) -> Result<(), StoreError> {
    if found == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(StoreError::UnsupportedVersion {
            location: location.to_string(),
            found,
            supported: SCHEMA_VERSION,
        })
    }
}

/// A flat map of named secrets: the payload as stores see it.
///
/// `Debug` lists the field names only.
#[derive(Clone, Default)]
pub struct SecretFields(BTreeMap<String, SecretString>);

impl SecretFields {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a field.
    pub fn insert(&mut self, name: impl Into<String>, value: SecretString) {
        self.0.insert(name.into(), value);
    }

    /// Reads a field.
    pub fn get(&self, name: &str) -> Option<&SecretString> {
        self.0.get(name)
    }

    /// Field names and values, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretString)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Flattens a payload into named strings.
    pub fn from_payload<P: Serialize>(payload: &P) -> Result<Self, StoreError> {
        let value = serde_json::to_value(payload)
            .map_err(|e| StoreError::Payload(format!("cannot serialize: {}", e.classify_name())))?;
        let serde_json::Value::Object(map) = value else {
            return Err(StoreError::Payload(
                "payload must serialize to an object".into(),
            ));
        };
        let mut fields = SecretFields::new();
        for (name, value) in map {
            match value {
                serde_json::Value::String(s) => fields.insert(name, SecretString::from(s)),
                serde_json::Value::Null => {}
                _ => {
                    return Err(StoreError::Payload(format!(
                        "field {name:?} must be a string"
                    )))
                }
            }
        }
        Ok(fields)
    }

    /// Rebuilds a typed payload.
    pub fn to_payload<P: DeserializeOwned>(&self, location: &str) -> Result<P, StoreError> {
        let map = self
            .0
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    serde_json::Value::String(v.expose_secret().to_owned()),
                )
            })
            .collect::<serde_json::Map<_, _>>();
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| StoreError::corrupt_json(location, &e))
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}
impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        }
    }
}

impl fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

impl PartialEq for SecretFields {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|((ka, va), (kb, vb))| ka == kb && va.expose_secret() == vb.expose_secret())
    }
}

impl Serialize for SecretFields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v.expose_secret())))
    }
}

impl<'de> Deserialize<'de> for SecretFields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(SecretFields(
            map.into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        ))
    }
}

/// `#[serde(with = "token_core::serde_secret")]` for [`SecretString`] fields
/// of a payload: persists the plain value (stores need it) while `Debug`
/// keeps redacting it.
///
/// ```
/// use secrecy::{ExposeSecret, SecretString};
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Creds {
///     #[serde(with = "token_core::serde_secret")]
///     access_token: SecretString,
/// }
/// let c: Creds = serde_json::from_str(r#"{"access_token":"abc"}"#).unwrap();
/// assert_eq!(c.access_token.expose_secret(), "abc");
/// assert!(!format!("{c:?}").contains("abc"));
/// ```
pub mod serde_secret {
    use secrecy::{ExposeSecret, SecretString};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the exposed value.
    pub fn serialize<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.expose_secret())
    }

    /// Reads a string into a secret.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        String::deserialize(d).map(SecretString::from)
    }

    /// The same for `Option<SecretString>` (use with `#[serde(default)]`).
    pub mod option {
        use super::*;

        /// Writes the exposed value or `null`.
        pub fn serialize<S: Serializer>(
            value: &Option<SecretString>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.serialize_some(v.expose_secret()),
                None => s.serialize_none(),
            }
        }

        /// Reads an optional string into a secret.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<SecretString>, D::Error> {
            Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Environment;
    use chrono::TimeZone;

    #[derive(Clone, Debug, Serialize, Deserialize)]
    struct Creds {
        #[serde(with = "serde_secret")]
        token: SecretString,
        #[serde(default, with = "serde_secret::option")]
        refresh: Option<SecretString>,
    }

    fn key() -> AccountKey {
        AccountKey::new("fyers", Environment::Production, "main").unwrap()
    }

    #[test]
    fn payload_round_trips_through_stored_form() {
        let t = Utc.with_ymd_and_hms(2026, 4, 1, 3, 0, 0).unwrap();
        let rec = Record::new(
            key(),
            Metadata::issued(t),
            Creds {
                token: "tok-123".to_string().into(),
                refresh: None,
            },
        );
        let stored = rec.to_stored().unwrap();
        assert_eq!(stored.payload.len(), 1);
        let back: Record<Creds> = Record::from_stored(stored).unwrap();
        assert_eq!(back.payload.token.expose_secret(), "tok-123");
        assert!(back.payload.refresh.is_none());
        let dbg = format!("{back:?}");
        assert!(!dbg.contains("tok-123"), "{dbg}");
    }

    #[test]
    fn unknown_version_is_rejected() {
        let t = Utc.with_ymd_and_hms(2026, 4, 1, 3, 0, 0).unwrap();
        let mut stored = Record::new(key(), Metadata::issued(t), SecretFields::new());
        stored.schema_version = 7;
        let err = Record::<SecretFields>::from_stored(stored).unwrap_err();
        assert!(matches!(
            err,
            StoreError::UnsupportedVersion { found: 7, .. }
        ));
    }

    #[test]
    fn non_string_payload_fields_are_a_typed_error() {
        #[derive(Serialize)]
        struct Bad {
            n: u32,
        }
        assert!(matches!(
            SecretFields::from_payload(&Bad { n: 1 }),
            Err(StoreError::Payload(_))
        ));
    }

    #[test]
    fn last_activity_is_latest_of_issue_renew_use() {
        let t = Utc.with_ymd_and_hms(2026, 4, 1, 3, 0, 0).unwrap();
        let mut m = Metadata::issued(t);
        assert_eq!(m.last_activity(), t);
        m.last_used = Some(t + chrono::Duration::minutes(5));
        m.renewed_at = Some(t + chrono::Duration::minutes(3));
        assert_eq!(m.last_activity(), t + chrono::Duration::minutes(5));
    }
}
