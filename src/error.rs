//! The top-level error: every module's error, mapped to an exit code and a hint.

use crate::config::ConfigError;
use crate::docker::DockerError;
use crate::firewall::FirewallError;
use crate::pg::login::LoginError;
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
    #[error(transparent)]
    Login(#[from] LoginError),
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

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => EXIT_USAGE,
            Error::Pki(e) if e.is_usage() => EXIT_USAGE,
            Error::Firewall(e) if e.is_usage() => EXIT_USAGE,
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
            Error::Failed { hint, .. } => hint.clone(),
            Error::Usage(_) => None,
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
