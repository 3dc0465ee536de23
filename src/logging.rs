//! Logging to a file under the state dir, never to the terminal (the console draws on it).
//! `KUBEMAAS_LOG` (or `RUST_LOG`) sets the filter; the default is `info` for kubemaas.

use std::path::Path;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts file logging in `log_dir/kubemaas.log`. Keep the guard alive for the process's life:
/// dropping it flushes the log. `None` when the log cannot be written because the state dir is
/// read-only: the commands that only read still work there, without a log.
pub fn init_file_logging(log_dir: &Path) -> std::io::Result<Option<WorkerGuard>> {
    let file = match open_log(log_dir) {
        Ok(file) => file,
        Err(e) if read_only(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let (writer, guard) = tracing_appender::non_blocking(file);
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
    Ok(Some(guard))
}

/// `log_dir/kubemaas.log` opened for appending, created 0600 (with its 0700 directory).
fn open_log(log_dir: &Path) -> std::io::Result<std::fs::File> {
    crate::paths::create_private_dir(log_dir).map_err(|e| match e {
        crate::paths::PathsError::Create { source, .. } => source,
        other => std::io::Error::other(other),
    })?;
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(log_dir.join("kubemaas.log"))
}

fn read_only(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
    )
}
