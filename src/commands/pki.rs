//! `pgshadow pki init | issue client | issue server | inspect`: make the
//! private CA and the certificates for mutual-TLS replication, rotate them,
//! and check a directory of them.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use time::OffsetDateTime;

use super::Globals;
use crate::config::Config;
use crate::error::{EXIT_FAILED, Error};
use crate::pki::inspect::{CertReport, inspect_dir, orphan_keys};
use crate::pki::issue::{CA_DAYS, Host, LEAF_DAYS, Validity, parse_host};
use crate::pki::make::{self, InitPlan};
use crate::pki::store::Written;

const EXAMPLES: &str = "\
Examples:
  pgshadow pki init --dir ./pki --primary-host 203.0.113.10 --standby-host 198.51.100.7
  pgshadow pki issue client --dir ./pki --user replication_user
  pgshadow pki inspect --dir ./pki --warn-days 60";

/// Make the private CA and the certificates for mutual-TLS replication.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct PkiArgs {
    #[command(subcommand)]
    pub action: PkiAction,
}

/// What to do with the PKI directory.
#[derive(Debug, Subcommand)]
pub enum PkiAction {
    /// Make a new CA, the primary's server certificate and the standby's client certificate
    #[command(
        after_help = "Example:\n  pgshadow pki init --dir ./pki --primary-host 203.0.113.10 \
                            --primary-host db.example.com --standby-host 198.51.100.7"
    )]
    Init(InitArgs),
    /// Issue one more certificate from the existing CA (rotation, another standby)
    #[command(
        subcommand,
        after_help = "Examples:\n  pgshadow pki issue client --dir ./pki --user replication_user\n  \
                      pgshadow pki issue server --dir ./pki --host 203.0.113.10"
    )]
    Issue(IssueAction),
    /// Show every certificate in the directory; exit 1 when anything is wrong
    #[command(after_help = "Example:\n  pgshadow pki inspect --dir ./pki --json --warn-days 60")]
    Inspect(InspectArgs),
}

/// The directory flag every pki command takes.
#[derive(Debug, Args)]
pub struct DirArg {
    /// Directory holding the PKI files [default: `pki_dir` from the config, ./pki;
    /// env PGSHADOW_PKI_DIR]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `pki init` flags.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// An IP address or DNS name the standby dials; one SAN each (repeat or comma-separate)
    /// [default: `primary.host` from the config]
    #[arg(long = "primary-host", value_name = "HOST", value_delimiter = ',', num_args = 1..)]
    pub primary_hosts: Vec<String>,
    /// The replication role, the client certificate's CN [default: `replication.user` from
    /// the config, replication_user]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The standby's IP address or DNS name; makes standby.crt/key for when it is promoted
    #[arg(long = "standby-host", value_name = "HOST", value_delimiter = ',', num_args = 1..)]
    pub standby_hosts: Vec<String>,
    /// Lifetime of the server, client and standby certificates, in days
    #[arg(long, value_name = "N", default_value_t = LEAF_DAYS)]
    pub days: u32,
    /// Lifetime of the CA, in days
    #[arg(long = "ca-days", value_name = "N", default_value_t = CA_DAYS)]
    pub ca_days: u32,
    /// Replace existing files; the old ones are kept, renamed with a timestamp
    #[arg(long)]
    pub force: bool,
}

/// Which certificate to issue.
#[derive(Debug, Subcommand)]
pub enum IssueAction {
    /// A new client certificate (client.crt/key) for the replication role
    #[command(
        after_help = "Example:\n  pgshadow pki issue client --dir ./pki --user replication_user"
    )]
    Client(IssueClientArgs),
    /// A new server certificate (server.crt/key, or NAME.crt/key)
    #[command(
        after_help = "Examples:\n  pgshadow pki issue server --dir ./pki --host 203.0.113.10\n  \
                            pgshadow pki issue server --dir ./pki --name standby --host 198.51.100.7"
    )]
    Server(IssueServerArgs),
}

/// `pki issue client` flags.
#[derive(Debug, Args)]
pub struct IssueClientArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// The replication role, the certificate's CN [default: `replication.user` from the config]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Lifetime in days
    #[arg(long, value_name = "N", default_value_t = LEAF_DAYS)]
    pub days: u32,
}

/// `pki issue server` flags.
#[derive(Debug, Args)]
pub struct IssueServerArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// An IP address or DNS name clients dial; one SAN each (repeat or comma-separate)
    #[arg(long = "host", value_name = "HOST", value_delimiter = ',', num_args = 1.., required = true)]
    pub hosts: Vec<String>,
    /// File name stem: `server` for the primary, `standby` for a standby
    #[arg(long, value_name = "NAME", default_value = "server")]
    pub name: String,
    /// Lifetime in days
    #[arg(long, value_name = "N", default_value_t = LEAF_DAYS)]
    pub days: u32,
}

/// `pki inspect` flags.
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Print a JSON array, one object per certificate
    #[arg(long)]
    pub json: bool,
    /// Count a certificate that expires within N days as a problem
    #[arg(long = "warn-days", value_name = "N", default_value_t = 30)]
    pub warn_days: i64,
}

/// Runs a `pki` subcommand.
pub fn run(globals: &Globals, args: PkiArgs) -> Result<u8, Error> {
    match args.action {
        PkiAction::Init(args) => init(globals, args),
        PkiAction::Issue(IssueAction::Client(args)) => issue_client(globals, args),
        PkiAction::Issue(IssueAction::Server(args)) => issue_server(globals, args),
        PkiAction::Inspect(args) => inspect(globals, args),
    }
}

/// The configuration with `--dir` on top; `pki_dir` from it is the directory.
fn load(globals: &Globals, dir: &DirArg) -> Result<Config, Error> {
    let flags = match &dir.dir {
        Some(path) => vec![("pki_dir", path.display().to_string(), "--dir")],
        None => Vec::new(),
    };
    globals.load_config(flags)
}

fn init(globals: &Globals, args: InitArgs) -> Result<u8, Error> {
    let config = load(globals, &args.dir)?;
    let primary = match (args.primary_hosts.is_empty(), &config.primary.host) {
        (true, Some(host)) => vec![host.clone()],
        _ => args.primary_hosts,
    };
    let plan = InitPlan {
        dir: config.pki_dir.clone(),
        primary_hosts: parse_hosts(&primary)?,
        user: args.user.unwrap_or_else(|| config.replication.user.clone()),
        standby_hosts: parse_hosts(&args.standby_hosts)?,
        leaf_days: args.days,
        ca_days: args.ca_days,
        force: args.force,
    };
    let written = make::init(&plan, OffsetDateTime::now_utc())?;

    print_written(&written);
    print!(
        "{}",
        where_files_go(&plan.dir, !plan.standby_hosts.is_empty())
    );
    Ok(0)
}

fn issue_client(globals: &Globals, args: IssueClientArgs) -> Result<u8, Error> {
    let config = load(globals, &args.dir)?;
    let user = args.user.unwrap_or_else(|| config.replication.user.clone());
    let now = OffsetDateTime::now_utc();
    let validity = make::leaf_validity(args.days, now)?;
    let written = make::issue_client(&config.pki_dir, &user, validity, now)?;

    print_written(&written);
    println!(
        "copy client.crt and client.key to the standby (key mode 0600); the primary needs nothing new"
    );
    Ok(0)
}

fn issue_server(globals: &Globals, args: IssueServerArgs) -> Result<u8, Error> {
    let config = load(globals, &args.dir)?;
    let hosts = parse_hosts(&args.hosts)?;
    let now = OffsetDateTime::now_utc();
    let validity: Validity = make::leaf_validity(args.days, now)?;
    let written = make::issue_server(&config.pki_dir, &args.name, &hosts, validity, now)?;

    print_written(&written);
    println!(
        "copy {0}.crt and {0}.key to the server that answers as {1} (key mode 0600), \
         then reload PostgreSQL there",
        args.name,
        args.hosts.join(", ")
    );
    Ok(0)
}

fn inspect(globals: &Globals, args: InspectArgs) -> Result<u8, Error> {
    let config = load(globals, &args.dir)?;
    let reports = inspect_dir(&config.pki_dir, args.warn_days, OffsetDateTime::now_utc())?;
    let orphans = orphan_keys(&config.pki_dir);

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).expect("reports serialise")
        );
    } else {
        print!("{}", render_reports(&reports));
    }
    for key in &orphans {
        eprintln!("problem: {key} has no certificate beside it");
    }
    let problems = reports.iter().map(|r| r.problems.len()).sum::<usize>() + orphans.len();
    if problems > 0 {
        eprintln!(
            "pki inspect: {problems} problem(s) in {}",
            config.pki_dir.display()
        );
        return Ok(EXIT_FAILED);
    }
    Ok(0)
}

fn parse_hosts(hosts: &[String]) -> Result<Vec<Host>, Error> {
    Ok(hosts
        .iter()
        .map(|h| parse_host(h))
        .collect::<Result<_, _>>()?)
}

fn print_written(written: &Written) {
    for (old, aside) in &written.kept {
        println!("kept {} as {}", old.display(), aside.display());
    }
    for file in &written.files {
        println!("wrote {}", file.display());
    }
}

/// The closing note of `pki init`: which file goes to which machine.
pub fn where_files_go(dir: &Path, standby: bool) -> String {
    let dir = dir.display();
    let standby_files = if standby {
        format!(", {dir}/standby.crt, {dir}/standby.key")
    } else {
        String::new()
    };
    format!(
        "\nwhere the files go:\n  \
         primary: {dir}/server.crt, {dir}/server.key, {dir}/ca.crt\n  \
         standby: {dir}/client.crt, {dir}/client.key, {dir}/ca.crt{standby_files}\n  \
         offline: {dir}/ca.key (keep it off both servers; no pgshadow command copies it)\n"
    )
}

/// The human-readable `pki inspect` listing.
pub fn render_reports(reports: &[CertReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let status = if r.problems.is_empty() {
            "ok"
        } else {
            "PROBLEM"
        };
        out.push_str(&format!("{} [{status}]\n", r.file));
        out.push_str(&format!("  cn:        {}\n", r.cn));
        if !r.sans.is_empty() {
            out.push_str(&format!("  sans:      {}\n", r.sans.join(", ")));
        }
        out.push_str(&format!("  issuer:    {}\n", r.issuer));
        out.push_str(&format!(
            "  valid:     {} .. {}\n",
            r.not_before, r.not_after
        ));
        out.push_str(&format!("  days left: {}\n", r.days_left));
        out.push_str(&format!("  chain:     {}\n", yes_no(Some(r.chain_ok))));
        let mode = r.key_mode.as_deref().unwrap_or("-");
        out.push_str(&format!(
            "  key:       {} (matches: {}, mode {mode}: {})\n",
            r.key_file,
            yes_no(r.key_ok),
            yes_no(r.mode_ok)
        ));
        for problem in &r.problems {
            out.push_str(&format!("  problem:   {problem}\n"));
        }
    }
    out
}

fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "ok",
        Some(false) => "NO",
        None => "absent",
    }
}
