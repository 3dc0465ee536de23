//! Logging to a file under the state dir, never to the terminal (the console draws on it).
//! `KUBEMAAS_LOG` (or `RUST_LOG`) sets the filter; the default is `info` for kubemaas.

use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts file logging in `log_dir/kubemaas.log`. Keep the guard alive for the process's life:
/// dropping it flushes the log.
pub fn init_file_logging(log_dir: &Path) -> std::io::Result<WorkerGuard> {
    crate::paths::create_private_dir(log_dir).map_err(std::io::Error::other)?;
    let appender = tracing_appender::rolling::never(log_dir, "kubemaas.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = std::env::var("KUBEMAAS_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "kubemaas=info,warn".to_string());
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true)
        .finish();
    // A second init in one process (tests) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(guard)
}
