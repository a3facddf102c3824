//! Issue 13's "Done when", from a shell, with real processes: the
//! simulator serves E*TRADE, `tokenctl run` maintains the account, the
//! simulator moves past midnight New York, the daemon's alert gives the URL,
//! the person approves it and pipes the verifier into `tokenctl login
//! ACCOUNT`; the daemon's account is healthy again without a restart.
//!
//! The simulator runs in this test process (the `broker-sim` binary is the
//! same server: `BrokerSim::start` on the system clock) and is driven only
//! through its HTTP control API, as from a shell with curl. E*TRADE request
//! signatures are checked against the real clock (`--timestamps real`), so
//! the daemon keeps its own clock; it learns that the token died at the
//! simulator's midnight from the broker's answer to a keep-alive
//! (`POST /keepalive` on its control server, as a bot's call or cron would).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, SimConfig, TimestampClock};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::Value;
use token_core::SystemClock;

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const CONTROL_TOKEN: &str = "ctl-9b3e5a1c7d2f4086e1b9c3a5d7f20e4c6a8b1d93";
const ACCOUNT: &str = "etrade/sandbox/main";

fn tokenctl(config: &Path, secret: &str, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config")
        .arg(config)
        .args(args)
        .env_remove("TOKENCTL_CONFIG")
        .env_remove("RUST_LOG")
        .env("TOKENCTL_SHELL_SECRET", secret)
        .env("TOKENCTL_SHELL_CONTROL", CONTROL_TOKEN);
    c
}

/// `echo VERIFIER | tokenctl login ACCOUNT`.
fn pipe_login(config: &Path, secret: &str, verifier: &str) -> (i32, String, String) {
    let mut child = tokenctl(config, secret, &["login", ACCOUNT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{verifier}").unwrap();
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

struct Shell {
    http: reqwest::Client,
    sim: String,
}

impl Shell {
    /// `curl -X POST $SIM/__sim/...`
    async fn sim(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.sim))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// `curl [-H "Authorization: Bearer ..."] URL`: the JSON answer.
    async fn get_json(&self, url: &str, bearer: Option<&str>) -> Value {
        let mut req = self.http.get(url);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    async fn counter(&self, name: &str) -> u64 {
        let r = self
            .get_json(&format!("{}/__sim/counters", self.sim), None)
            .await;
        r[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} in {r}"))
    }

    /// `curl -H "Authorization: Bearer ..." $DAEMON/health`: the account's entry.
    async fn health(&self, daemon: &str) -> Value {
        let r = self
            .get_json(&format!("http://{daemon}/health"), Some(CONTROL_TOKEN))
            .await;
        r["accounts"][0].clone()
    }
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_midnight_the_daemons_alert_is_answered_by_piping_the_verifier_into_tokenctl_login() {
    let config = SimConfig {
        etrade_timestamp_clock: TimestampClock::Real,
        ..SimConfig::default()
    };
    let running = BrokerSim::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let creds = running.credentials();
    let secret = creds.etrade_consumer_secret.clone();
    let shell = Shell {
        http: reqwest::Client::new(),
        sim: running.base_url.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenctl.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"tokens\"\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\n\
             consumer_key = \"{}\"\nconsumer_secret = {{ env = \"TOKENCTL_SHELL_SECRET\" }}\nbase_url = \"{}\"\n\
             login_window = \"none\"\n\n\
             [control]\ntoken = {{ env = \"TOKENCTL_SHELL_CONTROL\" }}\nlisten = \"127.0.0.1:0\"\n",
            creds.etrade_consumer_key, running.base_url
        ),
    )
    .unwrap();

    // Day 1: log in once (start, approve, pipe the verifier).
    let o = tokenctl(&config, &secret, &["login", ACCOUNT])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let url = out
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/e/t/etws/authorize?"))
        .unwrap_or_else(|| panic!("no URL in {out}"))
        .to_owned();
    let approved = shell
        .sim(
            "/__sim/etrade/approve",
            serde_json::json!({"request_token": common::query_param(&url, "token")}),
        )
        .await;
    let (code, out, err) = pipe_login(&config, &secret, approved["verifier"].as_str().unwrap());
    assert_eq!(code, 0, "{out}\n{err}");

    // `tokenctl run`: healthy.
    let (mut daemon, addr, log, _) =
        common::start_daemon(&mut tokenctl(&config, &secret, &["run"]));
    assert_eq!(shell.health(&addr).await["status"], "healthy");

    // The simulator moves past midnight New York.
    let sim_now = shell
        .get_json(&format!("{}/__sim/clock", shell.sim), None)
        .await;
    let now = chrono::DateTime::parse_from_rfc3339(sim_now["now"].as_str().unwrap()).unwrap();
    let ny = now.with_timezone(&chrono_tz::America::New_York);
    let midnight = chrono_tz::America::New_York
        .with_ymd_and_hms(ny.year(), ny.month(), ny.day(), 0, 0, 0)
        .unwrap()
        + chrono::Duration::days(1)
        + chrono::Duration::minutes(5);
    shell
        .sim(
            "/__sim/clock/set",
            serde_json::json!({"now": midnight.with_timezone(&Utc).to_rfc3339()}),
        )
        .await;

    // The next broker call tells the daemon; its alert names the URL and the way to answer.
    let requested = shell.counter("etrade_request_token").await;
    let r = shell
        .http
        .post(format!("http://{addr}/keepalive?account={ACCOUNT}"))
        .bearer_auth(CONTROL_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(
        !r.status().is_success(),
        "the broker refused the dead token"
    );
    let seen = common::until(&log, "ALERT: etrade/sandbox/main: log in now", &mut daemon);
    let alert = seen.last().unwrap().clone();
    let url = alert
        .split_whitespace()
        .find(|w| w.contains("/e/t/etws/authorize?"))
        .unwrap_or_else(|| panic!("no URL in {alert}"))
        .trim_end_matches([';', ','])
        .to_owned();
    let how = common::until(
        &log,
        "echo CODE | tokenctl login etrade/sandbox/main",
        &mut daemon,
    );
    assert!(
        how.last()
            .unwrap()
            .contains("POST /login/etrade/sandbox/main/complete"),
        "the daemon listens, so the route is named: {how:?}"
    );
    let health = shell.health(&addr).await;
    assert_ne!(health["status"], "healthy", "{health}");
    assert_eq!(health["reauthorization_required"], true, "{health}");
    assert_eq!(health["reauthorization_url"].as_str(), Some(url.as_str()));

    // The person opens it, approves, and pipes the verifier into `tokenctl login`.
    let approved = shell
        .sim(
            "/__sim/etrade/approve",
            serde_json::json!({"request_token": common::query_param(&url, "token")}),
        )
        .await;
    let (code, out, err) = pipe_login(&config, &secret, approved["verifier"].as_str().unwrap());
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("etrade/sandbox/main: logged in; token saved"),
        "{out}"
    );
    assert_eq!(
        shell.counter("etrade_request_token").await,
        requested + 1,
        "the daemon's request was answered; `tokenctl login` minted none"
    );

    // The daemon picks the login up by itself, without a restart.
    let started = Instant::now();
    loop {
        let health = shell.health(&addr).await;
        if health["status"] == "healthy" {
            println!(
                "daemon healthy {:?} after `tokenctl login`",
                started.elapsed()
            );
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {health}"
        );
        // Within the read budget of one source (30 at once, 120 a minute).
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    stop(&mut daemon);
}
