//! Which variables of a `.env` file each account owns right now: the
//! accounts' metadata found in the file, and the claims that follow from it
//! and from the configured mappings (see [`super::envmapping`] for the rules).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dotenv::DotEnv;
use super::envmapping::EnvMapping;
use crate::key::AccountKey;
use crate::record::Metadata;

/// The metadata variable's JSON.
#[derive(Serialize, Deserialize)]
pub(crate) struct EnvMeta {
    pub(crate) schema_version: u32,
    pub(crate) key: AccountKey,
    /// The fields the store wrote (absent in files of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fields: Option<Vec<String>>,
    #[serde(flatten)]
    pub(crate) meta: Metadata,
}

/// The accounts one store knows: those with a configured mapping, and any
/// other under its default prefix.
pub(crate) struct Accounts<'a> {
    pub(crate) mappings: &'a BTreeMap<AccountKey, EnvMapping>,
}

impl Accounts<'_> {
    /// `key`'s mapping: configured, or the default prefix.
    pub(crate) fn mapping(&self, key: &AccountKey) -> EnvMapping {
        self.mappings
            .get(key)
            .cloned()
            .unwrap_or_else(|| EnvMapping::prefixed(key.env_prefix()))
    }

    /// Every account's metadata in the file, read where its mapping puts it.
    pub(crate) fn metas(&self, env: &DotEnv) -> Vec<EnvMeta> {
        env.names()
            .filter(|n| n.ends_with("META"))
            .filter_map(|n| {
                let m: EnvMeta = serde_json::from_str(env.get(n)?).ok()?;
                (self.mapping(&m.key).meta_var() == n).then_some(m)
            })
            .collect()
    }

    /// Variables of accounts other than `key`, with their owner: those
    /// their metadata in the file lists, and those configured mappings name.
    pub(crate) fn others_claims(
        &self,
        env: &DotEnv,
        key: &AccountKey,
    ) -> BTreeMap<String, AccountKey> {
        let mut out = BTreeMap::new();
        let mut claim = |owner: &AccountKey, mapping: &EnvMapping, listed: Option<&[String]>| {
            out.insert(mapping.meta_var().to_string(), owner.clone());
            for (_, var) in mapping.claimed(listed) {
                out.insert(var, owner.clone());
            }
        };
        for m in self.metas(env).iter().filter(|m| &m.key != key) {
            claim(&m.key, &self.mapping(&m.key), m.fields.as_deref());
        }
        for (owner, mapping) in self.mappings.iter().filter(|(k, _)| *k != key) {
            claim(owner, mapping, None);
        }
        out
    }

    /// (field, variable) pairs `key` owns in `env`.
    pub(crate) fn owned(
        &self,
        env: &DotEnv,
        key: &AccountKey,
        meta: Option<&EnvMeta>,
    ) -> Vec<(String, String)> {
        let mapping = self.mapping(key);
        match meta {
            Some(EnvMeta { fields: None, .. }) => self.legacy_owned(env, key, &mapping),
            _ => mapping.claimed(meta.and_then(|m| m.fields.as_deref())),
        }
    }

    /// Metadata written before fields were listed: the account's prefix
    /// variables, minus any another account claims or whose longer prefix
    /// it is (`MAIN_X_*` is never `MAIN`'s).
    fn legacy_owned(
        &self,
        env: &DotEnv,
        key: &AccountKey,
        mapping: &EnvMapping,
    ) -> Vec<(String, String)> {
        let mut out = mapping.claimed(None);
        let prefix = key.env_prefix();
        if !self.mappings.contains_key(key) {
            let others = self.others_claims(env, key);
            let other_prefixes: Vec<String> = self
                .metas(env)
                .iter()
                .filter(|m| &m.key != key)
                .map(|m| m.key.env_prefix())
                .filter(|p| p.len() > prefix.len() && p.starts_with(&prefix))
                .collect();
            for name in env.names() {
                let Some(rest) = name.strip_prefix(&prefix) else {
                    continue;
                };
                let foreign = others.contains_key(name)
                    || other_prefixes.iter().any(|p| name.starts_with(p.as_str()));
                if !rest.is_empty() && name != mapping.meta_var() && !foreign {
                    out.push((rest.to_ascii_lowercase(), name.to_string()));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
