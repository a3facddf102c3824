//! `tokenctl login` for a Schwab account against broker-sim: the authorize
//! URL printed, the redirect URL pasted on stdin, the account then healthy
//! in `tokenctl status`, and no secret in any output.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, SimConfig};
use secrecy::ExposeSecret;
use token_core::{AccountKey, Environment, FileStore, SystemClock, TokenStoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const SECRET_VAR: &str = "TOKENCTL_TEST_SCHWAB_SECRET";

fn config_text(base_url: &str, app_key: &str, callback: &str) -> String {
    format!(
        r#"store = "tokens"

[[account]]
broker = "schwab"
environment = "sandbox"
label = "brokerage"
app_key = "{app_key}"
app_secret = {{ env = "{SECRET_VAR}" }}
callback_url = "{callback}"
base_url = "{base_url}"
"#
    )
}

fn cmd(config: &PathBuf, secret: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .args(args)
        .env(SECRET_VAR, secret)
        .env_remove("TOKENCTL_CONFIG")
        .env_remove("RUST_LOG");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schwab_login_with_a_pasted_redirect_then_status_shows_it_healthy() {
    let running = BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
        .await
        .expect("simulator starts");
    let sim = running.sim.config().schwab;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenctl.toml");
    std::fs::write(
        &config,
        config_text(&running.schwab_base_url(), &sim.app_key, &sim.callback_url),
    )
    .unwrap();

    let mut child = cmd(&config, &sim.app_secret, &["login", "brokerage", "--paste"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("/v1/oauth/authorize?") => break line.trim().to_owned(),
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                panic!("login printed no URL ({e})");
            }
        }
    };
    // The person logs in; the browser lands on the callback; they paste it.
    let redirect = running.sim.approve_schwab_url(&url).expect("approve");
    writeln!(child.stdin.take().unwrap(), "{redirect}").unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let status = child.wait().unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        out.push(line);
    }
    let out = out.join("\n");
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("schwab/sandbox/brokerage: logged in; token saved"),
        "{out}"
    );

    let o = cmd(&config, &sim.app_secret, &["status"]).output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{table}");
    assert!(table.contains("schwab/sandbox/brokerage"), "{table}");
    assert!(table.ends_with("overall: healthy\n"), "{table}");

    // No secret anywhere: the app secret, the stored tokens, the code.
    let store = FileStore::open(dir.path().join("tokens")).unwrap();
    let key = AccountKey::new("schwab", Environment::Sandbox, "brokerage").unwrap();
    let rec = store
        .load_typed::<schwab::SchwabCreds>(&key)
        .await
        .unwrap()
        .expect("saved");
    let code = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let all = format!("{out}{err}{table}");
    for s in [
        sim.app_secret.clone(),
        rec.payload.access_token.expose_secret().to_owned(),
        rec.payload.refresh_token.expose_secret().to_owned(),
        code,
    ] {
        assert!(!all.contains(&s), "a secret leaked:\n{all}");
    }
}
