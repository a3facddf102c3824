//! `[proxy]`: where the local signing proxy listens and how bots prove
//! who they are.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use token_core::SecretSource;

/// The `[proxy]` table.
///
/// ```toml
/// [proxy]
/// listen = "127.0.0.1:9185"                  # TCP: bots send the bearer token
/// token = { file = "proxy-token" }           # >= 32 random characters
/// unix_socket = "/run/tokenctl/proxy.sock"   # and/or a socket (0600: permissions decide)
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// TCP address (loopback unless `allow_remote`); `--proxy` overrides it.
    pub listen: Option<SocketAddr>,
    /// Allow a `listen` address that is not loopback (plain HTTP: the
    /// bearer token crosses the network in clear text).
    #[serde(default)]
    pub allow_remote: bool,
    /// The bearer token TCP clients send (`Authorization: Bearer ...`).
    pub token: Option<SecretSource>,
    /// A Unix socket to serve too, created 0600: whoever may open it may use
    /// the proxy, no bearer token needed.
    pub unix_socket: Option<PathBuf>,
    /// Largest request body accepted, in bytes (default 1 MiB).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Requests handled at once; more are answered `503` at once
    /// (default 256).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Longest wait for the broker per attempt, in seconds (default 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Connections held at once, busy or idle; more are refused with `503`
    /// (default [`control::ServeLimits::default`]'s: 256, or a quarter of the
    /// open-file limit if lower).
    pub max_connections: Option<usize>,
    /// Time a client gets to send a request head, and the longest a
    /// kept-alive connection may sit idle between requests, in seconds
    /// (default 10).
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
}

fn default_max_body() -> usize {
    1024 * 1024
}

fn default_max_in_flight() -> usize {
    256
}

fn default_timeout() -> u64 {
    30
}

fn default_header_timeout() -> u64 {
    control::DEFAULT_HEADER_READ_TIMEOUT.as_secs()
}

impl ProxyConfig {
    /// A proxy on `listen` with the defaults.
    pub fn on(listen: SocketAddr, token: SecretSource) -> Self {
        Self {
            listen: Some(listen),
            allow_remote: false,
            token: Some(token),
            unix_socket: None,
            max_body_bytes: default_max_body(),
            max_in_flight: default_max_in_flight(),
            timeout_secs: default_timeout(),
            max_connections: None,
            header_timeout_secs: default_header_timeout(),
        }
    }

    /// The accept loop's limits: the control server's
    /// ([`control::serve_limited`]) with keep-alive on, `max_connections`
    /// and `header_timeout_secs`; a connection lives at most long enough
    /// for a renewal and two attempts at the broker (at least
    /// [`control::DEFAULT_CONNECTION_TIMEOUT`]).
    ///
    /// ```
    /// # use tokenctl::proxy::ProxyConfig;
    /// let c = ProxyConfig::on("127.0.0.1:9185".parse().unwrap(),
    ///     token_core::SecretSource::Env("PROXY_TOKEN".into()));
    /// let l = c.serve_limits();
    /// assert!(l.keep_alive);
    /// assert_eq!(l.header_read_timeout, std::time::Duration::from_secs(10));
    /// ```
    pub fn serve_limits(&self) -> control::ServeLimits {
        let defaults = control::ServeLimits::default();
        control::ServeLimits {
            max_connections: self
                .max_connections
                .unwrap_or(defaults.max_connections)
                .max(1),
            header_read_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            connection_timeout: defaults.connection_timeout.max(self.timeout() * 4),
            shutdown_grace: defaults.shutdown_grace,
            keep_alive: true,
        }
    }

    /// The timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// Relative paths (token file, socket) anchored at `base`.
    pub fn relative_to(mut self, base: &Path) -> Self {
        self.token = self.token.map(|t| t.relative_to(base));
        self.unix_socket = self.unix_socket.map(|p| base.join(p));
        self
    }
}
