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
    /// Fields of a loaded inventory's block device the simulator does not model (partitions,
    /// filesystem, id_path, ...), rendered back over the computed defaults unchanged.
    pub extra: Map<String, Value>,
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
    /// The id of the link to `subnet_id` (MAAS numbers links separately from interfaces).
    pub link_id: i64,
    /// How the link gets its address: "auto" (MAAS assigns at deploy), "static", "dhcp",
    /// "link_up" (no address).
    pub link_mode: String,
    /// The VLAN the interface is on; the subnet's VLAN when linked, kept for unlinked NICs.
    pub vlan_id: Option<i64>,
    /// Links beyond the first (aliases), rendered back unchanged.
    pub more_links: Vec<Value>,
    /// Fields of a loaded inventory's interface the simulator does not model (type, parents,
    /// vendor, ...), rendered back over the computed defaults unchanged.
    pub extra: Map<String, Value>,
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

    /// The addresses MAAS lists in `ip_addresses`: every link's address, in interface order
    /// (extra links of a loaded inventory included).
    pub fn ip_addresses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for nic in &self.nics {
            if let Some(ip) = &nic.ip_address {
                out.push(ip.clone());
            }
            for link in &nic.more_links {
                if let Some(ip) = link.get("ip_address").and_then(Value::as_str) {
                    out.push(ip.to_string());
                }
            }
        }
        out
    }

    /// The interface the machine PXE-boots from: MAAS reports the first physical one.
    pub fn boot_nic(&self) -> Option<&SimNic> {
        self.nics.first()
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
    /// The VLAN as rendered inside the subnet (mtu, DHCP, racks); `vlan_id`, `vid` and
    /// `fabric` above repeat its identity for quick filtering.
    pub vlan: SimVlan,
    /// Fields of a loaded subnet the simulator does not model (rdns_mode, ...), rendered back.
    pub extra: Map<String, Value>,
}

/// A VLAN: what interfaces and subnets embed as `vlan`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimVlan {
    pub id: i64,
    /// "untagged" for vid 0, otherwise usually the vid as text.
    pub name: String,
    pub vid: u32,
    pub mtu: u32,
    pub fabric: String,
    pub fabric_id: i64,
    pub dhcp_on: bool,
    /// The system_id of the rack controller serving DHCP/PXE on this VLAN.
    pub primary_rack: Option<String>,
    pub secondary_rack: Option<String>,
    /// The space's name, or None for MAAS's "undefined".
    pub space: Option<String>,
}

/// A fabric: a set of VLANs that can reach each other at layer 2.
#[derive(Debug, Clone, PartialEq)]
pub struct SimFabric {
    pub id: i64,
    pub name: String,
    pub class_type: Option<String>,
}

/// A space: a set of subnets that can reach each other at layer 3.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSpace {
    pub id: i64,
    pub name: String,
    pub description: String,
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
    pub vlans: Vec<SimVlan>,
    pub fabrics: Vec<SimFabric>,
    pub spaces: Vec<SimSpace>,
}

impl SimCatalog {
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    pub fn pool(&self, name: &str) -> Option<&ResourcePool> {
        self.pools.iter().find(|p| p.name == name)
    }

    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.name == name)
    }

    /// The domain machines land in when none is given.
    pub fn default_domain(&self) -> Option<&Domain> {
        self.domains
            .iter()
            .find(|d| d.is_default)
            .or(self.domains.first())
    }

    pub fn tag(&self, name: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.name == name)
    }

    pub fn subnet(&self, id: i64) -> Option<&SimSubnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    pub fn subnet_by_cidr(&self, cidr: &str) -> Option<&SimSubnet> {
        self.subnets.iter().find(|s| s.cidr == cidr)
    }

    pub fn vlan(&self, id: i64) -> Option<&SimVlan> {
        self.vlans.iter().find(|v| v.id == id)
    }

    pub fn boot_resource(&self, id: i64) -> Option<&BootResource> {
        self.boot_resources.iter().find(|b| b.id == id)
    }
}

/// A whole simulated region's starting inventory.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimInventory {
    pub catalog: SimCatalog,
    pub machines: Vec<SimMachine>,
}
