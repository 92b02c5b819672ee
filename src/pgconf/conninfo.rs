//! libpq connection strings in the keyword/value form: `host=db port=5432
//! sslcert='/a b/client.crt'`.
//!
//! The rules follow libpq's own parser: whitespace separates pairs and may
//! surround `=`; a value is either bare (up to the next whitespace) or in
//! single quotes; in both forms a backslash takes the next character
//! literally. Rendering quotes every value that is not made only of letters,
//! digits, `_` and `.`, which is what libpq's own writers do, so a string
//! pg_basebackup wrote renders back unchanged.

use std::fmt;
use std::str::FromStr;

use super::PgconfError;

/// An ordered list of conninfo keywords and their values. Duplicates are
/// kept as written; like libpq, the last one wins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Conninfo {
    entries: Vec<(String, String)>,
}

impl Conninfo {
    /// Parses a keyword/value connection string.
    pub fn parse(text: &str) -> Result<Self, PgconfError> {
        let trimmed = text.trim_start();
        if trimmed.starts_with("postgresql://") || trimmed.starts_with("postgres://") {
            return Err(PgconfError::ConninfoUri);
        }
        let mut cursor = Cursor { text, pos: 0 };
        let mut entries = Vec::new();
        loop {
            cursor.skip_whitespace();
            if cursor.at_end() {
                break;
            }
            entries.push(cursor.entry()?);
        }
        Ok(Conninfo { entries })
    }

    /// The effective value of `key` (the last occurrence).
    pub fn get(&self, key: &str) -> Option<&str> {
        let found = self.entries.iter().rev().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }

    /// Sets `key`: the first occurrence takes the value in place and later
    /// duplicates are dropped; a new key goes at the end.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.iter().position(|(k, _)| k == key) {
            Some(first) => {
                self.entries[first].1 = value.to_string();
                let mut index = 0;
                self.entries.retain(|(k, _)| {
                    index += 1;
                    index - 1 == first || k != key
                });
            }
            None => self.entries.push((key.to_string(), value.to_string())),
        }
    }

    /// Removes every occurrence of `key`; says whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != key);
        self.entries.len() != before
    }

    /// The keywords and values in written order, duplicates included.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Renders the connection string, quoting values as libpq does.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl FromStr for Conninfo {
    type Err = PgconfError;

    fn from_str(text: &str) -> Result<Self, PgconfError> {
        Conninfo::parse(text)
    }
}

impl fmt::Display for Conninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{key}={}", quote_value(value))?;
        }
        Ok(())
    }
}

/// Quotes a conninfo value unless it is non-empty and made only of letters,
/// digits, `_` and `.`; inside quotes, `'` and `\` get a backslash.
pub fn quote_value(value: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    if !value.is_empty() && value.chars().all(bare) {
        return value.to_string();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('\'');
    quoted
}

/// A position in the string being parsed.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// One `key = value` pair; the cursor stands on the key.
    fn entry(&mut self) -> Result<(String, String), PgconfError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_whitespace() && c != '=') {
            self.bump();
        }
        let key = self.text[start..self.pos].to_string();
        if key.is_empty() {
            return Err(PgconfError::ConninfoEmptyKey { position: start });
        }

        self.skip_whitespace();
        let position = self.pos;
        if self.bump() != Some('=') {
            return Err(PgconfError::ConninfoMissingEquals { key, position });
        }
        self.skip_whitespace();

        let value = match self.peek() {
            Some('\'') => self.quoted_value(&key)?,
            _ => self.bare_value(),
        };
        Ok((key, value))
    }

    fn bare_value(&mut self) -> String {
        let mut value = String::new();
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            self.bump();
            if c == '\\' {
                if let Some(escaped) = self.bump() {
                    value.push(escaped);
                }
            } else {
                value.push(c);
            }
        }
        value
    }

    fn quoted_value(&mut self, key: &str) -> Result<String, PgconfError> {
        let start = self.pos;
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('\'') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some(escaped) => value.push(escaped),
                    None => break,
                },
                Some(c) => value.push(c),
                None => break,
            }
        }
        Err(PgconfError::ConninfoUnterminatedQuote {
            key: key.to_string(),
            position: start,
        })
    }
}
