//! One reconcile pass over one cluster: observe (one machine list from MAAS, open intents
//! resolved), then converge (provisioning / updating) or tear down (deleting / aborting).
//!
//! Every MAAS mutation goes through the intent journal: the intent is committed before the call
//! and closed in the same transaction that records its result. An intent left open (a crash, or
//! an answer lost to a timeout) is resolved at the start of the next pass by looking at MAAS.

use super::core::{certainly_not_applied, is_active, not_applied, status_of, AccountCtx, Engine};
use super::error::EngineError;
use super::plan::{self, cluster_plan, node_plan, parse_role, role_for};
use super::probe::{KubeHealth, ProbeTarget};
use super::secrets;
use super::status::{machine_state as ms, ClusterStatus, KubeSummary, PoolProgress};
use crate::bootstrap::{user_data, ClusterPlan, ClusterSecrets};
use crate::maas::{
    AllocateRequest, CreateDnsResource, DeployRequest, DnsName, DnsResourceFilter, MaasError,
    Machine, MachineFilter, NodeStatus, ReleaseRequest, ReserveIpRequest, StorageConstraint,
};
use crate::model::maas_check::pool_constraints;
use crate::model::spec::{EndpointMode, NodePool, PoolRole};
use crate::model::{
    effective_os_image, validate_local, ClusterSpec, MaasSnapshot, ResolvedProfile,
};
use crate::store::{
    ClusterId, ClusterPhase, ClusterRow, EventLevel, IntentId, IntentRow, MachineRow,
    MachineUpdate, NewEvent, NewMachine, TaskId, TaskState, Tx,
};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

const SOURCE: &str = "reconciler";

/// What kubemaas stamps as `agent_name` on the machines it allocates and deploys for a
/// cluster: `kubemaas:<cluster id>`. MAAS filters on it exactly (`machines/?agent_name=`) but
/// does not show it in the machine JSON, so it is how a restarted engine finds an allocation
/// whose answer it never recorded.
pub const AGENT_NAME_PREFIX: &str = "kubemaas:";

/// The agent name of a cluster's machines.
pub fn agent_name(id: &ClusterId) -> String {
    format!("{AGENT_NAME_PREFIX}{id}")
}

/// The owner-data keys kubemaas writes on its machines.
pub const OWNER_KEY_CLUSTER: &str = "kubemaas-cluster";
pub const OWNER_KEY_POOL: &str = "kubemaas-pool";

/// One pass's view of a cluster.
pub(crate) struct Pass {
    pub id: ClusterId,
    pub cluster: ClusterRow,
    pub spec: ClusterSpec,
    pub status: ClusterStatus,
    pub acct: AccountCtx,
    /// The cluster's machines as MAAS reports them, by system_id.
    pub maas: HashMap<String, Machine>,
}

/// One allocation's outcome: the machine, or (`Err`) why nothing matched.
type AllocResult = Result<Result<Machine, String>, EngineError>;

/// The parameters journaled with an allocate intent.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AllocIntent {
    pool: String,
    zone: Option<String>,
}

/// At most this many problems go into a failed cluster's reason (the rest are counted): the
/// reason is one cell of `cluster list`, and a hostile spec can hold thousands.
const REASON_PROBLEMS: usize = 10;

fn held(state: &str) -> bool {
    matches!(state, ms::ALLOCATED | ms::DEPLOYING | ms::DEPLOYED)
}

fn event(id: &ClusterId, level: EventLevel, message: impl Into<String>) -> NewEvent {
    NewEvent::new(level, SOURCE, message).cluster(id)
}

/// Whether MAAS still has the machine taken: it has an owner and is not on its way back
/// (Releasing, Disk erasing) or back (Ready, New). A Broken or Failed machine keeps its owner,
/// so it is still ours to replace and release.
pub(crate) fn held_in_maas(m: &Machine) -> bool {
    m.owner.is_some()
        && !matches!(
            m.status,
            NodeStatus::Releasing | NodeStatus::DiskErasing | NodeStatus::Ready | NodeStatus::New
        )
}

fn machine_ip(m: &Machine) -> Option<String> {
    m.ip_addresses.first().cloned()
}

impl Pass {
    fn pool(&self, name: &str) -> Option<&NodePool> {
        self.spec.spec.node_pools.iter().find(|p| p.name == name)
    }

    fn comment(&self, what: &str) -> String {
        format!(
            "kubemaas cluster {} ({}): {what}",
            self.spec.name(),
            self.id
        )
    }

    /// Saves the status in `tx`, keeping the observed generation.
    pub(crate) fn save(&self, tx: &Tx<'_>) -> Result<(), EngineError> {
        let current = tx.cluster(&self.id)?;
        tx.set_cluster_status(&self.id, &self.status, current.observed_generation)?;
        Ok(())
    }
}

impl Engine {
    /// One reconcile pass over cluster `id`. Tests call it between clock advances; the driver
    /// calls it on an interval.
    pub async fn reconcile_once(&self, id: &ClusterId) -> Result<(), EngineError> {
        let cluster = self.store.read(|r| r.cluster(id))?;
        let healthy_running = cluster.phase == ClusterPhase::Running && !is_active(&cluster);
        if cluster.is_deleted() || !(is_active(&cluster) || healthy_running) {
            return Ok(());
        }
        let spec: ClusterSpec = cluster.spec_as()?;
        let status = status_of(&cluster)?;
        let acct = self.account(&cluster.account).await?;
        let mut pass = Pass {
            id: id.clone(),
            cluster,
            spec,
            status,
            acct,
            maas: HashMap::new(),
        };
        if healthy_running {
            return self.health_check(&mut pass).await;
        }
        self.enter_phase(&mut pass)?;
        self.observe(&mut pass).await?;
        match pass.cluster.phase {
            ClusterPhase::Provisioning | ClusterPhase::Updating => self.converge(&mut pass).await,
            ClusterPhase::Deleting | ClusterPhase::Aborting => self.teardown(&mut pass).await,
            _ => Ok(()),
        }
    }

    /// Pending → Provisioning; Running/Failed with a new spec generation → Updating.
    fn enter_phase(&self, p: &mut Pass) -> Result<(), EngineError> {
        let (phase, kind, message) = match p.cluster.phase {
            ClusterPhase::Pending => (
                ClusterPhase::Provisioning,
                "create",
                "provisioning: validating the spec against MAAS",
            ),
            ClusterPhase::Running | ClusterPhase::Failed => (
                ClusterPhase::Updating,
                "update",
                "updating: applying spec generation changes",
            ),
            _ => return self.resume_task(p),
        };
        self.store.tx(|tx| {
            let task = tx.start_task(Some(&p.id), kind, message)?;
            p.status.task = Some(task.0);
            tx.set_cluster_phase(&p.id, phase, None)?;
            p.save(tx)?;
            tx.append_event(&event(
                &p.id,
                EventLevel::Info,
                format!("{message} (spec generation {})", p.cluster.spec_generation),
            ))?;
            Ok::<_, EngineError>(())
        })?;
        p.cluster.phase = phase;
        Ok(())
    }

    /// A Running cluster: one machine list; when a pool lost a machine (deleted or released in
    /// MAAS behind kubemaas's back) or a machine failed, the cluster goes Updating to repair.
    async fn health_check(&self, p: &mut Pass) -> Result<(), EngineError> {
        self.observe(p).await?;
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        let mut problems = Vec::new();
        for pool in &p.spec.spec.node_pools {
            let n = rows
                .iter()
                .filter(|r| r.pool == pool.name && held(&r.state))
                .count();
            if n < pool.size as usize {
                problems.push(format!(
                    "pool {} has {n} of {} machines",
                    pool.name, pool.size
                ));
            }
        }
        for r in rows.iter().filter(|r| held(&r.state)) {
            if let Some(m) = p.maas.get(&r.system_id).filter(|m| m.status.is_failed()) {
                problems.push(format!(
                    "{} ({}) is {}",
                    r.system_id, m.hostname, m.status_name
                ));
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        let message = format!("cluster degraded ({}): repairing", problems.join("; "));
        self.store.tx(|tx| {
            let task = tx.start_task(Some(&p.id), "repair", &message)?;
            p.status.task = Some(task.0);
            tx.set_cluster_phase(&p.id, ClusterPhase::Updating, None)?;
            p.save(tx)?;
            tx.append_event(&event(&p.id, EventLevel::Warn, message.clone()))?;
            Ok::<_, EngineError>(())
        })?;
        p.cluster.phase = ClusterPhase::Updating;
        Ok(())
    }

    /// A cluster mid-phase whose task was interrupted (its process died) gets a new task, so
    /// the console shows the work going on again.
    fn resume_task(&self, p: &mut Pass) -> Result<(), EngineError> {
        let kind = match p.cluster.phase {
            ClusterPhase::Provisioning => "create",
            ClusterPhase::Updating => "update",
            ClusterPhase::Deleting => "delete",
            ClusterPhase::Aborting => "abort",
            _ => return Ok(()),
        };
        self.store.tx(|tx| {
            let running = match p.status.task {
                Some(t) => !tx.task(TaskId(t))?.state.is_terminal(),
                None => false,
            };
            if !running {
                let task =
                    tx.start_task(Some(&p.id), kind, "resumed by a new reconciling process")?;
                p.status.task = Some(task.0);
                p.save(tx)?;
                tx.append_event(&event(
                    &p.id,
                    EventLevel::Info,
                    format!("resuming the {kind} task left by a stopped process"),
                ))?;
            }
            Ok::<_, EngineError>(())
        })
    }

    // ---------------------------------------------------------------- observe

    /// One machine list from MAAS, open intents resolved, machine rows brought up to date.
    async fn observe(&self, p: &mut Pass) -> Result<(), EngineError> {
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        if !rows.is_empty() {
            let ids: Vec<&str> = rows.iter().map(|r| r.system_id.as_str()).collect();
            let listed = p.acct.client.machines(&MachineFilter::ids(ids)).await?;
            p.maas = listed
                .into_iter()
                .map(|m| (m.system_id.clone(), m))
                .collect();
        }
        self.resolve_intents(p).await?;
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        for row in rows {
            self.observe_machine(p, &row)?;
        }
        Ok(())
    }

    fn observe_machine(&self, p: &mut Pass, row: &MachineRow) -> Result<(), EngineError> {
        let Some(m) = p.maas.get(&row.system_id) else {
            self.store.tx(|tx| {
                tx.release_machine(&row.system_id)?;
                tx.append_event(
                    &event(
                        &p.id,
                        EventLevel::Error,
                        format!(
                            "MAAS no longer lists machine {} ({}): it was deleted from MAAS; the pool gets a replacement",
                            row.system_id,
                            row.hostname.as_deref().unwrap_or("?")
                        ),
                    )
                    .machine(&row.system_id),
                )?;
                Ok::<_, EngineError>(())
            })?;
            return Ok(());
        };
        if !held_in_maas(m) {
            let level = if row.state == ms::RETIRING {
                EventLevel::Info
            } else {
                EventLevel::Warn
            };
            let msg = format!(
                "machine {} ({}) is {} in MAAS: no longer held by this cluster",
                row.system_id, m.hostname, m.status_name
            );
            p.maas.remove(&row.system_id);
            self.store.tx(|tx| {
                tx.release_machine(&row.system_id)?;
                tx.append_event(&event(&p.id, level, msg.clone()).machine(&row.system_id))?;
                Ok::<_, EngineError>(())
            })?;
            return Ok(());
        }
        let state = match (row.state.as_str(), m.status) {
            (ms::ALLOCATED | ms::DEPLOYING, NodeStatus::Deployed) => ms::DEPLOYED,
            (ms::ALLOCATED, NodeStatus::Deploying) => ms::DEPLOYING,
            (s, _) => s,
        };
        let ip = machine_ip(m);
        let changed = state != row.state
            || row.maas_status.as_deref() != Some(m.status_name.as_str())
            || row.hostname.as_deref() != Some(m.hostname.as_str())
            || (ip.is_some() && row.ip != ip);
        if changed {
            let became_deployed = state == ms::DEPLOYED && row.state != ms::DEPLOYED;
            let update = MachineUpdate {
                state: Some(state.to_string()),
                maas_status: Some(m.status_name.clone()),
                hostname: Some(m.hostname.clone()),
                ip,
            };
            let hostname = m.hostname.clone();
            self.store.tx(|tx| {
                tx.update_machine(&row.system_id, &update)?;
                if became_deployed {
                    tx.append_event(
                        &event(
                            &p.id,
                            EventLevel::Info,
                            format!(
                                "MAAS deployed {} ({hostname}) for pool {}",
                                row.system_id, row.pool
                            ),
                        )
                        .machine(&row.system_id),
                    )?;
                }
                Ok::<_, EngineError>(())
            })?;
        }
        Ok(())
    }

    /// Closes every intent left open by a crash or a lost answer, from what MAAS shows now.
    async fn resolve_intents(&self, p: &mut Pass) -> Result<(), EngineError> {
        let open = self.store.open_intents(Some(&p.id))?;
        if open.is_empty() {
            return Ok(());
        }
        let mut allocations = Vec::new();
        for intent in open {
            match intent.op.as_str() {
                "allocate" => allocations.push(intent),
                "deploy" => {
                    let applied = p.maas.get(&intent.target).is_some_and(|m| {
                        matches!(
                            m.status,
                            NodeStatus::Deploying
                                | NodeStatus::Deployed
                                | NodeStatus::FailedDeployment
                        )
                    });
                    self.store.tx(|tx| {
                        if applied {
                            if let Some(row) = tx.active_machine(&intent.target)? {
                                if row.state == ms::ALLOCATED {
                                    tx.update_machine(
                                        &intent.target,
                                        &MachineUpdate {
                                            state: Some(ms::DEPLOYING.into()),
                                            ..Default::default()
                                        },
                                    )?;
                                }
                            }
                            tx.complete_intent(
                                intent.id,
                                &json!({"applied": true, "found": "deploying in MAAS"}),
                            )?;
                        } else {
                            tx.complete_intent(
                                intent.id,
                                &not_applied("MAAS shows no deployment"),
                            )?;
                        }
                        Ok::<_, EngineError>(())
                    })?;
                }
                "release" => {
                    let gone = match p.maas.get(&intent.target) {
                        None => true,
                        Some(m) => !held_in_maas(m),
                    };
                    if gone {
                        p.maas.remove(&intent.target);
                    }
                    self.store.tx(|tx| {
                        if gone {
                            if tx.active_machine(&intent.target)?.is_some() {
                                tx.release_machine(&intent.target)?;
                            }
                            tx.complete_intent(
                                intent.id,
                                &json!({"applied": true, "found": "released in MAAS"}),
                            )?;
                            tx.append_event(
                                &event(
                                    &p.id,
                                    EventLevel::Info,
                                    format!(
                                        "released {} (found released after a restart)",
                                        intent.target
                                    ),
                                )
                                .machine(&intent.target),
                            )?;
                        } else {
                            tx.complete_intent(
                                intent.id,
                                &not_applied("MAAS still shows it held"),
                            )?;
                        }
                        Ok::<_, EngineError>(())
                    })?;
                }
                "reserve_ip" | "release_ip" => {
                    let found = !p
                        .acct
                        .client
                        .ip_addresses(Some(&intent.target))
                        .await?
                        .is_empty();
                    let reserve = intent.op == "reserve_ip";
                    let applied = found == reserve;
                    if applied {
                        p.status.vip = if reserve {
                            Some(intent.target.clone())
                        } else {
                            None
                        };
                    }
                    self.store.tx(|tx| {
                        if applied {
                            p.save(tx)?;
                            tx.complete_intent(intent.id, &json!({"applied": true}))?;
                        } else {
                            tx.complete_intent(intent.id, &not_applied("MAAS shows otherwise"))?;
                        }
                        Ok::<_, EngineError>(())
                    })?;
                }
                "create_dns" | "delete_dns" => {
                    let records = p
                        .acct
                        .client
                        .dns_resources(&DnsResourceFilter {
                            fqdn: Some(intent.target.clone()),
                            ..Default::default()
                        })
                        .await?;
                    let create = intent.op == "create_dns";
                    let applied = records.is_empty() != create;
                    if applied {
                        p.status.dns_record_id = if create {
                            records.first().map(|r| r.id)
                        } else {
                            None
                        };
                    }
                    self.store.tx(|tx| {
                        if applied {
                            p.save(tx)?;
                            tx.complete_intent(intent.id, &json!({"applied": true}))?;
                        } else {
                            tx.complete_intent(intent.id, &not_applied("MAAS shows otherwise"))?;
                        }
                        Ok::<_, EngineError>(())
                    })?;
                }
                "etcd_remove" => {
                    // Left open by a crash during the call. The machine's removal record is
                    // not done yet, so its next attempt lists the members again: a member
                    // gone is success, one still there is removed.
                    self.store.complete_intent(
                        intent.id,
                        &json!({"applied": "unknown", "resolved_by": "the next attempt lists the etcd members again"}),
                    )?;
                }
                other => {
                    self.store.complete_intent(
                        intent.id,
                        &not_applied(format!("unknown operation `{other}`")),
                    )?;
                }
            }
        }
        if !allocations.is_empty() {
            self.adopt_allocations(p, allocations).await?;
        }
        Ok(())
    }

    /// Open allocate intents: MAAS machines stamped with this cluster's agent name that the
    /// store does not hold are adopted into the pool they fit; any left over are recorded as
    /// retiring (and released by this pass), so nothing taken is forgotten.
    async fn adopt_allocations(
        &self,
        p: &mut Pass,
        intents: Vec<IntentRow>,
    ) -> Result<(), EngineError> {
        let tagged = p
            .acct
            .client
            .machines(&MachineFilter::agent_name(agent_name(&p.id)))
            .await?;
        let mut untracked = Vec::new();
        for m in tagged {
            if self
                .store
                .read(|r| r.active_machine(&m.system_id))?
                .is_none()
            {
                untracked.push(m);
            }
        }
        for intent in intents {
            let params: AllocIntent = match intent.params_as() {
                Ok(a) => a,
                Err(e) => {
                    self.store.complete_intent(intent.id, &not_applied(e))?;
                    continue;
                }
            };
            let fits = |m: &Machine| match p.pool(&params.pool) {
                Some(pool) => {
                    m.owner_data.get(OWNER_KEY_POOL) == Some(&params.pool)
                        || pool_constraints(pool)
                            .hardware_and_placement_mismatches(m)
                            .is_empty()
                }
                None => false,
            };
            match untracked.iter().position(fits) {
                Some(i) => {
                    let m = untracked.remove(i);
                    self.record_allocation(p, intent.id, &params.pool, &m, true)?;
                    p.maas.insert(m.system_id.clone(), m);
                }
                None => {
                    self.store.complete_intent(
                        intent.id,
                        &not_applied("no untracked machine in MAAS carries this cluster's tag"),
                    )?;
                }
            }
        }
        for m in untracked {
            let pool = m
                .owner_data
                .get(OWNER_KEY_POOL)
                .cloned()
                .unwrap_or_else(|| "-".to_string());
            self.store.tx(|tx| {
                tx.record_machine(&NewMachine {
                    cluster: p.id.clone(),
                    pool: pool.clone(),
                    system_id: m.system_id.clone(),
                    hostname: Some(m.hostname.clone()),
                    role: "worker".into(),
                    state: ms::RETIRING.into(),
                    maas_status: Some(m.status_name.clone()),
                    ip: machine_ip(&m),
                    generation: p.cluster.spec_generation,
                })?;
                tx.append_event(
                    &event(
                        &p.id,
                        EventLevel::Warn,
                        format!("MAAS machine {} ({}) carries this cluster's tag but was not recorded: releasing it", m.system_id, m.hostname),
                    )
                    .machine(&m.system_id),
                )?;
                Ok::<_, EngineError>(())
            })?;
            p.maas.insert(m.system_id.clone(), m);
        }
        Ok(())
    }

    /// Records an allocation MAAS made (answered, or found after a crash) and closes its intent,
    /// in one transaction. Returns the state recorded (`rejected` for a machine that failed for
    /// this cluster before).
    fn record_allocation(
        &self,
        p: &Pass,
        intent: IntentId,
        pool_name: &str,
        m: &Machine,
        adopted: bool,
    ) -> Result<&'static str, EngineError> {
        let excluded = p.status.excluded.contains(&m.system_id);
        let pool = p.pool(pool_name);
        self.store.tx(|tx| {
            let rows = tx.machines(&p.id, false)?;
            let init_taken = rows
                .iter()
                .any(|r| r.role == "init_control_plane" && held(&r.state));
            let role = match pool {
                Some(pool) => role_for(pool, &p.status, init_taken),
                None => crate::bootstrap::NodeRole::Worker,
            };
            let state = if excluded { ms::REJECTED } else { ms::ALLOCATED };
            tx.record_machine(&NewMachine {
                cluster: p.id.clone(),
                pool: pool_name.to_string(),
                system_id: m.system_id.clone(),
                hostname: Some(m.hostname.clone()),
                role: role.as_str().to_string(),
                state: state.to_string(),
                maas_status: Some(m.status_name.clone()),
                ip: machine_ip(m),
                generation: p.cluster.spec_generation,
            })?;
            tx.complete_intent(intent, &json!({"applied": true, "system_id": m.system_id, "adopted": adopted}))?;
            let msg = if excluded {
                format!("MAAS handed back {} ({}), which failed for this cluster before: holding it aside and asking for another", m.system_id, m.hostname)
            } else {
                format!(
                    "allocated {} ({}) in zone {} for pool {pool_name} as {role}{}",
                    m.system_id,
                    m.hostname,
                    m.zone.name,
                    if adopted { " (found in MAAS after a restart)" } else { "" }
                )
            };
            tx.append_event(
                &event(&p.id, EventLevel::Info, msg)
                    .machine(&m.system_id)
                    .detail(json!({"op": "allocate", "pool": pool_name, "zone": m.zone.name})),
            )?;
            Ok::<_, EngineError>(state)
        })
    }

    // ---------------------------------------------------------------- converge

    async fn converge(&self, p: &mut Pass) -> Result<(), EngineError> {
        let profile = match self
            .store
            .read(|r| plan::find_profile(r, &p.spec.spec.profile.name))
        {
            Ok(profile) => profile,
            Err(e) => return self.fail(p, &e.to_string()),
        };
        let profile = match plan::resolve_profile(&profile, &p.spec) {
            Ok(r) => r,
            Err(e) => return self.fail(p, &e.to_string()),
        };
        if p.status.validated_generation < p.cluster.spec_generation
            && !self.validate(p, &profile).await?
        {
            return Ok(());
        }
        if !self.handle_failures(p)? {
            return Ok(());
        }
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        let mut allocations: Vec<(String, Vec<Option<String>>)> = Vec::new();
        let mut retire: Vec<MachineRow> = Vec::new();
        for pool in &p.spec.spec.node_pools {
            let (n, r) = self.plan_pool(p, pool, &rows);
            let zones = self.zone_order(p, pool, &rows, n);
            allocations.extend(zones.into_iter().map(|z| (pool.name.clone(), z)));
            retire.extend(r);
        }
        self.allocate_all(p, allocations).await?;
        self.release_surplus(p, retire, &profile).await?;
        if !self.ensure_endpoint(p).await? {
            return self.save_progress(p);
        }
        let plan = cluster_plan(&p.id, &p.spec, &profile, &p.status)?;
        if let Err(e) = plan.validate() {
            // Nothing a retry can fix: the spec and what MAAS gave do not make a cluster.
            return self.fail(p, &format!("cannot bootstrap this cluster: {e}"));
        }
        let secrets = self.ensure_secrets(p, &plan)?;
        self.deploy_all(p, &profile, &plan, &secrets).await?;
        self.ensure_dns_record(p).await?;
        self.check_ready(p, &plan, &secrets).await
    }

    /// Marks the cluster Failed with `reason`; its spec generation counts as handled, so only a
    /// new spec (or a delete) moves it again.
    pub(crate) fn fail(&self, p: &mut Pass, reason: &str) -> Result<(), EngineError> {
        let task = p.status.task.take();
        p.status.waiting = None;
        self.store.tx(|tx| {
            if let Some(t) = task {
                if !tx.task(TaskId(t))?.state.is_terminal() {
                    tx.finish_task(TaskId(t), TaskState::Failed, reason)?;
                }
            }
            tx.set_cluster_phase(&p.id, ClusterPhase::Failed, Some(reason))?;
            tx.set_cluster_status(&p.id, &p.status, p.cluster.spec_generation)?;
            tx.append_event(&event(
                &p.id,
                EventLevel::Error,
                format!("cluster failed: {reason}"),
            ))?;
            Ok::<_, EngineError>(())
        })?;
        p.cluster.phase = ClusterPhase::Failed;
        Ok(())
    }

    /// Checks the spec against MAAS once per generation. Returns false when the cluster failed.
    /// Too few machines is not a failure: the cluster waits for them.
    async fn validate(&self, p: &mut Pass, profile: &ResolvedProfile) -> Result<bool, EngineError> {
        let local = validate_local(&p.spec, Some(&profile.profile));
        if !local.is_empty() {
            let text = local.summarised(REASON_PROBLEMS);
            self.fail(p, &format!("the spec is not valid:\n{text}"))?;
            return Ok(false);
        }
        let snapshot = MaasSnapshot::fetch(&p.acct.client).await?;
        let fit = crate::model::maas_check::fit_against_maas(
            &p.spec,
            Some(&profile.os.series),
            &snapshot,
        );
        let (hard, capacity) = (fit.refused, fit.waitable);
        if !hard.is_empty() {
            let text = hard.summarised(REASON_PROBLEMS);
            self.fail(p, &format!("the spec does not fit this MAAS:\n{text}"))?;
            return Ok(false);
        }
        if let Some(cidr) = &p.spec.spec.network.control_plane_endpoint.subnet {
            if let Some(s) = snapshot.subnets.iter().find(|s| &s.cidr == cidr) {
                p.status.node_subnet = Some(s.cidr.clone());
                p.status.node_subnet_id = Some(s.id);
            }
        }
        p.status.validated_generation = p.cluster.spec_generation;
        self.store.tx(|tx| {
            p.save(tx)?;
            tx.append_event(&event(&p.id, EventLevel::Info, "the spec fits this MAAS"))?;
            for pr in &capacity {
                tx.append_event(&event(
                    &p.id,
                    EventLevel::Warn,
                    format!("not enough machines yet ({pr}): the cluster will wait for them"),
                ))?;
            }
            Ok::<_, EngineError>(())
        })?;
        Ok(true)
    }

    /// Machines whose deployment failed are marked failed (held until replaced) and excluded
    /// from this cluster for good. Returns false when a pool spent its retry budget (the
    /// cluster then failed).
    fn handle_failures(&self, p: &mut Pass) -> Result<bool, EngineError> {
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        for row in rows.iter().filter(|r| held(&r.state)) {
            let Some(m) = p.maas.get(&row.system_id) else {
                continue;
            };
            if !m.status.is_failed() {
                continue;
            }
            let count = p.status.replacements.get(&row.pool).copied().unwrap_or(0) + 1;
            p.status.replacements.insert(row.pool.clone(), count);
            if !p.status.excluded.contains(&row.system_id) {
                p.status.excluded.push(row.system_id.clone());
            }
            let why = m
                .status_message
                .clone()
                .unwrap_or_else(|| m.status_name.clone());
            let budget = self.config.replace_budget;
            self.store.tx(|tx| {
                tx.update_machine(
                    &row.system_id,
                    &MachineUpdate {
                        state: Some(ms::FAILED.into()),
                        maas_status: Some(m.status_name.clone()),
                        ..Default::default()
                    },
                )?;
                p.save(tx)?;
                tx.append_event(
                    &event(
                        &p.id,
                        EventLevel::Error,
                        format!(
                            "{} ({}) of pool {} is {} ({why}): replacing it with another machine ({count} of {budget} replacements)",
                            row.system_id, m.hostname, row.pool, m.status_name
                        ),
                    )
                    .machine(&row.system_id),
                )?;
                Ok::<_, EngineError>(())
            })?;
            if count > budget {
                let reason = format!(
                    "pool {}: {} machine deployments failed (last: {} ({}): {why}), more than the {budget} replacements allowed; look at these machines in MAAS, then delete the cluster or fix the machines and change the spec",
                    row.pool, count, row.system_id, m.hostname
                );
                self.fail(p, &reason)?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// How many machines a pool needs now and which of its machines go: scale up/down, or one
    /// step of a rolling replacement of machines that no longer fit the pool's spec, within the
    /// pool's surge and unavailable counts.
    fn plan_pool(
        &self,
        p: &Pass,
        pool: &NodePool,
        rows: &[MachineRow],
    ) -> (usize, Vec<MachineRow>) {
        let size = pool.size as usize;
        let constraints = pool_constraints(pool);
        let held_rows: Vec<&MachineRow> = rows
            .iter()
            .filter(|r| r.pool == pool.name && held(&r.state))
            .collect();
        let (outdated, fresh): (Vec<&MachineRow>, Vec<&MachineRow>) =
            held_rows.iter().partition(|r| {
                p.maas
                    .get(&r.system_id)
                    .is_some_and(|m| !constraints.hardware_and_placement_mismatches(m).is_empty())
            });
        if outdated.is_empty() {
            if fresh.len() < size {
                return (size - fresh.len(), Vec::new());
            }
            let mut newest: Vec<MachineRow> = fresh.iter().map(|r| (*r).clone()).collect();
            newest.sort_by_key(|r| std::cmp::Reverse(r.id));
            newest.truncate(fresh.len() - size);
            return (0, newest);
        }
        // Rolling: budgeted like a Kubernetes Deployment. Machines the pool holds (retiring
        // ones included: they are ours in MAAS until released) never exceed size + surge, and
        // Ready nodes never drop below size - unavailable. A retiring node is not counted
        // Ready: it is cordoned and its pods are moving.
        let (surge, unavailable) = pool.rolling_update.surge_and_unavailable();
        let retiring = rows
            .iter()
            .filter(|r| r.pool == pool.name && r.state == ms::RETIRING)
            .count();
        let is_ready = |r: &MachineRow| {
            r.state == ms::DEPLOYED
                && r.hostname
                    .as_ref()
                    .is_some_and(|h| p.status.ready_nodes.contains(h))
        };
        let ready = held_rows.iter().filter(|r| is_ready(r)).count();
        let holding = held_rows.len() + retiring;
        let mut add = (size + surge as usize)
            .saturating_sub(holding)
            .min(size.saturating_sub(fresh.len()));
        // Outdated machines that are not Ready cost nothing from the unavailable budget: they
        // go first, then the oldest Ready ones as far as the budget allows.
        let mut candidates: Vec<&MachineRow> = outdated.clone();
        candidates.sort_by_key(|r| (is_ready(r), r.id));
        let free = candidates.iter().filter(|r| !is_ready(r)).count();
        let budget = ready.saturating_sub(size.saturating_sub(unavailable as usize));
        let mut remove = (free + budget).min(candidates.len());
        if pool.role == PoolRole::ControlPlane {
            // etcd membership changes one member at a time, whatever the budgets allow: a step
            // (at most one joining and one leaving) starts only once the previous one is over,
            // every member Ready and none still leaving.
            if retiring > 0 || ready < held_rows.len() {
                return (0, Vec::new());
            }
            add = add.min(1);
            remove = remove.min(1);
        }
        let retire = candidates
            .into_iter()
            .take(remove)
            .map(|r| (*r).clone())
            .collect();
        (add, retire)
    }

    /// The zones to try for each of `n` new machines of `pool`: the least used zone first, so
    /// machines spread evenly; the others follow as fallbacks.
    fn zone_order(
        &self,
        p: &Pass,
        pool: &NodePool,
        rows: &[MachineRow],
        n: usize,
    ) -> Vec<Vec<Option<String>>> {
        if pool.zones.is_empty() {
            return vec![vec![None]; n];
        }
        let mut counts: Vec<(usize, usize)> = pool
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let used = rows
                    .iter()
                    .filter(|r| r.pool == pool.name && held(&r.state))
                    .filter(|r| p.maas.get(&r.system_id).is_some_and(|m| &m.zone.name == z))
                    .count();
                (used, i)
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            counts.sort();
            out.push(
                counts
                    .iter()
                    .map(|(_, i)| Some(pool.zones[*i].clone()))
                    .collect(),
            );
            counts[0].0 += 1;
        }
        out
    }

    /// Allocates the machines, `concurrency` at a time. A pool with no matching machine leaves
    /// the cluster waiting with the reason.
    async fn allocate_all(
        &self,
        p: &mut Pass,
        wanted: Vec<(String, Vec<Option<String>>)>,
    ) -> Result<(), EngineError> {
        let mut waiting: Option<String> = None;
        let mut first_error = None;
        if !wanted.is_empty() {
            let pass: &Pass = p;
            let results: Vec<(String, AllocResult)> = stream::iter(wanted)
                .map(|(pool, zones)| async move {
                    let r = self.allocate_one(pass, &pool, zones).await;
                    (pool, r)
                })
                .buffer_unordered(self.config.concurrency.max(1))
                .collect()
                .await;
            let mut taken = Vec::new();
            for (pool, r) in results {
                match r {
                    Ok(Ok(m)) => taken.push(m),
                    Ok(Err(reason)) => {
                        waiting.get_or_insert_with(|| {
                            format!("waiting for machines: pool {pool}: {reason}")
                        });
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            for m in taken {
                p.maas.insert(m.system_id.clone(), m);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if p.status.waiting != waiting {
            p.status.waiting = waiting.clone();
            self.store.tx(|tx| {
                tx.set_cluster_phase(&p.id, p.cluster.phase, waiting.as_deref())?;
                p.save(tx)?;
                if let Some(w) = &waiting {
                    tx.append_event(&event(&p.id, EventLevel::Warn, w.clone()))?;
                }
                Ok::<_, EngineError>(())
            })?;
        }
        Ok(())
    }

    /// Allocates one machine for `pool`, trying `zones` in order. `Ok(Err(reason))`: nothing
    /// matches. A machine that failed for this cluster before is held aside (rejected) and
    /// another one asked for.
    async fn allocate_one(
        &self,
        p: &Pass,
        pool_name: &str,
        zones: Vec<Option<String>>,
    ) -> Result<Result<Machine, String>, EngineError> {
        let Some(pool) = p.pool(pool_name) else {
            return Ok(Err(format!("the spec has no pool {pool_name}")));
        };
        let c = pool_constraints(pool);
        let mut reason = String::from("no zone to try");
        let mut rejected = 0usize;
        for zone in zones {
            loop {
                let request = AllocateRequest {
                    cpu_count: Some(c.min_cpu),
                    mem: Some(c.min_memory_mib),
                    storage: if c.min_disk_gb > 0 {
                        vec![StorageConstraint::new("root", c.min_disk_gb)]
                    } else {
                        Vec::new()
                    },
                    zone: zone.clone(),
                    pool: c.pool.clone(),
                    tags: c.tags.clone(),
                    agent_name: Some(agent_name(&p.id)),
                    comment: Some(p.comment(&format!("pool {pool_name}"))),
                    ..Default::default()
                };
                let params = AllocIntent {
                    pool: pool_name.to_string(),
                    zone: zone.clone(),
                };
                let intent = self.store.begin_intent(
                    &p.id,
                    "allocate",
                    &format!("pool {pool_name}"),
                    &params,
                )?;
                self.checkpoint("allocate: journaled")?;
                let answer = p.acct.client.allocate(&request).await;
                self.checkpoint("allocate: answered")?;
                match answer {
                    Ok(a) => {
                        let state =
                            self.record_allocation(p, intent, pool_name, &a.machine, false)?;
                        if state == ms::REJECTED {
                            rejected += 1;
                            if rejected > p.status.excluded.len() {
                                return Ok(Err(
                                    "only machines that already failed for this cluster match"
                                        .into(),
                                ));
                            }
                            continue;
                        }
                        return Ok(Ok(a.machine));
                    }
                    Err(e @ MaasError::NoMatch { .. }) => {
                        self.store.complete_intent(intent, &not_applied(&e))?;
                        reason = e.to_string();
                        break;
                    }
                    Err(e) => {
                        if certainly_not_applied(&e) {
                            self.store.complete_intent(intent, &not_applied(&e))?;
                        }
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(Err(reason))
    }

    /// Releases what the cluster no longer needs: machines chosen to go (scale down, rolled),
    /// failed and rejected machines once their pool is full again, and stray retiring rows.
    /// Retiring machines have their Kubernetes node drained first (see `drain.rs`).
    async fn release_surplus(
        &self,
        p: &mut Pass,
        retire: Vec<MachineRow>,
        profile: &ResolvedProfile,
    ) -> Result<(), EngineError> {
        for row in &retire {
            self.store.tx(|tx| {
                tx.update_machine(
                    &row.system_id,
                    &MachineUpdate {
                        state: Some(ms::RETIRING.into()),
                        ..Default::default()
                    },
                )?;
                tx.append_event(
                    &event(
                        &p.id,
                        EventLevel::Info,
                        format!(
                            "retiring {} ({}) from pool {}",
                            row.system_id,
                            row.hostname.as_deref().unwrap_or("?"),
                            row.pool
                        ),
                    )
                    .machine(&row.system_id),
                )?;
                Ok::<_, EngineError>(())
            })?;
        }
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        let full = |pool: &str| {
            let size = p.pool(pool).map(|pl| pl.size as usize).unwrap_or(0);
            rows.iter()
                .filter(|r| r.pool == pool && held(&r.state))
                .count()
                >= size
        };
        let going: Vec<MachineRow> = rows
            .iter()
            .filter(|r| {
                r.state == ms::RETIRING
                    || ((r.state == ms::FAILED || r.state == ms::REJECTED) && full(&r.pool))
            })
            .cloned()
            .collect();
        let target = if going.iter().any(|r| r.state == ms::RETIRING) {
            self.drain_target(p, profile)?
        } else {
            None
        };
        let going = self.drain_before_release(p, going, target.as_ref()).await?;
        // A leaving control-plane node leaves etcd before its machine goes (`etcd.rs`).
        let going = self.leave_etcd_before_release(p, going).await?;
        let released = self.release_rows(p, going, false).await;
        // Released machines left `p.maas`: their drains and etcd removals are history (saved
        // with the status at the end of the pass).
        let maas = &p.maas;
        p.status.drains.retain(|sid, _| maas.contains_key(sid));
        p.status
            .etcd_removals
            .retain(|sid, _| maas.contains_key(sid));
        released
    }

    /// How to reach the cluster's Kubernetes API to drain nodes; `None` when the cluster never
    /// had one: its API server never answered, or its secrets or endpoint were never made.
    fn drain_target(
        &self,
        p: &Pass,
        profile: &ResolvedProfile,
    ) -> Result<Option<ProbeTarget>, EngineError> {
        if !p.status.initialized {
            return Ok(None);
        }
        let Some(secrets) = secrets::load(&self.config.state_dir, &p.id)? else {
            return Ok(None);
        };
        let Ok(plan) = cluster_plan(&p.id, &p.spec, profile, &p.status) else {
            return Ok(None);
        };
        self.probe_target(p, &plan, &secrets).map(Some)
    }

    /// The probe's view of the cluster: its API URL, CA and a fresh admin certificate.
    fn probe_target(
        &self,
        p: &Pass,
        plan: &ClusterPlan,
        secrets: &ClusterSecrets,
    ) -> Result<ProbeTarget, EngineError> {
        let client =
            secrets
                .issue_admin_certificate()
                .map_err(|source| EngineError::Bootstrap {
                    cluster: p.spec.name().to_string(),
                    source,
                })?;
        Ok(ProbeTarget {
            cluster: p.id.clone(),
            server_url: plan.server_url(),
            ca_pem: secrets.ca.cert_pem.clone(),
            client_cert_pem: client.cert_pem,
            client_key_pem: client.key_pem,
        })
    }

    /// Releases `rows` back to MAAS, `concurrency` at a time.
    async fn release_rows(
        &self,
        p: &mut Pass,
        rows: Vec<MachineRow>,
        erase: bool,
    ) -> Result<(), EngineError> {
        if rows.is_empty() {
            return Ok(());
        }
        let pass: &Pass = p;
        let results: Vec<(String, Result<bool, EngineError>)> = stream::iter(rows)
            .map(|row| async move {
                let r = self.release_one(pass, &row, erase).await;
                (row.system_id, r)
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut first_error = None;
        for (system_id, r) in results {
            match r {
                Ok(true) => {
                    p.maas.remove(&system_id);
                }
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Releases one machine. `Ok(false)`: MAAS refused (the reason is journaled; retried next
    /// pass).
    async fn release_one(
        &self,
        p: &Pass,
        row: &MachineRow,
        erase: bool,
    ) -> Result<bool, EngineError> {
        let request = ReleaseRequest {
            erase,
            quick_erase: erase,
            comment: Some(p.comment("released")),
            ..Default::default()
        };
        let intent =
            self.store
                .begin_intent(&p.id, "release", &row.system_id, &json!({"erase": erase}))?;
        self.checkpoint("release: journaled")?;
        let answer = p.acct.client.release(&row.system_id, &request).await;
        self.checkpoint("release: answered")?;
        match answer {
            Ok(m) => {
                self.store.tx(|tx| {
                    tx.release_machine(&row.system_id)?;
                    tx.complete_intent(intent, &json!({"applied": true, "status": m.status_name}))?;
                    tx.append_event(
                        &event(
                            &p.id,
                            EventLevel::Info,
                            format!(
                                "released {} ({}) of pool {}{}",
                                row.system_id,
                                m.hostname,
                                row.pool,
                                if erase { " with disk erasure" } else { "" }
                            ),
                        )
                        .machine(&row.system_id)
                        .detail(json!({"op": "release", "erase": erase})),
                    )?;
                    Ok::<_, EngineError>(())
                })?;
                Ok(true)
            }
            Err(MaasError::NotFound { .. }) => {
                // Deleted from MAAS meanwhile: nothing left to release.
                self.store.tx(|tx| {
                    tx.release_machine(&row.system_id)?;
                    tx.complete_intent(intent, &not_applied("MAAS no longer knows the machine"))?;
                    Ok::<_, EngineError>(())
                })?;
                Ok(true)
            }
            Err(e) if certainly_not_applied(&e) && !e.is_transient() => {
                self.store.tx(|tx| {
                    tx.complete_intent(intent, &not_applied(&e))?;
                    tx.append_event(
                        &event(
                            &p.id,
                            EventLevel::Warn,
                            format!("MAAS refused to release {}: {e}", row.system_id),
                        )
                        .machine(&row.system_id),
                    )?;
                    Ok::<_, EngineError>(())
                })?;
                Ok(false)
            }
            Err(e) => {
                if certainly_not_applied(&e) {
                    self.store.complete_intent(intent, &not_applied(&e))?;
                }
                Err(e.into())
            }
        }
    }

    /// Decides the control-plane endpoint: reserves the VIP in MAAS (vip mode) or names the
    /// DNS record (dns mode). Returns false while it cannot be decided yet (no control-plane
    /// machine to learn the subnet from).
    async fn ensure_endpoint(&self, p: &mut Pass) -> Result<bool, EngineError> {
        if p.status.node_subnet_id.is_none() {
            let rows = self.store.read(|r| r.machines(&p.id, false))?;
            let cp_pool = p.spec.control_plane().map(|pl| pl.name.clone());
            let subnet = rows
                .iter()
                .filter(|r| Some(&r.pool) == cp_pool.as_ref() && held(&r.state))
                .filter_map(|r| p.maas.get(&r.system_id))
                .flat_map(|m| m.interface_set.iter())
                .flat_map(|i| i.links.iter())
                .find_map(|l| l.subnet.clone());
            match subnet {
                Some(s) => {
                    p.status.node_subnet = Some(s.cidr.clone());
                    p.status.node_subnet_id = Some(s.id);
                    self.store.tx(|tx| p.save(tx))?;
                }
                None => return Ok(false),
            }
        }
        let endpoint = p.spec.spec.network.control_plane_endpoint.clone();
        match endpoint.mode {
            EndpointMode::Dns => {
                if p.status.dns_fqdn.is_none() {
                    let name = endpoint
                        .dns_name
                        .clone()
                        .unwrap_or_else(|| format!("{}-api", p.spec.name()));
                    let fqdn = if name.contains('.') {
                        name
                    } else {
                        format!("{name}.maas")
                    };
                    p.status.dns_fqdn = Some(fqdn);
                    self.store.tx(|tx| p.save(tx))?;
                }
                Ok(true)
            }
            EndpointMode::Vip => {
                if p.status.vip.is_some() {
                    return Ok(true);
                }
                let subnet_id = p.status.node_subnet_id.unwrap_or_default();
                let cidr = p.status.node_subnet.clone().unwrap_or_default();
                let ip = match &endpoint.vip {
                    Some(ip) => ip.trim().to_string(),
                    None => {
                        // Choose the address ourselves (the top of the last free range, away
                        // from where MAAS hands out automatic addresses) so that the intent
                        // names it and a lost answer can be looked up.
                        let ranges = p.acct.client.subnet_unreserved_ip_ranges(subnet_id).await?;
                        match ranges.last() {
                            Some(r) => r.end.clone(),
                            None => {
                                let reason = format!("waiting for a free address on subnet {cidr} for the control-plane VIP: free one in MAAS or set spec.network.controlPlaneEndpoint.vip");
                                if p.status.waiting.as_deref() != Some(reason.as_str()) {
                                    p.status.waiting = Some(reason.clone());
                                    self.store.tx(|tx| {
                                        tx.set_cluster_phase(
                                            &p.id,
                                            p.cluster.phase,
                                            Some(&reason),
                                        )?;
                                        p.save(tx)?;
                                        tx.append_event(&event(
                                            &p.id,
                                            EventLevel::Warn,
                                            reason.clone(),
                                        ))?;
                                        Ok::<_, EngineError>(())
                                    })?;
                                }
                                return Ok(false);
                            }
                        }
                    }
                };
                let intent =
                    self.store
                        .begin_intent(&p.id, "reserve_ip", &ip, &json!({"subnet": cidr}))?;
                self.checkpoint("reserve_ip: journaled")?;
                let answer = p
                    .acct
                    .client
                    .reserve_ip(&ReserveIpRequest {
                        subnet: Some(cidr.clone()),
                        ip: Some(ip.clone()),
                        hostname: None,
                        comment: Some(p.comment("control-plane VIP")),
                    })
                    .await;
                self.checkpoint("reserve_ip: answered")?;
                match answer {
                    Ok(_) => {
                        p.status.vip = Some(ip.clone());
                        self.store.tx(|tx| {
                            p.save(tx)?;
                            tx.complete_intent(intent, &json!({"applied": true}))?;
                            tx.append_event(
                                &event(
                                    &p.id,
                                    EventLevel::Info,
                                    format!("reserved {ip} on {cidr} as the control-plane VIP"),
                                )
                                .detail(json!({"op": "reserve_ip", "ip": ip})),
                            )?;
                            Ok::<_, EngineError>(())
                        })?;
                        Ok(true)
                    }
                    Err(e) => {
                        if certainly_not_applied(&e) {
                            self.store.complete_intent(intent, &not_applied(&e))?;
                        }
                        Err(e.into())
                    }
                }
            }
        }
    }

    /// The cluster's secrets, made once and kept in the state dir.
    fn ensure_secrets(&self, p: &Pass, plan: &ClusterPlan) -> Result<ClusterSecrets, EngineError> {
        if let Some(s) = secrets::load(&self.config.state_dir, &p.id)? {
            return Ok(s);
        }
        let s = ClusterSecrets::generate(plan).map_err(|source| EngineError::Bootstrap {
            cluster: p.spec.name().to_string(),
            source,
        })?;
        secrets::save(&self.config.state_dir, &p.id, &s)?;
        self.store.append_event(&event(
            &p.id,
            EventLevel::Info,
            "generated the cluster CAs, service-account key and bootstrap token",
        ))?;
        Ok(s)
    }

    /// Deploys every allocated machine with its user-data, `concurrency` at a time.
    async fn deploy_all(
        &self,
        p: &mut Pass,
        profile: &ResolvedProfile,
        plan: &ClusterPlan,
        secrets: &ClusterSecrets,
    ) -> Result<(), EngineError> {
        let rows: Vec<MachineRow> = self
            .store
            .read(|r| r.machines(&p.id, false))?
            .into_iter()
            .filter(|r| r.state == ms::ALLOCATED)
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let image = effective_os_image(&p.spec, Some(&profile.os.series))
            .map(|i| i.distro_series())
            .unwrap_or_else(|| profile.os.series.clone());
        let pass: &Pass = p;
        let image = &image;
        let results: Vec<Result<Option<Machine>, EngineError>> = stream::iter(rows)
            .map(|row| async move {
                self.deploy_one(pass, &row, profile, plan, secrets, image)
                    .await
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(Some(m)) => {
                    p.maas.insert(m.system_id.clone(), m);
                }
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn deploy_one(
        &self,
        p: &Pass,
        row: &MachineRow,
        profile: &ResolvedProfile,
        plan: &ClusterPlan,
        secrets: &ClusterSecrets,
        image: &str,
    ) -> Result<Option<Machine>, EngineError> {
        let Some(pool) = p.pool(&row.pool) else {
            return Ok(None);
        };
        let Some(m) = p.maas.get(&row.system_id) else {
            return Ok(None);
        };
        if m.owner_data.get(OWNER_KEY_CLUSTER).map(String::as_str) != Some(p.id.as_str()) {
            let data = BTreeMap::from([
                (OWNER_KEY_CLUSTER.to_string(), p.id.to_string()),
                (OWNER_KEY_POOL.to_string(), row.pool.clone()),
            ]);
            p.acct.client.set_owner_data(&row.system_id, &data).await?;
        }
        let node = node_plan(pool, &m.hostname, parse_role(&row.role));
        let text = user_data(plan, secrets, &node).map_err(|source| EngineError::Bootstrap {
            cluster: p.spec.name().to_string(),
            source,
        })?;
        let request = DeployRequest {
            distro_series: Some(image.to_string()),
            hwe_kernel: profile.os.kernel.clone(),
            user_data: Some(text.into_bytes()),
            agent_name: Some(agent_name(&p.id)),
            comment: Some(p.comment(&format!("pool {}", row.pool))),
        };
        let intent = self.store.begin_intent(
            &p.id,
            "deploy",
            &row.system_id,
            &json!({"image": image, "role": row.role}),
        )?;
        self.checkpoint("deploy: journaled")?;
        let answer = p.acct.client.deploy(&row.system_id, &request).await;
        self.checkpoint("deploy: answered")?;
        match answer {
            Ok(m) => {
                self.store.tx(|tx| {
                    tx.update_machine(
                        &row.system_id,
                        &MachineUpdate {
                            state: Some(ms::DEPLOYING.into()),
                            maas_status: Some(m.status_name.clone()),
                            hostname: Some(m.hostname.clone()),
                            ip: machine_ip(&m),
                        },
                    )?;
                    tx.complete_intent(intent, &json!({"applied": true}))?;
                    tx.append_event(
                        &event(
                            &p.id,
                            EventLevel::Info,
                            format!(
                                "deploying {} ({}) with {image} as {}",
                                row.system_id, m.hostname, row.role
                            ),
                        )
                        .machine(&row.system_id)
                        .detail(json!({"op": "deploy", "image": image, "role": row.role})),
                    )?;
                    Ok::<_, EngineError>(())
                })?;
                Ok(Some(m))
            }
            Err(e) => {
                if certainly_not_applied(&e) {
                    self.store.complete_intent(intent, &not_applied(&e))?;
                }
                Err(e.into())
            }
        }
    }

    /// dns mode: the record naming the control-plane nodes, once they have addresses.
    async fn ensure_dns_record(&self, p: &mut Pass) -> Result<(), EngineError> {
        if p.spec.spec.network.control_plane_endpoint.mode != EndpointMode::Dns
            || p.status.dns_record_id.is_some()
        {
            return Ok(());
        }
        let Some(fqdn) = p.status.dns_fqdn.clone() else {
            return Ok(());
        };
        let cp = p.spec.control_plane().map(|pl| pl.name.clone());
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        let cps: Vec<&MachineRow> = rows
            .iter()
            .filter(|r| Some(&r.pool) == cp.as_ref() && held(&r.state) && r.state != ms::ALLOCATED)
            .collect();
        let ips: Vec<String> = cps.iter().filter_map(|r| r.ip.clone()).collect();
        if ips.is_empty() || ips.len() < cps.len() {
            return Ok(());
        }
        let intent = self
            .store
            .begin_intent(&p.id, "create_dns", &fqdn, &json!({"ips": ips}))?;
        self.checkpoint("create_dns: journaled")?;
        let answer = p
            .acct
            .client
            .create_dns_resource(&CreateDnsResource {
                name: DnsName::Fqdn(fqdn.clone()),
                address_ttl: Some(30),
                ip_addresses: ips.clone(),
            })
            .await;
        self.checkpoint("create_dns: answered")?;
        match answer {
            Ok(r) => {
                p.status.dns_record_id = Some(r.id);
                self.store.tx(|tx| {
                    p.save(tx)?;
                    tx.complete_intent(intent, &json!({"applied": true, "id": r.id}))?;
                    tx.append_event(&event(
                        &p.id,
                        EventLevel::Info,
                        format!("created DNS record {fqdn} -> {}", ips.join(", ")),
                    ))?;
                    Ok::<_, EngineError>(())
                })?;
                Ok(())
            }
            Err(e) => {
                if certainly_not_applied(&e) {
                    self.store.complete_intent(intent, &not_applied(&e))?;
                }
                Err(e.into())
            }
        }
    }

    /// Probes Kubernetes once some machine is deployed; the cluster is Running when every pool
    /// has its machines, all fitting the spec, deployed and Ready, and the API server is ready.
    async fn check_ready(
        &self,
        p: &mut Pass,
        plan: &ClusterPlan,
        secrets: &ClusterSecrets,
    ) -> Result<(), EngineError> {
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        if rows.iter().any(|r| r.state == ms::DEPLOYED) {
            let target = self.probe_target(p, plan, secrets)?;
            let health = match p.acct.probe.probe(&target).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::debug!(cluster = %p.id, error = %e, "Kubernetes probe failed; not ready yet");
                    KubeHealth::default()
                }
            };
            let ready: Vec<String> = rows
                .iter()
                .filter(|r| r.state == ms::DEPLOYED)
                .filter_map(|r| r.hostname.clone())
                .filter(|h| health.node_ready(h))
                .collect();
            if health.api_server_ready && !p.status.initialized {
                p.status.initialized = true;
                self.store.append_event(&event(
                    &p.id,
                    EventLevel::Info,
                    format!("the Kubernetes API server answers at {}", plan.server_url()),
                ))?;
            }
            let expected = rows.iter().filter(|r| held(&r.state)).count();
            p.status.kubernetes = Some(KubeSummary {
                api_server_ready: health.api_server_ready,
                nodes_ready: ready.len(),
                nodes_expected: expected,
            });
            for h in &ready {
                if !p.status.ready_nodes.contains(h) {
                    self.store.append_event(&event(
                        &p.id,
                        EventLevel::Info,
                        format!("Kubernetes node {h} is Ready"),
                    ))?;
                }
            }
            p.status.ready_nodes = ready;
        }
        let complete = p
            .status
            .kubernetes
            .as_ref()
            .is_some_and(|k| k.api_server_ready)
            && p.spec.spec.node_pools.iter().all(|pool| {
                let c = pool_constraints(pool);
                let pool_rows: Vec<&MachineRow> =
                    rows.iter().filter(|r| r.pool == pool.name).collect();
                pool_rows.len() == pool.size as usize
                    && pool_rows.iter().all(|r| {
                        r.state == ms::DEPLOYED
                            && r.hostname
                                .as_ref()
                                .is_some_and(|h| p.status.ready_nodes.contains(h))
                            && p.maas
                                .get(&r.system_id)
                                .is_some_and(|m| c.hardware_and_placement_mismatches(m).is_empty())
                    })
            })
            && rows.iter().all(|r| p.pool(&r.pool).is_some())
            && (p.spec.spec.network.control_plane_endpoint.mode != EndpointMode::Dns
                || p.status.dns_record_id.is_some());
        if !complete {
            return self.save_progress(p);
        }
        let task = p.status.task.take();
        p.status.waiting = None;
        p.status.pools = progress(p, &rows);
        let nodes = rows.len();
        self.store.tx(|tx| {
            if let Some(t) = task {
                if !tx.task(TaskId(t))?.state.is_terminal() {
                    tx.finish_task(
                        TaskId(t),
                        TaskState::Succeeded,
                        &format!("running: {nodes} node(s) Ready"),
                    )?;
                }
            }
            tx.set_cluster_phase(&p.id, ClusterPhase::Running, None)?;
            tx.set_cluster_status(&p.id, &p.status, p.cluster.spec_generation)?;
            tx.append_event(&event(
                &p.id,
                EventLevel::Info,
                format!(
                    "cluster is running: {nodes} node(s) Ready at {}",
                    plan.server_url()
                ),
            ))?;
            Ok::<_, EngineError>(())
        })?;
        p.cluster.phase = ClusterPhase::Running;
        Ok(())
    }

    /// Stores the per-pool progress (status and task).
    fn save_progress(&self, p: &mut Pass) -> Result<(), EngineError> {
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        p.status.pools = progress(p, &rows);
        self.store.tx(|tx| {
            p.save(tx)?;
            if let Some(t) = p.status.task {
                if !tx.task(TaskId(t))?.state.is_terminal() {
                    let mut line = p
                        .status
                        .pools
                        .iter()
                        .map(PoolProgress::line)
                        .collect::<Vec<_>>()
                        .join("; ");
                    if let Some(note) = super::etcd::pending_note(&p.status) {
                        line = format!("{line}; {note}");
                    }
                    tx.set_task_progress(TaskId(t), &p.status.pools, Some(&line))?;
                }
            }
            Ok::<_, EngineError>(())
        })
    }

    // ---------------------------------------------------------------- teardown

    /// Removes one MAAS object the cluster owns (the VIP, the DNS record), journaled first so a
    /// crash between the call and the record is resolved on restart. Already gone counts as done.
    /// `call` is a lazy future: nothing reaches MAAS before the intent is journaled.
    async fn journaled_removal(
        &self,
        p: &mut Pass,
        removal: Removal<'_>,
        call: impl std::future::Future<Output = Result<(), MaasError>>,
        forget: impl FnOnce(&mut ClusterStatus),
    ) -> Result<(), EngineError> {
        let intent = self
            .store
            .begin_intent(&p.id, removal.op, removal.target, &removal.params)?;
        self.checkpoint(&format!("{}: journaled", removal.op))?;
        let answer = call.await;
        self.checkpoint(&format!("{}: answered", removal.op))?;
        match answer {
            Ok(()) | Err(MaasError::NotFound { .. }) => {
                forget(&mut p.status);
                self.store.tx(|tx| {
                    p.save(tx)?;
                    tx.complete_intent(intent, &json!({"applied": true}))?;
                    tx.append_event(&event(&p.id, EventLevel::Info, removal.done.clone()))?;
                    Ok::<_, EngineError>(())
                })
            }
            Err(e) => {
                if certainly_not_applied(&e) {
                    self.store.complete_intent(intent, &not_applied(&e))?;
                }
                Err(e.into())
            }
        }
    }

    /// Deleting / Aborting: release every machine, then the VIP and the DNS record, then mark
    /// the cluster Deleted (gone from the list) or Aborted.
    async fn teardown(&self, p: &mut Pass) -> Result<(), EngineError> {
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        let erase = p.status.erase && p.cluster.phase == ClusterPhase::Deleting;
        // The whole cluster goes: nothing is drained and no etcd member removed; drains and
        // removals under way are dropped.
        p.status.drains.clear();
        p.status.etcd_removals.clear();
        self.release_rows(p, rows, erase).await?;
        let left = self.store.read(|r| r.machines(&p.id, false))?;
        if !left.is_empty() {
            return self.save_progress(p);
        }
        if let Some(ip) = p.status.vip.clone() {
            let client = p.acct.client.clone();
            self.journaled_removal(
                p,
                Removal {
                    op: "release_ip",
                    target: &ip,
                    params: json!({}),
                    done: format!("released the control-plane VIP {ip}"),
                },
                client.release_ip(&ip),
                |status| status.vip = None,
            )
            .await?;
        }
        if let (Some(id), Some(fqdn)) = (p.status.dns_record_id, p.status.dns_fqdn.clone()) {
            let client = p.acct.client.clone();
            self.journaled_removal(
                p,
                Removal {
                    op: "delete_dns",
                    target: &fqdn,
                    params: json!({"id": id}),
                    done: format!("removed the DNS record {fqdn}"),
                },
                client.delete_dns_resource(id),
                |status| status.dns_record_id = None,
            )
            .await?;
        }
        let task = p.status.task.take();
        p.status.pools = progress(p, &[]);
        let deleting = p.cluster.phase == ClusterPhase::Deleting;
        self.store.tx(|tx| {
            if let Some(t) = task {
                if !tx.task(TaskId(t))?.state.is_terminal() {
                    tx.finish_task(
                        TaskId(t),
                        TaskState::Succeeded,
                        if deleting {
                            "deleted: every machine released"
                        } else {
                            "aborted: everything taken was released"
                        },
                    )?;
                }
            }
            tx.set_cluster_status(&p.id, &p.status, p.cluster.spec_generation)?;
            if deleting {
                tx.append_event(&event(
                    &p.id,
                    EventLevel::Info,
                    "cluster deleted: every machine and address went back to MAAS",
                ))?;
                tx.mark_cluster_deleted(&p.id)?;
            } else {
                tx.set_cluster_phase(
                    &p.id,
                    ClusterPhase::Aborted,
                    Some("aborted by an operator; everything taken was released"),
                )?;
                tx.append_event(&event(
                    &p.id,
                    EventLevel::Info,
                    "cluster aborted: everything taken was released",
                ))?;
            }
            Ok::<_, EngineError>(())
        })?;
        if deleting {
            secrets::remove(&self.config.state_dir, &p.id)?;
            p.cluster.phase = ClusterPhase::Deleted;
        } else {
            p.cluster.phase = ClusterPhase::Aborted;
        }
        Ok(())
    }
}

/// Per-pool progress from the machine rows and the last probe.
fn progress(p: &Pass, rows: &[MachineRow]) -> Vec<PoolProgress> {
    p.spec
        .spec
        .node_pools
        .iter()
        .map(|pool| {
            let mine: Vec<&MachineRow> = rows
                .iter()
                .filter(|r| r.pool == pool.name && held(&r.state))
                .collect();
            PoolProgress {
                pool: pool.name.clone(),
                desired: pool.size,
                allocated: mine.len() as u32,
                deploying: mine.iter().filter(|r| r.state == ms::DEPLOYING).count() as u32,
                deployed: mine.iter().filter(|r| r.state == ms::DEPLOYED).count() as u32,
                ready: mine
                    .iter()
                    .filter(|r| {
                        r.hostname
                            .as_ref()
                            .is_some_and(|h| p.status.ready_nodes.contains(h))
                    })
                    .count() as u32,
                draining: rows
                    .iter()
                    .filter(|r| {
                        r.pool == pool.name
                            && r.state == ms::RETIRING
                            && p.status
                                .drains
                                .get(&r.system_id)
                                .is_some_and(|d| d.in_progress())
                    })
                    .count() as u32,
            }
        })
        .collect()
}

/// A MAAS object removed at teardown: the journal's op and target, and the event once done.
struct Removal<'a> {
    op: &'static str,
    target: &'a str,
    params: serde_json::Value,
    done: String,
}
