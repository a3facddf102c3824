//! Command-line parsing and the commands themselves.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use clap::{Parser, Subcommand};
use secrecy::SecretString;
use thiserror::Error;
use token_core::{
    health_report, Clock, Expects, HealthReport, HealthStatus, ManagedAccount, SystemClock,
};

use crate::accounts::{Account, AccountError, Mode};
use crate::config::{Config, ConfigError, SelectError};
use crate::{demo, render};

/// Exit code when tokenctl itself failed (bad config, store, network).
/// 0, 1 and 2 are reserved for `status`: healthy, degraded, critical.
pub const EXIT_FAILURE: u8 = 3;

const AFTER_HELP: &str = "\
Examples:
  tokenctl demo                         # the whole lifecycle in a few seconds, no setup
  tokenctl --config tokenctl.toml login main
  tokenctl status                       # exit code: 0 healthy, 1 degraded, 2 critical
  tokenctl status --json | jq .status
  tokenctl run                          # keep every account alive until SIGINT/SIGTERM

Configuration: --config PATH, else $TOKENCTL_CONFIG, else the platform config
directory (e.g. ~/.config/tokenctl/config.toml). Secrets come from environment
variables or files named in it, never from the command line.
Exit codes: 0 ok/healthy, 1 degraded, 2 critical, 3 tokenctl failed.";

/// Keeps broker API tokens alive: log in, check, renew, and run the
/// maintenance daemon.
#[derive(Debug, Parser)]
#[command(name = "tokenctl", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The config file [default: $TOKENCTL_CONFIG, then the platform config dir].
    #[arg(long, short, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs a multi-day E*TRADE + FYERS lifecycle against the embedded
    /// simulator in a few seconds. Needs no config and no accounts.
    #[command(after_help = "Examples:\n  tokenctl demo\n  tokenctl demo --days 5 --pace-ms 0")]
    Demo {
        /// Simulated days to run.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=30))]
        days: u32,
        /// Real milliseconds to pause after each line (0: as fast as possible).
        #[arg(long, default_value_t = 40)]
        pace_ms: u64,
    },
    /// Logs an account in: prints the URL to open, then reads the E*TRADE
    /// verifier or the FYERS redirect URL, and saves the token.
    #[command(
        after_help = "Examples:\n  tokenctl login main                 # by label\n  tokenctl login etrade/sandbox/main  # by full key\n  echo H92GX | tokenctl login main    # verifier on stdin\n  tokenctl login desk --paste         # FYERS: paste the redirect URL instead of capturing it\n  tokenctl login main < /dev/null     # print the URL only; finish later with:\n  tokenctl login main --verifier H92GX"
    )]
    Login {
        /// The account: label, broker/label or broker/environment/label.
        account: String,
        /// FYERS: do not listen on the loopback redirect URI; only read the pasted URL.
        #[arg(long)]
        paste: bool,
        /// How long to wait for the person, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Finish the login started by an earlier `tokenctl login` with this
        /// E*TRADE verifier (or FYERS redirect URL) instead of waiting for it.
        #[arg(long, value_name = "CODE")]
        verifier: Option<String>,
    },
    /// Shows every account's token state; the exit code is the overall health.
    #[command(
        after_help = "Examples:\n  tokenctl status\n  tokenctl status --json\n  tokenctl status || alert \"tokens need attention\"\n\nExit codes: 0 healthy, 1 degraded, 2 critical, 3 tokenctl failed."
    )]
    Status {
        /// Print the health report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Renews an account's token silently now (E*TRADE renew, FYERS refresh).
    #[command(after_help = "Example:\n  tokenctl renew main")]
    Renew {
        /// The account.
        account: String,
    },
    /// Makes a cheap authenticated call to prove the token works (counts as use).
    #[command(after_help = "Example:\n  tokenctl probe main")]
    Probe {
        /// The account.
        account: String,
    },
    /// Revokes the token at the broker and deletes it from the store.
    #[command(after_help = "Example:\n  tokenctl revoke main")]
    Revoke {
        /// The account.
        account: String,
    },
    /// The maintenance daemon: keeps every configured account alive until
    /// SIGINT or SIGTERM, logging events (set RUST_LOG to filter).
    #[command(
        after_help = "Examples:\n  tokenctl run\n  RUST_LOG=debug tokenctl run --log-format json\n  tokenctl run --listen 127.0.0.1:9184   # /health, /metrics, /refresh, /keepalive (needs [control])"
    )]
    Run {
        /// `text` or `json` log lines on stderr.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Serve the HTTP control surface on this address (needs a `[control]`
        /// table with a bearer token; overrides its `listen`). Alerts from
        /// `[notify]` run whenever `[notify]` is configured.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
}

/// A command's failure.
#[derive(Debug, Error)]
pub enum CliError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The account selector.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Building an account.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A library operation on an account.
    #[error("{account}: {source}")]
    Token {
        /// The account.
        account: String,
        /// The error.
        #[source]
        source: token_core::Error,
    },
    /// The demo.
    #[error(transparent)]
    Demo(#[from] demo::DemoError),
    /// Terminal or output trouble.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Anything else worth saying plainly.
    #[error("{0}")]
    Other(String),
}

fn token_err(account: &str) -> impl FnOnce(token_core::Error) -> CliError + '_ {
    move |source| CliError::Token {
        account: account.to_owned(),
        source,
    }
}

/// Parses `args`, runs the command and returns the process exit code.
/// Errors are printed to stderr as `tokenctl: ...`.
pub async fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FAILURE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tokenctl: {e}");
            EXIT_FAILURE
        }
    }
}

/// Runs a parsed command; returns the exit code.
pub async fn run(cli: Cli) -> Result<u8, CliError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Demo { days, pace_ms } => {
            let opts = demo::DemoOptions {
                days,
                pace: StdDuration::from_millis(pace_ms),
                ..Default::default()
            };
            let stdout = std::io::stdout();
            demo::run(&opts, stdout.lock()).await?;
            Ok(0)
        }
        Command::Status { json } => {
            let config = Config::load(cli.config.as_deref())?;
            let report = status(&config, clock).await?;
            let mut out = std::io::stdout().lock();
            if json {
                let text = serde_json::to_string_pretty(&report)
                    .map_err(|e| CliError::Other(format!("cannot encode the report: {e}")))?;
                writeln!(out, "{text}")?;
            } else {
                write!(out, "{}", render::status_table(&report))?;
            }
            Ok(exit_code(report.status))
        }
        Command::Login {
            account,
            paste,
            timeout,
            verifier,
        } => {
            let config = Config::load(cli.config.as_deref())?;
            let cfg = config.find(&account)?;
            let acct = Account::build(cfg, clock, Mode::Online)?;
            let pending = PendingLogin::new(&cfg.store, &cfg.key);
            match verifier {
                Some(code) => finish_login(&acct, &pending, SecretString::from(code)).await?,
                None => login(&acct, &pending, paste, StdDuration::from_secs(timeout)).await?,
            }
            Ok(0)
        }
        Command::Renew { account } => {
            let (acct, name) = online(&cli.config, &account, clock).await?;
            progress(&format!("renewing {name} with the broker..."));
            acct.managed().renew_now().await.map_err(token_err(&name))?;
            print_one(&acct)?;
            Ok(0)
        }
        Command::Probe { account } => {
            let (acct, name) = online(&cli.config, &account, clock).await?;
            progress(&format!("probing {name} at the broker..."));
            acct.managed()
                .keep_alive()
                .await
                .map_err(token_err(&name))?;
            println!("{name}: the broker accepted the token");
            Ok(0)
        }
        Command::Revoke { account } => {
            let (acct, name) = online(&cli.config, &account, clock).await?;
            progress(&format!("revoking {name} at the broker..."));
            acct.managed().revoke().await.map_err(token_err(&name))?;
            println!("{name}: revoked and deleted from the store");
            Ok(0)
        }
        Command::Run { log_format, listen } => {
            let config = Config::load(cli.config.as_deref())?;
            init_logging(&log_format);
            daemon(&config, clock, listen).await?;
            Ok(0)
        }
    }
}

/// 0 healthy, 1 degraded, 2 critical.
pub fn exit_code(status: HealthStatus) -> u8 {
    match status {
        HealthStatus::Healthy => 0,
        HealthStatus::Degraded => 1,
        HealthStatus::Critical => 2,
    }
}

fn progress(msg: &str) {
    eprintln!("... {msg}");
}

async fn online(
    config: &Option<PathBuf>,
    selector: &str,
    clock: Arc<dyn Clock>,
) -> Result<(Account, String), CliError> {
    let config = Config::load(config.as_deref())?;
    let cfg = config.find(selector)?;
    let name = cfg.key.to_string();
    let acct = Account::build(cfg, clock, Mode::Online)?;
    if !acct.load().await.map_err(token_err(&name))? {
        return Err(CliError::Other(format!(
            "{name}: no token in the store ({}); run `tokenctl login {selector}` first",
            cfg.store.display()
        )));
    }
    Ok((acct, name))
}

fn print_one(acct: &Account) -> std::io::Result<()> {
    let m = acct.managed();
    let report = HealthReport::new(chrono::Utc::now(), vec![m.health()]);
    print!("{}", render::status_table(&report));
    Ok(())
}

/// The health of every configured account, from their stores (no broker
/// calls, no secrets needed).
pub async fn status(config: &Config, clock: Arc<dyn Clock>) -> Result<HealthReport, CliError> {
    let mut accounts: Vec<Arc<dyn ManagedAccount>> = Vec::new();
    for cfg in &config.accounts {
        let acct = Account::build(cfg, clock.clone(), Mode::Offline)?;
        acct.load().await.map_err(token_err(&cfg.key.to_string()))?;
        accounts.push(acct.managed());
    }
    Ok(health_report(clock.now(), &accounts))
}

/// Reads one line from stdin without blocking the runtime; `None` at EOF.
async fn read_line() -> Option<String> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_owned()),
        }
    })
    .await
    .ok()
    .flatten()
    .filter(|l| !l.is_empty())
}

/// A login started by one `tokenctl login` and finished by a later
/// `tokenctl login --verifier`: the pending request (it holds the request
/// token secret) kept next to the token store, readable by its owner only.
struct PendingLogin {
    path: PathBuf,
}

impl PendingLogin {
    fn new(store: &std::path::Path, key: &token_core::AccountKey) -> Self {
        Self {
            path: store.join(format!(".login-{}.json", key.file_stem())),
        }
    }

    fn save(&self, req: &token_core::AuthorizationRequest) -> Result<(), CliError> {
        let fail = |e: &dyn std::fmt::Display| {
            CliError::Other(format!(
                "cannot keep the pending login at {}: {e}",
                self.path.display()
            ))
        };
        let body = serde_json::to_vec(req).map_err(|e| fail(&e))?;
        // Temp file + fsync + rename at 0600, never through a link.
        token_core::store::write_private_file(&self.path, &body).map_err(|e| fail(&e))
    }

    fn load(&self, name: &str) -> Result<token_core::AuthorizationRequest, CliError> {
        let bytes = match token_core::store::read_private_file(&self.path) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(CliError::Other(format!(
                    "{name}: no login in progress; run `tokenctl login` without --verifier first"
                )))
            }
            Err(e) => {
                return Err(CliError::Other(format!(
                    "cannot read the pending login at {}: {e}",
                    self.path.display()
                )))
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            CliError::Other(format!(
                "the pending login at {} is unreadable (line {}); start the login again",
                self.path.display(),
                e.line()
            ))
        })
    }

    fn clear(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Completes a login started earlier with what the person brought back.
async fn finish_login(
    acct: &Account,
    pending: &PendingLogin,
    answer: SecretString,
) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    let req = pending.load(&name)?;
    m.resume_authorization(req).map_err(token_err(&name))?;
    progress("exchanging it for a token...");
    match m.complete_authorization(&answer).await {
        Ok(()) => {}
        Err(token_core::Error::AuthorizationExpired { url }) => {
            // The old request is dead; keep the fresh one for the next try.
            if let Ok(fresh) = m.begin_authorization().await {
                pending.save(&fresh)?;
            }
            return Err(CliError::Other(format!(
                "{name}: that login request expired; open this URL and run `tokenctl login {name} --verifier CODE` again:\n\n  {url}\n"
            )));
        }
        Err(e) => return Err(token_err(&name)(e)),
    }
    pending.clear();
    println!("{name}: logged in; token saved");
    print_one(acct)?;
    Ok(())
}

async fn login(
    acct: &Account,
    pending: &PendingLogin,
    paste: bool,
    timeout: StdDuration,
) -> Result<(), CliError> {
    let m = acct.managed();
    let name = m.key().to_string();
    progress(&format!("asking the broker to start a login for {name}..."));
    let req = m.begin_authorization().await.map_err(token_err(&name))?;
    pending.save(&req)?;
    println!("{}\n\n  {}\n", req.instructions, req.url);
    std::io::stdout().flush()?;
    let answer: SecretString = match (req.expects, acct) {
        (
            Expects::RedirectUrl,
            Account::Fyers {
                provider: Some(p), ..
            },
        ) if !paste => {
            let listener = fyers::LoopbackListener::bind(&p.config().redirect_uri).await;
            match listener {
                Ok(l) => {
                    eprintln!("... waiting for the browser redirect on {} (or paste the URL you landed on)", p.config().redirect_uri);
                    let pasted = async {
                        match read_line().await {
                            Some(l) => l,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        captured = l.capture_login(&req.url, timeout) => captured.map_err(|e| token_err(&name)(e.into()))?,
                        line = pasted => SecretString::from(line),
                    }
                }
                Err(e) => {
                    eprintln!(
                        "... cannot listen for the redirect ({e}); paste the URL you landed on:"
                    );
                    wait_for_person(timeout, "the redirect URL").await?
                }
            }
        }
        (Expects::RedirectUrl, _) => {
            eprintln!("... paste the URL your browser landed on, then press Enter:");
            wait_for_person(timeout, "the redirect URL").await?
        }
        (Expects::Verifier, _) => {
            eprintln!("... type the verification code, then press Enter (or finish later with `tokenctl login {name} --verifier CODE`):");
            match tokio::time::timeout(timeout, read_line()).await {
                Ok(Some(line)) => SecretString::from(line),
                _ => {
                    println!("login started; finish it with `tokenctl login {name} --verifier CODE` within the request's lifetime");
                    return Ok(());
                }
            }
        }
    };
    progress("exchanging it for a token...");
    m.complete_authorization(&answer)
        .await
        .map_err(token_err(&name))?;
    pending.clear();
    println!("{name}: logged in; token saved");
    print_one(acct)?;
    Ok(())
}

async fn wait_for_person(timeout: StdDuration, what: &str) -> Result<SecretString, CliError> {
    match tokio::time::timeout(timeout, read_line()).await {
        Ok(Some(line)) => Ok(SecretString::from(line)),
        Ok(None) => Err(CliError::Other(format!("no {what} given (end of input)"))),
        Err(_) => Err(CliError::Other(format!(
            "gave up waiting for {what} after {}s",
            timeout.as_secs()
        ))),
    }
}

fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in files or journald.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The maintenance daemon: every account's maintenance loop, events logged,
/// until SIGINT/SIGTERM.
pub async fn daemon(
    config: &Config,
    clock: Arc<dyn Clock>,
    listen: Option<std::net::SocketAddr>,
) -> Result<(), CliError> {
    // Read the control settings first so a bad table fails before any work.
    let control = control_settings(config, listen)?;
    match control::raise_nofile_limit() {
        Ok(l) => tracing::debug!(limit = ?l, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let mut accounts = Vec::new();
    for cfg in &config.accounts {
        let acct = Account::build(cfg, clock.clone(), Mode::Online)?;
        let name = cfg.key.to_string();
        match acct.load().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(account = %name, "no token in the store: run `tokenctl login`")
            }
            Err(e) => tracing::error!(account = %name, error = %e, "cannot read the token store"),
        }
        accounts.push(acct.managed());
    }
    let mut handles = Vec::new();
    let mut loggers = Vec::new();
    for a in &accounts {
        let mut rx = a.subscribe();
        loggers.push(tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                token_core::events::log(&e, &render::describe_event(&e));
            }
        }));
        handles.push(a.spawn_maintenance());
    }
    // The control server (HTTP and/or alerts) on the same accounts.
    let mut server_task = None;
    let mut _alerts = None;
    if let Some((control_cfg, notify_cfg)) = control {
        let mut server = control::Server::new(accounts.clone(), &control_cfg, clock.clone())
            .map_err(|e| CliError::Other(format!("[control]: {e}")))?;
        if let Some(n) = &notify_cfg {
            server = server
                .with_notify(n)
                .map_err(|e| CliError::Other(format!("[notify]: {e}")))?;
        }
        if listen.is_some()
            || config
                .control
                .as_ref()
                .is_some_and(|c| c.get("listen").is_some())
        {
            let addr = control_cfg.listen;
            let listener = control::bind(&control_cfg)
                .await
                .map_err(|e| CliError::Other(format!("[control]: {e}")))?;
            let bound = listener
                .local_addr()
                .map_err(|e| CliError::Other(format!("cannot listen on {addr}: {e}")))?;
            tracing::info!(%bound, "control server listening on http://{bound}");
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(server.serve(listener, async move {
                let _ = stop_rx.await;
            }));
            server_task = Some((stop_tx, task));
        } else {
            _alerts = Some(server.start());
        }
    }
    let signal = shutdown_signal();
    tracing::info!(accounts = accounts.len(), config = %config.path.display(), "maintaining accounts; stop with SIGINT or SIGTERM");
    let signal = signal.await;
    tracing::info!(signal, "shutting down");
    if let Some((stop, task)) = server_task {
        let _ = stop.send(());
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "control server failed"),
            Err(e) => tracing::error!(error = %e, "control server task failed"),
        }
    }
    for h in handles {
        h.stop().await;
    }
    for l in loggers {
        l.abort();
    }
    let report = health_report(clock.now(), &accounts);
    tracing::info!(status = render::status_name(report.status), "stopped");
    Ok(())
}

/// Registers SIGINT/SIGTERM handlers now (so a signal that arrives before
/// the returned future is first polled is not lost) and resolves with the
/// signal's name.
fn shutdown_signal() -> impl std::future::Future<Output = &'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => "SIGINT",
                _ = wait(term) => "SIGTERM",
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }
}

/// The `[control]` / `[notify]` tables, parsed when they will be used: with
/// `--listen`, or when `[notify]` asks for alerts.
fn control_settings(
    config: &Config,
    listen: Option<std::net::SocketAddr>,
) -> Result<Option<(control::ControlConfig, Option<control::NotifyConfig>)>, CliError> {
    let listen_in_table = config
        .control
        .as_ref()
        .is_some_and(|c| c.get("listen").is_some());
    if listen.is_none() && !listen_in_table && config.notify.is_none() {
        return Ok(None);
    }
    let path = config.path.display();
    let Some(raw) = config.control.clone() else {
        return Err(CliError::Other(format!(
            "{path}: --listen and [notify] need a [control] table with a bearer token, e.g.\n\n[control]\ntoken = {{ env = \"TOKENCTL_CONTROL_TOKEN\" }}"
        )));
    };
    let mut control: control::ControlConfig = raw.try_into().map_err(|e: toml::de::Error| {
        CliError::Other(format!("{path}: [control]: {}", e.message()))
    })?;
    if let Some(addr) = listen {
        control.listen = addr;
    }
    // Read the bearer token now, so a missing one fails before any work.
    if let Err(e) = control.token.read() {
        return Err(CliError::Other(format!("{path}: [control] token: {e}")));
    }
    let notify = match config.notify.clone() {
        Some(raw) => Some(raw.try_into().map_err(|e: toml::de::Error| {
            CliError::Other(format!("{path}: [notify]: {}", e.message()))
        })?),
        None => None,
    };
    Ok(Some((control, notify)))
}
