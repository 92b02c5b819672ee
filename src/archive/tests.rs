use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use super::*;

pub(super) static NOT_CANCELLED: AtomicBool = AtomicBool::new(false);

pub(super) const BIG: &str = "base/5/16384";
const LONG: &str = "base/5/a_directory_with_a_name_long_enough/that_the_whole_path_needs_more_than/one_hundred_bytes_of_header";

/// A small stand-in for a data directory: a 3 MB file, an empty directory,
/// a relative symlink, odd modes and a path longer than a tar name field.
pub(super) fn fake_data_dir(root: &Path) {
    let write = |rel: &str, data: &[u8], mode: u32| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("PG_VERSION", b"15\n", 0o600);
    let mut control = vec![0u8; 8192];
    control[..8].copy_from_slice(&7_312_345_678_901_234_567u64.to_ne_bytes());
    write("global/pg_control", &control, 0o600);
    let big: Vec<u8> = (0..3 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(BIG, &big, 0o600);
    write(
        "postgresql.conf",
        b"# MARKER-CONF-LINE\nlisten_addresses = '*'\n",
        0o640,
    );
    write(LONG, b"long", 0o600);
    std::fs::create_dir_all(root.join("pg_notify")).unwrap();
    std::os::unix::fs::symlink("PG_VERSION", root.join("version-link")).unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(root.join(BIG))
        .unwrap()
        .set_modified(old)
        .unwrap();
}

pub(super) fn export(dir: &Path, compression: Compression) -> Vec<u8> {
    let mut out = Vec::new();
    let options = WriteOptions {
        compression,
        slot: Some("standby_slot".into()),
        cancel: &NOT_CANCELLED,
    };
    write_archive(dir, &mut out, &options, &mut |_, _| {}).unwrap();
    out
}

pub(super) fn import(archive: &[u8], staging: &Path) -> Result<Extracted, ArchiveError> {
    std::fs::create_dir(staging).unwrap();
    let options = ExtractOptions {
        owner: None,
        cancel: &NOT_CANCELLED,
    };
    extract(archive, staging, &options, &mut |_, _| {})
}

pub(super) fn assert_same_tree(a: &Path, b: &Path) {
    let items = super::manifest::inventory(a).unwrap();
    assert_eq!(items.len(), 12, "{items:?}");
    for item in items {
        let (pa, pb) = (a.join(&item.entry.path), b.join(&item.entry.path));
        let (ma, mb) = (
            pa.symlink_metadata().unwrap(),
            pb.symlink_metadata().unwrap(),
        );
        assert_eq!(ma.file_type(), mb.file_type(), "{}", item.entry.path);
        assert_eq!(ma.mtime(), mb.mtime(), "{}", item.entry.path);
        if ma.is_symlink() {
            assert_eq!(
                std::fs::read_link(&pa).unwrap(),
                std::fs::read_link(&pb).unwrap()
            );
            continue;
        }
        assert_eq!(ma.mode() & 0o777, mb.mode() & 0o777, "{}", item.entry.path);
        if ma.is_file() {
            assert!(std::fs::read(&pa).unwrap() == std::fs::read(&pb).unwrap());
        }
    }
}

#[test]
fn round_trip_keeps_contents_modes_mtimes_links_and_empty_dirs() {
    for compression in [Compression::None, Compression::Zstd] {
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("data");
        fake_data_dir(&source);
        let archive = export(&source, compression);

        let staging = tmp.path().join("staging");
        let extracted = import(&archive, &staging).unwrap();
        assert_same_tree(&source, &staging);
        assert_eq!(extracted.manifest.pg_major, "15");
        assert_eq!(extracted.manifest.system_identifier, "7312345678901234567");
        assert_eq!(extracted.manifest.slot.as_deref(), Some("standby_slot"));
        assert_eq!(extracted.bytes, (3 << 20) + 8192 + 3 + 4 + 42);
    }
}

#[test]
fn the_first_entry_is_the_manifest_and_the_last_the_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    fake_data_dir(tmp.path());
    let archive = export(tmp.path(), Compression::None);
    let mut reader = tar::Archive::new(archive.as_slice());
    let names: Vec<String> = reader
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names.first().map(String::as_str), Some(MANIFEST_NAME));
    assert_eq!(names.last().map(String::as_str), Some(CHECKSUMS_NAME));
    assert!(names.iter().position(|n| n == "base") < names.iter().position(|n| n == "base/5"));
}

#[test]
fn a_truncated_archive_names_the_file_it_cut() {
    let tmp = tempfile::tempdir().unwrap();
    fake_data_dir(&tmp.path().join("data"));
    let archive = export(&tmp.path().join("data"), Compression::None);
    let start = find(&archive, &file_start(&tmp.path().join("data").join(BIG)));

    let err = import(&archive[..start + 1_000_000], &tmp.path().join("s1")).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Truncated { path, .. } if path == BIG),
        "{err}"
    );
    assert!(err.to_string().contains(BIG), "{err}");

    // Cut between two entries: the checksums never arrive.
    let err = import(&archive[..start - 512], &tmp.path().join("s2")).unwrap_err();
    assert!(matches!(err, ArchiveError::TruncatedEnd { .. }), "{err}");
}

#[test]
fn a_truncated_zstd_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fake_data_dir(&tmp.path().join("data"));
    let archive = export(&tmp.path().join("data"), Compression::Zstd);
    let err = import(&archive[..archive.len() / 2], &tmp.path().join("s")).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::Truncated { .. } | ArchiveError::TruncatedEnd { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn a_flipped_byte_fails_the_checksum_of_that_file() {
    let tmp = tempfile::tempdir().unwrap();
    fake_data_dir(&tmp.path().join("data"));
    let mut archive = export(&tmp.path().join("data"), Compression::None);
    let at = find(&archive, b"MARKER-CONF-LINE");
    archive[at] ^= 0x01;

    let err = import(&archive, &tmp.path().join("s")).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::ChecksumMismatch { path, .. } if path == "postgresql.conf"),
        "{err}"
    );
}

#[test]
fn an_entry_with_dotdot_is_refused_and_nothing_lands_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = hand_manifest(vec![file_entry("../escaped", 5)]);
    let archive = hand_archive(
        &manifest,
        &[(b"../escaped", b"owned", tar::EntryType::Regular)],
    );

    let err = import(&archive, &tmp.path().join("s")).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Unsafe { path, .. } if path == "../escaped"),
        "{err}"
    );
    assert!(!tmp.path().join("escaped").exists());

    // The same entry under a manifest that does not list it.
    let archive = hand_archive(
        &hand_manifest(vec![]),
        &[(b"a/../../x", b"owned", tar::EntryType::Regular)],
    );
    let err = import(&archive, &tmp.path().join("s2")).unwrap_err();
    assert!(err.to_string().contains("a/../../x"), "{err}");
}

#[test]
fn absolute_paths_hard_links_and_escaping_symlinks_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let abs = hand_archive(
        &hand_manifest(vec![]),
        &[(b"/etc/x", b"", tar::EntryType::Regular)],
    );
    let err = import(&abs, &tmp.path().join("s1")).unwrap_err();
    assert!(err.to_string().contains("/etc/x: unsafe entry"), "{err}");

    let manifest = hand_manifest(vec![file_entry("h", 0)]);
    let hard = hand_archive(&manifest, &[(b"h", b"", tar::EntryType::Link)]);
    let err = import(&hard, &tmp.path().join("s2")).unwrap_err();
    assert!(
        err.to_string()
            .contains("h: unsafe entry in the archive: hard links"),
        "{err}"
    );

    let mut link = file_entry("l", 0);
    link.kind = Kind::Symlink;
    link.target = Some("../../etc".into());
    let err = import(
        &hand_archive(&hand_manifest(vec![link]), &[]),
        &tmp.path().join("s3"),
    );
    assert!(matches!(err, Err(ArchiveError::EscapingLink { ref path, .. }) if path == "l"));
}

#[test]
fn unexpected_and_missing_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = hand_manifest(vec![file_entry("a", 1)]);
    let extra = hand_archive(
        &manifest,
        &[
            (b"a", b"1", tar::EntryType::Regular),
            (b"b", b"2", tar::EntryType::Regular),
        ],
    );
    let err = import(&extra, &tmp.path().join("s1")).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Unexpected { path } if path == "b"),
        "{err}"
    );

    let missing = hand_archive(
        &hand_manifest(vec![file_entry("a", 1), file_entry("m", 0)]),
        &[(b"a", b"1", tar::EntryType::Regular)],
    );
    let err = import(&missing, &tmp.path().join("s2")).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Missing { path } if path == "m"),
        "{err}"
    );
}

#[test]
fn an_ordinary_tar_is_not_a_pgshadow_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    builder
        .append_data(&mut header, "PG_VERSION", &b"15"[..])
        .unwrap();
    let err = import(&builder.into_inner().unwrap(), &tmp.path().join("s")).unwrap_err();
    assert!(
        err.to_string().contains("the first entry is PG_VERSION"),
        "{err}"
    );
}

#[test]
fn export_refuses_a_symlink_out_of_the_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    fake_data_dir(tmp.path());
    std::fs::create_dir(tmp.path().join("pg_tblspc")).unwrap();
    std::os::unix::fs::symlink("/srv/ts", tmp.path().join("pg_tblspc/16400")).unwrap();
    let options = WriteOptions {
        compression: Compression::None,
        slot: None,
        cancel: &NOT_CANCELLED,
    };
    let err = write_archive(tmp.path(), Vec::new(), &options, &mut |_, _| {}).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pg_tblspc/16400: the symlink to /srv/ts leaves the data directory"
    );
}

#[test]
fn a_cancelled_export_stops() {
    let tmp = tempfile::tempdir().unwrap();
    fake_data_dir(tmp.path());
    let cancel = AtomicBool::new(true);
    let options = WriteOptions {
        compression: Compression::None,
        slot: None,
        cancel: &cancel,
    };
    let err = write_archive(tmp.path(), Vec::new(), &options, &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, ArchiveError::Interrupted));
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("marker in the archive")
}

fn file_start(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()[..64].to_vec()
}

fn file_entry(path: &str, size: u64) -> ManifestEntry {
    ManifestEntry {
        path: path.into(),
        kind: Kind::File,
        mode: 0o600,
        size,
        target: None,
    }
}

fn hand_manifest(entries: Vec<ManifestEntry>) -> Manifest {
    Manifest {
        format: FORMAT,
        pgshadow_version: "0.0.0".into(),
        pg_major: "15".into(),
        system_identifier: "1".into(),
        slot: None,
        entries,
    }
}

/// An archive built header by header, so that it can hold what the tar
/// crate's builder refuses to write (`..`, absolute paths), with a
/// checksum trailer that matches the entries.
fn hand_archive(manifest: &Manifest, entries: &[(&[u8], &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let body = serde_json::to_vec(manifest).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    builder
        .append_data(&mut header, MANIFEST_NAME, body.as_slice())
        .unwrap();
    let mut checksums = super::manifest::Checksums::default();
    for (name, data, kind) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(*kind);
        header.set_mode(0o600);
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, *data).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, data);
        let name = String::from_utf8_lossy(name).into_owned();
        checksums.sha256.insert(name, hex(digest.as_ref()));
    }
    let body = serde_json::to_vec(&checksums).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    builder
        .append_data(&mut header, CHECKSUMS_NAME, body.as_slice())
        .unwrap();
    builder.into_inner().unwrap()
}
