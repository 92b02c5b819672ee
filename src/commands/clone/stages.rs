//! The stages of `clone-standby` after preflight, and the rollback that
//! runs when one fails or the user interrupts.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::preflight::Ready;
use super::summary::Summary;
use crate::config::Config;
use crate::datadir::finalize::StandbyCerts;
use crate::datadir::{self, DataHost, DatadirError};
use crate::docker::{Engine, ServiceSpec};
use crate::error::Error;
use crate::pg::basebackup::{self, BasebackupPlan, TEMP_CERT_DIR};
use crate::pg::server;
use crate::progress::Reporter;

/// Choices from the command line that shape the stages.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run pg_verifybackup on the copy.
    pub verify: bool,
    /// How long to wait for streaming.
    pub timeout: Duration,
    pub compress: Option<String>,
    pub max_rate: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            verify: true,
            timeout: Duration::from_secs(120),
            compress: None,
            max_rate: None,
        }
    }
}

/// What a failed run must undo. Shared with the interrupt path.
#[derive(Debug, Default)]
struct Undo {
    staging: Option<PathBuf>,
    slot_created: Option<String>,
    /// The standby being replaced, stopped for the clone: start it again.
    restart: Option<String>,
}

/// Runs the stages; on failure or SIGINT/SIGTERM, undoes what this run made.
pub async fn run(
    engine: &Engine,
    files: &DataHost,
    config: &Config,
    reporter: &Reporter,
    ready: Ready,
    options: Options,
) -> Result<Summary, Error> {
    let undo = Arc::new(Mutex::new(Undo::default()));
    let stage = Arc::new(Mutex::new("stage"));
    let context = Context {
        engine,
        files,
        config,
        reporter,
        ready: &ready,
        options: &options,
    };
    let work = stages(&context, &undo, &stage);
    let result = tokio::select! {
        result = work => result,
        signal = crate::signals::interrupted() => {
            Err(Error::Interrupted { signal, stage: *stage.lock().expect("stage lock") })
        }
    };
    if result.is_err() {
        let undo = std::mem::take(&mut *undo.lock().expect("undo lock"));
        roll_back(&context, undo).await;
    }
    result
}

/// What every stage reads.
struct Context<'a> {
    /// The standby's engine.
    engine: &'a Engine,
    /// Where the standby's data directory is.
    files: &'a DataHost,
    config: &'a Config,
    reporter: &'a Reporter,
    ready: &'a Ready,
    options: &'a Options,
}

async fn stages(
    context: &Context<'_>,
    undo: &Arc<Mutex<Undo>>,
    stage: &Arc<Mutex<&'static str>>,
) -> Result<Summary, Error> {
    let Context {
        engine,
        files,
        config,
        reporter,
        ready,
        options,
    } = *context;
    let enter = |name: &'static str| *stage.lock().expect("stage lock") = name;
    let mut summary = Summary {
        data_dir: ready.data_dir.clone(),
        container: config.standby.container.clone(),
        slot: ready.slot.as_ref().map(|(name, _)| name.clone()),
        config_file: config.file.clone(),
        system_id: ready.identity.system_id.clone(),
        compress: options.compress.clone(),
        ..Default::default()
    };

    enter("stage directory");
    let staging = datadir::staging_path(&ready.data_dir, &engine.run_id);
    files
        .create_staging(&staging)
        .await
        .map_err(|e| Error::from(e).at("clone-standby", "stage directory"))?;
    undo.lock().expect("undo lock").staging = Some(staging.clone());

    if let Some(old) = &ready.replaces {
        // It streams from the same slot and serves the same directory.
        enter("stop the old standby");
        let step = reporter.step(&format!("stop the standby being replaced, {old}"));
        engine
            .stop_container(old, 60)
            .await
            .map_err(|e| Error::from(e).at("clone-standby", "stop the old standby"))?;
        undo.lock().expect("undo lock").restart = Some(old.clone());
        step.done("");
    }

    enter("pg_basebackup");
    let started = Instant::now();
    if let Some((slot, true)) = &ready.slot {
        undo.lock().expect("undo lock").slot_created = Some(slot.clone());
    }
    summary.bytes = copy(context, &staging)
        .await
        .map_err(|e| e.at("clone-standby", "pg_basebackup"))?;
    summary.stages.push(("pg_basebackup", started.elapsed()));

    enter("finalize");
    let step = reporter.step("finalize: certificates, recovery settings, owner and modes");
    finalize(files, config, ready, &staging)
        .await
        .map_err(|e| e.at("clone-standby", "finalize"))?;
    summary.stages.push(("finalize", step.done("")));

    if options.verify {
        enter("verify");
        let step = reporter.step("verify the copy with pg_verifybackup");
        basebackup::verify(engine, &config.image, &staging)
            .await
            .map_err(|e| Error::from(e).at("clone-standby", "verify"))?;
        summary.stages.push(("verify", step.done("")));
        summary.verified = true;
    }

    enter("swap");
    let step = reporter.step("swap into place");
    if let Some(old) = &ready.replaces {
        engine
            .remove_container(old)
            .await
            .map_err(|e| Error::from(e).at("clone-standby", "swap"))?;
    }
    summary.replaced = files
        .swap_into_place(&staging, &ready.data_dir, &datadir::timestamp())
        .await
        .map_err(|e| Error::from(e).at("clone-standby", "swap"))?;
    // From here on the clone is the target; a later failure leaves it in place.
    *undo.lock().expect("undo lock") = Undo::default();
    summary
        .stages
        .push(("swap", step.done(&ready.data_dir.display().to_string())));

    enter("start");
    let step = reporter.step(&format!(
        "start standby container {}",
        config.standby.container
    ));
    engine
        .start_service(&standby_spec(config, &ready.data_dir))
        .await
        .map_err(|e| Error::from(e).at("clone-standby", "start"))?;
    summary.stages.push(("start", step.done("")));

    enter("wait until streaming");
    let step = reporter.step("wait until the standby streams");
    server::wait_until_streaming(engine, &config.standby.container, options.timeout)
        .await
        .map_err(|e| Error::from(e).at("clone-standby", "wait until streaming"))?;
    summary.stages.push(("wait until streaming", step.done("")));
    Ok(summary)
}

/// Runs pg_basebackup with a progress bar; stops at once when the first
/// progress line shows more bytes than the target has free.
async fn copy(context: &Context<'_>, staging: &Path) -> Result<u64, Error> {
    let Context {
        engine,
        files,
        config,
        reporter,
        ready,
        options,
    } = *context;
    // Measured once before the copy: the check on the first progress line
    // must not wait for a round trip to a remote engine.
    let available = files.free_bytes(staging).await?;
    let plan = BasebackupPlan {
        image: config.image.clone(),
        host: ready.target.host.clone(),
        port: ready.target.port,
        user: ready.target.user.clone(),
        sslmode: ready.target.sslmode,
        application_name: config.standby.container.clone(),
        ca: ready.certs.ca.clone(),
        cert: ready.certs.cert.clone(),
        key: ready.certs.key.clone(),
        staging: staging.to_path_buf(),
        slot: ready.slot.clone(),
        compress: options.compress.clone(),
        max_rate: options.max_rate.clone(),
    };
    reporter.line(&format!(
        "==> copy from {}:{} with pg_basebackup",
        plan.host, plan.port
    ));
    let mut bar = reporter.bytes("pg_basebackup", 0);
    let mut too_big: Option<DatadirError> = None;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let mut copied = 0;

    let backup = basebackup::run(engine, &plan, |progress| {
        if copied == 0 && progress.total_bytes > available {
            too_big = Some(DatadirError::NoSpace {
                path: staging.to_path_buf(),
                needed: progress.total_bytes,
                available,
            });
            if let Some(stop) = stop.take() {
                let _ = stop.send(());
            }
        }
        copied = progress.done_bytes.max(1);
        bar.set(progress.done_bytes, progress.total_bytes);
    });
    let outcome = tokio::select! {
        outcome = backup => Some(outcome),
        _ = stopped => None,
    };
    bar.finish();
    if let Some(e) = too_big {
        return Err(e.into());
    }
    outcome.expect("the copy ended unless stopped for space")?;
    let bytes = files.bytes_under(staging).await?;
    reporter.line(&format!("    ok pg_basebackup: {bytes} bytes"));
    Ok(bytes)
}

/// Installs the standby's certificates, rewrites the recovery settings, and
/// gives the copy to `standby.owner`.
async fn finalize(
    files: &DataHost,
    config: &Config,
    ready: &Ready,
    staging: &Path,
) -> Result<(), Error> {
    let certs = StandbyCerts {
        ca: ready.certs.ca.clone(),
        client_cert: ready.certs.cert.clone(),
        client_key: ready.certs.key.clone(),
        server: ready.certs.standby.clone(),
    };
    let cert_dir = format!("{}/certs", config.standby.pgdata.trim_end_matches('/'));
    let sslmode = config.replication.sslmode.to_string();
    let settings = crate::pgconf::recovery::StandbySettings {
        cert_dir: &cert_dir,
        sslmode: &sslmode,
        application_name: &config.standby.container,
        slot: ready.slot.as_ref().map(|(name, _)| name.as_str()),
        serve_tls: certs.server.is_some(),
        temp_prefix: TEMP_CERT_DIR,
        // pg_basebackup -R wrote the address it copied from.
        primary: None,
    };
    files
        .write_standby_files(staging, &settings, Some(&certs))
        .await?;
    files.give_to_owner(staging, config.standby.owner).await?;
    Ok(())
}

/// The standby container: the image as standby.owner, the data directory at
/// standby.pgdata, hot standby on, TLS as the recovery settings say.
pub(crate) fn standby_spec(config: &Config, data_dir: &Path) -> ServiceSpec {
    ServiceSpec {
        name: config.standby.container.clone(),
        role: "standby",
        image: config.image.clone(),
        user: config.standby.owner.to_string(),
        data_dir: data_dir.to_path_buf(),
        pgdata: config.standby.pgdata.clone(),
        port: config.standby.port,
        args: vec!["-c".into(), "hot_standby=on".into()],
        env: Vec::new(),
    }
}

/// Removes the temporary containers and the staging directory, and drops a
/// slot this run created. Best effort: each failure is reported, not returned.
async fn roll_back(context: &Context<'_>, undo: Undo) {
    let Context {
        engine,
        files,
        config,
        reporter,
        ready,
        ..
    } = *context;
    engine.remove_temporaries().await;
    if let Some(staging) = &undo.staging {
        match files.remove_staging(staging).await {
            Ok(()) => tracing::debug!(path = %staging.display(), "staging directory removed"),
            Err(e) => reporter.line(&format!(
                "warning: could not remove {}: {e}",
                staging.display()
            )),
        }
    }
    if let Some(slot) = &undo.slot_created {
        match crate::pg::login::drop_slot(engine, &config.image, &ready.target, slot).await {
            Ok(()) => tracing::debug!(slot, "slot created by this run dropped"),
            Err(e) => reporter.line(&format!(
                "warning: the slot {slot} this run created could not be dropped ({e}); \
                 drop it on the primary with SELECT pg_drop_replication_slot('{slot}')"
            )),
        }
        engine.remove_temporaries().await;
    }
    if let Some(old) = &undo.restart
        && let Err(e) = engine.start_existing(old).await
    {
        reporter.line(&format!(
            "warning: could not start the previous standby {old} again: {e}"
        ));
    }
}
