//! A `.env` file editor that keeps everything it does not own: comments,
//! blank lines, order, `export` prefixes, line endings (LF or CRLF), a
//! byte-order mark, unrelated keys, and lines it does not understand.
//!
//! Reading accepts what common dotenv readers accept: `KEY=VALUE`,
//! `export KEY=VALUE` (any blanks after `export`), spaces around `=`,
//! unquoted values with ` # comments`, `'single'` (literal) and `"double"`
//! (with `\n`, `\"`, `\\` escapes) quoted values, which may span lines.
//! Anything else (a bare `KEY`, `export KEY`, `MY-VAR=x`, an unterminated
//! quote) is kept byte for byte and never fails the file.
//!
//! Writing: a value made only of `A-Z a-z 0-9 . _ - + / = : @ % ,` (tokens
//! usually are) is written bare, which POSIX shells (`set -a; . ./.env`),
//! python-dotenv and docker's `--env-file` all read back exactly. Any other
//! value is written in single quotes, which shells and python-dotenv read
//! literally (no `$VAR`, `$(…)` or backtick expansion, ever); docker's
//! `--env-file` takes the bytes after `=` literally and so sees the quotes
//! too: no single format can satisfy docker and shells once quoting is
//! needed. A value that no quoting carries identically for shells and
//! python-dotenv (a `'`, a line break, a NUL, `\\` or a trailing `\`) is
//! refused with a [`DotEnvError`] that names the variable, never the value.
//!
//! ```
//! use token_core::store::dotenv::DotEnv;
//! let mut env = DotEnv::parse("# broker\r\nexport FYERS_ACCESS_TOKEN=old\r\nOTHER='x y'\r\n");
//! assert_eq!(env.get("OTHER"), Some("x y"));
//! env.set("FYERS_ACCESS_TOKEN", "new")?;
//! env.set("FYERS_REFRESH_TOKEN", "has $(space)")?;
//! assert_eq!(
//!     env.to_string(),
//!     "# broker\r\nexport FYERS_ACCESS_TOKEN=new\r\nOTHER='x y'\r\nFYERS_REFRESH_TOKEN='has $(space)'\r\n"
//! );
//! assert!(env.set("X", "it's").is_err());
//! # Ok::<(), token_core::store::dotenv::DotEnvError>(())
//! ```

use std::fmt;

use thiserror::Error;

/// A value that cannot be written so that every reader sees the same bytes.
/// The value itself is never included (it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "the value of {name} cannot be written to a .env file that shells, python-dotenv and \
     docker read alike: it {reason}"
)]
pub struct DotEnvError {
    /// The variable.
    pub name: String,
    /// What is wrong with the value.
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Kept verbatim: blank, comment, or a line this parser does not
    /// understand.
    Other,
    /// A variable; its text is kept verbatim until the value changes.
    Var {
        export: bool,
        name: String,
        value: String,
    },
}

#[derive(Debug, Clone)]
struct Line {
    kind: Kind,
    /// The line as written (several physical lines for a multi-line
    /// value), without its final line ending.
    raw: String,
    /// `"\n"`, `"\r\n"`, or `""` for a last line without one.
    eol: &'static str,
}

/// A parsed `.env` file.
#[derive(Debug, Clone)]
pub struct DotEnv {
    bom: bool,
    lines: Vec<Line>,
    /// The line ending for new lines: the file's first one, else LF.
    eol: &'static str,
}

impl Default for DotEnv {
    /// An empty file, with LF line endings.
    fn default() -> Self {
        DotEnv {
            bom: false,
            lines: Vec::new(),
            eol: "\n",
        }
    }
}

impl DotEnv {
    /// Parses `text`; never fails (see the module docs for what is
    /// understood; everything else is kept as it is).
    pub fn parse(text: &str) -> Self {
        let (bom, mut rest) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut lines = Vec::new();
        while !rest.is_empty() {
            let (kind, consumed) = parse_entry(rest);
            let (body, eol) = split_eol(&rest[..consumed]);
            lines.push(Line {
                kind,
                raw: body.to_string(),
                eol,
            });
            rest = &rest[consumed..];
        }
        let eol = lines
            .iter()
            .map(|l| l.eol)
            .find(|e| !e.is_empty())
            .unwrap_or("\n");
        DotEnv { bom, lines, eol }
    }

    /// The value of the last definition of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.lines.iter().rev().find_map(|l| match &l.kind {
            Kind::Var { name: n, value, .. } if n == name => Some(value.as_str()),
            _ => None,
        })
    }

    /// Variable names in file order (duplicates included).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|l| match &l.kind {
            Kind::Var { name, .. } => Some(name.as_str()),
            Kind::Other => None,
        })
    }

    /// 1-based line numbers of lines this parser kept without understanding
    /// that look as if they assign `name` (e.g. `name="unterminated`): a
    /// reader might take a value from them, so a writer must not assume it
    /// owns `name`.
    pub fn unparsed_mentions(&self, name: &str) -> Vec<usize> {
        let mut out = Vec::new();
        let mut number = 1;
        for line in &self.lines {
            if matches!(line.kind, Kind::Other) && assigned_name(&line.raw) == Some(name) {
                out.push(number);
            }
            number += line.raw.matches('\n').count() + 1;
        }
        out
    }

    /// Sets `name`, in place where it is defined (every definition), or
    /// appended at the end with the file's line ending. Refuses a value no
    /// quoting carries identically (the file is then unchanged).
    pub fn set(&mut self, name: &str, new: &str) -> Result<(), DotEnvError> {
        let quoted = quote(new).map_err(|reason| DotEnvError {
            name: name.to_string(),
            reason,
        })?;
        let mut found = false;
        for line in &mut self.lines {
            if let Kind::Var {
                export,
                name: n,
                value,
            } = &mut line.kind
            {
                if n == name {
                    found = true;
                    if value != new {
                        *value = new.to_string();
                        let export = if *export { "export " } else { "" };
                        line.raw = format!("{export}{name}={quoted}");
                    }
                }
            }
        }
        if !found {
            if let Some(last) = self.lines.last_mut() {
                if last.eol.is_empty() {
                    last.eol = self.eol;
                }
            }
            self.lines.push(Line {
                kind: Kind::Var {
                    export: false,
                    name: name.to_string(),
                    value: new.to_string(),
                },
                raw: format!("{name}={quoted}"),
                eol: self.eol,
            });
        }
        Ok(())
    }

    /// Removes every definition of `name`; `true` if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|l| !matches!(&l.kind, Kind::Var { name: n, .. } if n == name));
        self.lines.len() != before
    }
}

impl fmt::Display for DotEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bom {
            f.write_str("\u{feff}")?;
        }
        for line in &self.lines {
            f.write_str(&line.raw)?;
            f.write_str(line.eol)?;
        }
        Ok(())
    }
}

fn split_eol(entry: &str) -> (&str, &'static str) {
    if let Some(body) = entry.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = entry.strip_suffix('\n') {
        (body, "\n")
    } else {
        (entry, "")
    }
}

/// The length of the first physical line of `text`, its ending included.
fn physical_len(text: &str) -> usize {
    text.find('\n').map_or(text.len(), |i| i + 1)
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `text` after an `export` keyword and its blanks, if it starts with one.
fn strip_export(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("export")?;
    rest.starts_with(is_blank)
        .then(|| rest.trim_start_matches(is_blank))
}

/// The name a line seems to assign: `[export ]NAME =...`, loosely.
fn assigned_name(raw: &str) -> Option<&str> {
    let text = raw.trim_start_matches(is_blank);
    let text = strip_export(text).unwrap_or(text);
    let (name, _) = text.split_once('=')?;
    let name = name.trim_end_matches(is_blank);
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// Parses the entry at the start of `text`: its kind and how many bytes
/// (line endings included) it spans.
fn parse_entry(text: &str) -> (Kind, usize) {
    let first = physical_len(text);
    match parse_var(text) {
        Some((kind, len)) => (kind, len),
        None => (Kind::Other, first),
    }
}

fn parse_var(text: &str) -> Option<(Kind, usize)> {
    let line_len = physical_len(text);
    let line = split_eol(&text[..line_len]).0;
    let body = line.trim_start_matches(is_blank);
    if body.is_empty() || body.starts_with('#') {
        return None;
    }
    let (export, body) = match strip_export(body) {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (name, after) = body.split_once('=')?;
    let name = name.trim_end_matches(is_blank);
    if !is_name(name) {
        return None;
    }
    let value_text = after.trim_start_matches(is_blank);
    // `value_text` ends the line, and the line starts `text`.
    let value_at = line.len() - value_text.len();
    let rest = &text[value_at..];
    let (value, len) = match rest.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let (value, close) = quoted_value(&rest[1..], q)?;
            let end = value_at + 1 + close + 1;
            // After the closing quote: blanks and an optional comment.
            let tail_len = physical_len(&text[end..]);
            let tail = split_eol(&text[end..end + tail_len]).0;
            let tail = tail.trim_start_matches(is_blank);
            if !(tail.is_empty() || tail.starts_with('#')) {
                return None;
            }
            (value, end + tail_len)
        }
        _ => {
            let raw = split_eol(&text[value_at..line_len]).0;
            let end = raw
                .find(" #")
                .or_else(|| raw.find("\t#"))
                .unwrap_or(raw.len());
            (raw[..end].trim_end_matches(is_blank).to_string(), line_len)
        }
    };
    let name = name.to_string();
    Some((
        Kind::Var {
            export,
            name,
            value,
        },
        len,
    ))
}

/// The value of a quoted string whose opening quote `q` precedes `body`,
/// and the offset of its closing quote in `body`. May span lines.
fn quoted_value(body: &str, q: char) -> Option<(String, usize)> {
    if q == '\'' {
        let end = body.find('\'')?;
        return Some((body[..end].to_string(), end));
    }
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i)),
            '\\' => match chars.next()? {
                (_, 'n') => out.push('\n'),
                (_, 'r') => out.push('\r'),
                (_, 't') => out.push('\t'),
                (_, other) => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// Whether `value` can be written bare (see the module docs).
fn is_bare(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-+/=:@%,".contains(&b))
}

/// How `value` is written, or why it cannot be.
fn quote(value: &str) -> Result<String, &'static str> {
    if is_bare(value) {
        return Ok(value.to_string());
    }
    if value.contains('\'') {
        return Err("contains a single quote");
    }
    if value.contains(['\n', '\r']) {
        return Err("contains a line break");
    }
    if value.contains('\0') {
        return Err("contains a NUL byte");
    }
    // python-dotenv turns `\\` into `\` inside single quotes; shells do not.
    if value.contains("\\\\") || value.ends_with('\\') {
        return Err("contains two backslashes in a row or ends with a backslash");
    }
    Ok(format!("'{value}'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_unrelated_content_byte_for_byte() {
        let text = "# comment\n\nA=1 # inline\nexport B = \"two words\"\nC='lit\\n'\n";
        let env = DotEnv::parse(text);
        assert_eq!(env.to_string(), text);
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("B"), Some("two words"));
        assert_eq!(env.get("C"), Some("lit\\n"));
    }

    #[test]
    fn lines_it_does_not_understand_are_kept_and_reported_by_name() {
        let text = "A=1\nsecretvalue\nMY-VAR=x\nexport KEY\nB=\"open\nC='x' y\n";
        let mut env = DotEnv::parse(text);
        assert_eq!(env.to_string(), text);
        assert_eq!(env.get("A"), Some("1"));
        assert_eq!(env.get("MY-VAR"), None);
        assert_eq!(env.unparsed_mentions("B"), vec![5]);
        assert_eq!(env.unparsed_mentions("C"), vec![6]);
        assert_eq!(env.unparsed_mentions("MY-VAR"), vec![3]);
        assert!(env.unparsed_mentions("A").is_empty());
        env.set("A", "2").unwrap();
        assert_eq!(env.to_string(), text.replace("A=1", "A=2"));
    }

    #[test]
    fn remove_and_set_everywhere() {
        let mut env = DotEnv::parse("A=1\nB=2\nA=3\n");
        env.set("A", "9").unwrap();
        assert_eq!(env.to_string(), "A=9\nB=2\nA=9\n");
        assert!(env.remove("A"));
        assert!(!env.remove("A"));
        assert_eq!(env.to_string(), "B=2\n");
    }

    #[test]
    fn a_new_file_gets_lf_line_endings() {
        for mut env in [DotEnv::default(), DotEnv::parse("")] {
            env.set("A", "1").unwrap();
            env.set("B", "2").unwrap();
            assert_eq!(env.to_string(), "A=1\nB=2\n");
        }
    }

    #[test]
    fn a_last_line_without_newline_gets_one_before_an_appended_line() {
        let mut env = DotEnv::parse("A=1");
        env.set("B", "2").unwrap();
        assert_eq!(env.to_string(), "A=1\nB=2\n");
    }

    #[test]
    fn unwritable_values_are_refused_without_echoing_them() {
        for (value, reason) in [
            ("S3cr3t-'Zq9", "single quote"),
            ("S3cr3t-\nZq9", "line break"),
            ("S3cr3t-\rZq9", "line break"),
            ("S3cr3t-\0Zq9", "NUL"),
            ("S3cr3t-\\\\Zq9", "backslash"),
            ("S3cr3t-Zq9\\", "backslash"),
        ] {
            let mut env = DotEnv::parse("A=1\n");
            let e = env.set("TOKEN", value).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("TOKEN") && text.contains(reason), "{text}");
            assert!(!text.contains("S3cr3t"), "{text}");
            assert_eq!(env.to_string(), "A=1\n", "the file must be unchanged");
        }
    }

    proptest! {
        #[test]
        fn any_writable_value_round_trips(value in "\\PC*", name in "[A-Z_][A-Z0-9_]{0,10}") {
            let mut env = DotEnv::parse("# keep\nOTHER=x\n");
            match env.set(&name, &value) {
                Ok(()) => {
                    let back = DotEnv::parse(&env.to_string());
                    prop_assert_eq!(back.get(&name), Some(value.as_str()));
                    if name != "OTHER" {
                        prop_assert_eq!(back.get("OTHER"), Some("x"));
                    }
                }
                Err(e) => prop_assert!(quote(&value).is_err(), "{}", e),
            }
        }

        #[test]
        fn parse_never_panics_and_reproduces_its_input(text in "\\PC{0,200}") {
            prop_assert_eq!(DotEnv::parse(&text).to_string(), text);
        }
    }
}
