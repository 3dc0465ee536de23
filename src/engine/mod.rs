//! The embedded orchestration engine: reconcilers that turn cluster specs into bare-metal
//! Kubernetes on MAAS, persisted in the store and crash-safe.
//!
//! * [`api`]: the interface the CLI and the console use ([`EngineApi`]), implemented here by
//!   [`EmbeddedEngine`] (the local state dir) and later by a remote gateway.
//! * [`Engine`]: the process holding the reconciler lock. [`Engine::step`] applies queued
//!   commands and runs [`Engine::reconcile_once`] over every cluster with work; the driver
//!   ([`EmbeddedEngine::wait`], the console) calls it on an interval, tests call it between
//!   simulator clock advances.
//! * A pass: one `machines/?id=…` list per cluster, open intents resolved from MAAS, then
//!   validate → allocate per pool (spread over zones, tagged `agent_name` =
//!   `kubemaas:<cluster id>` and owner data `kubemaas-cluster` / `kubemaas-pool`) → reserve the VIP → deploy with user-data → wait for Deployed → probe
//!   Kubernetes ([`probe`]) → Running; or release everything (delete / abort). A machine
//!   retired from a live cluster (scale down, rolling update) has its node drained first
//!   (cordon, evictions, Node deleted: `drain.rs`, bounded by [`EngineConfig::drain_timeout`]);
//!   a control-plane one then leaves etcd (`etcd.rs`) before its machine is released.
//! * Crash safety: every MAAS mutation is journaled as an intent before it is sent and closed
//!   in the transaction that records its result; see `reconcile.rs` and [`Engine::leak_check`].

pub mod api;
mod core;
mod drain;
pub mod embedded;
pub mod error;
mod etcd;
pub mod faults;
mod leak;
pub mod plan;
pub mod probe;
mod reconcile;
pub mod secrets;
pub mod status;
pub mod wait;

pub use api::{ClusterView, EngineApi, EngineEvent, MachineView, TaskView, WaitFor};
pub use core::{Engine, EngineConfig, QueuedCommand, StepReport};
pub use embedded::EmbeddedEngine;
pub use error::EngineError;
pub use faults::CrashPlan;
pub use probe::{
    DrainProgress, EtcdMember, EtcdTarget, HttpsProbe, KubeHealth, KubeNode, KubeProbe,
    MemberRemoval, ProbeError, ProbeTarget, SimProbe, ETCD_CLIENT_PORT,
};
pub(crate) use reconcile::held_in_maas;
pub use reconcile::{agent_name, AGENT_NAME_PREFIX, OWNER_KEY_CLUSTER, OWNER_KEY_POOL};
pub use status::{
    machine_state, ClusterStatus, DrainRecord, EtcdRemovalRecord, KubeSummary, PoolProgress,
};
