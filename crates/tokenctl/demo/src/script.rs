//! The demo's script: who does what when (people logging in, the bot
//! trading, its host sleeping) and the loop that interleaves it with the
//! managers' maintenance in simulated time.

use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use secrecy::SecretString;
use token_core::Clock;

use crate::{step, Demo, DemoError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Etrade,
    Fyers,
    Schwab,
    Kite,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    /// A person logs in if the account has no usable token.
    PersonLogin(Who),
    /// The bot makes an API call; `loud` ones are printed.
    BotCall(Who, bool),
    /// The bot's host goes to sleep: E*TRADE maintenance stops.
    HostSleeps,
    /// It wakes up and trades again.
    HostWakes,
}

fn local(tz: Tz, date: chrono::NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    token_core::schedule::resolve_local(tz, date.and_hms_opt(h, m, 0).unwrap_or_default())
}

impl<W: Write> Demo<'_, W> {
    fn script(start: DateTime<Utc>, days: u32) -> Vec<(DateTime<Utc>, Action)> {
        let ny = chrono_tz::America::New_York;
        let ist = chrono_tz::Asia::Kolkata;
        let first = start.with_timezone(&ist).date_naive();
        let mut s = Vec::new();
        for d in 0..=days {
            let date = first + Duration::days(i64::from(d));
            s.push((local(ist, date, 8, 30), Action::PersonLogin(Who::Kite)));
            s.push((local(ist, date, 9, 20), Action::BotCall(Who::Kite, true)));
            s.push((local(ny, date, 9, 10), Action::PersonLogin(Who::Schwab)));
            for h in 10..16 {
                s.push((local(ny, date, h, 0), Action::BotCall(Who::Schwab, h == 10)));
            }
            s.push((local(ist, date, 8, 50), Action::PersonLogin(Who::Fyers)));
            s.push((local(ist, date, 9, 15), Action::BotCall(Who::Fyers, true)));
            s.push((local(ist, date, 13, 0), Action::BotCall(Who::Fyers, false)));
            s.push((local(ny, date, 9, 0), Action::PersonLogin(Who::Etrade)));
            s.push((local(ny, date, 9, 30), Action::BotCall(Who::Etrade, true)));
            for m in [60, 90, 120] {
                s.push((
                    local(ny, date, 9, 0) + Duration::minutes(m),
                    Action::BotCall(Who::Etrade, false),
                ));
            }
            s.push((local(ny, date, 13, 0), Action::HostSleeps));
            s.push((local(ny, date, 20, 0), Action::HostWakes));
        }
        s.sort_by_key(|(t, _)| *t);
        s
    }

    /// Runs until the last morning's E*TRADE login; returns the end instant.
    pub(crate) async fn drive(
        &mut self,
        start: DateTime<Utc>,
        days: u32,
    ) -> Result<DateTime<Utc>, DemoError> {
        let first_ny = start
            .with_timezone(&chrono_tz::America::New_York)
            .date_naive()
            + Duration::days(1);
        let end = local(
            chrono_tz::America::New_York,
            first_ny + Duration::days(i64::from(days)),
            9,
            5,
        );
        let mut script = Self::script(start, days)
            .into_iter()
            .filter(|(t, _)| *t <= end)
            .peekable();
        let mut host_awake = true;
        let mut et_next = self.et.maintain().await;
        let mut fy_next = self.fy.maintain().await;
        // Schwab and Kite run on an always-on server.
        let mut sc_next = self.weekly.sc.maintain().await;
        let mut kt_next = self.weekly.kt.maintain().await;
        self.print_events()?;
        loop {
            let now = self.clock.now();
            let action_at = script.peek().map(|(t, _)| *t);
            let et_due = et_next.filter(|_| host_awake);
            let next = [action_at, et_due, fy_next, sc_next, kt_next]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next.filter(|t| *t <= end) else {
                break;
            };
            self.clock.set(t.max(now));
            if action_at == Some(t) {
                if let Some((_, action)) = script.next() {
                    match action {
                        Action::HostSleeps => host_awake = false,
                        Action::HostWakes => host_awake = true,
                        _ => {}
                    }
                    self.act(t, action).await?;
                    if let Action::HostWakes = action {
                        self.act(t, Action::BotCall(Who::Etrade, true)).await?;
                    }
                }
            }
            // Maintenance at this instant, for whatever is due (or changed).
            if host_awake {
                et_next = self.et.maintain().await;
            }
            fy_next = self.fy.maintain().await;
            sc_next = self.weekly.sc.maintain().await;
            kt_next = self.weekly.kt.maintain().await;
            self.print_events()?;
        }
        self.clock.set(end);
        Ok(end)
    }

    async fn act(&mut self, at: DateTime<Utc>, action: Action) -> Result<(), DemoError> {
        match action {
            Action::PersonLogin(Who::Etrade) if self.et.token().is_err() => {
                let req = self
                    .et
                    .begin_authorization()
                    .await
                    .map_err(step("E*TRADE request token"))?;
                let token = request_token(&req.url);
                let verifier = self.running.sim.approve_etrade(&token).map_err(|e| {
                    step("E*TRADE approval")(token_core::Error::Config(e.to_string()))
                })?;
                self.line(
                    at,
                    "etrade",
                    "a person opens the authorize page, logs in and types the verifier",
                )?;
                self.et
                    .complete_authorization(&SecretString::from(verifier))
                    .await
                    .map_err(step("E*TRADE access token"))?;
            }
            Action::PersonLogin(Who::Fyers) if self.fy.token().is_err() => {
                let req = self
                    .fy
                    .begin_authorization()
                    .await
                    .map_err(step("FYERS login URL"))?;
                let state = query_param(&req.url, "state");
                let c = self.running.credentials();
                let redirect = self
                    .running
                    .sim
                    .approve_fyers(&c.fyers_client_id, &c.fyers_redirect_uri, &state)
                    .map_err(|e| {
                        step("FYERS approval")(token_core::Error::Config(e.to_string()))
                    })?;
                self.line(
                    at,
                    "fyers",
                    "a person opens the login URL, logs in; the redirect is captured",
                )?;
                self.fy
                    .complete_authorization(&SecretString::from(redirect))
                    .await
                    .map_err(step("FYERS auth code exchange"))?;
            }
            Action::PersonLogin(Who::Schwab) => {
                if self.weekly.schwab_login(&self.running).await? {
                    self.line(
                        at,
                        "schwab",
                        "a person logs in (the weekly login) and pastes the redirect URL",
                    )?;
                }
            }
            Action::PersonLogin(Who::Kite) => {
                if self.weekly.kite_login(&self.running).await? {
                    self.line(
                        at,
                        "kite",
                        "a person logs in before the open and pastes the redirect URL",
                    )?;
                }
            }
            Action::PersonLogin(_) => {}
            Action::BotCall(who @ (Who::Schwab | Who::Kite), loud) => {
                self.bot_calls += 1;
                let (text, broker) = if who == Who::Schwab {
                    (self.weekly.schwab_call().await, "schwab")
                } else {
                    (self.weekly.kite_call().await, "kite")
                };
                self.print_events()?;
                if loud || !text.ends_with("-> ok") {
                    self.line(at, broker, &text)?;
                }
            }
            Action::BotCall(Who::Etrade, loud) => {
                self.bot_calls += 1;
                let text = match self.et_client.get("/v1/market/quote/AAPL.json").await {
                    Ok(r) => format!(
                        "bot: GET /v1/market/quote/AAPL (signed) -> HTTP {}",
                        r.status
                    ),
                    Err(e) => format!("bot: quote failed ({e}); trading paused"),
                };
                self.print_events()?;
                if loud || !text.contains("HTTP 200") {
                    self.line(at, "etrade", &text)?;
                }
            }
            Action::BotCall(Who::Fyers, loud) => {
                self.bot_calls += 1;
                let text = crate::weekly::bot_call(
                    &self.fy,
                    self.fy_provider.as_ref(),
                    "GET /profile with `Authorization: client_id:access_token`",
                )
                .await;
                self.print_events()?;
                if loud || !text.ends_with("-> ok") {
                    self.line(at, "fyers", &text)?;
                }
            }
            Action::HostSleeps => {
                self.line(
                    at,
                    "etrade",
                    "the bot's host sleeps: no calls, no maintenance",
                )?;
            }
            Action::HostWakes => {
                let state = self.render.state_name(self.et.evaluate().map(|e| e.state));
                self.line(at, "etrade", &format!("the host wakes; token is {state}"))?;
            }
        }
        Ok(())
    }
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default()
}

fn request_token(url: &str) -> String {
    query_param(url, "token")
}
