//! `pgshadow config check` and `pgshadow config show`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::Globals;
use crate::config::{Config, KEYS};
use crate::error::Error;

/// Check or show the effective configuration.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  pgshadow config check\n  pgshadow config show --json")]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// What to do with the configuration.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration; exit 0 with a summary, or 2 with the error
    Check,
    /// Print every setting, its value and where it came from
    Show {
        /// Print a JSON object instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// Runs `config check` or `config show`.
pub fn run(globals: &Globals, args: ConfigArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    match args.action {
        ConfigAction::Check => println!("{}", summary(&config)),
        ConfigAction::Show { json: false } => print!("{}", table(&config)),
        ConfigAction::Show { json: true } => {
            let entries: serde_json::Map<_, _> = KEYS
                .iter()
                .map(|k| {
                    let value = json!({"value": config.display_value(k), "source": config.source(k).to_string()});
                    (k.to_string(), value)
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&entries).expect("json"));
        }
    }
    Ok(0)
}

/// One line saying the configuration is valid and what it describes.
pub fn summary(config: &Config) -> String {
    let origin = match &config.file {
        Some(path) => path.display().to_string(),
        None => "defaults and environment (no config file)".into(),
    };
    format!(
        "ok: {origin}: primary {}:{}, standby {} in {}, replication as {} ({})",
        config.display_value("primary.host"),
        config.primary.port,
        config.standby.container,
        config.display_value("standby.data_dir"),
        config.replication.user,
        config.replication.sslmode,
    )
}

/// The `config show` table: key, value, source.
pub fn table(config: &Config) -> String {
    let width = KEYS.iter().map(|k| k.len()).max().unwrap_or(0);
    let values: Vec<String> = KEYS.iter().map(|k| config.display_value(k)).collect();
    let vwidth = values.iter().map(|v| v.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in KEYS.iter().zip(&values) {
        out.push_str(&format!(
            "{key:width$}  {value:vwidth$}  {}\n",
            config.source(key)
        ));
    }
    out
}
