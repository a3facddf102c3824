//! The E*TRADE consumer key's issue date, from the configuration to
//! `tokenctl status` (table and JSON): a warning from 30 days before the
//! key's expected two-year end (issue 15).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use chrono::{Months, NaiveDate, TimeZone, Utc};
use token_core::{HealthStatus, ManualClock};
use tokenctl::config::Config;
use tokenctl::Registry;

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");

fn config_text(store: &Path, issued: Option<&str>) -> String {
    let issued = issued.map_or(String::new(), |d| {
        format!("consumer_key_issued = \"{d}\"\n")
    });
    format!(
        "[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\n\
         store = \"{}\"\nconsumer_key = \"ck\"\nconsumer_secret = {{ env = \"TOKENCTL_KEY_AGE_UNSET\" }}\n{issued}",
        store.display()
    )
}

fn parse(text: &str, dir: &Path) -> Config {
    let registry = Registry::new()
        .register::<etrade::Etrade>()
        .register::<fyers::Fyers>();
    Config::parse(text, &dir.join("tokenctl.toml"), &registry).expect("config parses")
}

#[tokio::test]
async fn status_warns_from_thirty_days_before_the_key_turns_two() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse(
        &config_text(&dir.path().join("tokens"), Some("2024-06-01")),
        dir.path(),
    );
    let want = "WARNING etrade/sandbox/main: the E*TRADE consumer key issued 2024-06-01 \
                stops working around 2026-06-01";
    // 2026-05-01 23:59 in New York: 31 days left, quiet.
    let before = Utc.with_ymd_and_hms(2026, 5, 2, 3, 59, 0).unwrap();
    let report = tokenctl::cli::status(&config, Arc::new(ManualClock::new(before)))
        .await
        .unwrap();
    assert!(report.accounts[0].warnings.is_empty());
    assert!(!tokenctl::render::status_table(&report).contains("WARNING"));

    // 2026-05-02 00:00 in New York: 30 days left.
    let at = Utc.with_ymd_and_hms(2026, 5, 2, 4, 0, 0).unwrap();
    let report = tokenctl::cli::status(&config, Arc::new(ManualClock::new(at)))
        .await
        .unwrap();
    let table = tokenctl::render::status_table(&report);
    assert!(table.contains(want), "{table}");
    assert!(table.contains("request a new key"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    let warnings = json["accounts"][0]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("2026-06-01"));
}

#[tokio::test]
async fn without_an_issue_date_there_is_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = parse(&config_text(&dir.path().join("tokens"), None), dir.path());
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
    let report = tokenctl::cli::status(&config, Arc::new(ManualClock::new(at)))
        .await
        .unwrap();
    assert!(report.accounts[0].warnings.is_empty());
    // Never logged in: critical for that reason alone.
    assert_eq!(report.status, HealthStatus::Critical);
}

#[test]
fn a_bad_issue_date_is_refused_with_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(&dir.path().join("tokens"), Some("June 2024"));
    let registry = Registry::new().register::<etrade::Etrade>();
    let err = Config::parse(&text, &dir.path().join("tokenctl.toml"), &registry)
        .unwrap_err()
        .to_string();
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    assert!(err.contains("consumer_key_issued"), "{err}");
}

/// The binary on the real clock: a key issued two years before a day ten
/// days from now warns in `status` and `status --json`; one issued a year
/// ago does not.
#[test]
fn the_binary_shows_the_warning_in_status_and_its_json() {
    let today = Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let issued_for = |end: NaiveDate| end.checked_sub_months(Months::new(24)).unwrap();
    let soon = issued_for(today + chrono::Days::new(10));
    let later = today.checked_sub_months(Months::new(12)).unwrap();
    for (issued, warns) in [(soon, true), (later, false)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenctl.toml");
        let text = config_text(&dir.path().join("tokens"), Some(&issued.to_string()));
        std::fs::write(&path, text).unwrap();
        let run = |args: &[&str]| {
            let o = Command::new(BIN)
                .arg("--config")
                .arg(&path)
                .args(args)
                .env_remove("TOKENCTL_CONFIG")
                .env_remove("RUST_LOG")
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let table = run(&["status"]);
        let line = format!(
            "WARNING etrade/sandbox/main: the E*TRADE consumer key issued {issued} stops working"
        );
        assert_eq!(table.contains(&line), warns, "{issued}: {table}");
        let json: serde_json::Value = serde_json::from_str(&run(&["status", "--json"])).unwrap();
        let n = json["accounts"][0]["warnings"].as_array().unwrap().len();
        assert_eq!(n, usize::from(warns), "{issued}: {json}");
    }
}
