//! `pgshadow import`: extract an archive from `pgshadow export` into a
//! staging directory, verified file by file, make it this host's standby,
//! swap it into place and start it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::import_summary::{primary_needs, summary};
use super::{megabytes, run_cancellable, std_stream};
use crate::archive::{self, ExtractOptions, Extracted};
use crate::commands::Globals;
use crate::commands::clone::{check_container_free, check_dir_unused, check_target, standby_spec};
use crate::config::Config;
use crate::datadir::remote::RemoteDir;
use crate::datadir::{self, DataHost, DatadirError};
use crate::docker::Engine;
use crate::error::Error;
use crate::pg::basebackup::TEMP_CERT_DIR;
use crate::progress::Reporter;

const EXAMPLES: &str = "\
Examples:
  pgshadow import --from standby.tar.zst
  ssh old-vps pgshadow export --out - | pgshadow import --from -
  pgshadow import --from /backup/standby.tar --force";

/// Make this host's standby from an archive written by `pgshadow export`.
///
/// Extracts into a staging directory beside standby.data_dir, checking every
/// entry against the archive's manifest as it arrives and every file's
/// SHA-256 before anything is swapped in; a truncated or damaged archive, or
/// an entry that would land outside, stops it with the file named and leaves
/// nothing behind. Entries get standby.owner of this host's config and the
/// recorded modes; primary_conninfo gets this host's application_name
/// (standby.container), certificate paths (standby.pgdata/certs), slot, and
/// primary.host/port when set (where this host reaches the primary).
/// Then the directory is swapped into place, the standby container started,
/// and import waits until it streams. The archive may be plain or zstd.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ImportArgs {
    /// The archive; `-` reads standard input
    #[arg(long, value_name = "FILE|-")]
    pub from: PathBuf,

    /// Replace a non-empty standby.data_dir (the old one is kept as <dir>.replaced-<time>)
    #[arg(long)]
    pub force: bool,

    /// Seconds to wait for the standby to start streaming
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Runs `import`.
pub async fn run(globals: &Globals, args: ImportArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    let data_dir = config.require_standby_data_dir("import")?.to_path_buf();
    let reporter = globals.reporter();
    let input = open_input(&args.from)?;
    let engine = globals.standby_engine(&config).await?;
    let files = DataHost::open(&engine, &config.image, &data_dir).await?;
    let result = import(&engine, &files, &config, &reporter, input, &args).await;
    files.close().await;
    result
}

async fn import(
    engine: &Engine,
    files: &DataHost,
    config: &Config,
    reporter: &Reporter,
    input: File,
    args: &ImportArgs,
) -> Result<u8, Error> {
    let data_dir = config.require_standby_data_dir("import")?.to_path_buf();
    let replaces = preflight(engine, files, config, &data_dir, args.force)
        .await
        .map_err(|e| e.at("import", "preflight"))?;
    let staging = datadir::staging_path(&data_dir, &engine.run_id);
    files
        .create_staging(&staging)
        .await
        .map_err(|e| Error::from(e).at("import", "stage directory"))?;

    let prepared = prepare(files, config, reporter, input, &staging).await;
    let extracted = match prepared {
        Ok(extracted) => extracted,
        Err(e) => {
            remove_staging(files, reporter, &staging).await;
            return Err(e);
        }
    };
    let replaced = swap(
        engine,
        files,
        reporter,
        &staging,
        &data_dir,
        replaces.as_deref(),
    )
    .await?;
    start(
        engine,
        config,
        reporter,
        &data_dir,
        Duration::from_secs(args.timeout),
    )
    .await?;

    reporter.line(&summary(config, &data_dir, &extracted, replaced.as_deref()));
    reporter.line(&primary_needs(config));
    Ok(0)
}

/// The archive on standard input or in a file.
fn open_input(from: &Path) -> Result<File, Error> {
    if from.as_os_str() == "-" {
        return std_stream(false);
    }
    File::open(from).map_err(|source| {
        DatadirError::Io {
            action: "open the archive",
            path: from.to_path_buf(),
            source,
        }
        .into()
    })
}

/// The checks clone-standby makes on the target, before anything is created.
/// Returns this directory's standby container when `--force` replaces it.
async fn preflight(
    engine: &Engine,
    files: &DataHost,
    config: &Config,
    data_dir: &Path,
    force: bool,
) -> Result<Option<String>, Error> {
    check_target(files, data_dir, force).await?;
    let (replaces, _) =
        check_container_free(engine, &config.standby.container, data_dir, force).await?;
    check_dir_unused(engine, data_dir, replaces.as_deref()).await?;
    if !engine.has_image(&config.image).await? {
        return Err(Error::Failed {
            message: format!("image {} is not on this host", config.image),
            hint: Some(format!(
                "pull or load it first: docker pull {}",
                config.image
            )),
        });
    }
    Ok(replaces)
}

/// Extracts and verifies the archive, then makes it this host's standby.
async fn prepare(
    files: &DataHost,
    config: &Config,
    reporter: &Reporter,
    input: File,
    staging: &Path,
) -> Result<Extracted, Error> {
    let extracted = match files.remote() {
        None => extract(reporter, input, staging, config).await?,
        Some(remote) => extract_remote(remote, reporter, input, staging, config).await?,
    };
    if !files.exists(&staging.join("standby.signal")).await? {
        let message = "the archive holds no standby.signal: it is not a standby's data directory";
        let hint = "import only archives written by `pgshadow export` on a standby";
        let e = Error::Failed {
            message: message.into(),
            hint: Some(hint.into()),
        };
        return Err(e.at("import", "check the archive"));
    }

    let step = reporter.step("recovery settings for this host");
    let changed =
        write_recovery_settings(files, config, staging, extracted.manifest.slot.as_deref())
            .await
            .map_err(|e| e.at("import", "recovery settings"))?;
    step.done(&changed);

    // As root on this machine, extract gave every entry its owner already.
    if files.remote().is_some() || !nix::unistd::geteuid().is_root() {
        files
            .give_to_owner(staging, config.standby.owner)
            .await
            .map_err(|e| e.at("import", "owner"))?;
    }
    Ok(extracted)
}

async fn extract(
    reporter: &Reporter,
    input: File,
    staging: &Path,
    config: &Config,
) -> Result<Extracted, Error> {
    // As root every entry gets its owner as it is written; otherwise a
    // helper container sets it afterwards (see `prepare`).
    let owner = nix::unistd::geteuid()
        .is_root()
        .then_some(config.standby.owner);
    let step = reporter.step(&format!("extract and verify into {}", staging.display()));
    let mut bar = reporter.bytes("import", 0);
    let dir = staging.to_path_buf();
    let extracted = run_cancellable("extract", move |cancel| {
        let options = ExtractOptions { owner, cancel };
        let extracted = archive::extract(&input, &dir, &options, &mut |done, total| {
            bar.set(done, total)
        });
        bar.finish();
        extracted
    })
    .await
    .map_err(|e| e.at("import", "extract"))?;
    step.done(&extracted_detail(&extracted));
    Ok(extracted)
}

fn extracted_detail(extracted: &Extracted) -> String {
    let m = &extracted.manifest;
    format!(
        "{} entries, {}, PostgreSQL {}, system id {}",
        m.entries.len(),
        megabytes(extracted.bytes),
        m.pg_major,
        m.system_identifier
    )
}

/// Extracts and verifies the archive into a staging directory on a remote
/// engine's host, through the helper's archive endpoint.
async fn extract_remote(
    remote: &RemoteDir,
    reporter: &Reporter,
    input: File,
    staging: &Path,
    config: &Config,
) -> Result<Extracted, Error> {
    let step = reporter.step(&format!(
        "extract and verify into {} on {}",
        staging.display(),
        remote.endpoint()
    ));
    let bar = reporter.bytes("import", 0);
    let extracted = super::remote::extract(remote, input, staging, config.standby.owner, bar)
        .await
        .map_err(|e| e.at("import", "extract"))?;
    step.done(&extracted_detail(&extracted));
    Ok(extracted)
}

/// Rewrites `primary_conninfo` for this host: application_name, certificate
/// paths and sslmode from this config, and primary.host/port when set; the
/// slot from this config, else the one the archive recorded. Returns which settings changed.
async fn write_recovery_settings(
    files: &DataHost,
    config: &Config,
    staging: &Path,
    archived_slot: Option<&str>,
) -> Result<String, Error> {
    let serve_tls = files.exists(&staging.join("certs/standby.crt")).await?;

    let cert_dir = format!("{}/certs", config.standby.pgdata.trim_end_matches('/'));
    let sslmode = config.replication.sslmode.to_string();
    let settings = crate::pgconf::StandbySettings {
        cert_dir: &cert_dir,
        sslmode: &sslmode,
        application_name: &config.standby.container,
        slot: config.replication.slot.as_deref().or(archived_slot),
        serve_tls,
        temp_prefix: TEMP_CERT_DIR,
        primary: config
            .primary
            .host
            .as_deref()
            .map(|h| (h, config.primary.port)),
    };
    let (before, after) = files.write_standby_files(staging, &settings, None).await?;
    let names: Vec<String> = crate::pgconf::changed_settings(&before, &after)?
        .into_iter()
        .map(|change| match change {
            crate::pgconf::SettingChange::Added(n)
            | crate::pgconf::SettingChange::Changed(n)
            | crate::pgconf::SettingChange::Removed(n) => n,
        })
        .collect();
    Ok(match names.is_empty() {
        true => "unchanged: this host's config matches the archive".into(),
        false => format!("changed {}", names.join(", ")),
    })
}

/// Replaces this directory's old standby container (with `--force`) and
/// renames the staging directory into place. Returns where the old
/// directory was kept.
async fn swap(
    engine: &Engine,
    files: &DataHost,
    reporter: &Reporter,
    staging: &Path,
    data_dir: &Path,
    replaces: Option<&str>,
) -> Result<Option<PathBuf>, Error> {
    let step = reporter.step(&format!("swap into place at {}", data_dir.display()));
    let swapped = async {
        if let Some(old) = replaces {
            engine.stop_container(old, 60).await?;
            engine.remove_container(old).await?;
        }
        let stamp = datadir::timestamp();
        Ok::<_, Error>(files.swap_into_place(staging, data_dir, &stamp).await?)
    }
    .await;
    match swapped {
        Ok(kept) => {
            step.done("");
            Ok(kept)
        }
        Err(e) => {
            step.failed("");
            remove_staging(files, reporter, staging).await;
            Err(e.at("import", "swap"))
        }
    }
}

/// Starts the standby container as clone-standby does and waits for streaming.
async fn start(
    engine: &Engine,
    config: &Config,
    reporter: &Reporter,
    data_dir: &Path,
    timeout: Duration,
) -> Result<(), Error> {
    let name = &config.standby.container;
    let step = reporter.step(&format!("start standby container {name}"));
    engine
        .start_service(&standby_spec(config, data_dir))
        .await
        .map_err(|e| Error::from(e).at("import", "start"))?;
    step.done("");

    let step = reporter.step("wait until the standby streams");
    let wait = crate::pg::server::wait_until_streaming(engine, name, timeout);
    tokio::select! {
        waited = wait => waited.map_err(|e| Error::from(e).at("import", "wait until streaming"))?,
        signal = crate::signals::interrupted() => {
            return Err(Error::Interrupted { signal, stage: "wait until streaming" });
        }
    }
    step.done("");
    Ok(())
}

async fn remove_staging(files: &DataHost, reporter: &Reporter, staging: &Path) {
    match files.remove_staging(staging).await {
        Ok(()) => tracing::debug!(path = %staging.display(), "staging directory removed"),
        Err(e) => reporter.line(&format!(
            "warning: could not remove {}: {e}",
            staging.display()
        )),
    }
}
