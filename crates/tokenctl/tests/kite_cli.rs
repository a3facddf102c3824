//! `tokenctl login` for a Zerodha Kite account against broker-sim: the
//! login URL, the pasted redirect URL on stdin, then `status`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, Endpoint, SimConfig};
use token_core::SystemClock;

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kite_login_with_a_pasted_redirect_then_status_shows_the_account() {
    let running = BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
        .await
        .expect("simulator starts");
    let kite = running.sim.config().kite;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kite_secret"),
        format!("{}\n", kite.api_secret),
    )
    .unwrap();
    let config = dir.path().join("tokenctl.toml");
    std::fs::write(
        &config,
        format!(
            r#"store = "tokens"

[[account]]
broker = "kite"
environment = "sandbox"
label = "main"
api_key = "{key}"
api_secret = {{ file = "kite_secret" }}
redirect_url = "{redirect}"
base_url = "{base}"
"#,
            key = kite.api_key,
            redirect = kite.redirect_url,
            base = running.base_url,
        ),
    )
    .unwrap();
    let cmd = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&config).args(args);
        c.env_remove("TOKENCTL_CONFIG").env_remove("RUST_LOG");
        c
    };

    let mut child = cmd(&["login", "kite/sandbox/main", "--paste"])
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
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains("/connect/login?") => break line.trim().to_owned(),
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                panic!("login printed no URL ({e}); stderr:\n{err}");
            }
        }
    };
    assert_eq!(
        url,
        format!(
            "{}/connect/login?v=3&api_key={}",
            running.base_url, kite.api_key
        )
    );
    let redirect = running.sim.approve_kite(&kite.api_key).unwrap();
    writeln!(child.stdin.take().unwrap(), "{redirect}").unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    let mut out = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        out.push(line);
    }
    let out = out.join("\n");
    assert_eq!(status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("kite/sandbox/main: logged in; token saved"),
        "{out}"
    );
    assert_eq!(running.sim.calls(Endpoint::KiteSessionToken), 1);

    let o = cmd(&["status"]).output().unwrap();
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{table}{stderr}");
    assert!(table.contains("kite/sandbox/main"), "{table}");
    assert!(table.ends_with("overall: healthy\n"), "{table}");
    let all = format!("{out}{err}{table}{stderr}");
    assert!(
        !all.contains(&kite.api_secret),
        "the api_secret leaked:\n{all}"
    );
    let token = url::Url::parse(&redirect)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request_token")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(!all.contains(&token), "the request token leaked:\n{all}");
}
