//! The shell fixtures that make test hosts: `fixtures/NAME/up.sh DIR ARGS...`
//! builds one and records what it made in DIR; `down.sh DIR` removes it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::describe;

fn script(fixture: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture)
        .join(name)
}

/// Runs `up.sh DIR ARGS...`; panics with its output when it fails (up.sh
/// has then removed what it made).
pub fn up(fixture: &str, dir: &Path, args: &[&str]) {
    let out = Command::new("bash")
        .arg(script(fixture, "up.sh"))
        .arg(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run fixtures/{fixture}/up.sh: {e}"));
    assert!(
        out.status.success(),
        "fixtures/{fixture}/up.sh failed: {}",
        describe(&out)
    );
}

/// Runs `down.sh DIR`, for a guard's `Drop`: a failure panics, or is only
/// printed while the test already panics (a second panic would abort and
/// hide the first).
pub fn down(fixture: &str, dir: &Path) {
    let out = Command::new("bash")
        .arg(script(fixture, "down.sh"))
        .arg(dir)
        .output();
    let failed = match &out {
        Ok(out) if out.status.success() => return,
        Ok(out) => describe(out),
        Err(e) => e.to_string(),
    };
    if std::thread::panicking() {
        eprintln!("fixtures/{fixture}/down.sh failed: {failed}");
    } else {
        panic!("fixtures/{fixture}/down.sh failed: {failed}");
    }
}

/// The whitespace-separated fields up.sh recorded in `DIR/file`.
pub fn recorded(dir: &Path, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()));
    text.split_whitespace().map(str::to_string).collect()
}

/// Whether `pid` is a running process. A zombie (state `Z`) counts as gone:
/// it has exited and only waits for its parent, which may be a pid 1 that
/// collects orphans late, to reap it.
pub fn running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    !matches!(state.and_then(|s| s.chars().next()), None | Some('Z'))
}

/// The pid a fixture's pid file holds.
pub fn read_pid(file: &Path) -> u32 {
    let text =
        std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{} holds no pid: {e}", file.display()))
}
