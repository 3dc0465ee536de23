//! `kubemaas gateway deploy`: a gateway onto MAAS machines, idempotently.
//!
//! 1. Find the gateway's machines: every allocation is stamped with the agent name
//!    `kubemaas-gateway:NAME` (MAAS filters on it exactly), and owner data `kubemaas-gateway`
//!    shows whose they are in MAAS's UI. Machines that failed (Failed deployment, Broken, …)
//!    are released, journaled like every mutation (see [`record`]).
//! 2. Allocate what is missing up to `placement.nodes` — never more — with the placement's
//!    zone, pool and machine size.
//! 3. Deploy each Allocated machine with its user-data
//!    ([`crate::bootstrap::gateway_user_data`]); machines already Deploying or Deployed are left
//!    alone.
//! 4. Wait (polling, paced by a [`Pace`]) until all are Deployed; a failure stops the wait with
//!    MAAS's status message.
//! 5. Pair back with the code from the user-data ([`pairback`]) unless this console already
//!    paired the gateway.

pub mod error;
pub mod membership;
pub mod pairback;
pub mod preissued;
pub mod record;
pub mod serve_binary;

pub use error::{DeployError, FailedMachine};
pub use membership::{MembershipRepair, ThroughGateway};
pub use record::DeployRecord;

use crate::bootstrap::gateway_user_data::{
    BinaryArtifact, EtcdMember, EtcdStart, GatewayNodePlan, ETCD_CLIENT_PORT, MAAS_CA_PATH,
};
use crate::engine::held_in_maas;
use crate::gateway::config::{check_advertise, GatewayConfig};
use crate::maas::{
    AllocateRequest, DeployRequest, MaasClient, MaasError, Machine, MachineFilter, NodeStatus,
    ReleaseRequest,
};
use crate::store::Store;
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Stamped as `agent_name` on a gateway's machines: `kubemaas-gateway:NAME`.
pub const AGENT_NAME_PREFIX: &str = "kubemaas-gateway:";
/// The owner-data key naming the gateway a machine belongs to.
pub const OWNER_KEY_GATEWAY: &str = "kubemaas-gateway";
/// The owner-data key holding [`settings_digest`] of what a machine was deployed with.
pub const OWNER_KEY_SETTINGS: &str = "kubemaas-gateway-settings";
/// Time between two looks at MAAS while waiting.
pub const DEFAULT_POLL: Duration = Duration::from_secs(15);

/// The agent name of gateway `name`'s machines.
pub fn agent_name(name: &str) -> String {
    format!("{AGENT_NAME_PREFIX}{name}")
}

/// How the deploy waits between two looks at MAAS (or the gateway). The command sleeps; tests
/// move the simulator's clock instead.
pub trait Pace: Send + Sync {
    fn pause(&self) -> BoxFuture<'_, ()>;
}

/// Sleeps this long.
pub struct Sleep(pub Duration);

impl Pace for Sleep {
    fn pause(&self) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(self.0))
    }
}

/// One line of progress (`--json` prints it as one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// `found`, `release`, `allocate`, `deploy`, `wait`, `deployed`, `pair`, `paired`, `done`.
    pub step: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    pub message: String,
}

impl DeployOptions {
    /// Looks at MAAS (or attempts to pair) that fit in the timeout.
    pub fn polls(&self) -> u32 {
        let poll = self.poll.as_secs_f64().max(0.001);
        (self.timeout.as_secs_f64() / poll)
            .ceil()
            .clamp(1.0, f64::from(u32::MAX)) as u32
    }
}

impl Progress {
    fn new(step: &'static str, machine: Option<&Machine>, message: impl Into<String>) -> Self {
        Progress {
            step,
            machine: machine.map(|m| m.system_id.clone()),
            message: message.into(),
        }
    }
}

/// Where progress goes.
pub type Report<'a> = &'a (dyn Fn(&Progress) + Send + Sync);

/// How to deploy.
pub struct DeployOptions {
    pub binary: BinaryArtifact,
    /// How long to wait for the machines to be Deployed, and again for the gateway to answer.
    pub timeout: Duration,
    /// How long one [`Pace::pause`] lasts (the command sleeps it; tests advance this much).
    pub poll: Duration,
    /// HOST:PORT to pair at instead of the first node's address and the listen port.
    pub pair_address: Option<String>,
    /// Deploy only; pair later with `kubemaas gateway pair`.
    pub skip_pairing: bool,
    /// How the gateway will know this console.
    pub console_name: String,
}

/// What a deploy ended with.
#[derive(Debug, Clone, Serialize)]
pub struct DeployOutcome {
    pub gateway: String,
    pub machines: Vec<NodeView>,
    /// Where consoles reach the gateway.
    pub address: Option<String>,
    /// `paired` (now), `already_paired`, or `not_paired` (skipped).
    pub pairing: &'static str,
    /// Whether this run changed anything in MAAS.
    pub changed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeView {
    pub system_id: String,
    pub hostname: String,
    pub zone: String,
    pub status: String,
    pub ip: Option<String>,
}

impl NodeView {
    fn of(m: &Machine) -> Self {
        NodeView {
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            zone: m.zone.name.clone(),
            status: m.status_name.clone(),
            ip: m.ip_addresses.first().cloned(),
        }
    }
}

/// The placement as the operator wrote it, for messages.
pub fn placement_text(cfg: &GatewayConfig) -> String {
    let p = &cfg.placement;
    let mut parts = vec![format!("nodes {}", p.nodes)];
    if let Some(z) = &p.zone {
        parts.push(format!("zone {z}"));
    }
    if let Some(pool) = &p.pool {
        parts.push(format!("pool {pool}"));
    }
    if let Some(m) = &p.machine {
        parts.push(format!(
            "at least {} CPUs and {} MiB",
            m.min_cpu, m.min_memory_mib
        ));
    }
    parts.join(", ")
}

/// A short digest of what a node is deployed with and a rerun may have fixed: gateway.yaml
/// and the artifact (its URL too, unless this console serves it: that URL changes every run).
/// Not the etcd member list, which changes when a failed node is replaced, nor the API key: the
/// digest is kept in MAAS owner data, which every MAAS user can read.
pub fn settings_digest(cfg: &GatewayConfig, binary: &BinaryArtifact) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(
        cfg.to_yaml()
            .replace(&cfg.maas.api_key.expose(), "")
            .as_bytes(),
    );
    if !binary.served {
        h.update(b"\0");
        h.update(binary.url.as_bytes());
    }
    h.update(b"\0");
    h.update(binary.sha256.as_bytes());
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Machines that are on their way, or there: kept. Anything else MAAS still holds for the
/// gateway (Failed deployment, Broken, Failed releasing, …) is replaced.
fn usable(m: &Machine) -> bool {
    matches!(
        m.status,
        NodeStatus::Allocated | NodeStatus::Deploying | NodeStatus::Deployed
    )
}

fn failure_of(m: &Machine) -> FailedMachine {
    FailedMachine {
        system_id: m.system_id.clone(),
        hostname: m.hostname.clone(),
        status: m.status_name.clone(),
        message: m
            .status_message
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "MAAS gave no status message".into()),
    }
}

/// `HOST:PORT` for `ip` (IPv6 in brackets).
fn host_port(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// One deploy run over MAAS. Holds the journal while it runs.
struct Run<'a> {
    cfg: &'a GatewayConfig,
    client: &'a MaasClient,
    record: &'a mut DeployRecord,
    report: Report<'a>,
    changed: bool,
}

impl Run<'_> {
    fn say(&self, step: &'static str, m: Option<&Machine>, message: impl Into<String>) {
        (self.report)(&Progress::new(step, m, message));
    }

    fn comment(&self, what: &str) -> String {
        format!("kubemaas gateway {}: {what}", self.cfg.name)
    }

    /// Step 1: the gateway's machines in MAAS, failed ones released — and, while the gateway
    /// has never paired (`replace_stale`), machines deployed with settings gateway.yaml no
    /// longer has (a wrong artifact, say): fixing gateway.yaml and rerunning must fix them.
    async fn survey(
        &mut self,
        digest: &str,
        replace_stale: bool,
    ) -> Result<Vec<Machine>, DeployError> {
        let agent = agent_name(&self.cfg.name);
        let held: Vec<Machine> = self
            .client
            .machines(&MachineFilter::agent_name(&agent))
            .await?
            .into_iter()
            .filter(held_in_maas)
            .collect();
        let resolved = self.record.resolve_open(&format!(
            "MAAS holds {} machine(s) stamped {agent}",
            held.len()
        ))?;
        if resolved > 0 {
            self.say(
                "found",
                None,
                format!("an earlier run was interrupted with {resolved} MAAS call(s) unanswered: going by what MAAS shows"),
            );
        }
        let mut keep = Vec::new();
        for m in held {
            let stale = m.status != NodeStatus::Allocated
                && m.owner_data.get(OWNER_KEY_SETTINGS).map(String::as_str) != Some(digest);
            if usable(&m) && !(stale && replace_stale) {
                self.say(
                    "found",
                    Some(&m),
                    format!(
                        "reusing {} ({}): {}",
                        m.hostname, m.system_id, m.status_name
                    ),
                );
                if stale {
                    self.say(
                        "found",
                        Some(&m),
                        format!("note: gateway.yaml or the artifact changed since {} was deployed; a deploy does not redeploy a paired gateway (upgrade it instead)", m.hostname),
                    );
                }
                keep.push(m);
                continue;
            }
            let why = if usable(&m) {
                format!(
                    "{} ({}), deployed with other settings (gateway.yaml or the artifact changed) and never paired",
                    m.hostname, m.system_id
                )
            } else {
                failure_of(&m).to_string()
            };
            self.say(
                "release",
                Some(&m),
                format!("releasing {why} (a replacement is allocated)"),
            );
            let i = self.record.begin("release", &m.system_id)?;
            let request = ReleaseRequest {
                comment: Some(self.comment("released to be replaced")),
                force: matches!(m.status, NodeStatus::Broken),
                ..Default::default()
            };
            match self.client.release(&m.system_id, &request).await {
                Ok(r) => self
                    .record
                    .complete(i, format!("released: {}", r.status_name))?,
                Err(MaasError::NotFound { .. }) => self
                    .record
                    .complete(i, "MAAS no longer knows the machine")?,
                Err(e) => return Err(e.into()),
            }
            self.changed = true;
        }
        keep.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        Ok(keep)
    }

    /// Step 2: allocate up to `placement.nodes`.
    async fn allocate_missing(&mut self, keep: &mut Vec<Machine>) -> Result<(), DeployError> {
        let wanted = usize::from(self.cfg.placement.nodes);
        if keep.len() > wanted {
            return Err(DeployError::TooMany {
                gateway: self.cfg.name.clone(),
                found: keep.len(),
                wanted,
            });
        }
        let p = &self.cfg.placement;
        let request = AllocateRequest {
            cpu_count: p.machine.map(|m| m.min_cpu),
            mem: p.machine.map(|m| m.min_memory_mib),
            zone: p.zone.clone(),
            pool: p.pool.clone(),
            agent_name: Some(agent_name(&self.cfg.name)),
            comment: Some(self.comment("gateway node")),
            ..Default::default()
        };
        let placement = placement_text(self.cfg);
        while keep.len() < wanted {
            let i = self.record.begin("allocate", &placement)?;
            match self.client.allocate(&request).await {
                Ok(a) => {
                    let m = a.machine;
                    self.record
                        .complete(i, format!("allocated {}", m.system_id))?;
                    self.changed = true;
                    self.say(
                        "allocate",
                        Some(&m),
                        format!(
                            "allocated {} ({}) in zone {}, pool {}",
                            m.hostname,
                            m.system_id,
                            m.zone.name,
                            m.pool_name()
                        ),
                    );
                    keep.push(m);
                }
                Err(e @ MaasError::NoMatch { .. }) => {
                    self.record.complete(i, "no machine matched")?;
                    return Err(DeployError::NoMatch {
                        gateway: self.cfg.name.clone(),
                        placement,
                        source: e,
                    });
                }
                // Left open: the answer may have been lost after MAAS allocated; the next run
                // finds such a machine by its agent name.
                Err(e) => return Err(e.into()),
            }
        }
        keep.sort_by(|a, b| a.hostname.cmp(&b.hostname));
        for m in keep.iter_mut() {
            if m.owner_data.get(OWNER_KEY_GATEWAY) != Some(&self.cfg.name) {
                let data = BTreeMap::from([(OWNER_KEY_GATEWAY.to_string(), self.cfg.name.clone())]);
                *m = self.client.set_owner_data(&m.system_id, &data).await?;
            }
        }
        Ok(())
    }

    /// Before replacement nodes of a running 3-node gateway are deployed: has the gateway's
    /// etcd drop the members that are gone and admit the new ones, and returns the initial
    /// cluster they join (`None` when nothing is replaced: a new gateway forms its cluster).
    async fn admit_replacements(
        &mut self,
        keep: &[Machine],
        members: &[EtcdMember],
        repair: Option<&dyn MembershipRepair>,
    ) -> Result<Option<String>, DeployError> {
        let new: Vec<String> = keep
            .iter()
            .filter(|m| m.status == NodeStatus::Allocated)
            .map(|m| m.hostname.clone())
            .collect();
        let running = keep.iter().any(|m| m.status != NodeStatus::Allocated);
        if self.cfg.placement.nodes != 3 || new.is_empty() || !running {
            return Ok(None);
        }
        let Some(repair) = repair else {
            return Err(DeployError::ReplaceUnpaired {
                gateway: self.cfg.name.clone(),
                replaced: new.join(", "),
            });
        };
        self.say(
            "etcd",
            None,
            format!(
                "asking gateway {} to have its etcd admit {} (and drop the members that are gone)",
                self.cfg.name,
                new.join(", ")
            ),
        );
        let request = membership::request_for(members, &new);
        let port = self.cfg.listen.port();
        let nodes: Vec<String> = keep
            .iter()
            .filter(|m| m.status == NodeStatus::Deployed)
            .filter_map(|m| m.ip_addresses.first())
            .map(|ip| host_port(ip, port))
            .collect();
        let done = repair.repair(&request, &nodes).await?;
        self.say(
            "etcd",
            None,
            format!(
                "etcd members now: {}{}{}",
                done.initial_cluster,
                if done.removed.is_empty() {
                    String::new()
                } else {
                    format!("; removed {}", done.removed.join(", "))
                },
                if done.added.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; added {}",
                        done.added
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        );
        Ok(Some(done.initial_cluster))
    }

    /// Step 3: deploy the Allocated machines.
    async fn deploy_allocated(
        &mut self,
        keep: &mut [Machine],
        binary: &BinaryArtifact,
        digest: &str,
        repair: Option<&dyn MembershipRepair>,
    ) -> Result<(), DeployError> {
        let ca_pem = match &self.cfg.maas.ca_file {
            Some(path) => Some(
                std::fs::read_to_string(path).map_err(|e| DeployError::CaFile {
                    path: path.clone(),
                    detail: e.to_string(),
                })?,
            ),
            None => None,
        };
        let members: Vec<EtcdMember> = keep
            .iter()
            .map(|m| EtcdMember {
                name: m.hostname.clone(),
                host: if m.fqdn.is_empty() {
                    m.hostname.clone()
                } else {
                    m.fqdn.clone()
                },
            })
            .collect();
        let joining = self.admit_replacements(keep, &members, repair).await?;
        let start = match &joining {
            Some(initial_cluster) => EtcdStart::Existing { initial_cluster },
            None => EtcdStart::New,
        };
        for m in keep.iter_mut() {
            if m.status != NodeStatus::Allocated {
                continue;
            }
            let node_yaml = node_config(self.cfg, m, ca_pem.is_some());
            if node_yaml.node.address.is_none() {
                // MAAS assigns an automatic address only once the deploy starts.
                self.say(
                    "deploy",
                    Some(m),
                    format!(
                        "MAAS lists no address for {} before its deploy: its gateway will tell consoles to call it at its own address toward MAAS (give it a static IP in MAAS to fix the address in its gateway.yaml)",
                        m.hostname
                    ),
                );
            }
            let plan = GatewayNodePlan {
                gateway: self.cfg.name.clone(),
                member: m.hostname.clone(),
                members: members.clone(),
                gateway_yaml: node_yaml.to_yaml(),
                maas_ca_pem: ca_pem.clone(),
                binary: binary.clone(),
                pairing_code: self.record.code.clone(),
                proxy: self.cfg.proxy.clone(),
            };
            let user_data = plan.user_data_for(start)?;
            if m.owner_data.get(OWNER_KEY_SETTINGS).map(String::as_str) != Some(digest) {
                let data = BTreeMap::from([
                    (OWNER_KEY_GATEWAY.to_string(), self.cfg.name.clone()),
                    (OWNER_KEY_SETTINGS.to_string(), digest.to_string()),
                ]);
                *m = self.client.set_owner_data(&m.system_id, &data).await?;
            }
            let request = DeployRequest {
                user_data: Some(user_data.into_bytes()),
                agent_name: Some(agent_name(&self.cfg.name)),
                comment: Some(self.comment("gateway node")),
                ..Default::default()
            };
            let i = self.record.begin("deploy", &m.system_id)?;
            // An error leaves the intent open: the next run sees from MAAS whether it deploys.
            let deployed = self.client.deploy(&m.system_id, &request).await?;
            self.record
                .complete(i, format!("deploying: {}", deployed.status_name))?;
            self.changed = true;
            self.say(
                "deploy",
                Some(&deployed),
                format!(
                    "deploying {} ({}) with etcd and kubemaas",
                    deployed.hostname, deployed.system_id
                ),
            );
            *m = deployed;
        }
        Ok(())
    }

    /// Step 4: wait for Deployed.
    async fn wait_deployed(
        &mut self,
        keep: Vec<Machine>,
        options: &DeployOptions,
        pace: &dyn Pace,
    ) -> Result<Vec<Machine>, DeployError> {
        let polls = options.polls();
        let ids: Vec<String> = keep.iter().map(|m| m.system_id.clone()).collect();
        let mut seen: BTreeMap<String, NodeStatus> = keep
            .iter()
            .map(|m| (m.system_id.clone(), m.status))
            .collect();
        let mut said_waiting = false;
        let mut poll = 0u32;
        loop {
            let now = self
                .client
                .machines(&MachineFilter::ids(ids.clone()))
                .await?;
            let mut failed: Vec<FailedMachine> =
                now.iter().filter(|m| !usable(m)).map(failure_of).collect();
            // A machine deleted from MAAS meanwhile would otherwise be waited for forever.
            for id in ids
                .iter()
                .filter(|id| !now.iter().any(|m| &m.system_id == *id))
            {
                failed.push(FailedMachine {
                    system_id: id.clone(),
                    hostname: "?".into(),
                    status: "Gone".into(),
                    message: "MAAS no longer lists this machine".into(),
                });
            }
            if !failed.is_empty() {
                return Err(DeployError::DeploymentFailed {
                    gateway: self.cfg.name.clone(),
                    failed,
                });
            }
            for m in &now {
                if m.status == NodeStatus::Deployed
                    && seen.get(&m.system_id) != Some(&NodeStatus::Deployed)
                {
                    self.say(
                        "deployed",
                        Some(m),
                        format!(
                            "{} ({}) is deployed{}",
                            m.hostname,
                            m.system_id,
                            m.ip_addresses
                                .first()
                                .map(|ip| format!(" at {ip}"))
                                .unwrap_or_default()
                        ),
                    );
                }
                seen.insert(m.system_id.clone(), m.status);
            }
            let pending: Vec<String> = now
                .iter()
                .filter(|m| m.status != NodeStatus::Deployed)
                .map(|m| format!("{} ({}): {}", m.hostname, m.system_id, m.status_name))
                .collect();
            if pending.is_empty() {
                let mut done = now;
                done.sort_by(|a, b| a.hostname.cmp(&b.hostname));
                return Ok(done);
            }
            if poll >= polls {
                return Err(DeployError::Timeout {
                    gateway: self.cfg.name.clone(),
                    waited_secs: options.timeout.as_secs(),
                    pending,
                });
            }
            poll += 1;
            if !said_waiting {
                self.say(
                    "wait",
                    None,
                    format!("waiting for {} machine(s) to be Deployed", pending.len()),
                );
                said_waiting = true;
            }
            pace.pause().await;
        }
    }
}

/// The etcd section of a deployed 3-node gateway's nodes: each node's gateway talks to its own
/// member on loopback (the user-data's `/etc/default/etcd` serves clients there only), under
/// the gateway's own prefix.
pub fn node_etcd(gateway: &str) -> crate::ha::EtcdConfig {
    let mut etcd = crate::ha::EtcdConfig::new(vec![format!("http://127.0.0.1:{ETCD_CLIENT_PORT}")]);
    etcd.prefix = format!("/kubemaas/{gateway}");
    etcd
}

/// Where consoles reach the gateway on machine `m` at `port`: its first MAAS address (the one
/// the console pairs back on). `None` while MAAS lists none usable: MAAS assigns automatic
/// addresses only when the deploy starts, after the user-data is handed over; the node then
/// announces its own address toward MAAS (see [`crate::gateway::nodes::announced_address`]).
pub fn node_address(m: &Machine, port: u16) -> Option<String> {
    m.ip_addresses
        .iter()
        .map(|ip| host_port(ip, port))
        .find_map(|a| check_advertise(&a).ok())
}

/// gateway.yaml as the node reads it: MAAS's CA where the user-data puts it, the node's own
/// names in the server certificate, the address consoles call it at ([`node_address`]:
/// each node announces it, so that consoles fail over to it, where the shared `listen` is
/// usually a wildcard) and, on a 3-node gateway, the replicated store on the node's local
/// etcd member with the node named after its machine (as its etcd member is).
/// A 1-node gateway keeps its state in SQLite: etcd is installed on it all the same, so that a
/// later resize to 3 nodes finds it, but the gateway does not use it.
pub fn node_config(cfg: &GatewayConfig, m: &Machine, has_ca: bool) -> GatewayConfig {
    let mut c = cfg.clone();
    if has_ca {
        c.maas.ca_file = Some(MAAS_CA_PATH.into());
    }
    if cfg.placement.nodes == 3 {
        c.etcd = Some(node_etcd(&cfg.name));
        c.node.name = Some(m.hostname.clone());
    } else {
        // An `etcd:` the operator wrote for another setup would point the lone node away from
        // its own state.
        c.etcd = None;
    }
    for name in [&m.fqdn, &m.hostname] {
        if !name.is_empty() && !c.tls_names.contains(name) {
            c.tls_names.push(name.clone());
        }
    }
    // One gateway.yaml cannot name three nodes: on a 3-node gateway an address the operator
    // wrote is replaced by each machine's own (or dropped, for the node to find), as the name
    // is. A lone node keeps the operator's when MAAS lists none (it may be behind NAT).
    match node_address(m, c.node.listen.unwrap_or(c.listen).port()) {
        Some(address) => c.node.address = Some(address),
        None if cfg.placement.nodes == 3 => c.node.address = None,
        None => {}
    }
    c
}

/// Steps 1 to 4: the gateway's machines in MAAS, deployed. Returns them (sorted by host name)
/// and whether anything was changed. `paired`: how to reach the gateway this console paired
/// (to admit a replacement node into its etcd), `None` while it never paired.
#[allow(clippy::too_many_arguments)]
pub async fn deploy_machines(
    cfg: &GatewayConfig,
    client: &MaasClient,
    record: &mut DeployRecord,
    options: &DeployOptions,
    paired: Option<&dyn MembershipRepair>,
    pace: &dyn Pace,
    report: Report<'_>,
) -> Result<(Vec<Machine>, bool), DeployError> {
    let mut run = Run {
        cfg,
        client,
        record,
        report,
        changed: false,
    };
    // Saved first: from the first MAAS call on, the code must survive a crash.
    run.record.save()?;
    let digest = settings_digest(cfg, &options.binary);
    let mut keep = run.survey(&digest, paired.is_none()).await?;
    run.allocate_missing(&mut keep).await?;
    run.deploy_allocated(&mut keep, &options.binary, &digest, paired)
        .await?;
    let deployed = run.wait_deployed(keep, options, pace).await?;
    Ok((deployed, run.changed))
}

/// Where to ask a paired gateway to repair its etcd first: `--pair-address`, then the address
/// this console recorded (the surviving nodes' MAAS addresses come after, see
/// [`ThroughGateway`]).
fn repair_addresses(
    cfg: &GatewayConfig,
    store: &Store,
    options: &DeployOptions,
) -> Result<Vec<String>, crate::store::StoreError> {
    let mut out: Vec<String> = options.pair_address.iter().cloned().collect();
    let recorded = store
        .read(|r| r.gateways())?
        .into_iter()
        .find(|g| g.name == cfg.name && g.fingerprint.is_some());
    out.extend(recorded.map(|g| g.address));
    Ok(out)
}

/// The MAAS address and listen port of one of the gateway's Deployed machines.
async fn surviving_address(
    cfg: &GatewayConfig,
    client: &MaasClient,
) -> Result<Option<String>, DeployError> {
    let nodes = client
        .machines(&MachineFilter::agent_name(agent_name(&cfg.name)))
        .await?;
    Ok(nodes
        .iter()
        .filter(|m| m.status == NodeStatus::Deployed)
        .find_map(|m| m.ip_addresses.first())
        .map(|ip| host_port(ip, cfg.listen.port())))
}

/// Step 5: pairs with the gateway at `address` with the code from the user-data, and says so.
#[allow(clippy::too_many_arguments)]
async fn pair_at(
    cfg: &GatewayConfig,
    store: &Store,
    state_dir: &Path,
    options: &DeployOptions,
    record: &DeployRecord,
    address: &str,
    pace: &dyn Pace,
    report: Report<'_>,
) -> Result<(), DeployError> {
    let info = pairback::pair_back(
        &pairback::PairBack {
            store,
            state_dir,
            gateway: &cfg.name,
            address,
            code: &record.code,
            console_name: &options.console_name,
            attempts: options.polls(),
        },
        pace,
    )
    .await?;
    report(&Progress::new(
        "paired",
        None,
        format!(
            "paired with gateway {} at {address} (kubemaas {}); it is recorded in this console",
            info.name, info.version
        ),
    ));
    Ok(())
}

/// The whole deploy: machines (steps 1–4), then pairing back and recording the gateway in this
/// console's state (step 5).
#[allow(clippy::too_many_arguments)]
pub async fn deploy(
    cfg: &GatewayConfig,
    client: &MaasClient,
    store: &Store,
    state_dir: &Path,
    options: &DeployOptions,
    pace: &dyn Pace,
    report: Report<'_>,
) -> Result<DeployOutcome, DeployError> {
    let mut record = DeployRecord::load_or_new(state_dir, &cfg.name)?;
    let mut already = store
        .read(|r| r.gateways())?
        .into_iter()
        .any(|g| g.name == cfg.name && g.fingerprint.is_some());
    let first = {
        let through = ThroughGateway {
            store,
            gateway: &cfg.name,
            addresses: repair_addresses(cfg, store, options)?,
        };
        let paired: Option<&dyn MembershipRepair> = if already { Some(&through) } else { None };
        deploy_machines(cfg, client, &mut record, options, paired, pace, report).await
    };
    let mut paired_now = false;
    let (machines, changed) = match first {
        // A replacement node of a gateway never paired: its surviving nodes run the gateway
        // with the code from the user-data, so pair through one of them, then have it admit
        // the replacement into etcd.
        Err(DeployError::ReplaceUnpaired { replaced, .. }) if !options.skip_pairing => {
            let address = match &options.pair_address {
                Some(a) => a.clone(),
                None => surviving_address(cfg, client).await?.ok_or_else(|| {
                    DeployError::ReplaceUnpaired {
                        gateway: cfg.name.clone(),
                        replaced: replaced.clone(),
                    }
                })?,
            };
            report(&Progress::new(
                "pair",
                None,
                format!(
                    "pairing with gateway {} through its surviving node at {address}, to have its etcd admit {replaced}",
                    cfg.name
                ),
            ));
            pair_at(
                cfg, store, state_dir, options, &record, &address, pace, report,
            )
            .await?;
            already = true;
            paired_now = true;
            let through = ThroughGateway {
                store,
                gateway: &cfg.name,
                addresses: repair_addresses(cfg, store, options)?,
            };
            deploy_machines(
                cfg,
                client,
                &mut record,
                options,
                Some(&through),
                pace,
                report,
            )
            .await?
        }
        other => other?,
    };
    let address = match &options.pair_address {
        Some(a) => Some(a.clone()),
        None => machines
            .first()
            .and_then(|m| m.ip_addresses.first())
            .map(|ip| host_port(ip, cfg.listen.port())),
    };
    let pairing = if paired_now {
        "paired"
    } else if already {
        report(&Progress::new(
            "paired",
            None,
            format!("gateway {} is already paired with this console", cfg.name),
        ));
        "already_paired"
    } else if options.skip_pairing {
        "not_paired"
    } else {
        let Some(address) = address.clone() else {
            return Err(DeployError::NoAddress {
                gateway: cfg.name.clone(),
                hostname: machines
                    .first()
                    .map(|m| m.hostname.clone())
                    .unwrap_or_default(),
            });
        };
        report(&Progress::new(
            "pair",
            None,
            format!("pairing with gateway {} at {address}", cfg.name),
        ));
        pair_at(
            cfg, store, state_dir, options, &record, &address, pace, report,
        )
        .await?;
        "paired"
    };
    report(&Progress::new(
        "done",
        None,
        if changed {
            format!(
                "gateway {} deployed on {} machine(s)",
                cfg.name,
                machines.len()
            )
        } else {
            format!(
                "gateway {} was already deployed: nothing changed in MAAS",
                cfg.name
            )
        },
    ));
    Ok(DeployOutcome {
        gateway: cfg.name.clone(),
        machines: machines.iter().map(NodeView::of).collect(),
        address,
        pairing,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(ips: &[&str], fqdn: &str) -> Machine {
        serde_json::from_value(serde_json::json!({
            "system_id": "abc123",
            "hostname": "gw-a",
            "fqdn": fqdn,
            "status": 10,
            "zone": {"name": "default"},
            "ip_addresses": ips,
        }))
        .unwrap()
    }

    #[test]
    fn a_node_is_announced_at_its_first_maas_address_when_maas_lists_one() {
        let cfg = GatewayConfig::parse(&format!(
            "apiVersion: kubemaas.io/v1\nkind: Gateway\nname: dc1\nlisten: 0.0.0.0:9443\nmaas:\n  endpoint: http://127.0.0.1:5240/MAAS\n  apiKey: {}\nplacement:\n  nodes: 3\nnode:\n  address: operator.example:1\n",
            "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef"
        ))
        .unwrap();
        let m = machine(&["10.0.0.7", "192.168.1.7"], "gw-a.maas");
        let on_node = node_config(&cfg, &m, false);
        // The machine's own address replaces whatever the shared file said.
        assert_eq!(on_node.node.address.as_deref(), Some("10.0.0.7:9443"));
        assert_eq!(on_node.node.name.as_deref(), Some("gw-a"));
        // It reads back: the node can start with it.
        assert_eq!(GatewayConfig::parse(&on_node.to_yaml()).unwrap(), on_node);

        assert_eq!(
            node_address(&machine(&["fd00::7"], "gw-a.maas"), 8443).as_deref(),
            Some("[fd00::7]:8443")
        );
        // A wildcard or garbage from MAAS is skipped, never written into the node's file.
        assert_eq!(
            node_address(&machine(&["0.0.0.0", "not an ip", "10.0.0.8"], ""), 8443).as_deref(),
            Some("10.0.0.8:8443")
        );
        // No address yet (MAAS assigns automatic ones when the deploy starts): none written,
        // the operator's shared one dropped on a 3-node gateway, kept on a lone node.
        let unaddressed = machine(&[], "gw-a.maas");
        assert_eq!(node_address(&unaddressed, 8443), None);
        assert_eq!(node_config(&cfg, &unaddressed, false).node.address, None);
        let mut lone = cfg.clone();
        lone.placement.nodes = 1;
        assert_eq!(
            node_config(&lone, &unaddressed, false)
                .node
                .address
                .as_deref(),
            Some("operator.example:1")
        );
    }
}
