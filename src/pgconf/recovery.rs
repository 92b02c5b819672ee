//! The finalize rewrite of a freshly cloned `postgresql.auto.conf`, used by
//! clone-standby and import.
//!
//! pg_basebackup ran in a temporary container, so the `primary_conninfo` it
//! wrote with `-R` names the certificates at their temporary mount and a
//! `passfile` inside that container; the clone also carries the primary's own
//! ALTER SYSTEM settings, such as its server certificate and, when the
//! primary was once a standby, a stale `primary_conninfo`. This module turns
//! that file into the standby's: both quoting layers are parsed and rendered
//! back, and everything it does not mean to change survives as written.

use std::collections::BTreeSet;

use super::{AutoConf, Conninfo, PgconfError};

/// What the standby's `postgresql.auto.conf` must say.
#[derive(Debug, Clone, Copy)]
pub struct StandbySettings<'a> {
    /// The in-container path of `$PGDATA/certs`, such as
    /// `/var/lib/postgresql/data/certs`.
    pub cert_dir: &'a str,
    /// The libpq `sslmode` towards the primary (`verify-full`, `verify-ca`).
    pub sslmode: &'a str,
    /// The standby container's name, which the primary shows in
    /// `pg_stat_replication.application_name`.
    pub application_name: &'a str,
    /// The `primary_slot_name` to set; `None` removes it.
    pub slot: Option<&'a str>,
    /// Whether `standby.crt` and `standby.key` are installed: the standby
    /// then serves TLS with them; otherwise `ssl` is switched off.
    pub serve_tls: bool,
    /// The temporary mount the clone ran with (e.g. `/run/pgshadow-certs`);
    /// no value may refer to it afterwards.
    pub temp_prefix: &'a str,
    /// Where the standby reaches the primary (`host`, `port`); `None` keeps
    /// the conninfo's. Import sets it: a moved standby may see the primary
    /// at another address than the host it came from.
    pub primary: Option<(&'a str, u16)>,
}

/// The primary's server-certificate settings, which a clone copies along
/// and a standby must not use.
const SERVER_TLS_FILES: [&str; 3] = ["ssl_cert_file", "ssl_key_file", "ssl_ca_file"];

/// Rewrites `auto_conf` (the text of a cloned `postgresql.auto.conf`) for
/// the standby described by `s`, and returns the new text.
pub fn rewrite_for_standby(auto_conf: &str, s: &StandbySettings) -> Result<String, PgconfError> {
    let mut conf = AutoConf::parse(auto_conf)?;

    let conninfo = standby_conninfo(&conf, s)?;
    conf.set("primary_conninfo", &conninfo.render());

    match s.slot {
        Some(slot) => conf.set("primary_slot_name", slot),
        None => {
            conf.remove("primary_slot_name");
        }
    }

    set_server_tls(&mut conf, s);
    ensure_no_temporary_path(&conf, s.temp_prefix)?;
    Ok(conf.render())
}

/// The effective `primary_conninfo` with every certificate path in
/// `cert_dir`, the configured `sslmode` and `application_name`, and no
/// `passfile`; every other keyword as it was.
fn standby_conninfo(conf: &AutoConf, s: &StandbySettings) -> Result<Conninfo, PgconfError> {
    let text = conf
        .get("primary_conninfo")
        .ok_or(PgconfError::NoPrimaryConninfo)?;
    let mut conninfo = Conninfo::parse(text).map_err(|e| PgconfError::PrimaryConninfo {
        line: conf.line_of("primary_conninfo").unwrap_or(0),
        source: Box::new(e),
    })?;

    conninfo.remove("passfile");
    conninfo.set("sslcert", &in_dir(s.cert_dir, "client.crt"));
    conninfo.set("sslkey", &in_dir(s.cert_dir, "client.key"));
    conninfo.set("sslrootcert", &in_dir(s.cert_dir, "ca.crt"));
    conninfo.set("sslmode", s.sslmode);
    conninfo.set("application_name", s.application_name);
    if let Some((host, port)) = s.primary {
        conninfo.set("host", host);
        conninfo.set("port", &port.to_string());
    }
    Ok(conninfo)
}

/// Replaces the primary's TLS settings with the standby's own, or switches
/// TLS off. `ssl = 'off'` is written rather than removed because the cloned
/// `postgresql.conf` may switch it on with files the standby lacks.
fn set_server_tls(conf: &mut AutoConf, s: &StandbySettings) {
    if s.serve_tls {
        conf.set("ssl", "on");
        conf.set("ssl_cert_file", &in_dir(s.cert_dir, "standby.crt"));
        conf.set("ssl_key_file", &in_dir(s.cert_dir, "standby.key"));
        conf.set("ssl_ca_file", &in_dir(s.cert_dir, "ca.crt"));
    } else {
        conf.set("ssl", "off");
        for name in SERVER_TLS_FILES {
            conf.remove(name);
        }
    }
}

/// Fails when any setting, or any keyword inside `primary_conninfo`, still
/// names the temporary mount.
fn ensure_no_temporary_path(conf: &AutoConf, prefix: &str) -> Result<(), PgconfError> {
    let prefix = prefix.trim_end_matches('/');
    // An empty prefix would be found in every value; there is nothing to check.
    if prefix.is_empty() {
        return Ok(());
    }
    let remains = |setting: &str| PgconfError::TemporaryPathRemains {
        setting: setting.to_string(),
        prefix: prefix.to_string(),
    };
    for (name, value) in conf.settings() {
        if !value.contains(prefix) {
            continue;
        }
        // Name the conninfo keyword where possible; the value is left out
        // because a conninfo may hold a password.
        let keyword = Conninfo::parse(value).ok().and_then(|c| {
            let found = c.entries().find(|(_, v)| v.contains(prefix));
            found.map(|(k, _)| format!("{name} ({k})"))
        });
        return Err(remains(&keyword.unwrap_or_else(|| name.to_string())));
    }
    Ok(())
}

fn in_dir(dir: &str, file: &str) -> String {
    format!("{}/{file}", dir.trim_end_matches('/'))
}

/// How one setting differs between two versions of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingChange {
    Added(String),
    Changed(String),
    Removed(String),
}

/// The settings whose effective value differs between `before` and `after`,
/// by name only (values may hold secrets), in name order.
pub fn changed_settings(before: &str, after: &str) -> Result<Vec<SettingChange>, PgconfError> {
    let before = AutoConf::parse(before)?.effective();
    let after = AutoConf::parse(after)?.effective();
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changes = names
        .into_iter()
        .filter_map(|name| match (before.get(name), after.get(name)) {
            (None, Some(_)) => Some(SettingChange::Added(name.clone())),
            (Some(_), None) => Some(SettingChange::Removed(name.clone())),
            (Some(a), Some(b)) if a != b => Some(SettingChange::Changed(name.clone())),
            _ => None,
        });
    Ok(changes.collect())
}
