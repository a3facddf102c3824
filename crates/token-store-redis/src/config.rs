//! How a [`RedisStore`] connects and behaves.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use token_core::{Clock, StoreError, SystemClock};

use crate::keys::valid_prefix;
use crate::store::RedisStore;

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "broker-tokens";

/// Builds a [`RedisStore`]; start with [`RedisStore::builder`].
///
/// `Debug` shows the host part of the URL only, never the credentials.
#[derive(Clone)]
pub struct RedisStoreBuilder {
    pub(crate) url: SecretString,
    pub(crate) prefix: String,
    pub(crate) record_ttl_after_expiry: Option<Duration>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) lease_ttl: Option<Duration>,
    pub(crate) owner_ttl: Duration,
    pub(crate) reload_interval: Duration,
    pub(crate) reconnect_min: Duration,
    pub(crate) reconnect_max: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("server", &redacted_url(self.url.expose_secret()))
            .field("prefix", &self.prefix)
            .field("record_ttl_after_expiry", &self.record_ttl_after_expiry)
            .field("lease_ttl", &self.lease_ttl)
            .field("owner_ttl", &self.owner_ttl)
            .field("reload_interval", &self.reload_interval)
            .finish_non_exhaustive()
    }
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: SecretString) -> Self {
        Self {
            url,
            prefix: DEFAULT_PREFIX.to_string(),
            record_ttl_after_expiry: None,
            clock: Arc::new(SystemClock),
            lease_ttl: None,
            owner_ttl: Duration::from_secs(15),
            reload_interval: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            command_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(2),
        }
    }

    /// Key prefix (default `broker-tokens`): records are
    /// `{prefix}:record:{broker}/{environment}/{label}`, leases
    /// `{prefix}:lease:…`, the index `{prefix}:index`, notifications go to
    /// channel `{prefix}:changes`. Printable ASCII without spaces.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Lets Redis delete a record this long after its hard expiry (the later
    /// of the access and refresh expiry), so dead credentials do not linger.
    /// `None` (the default), or a record without a known expiry: kept until
    /// deleted. The TTL is computed with the store's clock
    /// ([`RedisStoreBuilder::clock`]) and is never shorter than this grace.
    pub fn record_ttl_after_expiry(mut self, grace: Option<Duration>) -> Self {
        self.record_ttl_after_expiry = grace;
        self
    }

    /// The clock used to turn record expiries into TTLs (default: system).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Overrides the lease TTL the manager asks for (`ManagerConfig::lease_ttl`, 120 s by default): how long other
    /// replicas wait before taking over from a holder that died. Keep it
    /// longer than one renewal takes, or two replicas may renew at once.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = Some(ttl);
        self
    }

    /// How long an account's maintenance claim (see
    /// [`OwnerClaims`](token_core::store::OwnerClaims)) outlives its holder
    /// (default 15 s): a heartbeat extends it every third of this, so a
    /// standby takes over within this long after the owner died; a holder
    /// that could not extend it for this long stops maintaining the account.
    /// At least 30 ms.
    pub fn owner_ttl(mut self, ttl: Duration) -> Self {
        self.owner_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// While the notification subscription is down, every known account is
    /// announced at this interval so managers reload (default 30 s).
    pub fn reload_interval(mut self, interval: Duration) -> Self {
        self.reload_interval = interval;
        self
    }

    /// Backoff between attempts to re-establish the notification
    /// subscription (default 100 ms doubling to 5 s).
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// How long one command may take before it fails (default 3 s), and how
    /// long a connection attempt may take (default 2 s).
    pub fn timeouts(mut self, command: Duration, connect: Duration) -> Self {
        self.command_timeout = command;
        self.connect_timeout = connect;
        self
    }

    /// Connects (commands and the notification subscription) and returns the
    /// store. Fails when the URL is invalid or Redis cannot be reached or
    /// refuses the credentials. Must run inside a tokio runtime: the
    /// subscription lives in a task that ends when the last clone of the
    /// store is dropped.
    pub async fn connect(self) -> Result<RedisStore, StoreError> {
        if !valid_prefix(&self.prefix) {
            return Err(StoreError::Backend(format!(
                "invalid Redis key prefix {:?}: use 1-128 printable ASCII characters without spaces",
                self.prefix
            )));
        }
        RedisStore::connect_with(self).await
    }
}

/// `scheme://host:port/db` without user or password, for Debug and errors.
pub(crate) fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("?", url));
    let host = match rest.rsplit_once('@') {
        Some((_, host)) => host,
        None => rest,
    };
    format!("{scheme}://{host}")
}

/// Removes the URL's password from a message, in case a client error ever
/// quotes it.
pub(crate) fn scrub(message: String, url: &SecretString) -> String {
    let url = url.expose_secret();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => message.replace(p, "[REDACTED]"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_user_or_password() {
        let b = RedisStoreBuilder::new("rediss://bot:hunter2@cache.internal:6380/2".into());
        let shown = format!("{b:?}");
        assert!(shown.contains("rediss://cache.internal:6380/2"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("bot"), "{shown}");
    }

    #[test]
    fn scrub_removes_the_password_from_messages() {
        let url = SecretString::from("redis://bot:hunter2@h:1");
        assert_eq!(
            scrub("auth hunter2 failed".into(), &url),
            "auth [REDACTED] failed"
        );
        let plain = SecretString::from("redis://h:1");
        assert_eq!(scrub("x".into(), &plain), "x");
    }
}
