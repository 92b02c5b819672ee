//! PostgreSQL's own configuration files, parsed and rendered without I/O:
//! libpq conninfo strings ([`conninfo`]), `postgresql.auto.conf`
//! ([`autoconf`]), the standby rewrite that finalize applies to it
//! ([`recovery`]) and `pg_hba.conf` ([`hba`]).
//!
//! Each parser keeps what it does not change byte for byte, so a file that
//! pgshadow only reads renders back as it was, and a file it edits differs
//! only in the settings or lines it meant to touch.

pub mod autoconf;
pub mod conninfo;
pub mod hba;
mod hba_pgshadow;
pub mod recovery;

#[cfg(test)]
mod tests;

pub use autoconf::AutoConf;
pub use conninfo::Conninfo;
pub use hba::HbaFile;
pub use hba_pgshadow::{HbaChanges, PGSHADOW_MARK, apply_pgshadow_lines, render_line};
pub use recovery::{SettingChange, StandbySettings, changed_settings, rewrite_for_standby};

/// A PostgreSQL configuration text that pgshadow cannot read or rewrite.
/// Positions are 0-based byte offsets into a conninfo string; lines are
/// 1-based.
#[derive(Debug, thiserror::Error)]
pub enum PgconfError {
    #[error("parse conninfo: unterminated quoted value of `{key}` starting at position {position}")]
    ConninfoUnterminatedQuote { key: String, position: usize },
    #[error("parse conninfo: missing `=` after `{key}` at position {position}")]
    ConninfoMissingEquals { key: String, position: usize },
    #[error("parse conninfo: a keyword is missing before `=` at position {position}")]
    ConninfoEmptyKey { position: usize },
    #[error("parse conninfo: the URI form (`postgresql://...`) is not supported")]
    ConninfoUri,
    #[error("parse postgresql.auto.conf line {line}: {reason}")]
    AutoConfSyntax { line: usize, reason: &'static str },
    #[error("parse primary_conninfo in postgresql.auto.conf line {line}")]
    PrimaryConninfo {
        line: usize,
        #[source]
        source: Box<PgconfError>,
    },
    #[error("find primary_conninfo in postgresql.auto.conf: there is none")]
    NoPrimaryConninfo,
    #[error(
        "remove the temporary mount {prefix} from postgresql.auto.conf: `{setting}` still refers to it"
    )]
    TemporaryPathRemains { setting: String, prefix: String },
    #[error("parse pg_hba.conf line {line}: {reason}")]
    HbaSyntax { line: usize, reason: String },
}

impl PgconfError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            PgconfError::NoPrimaryConninfo => Some(
                "pg_basebackup writes primary_conninfo only with -R (--write-recovery-conf)".into(),
            ),
            PgconfError::PrimaryConninfo { .. } | PgconfError::TemporaryPathRemains { .. } => {
                Some("check the conninfo given to pg_basebackup (-d)".into())
            }
            PgconfError::HbaSyntax { .. } => {
                Some("PostgreSQL will not load this file either: fix the line by hand".into())
            }
            _ => None,
        }
    }
}
