//! How a bot in another language gets its tokens, through the real binary:
//! `tokenctl run` keeps the configured sinks up to date (a POSIX shell reads
//! the exact token, no token value reaches the log), and `tokenctl exec`
//! runs a command with the token in its environment, forwards SIGTERM and
//! exits with the command's code.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, SimConfig};
use common::{fyers_log_in, lines_in};
use secrecy::ExposeSecret;
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
    let token = fyers_log_in(&acct, &running).await;
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
    exec_with(config, &[], script)
}

fn exec_with(config: &std::path::Path, flags: &[&str], script: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokenctl"));
    c.arg("--config")
        .arg(config)
        .args(["exec", "--account", "desk"])
        .args(flags)
        .args(["--", "sh", "-c", script]);
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

/// The access token the account's store holds now.
async fn stored_token(config_path: &std::path::Path) -> String {
    let registry = tokenctl::Registry::new().register::<fyers::Fyers>();
    let config = Config::load(Some(config_path), &registry).unwrap();
    let acct = Account::open(&config.accounts[0], Arc::new(SystemClock), Mode::Offline)
        .await
        .unwrap();
    let rec = acct
        .store()
        .unwrap()
        .load(acct.managed().key())
        .await
        .unwrap()
        .unwrap();
    rec.payload
        .get("access_token")
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// `tokenctl renew desk` in its own process (another process changes the token).
fn renew_elsewhere(config_path: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenctl"))
        .arg("--config")
        .arg(config_path)
        .args(["renew", "desk"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// The time `exec` may take to notice a change another process saved: its
/// poll interval (2 s), the restart, and slack for a loaded CI machine. The
/// bug this guards against took over 20 s.
const NOTICE_WITHIN: Duration = Duration::from_secs(6);

// Multi-threaded: the simulator must answer while this thread waits on
// `tokenctl renew`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_restarts_the_command_soon_after_another_process_renews() {
    let env = logged_in().await;
    let seen = env.dir.path().join("seen");
    let script = format!(
        "printf '%s\\n' \"$FYERS_ACCESS_TOKEN\" >> '{}'; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        seen.display()
    );
    let mut child = exec(&env.config_path, &script).spawn().unwrap();
    assert_eq!(lines_in(&seen, 1).await, vec![env.token.clone()]);
    renew_elsewhere(&env.config_path);
    let renewed_at = Instant::now();
    let new_token = stored_token(&env.config_path).await;
    assert_ne!(new_token, env.token, "the renewal changed nothing");
    let lines = lines_in(&seen, 2).await;
    let took = renewed_at.elapsed();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(lines, vec![env.token.clone(), new_token]);
    assert!(took < NOTICE_WITHIN, "restarted {took:?} after the renewal");
}

// Multi-threaded: the simulator must answer while this thread waits on
// `tokenctl renew`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_reload_signal_reaches_the_command_without_a_restart() {
    let env = logged_in().await;
    let starts = env.dir.path().join("starts");
    let got = env.dir.path().join("got");
    let script = format!(
        "echo start >> '{starts}'; trap 'echo hup >> \"{got}\"' HUP; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        starts = starts.display(),
        got = got.display()
    );
    let mut child = exec_with(&env.config_path, &["--reload-signal", "HUP"], &script)
        .spawn()
        .unwrap();
    assert_eq!(lines_in(&starts, 1).await, vec!["start".to_string()]);
    renew_elsewhere(&env.config_path);
    let renewed_at = Instant::now();
    let hup = lines_in(&got, 1).await;
    let took = renewed_at.elapsed();
    // Give a (wrong) restart time to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::fs::read_to_string(&starts).unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(hup, vec!["hup".to_string()]);
    assert_eq!(started, "start\n", "the command was restarted");
    assert!(took < NOTICE_WITHIN, "signalled {took:?} after the renewal");
    assert_eq!(status.code(), Some(0));
}
