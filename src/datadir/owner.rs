//! Owner and modes of a data directory: the image's postgres uid:gid on
//! every entry, 0700 on the directory itself, 0600 on private keys.
//!
//! PostgreSQL refuses to start on a data directory it does not own or that
//! others can read, and refuses keys with group or world access. The
//! decisions are pure ([`plan_modes`]); the system calls sit behind
//! [`FsOps`] so that the walk is unit-tested without root.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::dir_queue::DirQueue;
use super::{DatadirError, io};
use crate::config::Owner;

/// The file-system calls the walk makes.
pub trait FsOps {
    /// Changes the owner of `path` without following a symlink.
    fn lchown(&self, path: &Path, owner: Owner) -> io::Result<()>;
    /// Changes the owner of the entry `name` of the directory `dir` (open
    /// as `handle`) without following a symlink.
    fn lchown_in(&self, handle: &File, dir: &Path, name: &OsStr, owner: Owner) -> io::Result<()>;
    /// Sets the permission bits of `path`.
    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()>;
}

/// The real system calls.
pub struct SystemFs;

impl FsOps for SystemFs {
    fn lchown(&self, path: &Path, owner: Owner) -> io::Result<()> {
        std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))
    }

    /// `fchownat` relative to the open directory: the kernel resolves one
    /// name instead of the whole path, as `chown -R` does.
    fn lchown_in(&self, handle: &File, _dir: &Path, name: &OsStr, owner: Owner) -> io::Result<()> {
        nix::unistd::fchownat(
            handle,
            name,
            Some(nix::unistd::Uid::from_raw(owner.uid)),
            Some(nix::unistd::Gid::from_raw(owner.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(io::Error::from)
    }

    fn chmod(&self, path: &Path, mode: u32) -> io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
}

/// What the walk did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OwnerPlan {
    /// Entries whose owner was set.
    pub chowned: u64,
    /// Entries whose mode was changed.
    pub chmodded: u64,
}

/// The mode an entry must have, if its current one is not acceptable.
/// `relative` is the path inside the data directory ("" for the directory itself).
pub fn plan_modes(relative: &Path, is_dir: bool, mode: u32) -> Option<u32> {
    let bits = mode & 0o7777;
    if relative.as_os_str().is_empty() {
        return (bits != 0o700).then_some(0o700);
    }
    if mode_matters(relative, is_dir) && bits & 0o077 != 0 {
        return Some(0o600);
    }
    None
}

/// Whether [`plan_modes`] looks at this entry's mode at all: only the
/// directory itself and private keys. The walk reads no metadata for the
/// others, which is most of what it would otherwise spend its time on.
pub fn mode_matters(relative: &Path, is_dir: bool) -> bool {
    relative.as_os_str().is_empty() || (!is_dir && relative.extension().is_some_and(|e| e == "key"))
}

/// Gives every entry under `root` (and `root` itself) to `owner` and fixes
/// the modes [`plan_modes`] asks for. Symlinks are re-owned, not followed.
pub fn set_owner_and_modes(root: &Path, owner: Owner) -> Result<OwnerPlan, DatadirError> {
    walk(root, owner, &SystemFs)
}

/// [`set_owner_and_modes`] over any [`FsOps`].
///
/// Entry types come from the directory listing (`d_type`), so an entry is
/// only inspected when its mode matters; owners are changed relative to
/// the open directory; and directories are shared out to a few threads.
/// Each of these made the walk faster than `chown -R` on 100,000 files
/// (docs/BENCHMARKS.md, item 4).
pub fn walk(
    root: &Path,
    owner: Owner,
    ops: &(impl FsOps + Sync),
) -> Result<OwnerPlan, DatadirError> {
    let mut plan = OwnerPlan::default();
    let meta = std::fs::symlink_metadata(root).map_err(io("inspect", root))?;
    ops.lchown(root, owner)
        .map_err(io("change the owner of", root))?;
    plan.chowned += 1;
    if meta.file_type().is_symlink() {
        return Ok(plan);
    }
    if let Some(mode) = plan_modes(Path::new(""), meta.is_dir(), meta.permissions().mode()) {
        ops.chmod(root, mode)
            .map_err(io("change the mode of", root))?;
        plan.chmodded += 1;
    }
    if !meta.is_dir() {
        return Ok(plan);
    }

    let queue = DirQueue::new(root.to_path_buf());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(WORKERS));
    let outcomes: Vec<Result<OwnerPlan, DatadirError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| walk_worker(&queue, owner, ops)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("an ownership walk thread panicked"))
            .collect()
    });
    for outcome in outcomes {
        let part = outcome?;
        plan.chowned += part.chowned;
        plan.chmodded += part.chmodded;
    }
    Ok(plan)
}

/// Threads of the walk at most: owner changes are mostly kernel time, and
/// more threads than this only contend for the file system's journal.
const WORKERS: usize = 4;

/// One thread of the walk: directories from the queue until it is empty.
fn walk_worker(
    queue: &DirQueue,
    owner: Owner,
    ops: &impl FsOps,
) -> Result<OwnerPlan, DatadirError> {
    let mut plan = OwnerPlan::default();
    let _guard = StopOnPanic(queue);
    while let Some(dir) = queue.take() {
        let mut found = Vec::new();
        match change_entries(&dir, owner, ops, &mut plan, &mut found) {
            Ok(()) => queue.done(found),
            Err(e) => {
                queue.stop();
                return Err(e);
            }
        }
    }
    Ok(plan)
}

/// Stops the other workers when this one panics, so that none waits
/// forever for the directory it held; the panic then reaches `walk`.
struct StopOnPanic<'a>(&'a DirQueue);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Gives every entry of `dir` to `owner`, fixes key modes, and queues the
/// subdirectories (not symlinks to directories) on `pending`.
fn change_entries(
    dir: &Path,
    owner: Owner,
    ops: &impl FsOps,
    plan: &mut OwnerPlan,
    pending: &mut Vec<PathBuf>,
) -> Result<(), DatadirError> {
    let handle = File::open(dir).map_err(io("open", dir))?;
    for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
        let entry = entry.map_err(io("read", dir))?;
        let name = entry.file_name();
        let file_type = entry
            .file_type()
            .map_err(|e| io("inspect", &entry.path())(e))?;
        ops.lchown_in(&handle, dir, &name, owner)
            .map_err(|e| io("change the owner of", &entry.path())(e))?;
        plan.chowned += 1;

        if file_type.is_dir() {
            pending.push(entry.path());
        } else if file_type.is_file() && mode_matters(Path::new(&name), false) {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(io("inspect", &path))?;
            if let Some(mode) = plan_modes(Path::new(&name), false, meta.permissions().mode()) {
                ops.chmod(&path, mode)
                    .map_err(io("change the mode of", &path))?;
                plan.chmodded += 1;
            }
        }
    }
    Ok(())
}

/// Gives `dir` to `owner`: with system calls when pgshadow runs as root,
/// otherwise through a short-lived helper container running as root.
pub async fn give_to_owner(
    engine: &crate::docker::Engine,
    image: &str,
    dir: &Path,
    owner: Owner,
) -> Result<(), crate::Error> {
    if nix::unistd::geteuid().is_root() {
        let plan = set_owner_and_modes(dir, owner)?;
        tracing::debug!(path = %dir.display(), chowned = plan.chowned, chmodded = plan.chmodded, "owner set locally");
        return Ok(());
    }
    tracing::debug!(path = %dir.display(), "not root: setting the owner through a helper container");
    let script = format!(
        "chown -R -h {owner} /d && chmod 0700 /d && find /d -name '*.key' -exec chmod 0600 {{}} +"
    );
    let spec = crate::docker::OneShot {
        role: "chown",
        image: image.to_string(),
        cmd: vec!["sh".into(), "-c".into(), script],
        user: Some("0:0".into()),
        entrypoint: vec![],
        mounts: vec![crate::docker::Mount {
            source: dir.to_path_buf(),
            target: "/d".into(),
            read_only: false,
        }],
        ..Default::default()
    };
    let finished = engine
        .run_oneshot(&spec, |_, line| tracing::trace!("{line}"))
        .await?;
    if !finished.success() {
        return Err(crate::Error::Failed {
            message: format!(
                "set the owner of {} to {owner}: {}",
                dir.display(),
                finished.stderr.trim()
            ),
            hint: None,
        });
    }
    Ok(())
}
