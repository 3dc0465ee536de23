//! The console's record of one gateway deployment, `STATE_DIR/gateway-deploys/NAME.json` (0600:
//! it holds the pairing code). It keeps what a rerun needs and MAAS cannot tell: the pairing
//! code the nodes were deployed with (a rerun pairs with the same code), and — as the engine
//! does for clusters — an intent journal: every MAAS mutation is written here before it is
//! sent and closed with its outcome. An intent a crash left open is resolved on the next run
//! from MAAS itself, where every machine of the gateway carries its agent name.

use crate::gateway::pairing::PairingCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why the record cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot {action} the deployment record {path}: {detail} (check the state dir's owner and permissions; delete the file only if no machine of this gateway is deployed)")]
    Io {
        action: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("the deployment record {path} is damaged ({detail}): if no machine of this gateway is deployed yet, delete it and rerun; otherwise restore it from a backup (the deployed nodes accept only the pairing code kept there)")]
    Damaged { path: PathBuf, detail: String },
}

/// One journaled MAAS mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// `allocate`, `set_owner_data`, `deploy`, `release`.
    pub op: String,
    /// A system id, or the placement for an allocation.
    pub target: String,
    pub started: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    gateway: String,
    code: String,
    created: DateTime<Utc>,
    #[serde(default)]
    intents: Vec<Intent>,
}

/// A deployment record, loaded or new. `Debug` hides the code.
pub struct DeployRecord {
    path: PathBuf,
    pub gateway: String,
    pub code: PairingCode,
    pub created: DateTime<Utc>,
    pub intents: Vec<Intent>,
}

impl std::fmt::Debug for DeployRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployRecord")
            .field("path", &self.path)
            .field("gateway", &self.gateway)
            .field("intents", &self.intents.len())
            .finish_non_exhaustive()
    }
}

/// Where gateway `name`'s record lives.
pub fn record_path(state_dir: &Path, name: &str) -> PathBuf {
    state_dir
        .join("gateway-deploys")
        .join(format!("{name}.json"))
}

impl DeployRecord {
    /// The record of gateway `name`, or a new one with a fresh pairing code (not yet saved).
    pub fn load_or_new(state_dir: &Path, name: &str) -> Result<DeployRecord, RecordError> {
        let path = record_path(state_dir, name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let damaged = |detail: String| RecordError::Damaged {
                    path: path.clone(),
                    detail,
                };
                let disk: OnDisk =
                    serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
                if disk.gateway != name {
                    return Err(damaged(format!(
                        "it is the record of gateway `{}`",
                        disk.gateway
                    )));
                }
                let code = PairingCode::parse(&disk.code).map_err(|e| damaged(e.to_string()))?;
                Ok(DeployRecord {
                    path,
                    gateway: disk.gateway,
                    code,
                    created: disk.created,
                    intents: disk.intents,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DeployRecord {
                path,
                gateway: name.to_string(),
                code: PairingCode::generate(&mut rand::rng()),
                created: Utc::now(),
                intents: Vec::new(),
            }),
            Err(e) => Err(RecordError::Io {
                action: "read",
                path,
                detail: e.to_string(),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the record, 0600, replacing the old one atomically.
    pub fn save(&self) -> Result<(), RecordError> {
        let io = |action, detail: String| RecordError::Io {
            action,
            path: self.path.clone(),
            detail,
        };
        if let Some(dir) = self.path.parent() {
            crate::paths::create_private_dir(dir)
                .map_err(|e| io("create the folder of", e.to_string()))?;
        }
        let disk = OnDisk {
            gateway: self.gateway.clone(),
            code: self.code.reveal(),
            created: self.created,
            intents: self.intents.clone(),
        };
        let text = serde_json::to_vec_pretty(&disk).map_err(|e| io("encode", e.to_string()))?;
        crate::paths::write_private_file(&self.path, &text).map_err(|e| io("write", e.to_string()))
    }

    /// Journals a mutation about to be sent (saved before returning). Returns its index.
    pub fn begin(&mut self, op: &str, target: &str) -> Result<usize, RecordError> {
        self.intents.push(Intent {
            op: op.to_string(),
            target: target.to_string(),
            started: Utc::now(),
            completed: None,
            outcome: None,
        });
        self.save()?;
        Ok(self.intents.len() - 1)
    }

    /// Closes intent `index` with what came of it (saved before returning).
    pub fn complete(
        &mut self,
        index: usize,
        outcome: impl Into<String>,
    ) -> Result<(), RecordError> {
        if let Some(i) = self.intents.get_mut(index) {
            i.completed = Some(Utc::now());
            i.outcome = Some(outcome.into());
        }
        self.save()
    }

    /// Intents an interrupted run left open.
    pub fn open(&self) -> Vec<&Intent> {
        self.intents
            .iter()
            .filter(|i| i.completed.is_none())
            .collect()
    }

    /// Closes every open intent as resolved from MAAS's listing (the caller has just read it).
    pub fn resolve_open(&mut self, found: &str) -> Result<usize, RecordError> {
        let now = Utc::now();
        let mut n = 0;
        for i in self.intents.iter_mut().filter(|i| i.completed.is_none()) {
            i.completed = Some(now);
            i.outcome = Some(format!("resolved after an interrupted run: {found}"));
            n += 1;
        }
        if n > 0 {
            self.save()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_survives_a_reload_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = DeployRecord::load_or_new(dir.path(), "dc1").unwrap();
        let code = r.code.clone();
        let i = r.begin("allocate", "zone default").unwrap();
        let again = DeployRecord::load_or_new(dir.path(), "dc1").unwrap();
        assert_eq!(again.code, code);
        assert_eq!(again.open().len(), 1);
        r.complete(i, "allocated abc").unwrap();
        let mut again = DeployRecord::load_or_new(dir.path(), "dc1").unwrap();
        assert!(again.open().is_empty());
        assert_eq!(again.resolve_open("x").unwrap(), 0);
        assert!(!format!("{again:?}").contains(&code.reveal()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(r.path()).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Another gateway's name in the file, or junk, is named as damage.
        std::fs::copy(r.path(), record_path(dir.path(), "dc2")).unwrap();
        assert!(matches!(
            DeployRecord::load_or_new(dir.path(), "dc2"),
            Err(RecordError::Damaged { .. })
        ));
        std::fs::write(r.path(), b"{").unwrap();
        assert!(DeployRecord::load_or_new(dir.path(), "dc1")
            .unwrap_err()
            .to_string()
            .contains("damaged"));
    }
}
