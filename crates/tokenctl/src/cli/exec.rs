//! `tokenctl exec -- CMD ARGS...`: runs CMD with the accounts' tokens in its
//! environment, keeps the accounts alive in this process, and when a token
//! changes restarts CMD (or sends it a signal); SIGINT/SIGTERM are
//! forwarded; the exit code is CMD's.

use std::ffi::OsString;
use std::process::Stdio;
use std::sync::Arc;

use rustix::process::{kill_process, Pid, Signal};
use secrecy::{ExposeSecret, SecretString};
use token_core::{Clock, ManagedAccount, TokenStore};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

use super::CliError;
use crate::accounts::{Account, Mode};
use crate::config::Config;
use crate::registry::Registry;
use crate::sink::{Sinks, Snapshot};

/// What `exec` runs and how it reacts to a new token.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    /// Account selectors; empty: every account.
    pub accounts: Vec<String>,
    /// Send this signal on a token change instead of restarting.
    pub reload_signal: Option<Signal>,
    /// The command and its arguments.
    pub command: Vec<OsString>,
    /// Refuse, or stand by, when another process maintains an account.
    pub owner: super::OwnerArgs,
}

/// Parses a signal name (`HUP`, `SIGUSR1`, ...).
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    let n = name.trim_start_matches("SIG");
    Ok(match n {
        "HUP" => Signal::HUP,
        "INT" => Signal::INT,
        "TERM" => Signal::TERM,
        "USR1" => Signal::USR1,
        "USR2" => Signal::USR2,
        "QUIT" => Signal::QUIT,
        _ => {
            return Err(format!(
                "unknown signal {name:?} (use HUP, USR1, USR2, INT, TERM or QUIT)"
            ))
        }
    })
}

struct Watched {
    acct: Account,
    account: Arc<dyn ManagedAccount>,
    store: Arc<dyn TokenStore>,
    sinks: Sinks,
}

async fn environment(watched: &[Watched], clock: &dyn Clock) -> Vec<(String, SecretString)> {
    let mut out = Vec::new();
    for w in watched {
        match Snapshot::read(w.account.as_ref(), w.store.as_ref(), clock.now()).await {
            Ok(snap) => out.extend(w.sinks.env_values(&snap)),
            Err(e) => {
                tracing::error!(account = %w.account.key(), error = %e, "cannot read the token")
            }
        }
    }
    out
}

/// Resolves at the next account event, or after [`crate::sink::POLL`]
/// (the caller then compares the store itself, so a change another process
/// saved is seen within one poll even while this process's manager is busy
/// renewing; the manager adopts it within [`crate::sink::ADOPT_WAIT`] or at a
/// later poll).
async fn next_change(changed: &mut tokio::sync::mpsc::Receiver<()>, watched: &[Watched]) {
    tokio::select! {
        _ = changed.recv() => {}
        _ = tokio::time::sleep(crate::sink::POLL) => {
            for w in watched {
                w.acct.adopt_newer_within(crate::sink::ADOPT_WAIT).await;
            }
        }
    }
}

fn same(a: &[(String, SecretString)], b: &[(String, SecretString)]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((n, v), (m, w))| n == m && v.expose_secret() == w.expose_secret())
}

fn spawn(command: &[OsString], env: &[(String, SecretString)]) -> Result<Child, CliError> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| CliError::Other("exec needs a command after --".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        cmd.env(name, value.expose_secret());
    }
    cmd.spawn().map_err(|e| {
        CliError::Other(format!(
            "cannot start {}: {e}",
            std::path::Path::new(program).display()
        ))
    })
}

fn send(child: &Child, sig: Signal) {
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw);
    if let Some(pid) = pid {
        if let Err(e) = kill_process(pid, sig) {
            tracing::warn!(error = %e, "cannot signal the command");
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c & 0xff).unwrap_or(super::EXIT_FAILURE),
        (None, Some(s)) => u8::try_from(128 + s).unwrap_or(super::EXIT_FAILURE),
        _ => super::EXIT_FAILURE,
    }
}

/// Runs `opts.command` under the selected accounts; returns its exit code.
pub async fn exec(
    config: &Config,
    registry: &Registry,
    clock: Arc<dyn Clock>,
    opts: ExecOptions,
) -> Result<u8, CliError> {
    let selected: Vec<_> = if opts.accounts.is_empty() {
        config.accounts.iter().collect()
    } else {
        opts.accounts
            .iter()
            .map(|s| config.find(s))
            .collect::<Result<_, _>>()?
    };
    let claims = super::owner::claim_all(&selected, clock.clone(), &opts.owner).await?;
    let mut watched = Vec::new();
    let mut handles = Vec::new();
    let mut events = Vec::new();
    for cfg in selected {
        let acct = Account::open_and_load(cfg, clock.clone(), Mode::Online).await?;
        let name = cfg.key.to_string();
        let broker = cfg.key.broker();
        let defaults = registry
            .get(broker)
            .map(|b| b.sink_fields())
            .unwrap_or_default();
        let store = acct
            .store()
            .ok_or_else(|| CliError::Other(format!("{name}: no store")))?;
        events.push(acct.managed().subscribe());
        handles.push(acct.managed().spawn_maintenance());
        watched.push(Watched {
            acct: acct.clone(),
            account: acct.managed(),
            store,
            sinks: Sinks::new(cfg.sinks.clone(), broker, &defaults),
        });
    }
    let (tx, mut changed) = tokio::sync::mpsc::channel::<()>(16);
    let mut forwarders = Vec::new();
    for mut rx in events {
        let tx = tx.clone();
        forwarders.push(tokio::spawn(async move {
            while let Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) =
                rx.recv().await
            {
                let _ = tx.try_send(());
            }
        }));
    }
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut env = environment(&watched, clock.as_ref()).await;
    let mut child = spawn(&opts.command, &env)?;
    let mut maintaining = true;
    let code = loop {
        tokio::select! {
            status = child.wait() => break exit_code(status?),
            key = token_core::store::any_lost(&claims), if maintaining => {
                // Another process owns the account now: stop maintaining
                // here (the command keeps running on the stored tokens).
                tracing::error!(account = %key, "{}", super::owner::lost(&key));
                maintaining = false;
                for h in handles.drain(..) {
                    h.stop().await;
                }
            }
            _ = int.recv() => send(&child, Signal::INT),
            _ = term.recv() => send(&child, Signal::TERM),
            _ = next_change(&mut changed, &watched) => {
                let new = environment(&watched, clock.as_ref()).await;
                if same(&new, &env) {
                    continue;
                }
                env = new;
                match opts.reload_signal {
                    Some(sig) => {
                        tracing::info!(signal = ?sig, "token changed: signalling the command");
                        send(&child, sig);
                    }
                    None => {
                        tracing::info!("token changed: restarting the command");
                        send(&child, Signal::TERM);
                        let grace = std::time::Duration::from_secs(10);
                        if tokio::time::timeout(grace, child.wait()).await.is_err() {
                            let _ = child.kill().await;
                        }
                        child = spawn(&opts.command, &env)?;
                    }
                }
            }
        }
    };
    for f in forwarders {
        f.abort();
    }
    for h in handles {
        h.stop().await;
    }
    super::owner::release_all(claims).await;
    Ok(code)
}
