//! Command-line parsing and the commands themselves.

mod daemon;
mod error;
mod exec;
mod login;
mod owner;
mod proxy;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use clap::{Parser, Subcommand};
use token_core::{health_report, Clock, HealthReport, HealthStatus, ManagedAccount};

pub use daemon::daemon;
use error::token_err;
pub use error::CliError;
pub use exec::{exec, parse_signal, ExecOptions};
pub use owner::{OwnerArgs, EXIT_OWNED};

use crate::accounts::{Account, Mode};
use crate::config::Config;
use crate::registry::Registry;
use crate::{demo, render};

/// Exit code when tokenctl itself failed (bad config, store, network).
/// 0, 1 and 2 are reserved for `status`: healthy, degraded, critical; 4
/// ([`EXIT_OWNED`]) is `run`/`exec` refusing an account another process
/// maintains.
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
Exit codes: 0 ok/healthy, 1 degraded, 2 critical, 3 tokenctl failed,
4 run/exec: another process already maintains an account (see --standby).";

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
    /// Runs a multi-day E*TRADE, FYERS, Schwab and Kite lifecycle against
    /// the embedded simulator in a few seconds. Needs no config and no
    /// accounts.
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
        after_help = "Examples:\n  tokenctl login main                 # by label: shows the login in progress (or starts one)\n  tokenctl login etrade/sandbox/main  # by full key\n  echo H92GX | tokenctl login main    # answers the login in progress (e.g. from the daemon's alert)\n  tokenctl login main --code-file ~/code.txt  # scripted: the verifier or redirect URL in a file\n  tokenctl login desk --paste         # FYERS: paste the redirect URL instead of capturing it\n  tokenctl login main < /dev/null     # print the URL only; answer it later with echo CODE | ...\n\nOne login is in progress per account, shared with `tokenctl run`, the\ncontrol server and Telegram: whichever shows the URL, any of them can finish it."
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
        /// Finish the login in progress with this verifier (or redirect URL).
        /// Visible to other users (ps, /proc, shell history): prefer stdin
        /// or --code-file.
        #[arg(long, value_name = "CODE", conflicts_with = "code_file")]
        verifier: Option<String>,
        /// Finish the login in progress with the verifier (or redirect URL)
        /// in this file (trimmed; keep it mode 600).
        #[arg(long, value_name = "PATH")]
        code_file: Option<PathBuf>,
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
    #[command(after_help = "Examples:
  tokenctl run
  RUST_LOG=debug tokenctl run --log-format json
  tokenctl run --listen 127.0.0.1:9184   # /health, /metrics, /refresh, /keepalive, /login (needs [control])
  tokenctl run --proxy 127.0.0.1:9185    # bots send unsigned broker requests to /ACCOUNT/PATH (needs [proxy])
  tokenctl run --standby                 # wait while another process maintains an account, then take over

One process maintains an account at a time: a second `run` or `exec` over the same store exits with code 4, naming the process that holds the account, unless --standby.")]
    Run {
        /// `text` or `json` log lines on stderr.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        log_format: String,
        /// Serve the HTTP control surface on this address (needs a `[control]`
        /// table with a bearer token; overrides its `listen`). Alerts from
        /// `[notify]` run whenever `[notify]` is configured.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// One maintenance owner per account.
        #[command(flatten)]
        owner: OwnerArgs,
        /// Serve the local signing proxy on this address (needs a `[proxy]`
        /// table with the bearer token bots send; overrides its `listen`).
        #[arg(long, value_name = "ADDR")]
        proxy: Option<std::net::SocketAddr>,
    },
    /// Runs a command with the accounts' tokens in its environment (names
    /// from the account's dotenv sink, else the broker's, e.g.
    /// FYERS_ACCESS_TOKEN), keeping the accounts alive meanwhile; restarts
    /// it (or signals it) when a token changes. Exits with its exit code.
    #[command(
        after_help = "Examples:\n  tokenctl exec -- python bot.py\n  tokenctl exec --account desk -- python bot.py\n  tokenctl exec --reload-signal HUP -- ./bot   # the bot re-reads a sink on SIGHUP"
    )]
    Exec {
        /// Only these accounts (repeatable) [default: every account].
        #[arg(long = "account", value_name = "ACCOUNT")]
        accounts: Vec<String>,
        /// On a token change send this signal (e.g. HUP) instead of restarting.
        #[arg(long, value_name = "SIGNAL", value_parser = parse_signal)]
        reload_signal: Option<rustix::process::Signal>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<std::ffi::OsString>,
        /// One maintenance owner per account.
        #[command(flatten)]
        owner: OwnerArgs,
    },
}

/// Parses `args`, runs the command with the brokers in `registry` and
/// returns the process exit code. Errors are printed to stderr as
/// `tokenctl: ...`.
pub async fn main_with(
    registry: &Registry,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FAILURE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match run(registry, cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tokenctl: {e}");
            e.exit_code()
        }
    }
}

/// Runs a parsed command; returns the exit code.
pub async fn run(registry: &Registry, cli: Cli) -> Result<u8, CliError> {
    #[cfg(feature = "test-clock")]
    let clock = crate::test_clock::from_env();
    #[cfg(not(feature = "test-clock"))]
    let clock: Arc<dyn Clock> = Arc::new(token_core::SystemClock);
    if !matches!(
        cli.command,
        Command::Run { .. } | Command::Demo { .. } | Command::Exec { .. }
    ) {
        daemon::init_warnings();
    }
    match cli.command {
        Command::Demo { days, pace_ms } => {
            let opts = demo::DemoOptions {
                days,
                pace: StdDuration::from_millis(pace_ms),
                ..Default::default()
            };
            let stdout = std::io::stdout();
            demo::run(&opts, &render::DemoRender(registry), stdout.lock()).await?;
            Ok(0)
        }
        Command::Status { json } => {
            let config = Config::load(cli.config.as_deref(), registry)?;
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
            code_file,
        } => {
            let given = match (verifier, code_file) {
                (Some(code), _) => Some(login::Given::Argv(code)),
                (None, Some(path)) => Some(login::Given::File(path)),
                (None, None) => None,
            };
            // Read the answer first: a bad file fails before any broker call.
            let answer = given.as_ref().map(login::read_given).transpose()?;
            let config = Config::load(cli.config.as_deref(), registry)?;
            let cfg = config.find(&account)?;
            let acct = Account::open(cfg, clock, Mode::Online).await?;
            match answer {
                Some(answer) => login::finish(&acct, answer).await?,
                None => {
                    let timeout = StdDuration::from_secs(timeout);
                    login::login(&acct, paste, timeout).await?
                }
            }
            Ok(0)
        }
        Command::Renew { account } => {
            let (acct, name) = online(registry, &cli.config, &account, clock).await?;
            progress(&format!("renewing {name} with the broker..."));
            acct.managed().renew_now().await.map_err(token_err(&name))?;
            print_one(&acct)?;
            Ok(0)
        }
        Command::Probe { account } => {
            let (acct, name) = online(registry, &cli.config, &account, clock).await?;
            progress(&format!("probing {name} at the broker..."));
            acct.managed()
                .keep_alive()
                .await
                .map_err(token_err(&name))?;
            println!("{name}: the broker accepted the token");
            Ok(0)
        }
        Command::Revoke { account } => {
            let (acct, name) = online(registry, &cli.config, &account, clock).await?;
            progress(&format!("revoking {name} at the broker..."));
            acct.managed().revoke().await.map_err(token_err(&name))?;
            println!("{name}: revoked and deleted from the store");
            Ok(0)
        }
        Command::Run {
            log_format,
            listen,
            owner,
            proxy,
        } => {
            let config = Config::load(cli.config.as_deref(), registry)?;
            daemon::init_logging(&log_format);
            daemon(&config, registry, clock, listen, &owner, proxy).await?;
            Ok(0)
        }
        Command::Exec {
            accounts,
            reload_signal,
            command,
            owner,
        } => {
            let config = Config::load(cli.config.as_deref(), registry)?;
            daemon::init_warnings();
            let opts = ExecOptions {
                accounts,
                reload_signal,
                command,
                owner,
            };
            exec(&config, registry, clock, opts).await
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

pub(crate) fn progress(msg: &str) {
    eprintln!("... {msg}");
}

async fn online(
    registry: &Registry,
    config: &Option<PathBuf>,
    selector: &str,
    clock: Arc<dyn Clock>,
) -> Result<(Account, String), CliError> {
    let config = Config::load(config.as_deref(), registry)?;
    let cfg = config.find(selector)?;
    let name = cfg.key.to_string();
    let acct = Account::open(cfg, clock, Mode::Online).await?;
    if !acct.load().await.map_err(token_err(&name))? {
        return Err(CliError::Other(format!(
            "{name}: no token in the store ({}); run `tokenctl login {selector}` first",
            cfg.store.display()
        )));
    }
    Ok((acct, name))
}

pub(crate) fn print_one(acct: &Account) -> std::io::Result<()> {
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
        let acct = Account::open(cfg, clock.clone(), Mode::Offline).await?;
        acct.load().await.map_err(token_err(&cfg.key.to_string()))?;
        accounts.push(acct.managed());
    }
    Ok(health_report(clock.now(), &accounts))
}
