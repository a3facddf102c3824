//! [`Schwab`]: the Charles Schwab broker bundle.

use std::sync::Arc;

use serde::Deserialize;
use token_core::policy::ExpiryPolicy;
use token_core::{Broker, BuildContext, BuildError, ManagerConfig, RenewalReason, SecretSource};

use crate::{SchwabConfig, SchwabCreds, SchwabProvider};

/// Charles Schwab, bundled for tools and builders: [`SchwabSettings`] from a
/// configuration file, the refresh-ahead policy and the 7-day warning.
///
/// ```
/// use token_core::Broker;
/// assert_eq!(schwab::Schwab::NAME, "schwab");
/// assert_eq!(schwab::Schwab::exchange_zone(), chrono_tz::America::New_York);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Schwab;

/// One Schwab account's settings, as written in an `[[account]]` table.
/// The app secret is named (`{ env = "VAR" }` / `{ file = "PATH" }`), never
/// inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchwabSettings {
    /// The app key (`client_id`).
    pub app_key: String,
    /// Where the app secret comes from.
    pub app_secret: SecretSource,
    /// The registered callback URL, exactly (https; `127.0.0.1` allowed).
    pub callback_url: String,
    /// API base URL (e.g. a simulator's `http://127.0.0.1:PORT`); needed in
    /// the sandbox environment, which Schwab does not have.
    pub base_url: Option<String>,
}

impl Broker for Schwab {
    const NAME: &'static str = crate::BROKER;
    const DISPLAY_NAME: &'static str = "Charles Schwab";
    type Payload = SchwabCreds;
    type Settings = SchwabSettings;
    type Provider = SchwabProvider;

    fn exchange() -> Option<&'static token_core::calendar::Exchange> {
        Some(&token_core::calendar::NYSE)
    }

    fn default_policy() -> Arc<dyn ExpiryPolicy> {
        Arc::new(crate::default_policy())
    }

    fn default_manager_config() -> ManagerConfig {
        crate::default_manager_config()
    }

    fn request_auth(
        provider: &Arc<SchwabProvider>,
    ) -> Option<Arc<dyn token_core::bundle::RequestAuth<SchwabCreds>>> {
        crate::SchwabRequestAuth::new(provider)
            .ok()
            .map(|a| Arc::new(a) as Arc<dyn token_core::bundle::RequestAuth<SchwabCreds>>)
    }

    fn provider(s: &SchwabSettings, ctx: &BuildContext) -> Result<SchwabProvider, BuildError> {
        let secret = ctx.secret("app_secret", &s.app_secret)?;
        let mut config = SchwabConfig::new(ctx.environment(), &s.app_key, secret, &s.callback_url);
        if let Some(u) = &s.base_url {
            config = config.with_base_url(u)?;
        }
        Ok(SchwabProvider::new(config, ctx.clock.clone())?)
    }

    fn login_redirect_uri(s: &SchwabSettings) -> Option<String> {
        Some(s.callback_url.clone())
    }

    fn describe_renewal(reason: RenewalReason) -> String {
        match reason {
            RenewalReason::Idle | RenewalReason::Expired => {
                "access token (30 min) refreshed 5 min before its end with the refresh token; \
                 the refresh token ends 7 days after the login: then a person logs in"
                    .into()
            }
            other => format!("renewed: {other} (new access token from the refresh token)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::{Environment, SystemClock, TokenProvider};

    #[test]
    fn names_its_exchange_calendar_login_window_and_check() {
        let config = Schwab::standard_manager_config();
        assert_eq!(
            config.calendar.map(|c| c.name().to_owned()).as_deref(),
            Some("NYSE")
        );
        assert_eq!(
            config.login_window.map(|w| w.to_string()).as_deref(),
            Some("08:00-09:20 America/New_York Mon-Fri")
        );
        assert_eq!(
            config.check_at.map(|s| s.to_string()).as_deref(),
            Some("08:00 America/New_York Mon-Fri")
        );
    }

    #[test]
    fn builds_a_provider_from_settings_and_names_the_missing_secret() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SchwabSettings {
            app_key: "AppKey-Zq9vKx".into(),
            app_secret: SecretSource::Env("SCHWAB_BUNDLE_TEST_SECRET_SURELY_UNSET".into()),
            callback_url: "https://127.0.0.1:8182/cb".into(),
            base_url: Some("http://127.0.0.1:9".into()),
        };
        let key = Schwab::account_key(Environment::Sandbox, "desk").unwrap();
        let ctx = BuildContext::new(key, Arc::new(SystemClock), dir.path());
        let err = Schwab::provider(&s, &ctx).unwrap_err().to_string();
        assert!(err.contains("app_secret"), "{err}");
        std::fs::write(dir.path().join("sec"), "S3cr3t-Zq9vKx-schwab\n").unwrap();
        s.app_secret = SecretSource::File("sec".into());
        let p = Schwab::provider(&s, &ctx).unwrap();
        assert_eq!(p.broker(), "schwab");
        assert!(!p.capabilities().revoke);
        s.base_url = Some("http://api.schwabapi.com".into());
        assert!(matches!(
            Schwab::provider(&s, &ctx),
            Err(BuildError::Invalid(_))
        ));
    }

    #[test]
    fn settings_refuse_unknown_fields_and_inline_secrets() {
        let ok =
            r#"{"app_key":"K","app_secret":{"env":"X"},"callback_url":"https://127.0.0.1/cb"}"#;
        assert!(serde_json::from_str::<SchwabSettings>(ok).is_ok());
        let inline = ok.replace(r#"{"env":"X"}"#, r#""S3cr3t-Zq9vKx-inline""#);
        let err = serde_json::from_str::<SchwabSettings>(&inline)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("S3cr3t"), "{err}");
    }
}
