//! The `tokenctl` binary end to end: configs in temp dirs, secrets in the
//! child's environment, brokers simulated by broker-sim on 127.0.0.1.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, Endpoint, RunningSim, SimConfig};
use secrecy::ExposeSecret;
use token_core::{AccountKey, Environment, FileStore, SystemClock, TokenStoreExt};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");
const SECRET_VAR: &str = "TOKENCTL_TEST_ETRADE_SECRET";
/// At least 32 random characters: the control server refuses weaker tokens.
const CONTROL_TOKEN: &str = "ctl-7d3e9a0c5b81f4e26a9d0c3b7e5f1a84d2c6b09e";

fn tokenctl(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(config).args(args);
    c.env_remove("TOKENCTL_CONFIG").env_remove("RUST_LOG");
    c
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("tokenctl.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn sim_config_text(base_url: &str, c: &broker_sim::DemoCredentials) -> String {
    format!(
        r#"# test config
store = "tokens"

[[account]]
broker = "etrade"
environment = "sandbox"
label = "main"
consumer_key = "{key}"
consumer_secret = {{ env = "{SECRET_VAR}" }}
base_url = "{base_url}"

[[account]]
broker = "fyers"
environment = "sandbox"
label = "desk"
client_id = "{client}"
secret_key = {{ file = "fyers_secret" }}
pin = {{ env = "TOKENCTL_TEST_FYERS_PIN" }}
redirect_uri = "{redirect}"
base_url = "{fyers_base}"

[control]
token = {{ env = "TOKENCTL_TEST_CONTROL_TOKEN" }}
listen = "127.0.0.1:0"
"#,
        key = c.etrade_consumer_key,
        client = c.fyers_client_id,
        redirect = c.fyers_redirect_uri,
        fyers_base = c.fyers_base_url,
    )
}

struct SimEnv {
    running: RunningSim,
    dir: tempfile::TempDir,
    config: PathBuf,
    creds: broker_sim::DemoCredentials,
}

impl SimEnv {
    async fn start() -> SimEnv {
        let running = BrokerSim::start(SimConfig::default(), Arc::new(SystemClock))
            .await
            .expect("simulator starts");
        let creds = running.credentials();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fyers_secret"),
            format!("{}\n", creds.fyers_secret_key),
        )
        .unwrap();
        let config = write_config(dir.path(), &sim_config_text(&running.base_url, &creds));
        SimEnv {
            running,
            dir,
            config,
            creds,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = tokenctl(&self.config, args);
        c.env(SECRET_VAR, &self.creds.etrade_consumer_secret)
            .env("TOKENCTL_TEST_FYERS_PIN", &self.creds.fyers_pin)
            .env("TOKENCTL_TEST_CONTROL_TOKEN", CONTROL_TOKEN);
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd(args).output().unwrap();
        let (out, err) = text(&o);
        (o.status.code().unwrap_or(-1), out, err)
    }

    fn store(&self) -> FileStore {
        FileStore::open(self.dir.path().join("tokens")).unwrap()
    }

    /// Every secret the test knows: configured ones and stored tokens.
    async fn secrets(&self) -> Vec<String> {
        let mut s = vec![
            self.creds.etrade_consumer_secret.clone(),
            self.creds.fyers_secret_key.clone(),
            self.creds.fyers_pin.clone(),
        ];
        let store = self.store();
        let et = AccountKey::new("etrade", Environment::Sandbox, "main").unwrap();
        if let Ok(Some(r)) = store.load_typed::<etrade::EtradeCredentials>(&et).await {
            s.push(r.payload.oauth_token.expose_secret().to_owned());
            s.push(r.payload.oauth_token_secret.expose_secret().to_owned());
        }
        let fy = AccountKey::new("fyers", Environment::Sandbox, "desk").unwrap();
        if let Ok(Some(r)) = store.load_typed::<fyers::FyersCreds>(&fy).await {
            s.push(r.payload.access_token.expose_secret().to_owned());
            if let Some(t) = &r.payload.refresh_token {
                s.push(t.expose_secret().to_owned());
            }
        }
        s
    }
}

fn assert_no_secret(secrets: &[String], output: &str) {
    for s in secrets {
        assert!(s.len() >= 4, "test secret too short to check: {s:?}");
        assert!(
            !output.contains(s.as_str()),
            "a secret leaked into CLI output:\n{output}"
        );
    }
}

/// Spawns a login; returns the child, the URL it printed, and everything
/// it printed so far.
fn start_login(
    env: &SimEnv,
    args: &[&str],
    url_marker: &str,
) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = env
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::lines(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(url_marker) => return (child, line.trim().to_owned(), rx),
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut s, &mut err);
                }
                panic!("login printed no URL ({e}); stderr:\n{err}");
            }
        }
    }
}

fn finish(mut child: Child, answer: &str, rx: mpsc::Receiver<String>) -> (i32, String, String) {
    {
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{answer}").unwrap();
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut err).unwrap();
    }
    let status = child.wait().unwrap();
    // The reader thread may not have passed on the last lines yet: wait for
    // it to see the end of stdout (bounded), not just for what arrived.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        out.push(line);
    }
    (status.code().unwrap_or(-1), out.join("\n"), err)
}

#[test]
fn demo_runs_days_of_all_four_lifecycles_in_seconds_and_ends_with_the_status_table() {
    let started = Instant::now();
    let o = Command::new(BIN)
        .args(["demo", "--pace-ms", "0"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    for expected in [
        "E*TRADE  logged in; token saved to the store",
        "FYERS    logged in; token saved to the store",
        "E*TRADE  bot: GET /v1/market/quote/AAPL (signed) -> HTTP 200",
        "E*TRADE  keep-alive call: idle timer reset",
        "E*TRADE  token was idle: renewed silently (renew_access_token)",
        "= Tue 00:00 EDT  E*TRADE  token expired",
        // The need at midnight is not a prompt; the person is asked at 08:00.
        "= Tue 00:00 EDT  E*TRADE  etrade/sandbox/demo: a login is needed (credentials expired); the person is asked at the login window",
        "= Tue 08:00 EDT  E*TRADE  ALERT: etrade/sandbox/demo: log in now (credentials expired); critical at Tue 02 Jun 09:20 EDT (13:20 UTC); open http://127.0.0.1:",
        "= Tue 08:20 EDT  E*TRADE  ALERT: etrade/sandbox/demo: reminder 1: log in now (credentials expired; the earlier login URL no longer works, use this one)",
        "Answer with the verifier code shown after login, or the full URL the browser lands on as CODE: `echo CODE | tokenctl login etrade/sandbox/demo`.",
        "FYERS    access token expired (06:00 IST): refreshed silently with refresh token + PIN",
        "FYERS    scheduled refresh (08:45 IST Mon-Fri)",
        "FYERS    WARNING: silent renewal ends Wed 03 Jun 06:00 IST",
        "= Wed 08:00 IST  FYERS    ALERT: fyers/sandbox/demo: log in now (credentials expired); critical at Wed 03 Jun 09:00 IST (03:30 UTC); open http://127.0.0.1:",
        // Schwab: the login last Wednesday, a refresh shown once a day, the
        // warnings a day and two hours before the 7-day end, the weekly login.
        "Wed 27 May 12:30 UTC = Wed 08:30 EDT  Schwab   logged in; token saved to the store",
        "Schwab   access token (30 min) refreshed 5 min before its end",
        "[every 25 min; the rest of this day's are not shown]",
        "Tue 02 Jun 12:30 UTC = Tue 08:30 EDT  Schwab   WARNING: silent renewal ends Wed 03 Jun 08:30 EDT",
        "Wed 03 Jun 10:30 UTC = Wed 06:30 EDT  Schwab   WARNING: silent renewal ends Wed 03 Jun 08:30 EDT",
        "Schwab   ALERT: schwab/sandbox/demo: log in now (credentials expired)",
        "Wed 03 Jun 13:10 UTC = Wed 09:10 EDT  Schwab   a person logs in (the weekly login)",
        "Schwab   bot: GET /trader/v1/accounts/accountNumbers with `Authorization: Bearer` -> ok",
        // Kite: dies at 06:00 IST, a person logs in before the open.
        "= Tue 06:00 IST  Kite     token expired",
        "= Tue 08:00 IST  Kite     ALERT: kite/sandbox/demo: log in now (credentials expired); critical at Tue 02 Jun 09:00 IST (03:30 UTC); open http://127.0.0.1:",
        "= Tue 08:30 IST  Kite     a person logs in before the open",
        "Kite     bot: GET /user/profile with `Authorization: token api_key:access_token` -> ok",
        "ACCOUNT ",
        "overall: ",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    // Three trading days of E*TRADE logins plus the fourth morning's.
    assert_eq!(out.matches("E*TRADE  logged in").count(), 4, "{out}");
    // Kite every trading day (Mon-Thu); Schwab twice in the week (the 7-day end).
    assert_eq!(out.matches("Kite     logged in").count(), 4, "{out}");
    assert_eq!(out.matches("Schwab   logged in").count(), 2, "{out}");
    // Readable: Schwab's refreshes every 25 minutes are one line a day.
    assert_eq!(
        out.matches("Schwab   access token (30 min) refreshed")
            .count(),
        5,
        "{out}"
    );
    // Four brokers, login windows with their reminders, pre-market checks.
    assert!(out.lines().count() < 240, "{} lines", out.lines().count());
    let table = out.split("ACCOUNT ").nth(1).unwrap();
    assert!(table.contains("etrade/sandbox/demo  healthy"), "{table}");
    assert!(table.contains("fyers/sandbox/demo"), "{table}");
    assert!(table.contains("schwab/sandbox/demo  healthy"), "{table}");
    assert!(table.contains("kite/sandbox/demo    healthy"), "{table}");
    let sim = SimConfig::default();
    assert_no_secret(
        &[
            sim.etrade_consumer_secret,
            sim.fyers_secret_key,
            sim.fyers_pin,
            sim.schwab.app_secret,
            sim.kite.api_secret,
        ],
        &format!("{out}{err}"),
    );
    assert!(elapsed < Duration::from_secs(20), "demo took {elapsed:?}");
}

#[test]
fn a_missing_config_file_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let o = tokenctl(&path, &["status"]).output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        err.trim(),
        format!(
            "tokenctl: config file not found: {} (from --config); create it or pass --config PATH (see `tokenctl --help`)",
            path.display()
        )
    );
    // The environment variable is honoured and named.
    let o = Command::new(BIN)
        .arg("status")
        .env("TOKENCTL_CONFIG", &path)
        .output()
        .unwrap();
    assert!(
        text(&o).1.contains("(from $TOKENCTL_CONFIG)"),
        "{}",
        text(&o).1
    );
}

#[test]
fn a_bad_field_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "[[account]]\nbroker = \"etrade\"\nlabel = \"main\"\nconsumer_key = \"k\"\nconsumer_secret = { env = \"X\" }\nkeepalive = true\n",
    );
    let o = tokenctl(&path, &["status"]).output().unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3));
    let prefix = format!("tokenctl: {}:6:", path.display());
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.contains("keepalive"), "{err}");

    // A literal secret is refused, on its line, without echoing it.
    let path = write_config(
        dir.path(),
        "[[account]]\nbroker = \"etrade\"\nlabel = \"main\"\nconsumer_key = \"k\"\nconsumer_secret = \"s3cr3t-value\"\n",
    );
    let (_, err) = text(&tokenctl(&path, &["status"]).output().unwrap());
    assert!(
        err.starts_with(&format!("tokenctl: {}:5:", path.display())),
        "{err}"
    );
    assert!(
        err.contains("secrets are never written in the config file"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-value"), "{err}");
}

#[test]
fn an_unknown_broker_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        "\n[[account]]\nbroker = \"robinhood\"\nlabel = \"main\"\n",
    );
    let o = tokenctl(&path, &["status"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        text(&o).1.trim(),
        format!(
            "tokenctl: {}:3: unknown broker \"robinhood\" (known brokers: etrade, fyers, schwab, kite)",
            path.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_names_the_account_field_and_variable_but_status_needs_none() {
    let env = SimEnv::start().await;
    let o = tokenctl(&env.config, &["renew", "main"])
        .env_remove(SECRET_VAR)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        text(&o).1.trim(),
        format!("tokenctl: account etrade/sandbox/main: secret `consumer_secret`: environment variable {SECRET_VAR} is not set")
    );
    // status reads only the stores: it works without secrets, and says
    // nobody logged in yet (critical, exit 2).
    let o = tokenctl(&env.config, &["status"]).output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(
        out.contains("etrade/sandbox/main") && out.contains("never logged in"),
        "{out}"
    );
    assert!(out.ends_with("overall: critical\n"), "{out}");
    let o = tokenctl(&env.config, &["status", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["status"], "critical");
    assert_eq!(report["accounts"].as_array().unwrap().len(), 2);
    assert_eq!(o.status.code(), Some(2));
    drop(env.running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrade_login_status_renew_probe_revoke_against_the_simulator_without_leaking_secrets() {
    let env = SimEnv::start().await;
    let mut outputs = String::new();
    let (child, url, rx) = start_login(&env, &["login", "etrade/main"], "/e/t/etws/authorize?");
    let verifier = env
        .running
        .sim
        .approve_etrade(&common::query_param(&url, "token"))
        .unwrap();
    let (code, out, err) = finish(child, &verifier, rx);
    outputs.push_str(&format!("{url}\n{out}\n{err}\n"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("etrade/sandbox/main: logged in; token saved"),
        "{out}"
    );
    assert!(
        err.contains("type the verification code"),
        "progress shown: {err}"
    );
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccessToken), 1);

    // status: healthy E*TRADE, FYERS never logged in -> critical overall.
    let (code, out, err) = env.run(&["status", "--json"]);
    outputs.push_str(&out);
    assert_eq!(code, 2, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["accounts"][0]["key"]["label"], "main");
    assert_eq!(report["accounts"][0]["status"], "healthy");
    assert_eq!(report["accounts"][0]["state"], "fresh");

    let (code, out, err) = env.run(&["renew", "main"]);
    outputs.push_str(&format!("{out}{err}"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRenew), 1);
    assert!(out.contains("healthy"), "{out}");

    let (code, out, err) = env.run(&["probe", "etrade/sandbox/main"]);
    outputs.push_str(&format!("{out}{err}"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("the broker accepted the token"), "{out}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccountsList), 1);

    let secrets = env.secrets().await;
    assert_eq!(secrets.len(), 5, "the stored token pair is checked too");
    assert_no_secret(&secrets, &outputs);

    let (code, out, err) = env.run(&["revoke", "main"]);
    assert_no_secret(&secrets, &format!("{out}{err}"));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRevoke), 1);
    let (code, _, err) = env.run(&["probe", "main"]);
    assert_eq!(code, 3);
    assert!(err.contains("no token in the store"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fyers_login_with_a_pasted_redirect_then_status_is_healthy() {
    let env = SimEnv::start().await;
    // Log both in so the overall status is healthy.
    let (child, url, rx) = start_login(&env, &["login", "main"], "/e/t/etws/authorize?");
    let verifier = env
        .running
        .sim
        .approve_etrade(&common::query_param(&url, "token"))
        .unwrap();
    assert_eq!(finish(child, &verifier, rx).0, 0);

    let (child, url, rx) = start_login(&env, &["login", "desk", "--paste"], "/generate-authcode?");
    assert_eq!(
        common::query_param(&url, "client_id"),
        env.creds.fyers_client_id
    );
    let redirect = env
        .running
        .sim
        .approve_fyers(
            &env.creds.fyers_client_id,
            &env.creds.fyers_redirect_uri,
            &common::query_param(&url, "state"),
        )
        .unwrap();
    let (code, out, err) = finish(child, &redirect, rx);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("fyers/sandbox/desk: logged in; token saved"),
        "{out}"
    );
    assert!(err.contains("paste the URL"), "{err}");

    let (code, table, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{table}{err}");
    assert!(table.ends_with("overall: healthy\n"), "{table}");
    let secrets = env.secrets().await;
    assert_eq!(secrets.len(), 7);
    assert_no_secret(&secrets, &format!("{out}{err}{table}"));
    // The auth code in the redirect is single use and never echoed either.
    assert!(!format!("{out}{err}").contains(&common::query_param(&redirect, "auth_code")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_maintains_accounts_and_stops_cleanly_on_sigterm() {
    let env = SimEnv::start().await;
    let mut child = env
        .cmd(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = common::lines(child.stderr.take().unwrap());
    let log = common::until(&rx, "maintaining accounts", &mut child);
    let log = common::stop_daemon(child, rx, log);
    assert!(log.contains("no token in the store"), "{log}");
    assert!(
        log.contains("shutting down") && log.contains("SIGTERM"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
    assert_no_secret(&env.secrets().await, &log);
}

#[test]
fn help_on_every_command_shows_examples() {
    for cmd in [
        None,
        Some("demo"),
        Some("login"),
        Some("status"),
        Some("renew"),
        Some("probe"),
        Some("revoke"),
        Some("run"),
    ] {
        let mut c = Command::new(BIN);
        c.args(cmd).arg("--help");
        let o = c.output().unwrap();
        let (out, _) = text(&o);
        assert!(o.status.success(), "{cmd:?}");
        assert!(out.contains("Example"), "{cmd:?}: {out}");
    }
    // An unknown command is a usage error (exit 3), not "critical" (2).
    let o = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert_eq!(o.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_listen_serves_the_control_endpoints_behind_the_bearer_token() {
    let env = SimEnv::start().await;
    let body = std::fs::read_to_string(&env.config).unwrap().replace(
        "[control]\nlisten = \"127.0.0.1:0\"\n",
        "[control]\ntoken = { env = \"TOKENCTL_TEST_CONTROL_TOKEN\" }\n",
    );
    assert!(body.contains("TOKENCTL_TEST_CONTROL_TOKEN"), "{body}");
    std::fs::write(&env.config, body).unwrap();
    let control_token = CONTROL_TOKEN;
    let (child, addr, rx, log) = common::start_daemon(
        env.cmd(&["run", "--listen", "127.0.0.1:0"])
            .env("TOKENCTL_TEST_CONTROL_TOKEN", control_token),
    );
    let http = reqwest::Client::new();
    let health = format!("http://{addr}/health");
    let unauth = http.get(&health).send().await.unwrap();
    assert_eq!(unauth.status().as_u16(), 401);
    let authed = http
        .get(&health)
        .bearer_auth(control_token)
        .send()
        .await
        .unwrap();
    // Nobody has logged in: both accounts are critical, so 503 with the report.
    assert_eq!(authed.status().as_u16(), 503);
    let report: serde_json::Value = authed.json().await.unwrap();
    assert_eq!(report["status"], "critical");
    assert_eq!(report["accounts"].as_array().map(Vec::len), Some(2));
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .bearer_auth(control_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("broker_tokens_account_status"),
        "{metrics}"
    );

    let log = common::stop_daemon(child, rx, log);
    let mut secrets = env.secrets().await;
    secrets.push(control_token.to_string());
    assert_no_secret(&secrets, &log);
    assert_no_secret(&secrets, &metrics);
}

#[test]
fn listen_without_a_control_token_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "store = \"tokens\"\n\n[[account]]\nbroker = \"etrade\"\nenvironment = \"sandbox\"\nlabel = \"main\"\nconsumer_key = \"k\"\nconsumer_secret = { env = \"NOPE_SECRET\" }\n",
    );
    let o = tokenctl(&config, &["run", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("need a [control] table with a bearer token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etrade_login_can_be_finished_later_with_verifier() {
    let env = SimEnv::start().await;
    // Step 1: no verifier on stdin (closed): prints the URL and how to finish.
    let o = env
        .cmd(&["login", "etrade/main"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("echo CODE | tokenctl login etrade/sandbox/main"),
        "{out}"
    );
    let url = out
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/e/t/etws/authorize?"))
        .expect("authorize URL printed")
        .to_owned();
    let pending = env
        .dir
        .path()
        .join("tokens/.login-etrade.sandbox.main.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pending).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "the pending login holds the request token secret"
        );
    }
    // Step 2: the person approves in the browser; a later run finishes it.
    let verifier = env
        .running
        .sim
        .approve_etrade(&common::query_param(&url, "token"))
        .unwrap();
    let (code, out2, err2) = env.run(&["login", "etrade/main", "--verifier", &verifier]);
    assert_eq!(code, 0, "{out2}\n{err2}");
    assert!(
        out2.contains("etrade/sandbox/main: logged in; token saved"),
        "{out2}"
    );
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRequestToken), 1);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccessToken), 1);
    assert!(!pending.exists(), "the pending login is removed once used");
    // Finishing again without a login in progress is a clear error.
    let (code, _, err3) = env.run(&["login", "etrade/main", "--verifier", &verifier]);
    assert_eq!(code, 3);
    assert!(err3.contains("no login in progress"), "{err3}");
    let all = format!("{out}\n{err}\n{out2}\n{err2}\n{err3}");
    assert_no_secret(&env.secrets().await, &all);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_others_can_read_is_warned_about_but_still_used() {
    use std::os::unix::fs::PermissionsExt;
    let env = SimEnv::start().await;
    let secret = env.dir.path().join("fyers_secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = env.run(&["renew", "desk"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("no token in the store"),
        "the secret was read: {err}"
    );
    assert!(err.contains("readable by group or others"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, _, err) = env.run(&["renew", "desk"]);
    assert!(!err.contains("readable by group or others"), "{err}");
    assert_no_secret(&env.secrets().await, &err);
}

/// Starts a login in another process (`tokenctl login < /dev/null`, as the
/// daemon's alert would) and approves it in the simulator: the verifier.
fn login_started_elsewhere(env: &SimEnv) -> String {
    let o = env
        .cmd(&["login", "etrade/main"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    let url = out
        .lines()
        .map(str::trim)
        .find(|l| l.contains("/e/t/etws/authorize?"))
        .expect("authorize URL printed")
        .to_owned();
    env.running
        .sim
        .approve_etrade(&common::query_param(&url, "token"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_in_progress_is_answered_on_stdin_from_a_code_file_or_argv_with_a_warning() {
    let env = SimEnv::start().await;
    let logged_in = "etrade/sandbox/main: logged in; token saved";

    // `echo VERIFIER | tokenctl login ACCOUNT` finishes the live request.
    let verifier = login_started_elsewhere(&env);
    let mut child = env
        .cmd(&["login", "etrade/main"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{verifier}").unwrap();
    let o = child.wait_with_output().unwrap();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains(logged_in), "{out}");
    assert_eq!(
        env.running.sim.calls(Endpoint::EtradeRequestToken),
        1,
        "the second process answered the first one's request, minting none"
    );
    assert!(!err.contains("--verifier puts"), "{err}");

    // --code-file: read and trimmed; a file others can read is warned about.
    let verifier = login_started_elsewhere(&env);
    let file = env.dir.path().join("code.txt");
    std::fs::write(&file, format!("  {verifier}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (code, out, err) = env.run(&[
        "login",
        "etrade/main",
        "--code-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(logged_in), "{out}");
    #[cfg(unix)]
    assert!(
        err.contains("is readable by other users (mode 644)"),
        "{err}"
    );
    assert!(!err.contains(&verifier), "{err}");
    let empty = env.dir.path().join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let (code, _, err) = env.run(&[
        "login",
        "etrade/main",
        "--code-file",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("is empty"), "{err}");

    // --verifier still works, with a warning that argv is visible.
    let verifier = login_started_elsewhere(&env);
    let (code, out, err) = env.run(&["login", "etrade/main", "--verifier", &verifier]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(logged_in), "{out}");
    assert!(err.contains("other users can see it (ps, /proc)"), "{err}");
    assert_eq!(env.running.sim.calls(Endpoint::EtradeRequestToken), 3);
    assert_eq!(env.running.sim.calls(Endpoint::EtradeAccessToken), 3);
}
