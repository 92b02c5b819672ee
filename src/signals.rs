//! SIGINT and SIGTERM as a future, so that long stages can be abandoned and
//! cleaned up instead of leaving containers and staging directories behind.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves with the signal's name when SIGINT or SIGTERM arrives.
pub async fn interrupted() -> &'static str {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default action (exit) applies; never resolve.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
