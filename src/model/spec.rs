//! The cluster spec (`kind: Cluster`): everything an operator decides about one cluster. Addresses,
//! CIDRs, schedules, labels and names are kept as the strings the operator wrote and checked by
//! [`super::validate`], so every problem is listed at once instead of the parser stopping at
//! the first bad address. Unknown keys are refused with their line (see [`super::document`]).

use super::document::{parse_document, to_yaml, DocumentError, API_VERSION};
use serde::{Deserialize, Serialize};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fmt;

pub const CLUSTER_KIND: &str = "Cluster";

/// A cluster spec document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpec {
    pub api_version: String,
    pub kind: String,
    pub metadata: ClusterMetadata,
    pub spec: ClusterSpecBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterMetadata {
    /// DNS-1123 label; becomes part of hostnames and MAAS records.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Free-form tags for the operator's own grouping (`team-a`, `env:prod`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSpecBody {
    /// The cloud account (MAAS region) to build on.
    pub cloud_account: String,
    pub profile: ProfileRef,
    /// The MAAS DNS domain the nodes (and a DNS endpoint) are registered in.
    #[serde(default = "default_dns_domain")]
    pub dns_domain: String,
    #[serde(default)]
    pub network: ClusterNetwork,
    /// The image MAAS deploys; absent means the profile's Ubuntu series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_image: Option<String>,
    pub node_pools: Vec<NodePool>,
    #[serde(default)]
    pub policies: Policies,
}

pub fn default_dns_domain() -> String {
    "maas".to_string()
}

/// Which profile, and per-pack value overrides laid over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileRef {
    pub name: String,
    /// Pack name → values deep-merged over the pack's values (null removes a key).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterNetwork {
    #[serde(default = "default_pod_cidr", rename = "podCIDR")]
    pub pod_cidr: String,
    #[serde(default = "default_service_cidr", rename = "serviceCIDR")]
    pub service_cidr: String,
    #[serde(default)]
    pub control_plane_endpoint: ControlPlaneEndpoint,
    #[serde(default, skip_serializing_if = "Proxy::is_empty")]
    pub proxy: Proxy,
    /// The cluster's own DNS domain (services resolve as `NAME.NAMESPACE.svc.DOMAIN`): CoreDNS
    /// answers for it. Never the MAAS domain (`dnsDomain`), or pods could no longer resolve
    /// MAAS hosts.
    #[serde(default = "default_cluster_domain")]
    pub cluster_domain: String,
}

/// Kubernetes' customary cluster domain.
pub fn default_cluster_domain() -> String {
    "cluster.local".to_string()
}

/// kubeadm's customary pod range. Not Calico's 192.168.0.0/16: datacenter node networks are
/// often inside 192.168.0.0/16, and pods must never overlap the nodes' own subnet.
pub fn default_pod_cidr() -> String {
    "10.244.0.0/16".to_string()
}

pub fn default_service_cidr() -> String {
    "10.96.0.0/12".to_string()
}

impl Default for ClusterNetwork {
    fn default() -> Self {
        ClusterNetwork {
            pod_cidr: default_pod_cidr(),
            service_cidr: default_service_cidr(),
            control_plane_endpoint: ControlPlaneEndpoint::default(),
            proxy: Proxy::default(),
            cluster_domain: default_cluster_domain(),
        }
    }
}

/// How clients reach the API servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    /// A virtual IP announced by kube-vip on the control-plane nodes.
    #[default]
    Vip,
    /// A MAAS DNS record listing the control-plane nodes' addresses.
    Dns,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlaneEndpoint {
    #[serde(default)]
    pub mode: EndpointMode,
    /// The VIP (vip mode); absent means MAAS reserves a free address on `subnet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<String>,
    /// The API's DNS name: the record's name in dns mode, an extra certificate name in vip mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// The MAAS subnet (CIDR) carrying API traffic; absent means the nodes' boot subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default = "default_api_port")]
    pub port: u16,
}

pub fn default_api_port() -> u16 {
    6443
}

impl Default for ControlPlaneEndpoint {
    fn default() -> Self {
        ControlPlaneEndpoint {
            mode: EndpointMode::Vip,
            vip: None,
            dns_name: None,
            subnet: None,
            port: default_api_port(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Proxy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_proxy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_proxy: Option<String>,
    /// Hosts, domains (`.example.com`), IPs and CIDRs reached directly. kubemaas adds the pod
    /// and service CIDRs, the endpoint, localhost, `.svc` and `.cluster.local` itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_proxy: Vec<String>,
}

impl Proxy {
    pub fn is_empty(&self) -> bool {
        self.http_proxy.is_none() && self.https_proxy.is_none() && self.no_proxy.is_empty()
    }
}

impl ClusterNetwork {
    /// The pod network, once validation has accepted it.
    pub fn pod_net(&self) -> Option<ipnet::IpNet> {
        self.pod_cidr
            .trim()
            .parse::<ipnet::IpNet>()
            .ok()
            .map(|n| n.trunc())
    }

    /// The service network, once validation has accepted it.
    pub fn service_net(&self) -> Option<ipnet::IpNet> {
        self.service_cidr
            .trim()
            .parse::<ipnet::IpNet>()
            .ok()
            .map(|n| n.trunc())
    }

    /// The fixed VIP, if one is given (vip mode).
    pub fn vip(&self) -> Option<std::net::IpAddr> {
        match self.control_plane_endpoint.mode {
            EndpointMode::Vip => self
                .control_plane_endpoint
                .vip
                .as_deref()?
                .trim()
                .parse()
                .ok(),
            EndpointMode::Dns => None,
        }
    }

    /// The NO_PROXY list the nodes get: the operator's entries, then what the cluster must reach
    /// directly or it would send its own traffic through the proxy — the pod and service
    /// networks, the machines' subnets, the API endpoint, localhost and the in-cluster domains.
    /// `node_subnets` are the MAAS subnets (CIDRs) the nodes sit on; `endpoint` the API host
    /// (VIP or DNS name) once known. Empty when no proxy is set.
    pub fn no_proxy(&self, node_subnets: &[String], endpoint: Option<&str>) -> Vec<String> {
        if self.proxy.http_proxy.is_none() && self.proxy.https_proxy.is_none() {
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        let mut add = |entry: &str| {
            let entry = entry.trim();
            if !entry.is_empty() && !out.iter().any(|e| e == entry) {
                out.push(entry.to_string());
            }
        };
        self.proxy.no_proxy.iter().for_each(|e| add(e));
        add(&self.pod_cidr);
        add(&self.service_cidr);
        node_subnets.iter().for_each(|s| add(s));
        if let Some(host) = endpoint {
            add(host);
        }
        if let Some(name) = &self.control_plane_endpoint.dns_name {
            add(name);
        }
        for fixed in ["localhost", "127.0.0.1", "::1", ".svc", ".cluster.local"] {
            add(fixed);
        }
        out
    }
}

/// What a pool's nodes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PoolRole {
    ControlPlane,
    Worker,
}

impl fmt::Display for PoolRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolRole::ControlPlane => "controlPlane",
            PoolRole::Worker => "worker",
        })
    }
}

/// A node pool: identical machines in one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePool {
    /// DNS-1123 label, unique in the cluster.
    pub name: String,
    pub role: PoolRole,
    /// Number of nodes: 1, 3 or 5 for the control plane; 0 or more for workers.
    pub size: u32,
    /// Control plane only: let ordinary workloads run there (no control-plane taint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_workloads: Option<bool>,
    /// The MAAS resource pool machines are taken from.
    #[serde(default = "default_resource_pool")]
    pub resource_pool: String,
    /// MAAS zones to take machines from, spread evenly; empty means any zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    #[serde(default = "default_min_cpu")]
    pub min_cpu: u32,
    #[serde(default = "default_min_memory", rename = "minMemoryMiB")]
    pub min_memory_mib: u64,
    /// The boot disk's minimum size in GB (decimal, as MAAS's storage constraint).
    #[serde(default = "default_min_disk", rename = "minDiskGB")]
    pub min_disk_gb: u64,
    /// MAAS tags a machine must carry, all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maas_tags: Vec<String>,
    /// Kubernetes labels put on the nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    /// Control plane only: fixed addresses for its nodes, one per node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_ips: Vec<String>,
    #[serde(default)]
    pub rolling_update: RollingUpdate,
}

pub fn default_resource_pool() -> String {
    "default".to_string()
}

pub fn default_min_cpu() -> u32 {
    4
}

pub fn default_min_memory() -> u64 {
    8192
}

pub fn default_min_disk() -> u64 {
    60
}

impl NodePool {
    /// A pool with kubemaas's defaults (control planes 4 cores / 8 GiB, workers 4 / 16 GiB).
    pub fn new(name: impl Into<String>, role: PoolRole, size: u32) -> Self {
        let (min_cpu, min_memory_mib, allow_workloads) = match role {
            PoolRole::ControlPlane => (default_min_cpu(), default_min_memory(), Some(false)),
            // Workers run the workloads: twice the memory of the default.
            PoolRole::Worker => (default_min_cpu(), 2 * default_min_memory(), None),
        };
        NodePool {
            name: name.into(),
            role,
            size,
            allow_workloads,
            resource_pool: default_resource_pool(),
            zones: Vec::new(),
            min_cpu,
            min_memory_mib,
            min_disk_gb: default_min_disk(),
            maas_tags: Vec::new(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            static_ips: Vec::new(),
            rolling_update: RollingUpdate::default(),
        }
    }

    /// Whether ordinary workloads can be scheduled on this pool's nodes.
    pub fn runs_workloads(&self) -> bool {
        let untainted = !self
            .taints
            .iter()
            .any(|t| t.effect == TaintEffect::NoSchedule || t.effect == TaintEffect::NoExecute);
        match self.role {
            PoolRole::ControlPlane => self.allow_workloads == Some(true) && untainted,
            PoolRole::Worker => untainted,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// How a pool's nodes are replaced on upgrades and repaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RollingUpdate {
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// Custom only: extra nodes added before old ones are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<u32>,
    /// Custom only: nodes that may be missing at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<u32>,
}

impl Default for RollingUpdate {
    fn default() -> Self {
        RollingUpdate {
            strategy: RolloutStrategy::ExpandFirst,
            max_surge: None,
            max_unavailable: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum RolloutStrategy {
    /// Add a new node, then remove an old one: needs one spare machine.
    #[default]
    ExpandFirst,
    /// Remove an old node, then add its replacement: no spare machine needed.
    ContractFirst,
    /// maxSurge / maxUnavailable as given.
    Custom,
}

impl RollingUpdate {
    /// (max surge, max unavailable) this strategy means; custom values missing count as 0.
    pub fn surge_and_unavailable(&self) -> (u32, u32) {
        match self.strategy {
            RolloutStrategy::ExpandFirst => (1, 0),
            RolloutStrategy::ContractFirst => (0, 1),
            RolloutStrategy::Custom => (
                self.max_surge.unwrap_or(0),
                self.max_unavailable.unwrap_or(0),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policies {
    #[serde(default)]
    pub machine_management: MachineManagement,
    #[serde(default)]
    pub scan: ScanPolicy,
    #[serde(default)]
    pub backup: BackupPolicy,
}

/// OS patching of the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MachineManagement {
    /// Apply OS updates when a node boots.
    #[serde(default)]
    pub patch_os_on_boot: bool,
    /// Reboot after patching when the update asks for it.
    #[serde(default)]
    pub reboot_if_required: bool,
    /// Cron schedule for OS patching; absent means never on a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_schedule: Option<String>,
}

/// Conformance and security scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanPolicy {
    /// Cron schedule; absent means on demand only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// Cluster backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupPolicy {
    /// Cron schedule; absent means on demand only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Where backups go (an S3-compatible URL); required with a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Days a backup is kept.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

pub fn default_retention() -> u32 {
    30
}

impl Default for BackupPolicy {
    fn default() -> Self {
        BackupPolicy {
            schedule: None,
            location: None,
            retention_days: default_retention(),
        }
    }
}

/// The image MAAS deploys, as `osImage` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OsImage {
    /// `ubuntu/jammy`.
    Ubuntu { series: String },
    /// `custom/<name>`: an image uploaded to MAAS's boot resources.
    Custom { name: String },
}

impl OsImage {
    /// Reads `ubuntu/<series>` or `custom/<name>`.
    pub fn parse(text: &str) -> Result<OsImage, String> {
        let text = text.trim();
        match text.split_once('/') {
            Some(("ubuntu", series)) if !series.is_empty() && !series.contains('/') => Ok(OsImage::Ubuntu {
                series: series.to_string(),
            }),
            Some(("custom", name)) if !name.is_empty() && !name.contains('/') => Ok(OsImage::Custom {
                name: name.to_string(),
            }),
            _ => Err(format!(
                "`{text}` is not an image name: write `ubuntu/<series>` (like `ubuntu/jammy`) or `custom/<name>` for an image uploaded to MAAS"
            )),
        }
    }

    /// The boot resource name MAAS lists it under.
    pub fn boot_resource_name(&self) -> String {
        match self {
            OsImage::Ubuntu { series } => format!("ubuntu/{series}"),
            OsImage::Custom { name } => format!("custom/{name}"),
        }
    }

    /// What the deploy call's `distro_series` takes: `jammy`, or `custom/<name>`.
    pub fn distro_series(&self) -> String {
        match self {
            OsImage::Ubuntu { series } => series.clone(),
            OsImage::Custom { name } => format!("custom/{name}"),
        }
    }
}

impl ClusterSpec {
    /// Reads a spec. Syntax, structure and unknown keys fail here; everything else is listed by
    /// [`super::validate::validate_local`].
    pub fn from_yaml(text: &str) -> Result<ClusterSpec, DocumentError> {
        parse_document(text, CLUSTER_KIND)
    }

    pub fn to_yaml(&self) -> String {
        to_yaml(self)
    }

    /// A spec with kubemaas's defaults: one control-plane pool of `control_plane` nodes and one
    /// worker pool of `workers` nodes, the default profile, a VIP endpoint MAAS reserves.
    pub fn with_defaults(
        name: &str,
        account: &str,
        control_plane: u32,
        workers: u32,
    ) -> ClusterSpec {
        let mut control = NodePool::new("control-plane", PoolRole::ControlPlane, control_plane);
        let worker = NodePool::new("workers", PoolRole::Worker, workers);
        if workers == 0 {
            // No workers: the control plane has to run the workloads.
            control.allow_workloads = Some(true);
        }
        ClusterSpec {
            api_version: API_VERSION.to_string(),
            kind: CLUSTER_KIND.to_string(),
            metadata: ClusterMetadata {
                name: name.to_string(),
                description: String::new(),
                tags: Vec::new(),
            },
            spec: ClusterSpecBody {
                cloud_account: account.to_string(),
                profile: ProfileRef {
                    name: super::profile::DEFAULT_PROFILE.to_string(),
                    overrides: BTreeMap::new(),
                },
                dns_domain: default_dns_domain(),
                network: ClusterNetwork::default(),
                os_image: None,
                node_pools: vec![control, worker],
                policies: Policies::default(),
            },
        }
    }

    /// The control-plane pool (the first, if a broken spec has several).
    pub fn control_plane(&self) -> Option<&NodePool> {
        self.spec
            .node_pools
            .iter()
            .find(|p| p.role == PoolRole::ControlPlane)
    }

    pub fn worker_pools(&self) -> impl Iterator<Item = &NodePool> {
        self.spec
            .node_pools
            .iter()
            .filter(|p| p.role == PoolRole::Worker)
    }

    pub fn name(&self) -> &str {
        &self.metadata.name
    }
}
