//! Starting and stopping the local signing proxy of `tokenctl run`.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::CliError;
use crate::accounts::Account;
use crate::config::Config;
use crate::proxy::{self, ProxyAccount, ProxyConfig};

/// A running proxy: its listeners' tasks and the switch that stops them.
pub(crate) struct RunningProxy {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    socket: Option<std::path::PathBuf>,
}

impl RunningProxy {
    /// Stops accepting, lets requests under way finish, and waits.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "proxy task failed");
            }
        }
        if let Some(socket) = self.socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// The proxy settings: `[proxy]`, with `flag` (`--proxy ADDR`) overriding
/// its `listen`; `None` when neither asks for a proxy.
fn settings(config: &Config, flag: Option<SocketAddr>) -> Result<Option<ProxyConfig>, CliError> {
    let table = config.proxy_table()?;
    let path = config.path.display();
    let mut cfg = match (table, flag) {
        (None, None) => return Ok(None),
        (Some(t), _) => t,
        (None, Some(_)) => {
            return Err(CliError::Other(format!(
                "{path}: --proxy needs a [proxy] table with the bearer token bots send, e.g.\n\n[proxy]\ntoken = {{ file = \"proxy-token\" }}   # openssl rand -hex 32 > proxy-token; chmod 600 proxy-token"
            )))
        }
    };
    if let Some(addr) = flag {
        cfg.listen = Some(addr);
    }
    if cfg.listen.is_none() && cfg.unix_socket.is_none() {
        return Err(CliError::Other(format!(
            "{path}: [proxy] needs `listen = \"127.0.0.1:9185\"` (or --proxy ADDR) or `unix_socket = \"PATH\"`"
        )));
    }
    if let Some(addr) = cfg.listen {
        if !addr.ip().is_loopback() && !cfg.allow_remote {
            return Err(CliError::Other(format!(
                "{path}: [proxy] listen {addr} is not a loopback address; the proxy speaks plain HTTP, so set `allow_remote = true` only behind TLS"
            )));
        }
    }
    Ok(Some(cfg))
}

/// Starts the proxy over `accounts` when `--proxy` or `[proxy]` asks for one.
pub(crate) async fn start(
    config: &Config,
    flag: Option<SocketAddr>,
    accounts: &[Account],
) -> Result<Option<RunningProxy>, CliError> {
    let Some(cfg) = settings(config, flag)? else {
        return Ok(None);
    };
    let path = config.path.display().to_string();
    let served: Vec<ProxyAccount> = accounts
        .iter()
        .map(|a| ProxyAccount {
            managed: a.managed(),
            target: a.proxy_target(),
        })
        .collect();
    let (stop, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    if let Some(addr) = cfg.listen {
        let source = cfg.token.as_ref().ok_or_else(|| {
            CliError::Other(format!(
                "{path}: [proxy] listen needs `token = {{ file = \"proxy-token\" }}` (at least 32 random characters: openssl rand -hex 32)"
            ))
        })?;
        let secret = source
            .read()
            .map_err(|e| CliError::Other(format!("{path}: [proxy] token: {e}")))?;
        let bearer = control::BearerToken::configured(&secret)
            .map_err(|e| CliError::Other(format!("{path}: [proxy] token {e}")))?;
        let router = proxy::router(served.clone(), Some(bearer), &cfg)
            .map_err(|e| CliError::Other(format!("[proxy]: {e}")))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Other(format!("[proxy]: cannot listen on {addr}: {e}")))?;
        let bound = listener.local_addr()?;
        tracing::info!(%bound, "proxy listening on http://{bound}");
        tasks.push(tokio::spawn(proxy::serve(
            listener,
            router,
            cfg.serve_limits(),
            stopped(rx.clone()),
        )));
    }
    if let Some(socket) = &cfg.unix_socket {
        if std::fs::symlink_metadata(socket).is_ok_and(|m| m.file_type().is_socket()) {
            std::fs::remove_file(socket)?;
        }
        let listener = tokio::net::UnixListener::bind(socket).map_err(|e| {
            CliError::Other(format!(
                "[proxy]: cannot listen on {}: {e}",
                socket.display()
            ))
        })?;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
        let router = proxy::router(served, None, &cfg)
            .map_err(|e| CliError::Other(format!("[proxy]: {e}")))?;
        tracing::info!(socket = %socket.display(), "proxy listening on unix socket");
        tasks.push(tokio::spawn(proxy::serve(
            listener,
            router,
            cfg.serve_limits(),
            stopped(rx),
        )));
    }
    Ok(Some(RunningProxy {
        stop,
        tasks,
        socket: cfg.unix_socket.clone(),
    }))
}
