//! Redis key names under the store's prefix.

use token_core::AccountKey;

/// Builds the store's key names. Account keys display as
/// `broker/environment/label` with a restricted character set, so they are
/// safe inside Redis key names and as pub/sub payloads.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    prefix: String,
}

impl KeySpace {
    pub(crate) fn new(prefix: String) -> Self {
        Self { prefix }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where `key`'s record lives: `{prefix}:record:{broker/env/label}`.
    pub(crate) fn record(&self, key: &AccountKey) -> String {
        format!("{}{key}", self.record_prefix())
    }

    /// The common beginning of every record key.
    pub(crate) fn record_prefix(&self) -> String {
        format!("{}:record:", self.prefix)
    }

    /// The set of account keys that have a record (for `list`).
    pub(crate) fn index(&self) -> String {
        format!("{}:index", self.prefix)
    }

    /// The renewal lease of `key`.
    pub(crate) fn lease(&self, key: &AccountKey) -> String {
        format!("{}:lease:{key}", self.prefix)
    }

    /// The pending login of `key` (see `token_core::store::PendingLogins`).
    pub(crate) fn login(&self, key: &AccountKey) -> String {
        format!("{}:login:{key}", self.prefix)
    }

    /// The lock serializing "start a login" for `key`.
    pub(crate) fn login_lock(&self, key: &AccountKey) -> String {
        format!("{}:login-lock:{key}", self.prefix)
    }

    /// The pub/sub channel that carries changed account keys.
    pub(crate) fn channel(&self) -> String {
        format!("{}:changes", self.prefix)
    }
}

/// A prefix must be non-empty printable ASCII without spaces, so key names
/// stay readable in `redis-cli` and unambiguous.
pub(crate) fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.len() <= 128 && prefix.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::Environment;

    #[test]
    fn names_live_under_the_prefix() {
        let ks = KeySpace::new("bot:tokens".into());
        let key = AccountKey::new("etrade", Environment::Sandbox, "main").expect("key");
        assert_eq!(ks.record(&key), "bot:tokens:record:etrade/sandbox/main");
        assert_eq!(ks.lease(&key), "bot:tokens:lease:etrade/sandbox/main");
        assert_eq!(ks.index(), "bot:tokens:index");
        assert_eq!(ks.channel(), "bot:tokens:changes");
    }

    #[test]
    fn prefixes_with_spaces_or_nothing_are_refused() {
        assert!(valid_prefix("broker-tokens"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix("has space"));
        assert!(!valid_prefix("tab\t"));
        assert!(!valid_prefix(&"x".repeat(129)));
    }
}
