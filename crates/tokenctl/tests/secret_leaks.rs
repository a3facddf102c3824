//! Invariant 4: no secret appears in logs, `Debug`/`Display` output of public
//! types, error messages, health JSON, metrics or CLI output.
//!
//! One full lifecycle per broker against broker-sim (login, use, keep-alive,
//! renewal or refresh with rotation, faults, refusals, re-login, logout) with
//! every `tracing` event and span at TRACE captured, then everything a user
//! or an operator can see is scanned for every secret the run handled:
//! consumer secret, request-token secret, verifier, access token and secret,
//! FYERS secret key, PIN (right and wrong), appIdHash and its input, auth
//! code, access and (rotated) refresh tokens.
//!
//! It lives in the `tokenctl` crate because that is where the CLI binary,
//! the control server's metrics and both adapters meet.

use std::io::Write;
use std::sync::{Arc, Mutex};

use broker_sim::{BrokerSim, Endpoint, EtradeProblem, Fault, Rejection, SimConfig, Times};
use chrono::{Duration, TimeZone, Utc};
use etrade::{EtradeClient, EtradeConfig, EtradeCredentials, EtradeProvider};
use fyers::{FyersConfig, FyersCreds, FyersProvider};
use secrecy::{ExposeSecret, SecretString};
use token_core::{
    health_report, AccountKey, Environment, Event, FileStore, ManagedAccount, ManagerConfig,
    ManualClock, TokenManager, TokenStore,
};

const BIN: &str = env!("CARGO_BIN_EXE_tokenctl");

/// Everything written by the tracing subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// What the run saw: secrets to look for, and text a user could see.
#[derive(Default)]
struct Scan {
    secrets: Vec<(&'static str, String)>,
    outputs: Vec<(String, String)>,
}

impl Scan {
    fn secret(&mut self, what: &'static str, value: &str) {
        assert!(value.len() >= 4, "{what} too short to scan for");
        if !self.secrets.iter().any(|(_, v)| v == value) {
            self.secrets.push((what, value.to_owned()));
        }
    }
    fn output(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.outputs.push((place.into(), text.into()));
    }
    fn error(&mut self, place: &str, e: &token_core::Error) {
        self.output(format!("{place} (Display)"), e.to_string());
        self.output(format!("{place} (Debug)"), format!("{e:?}"));
    }
    fn merge(&mut self, other: Scan) {
        for (what, v) in other.secrets {
            self.secret(what, &v);
        }
        self.outputs.extend(other.outputs);
    }
    fn etrade_creds(&mut self, c: &EtradeCredentials) {
        self.secret("E*TRADE access token", c.oauth_token.expose_secret());
        self.secret("E*TRADE token secret", c.oauth_token_secret.expose_secret());
    }
    fn fyers_creds(&mut self, c: &FyersCreds) {
        self.secret("FYERS access token", c.access_token.expose_secret());
        if let Some(r) = &c.refresh_token {
            self.secret("FYERS refresh token", r.expose_secret());
        }
    }
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .expect("URL parses")
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

fn drain(rx: &mut tokio::sync::broadcast::Receiver<Event>, scan: &mut Scan, all: &mut Vec<Event>) {
    while let Ok(e) = rx.try_recv() {
        scan.output("event (Debug)", format!("{e:?}"));
        all.push(e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lifecycle_of_both_brokers_leaks_no_secret_anywhere() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only test in this binary");

    let mut scan = Scan::default();
    let mut events = Vec::new();
    // 09:00 New York on a Thursday.
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 5, 14, 0, 0).unwrap());
    let running = BrokerSim::start_with_manual_clock(SimConfig::default(), clock.clone())
        .await
        .expect("simulator starts");
    let sim = running.sim.clone();
    let demo = running.credentials();
    scan.secret("E*TRADE consumer secret", &demo.etrade_consumer_secret);
    scan.secret("FYERS secret key", &demo.fyers_secret_key);
    scan.secret("FYERS PIN", &demo.fyers_pin);
    let hash_input = format!("{}:{}", demo.fyers_client_id, demo.fyers_secret_key);
    scan.secret("appIdHash input", &hash_input);
    let app_id_hash = fyers::app_id_hash(
        &demo.fyers_client_id,
        &SecretString::from(demo.fyers_secret_key.clone()),
    );
    scan.secret("appIdHash", &app_id_hash);

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(FileStore::open(dir.path().join("tokens")).unwrap());

    // ---- E*TRADE ----
    let et_config = EtradeConfig::new(
        Environment::Sandbox,
        demo.etrade_consumer_key.clone(),
        SecretString::from(demo.etrade_consumer_secret.clone()),
    )
    .with_base_url(&running.base_url)
    .unwrap();
    scan.output("EtradeConfig (Debug)", format!("{et_config:?}"));
    let et_key = et_config.account_key("main").unwrap();
    let et_provider =
        Arc::new(EtradeProvider::with_clock(et_config, Arc::new(clock.clone())).unwrap());
    let et = TokenManager::new(
        et_key.clone(),
        et_provider.clone(),
        store.clone(),
        Arc::new(etrade::default_policy()),
        Arc::new(clock.clone()),
        ManagerConfig::default(),
    );
    let mut et_events = et.subscribe();
    let et_login = || {
        let et = et.clone();
        let sim = sim.clone();
        let mut local = Scan::default();
        async move {
            let req = et.begin_authorization().await.expect("request token");
            for (_, v) in req.pending.iter() {
                local.secret("E*TRADE request token secret", v.expose_secret());
            }
            local.output("AuthorizationRequest (Debug)", format!("{req:?}"));
            let verifier = sim
                .approve_etrade(&query_param(&req.url, "token"))
                .expect("approve");
            local.secret("E*TRADE verifier", &verifier);
            let creds = et
                .complete_authorization(&SecretString::from(verifier))
                .await
                .expect("access token");
            local.etrade_creds(&creds.payload);
            local.output("E*TRADE record (Debug)", format!("{creds:?}"));
            local
        }
    };
    scan.merge(et_login().await);
    let client = EtradeClient::new(et.clone(), et_provider.clone());
    let reply = client
        .get("/v1/accounts/list.json")
        .await
        .expect("data call");
    scan.output("ApiResponse (Debug)", format!("{reply:?}"));
    scan.output("EtradeClient (Debug)", format!("{client:?}"));
    scan.output("EtradeProvider (Debug)", format!("{et_provider:?}"));
    scan.output("signer (Debug)", format!("{:?}", et_provider.signer()));
    // Keep-alive, then idle and renewed.
    clock.advance(Duration::minutes(115));
    et.maintain().await;
    clock.advance(Duration::minutes(130));
    et.maintain().await;
    // Refused: the broker rejects the token; a person must log in again.
    clock.advance(Duration::minutes(130));
    sim.inject_fault(
        Endpoint::EtradeRenew,
        Fault::Unauthorized(Rejection::Etrade(EtradeProblem::TokenRejected)),
        Times::N(1),
    );
    if let Err(e) = et.ensure_fresh().await {
        scan.error("E*TRADE rejected renewal", &e);
    }
    if let Err(e) = et.ensure_fresh().await {
        scan.error("E*TRADE renewal after rejection", &e);
    }
    scan.output("E*TRADE health (Debug)", format!("{:?}", et.health()));
    scan.merge(et_login().await);
    // Transient trouble and a bad signature.
    clock.advance(Duration::minutes(130));
    sim.inject_fault(Endpoint::EtradeRenew, Fault::Status(503), Times::N(1));
    if let Err(e) = et.ensure_fresh().await {
        scan.error("E*TRADE 503", &e);
    }
    sim.inject_fault(
        Endpoint::EtradeAccountsList,
        Fault::Unauthorized(Rejection::Etrade(EtradeProblem::SignatureInvalid)),
        Times::N(1),
    );
    if let Err(e) = client.get("/v1/accounts/list.json").await {
        scan.output("EtradeError (Display)", e.to_string());
        scan.output("EtradeError (Debug)", format!("{e:?}"));
    }
    drain(&mut et_events, &mut scan, &mut events);

    // ---- FYERS ----
    let fy_config = FyersConfig::new(
        Environment::Sandbox,
        demo.fyers_client_id.clone(),
        SecretString::from(demo.fyers_secret_key.clone()),
        SecretString::from(demo.fyers_pin.clone()),
        demo.fyers_redirect_uri.clone(),
    )
    .with_base_url(&demo.fyers_base_url)
    .unwrap();
    scan.output("FyersConfig (Debug)", format!("{fy_config:?}"));
    let fy_key = AccountKey::new("fyers", Environment::Sandbox, "desk").unwrap();
    let fy_provider = Arc::new(FyersProvider::new(fy_config, Arc::new(clock.clone())).unwrap());
    let fy = TokenManager::new(
        fy_key.clone(),
        fy_provider.clone(),
        store.clone(),
        Arc::new(fyers::default_policy()),
        Arc::new(clock.clone()),
        fyers::default_manager_config(),
    );
    let mut fy_events = fy.subscribe();
    let fy_login = || {
        let fy = fy.clone();
        let sim = sim.clone();
        let demo = demo.clone();
        let mut local = Scan::default();
        async move {
            let req = fy.begin_authorization().await.expect("login URL");
            local.output("FYERS AuthorizationRequest (Debug)", format!("{req:?}"));
            let redirect = sim
                .approve_fyers(
                    &demo.fyers_client_id,
                    &demo.fyers_redirect_uri,
                    &query_param(&req.url, "state"),
                )
                .expect("simulated login");
            local.secret("FYERS auth code", &query_param(&redirect, "auth_code"));
            let parsed = fyers::redirect::parse_redirect(&redirect);
            local.output("Redirect (Debug)", format!("{parsed:?}"));
            let creds = fy
                .complete_authorization(&SecretString::from(redirect))
                .await
                .expect("login completes");
            local.fyers_creds(&creds.payload);
            local.output("FYERS record (Debug)", format!("{creds:?}"));
            local.output(
                "FYERS Authorization header (Debug)",
                format!(
                    "{:?}",
                    fy_provider_auth(&creds.payload, &demo.fyers_client_id)
                ),
            );
            local
        }
    };
    scan.merge(fy_login().await);
    scan.output("FyersProvider (Debug)", format!("{fy_provider:?}"));
    // The next trading day: refresh with the PIN, with rotation.
    sim.set_fyers_rotation(true);
    clock.advance(Duration::hours(24));
    fy.maintain().await;
    let current = fy.current().expect("refreshed");
    scan.fyers_creds(&current.payload);
    // Trouble: 503, then a wrong PIN (refused, never re-sent), then re-login.
    clock.advance(Duration::hours(24));
    sim.inject_fault(
        Endpoint::FyersValidateRefreshToken,
        Fault::Status(503),
        Times::N(1),
    );
    if let Err(e) = fy.ensure_fresh().await {
        scan.error("FYERS 503", &e);
    }
    let wrong_pin = "WrongPin-Rt5Yb2-9182";
    scan.secret("wrong FYERS PIN", wrong_pin);
    fy_provider.set_pin(SecretString::from(wrong_pin));
    clock.advance(Duration::minutes(10));
    if let Err(e) = fy.renew_now().await {
        scan.error("FYERS wrong PIN", &e);
    }
    scan.output("FYERS health (Debug)", format!("{:?}", fy.health()));
    fy_provider.set_pin(SecretString::from(demo.fyers_pin.clone()));
    scan.merge(fy_login().await);
    if let Err(e) = fy.ensure_fresh().await {
        scan.error("FYERS after re-login", &e);
    }
    drain(&mut fy_events, &mut scan, &mut events);

    // ---- health, metrics ----
    let accounts: Vec<Arc<dyn ManagedAccount>> = vec![Arc::new(et.clone()), Arc::new(fy.clone())];
    let now = token_core::Clock::now(&clock);
    let report = health_report(now, &accounts);
    scan.output(
        "health report JSON",
        serde_json::to_string_pretty(&report).unwrap(),
    );
    scan.output("health report (Debug)", format!("{report:?}"));
    let metrics = control::metrics::Metrics::new();
    for e in &events {
        metrics.record(e);
    }
    scan.output("metrics", metrics.render(now, &accounts));
    scan.output("TokenManager (Debug)", format!("{et:?} {fy:?}"));
    scan.output("store (Debug)", format!("{store:?}"));
    for key in store.list().await.unwrap() {
        let stored = store.load(&key).await.unwrap().unwrap();
        scan.output("StoredRecord (Debug)", format!("{stored:?}"));
        scan.output("AccountKey (Display)", key.to_string());
    }

    // ---- CLI, on the same store ----
    // The CLI runs on the system clock: bring the simulator to now and log
    // in again, so its probes, renewals and revokes really talk to the broker.
    clock.set(Utc::now());
    scan.merge(et_login().await);
    scan.merge(fy_login().await);
    let config = dir.path().join("tokenctl.toml");
    std::fs::write(dir.path().join("fyers_secret"), &demo.fyers_secret_key).unwrap();
    std::fs::write(
        &config,
        format!(
            r#"store = "tokens"

[[account]]
broker = "etrade"
environment = "sandbox"
label = "main"
consumer_key = "{}"
consumer_secret = {{ env = "LEAK_TEST_ETRADE_SECRET" }}
base_url = "{}"

[[account]]
broker = "fyers"
environment = "sandbox"
label = "desk"
client_id = "{}"
secret_key = {{ file = "fyers_secret" }}
pin = {{ env = "LEAK_TEST_FYERS_PIN" }}
redirect_uri = "{}"
base_url = "{}"
"#,
            demo.etrade_consumer_key,
            running.base_url,
            demo.fyers_client_id,
            demo.fyers_redirect_uri,
            demo.fyers_base_url
        ),
    )
    .unwrap();
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["probe", "fyers/sandbox/desk"],
        &["renew", "fyers/sandbox/desk"],
        &["probe", "etrade/sandbox/main"],
        &["renew", "etrade/sandbox/main"],
        &["revoke", "etrade/sandbox/main"],
        &["revoke", "fyers/sandbox/desk"],
    ] {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("--config")
            .arg(&config)
            .args(args)
            .env("LEAK_TEST_ETRADE_SECRET", &demo.etrade_consumer_secret)
            .env("LEAK_TEST_FYERS_PIN", &demo.fyers_pin)
            .env("RUST_LOG", "trace")
            .env_remove("TOKENCTL_CONFIG");
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .unwrap();
        let place = format!("tokenctl {}", args.join(" "));
        scan.output(
            format!("{place} (stdout)"),
            String::from_utf8_lossy(&out.stdout),
        );
        scan.output(
            format!("{place} (stderr)"),
            String::from_utf8_lossy(&out.stderr),
        );
    }

    // ---- the scan ----
    let log_text = logs.text();
    assert!(
        log_text.contains("TRACE") || log_text.contains("DEBUG"),
        "the capture saw no detailed logs: the scan would prove nothing"
    );
    scan.output("tracing logs at TRACE", log_text);
    let secrets = scan.secrets.len();
    // The scanner itself finds a planted leak (so a pass means something).
    let (what, planted) = &scan.secrets[0];
    let probe = vec![("planted".to_string(), format!("x={planted};"))];
    assert_eq!(
        leaks(&scan.secrets, &probe).len(),
        1,
        "scanner missed {what}"
    );
    let found = leaks(&scan.secrets, &scan.outputs);
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    if let Ok(path) = std::env::var("LEAK_SCAN_DUMP") {
        let dump: Vec<String> = scan
            .outputs
            .iter()
            .map(|(place, text)| format!("===== {place}\n{text}"))
            .collect();
        std::fs::write(path, dump.join("\n")).unwrap();
    }
    let bytes: usize = scan.outputs.iter().map(|(_, t)| t.len()).sum();
    eprintln!(
        "secret leak scan: {secrets} secrets, {} outputs, {bytes} bytes scanned, {} events",
        scan.outputs.len(),
        events.len()
    );
    assert!(
        secrets >= 14,
        "only {secrets} distinct secrets were exercised"
    );
}

/// Every (secret, place) pair where a secret shows up as a whole token.
fn leaks(secrets: &[(&'static str, String)], outputs: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (what, secret) in secrets {
        for (place, text) in outputs {
            if contains_token(text, secret) {
                found.push(format!("{what} appears in {place}"));
            }
        }
    }
    found
}

/// Whether `secret` occurs in `text` with no letter or digit right before
/// or after it: a secret quoted, in a URL, a header or a JSON string is
/// found; digits that happen to sit inside a longer number (a timestamp's
/// microseconds) are not a leak.
fn contains_token(text: &str, secret: &str) -> bool {
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(secret).any(|(at, _)| {
        !alnum(text[..at].chars().next_back()) && !alnum(text[at + secret.len()..].chars().next())
    })
}

#[test]
fn the_scanner_matches_whole_tokens_only() {
    let pin = "SimPin-Zq9vKx-4821";
    assert!(contains_token(&format!("pin={pin}&x=1"), pin));
    assert!(contains_token(&format!("{{\"pin\":\"{pin}\"}}"), pin));
    assert!(contains_token(pin, pin));
    assert!(
        contains_token(&format!("a{pin}a {pin}."), pin),
        "second occurrence"
    );
    assert!(!contains_token(&format!("x{pin}"), pin));
    assert!(!contains_token(&format!("{pin}7"), pin));
    // The false alarm of issue 14: a short PIN inside a log timestamp.
    assert!(!contains_token(
        "2026-03-05T06:14:42.312347Z INFO renewed",
        "1234"
    ));
    assert!(contains_token("pin 1234 sent", "1234"));
}

fn fy_provider_auth(creds: &FyersCreds, client_id: &str) -> SecretString {
    creds.authorization(client_id)
}
