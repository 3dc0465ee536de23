//! What a replicated gateway's nodes share besides the engine's state: the gateway CA (one
//! identity for consoles, whichever node they reach), the paired consoles and the nodes'
//! addresses. Kept in tables (schema V3) so the replicated log carries them to every node.

use crate::store::codec::{col_opt_time, col_time, time_text};
use crate::store::error::{db_err, StoreError};
use crate::store::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// The key under which the gateway CA is kept in `gateway_identity`.
const CA: &str = "ca";

/// The gateway CA as PEM texts. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCa {
    pub key_pem: String,
    pub cert_pem: String,
}

impl std::fmt::Debug for StoredCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCa").finish_non_exhaustive()
    }
}

/// A console paired with any node of the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConsole {
    pub name: String,
    /// `SHA256:…` of its client certificate.
    pub fingerprint: String,
    pub remote: String,
    pub paired_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A node of the gateway, as it announced itself when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNode {
    pub name: String,
    /// Where consoles reach it (`host:port`).
    pub address: String,
    pub started: DateTime<Utc>,
}

impl Tx<'_> {
    /// The gateway CA, once a node created it.
    pub fn gateway_ca(&self) -> Result<Option<StoredCa>, StoreError> {
        self.conn()
            .query_row(
                "SELECT key_pem, cert_pem FROM gateway_identity WHERE name = ?1",
                [CA],
                |r| {
                    Ok(StoredCa {
                        key_pem: r.get(0)?,
                        cert_pem: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(db_err("reading the gateway CA"))
    }

    /// Stores `ca` unless a CA is there already; returns the one that is kept. Nodes starting
    /// together each offer a new CA and all end up with the first one written.
    pub fn seed_gateway_ca(&self, ca: &StoredCa) -> Result<StoredCa, StoreError> {
        if let Some(kept) = self.gateway_ca()? {
            return Ok(kept);
        }
        self.conn()
            .execute(
                "INSERT INTO gateway_identity (name, key_pem, cert_pem, created) VALUES (?1, ?2, ?3, ?4)",
                params![CA, ca.key_pem, ca.cert_pem, time_text(self.now())],
            )
            .map_err(db_err("storing the gateway CA"))?;
        Ok(ca.clone())
    }

    /// Records a newly paired console.
    pub fn add_gateway_console(&self, c: &StoredConsole) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO gateway_consoles (fingerprint, name, remote, paired_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    c.fingerprint,
                    c.name,
                    c.remote,
                    time_text(c.paired_at),
                    c.revoked_at.map(time_text)
                ],
            )
            .map_err(db_err("recording a paired console"))?;
        Ok(())
    }

    /// Every paired console, oldest first.
    pub fn gateway_consoles(&self) -> Result<Vec<StoredConsole>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT fingerprint, name, remote, paired_at, revoked_at FROM gateway_consoles ORDER BY paired_at, fingerprint",
            )
            .map_err(db_err("listing paired consoles"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredConsole {
                    fingerprint: r.get("fingerprint")?,
                    name: r.get("name")?,
                    remote: r.get("remote")?,
                    paired_at: col_time(r, "paired_at")?,
                    revoked_at: col_opt_time(r, "revoked_at")?,
                })
            })
            .map_err(db_err("listing paired consoles"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db_err("listing paired consoles"))
    }

    /// Whether a console with this certificate fingerprint is paired and not revoked.
    pub fn gateway_console_active(&self, fingerprint: &str) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT 1 FROM gateway_consoles WHERE fingerprint = ?1 AND revoked_at IS NULL",
                [fingerprint],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(db_err("checking a console"))
    }

    /// Revokes the active consoles called `name`; how many (`None`: no console has that name).
    pub fn revoke_gateway_consoles(&self, name: &str) -> Result<Option<usize>, StoreError> {
        let known: bool = self
            .conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM gateway_consoles WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )
            .map_err(db_err("revoking a console"))?;
        if !known {
            return Ok(None);
        }
        let n = self
            .conn()
            .execute(
                "UPDATE gateway_consoles SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, time_text(self.now())],
            )
            .map_err(db_err("revoking a console"))?;
        Ok(Some(n))
    }

    /// Records (or refreshes) where node `name` serves consoles.
    pub fn announce_gateway_node(&self, name: &str, address: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO gateway_nodes (name, address, started) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET address = excluded.address, started = excluded.started",
                params![name, address, time_text(self.now())],
            )
            .map_err(db_err("recording this gateway node"))?;
        Ok(())
    }

    /// The gateway's nodes, by name.
    pub fn gateway_nodes(&self) -> Result<Vec<StoredNode>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT name, address, started FROM gateway_nodes ORDER BY name")
            .map_err(db_err("listing gateway nodes"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredNode {
                    name: r.get("name")?,
                    address: r.get("address")?,
                    started: col_time(r, "started")?,
                })
            })
            .map_err(db_err("listing gateway nodes"))?;
        rows.collect::<Result<_, _>>()
            .map_err(db_err("listing gateway nodes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_first_ca_stays_and_consoles_and_nodes_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = StoredCa {
            key_pem: "k1".into(),
            cert_pem: "c1".into(),
        };
        let second = StoredCa {
            key_pem: "k2".into(),
            cert_pem: "c2".into(),
        };
        assert_eq!(store.tx(|tx| tx.seed_gateway_ca(&first)).unwrap(), first);
        assert_eq!(store.tx(|tx| tx.seed_gateway_ca(&second)).unwrap(), first);
        assert!(!format!("{first:?}").contains("k1"));

        let console = StoredConsole {
            name: "laptop".into(),
            fingerprint: "SHA256:aa".into(),
            remote: "127.0.0.1:1".into(),
            paired_at: Utc::now(),
            revoked_at: None,
        };
        store.tx(|tx| tx.add_gateway_console(&console)).unwrap();
        assert!(store
            .read(|r| r.gateway_console_active("SHA256:aa"))
            .unwrap());
        assert!(!store
            .read(|r| r.gateway_console_active("SHA256:bb"))
            .unwrap());
        assert_eq!(
            store.tx(|tx| tx.revoke_gateway_consoles("laptop")).unwrap(),
            Some(1)
        );
        assert_eq!(
            store.tx(|tx| tx.revoke_gateway_consoles("nobody")).unwrap(),
            None
        );
        assert!(!store
            .read(|r| r.gateway_console_active("SHA256:aa"))
            .unwrap());

        store
            .tx(|tx| tx.announce_gateway_node("gw2", "127.0.0.1:2"))
            .unwrap();
        store
            .tx(|tx| tx.announce_gateway_node("gw1", "127.0.0.1:1"))
            .unwrap();
        store
            .tx(|tx| tx.announce_gateway_node("gw2", "127.0.0.1:3"))
            .unwrap();
        let nodes = store.read(|r| r.gateway_nodes()).unwrap();
        let names: Vec<_> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.address.as_str()))
            .collect();
        assert_eq!(names, vec![("gw1", "127.0.0.1:1"), ("gw2", "127.0.0.1:3")]);
    }
}
