//! `tokenctl run`: the maintenance daemon, with the control server when
//! configured.

use std::sync::Arc;

use token_core::{health_report, Clock};

use super::CliError;
use crate::accounts::{Account, Mode};
use crate::config::Config;
use crate::registry::Registry;
use crate::render;

/// Logs to stderr as `text` or `json` lines, filtered by `RUST_LOG`.
pub(crate) fn init_logging(format: &str) {
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

/// For the one-shot commands: warnings only (e.g. a secret file others can
/// read), plain lines on stderr; `RUST_LOG` still decides.
pub(crate) fn init_warnings() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The maintenance daemon: every account's maintenance loop, events logged,
/// until SIGINT/SIGTERM.
pub async fn daemon(
    config: &Config,
    registry: &Registry,
    clock: Arc<dyn Clock>,
    listen: Option<std::net::SocketAddr>,
    owner: &super::OwnerArgs,
    proxy: Option<std::net::SocketAddr>,
) -> Result<(), CliError> {
    // Read the control settings first so a bad table fails before any work.
    let control = control_settings(config, listen)?;
    // Handlers first: a SIGTERM that arrives while accounts load or right
    // after the server says it listens must stop us cleanly, not kill us.
    let signal = shutdown_signal();
    tokio::pin!(signal);
    match control::raise_nofile_limit() {
        Ok(l) => tracing::debug!(limit = ?l, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    // One maintenance owner per account: refuse or stand by before loading.
    let all: Vec<_> = config.accounts.iter().collect();
    let claims = tokio::select! {
        claims = super::owner::claim_all(&all, clock.clone(), owner) => claims?,
        signal = &mut signal => {
            tracing::info!(signal, "stopped while standing by");
            return Ok(());
        }
    };
    let mut accounts = Vec::new();
    let mut built = Vec::new();
    let mut sink_tasks = Vec::new();
    for cfg in &config.accounts {
        let acct = Account::open_and_load(cfg, clock.clone(), Mode::Online).await?;
        if !cfg.sinks.is_empty() {
            let broker = cfg.key.broker();
            let defaults = registry
                .get(broker)
                .map(|b| b.sink_fields())
                .unwrap_or_default();
            let sinks = crate::sink::Sinks::new(cfg.sinks.clone(), broker, &defaults);
            sink_tasks.push(crate::sink::spawn(acct.clone(), sinks, clock.clone()));
        }
        accounts.push(acct.managed());
        built.push(acct);
    }
    let proxy = super::proxy::start(config, proxy, &built).await?;
    let mut handles = Vec::new();
    let mut loggers = Vec::new();
    // Alerts in the log name every way to answer a login that is open.
    let ways = control::reauth::AnswerWays {
        http: listen.is_some() || listen_in_table(config),
        telegram: notify_reauth(config),
    };
    for a in &accounts {
        let mut rx = a.subscribe();
        let registry = registry.clone();
        loggers.push(tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                let text = render::describe_event_answering(&e, &registry, ways);
                token_core::events::log(&e, &text);
            }
        }));
        handles.push(a.spawn_maintenance());
    }
    // The control server (HTTP and/or alerts) on the same accounts.
    let mut server_task = None;
    let mut _alerts = None;
    if let Some((control_cfg, notify_cfg)) = control {
        // The page shows each account's timeline in its exchange's time.
        let zones = config.accounts.iter().map(|cfg| {
            let zone = registry.zone(cfg.key.broker());
            (cfg.key.clone(), zone.name().to_string())
        });
        let mut server = control::Server::new(accounts.clone(), &control_cfg, clock.clone())
            .map_err(|e| CliError::Other(format!("[control]: {e}")))?
            .with_zones(zones);
        if let Some(n) = &notify_cfg {
            server = server
                .with_notify(n)
                .map_err(|e| CliError::Other(format!("[notify]: {e}")))?;
        }
        if listen.is_some() || listen_in_table(config) {
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
    tracing::info!(accounts = accounts.len(), config = %config.path.display(), "maintaining accounts; stop with SIGINT or SIGTERM");
    let stopped = tokio::select! {
        signal = &mut signal => Ok(signal),
        key = token_core::store::any_lost(&claims) => Err(key),
    };
    match &stopped {
        Ok(signal) => tracing::info!(signal, "shutting down"),
        Err(key) => tracing::error!(account = %key, "maintenance claim lost: shutting down"),
    }
    if let Some((stop, task)) = server_task {
        let _ = stop.send(());
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "control server failed"),
            Err(e) => tracing::error!(error = %e, "control server task failed"),
        }
    }
    if let Some(p) = proxy {
        p.stop().await;
    }
    for h in handles {
        h.stop().await;
    }
    for l in loggers.into_iter().chain(sink_tasks) {
        l.abort();
    }
    super::owner::release_all(claims).await;
    let report = health_report(clock.now(), &accounts);
    tracing::info!(status = render::status_name(report.status), "stopped");
    stopped.map(|_| ()).map_err(|key| super::owner::lost(&key))
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

/// `[notify.telegram] reauth = true`: logins are answered on Telegram.
fn notify_reauth(config: &Config) -> bool {
    config
        .notify
        .as_ref()
        .and_then(|n| n.get("telegram"))
        .and_then(|t| t.get("reauth"))
        .and_then(|r| r.as_bool())
        .unwrap_or(false)
}

/// `[control]` names a `listen` address: the control server runs.
fn listen_in_table(config: &Config) -> bool {
    config
        .control
        .as_ref()
        .is_some_and(|c| c.get("listen").is_some())
}

/// The `[control]` / `[notify]` tables, parsed when they will be used: with
/// `--listen`, or when `[notify]` asks for alerts.
fn control_settings(
    config: &Config,
    listen: Option<std::net::SocketAddr>,
) -> Result<Option<(control::ControlConfig, Option<control::NotifyConfig>)>, CliError> {
    if listen.is_none() && !listen_in_table(config) && config.notify.is_none() {
        return Ok(None);
    }
    let path = config.path.display();
    let need_control = || {
        CliError::Other(format!(
            "{path}: --listen and [notify] need a [control] table with a bearer token, e.g.\n\n[control]\ntoken = {{ env = \"TOKENCTL_CONTROL_TOKEN\" }}"
        ))
    };
    if config.control.is_none() {
        return Err(need_control());
    }
    let (control, notify) = config.control_tables()?;
    let mut control = control.ok_or_else(need_control)?;
    if let Some(addr) = listen {
        control.listen = addr;
    }
    // Read the bearer token now, so a missing one fails before any work.
    if let Err(e) = control.token.read() {
        return Err(CliError::Other(format!("{path}: [control] token: {e}")));
    }
    Ok(Some((control, notify)))
}
