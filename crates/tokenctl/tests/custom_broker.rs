//! Adding a broker to `tokenctl` is its bundle plus one registration line.
//!
//! This test is its own `tokenctl` build: `main` registers a made-up "Acme"
//! broker (an OAuth 2 style login code, 8-hour access tokens re-minted from
//! a refresh token) next to E*TRADE and FYERS and, when started with
//! [`CLI_MARKER`], is the CLI. The test half starts a small Acme server on
//! 127.0.0.1 and drives `login`, `status`, `renew` and `run` through that
//! CLI as child processes. No tokenctl or control source knows Acme.
//!
//! (`harness = false`: a test binary that is also the CLI under test.)

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Duration;
use chrono_tz::Tz;
use common::{lines, until};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use token_core::policy::{ExpiryPolicy, ExplicitExpiry};
use token_core::{
    serde_secret, AccountKey, AuthorizationRequest, Broker, BuildContext, BuildError, Capabilities,
    Clock, Error, Expects, FileStore, ManagerConfig, Metadata, Record, SecretFields, SecretSource,
    TokenProvider, TokenStoreExt,
};

const CLI_MARKER: &str = "--run-as-tokenctl";
const CLIENT_SECRET: &str = "S3cr3t-Zq9vKx-acme-client";
const SECRET_VAR: &str = "ACME_TEST_CLIENT_SECRET";

// ---------------------------------------------------------------- the bundle

/// What the store keeps for an Acme account.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AcmeCreds {
    #[serde(with = "serde_secret")]
    access_token: SecretString,
    #[serde(with = "serde_secret")]
    refresh_token: SecretString,
}

/// An `[[account]]` with `broker = "acme"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcmeSettings {
    client_id: String,
    client_secret: SecretSource,
    base_url: String,
}

#[derive(Debug)]
struct AcmeProvider {
    http: reqwest::Client,
    base_url: url::Url,
    client_id: String,
    client_secret: SecretString,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
}

impl AcmeProvider {
    async fn token(
        &self,
        key: &AccountKey,
        form: &[(&str, &str)],
    ) -> Result<Record<AcmeCreds>, Error> {
        let mut form = form.to_vec();
        form.push(("client_id", &self.client_id));
        form.push(("client_secret", self.client_secret.expose_secret()));
        let url = self
            .base_url
            .join("/token")
            .map_err(|e| Error::Config(e.to_string()))?;
        let resp = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| Error::transient(format!("acme unreachable: {e}")))?;
        match resp.status().as_u16() {
            200 => {}
            400 | 401 => return Err(Error::rejected(format!("acme said {}", resp.status()))),
            _ => return Err(Error::transient(format!("acme said {}", resp.status()))),
        }
        let t: TokenAnswer = resp
            .json()
            .await
            .map_err(|e| Error::Protocol(format!("acme token answer: {e}")))?;
        let now = self.clock.now();
        let mut meta = Metadata::issued(now);
        meta.expires_at = Some(now + Duration::seconds(t.expires_in));
        meta.refresh_expires_at = Some(now + Duration::days(30));
        let creds = AcmeCreds {
            access_token: SecretString::from(t.access_token),
            refresh_token: SecretString::from(t.refresh_token),
        };
        Ok(Record::new(key.clone(), meta, creds))
    }
}

#[async_trait]
impl TokenProvider<AcmeCreds> for AcmeProvider {
    fn broker(&self) -> &str {
        Acme::NAME
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            authorize: true,
            renew: true,
            probe: true,
            revoke: false,
        }
    }
    async fn start_authorization(&self, key: &AccountKey) -> Result<AuthorizationRequest, Error> {
        let mut url = self
            .base_url
            .join("/authorize")
            .map_err(|e| Error::Config(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("state", key.label());
        Ok(AuthorizationRequest {
            key: key.clone(),
            url: url.to_string(),
            expects: Expects::Verifier,
            instructions: "Log in to Acme and type the code it shows".into(),
            expires_at: Some(self.clock.now() + Duration::minutes(10)),
            pending: SecretFields::new(),
        })
    }
    async fn complete_authorization(
        &self,
        request: &AuthorizationRequest,
        code: &SecretString,
    ) -> Result<Record<AcmeCreds>, Error> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
        ];
        self.token(&request.key, &form).await
    }
    async fn renew(&self, record: &Record<AcmeCreds>) -> Result<Record<AcmeCreds>, Error> {
        let refresh = record.payload.refresh_token.expose_secret();
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
        self.token(&record.key, &form).await
    }
    async fn probe(&self, record: &Record<AcmeCreds>) -> Result<(), Error> {
        let url = self
            .base_url
            .join("/me")
            .map_err(|e| Error::Config(e.to_string()))?;
        let resp = self
            .http
            .get(url)
            .bearer_auth(record.payload.access_token.expose_secret())
            .send()
            .await
            .map_err(|e| Error::transient(format!("acme unreachable: {e}")))?;
        match resp.status().as_u16() {
            200 => Ok(()),
            401 => Err(Error::rejected("acme refused the access token")),
            s => Err(Error::transient(format!("acme said {s}"))),
        }
    }
}

/// The bundle: everything tokenctl needs to know about Acme.
struct Acme;

impl Broker for Acme {
    const NAME: &'static str = "acme";
    const DISPLAY_NAME: &'static str = "Acme";
    type Payload = AcmeCreds;
    type Settings = AcmeSettings;
    type Provider = AcmeProvider;

    fn exchange_zone() -> Tz {
        chrono_tz::America::New_York
    }
    fn default_policy() -> Arc<dyn ExpiryPolicy> {
        Arc::new(ExplicitExpiry)
    }
    fn default_manager_config() -> ManagerConfig {
        ManagerConfig::default()
    }
    fn provider(s: &AcmeSettings, ctx: &BuildContext) -> Result<AcmeProvider, BuildError> {
        let client_secret = ctx.secret("client_secret", &s.client_secret)?;
        let base_url = token_core::net::require_https_unless_loopback("base_url", &s.base_url)?;
        Ok(AcmeProvider {
            http: reqwest::Client::new(),
            base_url,
            client_id: s.client_id.clone(),
            client_secret,
            clock: ctx.clock.clone(),
        })
    }
    fn describe_renewal(_reason: token_core::RenewalReason) -> String {
        "acme: new access token from the refresh token".into()
    }
}

/// This build's brokers: the two shipped ones plus Acme, one line each.
fn registry() -> tokenctl::Registry {
    tokenctl::Registry::new()
        .register::<etrade::Etrade>()
        .register::<fyers::Fyers>()
        .register::<Acme>()
}

// ---------------------------------------------------------------- the server

#[derive(Default)]
struct AcmeServer {
    lifetime_secs: AtomicI64,
    code_grants: AtomicU64,
    refresh_grants: AtomicU64,
    probes: AtomicU64,
    serial: AtomicU64,
    /// The one code handed out and not yet used, the live tokens.
    code: Mutex<Option<String>>,
    access: Mutex<Option<String>>,
    refresh: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AcmeServer {
    fn mint(&self) -> Json<serde_json::Value> {
        let n = self.serial.fetch_add(1, Ordering::SeqCst) + 1;
        let access = format!("S3cr3t-Zq9vKx-acme-access-{n}");
        let refresh = format!("S3cr3t-Zq9vKx-acme-refresh-{n}");
        *lock(&self.access) = Some(access.clone());
        *lock(&self.refresh) = Some(refresh.clone());
        Json(serde_json::json!({
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": self.lifetime_secs.load(Ordering::SeqCst),
        }))
    }
}

async fn authorize(
    State(s): State<Arc<AcmeServer>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<String, StatusCode> {
    if q.get("client_id").map(String::as_str) != Some("acme-app") {
        return Err(StatusCode::BAD_REQUEST);
    }
    let state = q.get("state").cloned().unwrap_or_default();
    let code = format!("S3cr3t-Zq9vKx-acme-code-{state}");
    *lock(&s.code) = Some(code.clone());
    Ok(code)
}

async fn token(
    State(s): State<Arc<AcmeServer>>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, StatusCode> {
    if f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let given = |k: &str| f.get(k).cloned();
    match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            if given("code").is_none() || lock(&s.code).take() != given("code") {
                return Err(StatusCode::BAD_REQUEST);
            }
            s.code_grants.fetch_add(1, Ordering::SeqCst);
            Ok(s.mint())
        }
        Some("refresh_token") => {
            if given("refresh_token").is_none() || *lock(&s.refresh) != given("refresh_token") {
                return Err(StatusCode::BAD_REQUEST);
            }
            s.refresh_grants.fetch_add(1, Ordering::SeqCst);
            Ok(s.mint())
        }
        _ => Err(StatusCode::BAD_REQUEST),
    }
}

async fn me(State(s): State<Arc<AcmeServer>>, headers: HeaderMap) -> StatusCode {
    s.probes.fetch_add(1, Ordering::SeqCst);
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if bearer.is_some() && bearer == *lock(&s.access) {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

async fn start_server() -> (Arc<AcmeServer>, String) {
    let state = Arc::new(AcmeServer::default());
    state.lifetime_secs.store(8 * 3600, Ordering::SeqCst);
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/me", get(me))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (state, base)
}

// ---------------------------------------------------------------- the test

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_with(&self.config, args)
    }

    /// This test binary as the CLI, with the config at `config`.
    fn cmd_with(&self, config: &Path, args: &[&str]) -> Command {
        let exe = std::env::current_exe().unwrap();
        let mut c = Command::new(exe);
        c.arg(CLI_MARKER)
            .arg("--config")
            .arg(config)
            .args(args)
            .env(SECRET_VAR, CLIENT_SECRET)
            .env_remove("TOKENCTL_CONFIG")
            .env_remove("RUST_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd(args).stdin(Stdio::null()).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

/// Every secret of this test (client secret, codes, tokens) starts with
/// this; none may appear in anything the CLI printed.
fn assert_no_secret(output: &str) {
    assert!(
        !output.contains("S3cr3t-Zq9vKx"),
        "a secret leaked:\n{output}"
    );
}

async fn scenario() {
    let (server, base) = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenctl.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"tokens\"\n\n[[account]]\nbroker = \"acme\"\nenvironment = \"sandbox\"\nlabel = \"main\"\nclient_id = \"acme-app\"\nclient_secret = {{ env = \"{SECRET_VAR}\" }}\nbase_url = \"{base}\"\n"
        ),
    )
    .unwrap();
    let env = Env { dir, config };
    let mut outputs = String::new();

    // A typo in Acme's settings is reported by Acme's bundle, on its line.
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[account]]\nbroker = \"acme\"\nlabel = \"x\"\nclient_id = \"a\"\nclient_secret = { env = \"V\" }\nbase_url = \"http://127.0.0.1:1\"\nclient_sceret = 1\n",
    )
    .unwrap();
    let o = env.cmd_with(&bad, &["status"]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("bad.toml:7:"), "{err}");
    assert!(err.contains("client_sceret"), "{err}");

    // status before any login: critical, nobody logged in.
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("acme/sandbox/main") && out.contains("never logged in"),
        "{out}"
    );

    // login: the CLI prints the Acme URL, the person approves and types the code.
    let mut child = env
        .cmd(&["login", "acme/main"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines(child.stdout.take().unwrap());
    let seen = until(&stdout, "/authorize?", &mut child);
    let url = seen.last().unwrap().trim().to_owned();
    assert!(url.starts_with(&format!("{base}/authorize?")), "{url}");
    let code = reqwest::get(&url).await.unwrap().text().await.unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{code}").unwrap();
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let status = child.wait().unwrap();
    let out: Vec<String> = seen.into_iter().chain(stdout.try_iter()).collect();
    let out = out.join("\n");
    assert!(status.success(), "{out}\n{err}");
    assert!(
        out.contains("acme/sandbox/main: logged in; token saved"),
        "{out}"
    );
    assert_eq!(server.code_grants.load(Ordering::SeqCst), 1);
    outputs.push_str(&format!("{out}\n{err}\n"));

    // The token is in the file store, typed as Acme's payload.
    let store = FileStore::open(env.dir.path().join("tokens")).unwrap();
    let key: AccountKey = "acme/sandbox/main".parse().unwrap();
    let stored = store.load_typed::<AcmeCreds>(&key).await.unwrap().unwrap();
    assert_eq!(
        stored.payload.access_token.expose_secret(),
        "S3cr3t-Zq9vKx-acme-access-1"
    );

    // status: healthy, times in Acme's exchange zone are its business.
    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with("overall: healthy\n"), "{out}");
    outputs.push_str(&out);

    // renew: one refresh grant at the server; probe: one authenticated call.
    let (code, out, err) = env.run(&["renew", "main"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(server.refresh_grants.load(Ordering::SeqCst), 1);
    let (code, out2, err2) = env.run(&["probe", "main"]);
    assert_eq!(code, 0, "{out2}{err2}");
    assert!(out2.contains("the broker accepted the token"), "{out2}");
    assert_eq!(server.probes.load(Ordering::SeqCst), 1);
    outputs.push_str(&format!("{out}{err}{out2}{err2}"));

    // run: the next token is born expired, so the daemon's first
    // maintenance pass must refresh it through Acme's provider.
    server.lifetime_secs.store(0, Ordering::SeqCst);
    let (code, _, err) = env.run(&["renew", "main"]);
    assert_eq!(code, 0, "{err}");
    server.lifetime_secs.store(8 * 3600, Ordering::SeqCst);
    let before = server.refresh_grants.load(Ordering::SeqCst);
    let mut daemon = env
        .cmd(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log_rx = lines(daemon.stderr.take().unwrap());
    let mut log = until(
        &log_rx,
        "acme: new access token from the refresh token",
        &mut daemon,
    );
    assert_eq!(server.refresh_grants.load(Ordering::SeqCst), before + 1);
    let killed = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = daemon.wait().unwrap();
    log.extend(log_rx.iter());
    let log = log.join("\n");
    assert!(status.success(), "{log}");
    assert!(log.contains("stopped"), "{log}");
    outputs.push_str(&log);

    let (code, out, err) = env.run(&["status"]);
    assert_eq!(code, 0, "{out}{err}");
    outputs.push_str(&out);
    assert_no_secret(&outputs);
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if args.get(1).is_some_and(|a| a == CLI_MARKER) {
        let cli_args = std::iter::once(OsString::from("tokenctl")).chain(args[2..].iter().cloned());
        let code = runtime.block_on(tokenctl::run_cli(&registry(), cli_args));
        return ExitCode::from(code);
    }
    let started = Instant::now();
    runtime.block_on(scenario());
    println!(
        "test an_unknown_to_tokenctl_broker_runs_login_status_renew_and_run_through_one_registration ... ok ({:?})",
        started.elapsed()
    );
    ExitCode::SUCCESS
}
