//! Admitting a replacement node into a running 3-node gateway's etcd before it is deployed.
//!
//! The surviving members still list the dead node and do not know the new one, so a
//! replacement started like the first three (`ETCD_INITIAL_CLUSTER_STATE=new`) would fail to
//! join. etcd serves clients on each node's loopback only, so the console asks a surviving
//! gateway node over the paired channel ([`crate::gateway::membership_route`]) to drop the
//! members that are gone and admit the new ones, and deploys the replacement with state
//! `existing` and the member list that node returned.

use super::error::DeployError;
use crate::bootstrap::gateway_user_data::{EtcdMember, ETCD_PEER_PORT};
use crate::gateway::client::GatewayClientError;
use crate::gateway::console::{client_at, ConsoleError};
use crate::gateway::membership_route::MEMBERS_PATH;
use crate::ha::membership::{Peer, RepairRequest, Repaired};
use crate::store::Store;
use futures_util::future::BoxFuture;

/// Asks a running gateway to bring its etcd membership to a request. `nodes`: the surviving
/// nodes' `HOST:PORT` (from MAAS), to try when the usual address does not answer.
pub trait MembershipRepair: Send + Sync {
    fn repair<'a>(
        &'a self,
        request: &'a RepairRequest,
        nodes: &'a [String],
    ) -> BoxFuture<'a, Result<Repaired, DeployError>>;
}

/// The request for `members` (every node the gateway should have), those in `new` being
/// deployed now. Peer URLs as the nodes' `/etc/default/etcd` advertises them.
pub fn request_for(members: &[EtcdMember], new: &[String]) -> RepairRequest {
    RepairRequest {
        members: members
            .iter()
            .map(|m| Peer {
                name: m.name.clone(),
                peer_url: format!("https://{}:{ETCD_PEER_PORT}", m.host),
                new: new.contains(&m.name),
            })
            .collect(),
    }
}

/// Through the paired channel, at the first address that answers: `addresses` (the
/// operator's `--pair-address`, then the address the console recorded at pairing), then the
/// surviving nodes' MAAS addresses — the node the console paired with may be the one that died.
/// The nodes share one CA, so the pairing holds at each.
pub struct ThroughGateway<'a> {
    pub store: &'a Store,
    pub gateway: &'a str,
    pub addresses: Vec<String>,
}

impl ThroughGateway<'_> {
    async fn ask(
        &self,
        request: &RepairRequest,
        nodes: &[String],
    ) -> Result<Repaired, DeployError> {
        let mut unreachable = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let candidates = self
            .addresses
            .iter()
            .chain(nodes)
            .filter(|a| seen.insert(a.as_str()));
        for address in candidates {
            let client = client_at(self.store, self.gateway, Some(address)).map_err(|e| {
                DeployError::Membership {
                    gateway: self.gateway.to_string(),
                    detail: e.to_string(),
                }
            })?;
            match client.post::<_, Repaired>(MEMBERS_PATH, request).await {
                Ok(done) => return Ok(done),
                Err(e @ GatewayClientError::Connect { .. }) => {
                    tracing::debug!(%address, error = %e, "gateway node not answering; trying the next");
                    unreachable.push(e.to_string());
                }
                Err(e) => {
                    return Err(DeployError::Membership {
                        gateway: self.gateway.to_string(),
                        detail: ConsoleError::from(e).to_string(),
                    })
                }
            }
        }
        Err(DeployError::Membership {
            gateway: self.gateway.to_string(),
            detail: format!(
                "no node answered: {}",
                if unreachable.is_empty() {
                    "no address to ask".to_string()
                } else {
                    unreachable.join("; ")
                }
            ),
        })
    }
}

impl MembershipRepair for ThroughGateway<'_> {
    fn repair<'a>(
        &'a self,
        request: &'a RepairRequest,
        nodes: &'a [String],
    ) -> BoxFuture<'a, Result<Repaired, DeployError>> {
        Box::pin(self.ask(request, nodes))
    }
}
