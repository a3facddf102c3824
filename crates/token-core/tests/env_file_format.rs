//! Issue 14 item 10: real `.env` files. Line endings, a BOM and lines the
//! store does not understand survive a save; what it writes, a POSIX shell
//! (`set -a; . ./.env`) reads back byte for byte without executing anything,
//! and docker's `--env-file` reads bare (token-like) values exactly.
//!
//! python-dotenv is not run here (CI does not install it): the quoting is
//! chosen so that it reads the same bytes by construction, since it takes
//! single-quoted values literally except for `\\` and `\'`, which the store
//! refuses to write (see `token_core::store::dotenv`).

use std::path::Path;
use std::process::Command;

use chrono::{TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use token_core::store::dotenv::DotEnv;
use token_core::store::{EnvFileStore, EnvMapping, TokenStore};
use token_core::{
    AccountKey, Environment, Metadata, Record, SecretFields, StoreError, StoredRecord,
};

fn key() -> AccountKey {
    AccountKey::new("fyers", Environment::Production, "main").unwrap()
}

fn record(fields: &[(&str, &str)]) -> StoredRecord {
    let mut f = SecretFields::new();
    for (name, value) in fields {
        f.insert(*name, SecretString::from(value.to_string()));
    }
    Record::new(
        key(),
        Metadata::issued(Utc.with_ymd_and_hms(2026, 5, 4, 3, 0, 0).unwrap()),
        f,
    )
}

fn fyers_mapping() -> EnvMapping {
    EnvMapping::explicit("FYERS_TOKEN_META")
        .field("access_token", "FYERS_ACCESS_TOKEN")
        .field("refresh_token", "FYERS_REFRESH_TOKEN")
}

/// `$VAR` after `set -a; . ./.env` in `dir`, as raw bytes.
fn sh_reads(dir: &Path, var: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("set -a; . ./.env; printf %s \"${var}\""))
        .current_dir(dir)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// docker's `--env-file` rules (opts/envfile.go): skip blank and `#` lines,
/// trim leading blanks, split at the first `=`, take the value literally.
fn docker_reads(text: &str, var: &str) -> Option<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .filter(|(name, _)| name.trim_start() == var)
        .map(|(_, value)| value.to_string())
        .next_back()
}

#[tokio::test]
async fn crlf_line_endings_are_kept_and_new_lines_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(
        &path,
        "# bot\r\nDB=postgres://x\r\nFYERS_ACCESS_TOKEN=old\r\n",
    )
    .unwrap();
    let store = EnvFileStore::new(&path).with_mapping(key(), fyers_mapping());
    store
        .save(&record(&[
            ("access_token", "new-Tq7"),
            ("refresh_token", "ref-Tq7"),
        ]))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# bot\r\nDB=postgres://x\r\nFYERS_ACCESS_TOKEN=new-Tq7\r\n"),
        "{text:?}"
    );
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "a bare LF: {text:?}"
    );
    assert!(
        text.contains("\r\nFYERS_REFRESH_TOKEN=ref-Tq7\r\n"),
        "{text:?}"
    );
    let back = store.load(&key()).await.unwrap().unwrap();
    let access = back
        .payload
        .get("access_token")
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_eq!(access, "new-Tq7", "no stray CR in values");
}

#[tokio::test]
async fn real_world_lines_are_accepted_or_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let head =
        "\u{feff}# deployed by ansible\nBARE_KEY\nexport EXPORTED_ONLY\nexport\tTABBED=tab-value\n\
                MULTI=\"line one\nline two\"\nMY-VAR=dashes\nQUOTED='it''s'\n";
    std::fs::write(&path, format!("{head}FYERS_ACCESS_TOKEN=old-Ws2\n")).unwrap();
    let store = EnvFileStore::new(&path).with_mapping(key(), fyers_mapping());

    let imported = store
        .load(&key())
        .await
        .expect("the file is usable")
        .unwrap();
    let access = imported
        .payload
        .get("access_token")
        .unwrap()
        .expose_secret()
        .to_owned();
    assert_eq!(access, "old-Ws2");
    store
        .save(&record(&[
            ("access_token", "new-Ws2"),
            ("refresh_token", "ref-Ws2"),
        ]))
        .await
        .expect("saves are not refused");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(&format!("{head}FYERS_ACCESS_TOKEN=new-Ws2\n")),
        "{text:?}"
    );

    let env = DotEnv::parse(&text);
    assert_eq!(env.get("TABBED"), Some("tab-value"));
    assert_eq!(env.get("MULTI"), Some("line one\nline two"));
    assert_eq!(env.get("MY-VAR"), None);
    assert_eq!(store.list().await.unwrap(), vec![key()]);
}

#[tokio::test]
async fn shells_read_back_the_exact_bytes_and_execute_nothing() {
    let values = [
        "S3cr3t-tok.en_/+=:@%,Aa9",
        "$(touch PWNED)",
        "`touch PWNED`",
        "$HOME and ${PATH} and $((1+1))",
        "has \"double\" quotes",
        "back\\slash and \\n",
        "  leading and trailing  ",
        "# not a comment",
        "~/tilde*glob?[x]",
        "semi;colon|pipe&amp<>!",
        "ünïcödé",
        "",
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "OTHER=1\n").unwrap();
    let store = EnvFileStore::new(&path);
    let names: Vec<String> = (0..values.len()).map(|i| format!("f{i}")).collect();
    let fields: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(values).collect();
    store.save(&record(&fields)).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.lines().any(|l| l.contains("=\"")),
        "never double quotes (shells expand inside them): {text}"
    );
    for (i, value) in values.iter().enumerate() {
        let var = format!("FYERS_PRODUCTION_MAIN_F{i}");
        assert_eq!(
            String::from_utf8(sh_reads(dir.path(), &var)).unwrap(),
            *value,
            "sh read {var} differently"
        );
    }
    assert!(
        !dir.path().join("PWNED").exists(),
        "sourcing the file ran a command"
    );
    let back = store.load(&key()).await.unwrap().unwrap();
    for (name, value) in &fields {
        assert_eq!(back.payload.get(name).unwrap().expose_secret(), *value);
    }
}

#[tokio::test]
async fn docker_reads_token_like_values_exactly_and_sees_quotes_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    let store = EnvFileStore::new(&path).with_mapping(key(), fyers_mapping());
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJYUzAwMDAxIn0.S3cr3t-sig_Qp4=";
    store
        .save(&record(&[
            ("access_token", jwt),
            ("refresh_token", "with space"),
        ]))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        docker_reads(&text, "FYERS_ACCESS_TOKEN").as_deref(),
        Some(jwt)
    );
    // The documented trade-off: docker takes the quotes literally.
    assert_eq!(
        docker_reads(&text, "FYERS_REFRESH_TOKEN").as_deref(),
        Some("'with space'")
    );
    assert_eq!(sh_reads(dir.path(), "FYERS_ACCESS_TOKEN"), jwt.as_bytes());
    assert_eq!(sh_reads(dir.path(), "FYERS_REFRESH_TOKEN"), b"with space");
}

#[tokio::test]
async fn values_no_quoting_can_carry_are_refused_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env");
    std::fs::write(&path, "OTHER=1\n").unwrap();
    let store = EnvFileStore::new(&path).with_mapping(key(), fyers_mapping());
    for bad in ["S3cr3t-it's-Rr1", "S3cr3t-two\nlines-Rr1"] {
        let err = store
            .save(&record(&[
                ("access_token", "fine-Rr1"),
                ("refresh_token", bad),
            ]))
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(matches!(err, StoreError::Payload(_)), "{text}");
        assert!(
            text.contains("FYERS_REFRESH_TOKEN"),
            "names the variable: {text}"
        );
        assert!(!text.contains("S3cr3t"), "echoes the value: {text}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "OTHER=1\n");
    }
}
