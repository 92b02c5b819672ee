//! An SSH host for the tests: an sshd of its own in a network namespace,
//! reached as `ssh://root@ADDR`, whose `docker system dial-stdio` lands on
//! this machine's engine (see `fixtures/ssh/up.sh`).
//!
//! The guard runs `down.sh` when it drops, also when the test panics; that
//! removes the sshd and its sessions, the agent, ssh masters a client left
//! behind, the namespace, the known_hosts line and the directory.

use std::path::PathBuf;

use super::*;

/// A running SSH host, removed when dropped.
pub struct SshHost {
    /// Everything the fixture keeps to itself: sshd's config, keys, pid files,
    /// logs, the agent's socket, and the ssh masters' control sockets.
    pub dir: PathBuf,
    /// The address sshd listens on (port 22), inside the namespace.
    pub address: String,
    /// What pgshadow is given as the engine: `ssh://root@ADDR`.
    pub url: String,
}

impl SshHost {
    /// Starts the SSH host in a fresh directory under /tmp; panics with up.sh's
    /// output when it fails (up.sh has then removed what it made).
    pub fn start() -> SshHost {
        require_docker();
        let dir = PathBuf::from("/tmp").join(unique("pgshadow-ssh"));
        fixture::up("ssh", &dir, &[]);

        // up.sh records "NETNS HOST_IF HOST_ADDR ADDR" in DIR/netns.
        let address = fixture::recorded(&dir, "netns")
            .into_iter()
            .nth(3)
            .expect("address in DIR/netns");
        SshHost {
            url: format!("ssh://root@{address}"),
            address,
            dir,
        }
    }

    /// The environment a `pgshadow` child needs: the agent holding the
    /// client key, and a state directory inside DIR, where the `openssh`
    /// crate puts the control sockets of the ssh masters it starts (else
    /// `~/.local/state`).
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            (
                "SSH_AUTH_SOCK",
                self.dir.join("agent.sock").display().to_string(),
            ),
            (
                "XDG_STATE_HOME",
                self.dir.join("state").display().to_string(),
            ),
        ]
    }

    /// Pids of `ssh` client processes whose command line names DIR: the
    /// masters bollard's connections start, while they run.
    pub fn ssh_clients(&self) -> Vec<u32> {
        let dir = self.dir.display().to_string();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if comm.trim() == "ssh" && String::from_utf8_lossy(&cmdline).contains(&dir) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Control directories (`.ssh-connection*`) the `openssh` crate made in
    /// DIR/state and did not remove: one per ssh master it did not close.
    pub fn control_dirs_left(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("state")) else {
            return Vec::new();
        };
        entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".ssh-connection"))
            .collect()
    }

    /// sshd's log (connections, accepted keys, sessions).
    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }

    /// The network namespace's name.
    pub fn netns(&self) -> String {
        fixture::recorded(&self.dir, "netns")
            .into_iter()
            .next()
            .expect("namespace in DIR/netns")
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        fixture::down("ssh", &self.dir);
    }
}
