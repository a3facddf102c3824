//! `tokenctl run` with its control server against broker-sim (issue 13,
//! item 3): a refused setting is reported as that setting to fix (log,
//! health JSON, metrics), never as "re-authorization required"; an
//! operator's `POST /refresh` is logged as asked for by an operator, not as
//! an expiry or idleness it did not have. Each FYERS refresh cause, driven
//! through the daemon by that operator trigger, gets its remedy: a PIN-naming
//! refusal `fix_pin` (no login started), a generic `-16` daily-login mode
//! explained in one `log_in` alert (the refresh token never sent again), an
//! outage or rate limit `wait` (no login asked). Loopback only.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{mpsc, Arc};

use broker_sim::{BrokerSim, Endpoint, Fault, FyersAnswer, RunningSim, SimConfig, Times};
use secrecy::SecretString;
use token_core::{FileStore, SystemClock, TokenProvider, TokenStoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const CONTROL_TOKEN: &str = "ctl-5c0e8b3f1a9d47e2b6c0f3a8d1e5b9c2a7f4e06d";
const WRONG_SECRET: &str = "S3cr3t-Wr0ngQx7Zp-etrade";
const WRONG_PIN: &str = "S3cr3t-Pn7Qw-wrong-daemon-pin";

fn spawn(
    config: &Path,
    env: &[(&str, &str)],
) -> (Child, String, mpsc::Receiver<String>, Vec<String>) {
    common::start_daemon(
        Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(["run"])
            .env_remove("TOKENCTL_CONFIG")
            .env_remove("RUST_LOG")
            .env("TOKENCTL_T13_CONTROL", CONTROL_TOKEN)
            .envs(env.iter().copied()),
    )
}

fn write_config(dir: &Path, account: &str) -> PathBuf {
    let path = dir.join("tokenctl.toml");
    let body = format!(
        "store = \"tokens\"\n\n[[account]]\n{account}\n\n[control]\n\
         token = {{ env = \"TOKENCTL_T13_CONTROL\" }}\nlisten = \"127.0.0.1:0\"\n"
    );
    std::fs::write(&path, body).unwrap();
    path
}

async fn sim() -> RunningSim {
    BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
        .await
        .expect("simulator starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_wrong_consumer_secret_asks_to_fix_it_not_to_log_in() {
    let running = sim().await;
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "broker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\n\
             consumer_key = \"{}\"\nconsumer_secret = {{ env = \"TOKENCTL_T13_SECRET\" }}\n\
             base_url = \"{}\"",
            c.etrade_consumer_key, running.base_url
        ),
    );
    let (mut child, addr, rx, mut log) = spawn(&config, &[("TOKENCTL_T13_SECRET", WRONG_SECRET)]);
    // The first maintenance pass may already have logged it.
    let alert = "ALERT: fix the configuration: consumer_secret";
    common::until_in(&mut log, &rx, alert, &mut child);
    let report: serde_json::Value = get(&addr, "/health").await.json().await.unwrap();
    let account = &report["accounts"][0];
    assert_eq!(account["remedy"], "fix_config", "{account}");
    assert_eq!(account["setting"], "consumer_secret", "{account}");
    assert_eq!(account["reauthorization_required"], false, "{account}");
    assert!(account["reauthorization_url"].is_null(), "{account}");
    let metrics = get(&addr, "/metrics").await.text().await.unwrap();
    assert_person_action(&metrics, "etrade/sandbox/main", "fix_config");
    assert!(
        metrics.contains(
            "broker_tokens_reauthorization_required{account=\"etrade/sandbox/main\"} 0\n"
        ),
        "{metrics}"
    );
    // Asked once for a request token (refused), never again while it waits.
    assert_eq!(running.sim.calls(Endpoint::EtradeRequestToken), 1);
    let log = common::stop_daemon(child, rx, log);
    assert!(
        !log.contains("a login is needed") && !log.contains("log in now"),
        "{log}"
    );
    assert!(!log.contains("/authorize?"), "{log}");
    assert!(!log.contains("exactly as signed"), "{log}");
    assert!(!log.contains(WRONG_SECRET), "{log}");
    assert!(!metrics.contains(WRONG_SECRET));
}

/// A FYERS account a person logged in to moments ago (the token is fresh),
/// saved in `dir/tokens`, and its config; the PIN comes from
/// `TOKENCTL_T13_PIN`.
async fn fyers_logged_in(running: &RunningSim, dir: &Path) -> PathBuf {
    let c = running.credentials();
    std::fs::write(dir.join("fyers_secret"), &c.fyers_secret_key).unwrap();
    let provider = fyers::FyersProvider::new(
        fyers::FyersConfig::new(
            token_core::Environment::Sandbox,
            c.fyers_client_id.clone(),
            SecretString::from(c.fyers_secret_key.clone()),
            SecretString::from(c.fyers_pin.clone()),
            c.fyers_redirect_uri.clone(),
        )
        .with_base_url(&c.fyers_base_url)
        .unwrap(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let key = FYERS_KEY.parse().unwrap();
    let request = provider.start_authorization(&key).await.unwrap();
    let state = common::query_param(&request.url, "state");
    let redirect = running
        .sim
        .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
        .unwrap();
    let record = provider
        .complete_authorization(&request, &SecretString::from(redirect))
        .await
        .unwrap();
    FileStore::open(dir.join("tokens"))
        .unwrap()
        .save_typed(&record)
        .await
        .unwrap();
    write_config(
        dir,
        &format!(
            "broker = \"fyers\"\nenvironment = \"sandbox\"\nlabel = \"desk\"\n\
             client_id = \"{}\"\nsecret_key = {{ file = \"fyers_secret\" }}\n\
             pin = {{ env = \"TOKENCTL_T13_PIN\" }}\nredirect_uri = \"{}\"\nbase_url = \"{}\"",
            c.fyers_client_id, c.fyers_redirect_uri, c.fyers_base_url
        ),
    )
}

const FYERS_KEY: &str = "fyers/sandbox/desk";

/// The operator's trigger: `POST /refresh` for the FYERS account. Returns
/// the HTTP status (a refused refresh is an error answer).
async fn operator_refresh(addr: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("http://{addr}/refresh?account={FYERS_KEY}"))
        .bearer_auth(CONTROL_TOKEN)
        .send()
        .await
        .unwrap()
        .status()
}

async fn get(addr: &str, route: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("http://{addr}{route}"))
        .bearer_auth(CONTROL_TOKEN)
        .send()
        .await
        .unwrap()
}

/// Fails unless `metrics` counts one person action `remedy` for `account`.
fn assert_person_action(metrics: &str, account: &str, remedy: &str) {
    let line =
        format!("broker_tokens_person_action{{account=\"{account}\",remedy=\"{remedy}\"}} 1\n");
    assert!(metrics.contains(&line), "{metrics}");
}

/// Polls `/health` ([`common::LINE_WAIT`] at most) until the first account
/// carries `remedy`; returns that account's JSON.
async fn account_with_remedy(addr: &str, remedy: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + common::LINE_WAIT;
    loop {
        let report: serde_json::Value = get(addr, "/health").await.json().await.unwrap();
        let account = report["accounts"][0].clone();
        if account["remedy"] == remedy {
            return account;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no remedy {remedy:?}: {account}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The pending-login records in the store directory (a started login; the
/// `.lock` files beside them are not one).
fn pending_logins(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("tokens"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".login-") && n.ends_with(".json"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_refresh_is_logged_as_asked_for_by_an_operator() {
    let running = sim().await;
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = fyers_logged_in(&running, dir.path()).await;
    let (mut child, addr, rx, mut log) = spawn(&config, &[("TOKENCTL_T13_PIN", &c.fyers_pin)]);
    let status = operator_refresh(&addr).await;
    assert!(status.is_success(), "{status}");
    let renewed = "renewed: asked for by an operator";
    common::until_in(&mut log, &rx, renewed, &mut child);
    assert_eq!(running.sim.calls(Endpoint::FyersValidateRefreshToken), 1);
    let log = common::stop_daemon(child, rx, log);
    for invented in ["access token expired", "was idle", "scheduled refresh"] {
        assert!(!log.contains(invented), "{invented:?} in:\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_refused_pin_asks_to_fix_the_pin_not_to_log_in() {
    let running = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let config = fyers_logged_in(&running, dir.path()).await;
    // The daemon's PIN is wrong: the simulator refuses the refresh naming
    // the PIN.
    let (mut child, addr, rx, mut log) = spawn(&config, &[("TOKENCTL_T13_PIN", WRONG_PIN)]);
    assert!(!operator_refresh(&addr).await.is_success());
    let alert = "ALERT: fix the PIN";
    common::until_in(&mut log, &rx, alert, &mut child);
    let account = account_with_remedy(&addr, "fix_pin").await;
    assert_eq!(account["reauthorization_required"], false, "{account}");
    assert!(account["reauthorization_url"].is_null(), "{account}");
    let metrics = get(&addr, "/metrics").await.text().await.unwrap();
    assert_person_action(&metrics, FYERS_KEY, "fix_pin");
    // A second operator request does not send the wrong PIN again.
    assert!(!operator_refresh(&addr).await.is_success());
    assert_eq!(running.sim.calls(Endpoint::FyersValidateRefreshToken), 1);
    // No login was started: no pending login, no authorize URL.
    assert_eq!(pending_logins(dir.path()), Vec::<String>::new());
    let log = common::stop_daemon(child, rx, log);
    assert!(
        !log.contains("a login is needed") && !log.contains("log in now"),
        "{log}"
    );
    assert!(!log.contains("generate-authcode"), "{log}");
    assert!(!log.contains(WRONG_PIN), "{log}");
    assert!(!metrics.contains(WRONG_PIN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_generic_refusal_explains_daily_login_once_and_asks_to_log_in() {
    let running = sim().await;
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = fyers_logged_in(&running, dir.path()).await;
    // FYERS's generic "could not authenticate" (-16), naming no PIN, once:
    // the simulator would accept the same refresh token afterwards.
    running.sim.inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::FyersAnswer(FyersAnswer::new(
            400,
            -16,
            "Could not authenticate the user",
        )),
        Times::N(1),
    );
    let (mut child, addr, rx, mut log) = spawn(&config, &[("TOKENCTL_T13_PIN", &c.fyers_pin)]);
    assert!(!operator_refresh(&addr).await.is_success());
    let asked = "log in now";
    common::until_in(&mut log, &rx, asked, &mut child);
    let account = account_with_remedy(&addr, "log_in").await;
    assert_eq!(account["reauthorization_required"], true, "{account}");
    let explanation = "is now in daily-login mode";
    let said_at_first = log.join("\n").matches(explanation).count();
    // Operators asking again: that refresh token is never sent again.
    for _ in 0..3 {
        assert!(!operator_refresh(&addr).await.is_success());
    }
    assert_eq!(running.sim.calls(Endpoint::FyersValidateRefreshToken), 1);
    let metrics = get(&addr, "/metrics").await.text().await.unwrap();
    assert_person_action(&metrics, FYERS_KEY, "log_in");
    // The login was started, for the person to answer.
    assert_eq!(
        pending_logins(dir.path()),
        [".login-fyers.sandbox.desk.json"]
    );
    let log = common::stop_daemon(child, rx, log);
    // One alert asks the person and explains daily-login mode; the later
    // requests never repeat it.
    let alerts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ALERT:") && l.contains(explanation))
        .collect();
    assert_eq!(alerts.len(), 1, "{log}");
    assert!(alerts[0].contains("log in now"), "{log}");
    assert!(said_at_first >= 1, "{log}");
    assert_eq!(log.matches(explanation).count(), said_at_first, "{log}");
    assert!(!log.contains("fix the PIN"), "{log}");
}

/// A broker outage on refresh (`fault`, until cleared) through the daemon:
/// remedy `wait`, and no login asked for.
async fn outage_says_wait(fault: Fault) {
    let running = sim().await;
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    let config = fyers_logged_in(&running, dir.path()).await;
    running.sim.inject_fault(
        Endpoint::FyersValidateRefreshToken,
        fault,
        Times::UntilCleared,
    );
    let (child, addr, rx, log) = spawn(&config, &[("TOKENCTL_T13_PIN", &c.fyers_pin)]);
    assert!(!operator_refresh(&addr).await.is_success());
    let account = account_with_remedy(&addr, "wait").await;
    assert_eq!(account["reauthorization_required"], false, "{account}");
    assert!(account["reauthorization_url"].is_null(), "{account}");
    let metrics = get(&addr, "/metrics").await.text().await.unwrap();
    assert_person_action(&metrics, FYERS_KEY, "wait");
    assert!(running.sim.calls(Endpoint::FyersValidateRefreshToken) >= 1);
    assert_eq!(pending_logins(dir.path()), Vec::<String>::new());
    let log = common::stop_daemon(child, rx, log);
    assert!(
        !log.contains("a login is needed") && !log.contains("log in now"),
        "{log}"
    );
    assert!(!log.contains("generate-authcode"), "{log}");
    assert!(!log.contains("daily-login mode"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_the_broker_down_says_wait_not_log_in() {
    outage_says_wait(Fault::Status(503)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_rate_limit_says_wait_not_log_in() {
    outage_says_wait(Fault::RateLimited {
        retry_after_secs: 120,
    })
    .await;
}
