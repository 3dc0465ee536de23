//! The engine's own vocabulary in the store: a cluster's observed status (the JSON in
//! `clusters.status`) and a machine's state (`machines.state`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Machine states, as the engine sees them.
pub mod machine_state {
    /// Taken from MAAS, not yet sent to deploy.
    pub const ALLOCATED: &str = "allocated";
    /// Deploy sent; MAAS is installing it.
    pub const DEPLOYING: &str = "deploying";
    /// MAAS reports it Deployed.
    pub const DEPLOYED: &str = "deployed";
    /// Deployment failed: held until its replacement is taken (so MAAS cannot hand it back),
    /// then released.
    pub const FAILED: &str = "failed";
    /// Allocated but refused (it failed for this cluster before): released once the pool has
    /// its machines.
    pub const REJECTED: &str = "rejected";
    /// Chosen to go (scale down, rolled, cluster deleted or aborted): released next.
    pub const RETIRING: &str = "retiring";
}

/// What a cluster's status JSON holds. Everything the engine must remember between reconciles
/// and across restarts lives here or in the store's tables, never only in memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterStatus {
    /// The spec was checked against MAAS (once per spec generation).
    pub validated_generation: i64,
    /// The control-plane VIP reserved in MAAS.
    pub vip: Option<String>,
    /// The subnet (CIDR) of the VIP and of the cluster's traffic.
    pub node_subnet: Option<String>,
    /// The MAAS subnet id of `node_subnet`.
    pub node_subnet_id: Option<i64>,
    /// A MAAS DNS record (dns endpoint mode): its id and fqdn.
    pub dns_record_id: Option<i64>,
    pub dns_fqdn: Option<String>,
    /// Set once the API server answered ready: later control-plane nodes join, never init.
    pub initialized: bool,
    /// Machines that failed for this cluster: never taken again.
    pub excluded: Vec<String>,
    /// Replacements made per pool (the retry budget is counted against it).
    pub replacements: BTreeMap<String, u32>,
    /// Delete: erase the disks on release.
    pub erase: bool,
    /// The task running for the current phase.
    pub task: Option<i64>,
    /// Why the cluster is waiting, when it is (no matching machines, MAAS busy).
    pub waiting: Option<String>,
    /// Kubernetes as last probed.
    pub kubernetes: Option<KubeSummary>,
    /// Hostnames of the machines whose Kubernetes node was Ready at the last probe.
    pub ready_nodes: Vec<String>,
    /// Per-pool progress, for `--wait` and the console.
    pub pools: Vec<PoolProgress>,
    /// Drains under way, by the retiring machine's system_id: kept here so a restarted engine
    /// goes on counting towards the same give-up bound.
    pub drains: BTreeMap<String, DrainRecord>,
    /// Control-plane machines leaving etcd before their release, by system_id (see
    /// `engine/etcd.rs`): kept here so a restarted engine neither removes twice nor releases
    /// a machine whose member is still in etcd.
    pub etcd_removals: BTreeMap<String, EtcdRemovalRecord>,
}

/// A leaving control-plane node's etcd member, removed before its machine is released.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EtcdRemovalRecord {
    /// The node name (the machine's MAAS hostname), which is also its etcd member's name.
    pub node: String,
    /// The member is out of etcd (removed, found absent, or the cluster never had an etcd):
    /// the machine may go.
    pub done: bool,
    /// Failed attempts so far.
    pub failures: u32,
    /// Passes still to skip before the next attempt (the back-off after a failure).
    pub wait_passes: u32,
    /// Why the last attempt failed, for the task message.
    pub last_error: Option<String>,
}

/// A Kubernetes node being drained before its machine is released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// The node name (the machine's MAAS hostname).
    pub node: String,
    pub started: DateTime<Utc>,
    /// Drain calls made so far (one per pass).
    pub attempts: u32,
    /// The drain is over (done, given up or not possible): the machine is released without
    /// another call or event, even when MAAS refused the first release.
    #[serde(default)]
    pub finished: bool,
}

impl DrainRecord {
    /// Whether the node is still being drained.
    pub fn in_progress(&self) -> bool {
        !self.finished
    }
}

/// Kubernetes health as last probed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubeSummary {
    pub api_server_ready: bool,
    pub nodes_ready: usize,
    pub nodes_expected: usize,
}

/// How far a pool is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolProgress {
    pub pool: String,
    pub desired: u32,
    /// Machines held for the pool (any state but failed/rejected/retiring).
    pub allocated: u32,
    pub deploying: u32,
    pub deployed: u32,
    pub ready: u32,
    /// Retiring machines whose node is being drained before their release.
    pub draining: u32,
}

impl PoolProgress {
    /// `workers  3/5 deployed, 2 ready`.
    pub fn line(&self) -> String {
        format!(
            "{:<16} {}/{} allocated, {} deploying, {}/{} deployed, {}/{} ready",
            self.pool,
            self.allocated,
            self.desired,
            self.deploying,
            self.deployed,
            self.desired,
            self.ready,
            self.desired
        ) + &if self.draining > 0 {
            format!(", {} draining", self.draining)
        } else {
            String::new()
        }
    }
}
