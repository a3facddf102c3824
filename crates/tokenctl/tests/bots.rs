//! How a bot in another language gets its tokens, through the real binary:
//! `tokenctl run` keeps the configured sinks up to date (a POSIX shell reads
//! the exact token, no token value reaches the log), and `tokenctl exec`
//! runs a command with the token in its environment, forwards SIGTERM and
//! exits with the command's code.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, SimConfig};
use secrecy::{ExposeSecret, SecretString};
use token_core::{SystemClock, TokenStore};
use tokenctl::accounts::{Account, Mode};
use tokenctl::config::Config;

struct LoggedIn {
    _running: broker_sim::RunningSim,
    dir: tempfile::TempDir,
    config_path: std::path::PathBuf,
    token: String,
}

/// A FYERS account with sinks under `bot/`, logged in against broker-sim.
async fn logged_in() -> LoggedIn {
    let running = BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
        .await
        .expect("simulator starts");
    let c = running.credentials();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret_key"), &c.fyers_secret_key).unwrap();
    std::fs::write(dir.path().join("pin"), &c.fyers_pin).unwrap();
    let text = format!(
        r#"
[[account]]
broker = "fyers"
label = "desk"
client_id = "{client}"
secret_key = {{ file = "secret_key" }}
pin = {{ file = "pin" }}
redirect_uri = "{redirect}"
base_url = "{base}"

[[account.sink]]
kind = "dotenv"
path = "bot/.env"

[[account.sink]]
kind = "json"
path = "bot/tokens_prod.json"
"#,
        client = c.fyers_client_id,
        redirect = c.fyers_redirect_uri,
        base = c.fyers_base_url,
    );
    let config_path = dir.path().join("tokenctl.toml");
    std::fs::write(&config_path, &text).unwrap();
    std::fs::create_dir(dir.path().join("bot")).unwrap();
    std::fs::set_permissions(
        dir.path().join("bot"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();

    // A login saved a token (as `tokenctl login` would).
    let registry = tokenctl::Registry::new().register::<fyers::Fyers>();
    let config = Config::parse(&text, &config_path, &registry).unwrap();
    let acct = Account::open(&config.accounts[0], Arc::new(SystemClock), Mode::Online)
        .await
        .unwrap();
    let m = acct.managed();
    let request = m.begin_authorization().await.unwrap();
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
    m.complete_authorization(&SecretString::from(redirect))
        .await
        .unwrap();
    let rec = acct.store().unwrap().load(m.key()).await.unwrap().unwrap();
    let token = rec
        .payload
        .get("access_token")
        .unwrap()
        .expose_secret()
        .to_owned();
    LoggedIn {
        _running: running,
        dir,
        config_path,
        token,
    }
}

#[tokio::test]
async fn run_writes_the_sinks_from_the_store_and_never_logs_the_token() {
    let LoggedIn {
        _running,
        dir,
        config_path,
        token,
    } = logged_in().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenctl"))
        .args(["--config"])
        .arg(&config_path)
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let env_file = dir.path().join("bot/.env");
    let json_file = dir.path().join("bot/tokens_prod.json");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(env_file.exists() && json_file.exists()) {
        assert!(Instant::now() < deadline, "the sinks were never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = Command::new("sh")
        .current_dir(dir.path().join("bot"))
        .args(["-c", "set -a; . ./.env; printf %s \"$FYERS_ACCESS_TOKEN\""])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), token);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_file).unwrap()).unwrap();
    assert_eq!(doc["tokens"]["access_token"], token.as_str());
    assert_eq!(doc["state"], "fresh");

    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    let log: Vec<String> = rx.iter().collect();
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    assert!(log.contains("sink updated"), "{log}");
    assert!(!log.contains(&token), "a token reached the log: {log}");
}

fn exec(config: &std::path::Path, script: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokenctl"));
    c.arg("--config")
        .arg(config)
        .args(["exec", "--account", "desk", "--", "sh", "-c", script]);
    c
}

#[tokio::test]
async fn exec_gives_the_command_its_token_and_exits_with_its_code() {
    let env = logged_in().await;
    let out = env.dir.path().join("seen");
    let status = exec(
        &env.config_path,
        &format!(
            "printf %s \"$FYERS_ACCESS_TOKEN\" > '{}'; exit 7",
            out.display()
        ),
    )
    .status()
    .unwrap();
    assert_eq!(status.code(), Some(7));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), env.token);
}

#[tokio::test]
async fn exec_forwards_sigterm_to_the_command() {
    let env = logged_in().await;
    let ready = env.dir.path().join("ready");
    let got = env.dir.path().join("got");
    let script = format!(
        "trap 'echo term > \"{got}\"; exit 5' TERM; : > '{ready}'; while :; do sleep 0.05; done",
        got = got.display(),
        ready = ready.display()
    );
    let mut child = exec(&env.config_path, &script).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "term\n");
}
