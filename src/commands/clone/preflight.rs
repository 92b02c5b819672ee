//! Preflight of `clone-standby`: every check passes or says why not, before
//! anything is created. `--dry-run` runs exactly these and stops.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::datadir::{self, DataHost, TargetState};
use crate::docker::{ContainerState, Engine, LABEL_DATA_DIR, LABEL_ROLE};
use crate::error::Error;
use crate::pg::login::{LoginTarget, SystemIdentity};
use crate::pki::ClientSet;

/// What preflight learned, for the stages that follow.
pub struct Ready {
    pub certs: ClientSet,
    pub target: LoginTarget,
    pub identity: SystemIdentity,
    pub data_dir: PathBuf,
    /// The slot, and whether this run must create it.
    pub slot: Option<(String, bool)>,
    /// An earlier standby container of pgshadow's for this directory, to be
    /// stopped during the clone and replaced (`--force`).
    pub replaces: Option<String>,
}

/// One check's outcome, for `--dry-run`'s list.
pub struct CheckLine {
    pub name: &'static str,
    pub ok: bool,
    /// What was found, or why it failed.
    pub detail: String,
    pub hint: Option<String>,
}

/// The checks run so far. With `all`, a failure is recorded and the run
/// goes on (for `--dry-run`); otherwise the first failure is returned.
struct Checks<'a> {
    lines: &'a mut Vec<CheckLine>,
    all: bool,
    failed: Option<Error>,
}

impl Checks<'_> {
    fn record<T>(
        &mut self,
        name: &'static str,
        outcome: Result<(T, String), Error>,
    ) -> Result<Option<T>, Error> {
        match outcome {
            Ok((value, detail)) => {
                self.lines.push(CheckLine {
                    name,
                    ok: true,
                    detail,
                    hint: None,
                });
                Ok(Some(value))
            }
            Err(e) => {
                self.lines.push(CheckLine {
                    name,
                    ok: false,
                    detail: e.to_string(),
                    hint: e.hint(),
                });
                if !self.all {
                    return Err(e);
                }
                self.failed.get_or_insert(e);
                Ok(None)
            }
        }
    }

    /// Ends a run that cannot go on without `value`.
    fn need<T>(&mut self, value: Option<T>) -> Result<T, Error> {
        value.ok_or_else(|| self.failed.take().expect("a failed check was recorded"))
    }
}

/// Runs the checks in order and returns what the stages need.
pub async fn run(
    engine: &Engine,
    files: &DataHost,
    config: &Config,
    force: bool,
    all: bool,
    lines: &mut Vec<CheckLine>,
) -> Result<Ready, Error> {
    let data_dir = config
        .require_standby_data_dir("clone-standby")?
        .to_path_buf();
    let host = config.require_primary_host("clone-standby")?.to_string();
    let mut checks = Checks {
        lines,
        all,
        failed: None,
    };

    checks.record(
        "image present",
        check_image(engine, &config.image).await.map(|d| ((), d)),
    )?;
    checks.record(
        "target data directory",
        check_target(files, &data_dir, force).await,
    )?;
    let name = &config.standby.container;
    let replaces = check_container_free(engine, name, &data_dir, force).await;
    let replaces = checks.record("container name free", replaces)?.flatten();
    let unused = check_dir_unused(engine, &data_dir, replaces.as_deref())
        .await
        .map(|d| ((), d));
    checks.record("directory not in use", unused)?;

    let certs = crate::pki::check_client_set(&config.pki_dir)
        .map(|set| {
            let detail = format!("client CN {}, {} days left", set.client_cn, set.days_left);
            (set, detail)
        })
        .map_err(Error::from);
    let certs = checks.record("certificates", certs)?;
    let certs = checks.need(certs)?;

    let addr = format!("{host}:{}", config.primary.port);
    let tcp = match files.remote() {
        None => check_tcp(&addr).await,
        // This machine's view of the network says nothing about the
        // standby host's; the login check below connects from there.
        Some(_) => Ok(format!(
            "not tried from here: the standby's engine is at {}, and the login check connects from there",
            engine.endpoint
        )),
    };
    checks.record("primary answers on TCP", tcp.map(|d| ((), d)))?;

    let target = LoginTarget {
        host,
        port: config.primary.port,
        user: config.replication.user.clone(),
        sslmode: config.replication.sslmode,
        ca: certs.ca.clone(),
        cert: certs.cert.clone(),
        key: certs.key.clone(),
    };
    // One session answers both the login and the slot question.
    let slot_name = config.replication.slot.as_deref();
    let probe =
        crate::pg::login::probe_login_and_slot(engine, &config.image, &target, slot_name).await;
    let (login, slot_exists) = match probe {
        Ok(probe) => (Ok(probe.identity), probe.slot_exists),
        Err(e) => (Err(e), None),
    };
    let login = login
        .map(|id| {
            let detail = format!(
                "as {} under {}, system {}",
                target.user, target.sslmode, id.system_id
            );
            (id, detail)
        })
        .map_err(Error::from);
    let identity = checks.record("TLS and certificate login", login)?;
    let identity = checks.need(identity)?;

    let slot = match (slot_name, slot_exists) {
        (Some(name), Some(exists)) => {
            let outcome = match exists {
                Ok(true) => Ok((
                    (name.to_string(), false),
                    format!("{name} exists and will be reused"),
                )),
                Ok(false) => Ok(((name.to_string(), true), format!("{name} will be created"))),
                Err(e) => Err(Error::from(e)),
            };
            checks.record("replication slot", outcome)?
        }
        _ => None,
    };
    if let Some(e) = checks.failed.take() {
        return Err(e);
    }
    Ok(Ready {
        certs,
        target,
        identity,
        data_dir,
        slot,
        replaces,
    })
}

async fn check_image(engine: &Engine, image: &str) -> Result<String, Error> {
    let source = engine
        .ensure_image(image, |status| tracing::info!(image, "{status}"))
        .await?;
    Ok(format!(
        "{image} ({})",
        if source == crate::docker::ImageSource::Pulled {
            "pulled"
        } else {
            "local"
        }
    ))
}

pub(crate) async fn check_target(
    files: &DataHost,
    dir: &std::path::Path,
    force: bool,
) -> Result<(TargetState, String), Error> {
    let state = files.inspect_target(dir).await?;
    match state {
        TargetState::Absent => Ok((state, format!("{} will be created", dir.display()))),
        TargetState::Empty => Ok((state, format!("{} is empty", dir.display()))),
        TargetState::NonEmpty if force => Ok((
            state,
            format!(
                "{} is not empty and will be kept aside (--force)",
                dir.display()
            ),
        )),
        TargetState::NonEmpty => Err(datadir::DatadirError::NotEmpty {
            path: dir.to_path_buf(),
        }
        .into()),
    }
}

/// The name must be free, or (with `--force`) taken by pgshadow's own
/// standby for this very directory, which the clone then replaces.
pub(crate) async fn check_container_free(
    engine: &Engine,
    name: &str,
    data_dir: &std::path::Path,
    force: bool,
) -> Result<(Option<String>, String), Error> {
    let labels = match engine.container_state(name).await? {
        ContainerState::Absent => return Ok((None, format!("{name} is free"))),
        ContainerState::Present { labels, .. } => labels,
    };
    let ours = labels.get(LABEL_ROLE).map(String::as_str) == Some("standby")
        && labels.get(LABEL_DATA_DIR).map(String::as_str) == Some(&*data_dir.to_string_lossy());
    if force && ours {
        return Ok((
            Some(name.to_string()),
            format!("{name} is this directory's standby and will be replaced (--force)"),
        ));
    }
    Err(Error::Failed {
        message: format!("a container named {name} exists already"),
        hint: Some(if ours {
            "it is the standby of this directory: pass --force to replace both".into()
        } else {
            format!(
                "remove it (`docker rm -f {name}`) if it is an old standby, or set standby.container to another name"
            )
        }),
    })
}

pub(crate) async fn check_dir_unused(
    engine: &Engine,
    dir: &std::path::Path,
    replaced: Option<&str>,
) -> Result<String, Error> {
    let users: Vec<String> = engine
        .containers_using(dir)
        .await?
        .into_iter()
        .filter(|n| Some(n.as_str()) != replaced)
        .collect();
    if users.is_empty() {
        return Ok("none".into());
    }
    Err(Error::Failed {
        message: format!(
            "{} is bind-mounted by container(s) {}",
            dir.display(),
            users.join(", ")
        ),
        hint: Some(
            "stop and remove those containers first; pgshadow never clones under a running server"
                .into(),
        ),
    })
}

async fn check_tcp(addr: &str) -> Result<String, Error> {
    let connect = tokio::net::TcpStream::connect(addr);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(format!("{addr} accepts connections")),
        Ok(Err(e)) => Err(Error::Failed {
            message: format!("cannot reach the primary at {addr}: {e}"),
            hint: Some(
                "is the primary running, its port published, and the firewall open for this host?"
                    .into(),
            ),
        }),
        Err(_) => Err(Error::Failed {
            message: format!("cannot reach the primary at {addr}: no answer within 5s"),
            hint: Some(
                "a firewall may drop the connection: see `pgshadow firewall` on the primary".into(),
            ),
        }),
    }
}
