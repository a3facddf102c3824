//! A `.env` file editor that keeps everything it does not own: comments,
//! blank lines, order, `export` prefixes and unrelated keys.
//!
//! ```
//! use token_core::store::dotenv::DotEnv;
//! let mut env = DotEnv::parse("# broker\nexport FYERS_ACCESS_TOKEN=old\nOTHER='x y'\n")?;
//! assert_eq!(env.get("OTHER"), Some("x y"));
//! env.set("FYERS_ACCESS_TOKEN", "new");
//! env.set("FYERS_REFRESH_TOKEN", "has space");
//! assert_eq!(
//!     env.to_string(),
//!     "# broker\nexport FYERS_ACCESS_TOKEN=new\nOTHER='x y'\nFYERS_REFRESH_TOKEN=\"has space\"\n"
//! );
//! # Ok::<(), token_core::store::dotenv::DotEnvError>(())
//! ```

use std::fmt;

use thiserror::Error;

/// A line that cannot be parsed. The line's content is never included (it
/// may hold a secret).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {reason}")]
pub struct DotEnvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
enum Line {
    /// Kept verbatim: blank, comment.
    Other(String),
    /// A variable; `raw` is kept verbatim until the value changes.
    Var {
        export: bool,
        name: String,
        value: String,
        raw: Option<String>,
    },
}

/// A parsed `.env` file.
#[derive(Debug, Clone, Default)]
pub struct DotEnv {
    lines: Vec<Line>,
}

impl DotEnv {
    /// Parses `KEY=VALUE` lines (optionally `export KEY=VALUE`), with values
    /// unquoted, `'single'` (literal) or `"double"` (with `\n`, `\"`, `\\`
    /// escapes) quoted; `#` starts a comment line or, after whitespace, an
    /// inline comment on an unquoted value.
    pub fn parse(text: &str) -> Result<Self, DotEnvError> {
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |reason| DotEnvError {
                line: i + 1,
                reason,
            };
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                lines.push(Line::Other(raw.to_string()));
                continue;
            }
            let (export, rest) = match trimmed.strip_prefix("export ") {
                Some(rest) => (true, rest.trim_start()),
                None => (false, trimmed),
            };
            let Some((name, value)) = rest.split_once('=') else {
                return Err(err("expected KEY=VALUE"));
            };
            let name = name.trim_end();
            if !is_name(name) {
                return Err(err("invalid variable name"));
            }
            let value = parse_value(value.trim_start()).map_err(err)?;
            lines.push(Line::Var {
                export,
                name: name.to_string(),
                value,
                raw: Some(raw.to_string()),
            });
        }
        Ok(DotEnv { lines })
    }

    /// The value of the last definition of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines.iter().rev().find_map(|l| match l {
            Line::Var { name: n, value, .. } if n == name => Some(value.as_str()),
            _ => None,
        })
    }

    /// Variable names in file order (duplicates included).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match l {
            Line::Var { name, .. } => Some(name.as_str()),
            Line::Other(_) => None,
        })
    }

    /// Sets `name`, in place where it is defined (every definition), or
    /// appended at the end.
    pub fn set(&mut self, name: &str, new: &str) {
        let mut found = false;
        for line in &mut self.lines {
            if let Line::Var {
                name: n,
                value,
                raw,
                ..
            } = line
            {
                if n == name {
                    found = true;
                    if value != new {
                        *value = new.to_string();
                        *raw = None;
                    }
                }
            }
        }
        if !found {
            self.lines.push(Line::Var {
                export: false,
                name: name.to_string(),
                value: new.to_string(),
                raw: None,
            });
        }
    }

    /// Removes every definition of `name`; `true` if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(l, Line::Var { name: n, .. } if n == name));
        self.lines.len() != before
    }
}

impl fmt::Display for DotEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            match line {
                Line::Other(raw) | Line::Var { raw: Some(raw), .. } => writeln!(f, "{raw}")?,
                Line::Var {
                    export,
                    name,
                    value,
                    raw: None,
                } => {
                    if *export {
                        f.write_str("export ")?;
                    }
                    writeln!(f, "{name}={}", quote(value))?;
                }
            }
        }
        Ok(())
    }
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

fn parse_value(v: &str) -> Result<String, &'static str> {
    let rest_ok = |rest: &str| {
        let rest = rest.trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            Ok(())
        } else {
            Err("unexpected text after closing quote")
        }
    };
    if let Some(body) = v.strip_prefix('\'') {
        let end = body.find('\'').ok_or("unterminated single quote")?;
        rest_ok(&body[end + 1..])?;
        return Ok(body[..end].to_string());
    }
    if let Some(body) = v.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    rest_ok(&body[i + 1..])?;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => out.push(other),
                    None => return Err("unterminated double quote"),
                },
                c => out.push(c),
            }
        }
        return Err("unterminated double quote");
    }
    let end = v.find(" #").or_else(|| v.find("\t#")).unwrap_or(v.len());
    Ok(v[..end].trim_end().to_string())
}

fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+/=:@%,~".contains(&b));
    if plain {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_unrelated_content_byte_for_byte() {
        let text = "# comment\n\nA=1 # inline\nexport B = \"two words\"\nC='lit\\n'\n";
        let env = DotEnv::parse(text).unwrap();
        assert_eq!(env.to_string(), text);
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("two words"));
        assert_eq!(env.get("C"), Some("lit\\n"));
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        let e = DotEnv::parse("A=1\nsecretvalue\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("secretvalue"));
        assert!(DotEnv::parse("A=\"open").is_err());
        assert!(DotEnv::parse("1A=x").is_err());
        assert!(DotEnv::parse("A='x' y").is_err());
    }

    #[test]
    fn remove_and_set_everywhere() {
        let mut env = DotEnv::parse("A=1\nB=2\nA=3\n").unwrap();
        env.set("A", "9");
        assert_eq!(env.to_string(), "A=9\nB=2\nA=9\n");
        assert!(env.remove("A"));
        assert!(!env.remove("A"));
        assert_eq!(env.to_string(), "B=2\n");
    }

    proptest! {
        #[test]
        fn any_value_round_trips(value in "\\PC*", name in "[A-Z_][A-Z0-9_]{0,10}") {
            let mut env = DotEnv::parse("# keep\nOTHER=x\n").unwrap();
            env.set(&name, &value);
            let back = DotEnv::parse(&env.to_string()).unwrap();
            prop_assert_eq!(back.get(&name), Some(value.as_str()));
            if name != "OTHER" {
                prop_assert_eq!(back.get("OTHER"), Some("x"));
            }
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,200}") {
            let _ = DotEnv::parse(&text);
        }
    }
}
