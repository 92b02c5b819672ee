//! The real ownership walk (`set_owner_and_modes`, which `clone-standby`
//! runs when pgshadow is root) on a small tree: every entry, symlinks not
//! followed, keys made private.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use pgshadow::config::Owner;

#[test]
fn the_real_walk_gives_every_entry_to_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    std::fs::create_dir_all(root.join("base/1")).unwrap();
    std::fs::write(root.join("base/1/1259"), "t").unwrap();
    std::fs::write(root.join("server.key"), "k").unwrap();
    std::fs::set_permissions(
        root.join("server.key"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("link")).unwrap();
    let before = std::fs::metadata("/etc/hostname").unwrap();
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test changes owners and must run as root, as the Docker tests do"
    );
    let owner = Owner {
        uid: 4242,
        gid: 4343,
    };

    let plan = pgshadow::datadir::set_owner_and_modes(&root, owner).unwrap();
    assert_eq!(plan.chowned, 6);
    for path in ["", "base", "base/1", "base/1/1259", "server.key", "link"] {
        let meta = std::fs::symlink_metadata(root.join(path)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4242, 4343), "{path}");
    }
    let key = std::fs::metadata(root.join("server.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let after = std::fs::metadata("/etc/hostname").unwrap();
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
}
