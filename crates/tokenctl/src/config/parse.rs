//! Parsing the TOML: the common `[[account]]` fields here, the rest by the
//! account's broker bundle; every error with file:line:column.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use token_core::{AccountKey, Environment};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::sink::RawSink;
use super::store::{RawEnvMapping, RawStore, StoreSpec};
use super::{AccountConfig, Config, ConfigError};
use crate::registry::{Overrides, Registry};

/// The fields every `[[account]]` has, whatever its broker.
const COMMON: [&str; 8] = [
    "broker",
    "environment",
    "label",
    "store",
    "env_mapping",
    "sink",
    "login_window",
    "check_at",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    store: Option<Spanned<RawStore>>,
    control: Option<toml::Value>,
    notify: Option<toml::Value>,
    proxy: Option<toml::Value>,
    #[serde(default)]
    calendars: BTreeMap<String, Spanned<RawCalendar>>,
}

/// `[calendars.NAME]`: holidays added to a shipped trading calendar.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    holidays: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
struct Common {
    #[allow(dead_code)] // checked before, kept so a missing one is reported
    broker: String,
    environment: Option<Spanned<String>>,
    label: Spanned<String>,
    store: Option<Spanned<RawStore>>,
    env_mapping: Option<Spanned<RawEnvMapping>>,
    #[serde(default)]
    sink: Vec<Spanned<RawSink>>,
    login_window: Option<Spanned<String>>,
    check_at: Option<Spanned<String>>,
}

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Parser<'_> {
    fn invalid(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, offset);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }

    fn toml(&self, e: toml::de::Error, fallback: usize) -> ConfigError {
        let offset = e.span().map_or(fallback, |s| s.start);
        self.invalid(offset, e.message().trim().to_owned())
    }
}

pub(super) fn parse(text: &str, path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
    let p = Parser { text, path };
    let doc = DeTable::parse(text).map_err(|e| p.toml(e, 0))?;
    let doc_span = doc.span();
    let mut doc = doc.into_inner();
    let accounts = doc.remove("account");
    let raw = RawConfig::deserialize(toml::de::Deserializer::from(Spanned::new(doc_span, doc)))
        .map_err(|e| p.toml(e, 0))?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let holidays = calendar_holidays(&p, raw.calendars)?;
    let default_store = match raw.store {
        None => StoreSpec::Dir(base.join("tokens")),
        Some(s) => {
            let at = s.span().start;
            s.into_inner()
                .resolve(&base)
                .map_err(|m| p.invalid(at, m))?
        }
    };
    let tables = match accounts {
        None => Vec::new(),
        Some(v) => {
            let at = v.span().start;
            match v.into_inner() {
                DeValue::Array(items) => items.into_iter().collect(),
                _ => return Err(p.invalid(at, "`account` must be [[account]] tables")),
            }
        }
    };
    let mut out: Vec<AccountConfig> = Vec::new();
    for table in tables {
        let at = table.span().start;
        let mut account = parse_account(&p, registry, table, &base, &default_store)?;
        account.overrides.holidays = holidays.clone();
        if let Some(dup) = out.iter().find(|x| x.key == account.key) {
            return Err(p.invalid(
                at,
                format!(
                    "account {} is configured twice (first on line {})",
                    account.key, dup.line
                ),
            ));
        }
        out.push(account);
    }
    check_env_files(&p, &out)?;
    Ok(Config {
        path: path.to_path_buf(),
        accounts: out,
        control: raw.control,
        notify: raw.notify,
        proxy: raw.proxy,
        text: text.to_owned(),
    })
}

/// The control server's tables; everything else in the file is ignored.
#[derive(Deserialize)]
struct ControlTables {
    control: Option<control::ControlConfig>,
    notify: Option<control::NotifyConfig>,
}

pub(super) fn control_tables(
    config: &Config,
) -> Result<
    (
        Option<control::ControlConfig>,
        Option<control::NotifyConfig>,
    ),
    ConfigError,
> {
    let p = Parser {
        text: &config.text,
        path: &config.path,
    };
    let tables: ControlTables = toml::from_str(&config.text).map_err(|e| p.toml(e, 0))?;
    let base = config.path.parent().unwrap_or(Path::new("."));
    let notify = tables.notify.map(|n| n.relative_to(base));
    if let Some(n) = &notify {
        n.validate().map_err(|message| {
            let at = p.text.find("[notify").unwrap_or(0);
            p.invalid(at, format!("[notify]: {message}"))
        })?;
    }
    Ok((tables.control.map(|c| c.relative_to(base)), notify))
}

/// `[proxy]`; everything else in the file is ignored.
#[derive(Deserialize)]
struct ProxyTable {
    proxy: Option<crate::proxy::ProxyConfig>,
}

pub(super) fn proxy_table(
    config: &Config,
) -> Result<Option<crate::proxy::ProxyConfig>, ConfigError> {
    let p = Parser {
        text: &config.text,
        path: &config.path,
    };
    let table: ProxyTable = toml::from_str(&config.text).map_err(|e| p.toml(e, 0))?;
    let base = config.path.parent().unwrap_or(Path::new("."));
    Ok(table.proxy.map(|c| c.relative_to(base)))
}

fn parse_account(
    p: &Parser<'_>,
    registry: &Registry,
    table: Spanned<DeValue<'_>>,
    base: &Path,
    default_store: &StoreSpec,
) -> Result<AccountConfig, ConfigError> {
    let span = table.span();
    let at = span.start;
    let DeValue::Table(mut fields) = table.into_inner() else {
        return Err(p.invalid(at, "each [[account]] must be a table"));
    };
    let mut common = DeTable::new();
    for name in COMMON {
        if let Some((k, v)) = fields.remove_entry(name) {
            common.insert(k, v);
        }
    }
    // The broker first: it decides who parses the rest.
    let broker = common.get("broker").and_then(|v| match v.get_ref() {
        DeValue::String(s) => Some((s.clone(), v.span())),
        _ => None,
    });
    let entry = match &broker {
        Some((name, broker_span)) => match registry.get(name) {
            Some(entry) => Some(entry),
            None => {
                return Err(ConfigError::UnknownBroker {
                    path: p.path.to_path_buf(),
                    line: line_col(p.text, broker_span.start).0,
                    broker: name.to_string(),
                    known: registry.names().join(", "),
                })
            }
        },
        None => None,
    };
    let settings = match entry {
        Some(entry) => {
            let rest = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(fields)));
            Some(entry.parse_settings(rest).map_err(|e| {
                let offset = e.span().map_or(at, |s| s.start);
                p.invalid(offset, needs(e.message().trim(), entry.name()))
            })?)
        }
        None => None,
    };
    let common = Common::deserialize(ValueDeserializer::from(Spanned::new(
        span.clone(),
        DeValue::Table(common),
    )))
    .map_err(|e| p.toml(e, at))?;
    let (Some((broker, _)), Some(settings)) = (broker, settings) else {
        return Err(p.invalid(at, "`broker` must be a string"));
    };
    let environment = match &common.environment {
        None => Environment::Production,
        Some(e) => e.get_ref().parse().map_err(|_| {
            p.invalid(
                e.span().start,
                format!(
                    "unknown environment \"{}\" (use \"sandbox\" or \"production\")",
                    e.get_ref()
                ),
            )
        })?,
    };
    let key = AccountKey::new(broker.as_ref(), environment, common.label.get_ref())
        .map_err(|e| p.invalid(common.label.span().start, e.to_string()))?;
    let store_spec = match common.store {
        None => default_store.clone(),
        Some(s) => {
            let at = s.span().start;
            s.into_inner().resolve(base).map_err(|m| p.invalid(at, m))?
        }
    };
    let env_mapping = match common.env_mapping {
        None => None,
        Some(m) => {
            let at = m.span().start;
            if !matches!(store_spec, StoreSpec::Env(_)) {
                return Err(p.invalid(
                    at,
                    "env_mapping applies only to a store with kind = \"env\"",
                ));
            }
            Some(m.into_inner().resolve().map_err(|e| p.invalid(at, e))?)
        }
    };
    let login_window = match common.login_window {
        None => None,
        Some(w) => Some(
            token_core::LoginWindow::parse_setting(w.get_ref())
                .map_err(|e| p.invalid(w.span().start, e.to_string()))?,
        ),
    };
    let check_at = match common.check_at {
        None => None,
        Some(c) if c.get_ref().trim().eq_ignore_ascii_case("none") => Some(None),
        Some(c) => Some(Some(c.get_ref().parse::<token_core::Schedule>().map_err(
            |e| {
                p.invalid(
                    c.span().start,
                    format!("check_at: {e} (or \"none\" for no pre-market check)"),
                )
            },
        )?)),
    };
    let mut sinks = Vec::new();
    for s in common.sink {
        let at = s.span().start;
        sinks.push(s.into_inner().resolve(base).map_err(|m| p.invalid(at, m))?);
    }
    Ok(AccountConfig {
        key,
        store: store_spec.local_dir(base),
        store_spec,
        env_mapping,
        sinks,
        settings,
        line: line_col(p.text, at).0,
        base_dir: base.to_path_buf(),
        overrides: Overrides {
            login_window,
            holidays: BTreeMap::new(),
            check_at,
        },
    })
}

/// `[calendars.NAME] holidays = ["YYYY-MM-DD", ...]`, checked: a shipped
/// calendar's name, real dates.
fn calendar_holidays(
    p: &Parser<'_>,
    raw: BTreeMap<String, Spanned<RawCalendar>>,
) -> Result<BTreeMap<String, Vec<NaiveDate>>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, table) in raw {
        let at = table.span().start;
        let calendar = token_core::TradingCalendar::named(&name)
            .map_err(|e| p.invalid(at, format!("[calendars.{name}]: {e}")))?;
        let mut days = Vec::new();
        for day in table.into_inner().holidays {
            let date =
                NaiveDate::parse_from_str(day.get_ref().trim(), "%Y-%m-%d").map_err(|_| {
                    p.invalid(
                        day.span().start,
                        format!(
                            "holiday {:?} is not a date: write \"YYYY-MM-DD\"",
                            day.get_ref()
                        ),
                    )
                })?;
            days.push(date);
        }
        out.insert(calendar.name().to_ascii_uppercase(), days);
    }
    Ok(out)
}

/// Accounts sharing one `.env` store must not write the same variable:
/// refused here, naming both, at the second account's table.
fn check_env_files(p: &Parser<'_>, accounts: &[AccountConfig]) -> Result<(), ConfigError> {
    for (i, a) in accounts.iter().enumerate() {
        let StoreSpec::Env(path) = &a.store_spec else {
            continue;
        };
        let sharing: Vec<&AccountConfig> = accounts[..=i]
            .iter()
            .filter(|b| b.store_spec == a.store_spec)
            .collect();
        let store = sharing
            .iter()
            .fold(token_core::EnvFileStore::new(path), |s, b| {
                match &b.env_mapping {
                    Some(m) => s.with_mapping(b.key.clone(), m.clone()),
                    None => s,
                }
            });
        if let Err(e) = store.check_accounts(sharing.iter().map(|b| &b.key)) {
            let at = line_offset(p.text, a.line);
            return Err(p.invalid(at, e.to_string()));
        }
    }
    Ok(())
}

/// The byte offset of the start of 1-based `line`.
fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum()
}

/// serde's "missing field `x`" as "broker account needs `x`".
fn needs(message: &str, broker: &str) -> String {
    match message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        Some(field) => format!("{broker} account needs `{field}`"),
        None => message.to_owned(),
    }
}

/// 1-based line and column of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}
