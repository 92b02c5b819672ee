//! The primary's side of replication, inside its running container:
//! certificates in `$PGDATA/certs`, TLS and replication settings, the
//! pg_hba.conf lines, the replication role and slot. Every step compares
//! first and changes only what differs, so a second run changes nothing.

use sha2::{Digest, Sha256};

use super::server::{ServerError, query};
use crate::docker::{Engine, FileEntry};

/// One thing `primary configure` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub what: String,
    /// The server must restart for it to take effect.
    pub needs_restart: bool,
}

impl Change {
    fn now(what: impl Into<String>) -> Self {
        Change {
            what: what.into(),
            needs_restart: false,
        }
    }
}

/// Quotes an SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `SHOW data_directory`.
pub async fn data_directory(engine: &Engine, container: &str) -> Result<String, ServerError> {
    query(engine, container, "SHOW data_directory").await
}

/// The numeric owner of a path in the container (the server's uid:gid for PGDATA).
pub async fn owner_of(
    engine: &Engine,
    container: &str,
    path: &str,
) -> Result<(u64, u64), ServerError> {
    let out = engine
        .exec(container, Some("0"), &["stat", "-c", "%u:%g", path], None)
        .await?;
    let text = out.stdout.trim();
    let parsed = text
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    parsed.ok_or_else(|| ServerError::Query {
        container: container.into(),
        sql: format!("stat {path}"),
        stderr: format!("{}{}", out.stdout, out.stderr).trim().to_string(),
    })
}

/// Copies the server certificate, key and CA into `<pgdata>/certs` unless
/// identical files are there already (compared by SHA-256 inside the
/// container, so the key is never read back).
pub async fn install_server_certs(
    engine: &Engine,
    container: &str,
    pgdata: &str,
    files: &[(&str, Vec<u8>)],
) -> Result<Option<Change>, ServerError> {
    let names: Vec<String> = files
        .iter()
        .map(|(name, _)| format!("{pgdata}/certs/{name}"))
        .collect();
    let mut cmd = vec!["sha256sum"];
    cmd.extend(names.iter().map(String::as_str));
    let out = engine.exec(container, Some("0"), &cmd, None).await?;
    let wanted: Vec<String> = files
        .iter()
        .map(|(_, data)| hex(&Sha256::digest(data)))
        .collect();
    let present: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    if out.exit_code == 0 && present == wanted.iter().map(String::as_str).collect::<Vec<_>>() {
        return Ok(None);
    }

    let (uid, gid) = owner_of(engine, container, pgdata).await?;
    let entries: Vec<FileEntry> = files
        .iter()
        .map(|(name, contents)| FileEntry {
            name: format!("certs/{name}"),
            contents: contents.clone(),
            mode: if name.ends_with(".key") { 0o600 } else { 0o644 },
            uid,
            gid,
        })
        .collect();
    engine
        .upload_files(container, pgdata, &["certs"], &entries)
        .await?;
    Ok(Some(Change::now(format!(
        "installed {} in {pgdata}/certs",
        files.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
    ))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sets each `(name, value)` with ALTER SYSTEM when the current value differs.
pub async fn ensure_settings(
    engine: &Engine,
    container: &str,
    settings: &[(&str, String)],
) -> Result<Vec<Change>, ServerError> {
    let mut changes = Vec::new();
    for (name, value) in settings {
        let sql = format!(
            "SELECT setting, context FROM pg_settings WHERE name = {}",
            literal(name)
        );
        let row = query(engine, container, &sql).await?;
        let (current, context) = row.split_once('|').unwrap_or((row.as_str(), ""));
        if current == value {
            continue;
        }
        query(
            engine,
            container,
            &format!("ALTER SYSTEM SET {name} = {}", literal(value)),
        )
        .await?;
        changes.push(Change {
            what: format!("{name} = '{value}' (was '{current}')"),
            needs_restart: context == "postmaster",
        });
    }
    Ok(changes)
}

/// Raises integer settings below `minimum` (max_wal_senders, max_replication_slots).
pub async fn ensure_at_least(
    engine: &Engine,
    container: &str,
    name: &str,
    minimum: i64,
) -> Result<Option<Change>, ServerError> {
    let current: i64 = query(engine, container, &format!("SHOW {name}"))
        .await?
        .parse()
        .unwrap_or(0);
    if current >= minimum {
        return Ok(None);
    }
    query(
        engine,
        container,
        &format!("ALTER SYSTEM SET {name} = {minimum}"),
    )
    .await?;
    Ok(Some(Change {
        what: format!("{name} = {minimum} (was {current})"),
        needs_restart: true,
    }))
}

/// Creates the replication role (REPLICATION LOGIN, no password) or gives
/// an existing one those attributes.
pub async fn ensure_role(
    engine: &Engine,
    container: &str,
    user: &str,
) -> Result<Option<Change>, ServerError> {
    let sql = format!(
        "SELECT rolreplication AND rolcanlogin FROM pg_roles WHERE rolname = {}",
        literal(user)
    );
    match query(engine, container, &sql).await?.as_str() {
        "t" => Ok(None),
        "f" => {
            query(
                engine,
                container,
                &format!("ALTER ROLE {} WITH REPLICATION LOGIN", ident(user)),
            )
            .await?;
            Ok(Some(Change::now(format!(
                "role {user} given REPLICATION LOGIN"
            ))))
        }
        _ => {
            query(
                engine,
                container,
                &format!("CREATE ROLE {} WITH REPLICATION LOGIN", ident(user)),
            )
            .await?;
            Ok(Some(Change::now(format!(
                "role {user} created (REPLICATION LOGIN, no password)"
            ))))
        }
    }
}

/// Creates the physical slot when missing.
pub async fn ensure_slot(
    engine: &Engine,
    container: &str,
    slot: &str,
) -> Result<Option<Change>, ServerError> {
    let sql = format!(
        "SELECT count(*) FROM pg_replication_slots WHERE slot_name = {}",
        literal(slot)
    );
    if query(engine, container, &sql).await? != "0" {
        return Ok(None);
    }
    query(
        engine,
        container,
        &format!(
            "SELECT pg_create_physical_replication_slot({})",
            literal(slot)
        ),
    )
    .await?;
    Ok(Some(Change::now(format!("physical slot {slot} created"))))
}

/// Reads pg_hba.conf, applies pgshadow's lines and writes it back when it changed.
pub async fn ensure_hba(
    engine: &Engine,
    container: &str,
    user: &str,
    allow: &[crate::config::Cidr],
) -> Result<Vec<Change>, crate::Error> {
    let path = query(engine, container, "SHOW hba_file").await?;
    let text = engine
        .read_file(container, &path)
        .await?
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).into_owned();
    let (updated, changes) = crate::pgconf::apply_pgshadow_lines(&text, user, allow)?;
    if updated == text {
        return Ok(Vec::new());
    }
    let (uid, gid) = owner_of(engine, container, &path).await?;
    let (dir, name) = path.rsplit_once('/').unwrap_or((".", path.as_str()));
    let entry = FileEntry {
        name: name.to_string(),
        contents: updated.into_bytes(),
        mode: 0o600,
        uid,
        gid,
    };
    engine.upload_files(container, dir, &[], &[entry]).await?;
    let mut out: Vec<Change> = changes
        .added
        .iter()
        .map(|l| Change::now(format!("pg_hba.conf: added `{l}`")))
        .collect();
    out.extend(
        changes
            .removed
            .iter()
            .map(|l| Change::now(format!("pg_hba.conf: removed `{l}`"))),
    );
    Ok(out)
}

/// `pg_reload_conf()`, then the settings that still wait for a restart.
pub async fn reload(engine: &Engine, container: &str) -> Result<Vec<String>, ServerError> {
    query(engine, container, "SELECT pg_reload_conf()").await?;
    // The reload is asynchronous; give the postmaster a moment to re-read.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pending = query(
        engine,
        container,
        "SELECT name FROM pg_settings WHERE pending_restart",
    )
    .await?;
    Ok(pending
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect())
}
