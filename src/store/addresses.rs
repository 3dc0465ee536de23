//! A console's record of the nodes of each paired gateway (`gateway_addresses`, schema V4):
//! what the gateway's last `/v1/info` answer listed, so that the console reaches it through
//! another node when the one it talks to is down, and upgrades its nodes one by one.

use super::codec::{col_time, time_text};
use super::error::{db_err, StoreError};
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// One node of a paired gateway, as the gateway listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownNode {
    pub node: String,
    /// `host:port`.
    pub address: String,
    /// Whether the gateway said this node was the elected one.
    pub leader: bool,
}

/// A [`KnownNode`] as stored, with when the gateway last listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownNodeRow {
    pub node: KnownNode,
    pub seen: DateTime<Utc>,
}

impl Tx<'_> {
    /// Replaces what is known of `gateway`'s nodes with `nodes` (the gateway's latest list:
    /// a node it no longer lists is forgotten).
    pub fn set_gateway_nodes(&self, gateway: &str, nodes: &[KnownNode]) -> Result<(), StoreError> {
        let what = "recording a gateway's nodes";
        self.conn()
            .execute(
                "DELETE FROM gateway_addresses WHERE gateway = ?1",
                [gateway],
            )
            .map_err(db_err(what))?;
        let now = time_text(self.now());
        for n in nodes {
            self.conn()
                .execute(
                    "INSERT OR REPLACE INTO gateway_addresses (gateway, node, address, leader, seen) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![gateway, n.node, n.address, n.leader, now],
                )
                .map_err(db_err(what))?;
        }
        Ok(())
    }

    /// The known nodes of `gateway`, by name (none for a 1-node gateway or one never asked).
    pub fn known_gateway_nodes(&self, gateway: &str) -> Result<Vec<KnownNodeRow>, StoreError> {
        let what = "listing a gateway's nodes";
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT node, address, leader, seen FROM gateway_addresses WHERE gateway = ?1 ORDER BY node",
            )
            .map_err(db_err(what))?;
        let rows = stmt
            .query_map([gateway], |r| {
                Ok(KnownNodeRow {
                    node: KnownNode {
                        node: r.get("node")?,
                        address: r.get("address")?,
                        leader: r.get("leader")?,
                    },
                    seen: col_time(r, "seen")?,
                })
            })
            .map_err(db_err(what))?;
        rows.collect::<Result<_, _>>().map_err(db_err(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{GatewayKind, NewGateway, Store};

    fn node(name: &str, port: u16, leader: bool) -> KnownNode {
        KnownNode {
            node: name.into(),
            address: format!("127.0.0.1:{port}"),
            leader,
        }
    }

    #[test]
    fn the_latest_list_replaces_the_last_and_goes_with_its_gateway() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .tx(|tx| {
                tx.insert_gateway(&NewGateway {
                    name: "dc1".into(),
                    address: "127.0.0.1:1".into(),
                    fingerprint: Some("SHA256:aa".into()),
                    client_cert_path: None,
                    client_key_path: None,
                    kind: GatewayKind::Remote,
                })
            })
            .unwrap();
        let first = [node("gw2", 2, false), node("gw1", 1, true)];
        store.tx(|tx| tx.set_gateway_nodes("dc1", &first)).unwrap();
        let known = store.read(|r| r.known_gateway_nodes("dc1")).unwrap();
        let names: Vec<_> = known.iter().map(|k| k.node.clone()).collect();
        assert_eq!(names, vec![node("gw1", 1, true), node("gw2", 2, false)]);

        let second = [node("gw1", 1, false), node("gw3", 3, true)];
        store.tx(|tx| tx.set_gateway_nodes("dc1", &second)).unwrap();
        let known = store.read(|r| r.known_gateway_nodes("dc1")).unwrap();
        let names: Vec<_> = known.iter().map(|k| k.node.clone()).collect();
        assert_eq!(names, second.to_vec());
        assert!(store
            .read(|r| r.known_gateway_nodes("dc2"))
            .unwrap()
            .is_empty());

        store.tx(|tx| tx.delete_gateway("dc1")).unwrap();
        assert!(store
            .read(|r| r.known_gateway_nodes("dc1"))
            .unwrap()
            .is_empty());
    }
}
