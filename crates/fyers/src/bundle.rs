//! [`Fyers`]: the FYERS broker bundle.

use std::sync::Arc;

use serde::Deserialize;
use token_core::policy::ExpiryPolicy;
use token_core::{Broker, BuildContext, BuildError, ManagerConfig, RenewalReason, SecretSource};

use crate::{FyersConfig, FyersCreds, FyersProvider, RefreshMode};

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
/// `pin` is required unless `refresh = "off"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawSettings")]
pub struct FyersSettings {
    /// App id with its type suffix, e.g. `ABCD1234-100`.
    pub client_id: String,
    /// Where the app secret comes from.
    pub secret_key: SecretSource,
    /// Where the PIN comes from; `None` only with `refresh = "off"`.
    pub pin: Option<SecretSource>,
    /// `"auto"` (default): refresh silently while FYERS allows it;
    /// `"off"`: never refresh, a person logs in daily ([`RefreshMode`]).
    pub refresh: RefreshMode,
    /// The registered redirect URI, exactly.
    pub redirect_uri: String,
    /// API base URL (e.g. a simulator's `/api/v3`); needed in the sandbox
    /// environment, which FYERS does not have.
    pub base_url: Option<String>,
}

/// The table as written, before the "PIN unless refresh is off" rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    client_id: String,
    secret_key: SecretSource,
    #[serde(default)]
    pin: Option<SecretSource>,
    #[serde(default)]
    refresh: RefreshMode,
    redirect_uri: String,
    base_url: Option<String>,
}

impl TryFrom<RawSettings> for FyersSettings {
    type Error = String;

    fn try_from(r: RawSettings) -> Result<Self, String> {
        if r.pin.is_none() && r.refresh == RefreshMode::Auto {
            // serde's own words, so tools name the field ("needs `pin`").
            return Err("missing field `pin`".into());
        }
        Ok(Self {
            client_id: r.client_id,
            secret_key: r.secret_key,
            pin: r.pin,
            refresh: r.refresh,
            redirect_uri: r.redirect_uri,
            base_url: r.base_url,
        })
    }
}

impl Broker for Fyers {
    const NAME: &'static str = crate::BROKER;
    const DISPLAY_NAME: &'static str = "FYERS";
    type Payload = FyersCreds;
    type Settings = FyersSettings;
    type Provider = FyersProvider;

    fn exchange() -> Option<&'static token_core::calendar::Exchange> {
        Some(&token_core::calendar::NSE)
    }

    fn default_policy() -> Arc<dyn ExpiryPolicy> {
        Arc::new(crate::default_policy())
    }

    fn default_manager_config() -> ManagerConfig {
        crate::default_manager_config()
    }

    /// `refresh = "off"`: no refresh schedule, and only the usual short
    /// warning before the daily 06:00 IST end (a daily login is the plan,
    /// not an emergency).
    fn manager_config(s: &FyersSettings) -> ManagerConfig {
        match s.refresh {
            RefreshMode::Auto => crate::default_manager_config(),
            RefreshMode::Off => ManagerConfig {
                schedule: None,
                ..ManagerConfig::default()
            },
        }
    }

    fn provider(s: &FyersSettings, ctx: &BuildContext) -> Result<FyersProvider, BuildError> {
        let secret = ctx.secret("secret_key", &s.secret_key)?;
        let pin = match (&s.pin, s.refresh) {
            (Some(pin), _) => ctx.secret("pin", pin)?,
            (None, RefreshMode::Off) => secrecy::SecretString::from(String::new()),
            (None, RefreshMode::Auto) => {
                return Err(BuildError::Invalid(token_core::Error::setting(
                    "pin",
                    "FYERS refreshes need the PIN: set `pin = { env = \"...\" }` (or \
                     `{ file = \"...\" }`), or `refresh = \"off\"` to log in daily instead",
                )))
            }
        };
        let mut config = FyersConfig::new(
            ctx.environment(),
            &s.client_id,
            secret,
            pin,
            &s.redirect_uri,
        )
        .with_refresh(s.refresh);
        if let Some(u) = &s.base_url {
            config = config.with_base_url(u)?;
        }
        Ok(FyersProvider::new(config, ctx.clock.clone())?)
    }

    fn request_auth(
        provider: &Arc<FyersProvider>,
    ) -> Option<Arc<dyn token_core::bundle::RequestAuth<FyersCreds>>> {
        match crate::FyersRequestAuth::new(provider) {
            Ok(auth) => Some(Arc::new(auth)),
            Err(e) => {
                tracing::error!(error = %e, "FYERS: no proxy for this account");
                None
            }
        }
    }

    fn sink_fields() -> Vec<(&'static str, &'static str)> {
        vec![("access_token", "FYERS_ACCESS_TOKEN")]
    }

    fn login_redirect_uri(s: &FyersSettings) -> Option<String> {
        Some(s.redirect_uri.clone())
    }

    fn describe_renewal(reason: RenewalReason) -> String {
        match reason {
            RenewalReason::Scheduled => {
                "scheduled refresh (08:45 IST Mon-Fri): new access token from refresh token + PIN"
                    .into()
            }
            RenewalReason::Expired => {
                "access token expired (06:00 IST): refreshed silently with refresh token + PIN"
                    .into()
            }
            other => format!("renewed: {other} (new access token from refresh token + PIN)"),
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
            pin: Some(SecretSource::Env(
                "FYERS_BUNDLE_TEST_PIN_SURELY_UNSET".into(),
            )),
            refresh: RefreshMode::Auto,
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
        s.pin = Some(SecretSource::File("pin".into()));
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
    fn refresh_off_needs_no_pin_and_no_schedule_and_never_renews() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.pin = None;
        let key = Fyers::account_key(Environment::Sandbox, "desk").unwrap();
        let ctx = BuildContext::new(key, Arc::new(SystemClock), dir.path());
        let err = Fyers::provider(&s, &ctx).unwrap_err().to_string();
        assert!(err.contains("refresh = \"off\""), "{err}");
        s.refresh = RefreshMode::Off;
        let p = Fyers::provider(&s, &ctx).unwrap();
        assert!(!p.capabilities().renew);
        assert!(Fyers::manager_config(&s).schedule.is_none());
        s.refresh = RefreshMode::Auto;
        assert!(Fyers::manager_config(&s).schedule.is_some());
        let off = r#"{"client_id":"A-100","secret_key":{"env":"X"},"refresh":"off","redirect_uri":"http://127.0.0.1/cb"}"#;
        let parsed: FyersSettings = serde_json::from_str(off).unwrap();
        assert_eq!(parsed.refresh, RefreshMode::Off);
        let bad = off.replace("\"off\"", "\"sometimes\"");
        assert!(serde_json::from_str::<FyersSettings>(&bad).is_err());
        let auto = off.replace("\"off\"", "\"auto\"");
        let err = serde_json::from_str::<FyersSettings>(&auto).unwrap_err();
        assert!(err.to_string().contains("missing field `pin`"), "{err}");
    }

    #[test]
    fn defaults_keep_the_schedule_and_the_zone() {
        let c = Fyers::default_manager_config();
        assert_eq!(c.schedule, crate::default_manager_config().schedule);
        assert_eq!(
            c.expiry_warnings,
            crate::default_manager_config().expiry_warnings
        );
        assert_eq!(Fyers::exchange_zone(), chrono_tz::Asia::Kolkata);
    }
}
