//! The configuration file: accounts tagged by `broker`, each parsed by its
//! registered bundle, errors with file:line:column.

use std::path::Path;
use std::sync::Arc;

use token_core::SystemClock;
use tokenctl::accounts::{Account, AccountError, Mode};
use tokenctl::config::{Config, ConfigError};
use tokenctl::Registry;

fn registry() -> Registry {
    Registry::new()
        .register::<etrade::Etrade>()
        .register::<fyers::Fyers>()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/cfg/tokenctl.toml"), &registry())
}

const GOOD: &str = r#"
store = "state"

[[account]]
broker = "etrade"
environment = "sandbox"
label = "main"
consumer_key = "ck"
consumer_secret = { env = "X_SECRET" }

[[account]]
broker = "fyers"
label = "desk"
store = "/var/lib/fy"
client_id = "APP-100"
secret_key = { file = "sk.txt" }
pin = { env = "X_PIN" }
redirect_uri = "http://127.0.0.1:8080/cb"

[control]
listen = "127.0.0.1:7000"

[notify.telegram]
chat = 42
"#;

#[test]
fn parses_accounts_stores_and_keeps_control_and_notify_opaque() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.accounts.len(), 2);
    assert_eq!(c.accounts[0].key.to_string(), "etrade/sandbox/main");
    assert_eq!(c.accounts[0].store, Path::new("/cfg/state"));
    assert_eq!(c.accounts[0].line, 4);
    assert_eq!(c.accounts[1].key.to_string(), "fyers/production/desk");
    assert_eq!(c.accounts[1].store, Path::new("/var/lib/fy"));
    // Relative secret files are read from the config file's directory.
    assert_eq!(c.accounts[1].base_dir, Path::new("/cfg"));
    let fy = format!("{:?}", c.accounts[1].settings);
    assert!(fy.contains("secret_key: File(\"sk.txt\")"), "{fy}");
    assert!(fy.contains("pin: Some(Env(\"X_PIN\"))"), "{fy}");
    let control = c.control.unwrap();
    assert_eq!(
        control.get("listen").and_then(|v| v.as_str()),
        Some("127.0.0.1:7000")
    );
    assert!(c.notify.unwrap().get("telegram").is_some());
}

#[test]
fn a_bad_field_names_its_line() {
    let text = GOOD.replace("label = \"desk\"", "label = 7");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:13:"), "{err}");
    let text = GOOD.replace("label = \"desk\"", "labl = \"desk\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:13:"), "{err}");
    assert!(err.contains("labl"), "{err}");
}

#[test]
fn a_literal_secret_is_refused_without_echoing_it() {
    let text = GOOD.replace("{ env = \"X_SECRET\" }", "\"hunter2-literal\"");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains(":9:"), "{err}");
    assert!(err.contains("never written in the config"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn unknown_broker_and_missing_fields_are_reported_with_lines() {
    let err = parse(&GOOD.replace("broker = \"fyers\"", "broker = \"schwab\"")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/cfg/tokenctl.toml:12: unknown broker \"schwab\" (known brokers: etrade, fyers)"
    );
    let err = parse(&GOOD.replace("pin = { env = \"X_PIN\" }\n", ""))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:11:"), "{err}");
    assert!(err.contains("needs `pin"), "{err}");
    // Without a PIN only when the account never refreshes.
    let no_pin = GOOD.replace("pin = { env = \"X_PIN\" }\n", "refresh = \"off\"\n");
    assert!(parse(&no_pin).is_ok());
    let err =
        parse(&GOOD.replace("environment = \"sandbox\"", "environment = \"staging\"")).unwrap_err();
    assert!(
        err.to_string().starts_with("/cfg/tokenctl.toml:6:"),
        "{err}"
    );
}

#[test]
fn selects_accounts_by_label_or_key() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.find("main").unwrap().key.label(), "main");
    assert_eq!(c.find("fyers/desk").unwrap().key.label(), "desk");
    assert_eq!(c.find("etrade/sandbox/main").unwrap().key.label(), "main");
    let err = c.find("nope").unwrap_err().to_string();
    assert!(
        err.contains("etrade/sandbox/main, fyers/production/desk"),
        "{err}"
    );
}

#[test]
fn secrets_resolve_from_env_and_files_relative_to_the_config_and_say_which_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sk.txt"), "  S3cr3t-Zq9vKx-sk\n").unwrap();
    std::fs::write(dir.path().join("pin.txt"), "S3cr3t-Zq9vKx-pin\n").unwrap();
    let text = format!(
        "[[account]]\nbroker = \"fyers\"\nlabel = \"desk\"\nstore = \"{store}\"\nclient_id = \"APP-100\"\nsecret_key = {{ file = \"sk.txt\" }}\npin = {{ env = \"TOKENCTL_TEST_SURELY_UNSET\" }}\nredirect_uri = \"http://127.0.0.1:8080/cb\"\n",
        store = dir.path().join("tokens").display()
    );
    let config_path = dir.path().join("tokenctl.toml");
    let c = Config::parse(&text, &config_path, &registry()).unwrap();
    let err = Account::build(&c.accounts[0], Arc::new(SystemClock), Mode::Online).unwrap_err();
    assert!(matches!(err, AccountError::Build { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "account fyers/production/desk: secret `pin`: environment variable TOKENCTL_TEST_SURELY_UNSET is not set"
    );
    // Offline (status) needs no secret at all.
    assert!(Account::build(&c.accounts[0], Arc::new(SystemClock), Mode::Offline).is_ok());
    let text = text.replace(
        "{ env = \"TOKENCTL_TEST_SURELY_UNSET\" }",
        "{ file = \"pin.txt\" }",
    );
    let c = Config::parse(&text, &config_path, &registry()).unwrap();
    let acct = Account::build(&c.accounts[0], Arc::new(SystemClock), Mode::Online).unwrap();
    assert_eq!(acct.login_redirect_uri(), Some("http://127.0.0.1:8080/cb"));
    let text = text.replace("{ file = \"pin.txt\" }", "{ file = \"none.txt\" }");
    let c = Config::parse(&text, &config_path, &registry()).unwrap();
    let err = Account::build(&c.accounts[0], Arc::new(SystemClock), Mode::Online).unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
}

#[test]
fn a_number_where_a_secret_belongs_is_refused_on_its_line_without_echoing_it() {
    let text = GOOD.replace("pin = { env = \"X_PIN\" }", "pin = 4821");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:17:"), "{err}");
    assert!(err.contains("never written in the config"), "{err}");
    assert!(!err.contains("4821"), "{err}");
}

#[test]
fn settings_of_another_broker_are_refused_on_their_line() {
    let text = GOOD.replace(
        "consumer_key = \"ck\"",
        "consumer_key = \"ck\"\nclient_id = \"APP-100\"",
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:9:"), "{err}");
    assert!(err.contains("client_id"), "{err}");
}

#[test]
fn control_tables_report_lines_and_never_echo_an_inline_token() {
    let text = format!("{GOOD}\n").replace(
        "[control]\nlisten = \"127.0.0.1:7000\"",
        "[control]\nlisten = \"127.0.0.1:7000\"\ntoken = 987654321",
    );
    let c = parse(&text).unwrap();
    let err = c.control_tables().unwrap_err().to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:22:9:"), "{err}");
    assert!(err.contains("never written in the config"), "{err}");
    assert!(!err.contains("987654321"), "{err}");
}

#[test]
fn control_secret_files_are_relative_to_the_config_and_webhooks_need_https() {
    let text = r#"
[control]
token = { file = "control.token" }

[notify.webhook]
url = "https://hooks.example.com/x"
secret = { file = "hmac" }
"#;
    let c = parse(text).unwrap();
    let (control, notify) = c.control_tables().unwrap();
    assert_eq!(
        control.unwrap().token,
        token_core::SecretSource::File("/cfg/control.token".into())
    );
    assert_eq!(
        notify.unwrap().webhook.unwrap().secret,
        token_core::SecretSource::File("/cfg/hmac".into())
    );
    let plain = text.replace("https://hooks", "http://hooks");
    let err = parse(&plain)
        .unwrap()
        .control_tables()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/cfg/tokenctl.toml:5:"), "{err}");
    assert!(err.contains("allow_plain_http_webhook"), "{err}");
    let allowed = plain.replace(
        "[notify.webhook]",
        "[notify]\nallow_plain_http_webhook = true\n\n[notify.webhook]",
    );
    assert!(parse(&allowed).unwrap().control_tables().is_ok());
}

#[test]
fn login_windows_and_calendar_holidays_are_read_and_checked_with_lines() {
    let text = GOOD.replace(
        "label = \"main\"\n",
        "label = \"main\"\nlogin_window = \"07:30-09:15 America/New_York Mon-Fri\"\n",
    ) + "\n[calendars.nyse]\nholidays = [\"2027-01-04\"]\n";
    let c = parse(&text).unwrap();
    let etrade = &c.accounts[0].overrides;
    assert_eq!(
        etrade.login_window.map(|w| w.map(|w| w.to_string())),
        Some(Some("07:30-09:15 America/New_York Mon-Fri".to_string()))
    );
    // No login_window: the broker's default stays.
    assert_eq!(c.accounts[1].overrides.login_window, None);
    let day = chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap();
    assert_eq!(etrade.holidays.get("NYSE"), Some(&vec![day]));
    // Applied over the bundle's settings.
    let mut config = <etrade::Etrade as token_core::Broker>::standard_manager_config();
    etrade.apply(&mut config);
    assert!(!config.calendar.as_ref().unwrap().is_trading_day(day));
    assert_eq!(
        config.login_window.map(|w| w.to_string()).as_deref(),
        Some("07:30-09:15 America/New_York Mon-Fri")
    );

    let none = GOOD.replace(
        "label = \"main\"\n",
        "label = \"main\"\nlogin_window = \"none\"\n",
    );
    assert_eq!(
        parse(&none).unwrap().accounts[0].overrides.login_window,
        Some(None)
    );

    let bad = GOOD.replace(
        "label = \"main\"\n",
        "label = \"main\"\nlogin_window = \"9:20-8:00 UTC\"\n",
    );
    let err = parse(&bad).unwrap_err().to_string();
    assert!(
        err.contains("tokenctl.toml:8:") && err.contains("login window"),
        "{err}"
    );

    let unknown = format!("{GOOD}\n[calendars.LSE]\nholidays = []\n");
    let err = parse(&unknown).unwrap_err().to_string();
    assert!(
        err.contains("unknown trading calendar \"LSE\": use one of NYSE, NSE"),
        "{err}"
    );
    let bad_day = format!("{GOOD}\n[calendars.NSE]\nholidays = [\"04/01/2027\"]\n");
    let err = parse(&bad_day).unwrap_err().to_string();
    assert!(err.contains("\"04/01/2027\" is not a date"), "{err}");
}

#[test]
fn check_at_is_read_and_a_bad_one_names_its_line() {
    let text = GOOD.replace(
        "label = \"main\"\n",
        "label = \"main\"\ncheck_at = \"07:45 America/New_York Mon-Fri\"\n",
    );
    let c = parse(&text).unwrap();
    assert_eq!(
        c.accounts[0]
            .overrides
            .check_at
            .map(|s| s.map(|s| s.to_string())),
        Some(Some("07:45 America/New_York Mon-Fri".to_string()))
    );
    let off = GOOD.replace(
        "label = \"main\"\n",
        "label = \"main\"\ncheck_at = \"none\"\n",
    );
    assert_eq!(
        parse(&off).unwrap().accounts[0].overrides.check_at,
        Some(None)
    );
    let bad = GOOD.replace(
        "label = \"main\"\n",
        "label = \"main\"\ncheck_at = \"8am\"\n",
    );
    let err = parse(&bad).unwrap_err().to_string();
    assert!(
        err.contains("tokenctl.toml:8:") && err.contains("check_at"),
        "{err}"
    );
}
