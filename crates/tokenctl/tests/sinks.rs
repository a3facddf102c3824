//! Sinks end to end: a FYERS account configured through tokenctl's TOML,
//! against broker-sim on a manual clock; the `.env` and JSON sinks follow
//! login, renewal and expiry, driven by the manager's events.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_sim::{BrokerSim, RunningSim, SimConfig};
use chrono::TimeZone;
use secrecy::{ExposeSecret, SecretString};
use token_core::{Clock, ManagedAccount, ManualClock, TokenStore};
use tokenctl::accounts::{Account, Mode};
use tokenctl::config::Config;
use tokenctl::sink::{self, Sinks};

struct Env {
    _running: RunningSim,
    dir: tempfile::TempDir,
    clock: ManualClock,
    acct: Account,
    account: Arc<dyn ManagedAccount>,
    store: Arc<dyn TokenStore>,
    sinks: Sinks,
    running_sim: broker_sim::DemoCredentials,
    sim: BrokerSim,
}

fn registry() -> tokenctl::Registry {
    tokenctl::Registry::new()
        .register::<etrade::Etrade>()
        .register::<fyers::Fyers>()
}

/// A FYERS account whose sinks are `sinks` (TOML appended to its table).
async fn start(sinks: &str) -> Env {
    // Monday 2026-03-02 10:00 IST.
    let at = chrono_tz::Asia::Kolkata
        .with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let clock = ManualClock::new(at);
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
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
{sinks}
"#,
        client = c.fyers_client_id,
        redirect = c.fyers_redirect_uri,
        base = c.fyers_base_url,
    );
    let path = dir.path().join("tokenctl.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::parse(&text, &path, &registry()).expect("config parses");
    let cfg = &config.accounts[0];
    let acct = Account::open(cfg, Arc::new(clock.clone()), Mode::Online)
        .await
        .expect("account builds");
    let sinks = Sinks::new(
        cfg.sinks.clone(),
        "fyers",
        &[("access_token", "FYERS_ACCESS_TOKEN")],
    );
    Env {
        sim: running.sim.clone(),
        _running: running,
        dir,
        clock,
        account: acct.managed(),
        store: acct.store().expect("the store is kept"),
        acct,
        sinks,
        running_sim: c,
    }
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn login(&self) {
        let request = self.account.begin_authorization().await.expect("login URL");
        let state = url::Url::parse(&request.url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let c = &self.running_sim;
        let redirect = self
            .sim
            .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
            .unwrap();
        self.account
            .complete_authorization(&SecretString::from(redirect))
            .await
            .expect("login completes");
    }

    async fn access_token(&self) -> String {
        let rec = self.store.load(self.account.key()).await.unwrap().unwrap();
        rec.payload
            .get("access_token")
            .unwrap()
            .expose_secret()
            .to_owned()
    }
}

/// What a POSIX shell reads from the file (`set -a; . FILE`).
fn shell_reads(dir: &Path, file: &str, var: &str) -> String {
    let out = std::process::Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!("set -a; . ./{file}; printf %s \"${var}\""))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits (bounded) until `path` satisfies `pred`.
async fn until(path: &Path, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if pred(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} never matched: {text:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_dotenv_sink_follows_login_renewal_and_expiry_keeping_other_lines() {
    let env = start(
        r#"
[[account.sink]]
kind = "dotenv"
path = "bot.env"
"#,
    )
    .await;
    let file = env.path("bot.env");
    std::fs::write(
        &file,
        "# the bot's settings\nBOT_MODE=paper\nFYERS_ACCESS_TOKEN=stale\n",
    )
    .unwrap();
    let task = sink::spawn(
        env.acct.clone(),
        env.sinks.clone(),
        Arc::new(env.clock.clone()),
    );

    // Login: the event rewrites the file with the new token.
    env.login().await;
    let first = env.access_token().await;
    let text = until(&file, |t| t.contains(&first)).await;
    assert_eq!(
        shell_reads(env.dir.path(), "bot.env", "FYERS_ACCESS_TOKEN"),
        first
    );
    assert_eq!(shell_reads(env.dir.path(), "bot.env", "BOT_MODE"), "paper");
    assert!(
        text.starts_with("# the bot's settings\nBOT_MODE=paper\n"),
        "{text:?}"
    );
    assert!(!text.contains("stale"));
    assert_eq!(mode(&file), 0o600);

    // Renewal (FYERS refresh): a new access token, rewritten.
    env.account.renew_now().await.expect("refresh");
    let second = env.access_token().await;
    assert_ne!(first, second);
    until(&file, |t| t.contains(&second) && !t.contains(&first)).await;
    assert_eq!(
        shell_reads(env.dir.path(), "bot.env", "FYERS_ACCESS_TOKEN"),
        second
    );

    // Expiry (06:00 IST next day) with refresh refused: maintenance fails
    // to renew, and that event removes the dead token; the rest stays.
    env.sim.set_fyers_refresh_disabled(true);
    env.clock.advance(chrono::Duration::hours(30));
    env.account.maintain().await;
    let text = until(&file, |t| !t.contains("FYERS_ACCESS_TOKEN")).await;
    assert_eq!(text, "# the bot's settings\nBOT_MODE=paper\n");
    task.abort();
}

#[tokio::test]
async fn the_json_sink_has_the_documented_schema_and_says_expired_when_kept() {
    let env = start(
        r#"
[[account.sink]]
kind = "json"
path = "tokens_prod.json"
on_expiry = "keep"
"#,
    )
    .await;
    let file = env.path("tokens_prod.json");
    env.login().await;
    sink::sync(
        env.account.as_ref(),
        env.store.as_ref(),
        &env.sinks,
        env.clock.now(),
    )
    .await;
    let token = env.access_token().await;
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["account"], "fyers/production/desk");
    assert_eq!(doc["tokens"]["access_token"], token.as_str());
    assert_eq!(doc["state"], "fresh");
    assert_eq!(doc["issued_at"], "2026-03-02T04:30:00Z");
    assert_eq!(doc["expires_at"], "2026-03-03T00:30:00Z");
    for k in ["last_used", "idle_at", "refresh_expires_at", "next_action"] {
        assert!(doc.get(k).is_some(), "{k} missing");
    }
    assert_eq!(mode(&file), 0o600);

    env.clock.advance(chrono::Duration::hours(30));
    sink::sync(
        env.account.as_ref(),
        env.store.as_ref(),
        &env.sinks,
        env.clock.now(),
    )
    .await;
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["state"], "expired");
    assert_eq!(
        doc["tokens"]["access_token"],
        token.as_str(),
        "kept per on_expiry"
    );
}

#[tokio::test]
async fn on_change_runs_after_a_write_only_and_a_hanging_one_does_not_block_the_writer() {
    let env = start(
        r#"
[[account.sink]]
kind = "dotenv"
path = "a.env"
on_change = ["sh", "-c", "echo ran >> \"$TOKENCTL_SINK.log\""]

[[account.sink]]
kind = "json"
path = "b.json"
on_change = ["sleep", "30"]
on_change_timeout_secs = 1
"#,
    )
    .await;
    env.login().await;
    let started = Instant::now();
    sink::sync(
        env.account.as_ref(),
        env.store.as_ref(),
        &env.sinks,
        env.clock.now(),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "sync waited for on_change"
    );
    until(&env.path("a.env.log"), |t| t == "ran\n").await;
    // Nothing changed: no write, no second run.
    sink::sync(
        env.account.as_ref(),
        env.store.as_ref(),
        &env.sinks,
        env.clock.now(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        std::fs::read_to_string(env.path("a.env.log")).unwrap(),
        "ran\n"
    );
    assert!(env.path("b.json").exists());
}

#[tokio::test]
async fn crlf_line_endings_and_foreign_lines_are_kept() {
    let env = start(
        r#"
[[account.sink]]
kind = "dotenv"
path = "win.env"
vars = { access_token = "MY_FYERS_TOKEN" }
"#,
    )
    .await;
    let file = env.path("win.env");
    std::fs::write(&file, "A=1\r\n# note\r\nMY_FYERS_TOKEN=old\r\nB='x y'\r\n").unwrap();
    env.login().await;
    sink::sync(
        env.account.as_ref(),
        env.store.as_ref(),
        &env.sinks,
        env.clock.now(),
    )
    .await;
    let token = env.access_token().await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text,
        format!("A=1\r\n# note\r\nMY_FYERS_TOKEN={token}\r\nB='x y'\r\n")
    );
    assert!(
        !text.contains("FYERS_ACCESS_TOKEN"),
        "the configured name replaces the default"
    );
}
