//! A cluster's bootstrap secrets (CAs, service-account key, bootstrap token) in a 0600 file of
//! the state dir, `clusters/<id>/secrets.json`. Kept out of the database rows so that no
//! `cluster show -o json` or status dump can ever print them.

use super::error::EngineError;
use crate::bootstrap::ClusterSecrets;
use crate::store::ClusterId;
use std::path::{Path, PathBuf};

/// Where the cluster's secrets live.
pub fn secrets_path(state_dir: &Path, cluster: &ClusterId) -> PathBuf {
    state_dir
        .join("clusters")
        .join(cluster.as_str())
        .join("secrets.json")
}

/// The stored secrets, if any.
pub fn load(state_dir: &Path, cluster: &ClusterId) -> Result<Option<ClusterSecrets>, EngineError> {
    let path = secrets_path(state_dir, cluster);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(EngineError::Io {
                action: "read",
                path,
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        // serde_json's message names a position and an expectation, never the file's content.
        .map_err(|e| EngineError::DamagedSecrets {
            cluster: cluster.to_string(),
            path,
            detail: e.to_string(),
        })
}

/// Writes the secrets (0600, in a 0700 directory).
pub fn save(
    state_dir: &Path,
    cluster: &ClusterId,
    secrets: &ClusterSecrets,
) -> Result<(), EngineError> {
    let path = secrets_path(state_dir, cluster);
    if let Some(dir) = path.parent() {
        crate::paths::create_private_dir(dir).map_err(|e| EngineError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    let text = serde_json::to_vec(secrets).map_err(|e| EngineError::Io {
        action: "encode",
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    crate::paths::write_private_file(&path, &text).map_err(|source| EngineError::Io {
        action: "write",
        path,
        source,
    })
}

/// Removes a deleted cluster's secrets (and its directory).
pub fn remove(state_dir: &Path, cluster: &ClusterId) -> Result<(), EngineError> {
    let path = secrets_path(state_dir, cluster);
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(EngineError::Io {
            action: "remove",
            path: dir.to_path_buf(),
            source,
        }),
    }
}
