//! `pgshadow firewall`: print, apply, remove or check the `DOCKER-USER` rules
//! that close the primary's published port to all but the allowed sources.

use clap::Args;

use super::Globals;
use crate::config::Cidr;
use crate::error::Error;
use crate::firewall::iptables::{self, Change, read_chain};
use crate::firewall::rules::{comment, insert_commands};
use crate::firewall::{Backend, Drift, Family, FirewallError, Plan, Runner, System};

/// The long `--help` text: why ufw is not enough, and what the rules do.
pub const ABOUT: &str = "\
Close the primary's published port to everyone but the standby

Docker publishes a container's port by rewriting each packet's destination in
the nat table, before any filter rule sees it, and then forwards the packet to
the container. Forwarded packets never pass the INPUT chain, which is where
ufw and most host firewalls keep their rules: `ufw deny 5432` leaves a port
published with `-p 5432:5432` open to the whole internet.

Docker sends every forwarded packet through the DOCKER-USER chain first and
never touches that chain's contents. pgshadow puts its rules at the top of it:
an ACCEPT for each allowed source, then a DROP for everyone else, matching the
port the client dialled (conntrack's original destination port, since by then
the packet is addressed to the container's port). Each rule carries the
comment `pgshadow:<port>`, so pgshadow finds and replaces only its own rules.
IPv6 sources get the same rules in ip6tables. The rules use the iptables
backend (nf_tables or legacy) that holds Docker's own rules.

Connections from the host itself (127.0.0.1) do not pass DOCKER-USER and stay
open. The rules last until reboot; the output says how to keep them.";

const EXAMPLES: &str = "\
Examples:
  pgshadow firewall --allow 198.51.100.7
  sudo pgshadow firewall --apply --allow 198.51.100.7/32 --port 5432
  sudo pgshadow firewall --check || echo \"the firewall differs from the config\"
  sudo pgshadow firewall --remove --port 5432";

/// Print, apply, remove or check the DOCKER-USER rules for the primary's port.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct FirewallArgs {
    /// A source allowed to connect (repeat or separate with commas)
    /// [default: primary.allow; env PGSHADOW_PRIMARY_ALLOW]
    #[arg(long, value_name = "ADDR[/PREFIX]", value_delimiter = ',')]
    pub allow: Vec<String>,

    /// The port the primary is published on, on this host
    /// [default: primary.port, 5432; env PGSHADOW_PRIMARY_PORT]
    #[arg(long, value_name = "N")]
    pub port: Option<String>,

    #[command(flatten)]
    pub action: Action,
}

/// What to do; `--print` when none is given.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Action {
    /// Print the rules as commands, and how to keep them across reboots (the default)
    #[arg(long)]
    pub print: bool,
    /// Install the rules (needs root), replacing pgshadow's earlier rules for the port
    #[arg(long)]
    pub apply: bool,
    /// Remove pgshadow's rules for the port (needs root); other rules stay
    #[arg(long)]
    pub remove: bool,
    /// Exit 0 when the live rules match the configuration, else 1 with the difference
    #[arg(long)]
    pub check: bool,
}

/// Runs `pgshadow firewall`.
pub fn run(globals: &Globals, args: FirewallArgs) -> Result<u8, Error> {
    let mut flags = Vec::new();
    if !args.allow.is_empty() {
        flags.push(("primary.allow", args.allow.join(","), "--allow"));
    }
    if let Some(port) = args.port {
        flags.push(("primary.port", port, "--port"));
    }
    let config = globals.load_config(flags)?;
    let (port, allow) = (config.primary.port, config.primary.allow.as_slice());

    let runner = System;
    let action = &args.action;
    if action.remove {
        return remove(&runner, port);
    }
    // An empty allow list is refused before anything is read or changed.
    Plan::new(port, allow, false)?;
    match (action.apply, action.check) {
        (true, _) => apply(&runner, port, allow),
        (_, true) => check(&runner, port, allow),
        _ => print(&runner, port, allow),
    }
}

/// Refuses to go on without root, then finds the backend with Docker's rules.
fn backend(runner: &dyn Runner) -> Result<Backend, FirewallError> {
    let uid = nix::unistd::geteuid();
    if !uid.is_root() {
        return Err(FirewallError::NotRoot { uid: uid.as_raw() });
    }
    iptables::detect(runner)
}

/// The live state and the wanted rules, one [`Change`] per family. The plan
/// covers IPv6 when ip6tables has a DOCKER-USER chain (Docker filters IPv6)
/// or an IPv6 source is allowed; the latter without the chain is an error.
fn prepare(
    runner: &dyn Runner,
    backend: Backend,
    port: u16,
    allow: &[Cidr],
) -> Result<(Plan, Vec<Change>), FirewallError> {
    let v4 = read_chain(runner, backend, Family::V4)?;
    let v6 = read_chain(runner, backend, Family::V6).unwrap_or(None);
    let plan = Plan::new(port, allow, v6.is_some())?;
    let mut changes = Vec::new();
    for (family, live) in [(Family::V4, v4), (Family::V6, v6)] {
        if !plan.families().contains(&family) {
            continue;
        }
        let live = live.ok_or_else(|| FirewallError::NoDockerUserChain {
            program: backend.program(family).into(),
        })?;
        let wanted = plan.rules(family);
        changes.push(Change {
            family,
            port,
            live,
            wanted,
        });
    }
    Ok((plan, changes))
}

fn drift(change: &Change) -> Drift {
    Drift::between(change.family, &change.wanted, &change.live)
}

/// `--apply`: one transaction per family, then a read-back that proves it.
fn apply(runner: &dyn Runner, port: u16, allow: &[Cidr]) -> Result<u8, Error> {
    let backend = backend(runner)?;
    let (plan, changes) = prepare(runner, backend, port, allow)?;
    if changes.iter().all(|c| drift(c).is_clean()) {
        println!("ok: the rules for port {port} are already in place; nothing changed");
        return Ok(0);
    }
    iptables::commit(runner, backend, &changes)?;

    let (_, after) = prepare(runner, backend, port, allow)?;
    if let Some(off) = after.iter().map(drift).find(|d| !d.is_clean()) {
        iptables::roll_back(runner, backend, &changes);
        return Err(Error::Failed {
            message: format!("read back the {} rules for port {port}", off.family),
            hint: Some(format!(
                "they differed after applying, so they were rolled back: {}",
                off.lines().join("; ")
            )),
        });
    }
    for change in &changes {
        let program = backend.program(change.family);
        println!(
            "applied: {program} {}: {} (replaced {} earlier pgshadow rules)",
            crate::firewall::CHAIN,
            describe(&change.wanted),
            change.live.iter().filter(|r| r.is_pgshadow(port)).count(),
        );
    }
    print!("\n{}", persistence(&plan));
    Ok(0)
}

/// `--remove`: pgshadow's rules for the port, in every family that has them.
fn remove(runner: &dyn Runner, port: u16) -> Result<u8, Error> {
    let backend = backend(runner)?;
    let mut changes = Vec::new();
    for family in [Family::V4, Family::V6] {
        let live = match read_chain(runner, backend, family) {
            Ok(Some(live)) => live,
            Ok(None) | Err(_) if family == Family::V6 => continue,
            Ok(None) => {
                let program = backend.program(family).into();
                return Err(FirewallError::NoDockerUserChain { program }.into());
            }
            Err(e) => return Err(e.into()),
        };
        changes.push(Change {
            family,
            port,
            live,
            wanted: Vec::new(),
        });
    }
    iptables::commit(runner, backend, &changes)?;

    for change in &changes {
        let count = change.live.iter().filter(|r| r.is_pgshadow(port)).count();
        let program = backend.program(change.family);
        match count {
            0 => println!("ok: {program}: no pgshadow rules for port {port}; nothing changed"),
            n => println!(
                "removed: {program}: {n} rules commented `{}`",
                comment(port)
            ),
        }
    }
    Ok(0)
}

/// `--check`: exit 0 when every family holds exactly the wanted rules.
fn check(runner: &dyn Runner, port: u16, allow: &[Cidr]) -> Result<u8, Error> {
    let backend = backend(runner)?;
    let (_, changes) = prepare(runner, backend, port, allow)?;
    let mut clean = true;
    for change in &changes {
        let program = backend.program(change.family);
        let drift = drift(change);
        if drift.is_clean() {
            println!("ok: {program}: {}", describe(&change.wanted));
            continue;
        }
        clean = false;
        println!(
            "differs: {program} {} for port {port}:",
            crate::firewall::CHAIN
        );
        for line in drift.lines() {
            println!("  {line}");
        }
    }
    if !clean {
        println!("run `pgshadow firewall --apply` to install the configured rules");
    }
    Ok(if clean { 0 } else { 1 })
}

/// `--print`: the commands. As root the backend is the detected one; without
/// root, or without Docker's chains, the system's default `iptables`.
fn print(runner: &dyn Runner, port: u16, allow: &[Cidr]) -> Result<u8, Error> {
    let (backend, ipv6_chain, note) = match backend(runner) {
        Ok(backend) => {
            let v6 = read_chain(runner, backend, Family::V6).unwrap_or(None);
            let note = format!("{} holds Docker's rules here", backend.program(Family::V4));
            (backend, v6.is_some(), note)
        }
        Err(FirewallError::NotRoot { .. }) => {
            let note = "unknown without root; `iptables` below is the system default";
            (Backend::Plain, false, note.to_string())
        }
        Err(e) => (
            Backend::Plain,
            false,
            format!("{e}; `iptables` below is the system default"),
        ),
    };
    let plan = Plan::new(port, allow, ipv6_chain)?;
    let note = match plan.ipv6 && !ipv6_chain && backend != Backend::Plain {
        true => format!("{note}; ip6tables has no DOCKER-USER chain, so --apply refuses IPv6"),
        false => note,
    };

    let sources: Vec<String> = plan.sources.iter().map(Cidr::to_string).collect();
    println!(
        "# pgshadow firewall: published port {port}, allowed {}",
        sources.join(", ")
    );
    println!("# backend: {note}");
    println!(
        "# first remove earlier rules commented `{}`, if any;",
        comment(port)
    );
    println!("# `pgshadow firewall --apply` replaces them in one step");
    for family in plan.families() {
        for command in insert_commands(backend.program(family), &plan.rules(family)) {
            println!("{command}");
        }
    }
    print!("\n{}", persistence(&plan));
    Ok(0)
}

/// "ACCEPT from a, b, then DROP (3 rules)".
fn describe(rules: &[crate::firewall::Rule]) -> String {
    let sources: Vec<String> = rules
        .iter()
        .filter_map(|r| r.source.map(|s| s.to_string()))
        .collect();
    let accepts = match sources.is_empty() {
        true => String::new(),
        false => format!("ACCEPT from {}, then ", sources.join(", ")),
    };
    format!("{accepts}DROP from everyone else ({} rules)", rules.len())
}

/// How to keep the rules across a reboot. pgshadow never does this itself:
/// saving the ruleset also freezes Docker's own rules, a choice for the admin.
fn persistence(plan: &Plan) -> String {
    let sources: Vec<String> = plan.sources.iter().map(Cidr::to_string).collect();
    format!(
        "# These rules last until the next reboot. To keep them, either\n\
         #  - save the live ruleset (Docker's own rules included, which Docker rewrites at start):\n\
         #      apt-get install iptables-persistent && netfilter-persistent save\n\
         #  - or apply them after Docker starts, from a systemd unit with\n\
         #      After=docker.service  Requires=docker.service  Type=oneshot\n\
         #      ExecStart=/usr/local/bin/pgshadow firewall --apply --port {} --allow {}\n",
        plan.port,
        sources.join(",")
    )
}
