//! Replication slots on the primary, managed over the replication protocol
//! with the client certificate: the standby's host has no other way in.

use super::{LoginError, LoginTarget, replication_command};
use crate::docker::Engine;

/// Whether the physical slot `slot` exists on the primary. PostgreSQL 15's
/// `READ_REPLICATION_SLOT` answers with an empty slot type for a missing slot.
pub async fn slot_exists(
    engine: &Engine,
    image: &str,
    target: &LoginTarget,
    slot: &str,
) -> Result<bool, LoginError> {
    let stdout = replication_command(engine, image, target, &read_slot_command(slot)).await?;
    Ok(parse_read_slot(stdout.lines().find(|l| l.contains('|'))))
}

/// The command that asks about `slot`.
pub(super) fn read_slot_command(slot: &str) -> String {
    format!("READ_REPLICATION_SLOT {}", quote_ident(slot))
}

/// Whether `READ_REPLICATION_SLOT`'s row (`type|restart_lsn|timeline`)
/// names an existing slot: a missing one has an empty type.
pub(super) fn parse_read_slot(row: Option<&str>) -> bool {
    row.unwrap_or_default()
        .split('|')
        .next()
        .is_some_and(|kind| !kind.trim().is_empty())
}

/// Drops the slot `slot` on the primary, waiting for it to be released.
pub async fn drop_slot(
    engine: &Engine,
    image: &str,
    target: &LoginTarget,
    slot: &str,
) -> Result<(), LoginError> {
    let command = format!("DROP_REPLICATION_SLOT {} WAIT", quote_ident(slot));
    replication_command(engine, image, target, &command)
        .await
        .map(|_| ())
}

/// A double-quoted identifier, as the replication grammar accepts it.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_slot_has_an_empty_type() {
        assert!(super::parse_read_slot(Some("physical|0/3000148|1")));
        assert!(!super::parse_read_slot(Some("||")));
        assert!(!super::parse_read_slot(None));
    }

    #[test]
    fn identifiers_are_quoted_with_doubled_quotes() {
        assert_eq!(super::quote_ident("standby1"), "\"standby1\"");
        assert_eq!(super::quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
