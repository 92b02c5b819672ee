//! The `pg_hba.conf` lines `primary configure` owns: one
//! `hostssl replication <user> <cidr> cert  # pgshadow` per allowed address
//! block.
//!
//! PostgreSQL uses the first rule that matches a connection, so each line
//! must come before any rule that could match a replication connection from
//! its addresses. Lines without the mark belong to the operator and are never
//! changed or moved; pgshadow's own lines are added, moved or removed.

use std::net::IpAddr;

use super::PgconfError;
use super::hba::{Address, ConnType, HbaFile, Record, RecordKind, Rule, quote_token};
use crate::config::Cidr;

/// The trailing comment that marks a line as pgshadow's.
pub const PGSHADOW_MARK: &str = "# pgshadow";

/// What [`apply_pgshadow_lines`] changed, as rendered lines. A line moved
/// above a rule added since appears in both lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbaChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl HbaChanges {
    /// Whether the file stays as it was.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Ensures exactly one `hostssl replication <user> <cidr> cert  # pgshadow`
/// line per cidr, placed before the first existing line that could match a
/// replication connection from that address first; removes pgshadow-marked
/// lines whose cidr (or user) is no longer wanted; never changes lines it
/// did not write. Running it again gives the same text and no changes.
pub fn apply_pgshadow_lines(
    text: &str,
    user: &str,
    cidrs: &[Cidr],
) -> Result<(String, HbaChanges), PgconfError> {
    let mut file = HbaFile::parse(text)?;
    let mut changes = HbaChanges::default();
    let mut wanted: Vec<Cidr> = Vec::new();
    for cidr in cidrs {
        if !wanted.iter().any(|w| same_block(w, cidr)) {
            wanted.push(*cidr);
        }
    }

    let kept = keep_own_lines(&mut file, user, &wanted, &mut changes);
    for cidr in wanted
        .iter()
        .filter(|c| !kept.iter().any(|k| same_block(k, c)))
    {
        let line = render_line(user, cidr);
        let at = first_candidate(&file.records, user, cidr).unwrap_or(file.records.len());
        let kind = RecordKind::Rule(own_rule(user, cidr));
        file.records.insert(
            at,
            Record {
                text: line.clone(),
                line: 0,
                kind,
            },
        );
        file.end_with_newline();
        changes.added.push(line);
    }

    if changes.is_empty() {
        return Ok((text.to_string(), changes));
    }
    Ok((file.render(), changes))
}

/// Drops pgshadow lines that are not wanted, duplicated, or now below a
/// rule that could match first; returns the cidrs whose line stays.
fn keep_own_lines(
    file: &mut HbaFile,
    user: &str,
    wanted: &[Cidr],
    changes: &mut HbaChanges,
) -> Vec<Cidr> {
    let mut kept: Vec<Cidr> = Vec::new();
    let mut records = Vec::with_capacity(file.records.len());
    for record in std::mem::take(&mut file.records) {
        let Some((owner, cidr)) = own_line(&record) else {
            records.push(record);
            continue;
        };
        let keep = owner == user
            && wanted.iter().any(|w| same_block(w, &cidr))
            && !kept.iter().any(|k| same_block(k, &cidr))
            && first_candidate(&records, user, &cidr).is_none();
        if keep {
            kept.push(cidr);
            records.push(record);
        } else {
            changes.removed.push(record.text);
        }
    }
    file.records = records;
    kept
}

/// The user and cidr of a line pgshadow wrote, or `None` for any other.
fn own_line(record: &Record) -> Option<(String, Cidr)> {
    let RecordKind::Rule(rule) = &record.kind else {
        return None;
    };
    let marked = rule.comment.as_deref().map(str::trim) == Some(PGSHADOW_MARK);
    let shaped = rule.conn_type == ConnType::HostSsl
        && matches!(rule.databases.as_slice(), [db] if db.is_keyword("replication"))
        && matches!(rule.users.as_slice(), [u] if u.quoted || plain_name(&u.text))
        && rule.method == "cert"
        && rule.options.is_empty();
    match (&rule.address, marked && shaped) {
        (Some(Address::Cidr(cidr)), true) => Some((rule.users[0].text.clone(), *cidr)),
        _ => None,
    }
}

/// The index of the first record other than pgshadow's own that could
/// match a physical replication connection of `user` from inside `cidr`.
///
/// PostgreSQL's `all` database does not match physical replication, but a
/// rule with it counts here: placing our line above it changes nothing for
/// anyone and reads as intended. Includes, `+group`, `@file`, regular
/// expressions and host names count too, because what they match is not
/// in this file.
fn first_candidate(records: &[Record], user: &str, cidr: &Cidr) -> Option<usize> {
    records.iter().position(|record| match &record.kind {
        RecordKind::Comment => false,
        RecordKind::Include { .. } => true,
        RecordKind::Rule(rule) => own_line(record).is_none() && could_match(rule, user, cidr),
    })
}

fn could_match(rule: &Rule, user: &str, cidr: &Cidr) -> bool {
    let tls_connection = matches!(
        rule.conn_type,
        ConnType::Host | ConnType::HostSsl | ConnType::HostNoGssEnc
    );
    let database = rule
        .databases
        .iter()
        .any(|t| t.is_keyword("all") || t.is_keyword("replication") || indirect(&t.text, t.quoted));
    let role = rule.users.iter().any(|t| {
        t.is_keyword("all")
            || t.text == user
            || t.text.starts_with('+')
            || indirect(&t.text, t.quoted)
    });
    let address = match &rule.address {
        Some(Address::Cidr(block)) => overlaps(block, cidr),
        Some(_) => true,
        None => false,
    };
    tls_connection && database && role && address
}

/// An unquoted user token that names one role (not `all`, `+group`,
/// `@file` or `/regex`).
fn plain_name(text: &str) -> bool {
    text != "all" && !text.starts_with(['+', '@', '/'])
}

/// `@file` and `/regex` tokens name their matches elsewhere.
fn indirect(text: &str, quoted: bool) -> bool {
    text.starts_with('@') || (!quoted && text.starts_with('/'))
}

/// Whether two address blocks share at least one address.
fn overlaps(a: &Cidr, b: &Cidr) -> bool {
    let prefix = a.prefix.min(b.prefix);
    match (a.addr, b.addr) {
        (IpAddr::V4(x), IpAddr::V4(y)) => same_prefix(
            u128::from(u32::from(x)) << 96,
            u128::from(u32::from(y)) << 96,
            prefix,
        ),
        (IpAddr::V6(x), IpAddr::V6(y)) => same_prefix(u128::from(x), u128::from(y), prefix),
        _ => false,
    }
}

/// Whether the first `prefix` bits of two left-aligned addresses agree.
fn same_prefix(x: u128, y: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    (x ^ y) & mask == 0
}

/// The same block, compared as written (`10.0.0.1/8` is not `10.0.0.0/8`).
fn same_block(a: &Cidr, b: &Cidr) -> bool {
    a.to_string() == b.to_string()
}

/// The pgshadow-marked pg_hba.conf line that admits `user` from `cidr`.
pub fn render_line(user: &str, cidr: &Cidr) -> String {
    format!(
        "hostssl replication {} {cidr} cert  {PGSHADOW_MARK}",
        quote_token(user)
    )
}

fn own_rule(user: &str, cidr: &Cidr) -> Rule {
    Rule {
        conn_type: ConnType::HostSsl,
        databases: vec![token("replication", false)],
        users: vec![token(user, false)],
        address: Some(Address::Cidr(*cidr)),
        method: "cert".into(),
        options: Vec::new(),
        comment: Some(PGSHADOW_MARK.into()),
    }
}

fn token(text: &str, quoted: bool) -> super::hba::Token {
    super::hba::Token {
        text: text.to_string(),
        quoted,
    }
}
