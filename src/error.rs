//! The top-level error: every module's error, mapped to an exit code and a hint.

use crate::archive::ArchiveError;
use crate::config::ConfigError;
use crate::datadir::DatadirError;
use crate::docker::DockerError;
use crate::firewall::FirewallError;
use crate::pg::basebackup::BasebackupError;
use crate::pg::login::LoginError;
use crate::pg::server::ServerError;
use crate::pgconf::PgconfError;
use crate::pki::PkiError;

/// Exit code for an operation that failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for bad usage or configuration.
pub const EXIT_USAGE: u8 = 2;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Pgconf(#[from] PgconfError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    /// Boxed: the login errors carry the target and are the largest.
    #[error(transparent)]
    Login(Box<LoginError>),
    #[error(transparent)]
    Datadir(#[from] DatadirError),
    #[error(transparent)]
    Basebackup(#[from] BasebackupError),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A stage of a multi-stage command failed; the cause says why.
    #[error("{command} failed at stage `{stage}`")]
    Stage {
        command: &'static str,
        stage: &'static str,
        #[source]
        source: Box<Error>,
    },
    /// The user interrupted a command; everything it started was undone.
    #[error(
        "interrupted by {signal} during stage `{stage}`; everything this run created was removed"
    )]
    Interrupted {
        signal: &'static str,
        stage: &'static str,
    },
    /// Bad input found by a command after parsing (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A step failed for a reason given as text, with an optional fix.
    #[error("{message}")]
    Failed {
        message: String,
        hint: Option<String>,
    },
}

impl From<LoginError> for Error {
    fn from(error: LoginError) -> Self {
        Error::Login(Box::new(error))
    }
}

impl Error {
    /// Wraps this error as the failure of `stage` of `command`.
    pub fn at(self, command: &'static str, stage: &'static str) -> Error {
        match self {
            // An interrupt already names its stage; a config error is not a stage failure.
            e @ (Error::Interrupted { .. } | Error::Config(_) | Error::Usage(_)) => e,
            e => Error::Stage {
                command,
                stage,
                source: Box::new(e),
            },
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => EXIT_USAGE,
            Error::Pki(e) if e.is_usage() => EXIT_USAGE,
            Error::Docker(crate::docker::DockerError::Endpoint(e)) if e.is_usage() => EXIT_USAGE,
            Error::Firewall(e) if e.is_usage() => EXIT_USAGE,
            Error::Stage { source, .. } => source.exit_code(),
            _ => EXIT_FAILED,
        }
    }

    /// The fix, where we know it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config(e) => e.hint(),
            Error::Docker(e) => e.hint(),
            Error::Pgconf(e) => e.hint(),
            Error::Pki(e) => e.hint(),
            Error::Firewall(e) => e.hint(),
            Error::Login(e) => e.hint(),
            Error::Datadir(e) => e.hint(),
            Error::Basebackup(e) => e.hint(),
            Error::Server(e) => e.hint(),
            Error::Archive(e) => e.hint(),
            Error::Stage { source, .. } => source.hint(),
            Error::Failed { hint, .. } => hint.clone(),
            Error::Usage(_) | Error::Interrupted { .. } => None,
        }
    }

    /// Renders the error as the binary prints it: `error: ...`, each cause
    /// on its own line, then the hint.
    pub fn report(&self) -> String {
        let mut text = format!("error: {self}");
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            text.push_str(&format!("\n  caused by: {e}"));
            cause = e.source();
        }
        if let Some(hint) = self.hint() {
            text.push_str(&format!("\n  hint: {hint}"));
        }
        text
    }
}
