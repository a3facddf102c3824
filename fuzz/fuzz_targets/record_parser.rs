//! The store record format: any bytes parse to a record or a typed error.
//! A record that parses re-encodes and parses back to the same record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use token_core::{Record, StoredRecord};

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<StoredRecord>(data) else {
        return;
    };
    // Typed conversion never panics either (version check, payload shape).
    let _ = Record::<serde_json::Map<String, serde_json::Value>>::from_stored(record.clone());
    let bytes = serde_json::to_vec(&record).expect("a parsed record re-encodes");
    let again: StoredRecord = serde_json::from_slice(&bytes).expect("own output parses");
    assert_eq!(again.key, record.key);
    assert_eq!(again.meta, record.meta);
    assert_eq!(again.schema_version, record.schema_version);
    let fields = |r: &StoredRecord| {
        r.payload
            .iter()
            .map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(&again), fields(&record));
});
