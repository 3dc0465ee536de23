//! A MAAS client for a stored cloud account. The client reads a private CA from a file, while
//! the store keeps the PEM itself; the PEM is written to `STATE_DIR/ca/ACCOUNT.pem` whenever a
//! client is built, so the file always matches the store.

use crate::maas::{
    ApiKey, ClientConfigError, Endpoint, MaasClient, MaasConfig, RetryPolicy, TlsOptions,
};
use crate::store::AccountRow;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why no client could be built for an account.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot write the CA certificate of account {account} to {}: {error} (check the state directory's permissions and free space)", path.display())]
    CaFile {
        account: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] ClientConfigError),
}

/// How patient a client is: interactive checks answer fast, the rest rides out a busy region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// `account add` / `validate`: one quick retry, short timeouts, so an operator typing an
    /// account hears about a wrong URL in seconds.
    Check,
    /// Audits and releases: the client's default retries and timeouts.
    Work,
}

/// The client configuration for these settings.
pub fn config(mut config: MaasConfig, patience: Patience) -> MaasConfig {
    if patience == Patience::Check {
        config.timeout = Duration::from_secs(30);
        config.connect_timeout = Duration::from_secs(10);
        config.retry = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        };
    }
    config
}

/// Where the CA of account `name` is written.
pub fn ca_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join("ca").join(format!("{name}.pem"))
}

/// A client for the stored account `row`.
pub fn client_for(
    state_dir: &Path,
    row: &AccountRow,
    patience: Patience,
) -> Result<MaasClient, ConnectError> {
    client_with(
        state_dir,
        &row.name,
        &row.endpoint,
        &row.api_key,
        row.ca_cert.as_deref(),
        patience,
    )
}

/// A client for account `name`'s region, trusting `ca_pem` (written to [`ca_path`]) if given.
pub fn client_with(
    state_dir: &Path,
    name: &str,
    endpoint: &Endpoint,
    api_key: &ApiKey,
    ca_pem: Option<&str>,
    patience: Patience,
) -> Result<MaasClient, ConnectError> {
    let mut tls = TlsOptions::default();
    if let Some(pem) = ca_pem {
        let path = ca_path(state_dir, name);
        let err = |error| ConnectError::CaFile {
            account: name.to_string(),
            path: path.clone(),
            error,
        };
        let dir = path.parent().unwrap_or(state_dir);
        crate::paths::create_private_dir(dir).map_err(|e| err(std::io::Error::other(e)))?;
        crate::paths::write_private_file(&path, pem.as_bytes()).map_err(err)?;
        tls.ca_cert = Some(path);
    }
    let mut base = MaasConfig::new(endpoint.clone(), api_key.clone());
    base.tls = tls;
    Ok(MaasClient::new(config(base, patience))?)
}

/// Removes the CA file of a deleted account (nothing to do when there is none).
pub fn remove_ca(state_dir: &Path, name: &str) {
    let path = ca_path(state_dir, name);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // A stale CA file is harmless (the next account of that name overwrites it).
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the CA file of a deleted account")
        }
    }
}
