//! The simulator's world: the machines and the catalogues (zones, pools, tags, domains, subnets,
//! boot images) a MAAS region holds. Behaviour lives in `sim::state`; JSON rendering in
//! `sim::render`; fleet generation and inventory loading in `sim::inventory`.

use crate::maas::{BootResource, Domain, NodeStatus, PowerState, ResourcePool, Tag, Zone};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One disk of a simulated machine.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDisk {
    pub id: i64,
    pub name: String,
    pub size_bytes: u64,
    pub model: String,
    pub serial: String,
    /// Block-device tags such as "ssd", "rotary".
    pub tags: Vec<String>,
}

/// One network interface of a simulated machine.
#[derive(Debug, Clone, PartialEq)]
pub struct SimNic {
    pub id: i64,
    pub name: String,
    pub mac_address: String,
    /// The id of the subnet this NIC links to (auto mode), if any.
    pub subnet_id: Option<i64>,
    /// The address MAAS gave the link; assigned when deployment starts, cleared on release.
    pub ip_address: Option<String>,
}

/// A simulated machine: what MAAS knows of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMachine {
    pub system_id: String,
    pub hostname: String,
    /// The domain's name ("maas").
    pub domain: String,
    pub status: NodeStatus,
    pub status_message: Option<String>,
    pub cpu_count: u32,
    /// MHz.
    pub cpu_speed: u32,
    /// MiB.
    pub memory_mib: u64,
    /// "amd64/generic".
    pub architecture: String,
    pub zone: String,
    pub pool: String,
    pub tags: Vec<String>,
    pub power_type: String,
    pub power_state: PowerState,
    pub disks: Vec<SimDisk>,
    pub nics: Vec<SimNic>,
    pub owner: Option<String>,
    pub owner_data: BTreeMap<String, String>,
    /// Not shown in the machine JSON (as in MAAS) but filterable with `agent_name=`.
    pub agent_name: String,
    pub osystem: String,
    pub distro_series: String,
    pub hwe_kernel: Option<String>,
    pub min_hwe_kernel: String,
    /// The decoded user-data given at deploy time.
    pub user_data: Option<Vec<u8>>,
    pub locked: bool,
    pub description: String,
    pub error_description: String,
    pub hardware_info: BTreeMap<String, String>,
    /// Fields of a loaded inventory that the simulator does not model, rendered back unchanged.
    pub passthrough: Map<String, Value>,
}

impl SimMachine {
    /// `storage` as MAAS reports it: the physical disks' bytes in decimal megabytes.
    pub fn storage_mb(&self) -> f64 {
        self.disks.iter().map(|d| d.size_bytes as f64).sum::<f64>() / 1_000_000.0
    }

    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.hostname, self.domain)
    }
}

/// A subnet the simulator hands addresses out of.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSubnet {
    pub id: i64,
    pub name: String,
    /// "10.20.0.0/16".
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub dns_servers: Vec<String>,
    pub vlan_id: i64,
    pub vid: u32,
    pub fabric: String,
    pub space: String,
    pub managed: bool,
}

/// Everything in a region that is not a machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimCatalog {
    pub zones: Vec<Zone>,
    pub pools: Vec<ResourcePool>,
    pub tags: Vec<Tag>,
    pub domains: Vec<Domain>,
    pub subnets: Vec<SimSubnet>,
    pub boot_resources: Vec<BootResource>,
}

/// A whole simulated region's starting inventory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimInventory {
    pub catalog: SimCatalog,
    pub machines: Vec<SimMachine>,
}
