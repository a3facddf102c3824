//! token-core: the broker-agnostic heart of broker-tokens.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod error;
pub mod key;
pub mod policy;
pub mod record;
pub mod schedule;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, ErrorKind, KeyError, StoreError, Unavailable};
pub use key::{AccountKey, Environment};
pub use record::{serde_secret, Metadata, Payload, Record, SecretFields, StoredRecord, SCHEMA_VERSION};
