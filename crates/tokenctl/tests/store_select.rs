//! The CLI's store is chosen in the TOML: a directory, a `.env` file
//! (with per-account variable mappings, shared safely) or Redis (URL from a
//! secret reference); mistakes are reported with file:line:column.

#[path = "../../token-store-redis/tests/common/mod.rs"]
mod redis_common;

use std::path::Path;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use token_core::{
    AccountKey, Environment, Metadata, Record, SecretFields, StoredRecord, SystemClock,
};
use tokenctl::accounts::{Account, Mode};
use tokenctl::config::{Config, ConfigError, StoreSpec};

const TOKEN: &str = "S3cr3t-Zq9vKx-sinkstore-7Hq2";

fn registry() -> tokenctl::Registry {
    tokenctl::Registry::new()
        .register::<etrade::Etrade>()
        .register::<fyers::Fyers>()
}

fn fyers(label: &str, extra: &str) -> String {
    format!(
        r#"
[[account]]
broker = "fyers"
label = "{label}"
client_id = "ABCD1234-100"
secret_key = {{ env = "UNUSED_SECRET" }}
pin = {{ env = "UNUSED_PIN" }}
redirect_uri = "http://127.0.0.1:8080/cb"
{extra}
"#
    )
}

fn parse(dir: &Path, text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, &dir.join("tokenctl.toml"), &registry())
}

fn invalid(dir: &Path, text: &str) -> (usize, usize, String) {
    match parse(dir, text).unwrap_err() {
        ConfigError::Invalid {
            line,
            column,
            message,
            ..
        } => (line, column, message),
        other => panic!("expected Invalid, got {other}"),
    }
}

fn record(key: &AccountKey) -> StoredRecord {
    let mut fields = SecretFields::new();
    fields.insert("access_token", SecretString::from(TOKEN));
    Record::new(key.clone(), Metadata::issued(chrono::Utc::now()), fields)
}

#[tokio::test]
async fn an_env_store_with_a_mapping_writes_the_named_variable_and_the_account_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "store = {{ kind = \"env\", path = \"bot.env\" }}\n{}",
        fyers(
            "desk",
            "env_mapping = { meta = \"FYERS_TOKEN_META\", fields = { access_token = \"FYERS_ACCESS_TOKEN\" } }"
        )
    );
    let config = parse(dir.path(), &text).unwrap();
    let cfg = &config.accounts[0];
    assert_eq!(cfg.store_spec, StoreSpec::Env(dir.path().join("bot.env")));
    let store = tokenctl::stores::open_local(cfg).unwrap();
    store.save(&record(&cfg.key)).await.unwrap();
    let env = std::fs::read_to_string(dir.path().join("bot.env")).unwrap();
    assert!(
        env.contains(&format!("FYERS_ACCESS_TOKEN={TOKEN}")),
        "{env}"
    );
    // The account built from the config reads that store.
    let acct = Account::build(cfg, Arc::new(SystemClock), Mode::Offline).unwrap();
    assert!(acct.load().await.unwrap());
    assert!(acct.managed().health().issued_at.is_some());
}

#[test]
fn accounts_that_would_share_an_env_variable_are_refused_with_both_names_and_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let map =
        "env_mapping = { meta = \"M_META\", fields = { access_token = \"FYERS_ACCESS_TOKEN\" } }";
    let map2 =
        "env_mapping = { meta = \"N_META\", fields = { access_token = \"FYERS_ACCESS_TOKEN\" } }";
    let text = format!(
        "store = {{ kind = \"env\", path = \"bot.env\" }}\n{}{}",
        fyers("a", map),
        fyers("b", map2)
    );
    let (line, _, message) = invalid(dir.path(), &text);
    assert_eq!(line, 12, "the second account's table: {message}");
    assert!(message.contains("fyers/production/a"), "{message}");
    assert!(message.contains("fyers/production/b"), "{message}");
    // In separate files they are fine.
    let text = format!(
        "{}{}",
        fyers(
            "a",
            &format!("store = {{ kind = \"env\", path = \"a.env\" }}\n{map}")
        ),
        fyers(
            "b",
            &format!("store = {{ kind = \"env\", path = \"b.env\" }}\n{map2}")
        )
    );
    assert_eq!(parse(dir.path(), &text).unwrap().accounts.len(), 2);
}

#[test]
fn store_mistakes_are_reported_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (line, col, m) = invalid(dir.path(), "store = { kind = \"s3\", path = \"x\" }\n");
    assert_eq!((line, col), (1, 9));
    assert!(m.contains("kind = \"dir\", \"env\" or \"redis\""), "{m}");

    let (line, _, m) = invalid(
        dir.path(),
        "store = { kind = \"redis\", url = \"redis://:S3cr3t-Zq9vKx-pw@127.0.0.1\" }\n",
    );
    assert_eq!(line, 1);
    assert!(
        !m.contains("S3cr3t-Zq9vKx-pw"),
        "the inline URL is not echoed: {m}"
    );

    let text = fyers("desk", "env_mapping = { prefix = \"X_\" }");
    let (line, _, m) = invalid(dir.path(), &text);
    assert_eq!(line, 9);
    assert!(m.contains("kind = \"env\""), "{m}");

    let text = format!(
        "store = {{ kind = \"env\", path = \"e.env\" }}\n{}",
        fyers("desk", "env_mapping = { prefix = \"X_\", meta = \"Y\" }")
    );
    let (line, _, m) = invalid(dir.path(), &text);
    assert_eq!(line, 10);
    assert!(m.contains("either `prefix` alone"), "{m}");
}

#[test]
fn a_plain_string_is_still_a_directory_and_a_table_can_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let c = parse(
        dir.path(),
        &fyers("desk", "store = { kind = \"dir\", path = \"st\" }"),
    )
    .unwrap();
    assert_eq!(
        c.accounts[0].store_spec,
        StoreSpec::Dir(dir.path().join("st"))
    );
    assert_eq!(c.accounts[0].store, dir.path().join("st"));
    let c = parse(dir.path(), &format!("store = \"d\"\n{}", fyers("desk", ""))).unwrap();
    assert_eq!(
        c.accounts[0].store_spec,
        StoreSpec::Dir(dir.path().join("d"))
    );
}

#[tokio::test]
async fn a_redis_store_reads_its_url_from_a_secret_file_and_shares_records() {
    let Some(server) =
        redis_common::RedisServer::start_or_skip("tokenctl redis store", Default::default())
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis_url"), format!("{}\n", server.url())).unwrap();
    let text = format!(
        "store = {{ kind = \"redis\", url = {{ file = \"redis_url\" }}, prefix = \"tokenctl-test\" }}\n{}",
        fyers("desk", "")
    );
    let config = parse(dir.path(), &text).unwrap();
    let cfg = &config.accounts[0];
    // The synchronous build cannot connect: it says what to use.
    let err = Account::build(cfg, Arc::new(SystemClock), Mode::Offline).unwrap_err();
    assert!(err.to_string().contains("Account::open"), "{err}");
    let acct = Account::open(cfg, Arc::new(SystemClock), Mode::Offline)
        .await
        .unwrap();
    let store = acct.store().unwrap();
    store.save(&record(&cfg.key)).await.unwrap();
    // Another process's view: a fresh connection with the same prefix.
    let other = server
        .builder()
        .prefix("tokenctl-test")
        .connect()
        .await
        .unwrap();
    let key = AccountKey::new("fyers", Environment::Production, "desk").unwrap();
    let got = token_core::TokenStore::load(&other, &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.payload.get("access_token").unwrap().expose_secret(),
        TOKEN
    );
    assert!(acct.load().await.unwrap());
}

#[tokio::test]
async fn a_missing_redis_url_secret_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "store = {{ kind = \"redis\", url = {{ file = \"nope\" }} }}\n{}",
        fyers("desk", "")
    );
    let config = parse(dir.path(), &text).unwrap();
    let err = Account::open(&config.accounts[0], Arc::new(SystemClock), Mode::Offline)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("store url"), "{err}");
}
