//! Shared fixtures of the engine tests: a frozen-clock simulator with a uniform fleet, a store
//! with a cloud account on it, a fake Kubernetes probe that reads the simulator's machines, and
//! a driver that alternates engine passes with clock advances.
#![allow(dead_code)]

use futures_util::future::BoxFuture;
use kubemaas::bootstrap::{node_identity_from_user_data, NodeRole};
use kubemaas::engine::{
    CrashPlan, EmbeddedEngine, Engine, EngineApi, EngineConfig, EtcdMember, EtcdTarget, KubeHealth,
    KubeNode, KubeProbe, MemberRemoval, ProbeError, ProbeTarget, SimProbe,
};
use kubemaas::maas::{NodeStatus, PowerState, RetryPolicy};
use kubemaas::model::spec::{NodePool, PoolRole};
use kubemaas::model::ClusterSpec;
use kubemaas::sim::k8s::K8sEtcdError;
use kubemaas::sim::{self, SimConfig, SimHandle};
use kubemaas::store::{ClusterId, ClusterPhase, ClusterRow, EventId, EventRow, NewAccount, Store};
use std::sync::Arc;
use std::time::Duration;

pub const ZONES: [&str; 3] = ["az-1", "az-2", "az-3"];

/// A fleet of `n` Ready machines: 16 cores, 64 GiB, a 500 GB boot disk, zones round-robin over
/// az-1..3, resource pool `default` (every fourth in `compute` when `mixed`).
pub fn fleet(n: usize, seed: u64, mixed: bool) -> kubemaas::sim::model::SimInventory {
    let mut inv = sim::inventory::generate(n, seed);
    for (i, m) in inv.machines.iter_mut().enumerate() {
        m.status = NodeStatus::Ready;
        m.status_message = None;
        m.power_state = PowerState::Off;
        m.owner = None;
        m.owner_data.clear();
        m.agent_name.clear();
        m.user_data = None;
        m.locked = false;
        m.cpu_count = 16;
        m.memory_mib = 65536;
        m.zone = ZONES[i % 3].to_string();
        m.pool = if mixed && i % 2 == 1 {
            "compute"
        } else {
            "default"
        }
        .to_string();
        if let Some(d) = m.disks.first_mut() {
            d.size_bytes = 500_000_000_000;
        }
        m.nics.truncate(1);
        if let Some(nic) = m.nics.first_mut() {
            nic.subnet_id = Some(1);
            nic.ip_address = None;
            nic.link_mode = "auto".into();
        }
    }
    inv
}

/// Reads the simulator's machines the way the simulator's Kubernetes side does: a node is
/// Ready once its machine is Deployed; the API server once the init node is, and from then on
/// while any control-plane node is (so a control plane can be rolled, the init node included).
/// etcd membership goes to the simulator's etcd, in process.
pub struct FakeProbe {
    pub sim: Arc<SimHandle>,
    /// Clusters whose init node was seen Deployed: their API server has started.
    pub started: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl FakeProbe {
    pub fn new(sim: Arc<SimHandle>) -> Self {
        FakeProbe {
            sim,
            started: Default::default(),
        }
    }
}

fn etcd_error(target: &EtcdTarget, e: impl std::fmt::Display) -> ProbeError {
    ProbeError {
        target: target.describe(),
        detail: e.to_string(),
    }
}

impl KubeProbe for FakeProbe {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>> {
        Box::pin(async move {
            let mut health = KubeHealth::default();
            for m in self.sim.machines() {
                let Some(id) = m
                    .user_data
                    .as_deref()
                    .and_then(node_identity_from_user_data)
                else {
                    continue;
                };
                if id.cluster_id != target.cluster.as_str() || m.status != NodeStatus::Deployed {
                    continue;
                }
                if id.role == NodeRole::InitControlPlane {
                    self.started
                        .lock()
                        .unwrap()
                        .insert(target.cluster.to_string());
                }
                if id.role.is_control_plane()
                    && self
                        .started
                        .lock()
                        .unwrap()
                        .contains(target.cluster.as_str())
                {
                    health.api_server_ready = true;
                }
                health.nodes.push(KubeNode {
                    name: id.node_name.clone(),
                    role: id.role.to_string(),
                    ready: true,
                });
            }
            Ok(health)
        })
    }

    fn etcd_members<'a>(
        &'a self,
        target: &'a EtcdTarget,
    ) -> BoxFuture<'a, Result<Vec<EtcdMember>, ProbeError>> {
        Box::pin(async move {
            match self.sim.k8s_etcd_members(target.cluster.as_str()) {
                Ok(members) => Ok(members
                    .into_iter()
                    .map(|m| EtcdMember {
                        id: m.id,
                        name: m.name,
                        peer_urls: m.peer_urls,
                        client_urls: m.client_urls,
                    })
                    .collect()),
                // No node of the cluster was ever deployed: no etcd, no member.
                Err(K8sEtcdError::NoCluster(_)) => Ok(Vec::new()),
                Err(e) => Err(etcd_error(target, e)),
            }
        })
    }

    fn etcd_remove_member<'a>(
        &'a self,
        target: &'a EtcdTarget,
        id: u64,
    ) -> BoxFuture<'a, Result<MemberRemoval, ProbeError>> {
        Box::pin(async move {
            match self.sim.k8s_etcd_remove(target.cluster.as_str(), id) {
                Ok(_) => Ok(MemberRemoval::Removed),
                Err(K8sEtcdError::MemberNotFound) => Ok(MemberRemoval::NotFound),
                Err(e) => Err(etcd_error(target, e)),
            }
        })
    }
}

pub struct Harness {
    pub sim: Arc<SimHandle>,
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Harness {
    /// The system ids the store holds for `pool` of cluster `id` (released ones left out).
    pub fn pool_machines(&self, id: &ClusterId, pool: &str) -> Vec<String> {
        self.store
            .read(|r| r.machines(id, false))
            .unwrap()
            .into_iter()
            .filter(|m| m.pool == pool)
            .map(|m| m.system_id)
            .collect()
    }

    /// (system id, hostname) of the machines the store holds for `pool` of cluster `id`
    /// (released ones left out).
    pub fn pool_nodes(&self, id: &ClusterId, pool: &str) -> Vec<(String, String)> {
        self.store
            .read(|r| r.machines(id, false))
            .unwrap()
            .into_iter()
            .filter(|m| m.pool == pool)
            .map(|m| (m.system_id, m.hostname.unwrap_or_default()))
            .collect()
    }

    /// The events of cluster `id` after `after`, oldest first.
    pub fn events(&self, id: &ClusterId, after: EventId) -> Vec<EventRow> {
        self.store.events_after(Some(id), after, 10_000).unwrap()
    }

    /// The newest event of cluster `id`: a mark to read only what comes after it.
    pub fn last_event(&self, id: &ClusterId) -> EventId {
        self.events(id, EventId(0))
            .last()
            .map(|e| e.id)
            .unwrap_or(EventId(0))
    }

    pub async fn new(machines: usize, seed: u64) -> Harness {
        Self::with_fleet(fleet(machines, seed, false), seed).await
    }

    pub async fn with_fleet(inv: kubemaas::sim::model::SimInventory, seed: u64) -> Harness {
        Self::with_fleet_at_speed(inv, seed, 0.0).await
    }

    /// Like [`Harness::with_fleet`] with the simulator's clock running at `speed` (benchmarks).
    pub async fn with_fleet_at_speed(
        inv: kubemaas::sim::model::SimInventory,
        seed: u64,
        speed: f64,
    ) -> Harness {
        let sim = sim::start(SimConfig::with_inventory(inv).seed(seed).speed(speed))
            .await
            .expect("simulator starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store opens");
        store
            .tx(|tx| {
                tx.insert_account(&NewAccount {
                    name: "lab".into(),
                    gateway: None,
                    endpoint: sim.endpoint(),
                    api_key: sim.api_key(),
                    ca_cert: None,
                })
            })
            .expect("account");
        Harness {
            sim: Arc::new(sim),
            dir,
            store,
        }
    }

    pub fn config(&self) -> EngineConfig {
        let mut c = EngineConfig::new(self.dir.path());
        c.retry = RetryPolicy::immediate(3);
        c.probe = Some(Arc::new(FakeProbe::new(self.sim.clone())));
        c
    }

    pub fn engine(&self) -> Engine {
        Engine::start(self.store.clone(), self.config()).expect("engine starts")
    }

    /// [`Harness::config`], but probing, draining and changing etcd through the simulator's
    /// Kubernetes (not the fake probe), one pass per virtual minute, giving drains five
    /// minutes (so five passes).
    pub fn sim_probe_config(&self) -> EngineConfig {
        let mut c = self.config();
        c.probe = Some(Arc::new(SimProbe::new(format!(
            "http://{}",
            self.sim.addr()
        ))));
        c.poll_interval = Duration::from_secs(60);
        c.drain_timeout = Duration::from_secs(300);
        c
    }

    pub fn crashing_engine(&self, at: u64) -> (Engine, CrashPlan) {
        let plan = CrashPlan::at(at);
        let mut c = self.config();
        c.crash = plan.clone();
        (
            Engine::start(self.store.clone(), c).expect("engine starts"),
            plan,
        )
    }

    /// A submitter that does not run the reconcilers (the engine holds the lock).
    pub fn api(&self) -> EmbeddedEngine {
        EmbeddedEngine::watcher(self.store.clone(), self.config())
    }

    pub fn cluster(&self, name_or_id: &str) -> ClusterRow {
        self.store
            .read(|r| r.resolve_cluster(name_or_id))
            .expect("cluster exists")
    }

    /// Alternates engine passes and one virtual minute until `done` or `max` passes.
    pub async fn drive(
        &self,
        engine: &Engine,
        id: &ClusterId,
        max: usize,
        done: impl Fn(&ClusterRow) -> bool,
    ) -> ClusterRow {
        for _ in 0..max {
            let report = engine.step().await.expect("engine step");
            assert!(report.errors.is_empty(), "pass errors: {:?}", report.errors);
            let c = self.store.read(|r| r.cluster(id)).expect("cluster");
            if done(&c) {
                return c;
            }
            self.sim.advance(60.0);
        }
        let c = self.store.read(|r| r.cluster(id)).expect("cluster");
        let events = self
            .store
            .events_after(Some(id), kubemaas::store::EventId(0), 10_000)
            .unwrap();
        let text: Vec<String> = events
            .iter()
            .map(|e| format!("{} {}", e.level, e.message))
            .collect();
        panic!(
            "cluster {} did not get there in {max} passes: {} {:?}\n{}",
            c.name,
            c.phase,
            c.reason,
            text.join("\n")
        );
    }

    pub async fn until_phase(
        &self,
        engine: &Engine,
        id: &ClusterId,
        phase: ClusterPhase,
    ) -> ClusterRow {
        self.drive(engine, id, 60, |c| c.phase == phase).await
    }

    /// Machines the simulator shows as taken with this cluster's agent name.
    pub fn tagged(&self, id: &ClusterId) -> Vec<kubemaas::sim::model::SimMachine> {
        self.sim
            .machines()
            .into_iter()
            .filter(|m| m.agent_name == kubemaas::engine::agent_name(id))
            .collect()
    }

    /// No machine leaked or double-held: every machine MAAS has tagged for a cluster is
    /// recorded active for exactly that cluster, and the other way round.
    pub fn assert_no_leak(&self) {
        let active = self.store.read(|r| r.all_active_machines()).unwrap();
        for m in self.sim.machines() {
            if !m
                .agent_name
                .starts_with(kubemaas::engine::AGENT_NAME_PREFIX)
            {
                continue;
            }
            let held: Vec<_> = active
                .iter()
                .filter(|r| r.system_id == m.system_id)
                .collect();
            assert_eq!(
                held.len(),
                1,
                "machine {} ({}) tagged {} is held {} times",
                m.system_id,
                m.status.label(),
                m.agent_name,
                held.len()
            );
            assert_eq!(kubemaas::engine::agent_name(&held[0].cluster), m.agent_name);
        }
        for row in &active {
            let m = self
                .sim
                .machine(&row.system_id)
                .expect("held machine exists");
            assert_eq!(
                m.agent_name,
                kubemaas::engine::agent_name(&row.cluster),
                "row {} is not tagged in MAAS ({})",
                row.system_id,
                m.status.label()
            );
        }
    }
}

/// A spec: `cp` control-plane nodes spread over the three zones, then worker pools.
pub fn spec(name: &str, cp: u32, workers: &[(&str, u32)]) -> ClusterSpec {
    let mut s = ClusterSpec::with_defaults(name, "lab", cp, 1);
    s.spec.network.pod_cidr = "10.244.0.0/16".into();
    s.spec.node_pools.truncate(1);
    s.spec.node_pools[0].zones = ZONES.iter().map(|z| z.to_string()).collect();
    s.spec.node_pools[0].min_cpu = 4;
    s.spec.node_pools[0].min_memory_mib = 8192;
    s.spec.node_pools[0].min_disk_gb = 40;
    for (pool, size) in workers {
        let mut p = NodePool::new(*pool, PoolRole::Worker, *size);
        p.zones = ZONES.iter().map(|z| z.to_string()).collect();
        p.min_cpu = 4;
        p.min_memory_mib = 8192;
        p.min_disk_gb = 40;
        s.spec.node_pools.push(p);
    }
    if workers.is_empty() {
        s.spec.node_pools[0].allow_workloads = Some(true);
    }
    s
}

pub async fn create(h: &Harness, spec: ClusterSpec) -> ClusterId {
    h.api()
        .create_cluster(spec)
        .await
        .expect("cluster accepted")
        .id
}

/// The `outcome` of an event whose detail is about operation `op` (`drain`, `etcd_remove` ...).
pub fn op_outcome<'a>(e: &'a EventRow, op: &str) -> Option<&'a str> {
    let d = e.detail.as_ref()?;
    (d["op"] == op).then(|| d["outcome"].as_str()).flatten()
}

/// Whether the event says a machine was released.
pub fn is_release(e: &EventRow) -> bool {
    e.detail.as_ref().is_some_and(|d| d["op"] == "release")
}

/// The id of the first event about machine `sid` that `pick` accepts.
pub fn first_event(
    evs: &[EventRow],
    sid: &str,
    pick: impl Fn(&EventRow) -> bool,
) -> Option<EventId> {
    evs.iter()
        .find(|e| e.machine.as_deref() == Some(sid) && pick(e))
        .map(|e| e.id)
}
