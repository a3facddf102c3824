//! [`Fyers`]: the FYERS broker bundle.

use std::sync::Arc;

use chrono_tz::Tz;
use serde::Deserialize;
use token_core::policy::ExpiryPolicy;
use token_core::{Broker, BuildContext, BuildError, ManagerConfig, SecretSource};

use crate::{FyersConfig, FyersCreds, FyersProvider};

/// FYERS, bundled for tools and builders: [`FyersSettings`] from a
/// configuration file, the FYERS policy and its 08:45 Asia/Kolkata
/// Mon–Fri refresh schedule with its refresh-token warning.
///
/// ```
/// use token_core::Broker;
/// assert_eq!(fyers::Fyers::NAME, "fyers");
/// assert!(fyers::Fyers::default_manager_config().schedule.is_some());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Fyers;

/// One FYERS account's settings, as written in a `[[account]]` table.
/// Secrets are named (`{ env = "VAR" }` / `{ file = "PATH" }`), never inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FyersSettings {
    /// App id with its type suffix, e.g. `ABCD1234-100`.
    pub client_id: String,
    /// Where the app secret comes from.
    pub secret_key: SecretSource,
    /// Where the PIN comes from.
    pub pin: SecretSource,
    /// The registered redirect URI, exactly.
    pub redirect_uri: String,
    /// API base URL (e.g. a simulator's `/api/v3`); needed in the sandbox
    /// environment, which FYERS does not have.
    pub base_url: Option<String>,
}

impl Broker for Fyers {
    const NAME: &'static str = crate::BROKER;
    const DISPLAY_NAME: &'static str = "FYERS";
    type Payload = FyersCreds;
    type Settings = FyersSettings;
    type Provider = FyersProvider;

    fn exchange_zone() -> Tz {
        chrono_tz::Asia::Kolkata
    }

    fn calendar() -> Option<&'static str> {
        Some("NSE")
    }

    fn login_window() -> Option<token_core::LoginWindow> {
        // Before the 09:15 Kolkata open.
        "08:00-09:00 Asia/Kolkata Mon-Fri".parse().ok()
    }

    fn check_at() -> Option<token_core::Schedule> {
        // The pre-market check, inside the login window.
        "08:30 Asia/Kolkata Mon-Fri".parse().ok()
    }

    fn default_policy() -> Arc<dyn ExpiryPolicy> {
        Arc::new(crate::default_policy())
    }

    fn default_manager_config() -> ManagerConfig {
        crate::default_manager_config()
    }

    fn provider(s: &FyersSettings, ctx: &BuildContext) -> Result<FyersProvider, BuildError> {
        let secret = ctx.secret("secret_key", &s.secret_key)?;
        let pin = ctx.secret("pin", &s.pin)?;
        let mut config = FyersConfig::new(
            ctx.environment(),
            &s.client_id,
            secret,
            pin,
            &s.redirect_uri,
        );
        if let Some(u) = &s.base_url {
            config = config.with_base_url(u)?;
        }
        Ok(FyersProvider::new(config, ctx.clock.clone())?)
    }

    fn sink_fields() -> Vec<(&'static str, &'static str)> {
        vec![("access_token", "FYERS_ACCESS_TOKEN")]
    }

    fn login_redirect_uri(s: &FyersSettings) -> Option<String> {
        Some(s.redirect_uri.clone())
    }

    fn describe_renewal(scheduled: bool) -> String {
        if scheduled {
            "scheduled refresh (08:45 IST Mon-Fri): new access token from refresh token + PIN"
                .into()
        } else {
            "access token expired (06:00 IST): refreshed silently with refresh token + PIN".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::{Environment, SystemClock, TokenProvider};

    fn settings(dir: &std::path::Path) -> FyersSettings {
        std::fs::write(dir.join("sk"), "S3cr3t-Zq9vKx-fyers\n").unwrap();
        FyersSettings {
            client_id: "ABCD1234-100".into(),
            secret_key: SecretSource::File("sk".into()),
            pin: SecretSource::Env("FYERS_BUNDLE_TEST_PIN_SURELY_UNSET".into()),
            redirect_uri: "http://127.0.0.1:8080/cb".into(),
            base_url: Some("http://127.0.0.1:9/api/v3".into()),
        }
    }

    #[test]
    fn builds_a_provider_from_settings_and_names_the_missing_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        let key = Fyers::account_key(Environment::Sandbox, "desk").unwrap();
        let ctx = BuildContext::new(key, Arc::new(SystemClock), dir.path());
        let err = Fyers::provider(&s, &ctx).unwrap_err().to_string();
        assert_eq!(
            err,
            "secret `pin`: environment variable FYERS_BUNDLE_TEST_PIN_SURELY_UNSET is not set"
        );
        std::fs::write(dir.path().join("pin"), "S3cr3t-pin-Zq9\n").unwrap();
        s.pin = SecretSource::File("pin".into());
        let p = Fyers::provider(&s, &ctx).unwrap();
        assert_eq!(p.broker(), "fyers");
        assert_eq!(p.config().environment, Environment::Sandbox);
        s.base_url = Some("http://fyers.example.com/api/v3".into());
        assert!(matches!(
            Fyers::provider(&s, &ctx),
            Err(BuildError::Invalid(_))
        ));
    }

    #[test]
    fn settings_refuse_unknown_fields_and_inline_secrets() {
        let ok = r#"{"client_id":"A-100","secret_key":{"env":"X"},"pin":{"file":"p"},"redirect_uri":"http://127.0.0.1/cb"}"#;
        assert!(serde_json::from_str::<FyersSettings>(ok).is_ok());
        let extra = ok.replace("\"client_id\"", "\"consumer_key\":\"k\",\"client_id\"");
        assert!(serde_json::from_str::<FyersSettings>(&extra)
            .unwrap_err()
            .to_string()
            .contains("consumer_key"));
        let inline = ok.replace(r#"{"file":"p"}"#, "48217");
        let err = serde_json::from_str::<FyersSettings>(&inline)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("48217"), "{err}");
    }

    #[test]
    fn defaults_keep_the_schedule_and_the_zone() {
        let c = Fyers::default_manager_config();
        assert_eq!(c.schedule, crate::default_manager_config().schedule);
        assert_eq!(
            c.expiry_warning,
            crate::default_manager_config().expiry_warning
        );
        assert_eq!(Fyers::exchange_zone(), chrono_tz::Asia::Kolkata);
    }
}
