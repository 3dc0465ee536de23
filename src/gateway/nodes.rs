//! The nodes of a replicated (3-node) gateway as `GET /v1/info` lists them: every node
//! recorded in the store (`gateway_nodes`, written by each node once it listens), which one
//! answered, and which one etcd elected.
//!
//! The elected node is cached here and refreshed by a background task ([`watch_leader`]):
//! `/v1/info` is asked on every console command, and must not cost an etcd round trip (nor
//! fail when etcd is briefly away). The cache may lag an election by about
//! [`LEADER_REFRESH`]; consoles use it to order rolling upgrades, not to decide anything
//! that needs it exact.

use super::protocol::{NodeInfo, NodesInfo};
use crate::ha::Candidate;
use crate::store::{Store, StoreError};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How often the elected node is read from etcd.
pub const LEADER_REFRESH: Duration = Duration::from_secs(1);

/// This node's view of its gateway's nodes. Cheap to clone; clones share the leader cache.
#[derive(Debug, Clone)]
pub struct NodeDirectory {
    store: Store,
    node: String,
    leader: Arc<RwLock<Option<String>>>,
}

impl NodeDirectory {
    /// The directory of node `node`, reading the node list from `store` (its own copy).
    pub fn new(store: Store, node: &str) -> Self {
        NodeDirectory {
            store,
            node: node.to_string(),
            leader: Arc::new(RwLock::new(None)),
        }
    }

    /// The node this directory speaks for.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Records which node etcd elected (`None`: none is, or etcd cannot be asked).
    pub fn set_leader(&self, leader: Option<String>) {
        *self.leader.write().unwrap_or_else(PoisonError::into_inner) = leader;
    }

    /// The elected node, as last seen.
    pub fn leader(&self) -> Option<String> {
        self.leader
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What `/v1/info` says about the nodes: read from this node's copy of the store (a
    /// local read, no network).
    pub fn answer(&self) -> Result<NodesInfo, StoreError> {
        let leader = self.leader();
        let nodes = self.store.read(|r| r.gateway_nodes())?;
        Ok(NodesInfo {
            node: Some(self.node.clone()),
            nodes: nodes
                .into_iter()
                .map(|n| NodeInfo {
                    leader: leader.as_deref() == Some(n.name.as_str()),
                    name: n.name,
                    address: n.address,
                })
                .collect(),
        })
    }
}

/// Keeps `directory`'s leader cache current by asking etcd every [`LEADER_REFRESH`] until
/// `stop` turns true. A failed read leaves the last answer in place: a console is better
/// told the last known leader than none while etcd is briefly unreachable.
pub fn watch_leader(
    directory: NodeDirectory,
    candidate: Arc<Candidate>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match candidate.leader().await {
                Ok(leader) => directory.set_leader(leader),
                Err(e) => tracing::debug!(error = %e, "could not read the elected node"),
            }
            tokio::select! {
                _ = tokio::time::sleep(LEADER_REFRESH) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_lists_recorded_nodes_and_marks_the_cached_leader() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for (name, address) in [("gw2", "127.0.0.1:2"), ("gw1", "127.0.0.1:1")] {
            store
                .tx(|tx| tx.announce_gateway_node(name, address))
                .unwrap();
        }
        let directory = NodeDirectory::new(store, "gw2");
        let answer = directory.answer().unwrap();
        assert_eq!(answer.node.as_deref(), Some("gw2"));
        assert!(answer.nodes.iter().all(|n| !n.leader));
        directory.clone().set_leader(Some("gw1".into()));
        let answer = directory.answer().unwrap();
        let leaders: Vec<_> = answer
            .nodes
            .iter()
            .filter(|n| n.leader)
            .map(|n| (n.name.as_str(), n.address.as_str()))
            .collect();
        assert_eq!(leaders, vec![("gw1", "127.0.0.1:1")]);
        assert_eq!(answer.nodes.len(), 2);
    }
}
