//! Runs only pgshadow's ownership walk (the finalize step of
//! `clone-standby` when pgshadow runs as root) over a directory, so that
//! `make bench` can time it against `chown -R` on the same tree.
//!
//! Usage: `cargo run --release --example chown_walk -- DIR UID:GID`
//! Prints the entries it changed; exits 1 when the walk fails.

use std::path::PathBuf;
use std::process::ExitCode;

use pgshadow::config::Owner;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, owner] = args.as_slice() else {
        eprintln!("usage: chown_walk DIR UID:GID");
        return ExitCode::from(2);
    };
    let owner: Owner = match owner.parse() {
        Ok(owner) => owner,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    match pgshadow::datadir::set_owner_and_modes(&PathBuf::from(dir), owner) {
        Ok(plan) => {
            println!("chowned {} chmodded {}", plan.chowned, plan.chmodded);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
