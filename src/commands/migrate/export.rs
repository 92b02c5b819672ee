//! `pgshadow export`: stop the standby with a fast shutdown, stream its data
//! directory as an archive, and start it again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::{megabytes, run_cancellable, std_stream};
use crate::archive::{self, Compression, WriteOptions};
use crate::commands::Globals;
use crate::config::Config;
use crate::datadir::DataHost;
use crate::docker::{ContainerState, Engine};
use crate::error::Error;
use crate::progress::Reporter;

const EXAMPLES: &str = "\
Examples:
  pgshadow export --out standby.tar.zst --compress zstd
  pgshadow export --out - | ssh new-vps pgshadow import --from -
  pgshadow export --out /backup/standby.tar --stop";

/// Seconds the standby gets for its fast shutdown before Docker kills it.
const STOP_TIMEOUT_S: i32 = 60;

/// Stream the standby's data directory as an archive (to move it to another host).
///
/// Stops the standby container (standby.container) with a fast shutdown, so
/// that standby.data_dir is consistent, writes it as a tar archive that
/// starts with a manifest (PostgreSQL version, system identifier, slot,
/// every file's size) and ends with every file's SHA-256, then starts the
/// container again. Owners, modes, mtimes, symlinks and empty directories
/// are kept. Run it as root (the data directory belongs to the image's
/// postgres user). The container is started again also when the export
/// fails or is interrupted.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ExportArgs {
    /// Where the archive goes; `-` is standard output (progress then goes to stderr).
    /// A file is written as FILE.partial and renamed when complete.
    #[arg(long, value_name = "FILE|-")]
    pub out: PathBuf,

    /// Compress the stream: zstd or none
    #[arg(long, default_value = "none", value_name = "METHOD")]
    pub compress: Compression,

    /// Leave the standby stopped afterwards (when it moves for good)
    #[arg(long)]
    pub stop: bool,
}

/// Runs `export`.
pub async fn run(globals: &Globals, args: ExportArgs) -> Result<u8, Error> {
    let config = globals.load_config(Vec::new())?;
    let data_dir = config.require_standby_data_dir("export")?.to_path_buf();
    let to_stdout = args.out.as_os_str() == "-";
    let reporter = Reporter::new(globals.quiet, to_stdout);
    let output = Output::open(&args.out)?;
    let engine = match globals.standby_engine(&config).await {
        Ok(engine) => engine,
        Err(e) => {
            output.discard();
            return Err(e);
        }
    };
    let files = match DataHost::open(&engine, &config.image, &data_dir).await {
        Ok(files) => files,
        Err(e) => {
            output.discard();
            return Err(e);
        }
    };
    let result = stop_export_start(&engine, &files, &config, &reporter, output, &args).await;
    files.close().await;
    let summary = result?;
    reporter.line(&summary);
    Ok(0)
}

/// Stops the standby, streams its directory, and starts it again unless
/// `--stop` (or the export failed and starting it is all that is left).
async fn stop_export_start(
    engine: &Engine,
    files: &DataHost,
    config: &Config,
    reporter: &Reporter,
    output: Output,
    args: &ExportArgs,
) -> Result<String, Error> {
    let data_dir = config.require_standby_data_dir("export")?;
    let container = &config.standby.container;
    let was_running = match stop_standby(engine, reporter, container).await {
        Ok(was_running) => was_running,
        Err(e) => {
            output.discard();
            return Err(e);
        }
    };
    let result = export(files, config, reporter, data_dir, output, args.compress).await;
    if was_running && (result.is_err() || !args.stop) {
        let step = reporter.step(&format!("start standby container {container} again"));
        match engine.start_existing(container).await {
            Ok(()) => drop(step.done("")),
            Err(e) if result.is_err() => {
                step.failed("");
                reporter.line(&format!("warning: {container} stays stopped: {e}"));
            }
            Err(e) => return Err(Error::from(e).at("export", "start the standby again")),
        }
    }
    result
}

/// Stops the standby if it runs; returns whether it did.
async fn stop_standby(engine: &Engine, reporter: &Reporter, name: &str) -> Result<bool, Error> {
    let state = engine.container_state(name).await?;
    let ContainerState::Present { running: true, .. } = state else {
        tracing::debug!(container = name, "standby not running: nothing to stop");
        return Ok(false);
    };
    let step = reporter.step(&format!("stop standby container {name} (fast shutdown)"));
    engine
        .stop_container(name, STOP_TIMEOUT_S)
        .await
        .map_err(|e| Error::from(e).at("export", "stop the standby"))?;
    step.done("");
    Ok(true)
}

/// Checks the directory, streams it, and returns the summary line.
async fn export(
    files: &DataHost,
    config: &Config,
    reporter: &Reporter,
    data_dir: &Path,
    output: Output,
    compression: Compression,
) -> Result<String, Error> {
    if let Err(e) = ensure_shut_down(files, data_dir).await {
        output.discard();
        return Err(e.at("export", "check the data directory"));
    }
    let slot = slot_of(files, data_dir).await;
    tracing::debug!(path = %data_dir.display(), slot = ?slot, "exporting");

    let started = Instant::now();
    let file = output.file.try_clone().map_err(|e| Error::Failed {
        message: format!("duplicate the archive's file handle: {e}"),
        hint: None,
    })?;
    let mut bar = reporter.bytes("export", 0);
    let written = match files.remote() {
        Some(remote) => super::remote::export(remote, data_dir, file, compression, slot, bar).await,
        None => {
            let dir = data_dir.to_path_buf();
            run_cancellable("export", move |cancel| {
                let options = WriteOptions {
                    compression,
                    slot,
                    cancel,
                };
                let exported = archive::write_archive(&dir, &file, &options, &mut |done, total| {
                    bar.set(done, total)
                });
                bar.finish();
                exported
            })
            .await
        }
    };

    let exported = match written {
        Ok(exported) => exported,
        Err(e) => {
            output.discard();
            return Err(output.name_in(e).at("export", "stream"));
        }
    };
    let place = output.commit().map_err(|e| e.at("export", "stream"))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(format!(
        "exported {} ({} entries, {}) in {seconds:.1}s to {place}\n  PostgreSQL {}, system id {}",
        config.standby.container,
        exported.entries,
        megabytes(exported.bytes),
        exported.pg_major,
        exported.system_identifier,
    ))
}

/// A data directory with `postmaster.pid` is in use or was not shut down
/// cleanly; a copy of it would need crash recovery on the new host.
async fn ensure_shut_down(files: &DataHost, data_dir: &Path) -> Result<(), Error> {
    if !files.exists(&data_dir.join("PG_VERSION")).await? {
        return Err(Error::Usage(format!(
            "{}: not a PostgreSQL data directory (no PG_VERSION)",
            data_dir.display()
        )));
    }
    if files.exists(&data_dir.join("postmaster.pid")).await? {
        return Err(Error::Failed {
            message: format!("{} is in use: postmaster.pid exists", data_dir.display()),
            hint: Some(
                "a server still runs on it, or it was not shut down cleanly: start the \
                 standby container and let export stop it"
                    .into(),
            ),
        });
    }
    Ok(())
}

/// The slot recorded in `postgresql.auto.conf`, for the manifest.
async fn slot_of(files: &DataHost, data_dir: &Path) -> Option<String> {
    let path = data_dir.join("postgresql.auto.conf");
    let text = files.read_to_string(&path).await.ok()??;
    let conf = crate::pgconf::AutoConf::parse(&text).ok()?;
    conf.get("primary_slot_name").map(str::to_string)
}

/// Where the archive goes: standard output, or `FILE.partial` renamed to
/// FILE once complete (and removed when the export fails).
struct Output {
    file: File,
    partial: Option<(PathBuf, PathBuf)>,
}

impl Output {
    fn open(out: &Path) -> Result<Output, Error> {
        if out.as_os_str() == "-" {
            return Ok(Output {
                file: std_stream(true)?,
                partial: None,
            });
        }
        if out.exists() {
            return Err(Error::Usage(format!(
                "{}: exists already; remove it or choose another --out",
                out.display()
            )));
        }
        let mut name = out.as_os_str().to_owned();
        name.push(".partial");
        let partial = PathBuf::from(name);
        let file = File::create(&partial).map_err(|source| crate::datadir::DatadirError::Io {
            action: "create",
            path: partial.clone(),
            source,
        })?;
        Ok(Output {
            file,
            partial: Some((partial, out.to_path_buf())),
        })
    }

    /// A write failure names where the archive was going.
    fn name_in(&self, error: Error) -> Error {
        let Error::Archive(crate::archive::ArchiveError::Output(source)) = &error else {
            return error;
        };
        let place = match &self.partial {
            Some((_, out)) => out.display().to_string(),
            None => "standard output".into(),
        };
        let hint = (source.raw_os_error() == Some(28))
            .then(|| format!("the file system of {place} is full: free space or write elsewhere"));
        Error::Failed {
            message: format!("write the archive to {place}: {source}"),
            hint,
        }
    }

    fn discard(&self) {
        if let Some((partial, _)) = &self.partial
            && let Err(e) = std::fs::remove_file(partial)
        {
            tracing::warn!(path = %partial.display(), "could not remove the partial archive: {e}");
        }
    }

    /// Renames the partial file into place; returns where the archive is.
    fn commit(&self) -> Result<String, Error> {
        let Some((partial, out)) = &self.partial else {
            return Ok("standard output".into());
        };
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| crate::datadir::DatadirError::Io {
                action,
                path,
                source,
            }
        };
        self.file.sync_all().map_err(io("sync", partial))?;
        std::fs::rename(partial, out).map_err(io("rename into place", out))?;
        Ok(out.display().to_string())
    }
}
