//! Which `.env` variables belong to which account, and which accounts could
//! step on each other's variables.
//!
//! An account claims exactly the variables its mapping names: its metadata
//! variable and one variable per field. With an explicit mapping the fields'
//! variables are listed; with a prefix they are `{prefix}{FIELD}` for the
//! fields the store wrote, which the metadata lists. Nothing is claimed by
//! matching a prefix, so `main` never takes `main_x`'s variables, nor the
//! operator's own `FYERS_PRODUCTION_MAIN_NOTE`.

use std::collections::BTreeMap;

use crate::error::StoreError;
use crate::key::AccountKey;

/// Which variables hold an account's fields and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvMapping {
    prefix: Option<String>,
    fields: BTreeMap<String, String>,
    meta_var: String,
}

impl EnvMapping {
    /// Field `f` lives in `{prefix}{F}` (upper-cased), metadata in
    /// `{prefix}META`. The metadata lists the fields the store wrote, and
    /// only those variables are read, replaced or removed; a file written by
    /// hand (no metadata) needs an explicit mapping.
    pub fn prefixed(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        Self {
            meta_var: format!("{prefix}META"),
            prefix: Some(prefix),
            fields: BTreeMap::new(),
        }
    }

    /// Only the listed fields, in the variables you name; metadata in `meta_var`.
    ///
    /// ```
    /// use token_core::store::EnvMapping;
    /// let m = EnvMapping::explicit("FYERS_TOKEN_META")
    ///     .field("access_token", "FYERS_ACCESS_TOKEN")
    ///     .field("refresh_token", "FYERS_REFRESH_TOKEN");
    /// ```
    pub fn explicit(meta_var: impl Into<String>) -> Self {
        Self {
            prefix: None,
            fields: BTreeMap::new(),
            meta_var: meta_var.into(),
        }
    }

    /// Maps payload field `field` to variable `var`.
    pub fn field(mut self, field: impl Into<String>, var: impl Into<String>) -> Self {
        self.fields.insert(field.into(), var.into());
        self
    }

    /// The metadata variable.
    pub fn meta_var(&self) -> &str {
        &self.meta_var
    }

    /// The variable for `field`, if this mapping can hold it.
    pub(crate) fn var_for(&self, field: &str) -> Option<String> {
        match self.fields.get(field) {
            Some(var) => Some(var.clone()),
            None => self
                .prefix
                .as_ref()
                .map(|p| format!("{p}{}", field.to_ascii_uppercase())),
        }
    }

    /// (field, variable) pairs this account claims, given the fields its
    /// metadata lists (`None`: no metadata, or metadata written before
    /// fields were listed).
    pub(crate) fn claimed(&self, listed: Option<&[String]>) -> Vec<(String, String)> {
        let mut out: BTreeMap<String, String> = self.fields.clone();
        for field in listed.unwrap_or_default() {
            if let Some(var) = self.var_for(field) {
                out.entry(field.clone()).or_insert(var);
            }
        }
        out.into_iter().collect()
    }

    /// The names this mapping fixes (explicit fields and the metadata
    /// variable), and its prefix if any.
    fn surface(&self) -> (Vec<&str>, Option<&str>) {
        let mut exact: Vec<&str> = self.fields.values().map(String::as_str).collect();
        exact.push(&self.meta_var);
        (exact, self.prefix.as_deref())
    }

    /// Names chosen by hand (not derived from this mapping's prefix): one of
    /// them inside another account's prefix could be that account's field.
    fn hand_named(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.fields.values().map(String::as_str).collect();
        if self.prefix.is_none() {
            out.push(&self.meta_var);
        }
        out
    }
}

/// Why accounts `a` and `b` (with their mappings) could write the same
/// variable, if they could. Prefixes that nest (`MAIN_` and `MAIN_X_`) do
/// not collide: each account claims only the variables of the fields it
/// wrote, and a save that would actually share one is refused.
pub(crate) fn collision(
    a: (&AccountKey, &EnvMapping),
    b: (&AccountKey, &EnvMapping),
) -> Option<String> {
    let ((ka, ma), (kb, mb)) = (a, b);
    let (exact_a, prefix_a) = ma.surface();
    let (exact_b, prefix_b) = mb.surface();
    if let (Some(pa), Some(pb)) = (prefix_a, prefix_b) {
        if pa == pb {
            return Some(format!(
                "accounts {ka} and {kb} would both keep their tokens in {pa}* variables \
                 (labels that differ only in case or in - versus _ share names); rename one \
                 label or give one an explicit mapping"
            ));
        }
    }
    let same = exact_a.iter().find(|v| exact_b.contains(v));
    fn inside<'m>(hand: Vec<&'m str>, prefix: Option<&str>) -> Option<&'m str> {
        hand.into_iter()
            .find(|v| prefix.is_some_and(|p| v.starts_with(p)))
    }
    let shared = same
        .copied()
        .or_else(|| inside(mb.hand_named(), prefix_a))
        .or_else(|| inside(ma.hand_named(), prefix_b));
    shared.map(|var| {
        format!(
            "accounts {ka} and {kb} could both write the variable {var}; give them mappings \
             with distinct variable names"
        )
    })
}

/// The first collision among `accounts`, as a configuration error.
pub(crate) fn check_all(accounts: &[(AccountKey, EnvMapping)]) -> Result<(), StoreError> {
    for (i, (ka, ma)) in accounts.iter().enumerate() {
        for (kb, mb) in &accounts[i + 1..] {
            if ka == kb {
                continue;
            }
            if let Some(why) = collision((ka, ma), (kb, mb)) {
                return Err(StoreError::Config(why));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::Environment;

    fn key(label: &str) -> AccountKey {
        AccountKey::new("fyers", Environment::Production, label).unwrap()
    }

    fn prefixed(k: &AccountKey) -> EnvMapping {
        EnvMapping::prefixed(k.env_prefix())
    }

    #[test]
    fn labels_differing_in_case_or_dash_collide_and_both_are_named() {
        for (a, b) in [("main", "MAIN"), ("ma-in", "ma_in"), ("Main", "mAin")] {
            let (ka, kb) = (key(a), key(b));
            let why = collision((&ka, &prefixed(&ka)), (&kb, &prefixed(&kb))).expect(a);
            assert!(
                why.contains(&ka.to_string()) && why.contains(&kb.to_string()),
                "{why}"
            );
        }
    }

    #[test]
    fn nested_prefixes_do_not_collide_since_claims_are_exact() {
        let (ka, kb) = (key("main"), key("main_x"));
        assert_eq!(
            collision((&ka, &prefixed(&ka)), (&kb, &prefixed(&kb))),
            None
        );
    }

    #[test]
    fn explicit_names_collide_with_each_other_and_with_a_prefix() {
        let (ka, kb) = (key("a"), key("b"));
        let ea = EnvMapping::explicit("META_A").field("access_token", "TOKEN");
        let eb = EnvMapping::explicit("META_B").field("access_token", "TOKEN");
        assert!(collision((&ka, &ea), (&kb, &eb)).is_some_and(|w| w.contains("TOKEN")));
        let inside = EnvMapping::explicit("X_META").field("access_token", "FYERS_PRODUCTION_B_T");
        assert!(collision((&ka, &inside), (&kb, &prefixed(&kb))).is_some());
        let apart = EnvMapping::explicit("X_META").field("access_token", "X_TOKEN");
        assert_eq!(collision((&ka, &apart), (&kb, &prefixed(&kb))), None);
    }
}
