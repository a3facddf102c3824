//! [`Etrade`]: the E*TRADE broker bundle.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use token_core::policy::ExpiryPolicy;
use token_core::{
    Broker, BuildContext, BuildError, ManagerConfig, Notice, RenewalReason, SecretSource,
};

use crate::{EtradeConfig, EtradeCredentials, EtradeProvider};

/// E*TRADE, bundled for tools and builders: [`EtradeSettings`] from a
/// configuration file, the midnight-New-York + idle policy and the
/// environment's hosts.
///
/// ```
/// use token_core::Broker;
/// assert_eq!(etrade::Etrade::NAME, "etrade");
/// assert_eq!(etrade::Etrade::exchange_zone(), chrono_tz::America::New_York);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Etrade;

/// One E*TRADE account's settings, as written in a `[[account]]` table.
/// The consumer secret is named (`{ env = "VAR" }` / `{ file = "PATH" }`),
/// never inline.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtradeSettings {
    /// The consumer key (not a secret: it appears in authorize URLs).
    pub consumer_key: String,
    /// Where the consumer secret comes from.
    pub consumer_secret: SecretSource,
    /// One URL for both OAuth and API hosts and the authorize page (e.g. a
    /// simulator), as [`EtradeConfig::with_base_url`].
    pub base_url: Option<String>,
    /// The OAuth host, when it differs.
    pub oauth_base_url: Option<String>,
    /// The API host, when it differs.
    pub api_base_url: Option<String>,
    /// The page a person opens to authorize.
    pub authorize_url: Option<String>,
    /// The day the consumer key was issued, e.g. `"2024-06-01"`: personal
    /// keys stop working about two years later, so the account warns 30
    /// days ahead (an event, `tokenctl status`, the health report).
    #[serde(default, deserialize_with = "issue_date")]
    pub consumer_key_issued: Option<NaiveDate>,
}

/// `consumer_key_issued`: a `"YYYY-MM-DD"` string, with an error that says so.
fn issue_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    let text = String::deserialize(d).map_err(|_| {
        de::Error::custom("consumer_key_issued must be a date in quotes, e.g. \"2024-06-01\"")
    })?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            de::Error::custom(format!(
                "consumer_key_issued {text:?} is not a date: write it as \"YYYY-MM-DD\", e.g. \"2024-06-01\""
            ))
        })
}

impl Broker for Etrade {
    const NAME: &'static str = crate::BROKER;
    const DISPLAY_NAME: &'static str = "E*TRADE";
    type Payload = EtradeCredentials;
    type Settings = EtradeSettings;
    type Provider = EtradeProvider;

    fn exchange() -> Option<&'static token_core::calendar::Exchange> {
        Some(&token_core::calendar::NYSE)
    }

    fn default_policy() -> Arc<dyn ExpiryPolicy> {
        Arc::new(crate::default_policy())
    }

    fn default_manager_config() -> ManagerConfig {
        ManagerConfig::default()
    }

    fn provider(s: &EtradeSettings, ctx: &BuildContext) -> Result<EtradeProvider, BuildError> {
        let secret = ctx.secret("consumer_secret", &s.consumer_secret)?;
        let mut c = EtradeConfig::new(ctx.environment(), &s.consumer_key, secret)
            .with_timeout(Duration::from_secs(30));
        if let Some(u) = &s.base_url {
            c = c.with_base_url(u)?;
        }
        if let Some(u) = &s.oauth_base_url {
            c = c.with_oauth_base_url(u)?;
        }
        if let Some(u) = &s.api_base_url {
            c = c.with_api_base_url(u)?;
        }
        if let Some(u) = &s.authorize_url {
            c = c.with_authorize_url(u)?;
        }
        if let Some(issued) = s.consumer_key_issued {
            c = c.with_consumer_key_issued(issued);
        }
        Ok(EtradeProvider::with_clock(c, ctx.clock.clone())?)
    }

    fn request_auth(
        provider: &Arc<EtradeProvider>,
    ) -> Option<Arc<dyn token_core::bundle::RequestAuth<EtradeCredentials>>> {
        Some(Arc::new(crate::EtradeRequestAuth::new(provider.clone())))
    }

    fn sink_fields() -> Vec<(&'static str, &'static str)> {
        vec![
            ("oauth_token", "ETRADE_OAUTH_TOKEN"),
            ("oauth_token_secret", "ETRADE_OAUTH_TOKEN_SECRET"),
        ]
    }

    fn notices(s: &EtradeSettings) -> Vec<Notice> {
        s.consumer_key_issued
            .and_then(crate::key_age_notice)
            .into_iter()
            .collect()
    }

    fn describe_renewal(reason: RenewalReason) -> String {
        match reason {
            RenewalReason::Idle => "token was idle: renewed silently (renew_access_token)".into(),
            other => format!("renewed: {other} (renew_access_token)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_core::{Environment, SystemClock, TokenProvider};

    #[test]
    fn builds_a_provider_from_settings_and_names_the_missing_secret() {
        let dir = std::env::temp_dir().join(format!("etrade-bundle-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = EtradeSettings {
            consumer_key: "ck".into(),
            consumer_secret: SecretSource::Env("ETRADE_BUNDLE_TEST_SURELY_UNSET".into()),
            base_url: Some("http://127.0.0.1:9".into()),
            oauth_base_url: None,
            api_base_url: None,
            authorize_url: None,
            consumer_key_issued: None,
        };
        let key = Etrade::account_key(Environment::Sandbox, "main").unwrap();
        let ctx = BuildContext::new(key, Arc::new(SystemClock), &dir);
        let err = Etrade::provider(&s, &ctx).unwrap_err().to_string();
        assert_eq!(
            err,
            "secret `consumer_secret`: environment variable ETRADE_BUNDLE_TEST_SURELY_UNSET is not set"
        );
        std::fs::write(dir.join("cs"), "S3cr3t-Zq9vKx-etrade\n").unwrap();
        s.consumer_secret = SecretSource::File("cs".into());
        let p = Etrade::provider(&s, &ctx).unwrap();
        assert_eq!(p.broker(), "etrade");
        s.api_base_url = Some("http://api.example.com".into());
        assert!(matches!(
            Etrade::provider(&s, &ctx),
            Err(BuildError::Invalid(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_consumer_key_issue_date_is_a_quoted_date_with_a_clear_error() {
        let with = |v: &str| {
            serde_json::from_str::<EtradeSettings>(&format!(
                r#"{{"consumer_key":"k","consumer_secret":{{"env":"X"}},"consumer_key_issued":{v}}}"#
            ))
        };
        let s = with("\"2024-06-01\"").unwrap();
        assert_eq!(s.consumer_key_issued, NaiveDate::from_ymd_opt(2024, 6, 1));
        assert_eq!(Etrade::notices(&s).len(), 1);
        let err = with("\"01/06/2024\"").unwrap_err().to_string();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        let err = with("20240601").unwrap_err().to_string();
        assert!(err.contains("in quotes"), "{err}");
        let none = r#"{"consumer_key":"k","consumer_secret":{"env":"X"}}"#;
        let s: EtradeSettings = serde_json::from_str(none).unwrap();
        assert!(Etrade::notices(&s).is_empty());
    }

    #[test]
    fn settings_refuse_unknown_fields() {
        let ok = r#"{"consumer_key":"k","consumer_secret":{"env":"X"}}"#;
        assert!(serde_json::from_str::<EtradeSettings>(ok).is_ok());
        let extra = ok.replace(
            "\"consumer_key\"",
            "\"pin\":{\"env\":\"P\"},\"consumer_key\"",
        );
        assert!(serde_json::from_str::<EtradeSettings>(&extra)
            .unwrap_err()
            .to_string()
            .contains("pin"));
    }
}
