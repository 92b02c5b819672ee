//! Running iptables: the [`Runner`] seam, the choice of backend, reading
//! `DOCKER-USER`, and changing it in `iptables-restore` transactions.
//!
//! Debian 11 and later ship two iptables backends side by side. Rules added
//! through one are invisible to the other, and the kernel runs both, so a
//! rule only protects Docker's forwarding if it sits next to Docker's own
//! rules. We therefore ask each backend where Docker's chains are instead of
//! trusting whichever `iptables` the alternatives system points at.

use std::io::Write;
use std::process::{Command, Stdio};

use super::chain::{LiveRule, parse_chain};
use super::rules::{Family, Rule, restore_script};
use super::{CHAIN, FirewallError};

/// What a finished program said.
#[derive(Debug, Clone, Default)]
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a program to completion, feeding it `stdin`. The seam that lets
/// the decisions below be tested without root.
pub trait Runner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> std::io::Result<Ran>;
}

/// The real thing: a child process.
pub struct System;

impl Runner for System {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> std::io::Result<Ran> {
        tracing::debug!(program, ?args, "run");
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok(Ran {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Which iptables implementation holds Docker's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `iptables-nft`: the nf_tables kernel API.
    Nft,
    /// `iptables-legacy`: the older x_tables API.
    Legacy,
    /// Plain `iptables`, on systems that ship only one implementation.
    Plain,
}

impl Backend {
    /// The iptables program for a family.
    pub fn program(self, family: Family) -> &'static str {
        match (self, family) {
            (Backend::Nft, Family::V4) => "iptables-nft",
            (Backend::Nft, Family::V6) => "ip6tables-nft",
            (Backend::Legacy, Family::V4) => "iptables-legacy",
            (Backend::Legacy, Family::V6) => "ip6tables-legacy",
            (Backend::Plain, Family::V4) => "iptables",
            (Backend::Plain, Family::V6) => "ip6tables",
        }
    }

    /// The matching `iptables-restore`.
    pub fn restore_program(self, family: Family) -> &'static str {
        match (self, family) {
            (Backend::Nft, Family::V4) => "iptables-nft-restore",
            (Backend::Nft, Family::V6) => "ip6tables-nft-restore",
            (Backend::Legacy, Family::V4) => "iptables-legacy-restore",
            (Backend::Legacy, Family::V6) => "ip6tables-legacy-restore",
            (Backend::Plain, Family::V4) => "iptables-restore",
            (Backend::Plain, Family::V6) => "ip6tables-restore",
        }
    }
}

/// What one backend shows of Docker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub backend: Backend,
    /// The filter table has a `DOCKER-USER` chain.
    pub docker_user: bool,
    /// How many DNAT rules (published ports) the nat table's DOCKER chain has.
    pub dnat_rules: usize,
}

/// The backend to use: one with a `DOCKER-USER` chain, preferring the one
/// whose DOCKER chain holds more published ports (a daemon that switched
/// backends can leave an empty chain behind in the other), then the order
/// of `probes` (nf_tables first, Debian's default).
pub fn choose(probes: &[Probe]) -> Option<Backend> {
    let mut best: Option<&Probe> = None;
    for probe in probes.iter().filter(|p| p.docker_user) {
        if best.is_none_or(|b| probe.dnat_rules > b.dnat_rules) {
            best = Some(probe);
        }
    }
    best.map(|p| p.backend)
}

/// Finds the backend that holds Docker's IPv4 rules.
pub fn detect(runner: &dyn Runner) -> Result<Backend, FirewallError> {
    let mut probes = Vec::new();
    for backend in [Backend::Nft, Backend::Legacy] {
        probes.extend(probe(runner, backend)?);
    }
    if probes.is_empty() {
        probes.extend(probe(runner, Backend::Plain)?);
    }
    if probes.is_empty() {
        return Err(FirewallError::NoIptables {
            program: "iptables".into(),
        });
    }
    tracing::debug!(?probes, "iptables backends");
    choose(&probes).ok_or_else(|| FirewallError::NoDockerUserChain {
        program: probes
            .iter()
            .map(|p| p.backend.program(Family::V4))
            .collect::<Vec<_>>()
            .join(" or "),
    })
}

/// Looks at Docker's chains through one backend; `None` when its program
/// is not installed.
fn probe(runner: &dyn Runner, backend: Backend) -> Result<Option<Probe>, FirewallError> {
    let program = backend.program(Family::V4);
    let Some(filter) = run_if_installed(runner, program, &["-t", "filter", "-S", CHAIN])? else {
        return Ok(None);
    };
    let nat = run(runner, program, &["-t", "nat", "-S", "DOCKER"], None)?;
    let dnat_rules = match nat.success {
        true => nat
            .stdout
            .lines()
            .filter(|l| l.contains(" -j DNAT"))
            .count(),
        false => 0,
    };
    Ok(Some(Probe {
        backend,
        docker_user: filter.success,
        dnat_rules,
    }))
}

/// The rules of `DOCKER-USER` in one family, or `None` without that chain.
pub fn read_chain(
    runner: &dyn Runner,
    backend: Backend,
    family: Family,
) -> Result<Option<Vec<LiveRule>>, FirewallError> {
    let program = backend.program(family);
    match run_if_installed(runner, program, &["-t", "filter", "-S", CHAIN])? {
        None => Err(FirewallError::NoIptables {
            program: program.into(),
        }),
        Some(ran) if ran.success => Ok(Some(parse_chain(&ran.stdout))),
        Some(_) => Ok(None),
    }
}

/// One family's change: the chain as read, and the rules it should hold
/// (none, to remove pgshadow's rules for the port).
#[derive(Debug, Clone)]
pub struct Change {
    pub family: Family,
    pub port: u16,
    pub live: Vec<LiveRule>,
    pub wanted: Vec<Rule>,
}

impl Change {
    /// pgshadow's rules for the port that are in the chain now.
    fn ours(&self) -> Vec<&LiveRule> {
        self.live
            .iter()
            .filter(|r| r.is_pgshadow(self.port))
            .collect()
    }

    /// Deletes the old rules and inserts the wanted ones at the top.
    fn forward_script(&self) -> String {
        let deletes: Vec<Vec<String>> = self.ours().iter().map(|r| r.args.clone()).collect();
        restore_script(&deletes, &super::rules::at_top(&self.wanted))
    }

    /// Undoes [`Change::forward_script`]: deletes the wanted rules and puts
    /// the old ones back where they were. Inserting them in ascending
    /// position rebuilds the chain exactly, since nothing else moved.
    fn undo_script(&self) -> String {
        let deletes: Vec<Vec<String>> = self.wanted.iter().map(Rule::args).collect();
        let inserts: Vec<(usize, Vec<String>)> = self
            .ours()
            .iter()
            .map(|r| (r.position, r.args.clone()))
            .collect();
        restore_script(&deletes, &inserts)
    }
}

/// Applies the changes, each family in one transaction. When a later
/// family fails, the earlier ones are rolled back, so the firewall is left
/// as it was found.
pub fn commit(
    runner: &dyn Runner,
    backend: Backend,
    changes: &[Change],
) -> Result<(), FirewallError> {
    for (done, change) in changes.iter().enumerate() {
        if change.ours().is_empty() && change.wanted.is_empty() {
            continue;
        }
        let program = backend.restore_program(change.family);
        if let Err(error) = run_checked(runner, program, &["--noflush"], &change.forward_script()) {
            roll_back(runner, backend, &changes[..done]);
            return Err(error);
        }
    }
    Ok(())
}

/// Undoes changes that [`commit`] made, latest first. Best effort: a
/// failure is logged, since the caller is already reporting the first one.
pub fn roll_back(runner: &dyn Runner, backend: Backend, changes: &[Change]) {
    for change in changes.iter().rev() {
        if change.ours().is_empty() && change.wanted.is_empty() {
            continue;
        }
        let program = backend.restore_program(change.family);
        if let Err(e) = run_checked(runner, program, &["--noflush"], &change.undo_script()) {
            tracing::error!(family = %change.family, "rolling back failed: {e}");
        }
    }
}

/// Runs a restore script; a non-zero exit is an error carrying stderr.
fn run_checked(
    runner: &dyn Runner,
    program: &str,
    args: &[&str],
    script: &str,
) -> Result<(), FirewallError> {
    tracing::debug!(program, script, "restore");
    let ran = run(runner, program, args, Some(script))?;
    match ran.success {
        true => Ok(()),
        false => Err(FirewallError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: without_warnings(&ran.stderr),
        }),
    }
}

fn run(
    runner: &dyn Runner,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Ran, FirewallError> {
    runner
        .run(program, args, stdin)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => FirewallError::NoIptables {
                program: program.into(),
            },
            _ => FirewallError::Spawn {
                program: program.into(),
                source,
            },
        })
}

fn run_if_installed(
    runner: &dyn Runner,
    program: &str,
    args: &[&str],
) -> Result<Option<Ran>, FirewallError> {
    match run(runner, program, args, None) {
        Err(FirewallError::NoIptables { .. }) => Ok(None),
        other => other.map(Some),
    }
}

/// iptables-nft warns on every call while legacy tables exist; that is noise
/// in an error message.
fn without_warnings(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("# Warning:") && !l.trim().is_empty())
        .collect();
    lines.join("; ")
}

#[cfg(test)]
mod tests;
