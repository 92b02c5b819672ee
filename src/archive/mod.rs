//! Streaming tar archives of a data directory, with a manifest: what
//! `pgshadow export` writes and `pgshadow import` reads.
//!
//! An archive is a plain tar stream (optionally one zstd frame around it):
//!
//! 1. `pgshadow-manifest.json`: pgshadow's version, the PostgreSQL major
//!    version, the cluster's system identifier, the replication slot, and
//!    every entry of the data directory (path, kind, size, mode).
//! 2. The data directory's entries, in the manifest's order: directories
//!    before their contents, owners, modes and mtimes in the tar headers.
//!    (An export through the Docker API writes the entries in the order the
//!    engine's tar delivers them, which is the same walk; the reader checks
//!    each entry by its path, so it never depends on the order.)
//! 3. `pgshadow-checksums.json`: the SHA-256 of every file.
//!
//! Why the checksums come last: putting them in the first entry means
//! reading every file twice (once to hash, once to stream). On a data
//! directory larger than the page cache that doubles the disk reads of an
//! export, and even when it is cached the hashing pass cannot overlap with
//! anything, because nothing may be streamed before the manifest. With the
//! checksums in a trailer, the exporter hashes while it streams and the
//! importer hashes while it writes, each on its own core. The importer still
//! checks every entry against the manifest the moment it arrives (name,
//! kind, size; a truncated, unexpected or unsafe entry stops it at once),
//! and compares the checksums when the trailer arrives, before anything is
//! swapped into place; a mismatch names the file.
//!
//! Memory stays flat: data moves through fixed buffers, and only the
//! manifest (about 100 bytes per entry) is held.

mod hashing;
mod listing;
mod manifest;
mod reader;
mod writer;

use std::path::PathBuf;

pub use listing::{LISTING_FORMAT, listing_command, parse_listing};
pub use manifest::{ClusterIdentity, Item, Kind, Manifest, ManifestEntry, read_cluster_identity};
pub use reader::{ExtractOptions, Extracted, extract, extract_to_tar};
pub use writer::{Compression, Exported, WriteOptions, write_archive, write_archive_from_tar};

/// The name of the first entry of every pgshadow archive.
pub const MANIFEST_NAME: &str = "pgshadow-manifest.json";
/// The name of the last entry: the SHA-256 of every file.
pub const CHECKSUMS_NAME: &str = "pgshadow-checksums.json";
/// The archive layout this pgshadow writes and reads.
pub const FORMAT: u32 = 1;

/// A failure to write or read an archive. Each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write the archive")]
    Output(#[source] std::io::Error),
    #[error("read the archive")]
    Input(#[source] std::io::Error),
    #[error("{path}: {what} cannot be exported (only files, directories and symlinks)")]
    Unsupported { path: String, what: &'static str },
    #[error("{path}: the symlink to {target} leaves the data directory")]
    EscapingLink { path: String, target: String },
    #[error("{path} changed while it was being exported")]
    Changed { path: String },
    #[error("the data directory's listing is malformed: {message}")]
    BadListing { message: String },
    #[error("not a pgshadow archive: the first entry is {found}, expected {MANIFEST_NAME}")]
    NotPgshadow { found: String },
    #[error("the archive's {name} is invalid: {message}")]
    BadManifest { name: &'static str, message: String },
    #[error("{path}: unsafe entry in the archive: {reason}")]
    Unsafe { path: String, reason: &'static str },
    #[error("{path}: in the archive but not in its manifest")]
    Unexpected { path: String },
    #[error("{path}: appears twice in the archive")]
    Duplicate { path: String },
    #[error("{path}: a {found} in the archive, a {expected} in the manifest")]
    KindMismatch {
        path: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{path}: {found} bytes in the archive, {expected} in the manifest")]
    SizeMismatch {
        path: String,
        found: u64,
        expected: u64,
    },
    #[error("{path}: the archive is truncated ({written} of {expected} bytes arrived)")]
    Truncated {
        path: String,
        written: u64,
        expected: u64,
    },
    #[error("the archive is truncated: it ends after {after}, before {CHECKSUMS_NAME}")]
    TruncatedEnd { after: String },
    #[error("{path}: SHA-256 {found} does not match the manifest's {expected}")]
    ChecksumMismatch {
        path: String,
        found: String,
        expected: String,
    },
    #[error("{path}: in the manifest but missing from the archive")]
    Missing { path: String },
    #[error("interrupted")]
    Interrupted,
}

impl ArchiveError {
    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ArchiveError::Truncated { .. } | ArchiveError::TruncatedEnd { .. } => Some(
                "the copy was cut short: check free space and the transfer, then export again"
                    .into(),
            ),
            ArchiveError::ChecksumMismatch { .. } => {
                Some("the archive was damaged in transit or on disk: export it again".into())
            }
            ArchiveError::EscapingLink { .. } => Some(
                "tablespaces and a pg_wal outside the data directory are not carried by export"
                    .into(),
            ),
            ArchiveError::Changed { .. } => {
                Some("is another server using the data directory? stop it and retry".into())
            }
            _ => None,
        }
    }
}

/// The hex form of a SHA-256 digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_engine;
