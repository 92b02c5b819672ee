//! `pgshadow export` and `pgshadow import`: move a standby to another host
//! as a copy of its data directory instead of a new base backup.
//!
//! Both stream an archive ([`crate::archive`]) on a blocking thread while
//! the async side watches for SIGINT/SIGTERM; an interrupt asks the thread
//! to stop between two reads, waits for it, and then undoes what the run did.

pub mod export;
pub mod import;
mod import_summary;
mod remote;

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::archive::ArchiveError;
use crate::error::Error;

/// Runs `work` on a blocking thread. On SIGINT or SIGTERM it raises the
/// cancel flag `work` polls, waits for `work` to return, and reports the
/// interrupt in `stage`.
async fn run_cancellable<T, F>(stage: &'static str, work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&AtomicBool) -> Result<T, ArchiveError> + Send + 'static,
{
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let mut task = tokio::task::spawn_blocking(move || work(&flag));
    let joined = tokio::select! {
        joined = &mut task => joined,
        signal = crate::signals::interrupted() => {
            cancel.store(true, Ordering::Relaxed);
            let _ = task.await;
            return Err(Error::Interrupted { signal, stage });
        }
    };
    match joined {
        Ok(result) => Ok(result?),
        Err(e) => Err(Error::Failed {
            message: format!("{stage}: {e}"),
            hint: None,
        }),
    }
}

/// A duplicate of standard output or input as a plain file, so that the
/// archive bypasses Rust's line buffering and is written in large blocks.
fn std_stream(stdout: bool) -> Result<File, Error> {
    let fd = if stdout {
        std::io::stdout().as_fd().try_clone_to_owned()
    } else {
        std::io::stdin().as_fd().try_clone_to_owned()
    };
    let fd = fd.map_err(|e| Error::Failed {
        message: format!(
            "duplicate standard {}: {e}",
            if stdout { "output" } else { "input" }
        ),
        hint: None,
    })?;
    let file = File::from(fd);
    widen_pipe(&file);
    Ok(file)
}

/// A pipe holds 64 KiB by default; a larger one means fewer context
/// switches between exporter and importer. Best effort: not a pipe, or a
/// limit below 1 MiB (`/proc/sys/fs/pipe-max-size`), leaves it as it is.
fn widen_pipe(file: &File) {
    use nix::fcntl::{FcntlArg, fcntl};
    match fcntl(file, FcntlArg::F_SETPIPE_SZ(1 << 20)) {
        Ok(size) => tracing::debug!(size, "pipe buffer widened"),
        Err(e) => tracing::debug!(error = %e, "pipe buffer left as it is"),
    }
}

/// `1234567` as `1.2 MB`.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
