//! The consoles a gateway has paired, by client-certificate fingerprint, kept in
//! `gateway/consoles.json` (0600). The server admits a request only from a certificate listed
//! here and not revoked, so revoking a console (`kubemaas gateway revoke NAME` on the gateway
//! host) shuts it out at its next request, though its certificate still chains to the CA.

use super::pki::fingerprint_text;
use crate::store::replica::StoredConsole;
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// One paired console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleRecord {
    pub name: String,
    /// `SHA256:…` of its client certificate.
    pub fingerprint: String,
    /// The address it paired from.
    pub remote: String,
    pub paired_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot {action} the paired-console list {path}: {source} (check the gateway state dir's permissions)")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the paired-console list {path} is damaged ({reason}): fix or remove it (removing it means every console must pair again)")]
    Damaged { path: PathBuf, reason: String },
    #[error("no paired console is called `{name}`: list them with `kubemaas gateway consoles` on the gateway host")]
    Unknown { name: String },
    #[error("the replicated paired-console list: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The paired consoles. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct ConsoleRegistry {
    path: Option<PathBuf>,
    records: Arc<RwLock<Vec<ConsoleRecord>>>,
    /// A replicated gateway keeps its consoles in the store instead, so that a console paired
    /// with one node is admitted by all (each node reads its own copy).
    store: Option<Store>,
}

impl From<StoredConsole> for ConsoleRecord {
    fn from(c: StoredConsole) -> Self {
        ConsoleRecord {
            name: c.name,
            fingerprint: c.fingerprint,
            remote: c.remote,
            paired_at: c.paired_at,
            revoked_at: c.revoked_at,
        }
    }
}

impl ConsoleRegistry {
    /// Reads `path` (a missing file is an empty list).
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        let records = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| RegistryError::Damaged {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(RegistryError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(ConsoleRegistry {
            path: Some(path.to_path_buf()),
            records: Arc::new(RwLock::new(records)),
            store: None,
        })
    }

    /// The consoles of a replicated gateway, kept in `store` (schema V3's `gateway_consoles`).
    pub fn replicated(store: Store) -> Self {
        ConsoleRegistry {
            path: None,
            records: Arc::new(RwLock::new(Vec::new())),
            store: Some(store),
        }
    }

    /// A list kept in memory only (tests, throw-away gateways).
    pub fn in_memory() -> Self {
        ConsoleRegistry {
            path: None,
            records: Arc::new(RwLock::new(Vec::new())),
            store: None,
        }
    }

    fn save(&self, records: &[ConsoleRecord]) -> Result<(), RegistryError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(records).unwrap_or_default();
        crate::paths::write_private_file(path, &text).map_err(|source| RegistryError::Io {
            action: "write",
            path: path.clone(),
            source,
        })
    }

    /// Records a newly paired console (saved before this returns).
    pub fn add(&self, record: ConsoleRecord) -> Result<(), RegistryError> {
        if let Some(store) = &self.store {
            let stored = StoredConsole {
                name: record.name,
                fingerprint: record.fingerprint,
                remote: record.remote,
                paired_at: record.paired_at,
                revoked_at: record.revoked_at,
            };
            store.tx(|tx| tx.add_gateway_console(&stored))?;
            return Ok(());
        }
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        records.push(record);
        if let Err(e) = self.save(&records) {
            records.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Whether a request with this client certificate may pass.
    pub fn is_active(&self, fingerprint: &[u8; 32]) -> bool {
        let text = fingerprint_text(fingerprint);
        if let Some(store) = &self.store {
            // A local read: no network on the request path.
            return store
                .read(|r| r.gateway_console_active(&text))
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "checking a console failed: refusing it");
                    false
                });
        }
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|r| r.fingerprint == text && r.revoked_at.is_none())
    }

    /// Revokes every console called `name`; returns how many were still active.
    pub fn revoke(&self, name: &str) -> Result<usize, RegistryError> {
        if let Some(store) = &self.store {
            let count = store
                .tx(|tx| tx.revoke_gateway_consoles(name))?
                .ok_or_else(|| RegistryError::Unknown { name: name.into() })?;
            tracing::info!(console = name, count, "console revoked");
            return Ok(count);
        }
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        if !records.iter().any(|r| r.name == name) {
            return Err(RegistryError::Unknown { name: name.into() });
        }
        let before = records.clone();
        let now = Utc::now();
        let mut count = 0;
        for r in records
            .iter_mut()
            .filter(|r| r.name == name && r.revoked_at.is_none())
        {
            r.revoked_at = Some(now);
            count += 1;
        }
        if let Err(e) = self.save(&records) {
            *records = before;
            return Err(e);
        }
        tracing::info!(console = name, count, "console revoked");
        Ok(count)
    }

    /// Every console ever paired, oldest first.
    pub fn list(&self) -> Vec<ConsoleRecord> {
        if let Some(store) = &self.store {
            return match store.read(|r| r.gateway_consoles()) {
                Ok(all) => all.into_iter().map(ConsoleRecord::from).collect(),
                Err(e) => {
                    tracing::error!(error = %e, "listing consoles failed");
                    Vec::new()
                }
            };
        }
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, fp: &[u8; 32]) -> ConsoleRecord {
        ConsoleRecord {
            name: name.into(),
            fingerprint: fingerprint_text(fp),
            remote: "127.0.0.1:1".into(),
            paired_at: Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn consoles_are_kept_across_restarts_and_revoked_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consoles.json");
        let reg = ConsoleRegistry::load(&path).unwrap();
        reg.add(record("laptop", &[1; 32])).unwrap();
        reg.add(record("desk", &[2; 32])).unwrap();
        let again = ConsoleRegistry::load(&path).unwrap();
        assert!(again.is_active(&[1; 32]) && again.is_active(&[2; 32]));
        assert!(!again.is_active(&[3; 32]));
        assert_eq!(again.revoke("laptop").unwrap(), 1);
        assert!(!again.is_active(&[1; 32]));
        assert!(!ConsoleRegistry::load(&path).unwrap().is_active(&[1; 32]));
        assert!(matches!(
            again.revoke("nobody"),
            Err(RegistryError::Unknown { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_replicated_registry_keeps_consoles_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reg = ConsoleRegistry::replicated(store.clone());
        reg.add(record("laptop", &[1; 32])).unwrap();
        // Another handle on the same store (another node's copy, once replicated) sees it.
        let other = ConsoleRegistry::replicated(store);
        assert!(other.is_active(&[1; 32]) && !other.is_active(&[2; 32]));
        assert_eq!(other.list().len(), 1);
        assert_eq!(other.revoke("laptop").unwrap(), 1);
        assert!(!reg.is_active(&[1; 32]));
        assert!(matches!(
            reg.revoke("nobody"),
            Err(RegistryError::Unknown { .. })
        ));
    }

    #[test]
    fn a_damaged_list_is_refused_not_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("consoles.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(
            ConsoleRegistry::load(&path),
            Err(RegistryError::Damaged { .. })
        ));
    }
}
