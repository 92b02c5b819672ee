//! The `pgshadow` binary: parse, set up logging, dispatch, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use pgshadow::cli::Cli;
use pgshadow::error::EXIT_FAILED;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: start the async runtime\n  caused by: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(pgshadow::commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("{}", error.report());
            ExitCode::from(error.exit_code())
        }
    }
}

/// Logs go to stderr; `PGSHADOW_LOG` (an env-filter) wins over `-v`/`-q`.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "pgshadow=info,warn",
        (false, 2) => "pgshadow=debug,info",
        // bollard logs request bodies at debug, and a container's
        // environment can hold a secret (the primary's POSTGRES_PASSWORD).
        (false, _) => "pgshadow=trace,bollard=info,debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGSHADOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
