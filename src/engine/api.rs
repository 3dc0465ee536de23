//! The engine interface the CLI and the console use: commands in, views and events out. The
//! embedded implementation ([`super::EmbeddedEngine`]) works on the local state dir; a remote
//! gateway can implement the same trait over the network later.
//!
//! Commands never wait for MAAS: they record the desired change (a new cluster row, a new spec
//! generation, or a queued delete / abort) and return. Whoever holds the reconciler lock acts
//! on it; everyone follows progress through [`EngineApi::cluster`] and [`EngineApi::events`].

use super::error::EngineError;
use super::status::ClusterStatus;
use crate::model::ClusterSpec;
use crate::store::{ClusterId, ClusterPhase, CommandId, EventId, EventRow, MachineRow, TaskRow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A cluster as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    pub id: ClusterId,
    pub name: String,
    pub account: String,
    pub phase: ClusterPhase,
    pub reason: Option<String>,
    pub spec_generation: i64,
    pub observed_generation: i64,
    pub status: ClusterStatus,
    pub machines: Vec<MachineView>,
    /// The newest tasks, newest first.
    pub tasks: Vec<TaskView>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub deleted: bool,
}

/// One machine of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineView {
    pub system_id: String,
    pub hostname: Option<String>,
    pub pool: String,
    pub role: String,
    pub state: String,
    pub maas_status: Option<String>,
    pub ip: Option<String>,
}

impl From<MachineRow> for MachineView {
    fn from(m: MachineRow) -> Self {
        MachineView {
            system_id: m.system_id,
            hostname: m.hostname,
            pool: m.pool,
            role: m.role,
            state: m.state,
            maas_status: m.maas_status,
            ip: m.ip,
        }
    }
}

/// One task of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub message: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
}

impl From<TaskRow> for TaskView {
    fn from(t: TaskRow) -> Self {
        TaskView {
            id: t.id.0,
            kind: t.kind,
            state: t.state.to_string(),
            message: t.message,
            started: t.started,
            finished: t.finished,
        }
    }
}

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    Running,
    Deleted,
    /// Any phase the reconcilers leave alone (Running, Failed, Aborted, Deleted).
    Settled,
}

/// What the engine reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A journal entry (every MAAS action, task and phase change is one).
    Journal(EventRow),
}

/// The engine interface.
pub trait EngineApi: Send + Sync {
    /// Records a new cluster (phase Pending) after checking the spec locally.
    fn create_cluster(
        &self,
        spec: ClusterSpec,
    ) -> impl Future<Output = Result<ClusterView, EngineError>> + Send;

    /// Queues the deletion of a provisioned cluster.
    fn delete_cluster(
        &self,
        cluster: &str,
        erase: bool,
    ) -> impl Future<Output = Result<CommandId, EngineError>> + Send;

    /// Queues the abort of a cluster still provisioning.
    fn abort_cluster(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<CommandId, EngineError>> + Send;

    /// Sets a pool's size (a new spec generation).
    fn scale_pool(
        &self,
        cluster: &str,
        pool: &str,
        size: u32,
    ) -> impl Future<Output = Result<ClusterView, EngineError>> + Send;

    /// Replaces a cluster's spec (a new spec generation; changed machine specs roll the pool).
    fn update_spec(
        &self,
        cluster: &str,
        spec: ClusterSpec,
    ) -> impl Future<Output = Result<ClusterView, EngineError>> + Send;

    /// Live clusters, by name.
    fn clusters(&self) -> impl Future<Output = Result<Vec<ClusterView>, EngineError>> + Send;

    /// One cluster, by name or id (deleted ones by id).
    fn cluster(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<ClusterView, EngineError>> + Send;

    /// Journal events after `after` (of one cluster, or all).
    fn events(
        &self,
        cluster: Option<&ClusterId>,
        after: EventId,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<EngineEvent>, EngineError>> + Send;

    /// Runs the reconcilers (when this process holds the lock) or watches (when another does)
    /// until the cluster reaches `target`; `progress` sees the cluster after every pass. Fails
    /// with [`EngineError::ClusterFailed`] (and the reason) when the cluster ends Failed.
    fn wait(
        &self,
        cluster: &str,
        target: WaitFor,
        progress: impl FnMut(&ClusterView) + Send,
    ) -> impl Future<Output = Result<ClusterView, EngineError>> + Send;

    /// The admin kubeconfig of a cluster whose endpoint is decided.
    fn kubeconfig(&self, cluster: &str)
        -> impl Future<Output = Result<String, EngineError>> + Send;
}
