"""Ownership: pgshadow's chown walk (`examples/chown_walk.rs`, which calls
`pgshadow::datadir::set_owner_and_modes`) against `chown -R` over the same
tree of 100,000 files. Every run gives the tree to a new uid:gid, so that
both tools really change every entry."""

import os

from harness import BenchError, alternate, log, remove_tree, run


def make_tree(root, files, per_dir=1000):
    """`files` empty 0600 files in folders of `per_dir`, like a data
    directory's base/<oid> folders."""
    os.mkdir(root, 0o700)
    for index in range(files):
        folder = os.path.join(root, f"d{index // per_dir:04}")
        if index % per_dir == 0:
            os.mkdir(folder, 0o700)
        fd = os.open(os.path.join(folder, f"f{index}"), os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def measure(walker, scratch, files, runs):
    """Side-by-side runs; returns {"pgshadow walk": Samples, "chown -R": Samples}."""
    tree = os.path.join(scratch, "chown-tree")
    log(f"ownership: a tree of {files} files")
    make_tree(tree, files)
    owners = iter(range(20000, 30000))

    def with_owner(command):
        def once():
            owner = next(owners)
            run(command(f"{owner}:{owner}"))
            first = os.lstat(os.path.join(tree, "d0000", "f0"))
            if first.st_uid != owner:
                raise BenchError(f"{command(owner)} did not change the owner of {tree}")
            return {}
        return once

    commands = {
        "pgshadow walk": with_owner(lambda owner: [walker, tree, owner]),
        "chown -R": with_owner(lambda owner: ["chown", "-R", owner, tree]),
    }
    # One untimed round fills the dentry and inode caches for both.
    for once in commands.values():
        once()
    try:
        return alternate(runs, commands, between=lambda: None)
    finally:
        remove_tree(tree)
