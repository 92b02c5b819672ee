//! `postgresql.auto.conf`: the settings ALTER SYSTEM and `pg_basebackup -R`
//! write, one `name = 'value'` per line.
//!
//! Inside a quoted value PostgreSQL reads `''` as a quote and a backslash as
//! an escape (`\\`, `\'`, `\n`, octal); ALTER SYSTEM writes quotes doubled
//! and backslashes doubled, and so do we. The server reads the file top to
//! bottom and a later line overrides an earlier one with the same
//! (case-insensitive) name. Lines we do not change keep their exact text,
//! so an untouched file renders back byte for byte.

use std::collections::BTreeMap;

use super::PgconfError;

/// A parsed `postgresql.auto.conf`, comments and blank lines included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoConf {
    lines: Vec<Line>,
    trailing_newline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A comment, a blank line: kept as written.
    Other(String),
    Setting(Setting),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    name: String,
    value: String,
    /// 1-based line in the parsed text; 0 for a setting added since.
    line: usize,
    /// The text as parsed; `None` once the value changed.
    raw: Option<String>,
}

impl AutoConf {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, PgconfError> {
        let mut raw_lines: Vec<&str> = text.split('\n').collect();
        let trailing_newline = text.is_empty() || text.ends_with('\n');
        if trailing_newline {
            raw_lines.pop();
        }
        let lines = raw_lines
            .iter()
            .enumerate()
            .map(|(i, raw)| parse_line(raw, i + 1))
            .collect::<Result<_, _>>()?;
        Ok(AutoConf {
            lines,
            trailing_newline,
        })
    }

    /// The effective value of `name`: its last occurrence.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.last(name).map(|s| s.value.as_str())
    }

    /// The line the effective occurrence of `name` was parsed from (0 when
    /// it was set since).
    pub fn line_of(&self, name: &str) -> Option<usize> {
        self.last(name).map(|s| s.line)
    }

    /// Sets `name`: the effective occurrence takes the value (and keeps its
    /// text when the value is the same) and earlier duplicates are dropped;
    /// a new setting goes at the end.
    pub fn set(&mut self, name: &str, value: &str) {
        let found = self.positions(name);
        let Some((&last, earlier)) = found.split_last() else {
            self.lines.push(Line::Setting(Setting {
                name: name.to_string(),
                value: value.to_string(),
                line: 0,
                raw: None,
            }));
            self.trailing_newline = true;
            return;
        };

        if let Line::Setting(setting) = &mut self.lines[last]
            && setting.value != value
        {
            setting.value = value.to_string();
            setting.raw = None;
        }
        for &index in earlier.iter().rev() {
            self.lines.remove(index);
        }
    }

    /// Removes every occurrence of `name`; says whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|line| !matches!(line, Line::Setting(s) if same_name(&s.name, name)));
        self.lines.len() != before
    }

    /// Every setting line in file order, duplicates included.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|line| match line {
            Line::Setting(s) => Some((s.name.as_str(), s.value.as_str())),
            Line::Other(_) => None,
        })
    }

    /// What the server would use: each name (lowercased) with its last value.
    pub fn effective(&self) -> BTreeMap<String, String> {
        self.settings()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect()
    }

    /// Renders the file: unchanged lines as they were, changed and new
    /// settings as ALTER SYSTEM writes them.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            match line {
                Line::Other(raw) => text.push_str(raw),
                Line::Setting(s) => match &s.raw {
                    Some(raw) => text.push_str(raw),
                    None => text.push_str(&render_setting(&s.name, &s.value)),
                },
            }
        }
        if self.trailing_newline && !self.lines.is_empty() {
            text.push('\n');
        }
        text
    }

    fn positions(&self, name: &str) -> Vec<usize> {
        let matches = |line: &Line| matches!(line, Line::Setting(s) if same_name(&s.name, name));
        (0..self.lines.len())
            .filter(|&i| matches(&self.lines[i]))
            .collect()
    }

    fn last(&self, name: &str) -> Option<&Setting> {
        self.lines.iter().rev().find_map(|line| match line {
            Line::Setting(s) if same_name(&s.name, name) => Some(s),
            _ => None,
        })
    }
}

/// PostgreSQL setting names are case-insensitive.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `name = 'value'`, with `'` doubled and backslashes escaped, as ALTER
/// SYSTEM writes it.
pub fn render_setting(name: &str, value: &str) -> String {
    let mut line = format!("{name} = '");
    for c in value.chars() {
        match c {
            '\'' => line.push_str("''"),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.push('\'');
    line
}

fn parse_line(raw: &str, line: usize) -> Result<Line, PgconfError> {
    let syntax = |reason| PgconfError::AutoConfSyntax { line, reason };
    let body = raw.trim_start();
    if body.trim_end().is_empty() || body.starts_with('#') {
        return Ok(Line::Other(raw.to_string()));
    }

    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(name_len);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(syntax("expected a setting name"));
    }

    // The `=` is optional in PostgreSQL's configuration syntax.
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let (value, rest) = match rest.strip_prefix('\'') {
        Some(quoted) => parse_quoted(quoted).ok_or_else(|| syntax("unterminated quoted value"))?,
        None => parse_bare(rest),
    };
    if value.is_none() {
        return Err(syntax("expected a value after the setting name"));
    }

    let rest = rest.trim_start();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return Err(syntax("unexpected text after the value"));
    }
    Ok(Line::Setting(Setting {
        name: name.to_string(),
        value: value.unwrap_or_default(),
        line,
        raw: Some(raw.to_string()),
    }))
}

/// A bare value runs to whitespace or a comment; `None` when there is none.
fn parse_bare(text: &str) -> (Option<String>, &str) {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '#')
        .unwrap_or(text.len());
    let value = (end > 0).then(|| text[..end].to_string());
    (value, &text[end..])
}

/// The rest of a quoted value after its opening quote, decoded, and the text
/// after the closing quote; `None` when the quote never closes.
fn parse_quoted(text: &str) -> Option<(Option<String>, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' if chars.peek().is_some_and(|&(_, next)| next == '\'') => {
                chars.next();
                value.push('\'');
            }
            '\'' => return Some((Some(value), &text[i + 1..])),
            '\\' => {
                let (_, escaped) = chars.next()?;
                value.push(unescape(escaped, &mut chars));
            }
            c => value.push(c),
        }
    }
    None
}

/// The character a backslash escape stands for, as PostgreSQL decodes it:
/// `\b \f \n \r \t`, up to three octal digits, or the character itself.
fn unescape(c: char, rest: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> char {
    match c {
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        '0'..='7' => {
            let mut code = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match rest.peek().and_then(|&(_, d)| d.to_digit(8)) {
                    Some(d) => {
                        code = code * 8 + d;
                        rest.next();
                    }
                    None => break,
                }
            }
            char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
        }
        c => c,
    }
}
