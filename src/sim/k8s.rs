//! The Kubernetes side of the simulator: the clusters kubemaas builds on simulated machines,
//! so a cluster can go all the way to Running with no datacenter.
//!
//! The simulator learns a node's identity (cluster id, role, node name) from the user-data the
//! machine is deployed with ([`crate::bootstrap::node_identity_from_user_data`]), at the moment
//! of the deploy call. Everything else is derived from the region's event log on the virtual
//! clock, so the answer depends only on virtual time — never on when, or how often, someone
//! asked:
//!
//! * the API server is up [`API_SERVER_SECS`] after the init control-plane node is Deployed;
//! * every other node joins [`JOIN_SECS`] after it is Deployed, but never before the API server
//!   is up; the init node registers itself when its API server starts;
//! * a node is Ready [`NODE_READY_SECS`] after it registered, while its machine stays Deployed
//!   and powered on (a power loss, Broken or Missing makes it NotReady);
//! * a released, redeployed, aborted or vanished machine's node disappears; the API server
//!   stays up while any control-plane node that serves it remains (so a control plane can be
//!   rolled, the init node included).
//!
//! * a drain (`POST /_sim/k8s/clusters/{cluster_id}/nodes/{node}/drain`, what the engine's
//!   simulator probe calls where a real cluster gets cordon + evictions + Node delete) makes the
//!   node unschedulable at once; its pods are evicted and the Node deleted
//!   [`DRAIN_SECS`] later (settable for tests), after which it is no longer listed. A node can be
//!   *held* (a PodDisruptionBudget that never allows the eviction): its drain never finishes
//!   until it is let go.
//!
//! Served on the control API as `GET /_sim/k8s/clusters/{cluster_id}` (see [`K8sCluster`]) and
//! in-process with [`crate::sim::SimHandle::k8s_cluster`]; the drain side as
//!
//! * `POST /_sim/k8s/clusters/{id}/nodes/{node}/drain` → [`K8sDrain`] (404: no such node
//!   registered; 503: the API server does not answer),
//! * `POST /_sim/k8s/clusters/{id}/nodes/{node}/hold` and `…/unhold`,
//! * `POST /_sim/k8s/drain_seconds?seconds=N`,
//!
//! and in-process with [`crate::sim::SimHandle::k8s_drain`], `k8s_hold_node` and
//! `set_k8s_drain_secs`.
//!
//! etcd: every control-plane node is an etcd member from the moment it registers (its ID
//! derived from the cluster, machine and deployment; named after the node; peer URL
//! `https://ADDRESS:2380`) until someone removes it — a released machine's member stays, dead,
//! as in a real etcd, and the release is recorded as a fault ([`K8sEtcdFault`]): that is how
//! quorum is lost. The cluster view lists members and faults; the gateway side is in
//! [`etcd`] (`POST …/etcd/member/list`, `…/etcd/members/{id}/remove`, `…/etcd/fail?count=N`).

use super::params::Params;
use super::server::{json, text, Shared};
use super::state::Region;
use crate::bootstrap::{node_identity_from_user_data, NodeRole};
use crate::maas::{NodeStatus, PowerState};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub mod etcd;
pub use etcd::{K8sEtcdError, K8sEtcdFault, K8sEtcdMember};

/// Virtual seconds from the init control-plane node reporting Deployed to its API server
/// answering (kubeadm init: image pulls, static pods, etcd).
pub const API_SERVER_SECS: i64 = 240;
/// Virtual seconds from a joining node reporting Deployed to its kubelet registering
/// (kubeadm join), when the API server is already up.
pub const JOIN_SECS: i64 = 90;
/// Virtual seconds from a node registering to it being Ready (CNI up on the node).
pub const NODE_READY_SECS: i64 = 60;

/// Virtual seconds from a drain's first call to its node being gone (evictions, pods
/// terminating, the Node deleted), unless the test sets another ([`K8sSim::set_drain_secs`]).
pub const DRAIN_SECS: i64 = 30;
/// Pods a simulated node runs that a drain has to evict.
pub const PODS_PER_NODE: usize = 3;

/// Event kinds after which a deployment's node is gone: the machine was released, erased,
/// deployed again, or its deployment failed or was aborted.
const END_KINDS: &[&str] = &[
    "Deploying",
    "Releasing",
    "Disk erasing",
    "Released",
    "Failed deployment",
    "Aborted deployment",
];

/// What the simulator learnt from one deploy call whose user-data carried a node identity.
#[derive(Debug, Clone, PartialEq)]
struct NodeRecord {
    system_id: String,
    cluster_id: String,
    node_name: String,
    role: NodeRole,
    /// Index in the region's event log of this deployment's "Deploying" event: the node's
    /// history is what the log says about the machine after it.
    deploy_event: usize,
    /// The drain of this deployment's node, once asked for.
    drain: Option<SimDrain>,
    /// The machine's address when it was deployed: its etcd peer and client URLs.
    address: Option<String>,
    /// When this deployment's etcd member was removed (`…/etcd/members/{id}/remove`).
    etcd_removed_at: Option<DateTime<Utc>>,
}

/// A drain on the virtual clock.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SimDrain {
    started_at: DateTime<Utc>,
    /// When the node is gone; `None` while a hold keeps its pods from being evicted.
    finish_at: Option<DateTime<Utc>>,
}

impl SimDrain {
    fn drained_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.finish_at.filter(|t| *t <= now)
    }
}

/// The simulator's memory of deployed nodes. Lives in the [`Region`], under its lock.
#[derive(Debug, Clone)]
pub struct K8sSim {
    records: Vec<NodeRecord>,
    drain_secs: i64,
    /// `(cluster id, node name)` whose evictions are refused for now.
    held: std::collections::BTreeSet<(String, String)>,
    /// Control-plane machines released while still etcd members, in release order.
    etcd_faults: Vec<K8sEtcdFault>,
    /// Per cluster id: member removals still to refuse (`…/etcd/fail?count=N`).
    etcd_failures: std::collections::BTreeMap<String, u32>,
}

impl Default for K8sSim {
    fn default() -> Self {
        K8sSim {
            records: Vec::new(),
            drain_secs: DRAIN_SECS,
            held: Default::default(),
            etcd_faults: Vec::new(),
            etcd_failures: Default::default(),
        }
    }
}

/// One cluster as `kubectl` would see it. The JSON of `GET /_sim/k8s/clusters/{cluster_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sCluster {
    pub cluster_id: String,
    pub api_server_ready: bool,
    /// Registered nodes (none while the API server is down: nothing can list them then),
    /// init control plane first, then joining control planes, then workers, each by name.
    /// A drained node is deleted, so no longer listed.
    pub nodes: Vec<K8sNode>,
    /// Every drain asked for in this cluster, in the order they started, finished or not.
    #[serde(default)]
    pub drains: Vec<K8sDrain>,
    /// The etcd members (control-plane nodes that registered and were not removed, alive or
    /// not), in the order they joined.
    #[serde(default)]
    pub etcd_members: Vec<K8sEtcdMember>,
    /// Control-plane machines released while still etcd members.
    #[serde(default)]
    pub etcd_faults: Vec<K8sEtcdFault>,
}

/// One drain, as `POST …/nodes/{node}/drain` answers it and the cluster view lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sDrain {
    pub node: String,
    pub system_id: String,
    /// Cordoned: true from the first drain call on.
    pub unschedulable: bool,
    pub drain_started_at: DateTime<Utc>,
    /// When the pods were evicted and the Node deleted; `None` while the drain goes on.
    pub drained_at: Option<DateTime<Utc>>,
    /// A hold (a PodDisruptionBudget) refuses the evictions.
    pub held: bool,
    /// Pods still to evict.
    pub pods_remaining: usize,
}

/// Why the simulator refused a drain call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum K8sDrainError {
    #[error("No Kubernetes cluster {0} in the simulator: no machine was deployed with user-data carrying that cluster id.")]
    NoCluster(String),
    #[error("The API server of cluster {0} does not answer yet (or any more): nothing can be drained; wait for its control plane to be Deployed and up.")]
    ApiServerDown(String),
    #[error("No node {node} is registered in cluster {cluster}: it never joined or is gone; check the node name (the MAAS hostname).")]
    NoNode { cluster: String, node: String },
}

impl K8sDrainError {
    fn status(&self) -> u16 {
        match self {
            K8sDrainError::ApiServerDown(_) => 503,
            _ => 404,
        }
    }
}

/// One Kubernetes node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sNode {
    /// The node name from the identity: the MAAS hostname kubeadm registers.
    pub name: String,
    pub role: NodeRole,
    pub ready: bool,
    /// The MAAS machine the node runs on.
    pub system_id: String,
    /// Cordoned by a drain that has not finished yet.
    #[serde(default)]
    pub unschedulable: bool,
}

impl K8sCluster {
    /// True when the API server answers and every listed node is Ready.
    pub fn all_ready(&self) -> bool {
        self.api_server_ready && self.nodes.iter().all(|n| n.ready)
    }
}

/// A record's life as the event log tells it.
#[derive(Debug, Clone, Copy)]
struct Life {
    deployed_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    /// The machine is Deployed and powered on now: its kubelet can report Ready.
    healthy: bool,
}

impl Life {
    fn alive(&self) -> bool {
        self.deployed_at.is_some() && self.ended_at.is_none()
    }

    /// Whether the node was still there at `t`.
    fn alive_at(&self, t: DateTime<Utc>) -> bool {
        self.deployed_at.is_some_and(|d| d <= t) && self.ended_at.is_none_or(|e| e > t)
    }
}

impl K8sSim {
    /// Called by the deploy operation once the machine's "Deploying" event is logged: reads the
    /// node identity from the user-data. User-data without one (another tool's deployment) is
    /// not a Kubernetes node.
    /// `address`: the machine's first address, its etcd peer address if it is a control-plane
    /// node.
    pub(crate) fn learn(
        &mut self,
        system_id: &str,
        user_data: Option<&[u8]>,
        deploy_event: usize,
        address: Option<String>,
    ) {
        let Some(identity) = user_data.and_then(node_identity_from_user_data) else {
            return;
        };
        tracing::debug!(
            system_id,
            cluster = %identity.cluster_id,
            node = %identity.node_name,
            role = ?identity.role,
            "simulated MAAS learnt a Kubernetes node from user-data"
        );
        self.records.push(NodeRecord {
            system_id: system_id.to_string(),
            cluster_id: identity.cluster_id,
            node_name: identity.node_name,
            role: identity.role,
            deploy_event,
            drain: None,
            address,
            etcd_removed_at: None,
        });
    }

    /// How long drains take from now on (virtual seconds, at least 0).
    pub fn set_drain_secs(&mut self, secs: i64) {
        self.drain_secs = secs.max(0);
    }

    /// The ids of every cluster the simulator has seen a node of, sorted.
    pub fn cluster_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.records.iter().map(|r| r.cluster_id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// The record's life from the region's event log and the machine's current state.
fn life(region: &Region, record: &NodeRecord) -> Life {
    let now = region.now();
    let machine = region.machine(&record.system_id);
    let mut deployed_at = None;
    let mut ended_at = None;
    for event in region
        .events()
        .iter()
        .skip(record.deploy_event + 1)
        .filter(|e| e.node == record.system_id)
    {
        if END_KINDS.contains(&event.kind.as_str()) {
            ended_at = Some(event.created);
            break;
        }
        if event.kind == "Deployed" && deployed_at.is_none() {
            deployed_at = Some(event.created);
        }
    }
    // A machine that vanished, or lost its user-data without an event saying why, is gone now.
    if ended_at.is_none() && machine.is_none_or(|m| m.user_data.is_none()) {
        ended_at = Some(now);
    }
    let healthy = machine
        .is_some_and(|m| m.status == NodeStatus::Deployed && m.power_state == PowerState::On);
    Life {
        deployed_at,
        ended_at,
        healthy,
    }
}

/// The state of cluster `cluster_id` at the region's current virtual time; `None` when no
/// machine was ever deployed with that cluster's identity.
pub fn cluster_view(region: &Region, cluster_id: &str) -> Option<K8sCluster> {
    let now = region.now();
    let records: Vec<(&NodeRecord, Life)> = region
        .k8s
        .records
        .iter()
        .filter(|r| r.cluster_id == cluster_id)
        .map(|r| (r, life(region, r)))
        .collect();
    if records.is_empty() {
        return None;
    }
    // When the cluster's API server first answered: the earliest init node that was still
    // there once its API server had had time to start.
    let api_first = records
        .iter()
        .filter(|(r, _)| r.role == NodeRole::InitControlPlane)
        .filter_map(|(_, l)| {
            let start = l.deployed_at? + Duration::seconds(API_SERVER_SECS);
            (l.alive_at(start) && start <= now).then_some(start)
        })
        .min();
    let registered_at = |record: &NodeRecord, l: &Life| -> Option<DateTime<Utc>> {
        let deployed = l.deployed_at?;
        match record.role {
            NodeRole::InitControlPlane => Some(deployed + Duration::seconds(API_SERVER_SECS)),
            _ => Some((deployed + Duration::seconds(JOIN_SECS)).max(api_first?)),
        }
    };
    let api_server_ready = api_first.is_some()
        && records.iter().any(|(r, l)| {
            r.role.is_control_plane()
                && l.alive()
                && l.healthy
                && registered_at(r, l).is_some_and(|t| t <= now)
        });
    let mut nodes: Vec<K8sNode> = if api_server_ready {
        records
            .iter()
            .filter(|(r, l)| l.alive() && r.drain.and_then(|d| d.drained_at(now)).is_none())
            .filter_map(|(r, l)| {
                let registered = registered_at(r, l)?;
                (registered <= now).then(|| K8sNode {
                    name: r.node_name.clone(),
                    role: r.role,
                    ready: l.healthy && now >= registered + Duration::seconds(NODE_READY_SECS),
                    system_id: r.system_id.clone(),
                    unschedulable: r.drain.is_some(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    // A machine deployed twice into the same cluster keeps only its latest node.
    nodes.sort_by(|a, b| a.system_id.cmp(&b.system_id));
    nodes.dedup_by(|later, earlier| later.system_id == earlier.system_id);
    nodes.sort_by(|a, b| {
        role_rank(a.role)
            .cmp(&role_rank(b.role))
            .then(a.name.cmp(&b.name))
    });
    // etcd: a control-plane node is a member from its registration (kubeadm adds the member
    // as it joins) until removed, whatever becomes of its machine.
    let mut etcd_members: Vec<K8sEtcdMember> = records
        .iter()
        .filter(|(r, _)| r.role.is_control_plane() && r.etcd_removed_at.is_none())
        .filter_map(|(r, l)| {
            let joined = registered_at(r, l)?;
            (joined <= now && l.alive_at(joined))
                .then(|| etcd::member(r, joined, l.alive() && l.healthy))
        })
        .collect();
    etcd_members.sort_by(|a, b| a.joined_at.cmp(&b.joined_at).then(a.name.cmp(&b.name)));
    let etcd_faults = region
        .k8s
        .etcd_faults
        .iter()
        .filter(|f| f.cluster_id == cluster_id)
        .cloned()
        .collect();
    let mut drains: Vec<K8sDrain> = records
        .iter()
        .filter_map(|(r, _)| r.drain.map(|d| drain_view(&region.k8s, r, d, now)))
        .collect();
    drains.sort_by(|a, b| {
        a.drain_started_at
            .cmp(&b.drain_started_at)
            .then(a.node.cmp(&b.node))
    });
    Some(K8sCluster {
        cluster_id: cluster_id.to_string(),
        api_server_ready,
        nodes,
        drains,
        etcd_members,
        etcd_faults,
    })
}

fn drain_view(sim: &K8sSim, r: &NodeRecord, d: SimDrain, now: DateTime<Utc>) -> K8sDrain {
    let drained_at = d.drained_at(now);
    K8sDrain {
        node: r.node_name.clone(),
        system_id: r.system_id.clone(),
        unschedulable: true,
        drain_started_at: d.started_at,
        drained_at,
        held: drained_at.is_none()
            && sim
                .held
                .contains(&(r.cluster_id.clone(), r.node_name.clone())),
        pods_remaining: if drained_at.is_some() {
            0
        } else {
            PODS_PER_NODE
        },
    }
}

/// The record of the node called `node` in `cluster_id` whose machine still runs it (the
/// latest deployment, when a machine was deployed twice).
fn live_record(region: &Region, cluster_id: &str, node: &str) -> Option<usize> {
    region
        .k8s
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.cluster_id == cluster_id && r.node_name == node)
        .filter(|(_, r)| life(region, r).alive())
        .max_by_key(|(_, r)| r.deploy_event)
        .map(|(i, _)| i)
}

/// One drain call: starts the drain of a registered node (cordon now, gone
/// [`DRAIN_SECS`] later unless held), or reports the drain already under way or done.
pub fn drain_node(
    region: &mut Region,
    cluster_id: &str,
    node: &str,
) -> Result<K8sDrain, K8sDrainError> {
    let now = region.now();
    let view = cluster_view(region, cluster_id)
        .ok_or_else(|| K8sDrainError::NoCluster(cluster_id.to_string()))?;
    if !view.api_server_ready {
        return Err(K8sDrainError::ApiServerDown(cluster_id.to_string()));
    }
    let no_node = || K8sDrainError::NoNode {
        cluster: cluster_id.to_string(),
        node: node.to_string(),
    };
    let i = live_record(region, cluster_id, node).ok_or_else(no_node)?;
    let sim = &mut region.k8s;
    let drain = match sim.records[i].drain {
        Some(d) => d,
        None => {
            // Only a registered node can be cordoned: one still joining is not in the API yet.
            if !view.nodes.iter().any(|n| n.name == node) {
                return Err(no_node());
            }
            let held = sim
                .held
                .contains(&(cluster_id.to_string(), node.to_string()));
            let d = SimDrain {
                started_at: now,
                finish_at: (!held).then(|| now + Duration::seconds(sim.drain_secs)),
            };
            tracing::debug!(
                cluster = cluster_id,
                node,
                held,
                "simulated Kubernetes drains a node"
            );
            sim.records[i].drain = Some(d);
            d
        }
    };
    Ok(drain_view(sim, &sim.records[i], drain, now))
}

/// Holds (`hold`) or lets go of node `node`'s evictions, as a PodDisruptionBudget would. A
/// drain under way stops finishing while held; let go, it finishes [`DRAIN_SECS`] after it
/// started, or now if that is past. Returns false when no machine runs that node.
pub fn hold_node(region: &mut Region, cluster_id: &str, node: &str, hold: bool) -> bool {
    let now = region.now();
    let key = (cluster_id.to_string(), node.to_string());
    let record = live_record(region, cluster_id, node);
    let sim = &mut region.k8s;
    if hold {
        sim.held.insert(key);
    } else {
        sim.held.remove(&key);
    }
    let Some(i) = record else {
        return false;
    };
    let secs = sim.drain_secs;
    if let Some(d) = sim.records[i].drain.as_mut() {
        if d.drained_at(now).is_none() {
            d.finish_at = if hold {
                None
            } else {
                Some((d.started_at + Duration::seconds(secs)).max(now))
            };
        }
    }
    true
}

fn role_rank(role: NodeRole) -> u8 {
    match role {
        NodeRole::InitControlPlane => 0,
        NodeRole::JoinControlPlane => 1,
        NodeRole::Worker => 2,
    }
}

/// Where a simulator serving the MAAS at `endpoint` answers for cluster `cluster_id`:
/// `http://HOST:PORT/_sim/k8s/clusters/ID`. The engine asks there once `version/` lists the
/// `kubemaas-simulator` capability.
pub fn cluster_url(endpoint: &crate::maas::Endpoint, cluster_id: &str) -> url::Url {
    let mut url = endpoint.api_base().clone();
    let id: String =
        percent_encoding::utf8_percent_encode(cluster_id, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    url.set_path(&format!("/_sim/k8s/clusters/{id}"));
    url
}

/// `GET /_sim/k8s/clusters/{cluster_id}` on the control API.
pub(crate) fn handle_cluster(shared: &Shared, raw_id: &str) -> Response {
    // The path segment arrives as sent: `c%2D7f3a` for `c-7f3a` (see [`cluster_url`]).
    let cluster_id = percent_encoding::percent_decode_str(raw_id).decode_utf8_lossy();
    let cluster_id = cluster_id.as_ref();
    let region = shared.region();
    match cluster_view(&region, cluster_id) {
        Some(view) => json(200, &serde_json::json!(view), true),
        None => text(
            404,
            format!(
                "No Kubernetes cluster {cluster_id} in the simulator: no machine was deployed with user-data carrying that cluster id."
            ),
        ),
    }
}

/// `POST /_sim/k8s/…` on the control API: drains, holds, the drain duration. `rest` is the
/// path after `/_sim/k8s/`, as sent (percent-encoded).
pub(crate) fn handle_post(shared: &Shared, rest: &[&str], params: &Params) -> Response {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .to_string()
    };
    match rest {
        ["clusters", id, "etcd", etcd_rest @ ..] => {
            etcd::handle_post(shared, &decode(id), etcd_rest, params)
        }
        ["clusters", id, "nodes", node, action] => {
            let (id, node) = (decode(id), decode(node));
            let mut region = shared.region();
            match *action {
                "drain" => match drain_node(&mut region, &id, &node) {
                    Ok(d) => json(200, &serde_json::json!(d), true),
                    Err(e) => text(e.status(), e.to_string()),
                },
                "hold" | "unhold" => {
                    if hold_node(&mut region, &id, &node, *action == "hold") {
                        text(200, format!("{action}: node {node} of cluster {id}"))
                    } else {
                        text(404, format!("No machine runs node {node} of cluster {id} in the simulator (the hold is kept for when one does)."))
                    }
                }
                other => text(
                    400,
                    format!("unknown node action {other:?}: use drain, hold or unhold"),
                ),
            }
        }
        ["drain_seconds"] => match params.get_nonempty("seconds").map(str::parse::<i64>) {
            Some(Ok(secs)) if secs >= 0 => {
                shared.region().k8s.set_drain_secs(secs);
                json(200, &serde_json::json!({ "drain_seconds": secs }), true)
            }
            _ => text(
                400,
                "POST /_sim/k8s/drain_seconds needs ?seconds=N with N a whole number ≥ 0",
            ),
        },
        _ => text(
            404,
            format!(
                "Unknown control endpoint POST /_sim/k8s/{}: use clusters/{{id}}/nodes/{{node}}/drain|hold|unhold, clusters/{{id}}/etcd/member/list, clusters/{{id}}/etcd/members/{{member id}}/remove, clusters/{{id}}/etcd/fail?count=N or drain_seconds?seconds=N.",
                rest.join("/")
            ),
        ),
    }
}

impl super::SimHandle {
    /// One drain call on node `node` of cluster `cluster_id` (see [`drain_node`]).
    pub fn k8s_drain(&self, cluster_id: &str, node: &str) -> Result<K8sDrain, K8sDrainError> {
        drain_node(&mut self.shared.region(), cluster_id, node)
    }

    /// Holds or lets go of a node's evictions (see [`hold_node`]).
    pub fn k8s_hold_node(&self, cluster_id: &str, node: &str, hold: bool) -> bool {
        hold_node(&mut self.shared.region(), cluster_id, node, hold)
    }

    /// How long drains take from now on, in virtual seconds.
    pub fn set_k8s_drain_secs(&self, secs: i64) {
        self.shared.region().k8s.set_drain_secs(secs);
    }

    /// The simulated Kubernetes cluster `cluster_id` at the current virtual time, as the control
    /// API serves it; `None` when no machine was ever deployed into it.
    pub fn k8s_cluster(&self, cluster_id: &str) -> Option<K8sCluster> {
        cluster_view(&self.shared.region(), cluster_id)
    }
}
