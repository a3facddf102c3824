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
