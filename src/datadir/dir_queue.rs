//! The directories still to visit in the parallel ownership walk, shared
//! by its worker threads. A worker takes a directory, changes its entries,
//! hands back the subdirectories it found and says it is done; the walk is
//! over when the stack is empty and no worker is busy, or when one failed.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

#[derive(Default)]
struct State {
    pending: Vec<PathBuf>,
    busy: usize,
    stopped: bool,
}

/// A stack of directories with a count of busy workers.
#[derive(Default)]
pub(super) struct DirQueue {
    state: Mutex<State>,
    changed: Condvar,
}

impl DirQueue {
    pub fn new(first: PathBuf) -> DirQueue {
        let queue = DirQueue::default();
        queue.lock().pending.push(first);
        queue
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A worker that panicked holds no invariant we rely on: go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next directory, waiting while others may still find some;
    /// `None` when the walk is over. The caller must call [`Self::done`].
    pub fn take(&self) -> Option<PathBuf> {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return None;
            }
            if let Some(dir) = state.pending.pop() {
                state.busy += 1;
                return Some(dir);
            }
            if state.busy == 0 {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Hands back the subdirectories found in a taken directory and marks
    /// that directory done.
    pub fn done(&self, found: Vec<PathBuf>) {
        let mut state = self.lock();
        state.pending.extend(found);
        state.busy -= 1;
        self.changed.notify_all();
    }

    /// Ends the walk for every worker (after a failure).
    pub fn stop(&self) {
        let mut state = self.lock();
        state.stopped = true;
        state.busy -= 1;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_ends_when_nothing_is_pending_and_nobody_is_busy() {
        let queue = DirQueue::new("a".into());
        let first = queue.take().unwrap();
        assert_eq!(first, PathBuf::from("a"));
        queue.done(vec!["a/b".into(), "a/c".into()]);
        let mut seen = vec![queue.take().unwrap(), queue.take().unwrap()];
        queue.done(Vec::new());
        queue.done(Vec::new());
        seen.sort();
        assert_eq!(seen, [PathBuf::from("a/b"), PathBuf::from("a/c")]);
        assert_eq!(queue.take(), None);
    }

    #[test]
    fn a_stop_ends_the_walk_with_directories_left() {
        let queue = DirQueue::new("a".into());
        queue.take().unwrap();
        queue.stop();
        assert_eq!(queue.take(), None);
    }
}
