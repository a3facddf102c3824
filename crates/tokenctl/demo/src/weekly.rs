//! The demo's Schwab and Kite accounts: Schwab's 30-minute access tokens
//! refreshed silently for the 7 days of a login, with the warnings a day
//! and two hours before its end and the weekly login; Kite's token dying at
//! 06:00 IST and the daily login before the open.

use std::sync::Arc;

use broker_sim::RunningSim;
use chrono::NaiveDate;
use kite::{Kite, KiteConfig, KiteCreds, KiteProvider};
use schwab::{Schwab, SchwabConfig, SchwabCreds, SchwabProvider};
use secrecy::SecretString;
use token_core::{Broker, Clock, Environment, Event, Payload, TokenManager, TokenProvider};

use crate::{step, DemoError};

/// The Schwab and Kite managers and providers.
pub(crate) struct Weekly {
    pub(crate) sc: TokenManager<SchwabCreds>,
    sc_provider: Arc<SchwabProvider>,
    pub(crate) kt: TokenManager<KiteCreds>,
    kt_provider: Arc<KiteProvider>,
    /// The New York day whose first Schwab refresh was printed: the rest of
    /// that day's (every 25 minutes) are not.
    quiet_day: Option<NaiveDate>,
    /// Schwab refreshes not printed.
    pub(crate) quiet_refreshes: u32,
}

impl Weekly {
    /// Builds both accounts over `store` on `clock`.
    pub(crate) fn build(
        running: &RunningSim,
        clock: Arc<dyn Clock>,
        store: Arc<token_core::MemoryStore>,
    ) -> Result<Self, DemoError> {
        let s = running.sim.config().schwab;
        let sc_config = SchwabConfig::new(
            Environment::Sandbox,
            s.app_key,
            SecretString::from(s.app_secret),
            s.callback_url,
        )
        .with_base_url(&running.schwab_base_url())
        .map_err(step("Schwab settings"))?;
        let sc_key =
            Schwab::account_key(Environment::Sandbox, "demo").map_err(step("Schwab account"))?;
        let sc_provider = Arc::new(
            SchwabProvider::new(sc_config, clock.clone()).map_err(step("Schwab provider"))?,
        );
        let sc = Schwab::manager(sc_key, sc_provider.clone())
            .store(store.clone())
            .clock(clock.clone())
            .build();

        let k = running.sim.config().kite;
        let kt_config = KiteConfig::new(
            Environment::Sandbox,
            k.api_key,
            SecretString::from(k.api_secret),
            k.redirect_url,
        )
        .with_base_url(&running.base_url)
        .map_err(step("Kite settings"))?;
        let kt_key =
            Kite::account_key(Environment::Sandbox, "demo").map_err(step("Kite account"))?;
        let kt_provider =
            Arc::new(KiteProvider::new(kt_config, clock.clone()).map_err(step("Kite provider"))?);
        let kt = Kite::manager(kt_key, kt_provider.clone())
            .store(store)
            .clock(clock)
            .build();
        Ok(Self {
            sc,
            sc_provider,
            kt,
            kt_provider,
            quiet_day: None,
            quiet_refreshes: 0,
        })
    }

    /// A person logs in to Schwab (the authorize page, the pasted redirect
    /// URL) if the account has no usable token; true if they did.
    pub(crate) async fn schwab_login(&self, running: &RunningSim) -> Result<bool, DemoError> {
        if self.sc.token().is_ok() {
            return Ok(false);
        }
        let req = self
            .sc
            .begin_authorization()
            .await
            .map_err(step("Schwab authorize URL"))?;
        let redirect = running
            .sim
            .approve_schwab_url(&req.url)
            .map_err(|e| step("Schwab approval")(token_core::Error::Config(e.to_string())))?;
        self.sc
            .complete_authorization(&SecretString::from(redirect))
            .await
            .map_err(step("Schwab code exchange"))?;
        Ok(true)
    }

    /// A person logs in to Kite if the account has no usable token; true if
    /// they did.
    pub(crate) async fn kite_login(&self, running: &RunningSim) -> Result<bool, DemoError> {
        if self.kt.token().is_ok() {
            return Ok(false);
        }
        self.kt
            .begin_authorization()
            .await
            .map_err(step("Kite login URL"))?;
        let api_key = running.sim.config().kite.api_key;
        let redirect = running
            .sim
            .approve_kite(&api_key)
            .map_err(|e| step("Kite approval")(token_core::Error::Config(e.to_string())))?;
        self.kt
            .complete_authorization(&SecretString::from(redirect))
            .await
            .map_err(step("Kite session exchange"))?;
        Ok(true)
    }

    /// The bot's Schwab call.
    pub(crate) async fn schwab_call(&self) -> String {
        bot_call(
            &self.sc,
            self.sc_provider.as_ref(),
            "GET /trader/v1/accounts/accountNumbers with `Authorization: Bearer`",
        )
        .await
    }

    /// The bot's Kite call.
    pub(crate) async fn kite_call(&self) -> String {
        bot_call(
            &self.kt,
            self.kt_provider.as_ref(),
            "GET /user/profile with `Authorization: token api_key:access_token`",
        )
        .await
    }

    /// Whether to print `e`: Schwab's silent refresh every 25 minutes is
    /// shown once per New York day (the rest are counted), so the timeline
    /// stays readable; everything else is shown.
    pub(crate) fn shown(&mut self, e: &Event) -> bool {
        let Event::Renewed { key, at, .. } = e else {
            return true;
        };
        if key.broker() != Schwab::NAME {
            return true;
        }
        let day = at.with_timezone(&Schwab::exchange_zone()).date_naive();
        if self.quiet_day == Some(day) {
            self.quiet_refreshes += 1;
            return false;
        }
        self.quiet_day = Some(day);
        true
    }
}

/// What follows an event's line: for the Schwab refresh shown once a day,
/// that the others are not.
pub(crate) fn note(e: &Event) -> &'static str {
    match e {
        Event::Renewed { key, .. } if key.broker() == Schwab::NAME => {
            " [every 25 min; the rest of this day's are not shown]"
        }
        _ => "",
    }
}

/// A bot's API call `what`: a fresh token (renewed if due), then an
/// authenticated request (the provider's probe); the line to print, ending
/// in `-> ok` on success.
pub(crate) async fn bot_call<P: Payload>(
    manager: &TokenManager<P>,
    provider: &dyn TokenProvider<P>,
    what: &str,
) -> String {
    match manager.ensure_fresh().await {
        Ok(c) => match provider.probe(&c).await {
            Ok(()) => format!("bot: {what} -> ok"),
            Err(e) => format!("bot: API call failed ({e})"),
        },
        Err(e) => format!("bot: no usable token ({e}); trading paused"),
    }
}
