//! [`Kite`]: the Zerodha Kite Connect broker bundle.

use std::sync::Arc;

use serde::Deserialize;
use token_core::policy::ExpiryPolicy;
use token_core::{Broker, BuildContext, BuildError, ManagerConfig, RenewalReason, SecretSource};

use crate::{KiteConfig, KiteCreds, KiteProvider};

/// Zerodha Kite Connect, bundled for tools and builders: [`KiteSettings`]
/// from a configuration file, the 06:00 Asia/Kolkata policy, no renewal.
///
/// ```
/// use token_core::Broker;
/// assert_eq!(kite::Kite::NAME, "kite");
/// assert!(kite::Kite::default_manager_config().schedule.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Kite;

/// One Kite account's settings, as written in a `[[account]]` table.
/// The api_secret is named (`{ env = "VAR" }` / `{ file = "PATH" }`), never inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KiteSettings {
    /// The app's api_key.
    pub api_key: String,
    /// Where the api_secret comes from.
    pub api_secret: SecretSource,
    /// The registered redirect URL.
    pub redirect_url: String,
    /// API base URL (e.g. a simulator's); needed in the sandbox environment,
    /// which Kite does not have. The login page follows it.
    pub base_url: Option<String>,
    /// Login page, if not `{base_url}/connect/login`.
    pub login_url: Option<String>,
}

impl Broker for Kite {
    const NAME: &'static str = crate::BROKER;
    const DISPLAY_NAME: &'static str = "Zerodha Kite";
    type Payload = KiteCreds;
    type Settings = KiteSettings;
    type Provider = KiteProvider;

    fn exchange() -> Option<&'static token_core::calendar::Exchange> {
        Some(&token_core::calendar::NSE)
    }

    fn default_policy() -> Arc<dyn ExpiryPolicy> {
        Arc::new(crate::default_policy())
    }

    fn default_manager_config() -> ManagerConfig {
        crate::default_manager_config()
    }

    fn request_auth(
        provider: &Arc<KiteProvider>,
    ) -> Option<Arc<dyn token_core::bundle::RequestAuth<KiteCreds>>> {
        crate::KiteRequestAuth::new(provider)
            .ok()
            .map(|a| Arc::new(a) as Arc<dyn token_core::bundle::RequestAuth<KiteCreds>>)
    }

    fn provider(s: &KiteSettings, ctx: &BuildContext) -> Result<KiteProvider, BuildError> {
        let secret = ctx.secret("api_secret", &s.api_secret)?;
        let mut config = KiteConfig::new(ctx.environment(), &s.api_key, secret, &s.redirect_url);
        if let Some(u) = &s.base_url {
            config = config.with_base_url(u)?;
        }
        if let Some(u) = &s.login_url {
            config = config.with_login_url(u)?;
        }
        Ok(KiteProvider::new(config, ctx.clock.clone())?)
    }

    fn login_redirect_uri(s: &KiteSettings) -> Option<String> {
        Some(s.redirect_url.clone())
    }

    fn describe_renewal(_reason: RenewalReason) -> String {
        "no silent renewal: the access token dies at 06:00 IST; a person logs in every trading day"
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::{Environment, SystemClock, TokenProvider};

    #[test]
    fn names_its_exchange_calendar_login_window_and_check() {
        let config = Kite::standard_manager_config();
        assert_eq!(
            config.calendar.map(|c| c.name().to_owned()).as_deref(),
            Some("NSE")
        );
        assert_eq!(
            config.login_window.map(|w| w.to_string()).as_deref(),
            Some("08:00-09:00 Asia/Kolkata Mon-Fri")
        );
        assert_eq!(
            config.check_at.map(|s| s.to_string()).as_deref(),
            Some("08:30 Asia/Kolkata Mon-Fri")
        );
    }

    #[test]
    fn builds_a_provider_from_settings_and_names_the_missing_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = KiteSettings {
            api_key: "kiteapikey123".into(),
            api_secret: SecretSource::Env("KITE_BUNDLE_TEST_SECRET_SURELY_UNSET".into()),
            redirect_url: "http://127.0.0.1:8080/cb".into(),
            base_url: Some("http://127.0.0.1:9".into()),
            login_url: None,
        };
        let key = Kite::account_key(Environment::Sandbox, "desk").unwrap();
        let ctx = BuildContext::new(key, Arc::new(SystemClock), dir.path());
        let err = Kite::provider(&s, &ctx).unwrap_err().to_string();
        assert_eq!(
            err,
            "secret `api_secret`: environment variable KITE_BUNDLE_TEST_SECRET_SURELY_UNSET is not set"
        );
        std::fs::write(dir.path().join("sec"), "S3cr3t-Zq9vKx-kite-bundle\n").unwrap();
        s.api_secret = SecretSource::File("sec".into());
        let p = Kite::provider(&s, &ctx).unwrap();
        assert_eq!(p.broker(), "kite");
        assert!(!p.capabilities().renew);
        assert_eq!(p.config().login_url, "http://127.0.0.1:9/connect/login");
        s.base_url = Some("http://api.kite.trade".into());
        assert!(matches!(
            Kite::provider(&s, &ctx),
            Err(BuildError::Invalid(_))
        ));
    }

    #[test]
    fn settings_refuse_unknown_fields_and_inline_secrets() {
        let ok = r#"{"api_key":"k","api_secret":{"env":"X"},"redirect_url":"http://127.0.0.1/cb"}"#;
        assert!(serde_json::from_str::<KiteSettings>(ok).is_ok());
        let extra = ok.replace("\"api_key\"", "\"pin\":\"1\",\"api_key\"");
        assert!(serde_json::from_str::<KiteSettings>(&extra).is_err());
        let inline = ok.replace(r#"{"env":"X"}"#, r#""S3cr3t-Zq9vKx-inline""#);
        let err = serde_json::from_str::<KiteSettings>(&inline)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("S3cr3t-Zq9vKx-inline"), "{err}");
        assert_eq!(Kite::exchange_zone(), chrono_tz::Asia::Kolkata);
    }
}
