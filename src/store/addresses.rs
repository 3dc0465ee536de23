//! A console's record of the nodes of each paired gateway (`gateway_addresses`, schema V4):
//! what the gateway's last `/v1/info` answer listed, so that the console reaches it through
//! another node when the one it talks to is down, and upgrades its nodes one by one; and which
//! node last answered (`gateway_last_node`, schema V5), where the next console process starts.

use super::codec::{col_time, time_text};
use super::error::{db_err, StoreError};
use super::tx::Tx;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

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

    /// Records that `address` is the node of `gateway` that answered last (written when a
    /// console's client moves to another node, not on every call).
    pub fn set_gateway_last_node(&self, gateway: &str, address: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO gateway_last_node (gateway, address, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (gateway) DO UPDATE SET address = excluded.address, at = excluded.at",
                params![gateway, address, time_text(self.now())],
            )
            .map_err(db_err("recording the gateway node that answered"))?;
        Ok(())
    }

    /// The address of the node of `gateway` that answered last, if one was recorded.
    pub fn gateway_last_node(&self, gateway: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT address FROM gateway_last_node WHERE gateway = ?1",
                [gateway],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err("reading the gateway node that answered last"))
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

    #[test]
    fn the_node_that_answered_last_is_one_per_gateway_replaced_and_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for name in ["dc1", "dc2"] {
            store
                .tx(|tx| {
                    tx.insert_gateway(&NewGateway {
                        name: name.into(),
                        address: "127.0.0.1:1".into(),
                        fingerprint: Some("SHA256:aa".into()),
                        client_cert_path: None,
                        client_key_path: None,
                        kind: GatewayKind::Remote,
                    })
                })
                .unwrap();
        }
        let last = |g: &str| store.read(|r| r.gateway_last_node(g)).unwrap();
        assert_eq!(last("dc1"), None);
        store
            .tx(|tx| tx.set_gateway_last_node("dc1", "127.0.0.1:2"))
            .unwrap();
        store
            .tx(|tx| tx.set_gateway_last_node("dc1", "gw3.example:8443"))
            .unwrap();
        store
            .tx(|tx| tx.set_gateway_last_node("dc2", "127.0.0.1:9"))
            .unwrap();
        assert_eq!(last("dc1").as_deref(), Some("gw3.example:8443"));
        assert_eq!(last("dc2").as_deref(), Some("127.0.0.1:9"));
        // Only for a gateway this console knows.
        assert!(store
            .tx(|tx| tx.set_gateway_last_node("nowhere", "127.0.0.1:2"))
            .is_err());
        store.tx(|tx| tx.delete_gateway("dc1")).unwrap();
        assert_eq!(last("dc1"), None);
        assert_eq!(last("dc2").as_deref(), Some("127.0.0.1:9"));
    }
}
