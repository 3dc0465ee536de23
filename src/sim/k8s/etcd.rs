//! The simulated clusters' etcd: members derived in [`super::cluster_view`], removed here,
//! and the fault record of control-plane machines released while still members.
//!
//! On the control API, answering as etcd's v3 JSON gateway does (uint64 ids as decimal
//! strings, proto field names, gRPC errors as `{"error", "code", "message"}`), so the engine's
//! simulator probe reads it with the same parser as a real etcd:
//!
//! * `POST /_sim/k8s/clusters/{id}/etcd/member/list` → `{"header": {}, "members": [...]}`;
//!   503 when no member is up;
//! * `POST /_sim/k8s/clusters/{id}/etcd/members/{member id}/remove` → the members left; 404
//!   (gRPC NotFound) for no such member; 400 when the removal would leave too few started
//!   members for quorum (etcd's strict reconfiguration check) or no member at all; 503 while
//!   an injected failure lasts;
//! * `POST /_sim/k8s/clusters/{id}/etcd/fail?count=N`: the next N removals of that cluster
//!   answer 503 (`etcdserver: request timed out`).
//!
//! In-process: [`crate::sim::SimHandle::k8s_etcd_members`], `k8s_etcd_remove` and
//! `k8s_etcd_fail`.

use super::{cluster_view, life, NodeRecord};
use crate::sim::params::Params;
use crate::sim::server::{json, Shared};
use crate::sim::state::Region;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json as j;
use sha2::{Digest, Sha256};

/// etcd's peer and client ports.
pub const PEER_PORT: u16 = 2380;
pub const CLIENT_PORT: u16 = 2379;

/// One etcd member as the cluster view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sEtcdMember {
    pub id: u64,
    /// The node name (kubeadm names the member after it).
    pub name: String,
    pub system_id: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
    pub joined_at: DateTime<Utc>,
    /// Its machine still runs it (Deployed, powered on): it counts towards quorum.
    pub started: bool,
}

/// A control-plane machine released while its node was still an etcd member. Deleting a
/// whole cluster records one per control-plane machine (etcd goes with them, so
/// those are expected); a scale down or roll should record none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sEtcdFault {
    pub cluster_id: String,
    pub member_id: u64,
    pub name: String,
    pub system_id: String,
    pub released_at: DateTime<Utc>,
    /// Members etcd had at that moment, this one included.
    pub members: usize,
}

/// Why the simulated etcd refused, with the gRPC code etcd would give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum K8sEtcdError {
    #[error("No Kubernetes cluster {0} in the simulator: no machine was deployed with user-data carrying that cluster id.")]
    NoCluster(String),
    #[error("etcdserver: no member of cluster {0} is up (no control-plane machine that joined etcd is Deployed and powered on)")]
    Unavailable(String),
    #[error("etcdserver: request timed out (a failure injected with …/etcd/fail)")]
    Injected,
    #[error("etcdserver: member not found")]
    MemberNotFound,
    #[error("etcdserver: re-configuration failed due to not enough started members (removing member {id:x} would leave {started} started of {left})")]
    NotEnoughStarted {
        id: u64,
        started: usize,
        left: usize,
    },
}

impl K8sEtcdError {
    /// (HTTP status, gRPC code) as etcd's gateway maps them.
    fn codes(&self) -> (u16, u8) {
        match self {
            K8sEtcdError::NoCluster(_) => (404, 5),
            K8sEtcdError::Unavailable(_) | K8sEtcdError::Injected => (503, 14),
            K8sEtcdError::MemberNotFound => (404, 5),
            K8sEtcdError::NotEnoughStarted { .. } => (400, 9),
        }
    }

    fn response(&self) -> Response {
        let (status, code) = self.codes();
        let message = self.to_string();
        json(
            status,
            &j!({"error": message, "code": code, "message": message}),
            true,
        )
    }
}

/// A deployment's member id: stable for the deployment, different for every other one (a
/// machine deployed again joins as a new member, as a real node would).
fn member_id(r: &NodeRecord) -> u64 {
    let digest =
        Sha256::digest(format!("{}/{}/{}", r.cluster_id, r.system_id, r.deploy_event).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes).max(1)
}

fn url(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("https://[{address}]:{port}")
    } else {
        format!("https://{address}:{port}")
    }
}

/// The member of a control-plane record that joined at `joined`.
pub(super) fn member(r: &NodeRecord, joined: DateTime<Utc>, started: bool) -> K8sEtcdMember {
    let urls = |port| r.address.iter().map(|a| url(a, port)).collect();
    K8sEtcdMember {
        id: member_id(r),
        name: r.node_name.clone(),
        system_id: r.system_id.clone(),
        peer_urls: urls(PEER_PORT),
        client_urls: if started {
            urls(CLIENT_PORT)
        } else {
            Vec::new()
        },
        joined_at: joined,
        started,
    }
}

/// The members of `cluster_id`, as etcd would list them: an error when no member is up.
pub fn member_list(region: &Region, cluster_id: &str) -> Result<Vec<K8sEtcdMember>, K8sEtcdError> {
    let view = cluster_view(region, cluster_id)
        .ok_or_else(|| K8sEtcdError::NoCluster(cluster_id.to_string()))?;
    if !view.etcd_members.iter().any(|m| m.started) {
        return Err(K8sEtcdError::Unavailable(cluster_id.to_string()));
    }
    Ok(view.etcd_members)
}

/// Removes member `id` of `cluster_id`; returns the members left.
pub fn remove_member(
    region: &mut Region,
    cluster_id: &str,
    id: u64,
) -> Result<Vec<K8sEtcdMember>, K8sEtcdError> {
    if let Some(left) = region.k8s.etcd_failures.get_mut(cluster_id) {
        if *left > 0 {
            *left -= 1;
            return Err(K8sEtcdError::Injected);
        }
    }
    let members = member_list(region, cluster_id)?;
    let gone = members
        .iter()
        .find(|m| m.id == id)
        .ok_or(K8sEtcdError::MemberNotFound)?
        .clone();
    let rest: Vec<K8sEtcdMember> = members.into_iter().filter(|m| m.id != id).collect();
    // etcd's strict reconfiguration check: what is left must still have a quorum started
    // (and so at least one member).
    let started = rest.iter().filter(|m| m.started).count();
    if rest.is_empty() || started < rest.len() / 2 + 1 {
        return Err(K8sEtcdError::NotEnoughStarted {
            id,
            started,
            left: rest.len(),
        });
    }
    let now = region.now();
    if let Some(r) = region
        .k8s
        .records
        .iter_mut()
        .find(|r| r.cluster_id == cluster_id && member_id(r) == id)
    {
        r.etcd_removed_at = Some(now);
    }
    tracing::debug!(cluster = cluster_id, member = %gone.name, "simulated etcd removed a member");
    Ok(rest)
}

/// The next `count` member removals of `cluster_id` fail (503).
pub fn fail_removals(region: &mut Region, cluster_id: &str, count: u32) {
    region
        .k8s
        .etcd_failures
        .insert(cluster_id.to_string(), count);
}

/// The release hook: MAAS is about to release `system_id`. When its current deployment is a
/// control-plane node still in etcd, the release is a fault: the member stays, dead.
pub(crate) fn note_release(region: &mut Region, system_id: &str) {
    let current = region
        .k8s
        .records
        .iter()
        .filter(|r| r.system_id == system_id && r.role.is_control_plane())
        .filter(|r| life(region, r).alive())
        .max_by_key(|r| r.deploy_event)
        .map(|r| (r.cluster_id.clone(), member_id(r)));
    let Some((cluster_id, id)) = current else {
        return;
    };
    let Some(view) = cluster_view(region, &cluster_id) else {
        return;
    };
    let Some(m) = view.etcd_members.iter().find(|m| m.id == id) else {
        return;
    };
    tracing::warn!(
        cluster = %cluster_id,
        system_id,
        member = %m.name,
        "simulated MAAS releases a control-plane machine that is still an etcd member"
    );
    let fault = K8sEtcdFault {
        cluster_id,
        member_id: id,
        name: m.name.clone(),
        system_id: system_id.to_string(),
        released_at: region.now(),
        members: view.etcd_members.len(),
    };
    region.k8s.etcd_faults.push(fault);
}

/// A member as etcd's JSON gateway writes it.
fn gateway_member(m: &K8sEtcdMember) -> serde_json::Value {
    j!({
        "ID": m.id.to_string(),
        "name": m.name,
        "peerURLs": m.peer_urls,
        "clientURLs": m.client_urls,
    })
}

fn members_answer(members: &[K8sEtcdMember]) -> Response {
    let list: Vec<serde_json::Value> = members.iter().map(gateway_member).collect();
    json(200, &j!({"header": {}, "members": list}), true)
}

/// `POST /_sim/k8s/clusters/{cluster_id}/etcd/…`; `rest` is the path after `etcd/`.
pub(crate) fn handle_post(
    shared: &Shared,
    cluster_id: &str,
    rest: &[&str],
    params: &Params,
) -> Response {
    let bad = |msg: String| crate::sim::server::text(400, msg);
    match rest {
        ["member", "list"] => match member_list(&shared.region(), cluster_id) {
            Ok(m) => members_answer(&m),
            Err(e) => e.response(),
        },
        ["members", id, "remove"] => {
            let Ok(id) = id.parse::<u64>() else {
                return bad(format!(
                    "member id {id:?} is not a decimal 64-bit number (the ID member/list shows)"
                ));
            };
            match remove_member(&mut shared.region(), cluster_id, id) {
                Ok(m) => members_answer(&m),
                Err(e) => e.response(),
            }
        }
        ["fail"] => match params.get_nonempty("count").map(str::parse::<u32>) {
            Some(Ok(count)) => {
                fail_removals(&mut shared.region(), cluster_id, count);
                json(200, &j!({"cluster_id": cluster_id, "failing_removals": count}), true)
            }
            _ => bad("POST …/etcd/fail needs ?count=N with N a whole number ≥ 0".into()),
        },
        _ => crate::sim::server::text(
            404,
            format!(
                "Unknown control endpoint POST /_sim/k8s/clusters/{cluster_id}/etcd/{}: use member/list, members/{{id}}/remove or fail?count=N.",
                rest.join("/")
            ),
        ),
    }
}

impl crate::sim::SimHandle {
    /// The etcd members of `cluster_id` (see [`member_list`]).
    pub fn k8s_etcd_members(&self, cluster_id: &str) -> Result<Vec<K8sEtcdMember>, K8sEtcdError> {
        member_list(&self.shared.region(), cluster_id)
    }

    /// Removes member `id` of `cluster_id` (see [`remove_member`]).
    pub fn k8s_etcd_remove(
        &self,
        cluster_id: &str,
        id: u64,
    ) -> Result<Vec<K8sEtcdMember>, K8sEtcdError> {
        remove_member(&mut self.shared.region(), cluster_id, id)
    }

    /// The next `count` member removals of `cluster_id` fail.
    pub fn k8s_etcd_fail(&self, cluster_id: &str, count: u32) {
        fail_removals(&mut self.shared.region(), cluster_id, count)
    }
}
