//! `pg_hba.conf`: one record per line (or per backslash-continued group of
//! lines), parsed into fields so that pgshadow can tell which existing rules
//! could match a replication connection, while every record keeps its exact
//! text for rendering.
//!
//! Fields are separated by blanks; a field is a comma-separated list of
//! tokens; double quotes make a token literal (a quoted `"all"` is a role
//! named all, not the keyword) and `""` inside them is a quote; `#` outside
//! quotes starts a comment. `include`, `include_if_exists` and `include_dir`
//! records are recognised and left alone.

use std::net::IpAddr;

use super::PgconfError;
use crate::config::Cidr;

/// A parsed `pg_hba.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaFile {
    /// The records in file order.
    pub records: Vec<Record>,
    trailing_newline: bool,
}

/// One record with its text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The exact text, several lines joined by `\n` for a continued record.
    pub text: String,
    /// The 1-based line it starts on; 0 for a record added since parsing.
    pub line: usize,
    /// What the record says.
    pub kind: RecordKind,
}

/// What a record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKind {
    /// A blank or comment-only line.
    Comment,
    /// `include`, `include_if_exists` or `include_dir` and its target.
    Include { keyword: String, target: String },
    /// An authentication rule.
    Rule(Rule),
}

/// The connection types of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
    HostGssEnc,
    HostNoGssEnc,
}

/// A token of a field, with its quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// Whether any part was in double quotes (then it is never a keyword).
    pub quoted: bool,
}

/// The client address a `host*` rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    All,
    SameHost,
    SameNet,
    /// `ADDR/PREFIX`, or `ADDR MASK` converted to a prefix.
    Cidr(Cidr),
    /// A host name (or `.suffix`), which is resolved at connection time.
    Hostname(String),
}

/// An authentication rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub conn_type: ConnType,
    pub databases: Vec<Token>,
    pub users: Vec<Token>,
    /// `None` for `local` rules.
    pub address: Option<Address>,
    pub method: String,
    /// `name=value` options after the method, as written.
    pub options: Vec<String>,
    /// The trailing comment, from `#` on, if any.
    pub comment: Option<String>,
}

impl Token {
    /// Whether the token is the unquoted keyword `word`.
    pub fn is_keyword(&self, word: &str) -> bool {
        !self.quoted && self.text == word
    }
}

impl HbaFile {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, PgconfError> {
        let mut lines: Vec<&str> = text.split('\n').collect();
        let trailing_newline = text.is_empty() || text.ends_with('\n');
        if trailing_newline {
            lines.pop();
        }

        let mut records = Vec::new();
        let mut index = 0;
        while index < lines.len() {
            // A line ending in a backslash continues on the next one.
            let start = index;
            while index + 1 < lines.len() && lines[index].trim_end().ends_with('\\') {
                index += 1;
            }
            let group = &lines[start..=index];
            records.push(parse_record(group, start + 1)?);
            index += 1;
        }
        Ok(HbaFile {
            records,
            trailing_newline,
        })
    }

    /// Renders the file: every record's text, one per line.
    pub fn render(&self) -> String {
        let mut text = self
            .records
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if self.trailing_newline && !self.records.is_empty() {
            text.push('\n');
        }
        text
    }

    /// Makes sure the rendered file ends with a newline (after adding lines).
    pub fn end_with_newline(&mut self) {
        self.trailing_newline = true;
    }
}

fn parse_record(group: &[&str], line: usize) -> Result<Record, PgconfError> {
    let text = group.join("\n");
    let logical: String = group
        .iter()
        .map(|l| l.trim_end().strip_suffix('\\').unwrap_or(l))
        .collect::<Vec<_>>()
        .join(" ");
    let syntax = |reason: String| PgconfError::HbaSyntax { line, reason };

    let (fields, comment) = split_fields(&logical).map_err(|r| syntax(r.to_string()))?;
    let kind = match fields.first().and_then(|f| f.first()) {
        None => RecordKind::Comment,
        Some(first) if first.text.starts_with("include") && !first.quoted => {
            let target = fields.get(1).and_then(|f| f.first());
            let target =
                target.ok_or_else(|| syntax(format!("`{}` needs a target", first.text)))?;
            RecordKind::Include {
                keyword: first.text.clone(),
                target: target.text.clone(),
            }
        }
        Some(_) => RecordKind::Rule(parse_rule(&fields, comment).map_err(syntax)?),
    };
    Ok(Record { text, line, kind })
}

fn parse_rule(fields: &[Vec<Token>], comment: Option<String>) -> Result<Rule, String> {
    let single = |i: usize, what: &str| match fields.get(i).map(Vec::as_slice) {
        Some([token]) => Ok(token.text.clone()),
        Some(_) => Err(format!("the {what} must be a single value")),
        None => Err(format!("the {what} is missing")),
    };
    let list = |i: usize, what: &str| {
        fields
            .get(i)
            .cloned()
            .ok_or(format!("the {what} is missing"))
    };

    let conn_type = parse_conn_type(&single(0, "connection type")?)?;
    let databases = list(1, "database")?;
    let users = list(2, "user")?;
    let (address, method_at) = match conn_type {
        ConnType::Local => (None, 3),
        _ => {
            let (address, used) = parse_address(&single(3, "address")?, fields.get(4))?;
            (Some(address), 3 + used)
        }
    };
    let method = single(method_at, "authentication method")?;
    let options = fields[method_at + 1..]
        .iter()
        .map(|f| {
            f.iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    Ok(Rule {
        conn_type,
        databases,
        users,
        address,
        method,
        options,
        comment,
    })
}

fn parse_conn_type(word: &str) -> Result<ConnType, String> {
    Ok(match word {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => ConnType::HostSsl,
        "hostnossl" => ConnType::HostNoSsl,
        "hostgssenc" => ConnType::HostGssEnc,
        "hostnogssenc" => ConnType::HostNoGssEnc,
        other => return Err(format!("unknown connection type `{other}`")),
    })
}

/// The address field, and how many fields it used (2 for `ADDR MASK`).
fn parse_address(word: &str, next: Option<&Vec<Token>>) -> Result<(Address, usize), String> {
    match word {
        "all" => return Ok((Address::All, 1)),
        "samehost" => return Ok((Address::SameHost, 1)),
        "samenet" => return Ok((Address::SameNet, 1)),
        _ => {}
    }
    if word.contains('/') {
        let cidr = word.parse::<Cidr>().map_err(|e| e.to_string())?;
        return Ok((Address::Cidr(cidr), 1));
    }
    let Ok(addr) = word.parse::<IpAddr>() else {
        return Ok((Address::Hostname(word.to_string()), 1));
    };
    let mask = next
        .and_then(|f| f.first())
        .and_then(|t| t.text.parse::<IpAddr>().ok());
    let mask = mask.ok_or(format!("the address `{word}` needs a /prefix or a netmask"))?;
    let prefix =
        mask_prefix(addr, mask).ok_or(format!("`{mask}` is not a netmask for `{word}`"))?;
    Ok((Address::Cidr(Cidr { addr, prefix }), 2))
}

/// The prefix length of a contiguous netmask of the same family as `addr`.
fn mask_prefix(addr: IpAddr, mask: IpAddr) -> Option<u8> {
    let (bits, width) = match (addr, mask) {
        (IpAddr::V4(_), IpAddr::V4(m)) => (u128::from(u32::from(m)) << 96, 32),
        (IpAddr::V6(_), IpAddr::V6(m)) => (u128::from(m), 128),
        _ => return None,
    };
    let ones = bits.leading_ones();
    let contiguous = bits.checked_shl(ones).unwrap_or(0) == 0;
    (contiguous && ones <= width).then_some(ones as u8)
}

/// Splits a logical line into fields of tokens and its trailing comment.
fn split_fields(line: &str) -> Result<(Vec<Vec<Token>>, Option<String>), &'static str> {
    let mut chars = line.char_indices().peekable();
    let mut fields = Vec::new();
    let mut field = Vec::new();
    loop {
        // Like PostgreSQL, skip blanks and stray commas before a token.
        while chars
            .next_if(|&(_, c)| matches!(c, ' ' | '\t' | '\r' | ','))
            .is_some()
        {}
        match chars.peek() {
            None => break,
            Some(&(i, '#')) => {
                push_field(&mut fields, &mut field);
                return Ok((fields, Some(line[i..].to_string())));
            }
            _ => {}
        }
        let (token, comma) = read_token(&mut chars)?;
        field.push(token);
        if !comma {
            push_field(&mut fields, &mut field);
        }
    }
    push_field(&mut fields, &mut field);
    Ok((fields, None))
}

fn push_field(fields: &mut Vec<Vec<Token>>, field: &mut Vec<Token>) {
    if !field.is_empty() {
        fields.push(std::mem::take(field));
    }
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// One token, and whether a comma ended it (so the list goes on).
fn read_token(chars: &mut Chars<'_>) -> Result<(Token, bool), &'static str> {
    let mut token = Token {
        text: String::new(),
        quoted: false,
    };
    let mut in_quote = false;
    while let Some(&(_, c)) = chars.peek() {
        match c {
            '"' if in_quote && matches!(peek_second(chars), Some('"')) => {
                chars.next();
                chars.next();
                token.text.push('"');
                continue;
            }
            '"' => {
                in_quote = !in_quote;
                token.quoted = true;
            }
            ' ' | '\t' | '\r' | '#' if !in_quote => break,
            ',' if !in_quote => {
                chars.next();
                return Ok((token, true));
            }
            c => token.text.push(c),
        }
        chars.next();
    }
    if in_quote {
        return Err("unterminated double quote");
    }
    Ok((token, false))
}

fn peek_second(chars: &Chars<'_>) -> Option<char> {
    chars.clone().nth(1).map(|(_, c)| c)
}

/// Renders `word` as an hba token: bare when it is a plain name and not a
/// keyword, otherwise in double quotes with `"` doubled.
pub fn quote_token(word: &str) -> String {
    const KEYWORDS: [&str; 7] = [
        "all",
        "sameuser",
        "samerole",
        "samegroup",
        "replication",
        "samehost",
        "samenet",
    ];
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    let bare = !word.is_empty()
        && word.chars().all(plain)
        && !word.starts_with(['-', '.'])
        && !KEYWORDS.contains(&word);
    if bare {
        word.to_string()
    } else {
        format!("\"{}\"", word.replace('"', "\"\""))
    }
}
