//! The conversions used when the data directory sits on a remote engine:
//! a real `find` listing and an engine-like tar in, a pgshadow archive out;
//! an archive in, a tar that the real `tar` unpacks out.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use super::tests::{BIG, NOT_CANCELLED, assert_same_tree, export, fake_data_dir, find, import};
use super::*;
use crate::config::Owner;

/// The listing the helper container makes: the real find, run in the
/// data directory's parent.
fn listing(dir: &Path) -> String {
    let (parent, name) = (dir.parent().unwrap(), dir.file_name().unwrap());
    let command = listing_command(name.to_str().unwrap());
    let output = Command::new(&command[0])
        .args(&command[1..])
        .current_dir(parent)
        .output()
        .expect("find runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A tar like the engine's archive endpoint streams: `NAME/` first, then
/// a depth-first walk with names in byte order (Go's `filepath.Walk`). The
/// real `tar -c` follows readdir order instead, so the tar crate builds it.
fn engine_tar(dir: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let name = dir.file_name().unwrap().to_str().unwrap().to_string();
    walk(&mut builder, dir, &name);
    builder.into_inner().unwrap()
}

fn walk(builder: &mut tar::Builder<Vec<u8>>, path: &Path, name: &str) {
    builder.append_path_with_name(path, name).unwrap();
    if !path.symlink_metadata().unwrap().is_dir() {
        return;
    }
    let mut children: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    children.sort();
    for child in children {
        walk(builder, &path.join(&child), &format!("{name}/{child}"));
    }
}

fn export_from_tar(dir: &Path, listing: &str, tar: &[u8], compression: Compression) -> Vec<u8> {
    try_export_from_tar(dir, listing, tar, compression).unwrap()
}

fn try_export_from_tar(
    dir: &Path,
    listing: &str,
    tar: &[u8],
    compression: Compression,
) -> Result<Vec<u8>, ArchiveError> {
    let options = WriteOptions {
        compression,
        slot: Some("standby_slot".into()),
        cancel: &NOT_CANCELLED,
    };
    let identity = read_cluster_identity(dir)?;
    let items = parse_listing(listing)?;
    let root = dir.file_name().unwrap().to_str().unwrap();
    let mut out = Vec::new();
    write_archive_from_tar(
        identity,
        items,
        root,
        tar,
        &mut out,
        &options,
        &mut |_, _| {},
    )?;
    Ok(out)
}

fn to_tar(archive: &[u8], prefix: &str, owner: Option<Owner>) -> Result<Vec<u8>, ArchiveError> {
    let options = ExtractOptions {
        owner,
        cancel: &NOT_CANCELLED,
    };
    let mut out = Vec::new();
    extract_to_tar(archive, prefix, &mut out, &options, &mut |_, _| {})?;
    Ok(out)
}

/// Every entry of an archive: its header (but the JSON entries', whose
/// mtime is the time of writing) and its data.
fn entries(archive: &[u8]) -> Vec<(String, Option<Vec<u8>>, Vec<u8>)> {
    let plain = zstd::decode_all(archive).unwrap_or_else(|_| archive.to_vec());
    let mut reader = tar::Archive::new(plain.as_slice());
    let mut all = Vec::new();
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let json = name == MANIFEST_NAME || name == CHECKSUMS_NAME;
        let header = (!json).then(|| entry.header().as_bytes().to_vec());
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        all.push((name, header, data));
    }
    all
}

#[test]
fn the_listing_gives_the_inventory_in_its_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    fake_data_dir(&dir);
    // `-` and `.` sort before `/`: a whole-path sort would split `a` from `a/x`.
    for path in ["a/x", "a-b", "a.b/y", "with space", "new\nline", "é"] {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }
    std::os::unix::fs::symlink("a/x", dir.join("to-x")).unwrap();
    std::fs::set_permissions(dir.join("a"), std::fs::Permissions::from_mode(0o2750)).unwrap();

    let listed = parse_listing(&listing(&dir)).unwrap();
    assert_eq!(listed, super::manifest::inventory(&dir).unwrap());
    let a = listed.iter().position(|i| i.entry.path == "a").unwrap();
    assert_eq!(listed[a + 1].entry.path, "a/x");
    assert_eq!(listed[a].entry.mode, 0o2750);
}

#[test]
fn the_listing_refuses_what_the_inventory_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    fake_data_dir(&dir);
    nix::unistd::mkfifo(&dir.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let err = parse_listing(&listing(&dir)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pipe: a named pipe cannot be exported (only files, directories and symlinks)"
    );

    std::fs::remove_file(dir.join("pipe")).unwrap();
    std::os::unix::fs::symlink("../../etc", dir.join("out")).unwrap();
    let err = parse_listing(&listing(&dir)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::EscapingLink { path, .. } if path == "out"),
        "{err}"
    );

    let err = parse_listing("f 600 0 0 1.5 3\0../x\0\0").unwrap_err();
    assert!(matches!(err, ArchiveError::Unsafe { .. }), "{err}");
    let err = parse_listing("f 600 0 0 1.5\0PG_VERSION\0\0").unwrap_err();
    assert!(matches!(err, ArchiveError::BadListing { .. }), "{err}");
    let err = parse_listing("f 600 0 0 1.5 3\0PG_VERSION\0").unwrap_err();
    assert!(matches!(err, ArchiveError::BadListing { .. }), "{err}");
}

#[test]
fn an_export_through_the_engine_equals_a_local_export() {
    for compression in [Compression::None, Compression::Zstd] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fake_data_dir(&dir);
        let archive = export_from_tar(&dir, &listing(&dir), &engine_tar(&dir), compression);

        let staging = tmp.path().join("staging");
        let extracted = import(&archive, &staging).unwrap();
        assert_same_tree(&dir, &staging);

        let local = export(&dir, compression);
        let (engine, local) = (entries(&archive), entries(&local));
        assert_eq!(engine, local);
        let manifest: Manifest = serde_json::from_slice(&local[0].2).unwrap();
        assert_eq!(extracted.manifest, manifest);
    }
}

#[test]
fn an_engine_tar_that_differs_from_the_listing_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    fake_data_dir(&dir);
    let listed = listing(&dir);
    let changed = |tar: Vec<u8>| match try_export_from_tar(&dir, &listed, &tar, Compression::None)
        .unwrap_err()
    {
        ArchiveError::Changed { path } => path,
        other => panic!("{other}"),
    };

    std::fs::write(dir.join("base/extra"), b"new").unwrap();
    assert_eq!(changed(engine_tar(&dir)), "base/extra");
    std::fs::remove_file(dir.join("base/extra")).unwrap();

    std::fs::write(dir.join("postgresql.conf"), b"grown\n").unwrap();
    assert_eq!(changed(engine_tar(&dir)), "postgresql.conf");

    std::fs::remove_file(dir.join("postgresql.conf")).unwrap();
    assert_eq!(changed(engine_tar(&dir)), "postgresql.conf");
}

#[test]
fn a_tar_for_the_engine_unpacks_into_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    fake_data_dir(&dir);
    let owner = Owner { uid: 999, gid: 998 };
    let cases = [
        (Compression::Zstd, "staging", Some(owner)),
        (Compression::None, "", None),
    ];
    for (n, (compression, prefix, owner)) in cases.into_iter().enumerate() {
        let tar = to_tar(&export(&dir, compression), prefix, owner).unwrap();
        let dest = tmp.path().join(format!("dest{n}"));
        std::fs::create_dir(&dest).unwrap();
        let status = Command::new("tar")
            .arg("-xpf")
            .arg("-")
            .current_dir(&dest)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), &tar)?;
                child.wait()
            })
            .unwrap();
        assert!(status.success());

        let unpacked = dest.join(prefix);
        assert_same_tree(&dir, &unpacked);
        let want = owner.map_or((0, 0), |o| (o.uid, o.gid));
        for item in super::manifest::inventory(&unpacked).unwrap() {
            let meta = unpacked.join(&item.entry.path).symlink_metadata().unwrap();
            let source = dir.join(&item.entry.path).symlink_metadata().unwrap();
            let want = owner.map_or((source.uid(), source.gid()), |_| want);
            assert_eq!((meta.uid(), meta.gid()), want, "{}", item.entry.path);
        }
        if owner.is_some() {
            let top = unpacked.metadata().unwrap();
            assert_eq!(
                (top.uid(), top.gid(), top.mode() & 0o777),
                (999, 998, 0o700)
            );
        }
    }
}

#[test]
fn a_tar_for_the_engine_stops_at_a_flipped_byte_or_a_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    fake_data_dir(&dir);
    let mut archive = export(&dir, Compression::None);

    let start = find(&archive, &std::fs::read(dir.join(BIG)).unwrap()[..64]);
    let err = to_tar(&archive[..start + 1_000_000], "s", None).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Truncated { path, .. } if path == BIG),
        "{err}"
    );

    let at = find(&archive, b"MARKER-CONF-LINE");
    archive[at] ^= 0x01;
    let options = ExtractOptions {
        owner: None,
        cancel: &NOT_CANCELLED,
    };
    let mut out = Vec::new();
    let err = extract_to_tar(archive.as_slice(), "s", &mut out, &options, &mut |_, _| {});
    assert!(
        matches!(&err, Err(ArchiveError::ChecksumMismatch { path, .. }) if path == "postgresql.conf"),
        "{err:?}"
    );
    // Nothing after the failure: no end-of-archive blocks that would make
    // the cut stream look complete.
    assert!(!out.is_empty() && !out.ends_with(&[0; 1024]));
}
