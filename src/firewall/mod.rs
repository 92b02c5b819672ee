//! Closing a published PostgreSQL port to everyone but the standby, the way
//! Docker needs it.
//!
//! Docker publishes a port by rewriting the destination in the nat table's
//! PREROUTING chain, so the packet is *forwarded* to the container and never
//! passes the INPUT chain where ufw and most host firewalls live. The only
//! place Docker leaves for our own filtering is the `DOCKER-USER` chain,
//! which FORWARD jumps to first. By then the destination port is the
//! container's, not the published one, so the rules match conntrack's
//! record of the *original* destination port (`--ctorigdstport`).
//!
//! The module is split so that every decision is testable without root:
//! - [`rules`]: the wanted rule set for a port and its allowed sources, as
//!   argument lists, readable commands and `iptables-restore` scripts;
//! - [`chain`]: parsing `iptables -S DOCKER-USER`, finding pgshadow's rules
//!   by their comment, and the difference between live and wanted rules;
//! - [`iptables`]: the seam that runs the real binaries, the choice of
//!   backend (nf_tables or legacy, whichever holds Docker's rules) and the
//!   atomic apply and remove.

pub mod chain;
pub mod iptables;
pub mod rules;

pub use chain::{Drift, LiveRule, parse_chain};
pub use iptables::{Backend, Runner, System};
pub use rules::{Family, Plan, Rule, Verdict};

/// The chain Docker leaves for the administrator's own forwarding rules.
pub const CHAIN: &str = "DOCKER-USER";

/// A failure to read or change the firewall. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("find `{program}`: it is not installed")]
    NoIptables { program: String },
    #[error("run iptables as uid {uid}: it needs root")]
    NotRoot { uid: u32 },
    #[error("find the {CHAIN} chain with {program}")]
    NoDockerUserChain { program: String },
    #[error("plan rules for port {port}: no allowed sources")]
    NoSources { port: u16 },
    #[error("run `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
}

impl FirewallError {
    /// Whether the user asked for something impossible (exit 2) rather than
    /// the system failing (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, FirewallError::NoSources { .. })
    }

    /// What the user can do about it, where we know.
    pub fn hint(&self) -> Option<String> {
        match self {
            FirewallError::NoIptables { .. } => {
                Some("install it: `apt-get install iptables` (Debian, Ubuntu)".into())
            }
            FirewallError::NotRoot { .. } => Some(
                "run it with sudo; `pgshadow firewall --print` shows the rules without root".into(),
            ),
            FirewallError::NoDockerUserChain { program } if program.starts_with("ip6") => Some(
                "Docker does not filter IPv6 here (no \"ip6tables\": true in daemon.json), so \
                 IPv6 traffic to a published port goes through docker-proxy and the INPUT \
                 chain: leave IPv6 addresses out of --allow and filter them there"
                    .into(),
            ),
            FirewallError::NoDockerUserChain { .. } => Some(
                "is Docker running, and with its iptables integration on (no \"iptables\": \
                 false in /etc/docker/daemon.json)?"
                    .into(),
            ),
            FirewallError::NoSources { .. } => {
                Some("pass --allow ADDR[/PREFIX] or set primary.allow in the config".into())
            }
            _ => None,
        }
    }
}
