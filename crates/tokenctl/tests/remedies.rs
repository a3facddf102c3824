//! `tokenctl run` with its control server against broker-sim (issue 13,
//! item 3): a refused setting is reported as that setting to fix (log,
//! health JSON, metrics), never as "re-authorization required"; an
//! operator's `POST /refresh` is logged as asked for by an operator, not as
//! an expiry or idleness it did not have. Loopback only.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use secrecy::SecretString;
use token_core::{FileStore, SystemClock, TokenProvider, TokenStoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const CONTROL_TOKEN: &str = "ctl-5c0e8b3f1a9d47e2b6c0f3a8d1e5b9c2a7f4e06d";
const WRONG_SECRET: &str = "S3cr3t-Wr0ngQx7Zp-etrade";

fn spawn(
    config: &Path,
    env: &[(&str, &str)],
) -> (Child, String, mpsc::Receiver<String>, Vec<String>) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["run"])
        .env_remove("TOKENCTL_CONFIG")
        .env_remove("RUST_LOG")
        .env("TOKENCTL_T13_CONTROL", CONTROL_TOKEN)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::lines(child.stderr.take().unwrap());
    let log = common::until(&rx, "listening on http://", &mut child);
    let addr = common::listen_addr(&log);
    (child, addr, rx, log)
}

fn stop(mut child: Child, rx: mpsc::Receiver<String>, mut log: Vec<String>) -> String {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    log.extend(rx.iter());
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    log
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
    if !log.iter().any(|l| l.contains(alert)) {
        log.extend(common::until(&rx, alert, &mut child));
    }
    let http = reqwest::Client::new();
    let report: serde_json::Value = http
        .get(format!("http://{addr}/health"))
        .bearer_auth(CONTROL_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = &report["accounts"][0];
    assert_eq!(account["remedy"], "fix_config", "{account}");
    assert_eq!(account["setting"], "consumer_secret", "{account}");
    assert_eq!(account["reauthorization_required"], false, "{account}");
    assert!(account["reauthorization_url"].is_null(), "{account}");
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(CONTROL_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "broker_tokens_person_action{account=\"etrade/sandbox/main\",remedy=\"fix_config\"} 1\n"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "broker_tokens_reauthorization_required{account=\"etrade/sandbox/main\"} 0\n"
        ),
        "{metrics}"
    );
    // Asked once for a request token (refused), never again while it waits.
    assert_eq!(running.sim.calls(Endpoint::EtradeRequestToken), 1);
    let log = stop(child, rx, log);
    assert!(
        !log.contains("a login is needed") && !log.contains("log in now"),
        "{log}"
    );
    assert!(!log.contains("/authorize?"), "{log}");
    assert!(!log.contains("exactly as signed"), "{log}");
    assert!(!log.contains(WRONG_SECRET), "{log}");
    assert!(!metrics.contains(WRONG_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_refresh_is_logged_as_asked_for_by_an_operator() {
    let running = sim().await;
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fyers_secret"), &c.fyers_secret_key).unwrap();
    // A person logged in moments ago: the token is fresh.
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
    let key = "fyers/sandbox/desk".parse().unwrap();
    let request = provider.start_authorization(&key).await.unwrap();
    let state = url::Url::parse(&request.url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let redirect = running
        .sim
        .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
        .unwrap();
    let record = provider
        .complete_authorization(&request, &SecretString::from(redirect))
        .await
        .unwrap();
    FileStore::open(dir.path().join("tokens"))
        .unwrap()
        .save_typed(&record)
        .await
        .unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "broker = \"fyers\"\nenvironment = \"sandbox\"\nlabel = \"desk\"\n\
             client_id = \"{}\"\nsecret_key = {{ file = \"fyers_secret\" }}\n\
             pin = {{ env = \"TOKENCTL_T13_PIN\" }}\nredirect_uri = \"{}\"\nbase_url = \"{}\"",
            c.fyers_client_id, c.fyers_redirect_uri, c.fyers_base_url
        ),
    );
    let (mut child, addr, rx, mut log) = spawn(&config, &[("TOKENCTL_T13_PIN", &c.fyers_pin)]);
    let answer = reqwest::Client::new()
        .post(format!("http://{addr}/refresh?account=fyers/sandbox/desk"))
        .bearer_auth(CONTROL_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{}",
        answer.text().await.unwrap()
    );
    let renewed = "renewed: asked for by an operator";
    if !log.iter().any(|l| l.contains(renewed)) {
        log.extend(common::until(&rx, renewed, &mut child));
    }
    assert_eq!(running.sim.calls(Endpoint::FyersValidateRefreshToken), 1);
    let log = stop(child, rx, log);
    for invented in ["access token expired", "was idle", "scheduled refresh"] {
        assert!(!log.contains(invented), "{invented:?} in:\n{log}");
    }
}
