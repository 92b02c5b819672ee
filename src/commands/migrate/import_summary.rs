//! What `pgshadow import` prints at the end: the new standby, and what the
//! primary's host needs before it accepts this one.

use std::path::Path;

use super::megabytes;
use crate::archive::Extracted;
use crate::config::Config;

/// The new standby: its directory, what was imported, its slot, and where
/// a replaced directory was kept.
pub(super) fn summary(
    config: &Config,
    data_dir: &Path,
    extracted: &Extracted,
    kept: Option<&Path>,
) -> String {
    let mut text = format!(
        "standby {} streams from the primary\n  data dir    {}\n  imported    {}\n  system id   {}\n  slot        {}\n",
        config.standby.container,
        data_dir.display(),
        megabytes(extracted.bytes),
        extracted.manifest.system_identifier,
        config
            .replication
            .slot
            .as_deref()
            .or(extracted.manifest.slot.as_deref())
            .unwrap_or("none"),
    );
    if let Some(kept) = kept {
        text.push_str(&format!(
            "  replaced    the old directory is kept at {}\n",
            kept.display()
        ));
    }
    text
}

/// What the primary needs before it accepts this host: its pg_hba line and
/// the firewall rule, for every address in primary.allow.
pub(super) fn primary_needs(config: &Config) -> String {
    let allow = &config.primary.allow;
    if allow.is_empty() {
        return "note: primary.allow is empty, so the primary's pg_hba line and firewall rule \
                for this host are not shown; set it to this host's address"
            .into();
    }
    let user = &config.replication.user;
    let mut text = String::from("on the primary's host, this standby needs (if not there yet):\n");
    for cidr in allow {
        text.push_str(&format!(
            "  pg_hba.conf  {}\n",
            crate::pgconf::render_line(user, cidr)
        ));
    }
    let sources: Vec<String> = allow.iter().map(ToString::to_string).collect();
    text.push_str(&format!(
        "  firewall     pgshadow firewall --apply --allow {}\n  (`pgshadow primary configure` there writes the pg_hba line)",
        sources.join(",")
    ));
    text
}
