//! Typed MAAS resources, with MAAS's own field names. Deserialisation is tolerant of what older
//! regions lack (no `pool`, no `owner_data` before 2.5) and keeps every field it does not model
//! in `extra`, so printing a machine back out loses nothing MAAS sent.

use super::status::NodeStatus;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A null from MAAS read as the type's default (MAAS sends `null` for many empty strings).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `GET version/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub version: String,
    #[serde(default, deserialize_with = "null_default")]
    pub subversion: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// `GET users/?op=whoami`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    #[serde(default, deserialize_with = "null_default")]
    pub email: String,
    #[serde(default)]
    pub is_superuser: bool,
    #[serde(default)]
    pub is_local: bool,
    #[serde(default)]
    pub resource_uri: String,
}

/// An availability zone (`zones/`). Also the shape embedded in a machine's `zone`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default)]
    pub resource_uri: String,
}

/// A resource pool (`resourcepools/`). Also the shape embedded in a machine's `pool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePool {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default)]
    pub resource_uri: String,
}

/// A tag (`tags/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub definition: String,
    #[serde(default, deserialize_with = "null_default")]
    pub comment: String,
    #[serde(default, deserialize_with = "null_default")]
    pub kernel_opts: String,
    #[serde(default)]
    pub resource_uri: String,
}

/// A DNS domain (`domains/`); also embedded in a machine's `domain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Domain {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub ttl: Option<u32>,
    #[serde(default)]
    pub authoritative: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub resource_record_count: u64,
    #[serde(default)]
    pub resource_uri: String,
}

/// A VLAN as embedded in subnets and interfaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vlan {
    pub id: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub fabric: String,
    #[serde(default)]
    pub vid: u32,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub dhcp_on: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A subnet (`subnets/`); also embedded in interface links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    pub cidr: String,
    #[serde(default)]
    pub gateway_ip: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub dns_servers: Vec<String>,
    #[serde(default)]
    pub space: Option<String>,
    #[serde(default)]
    pub managed: Option<bool>,
    #[serde(default)]
    pub vlan: Option<Vlan>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One free range of a subnet (`subnets/<id>/?op=unreserved_ip_ranges`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpRange {
    pub start: String,
    pub end: String,
    pub num_addresses: u64,
}

/// A boot resource (`boot-resources/`): an image machines can be deployed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootResource {
    pub id: i64,
    /// "Synced", "Uploaded" or "Generated".
    #[serde(rename = "type")]
    pub kind: String,
    /// "ubuntu/jammy", "custom/my-image".
    pub name: String,
    pub architecture: String,
    #[serde(default)]
    pub resource_uri: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl BootResource {
    /// The series this image deploys as `distro_series` ("jammy" for "ubuntu/jammy",
    /// "custom/x" for custom images).
    pub fn distro_series(&self) -> &str {
        match self.name.split_once('/') {
            Some(("ubuntu", series)) => series,
            _ => &self.name,
        }
    }
}

/// A machine's power state. MAAS also reports `unknown` and `error`: neither means "off".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    On,
    Off,
    Error,
    #[default]
    #[serde(other)]
    Unknown,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::Unknown => "unknown",
            PowerState::Error => "error",
        }
    }
}

/// The link of an interface to a subnet, with its address when it has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceLink {
    #[serde(default)]
    pub id: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub mode: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub subnet: Option<Subnet>,
}

/// A network interface of a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub mac_address: String,
    #[serde(default, rename = "type", deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub links: Vec<InterfaceLink>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn default_true() -> bool {
    true
}

/// A physical disk of a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockDevice {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    /// Bytes.
    pub size: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub model: String,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A machine as `machines/` returns it. Only what kubemaas reads is typed; everything else MAAS
/// sent is kept in `extra` and printed back by `-o json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub system_id: String,
    pub hostname: String,
    #[serde(default, deserialize_with = "null_default")]
    pub fqdn: String,
    pub status: NodeStatus,
    #[serde(default, deserialize_with = "null_default")]
    pub status_name: String,
    #[serde(default)]
    pub status_message: Option<String>,
    #[serde(default)]
    pub cpu_count: u32,
    /// MiB.
    #[serde(default)]
    pub memory: u64,
    /// Decimal megabytes: the sum of the physical disks' bytes / 10^6.
    #[serde(default, deserialize_with = "null_default")]
    pub storage: f64,
    #[serde(default, deserialize_with = "null_default")]
    pub architecture: String,
    pub zone: Zone,
    /// Absent on MAAS before 2.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<ResourcePool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    #[serde(default, deserialize_with = "null_default")]
    pub tag_names: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub ip_addresses: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub power_state: PowerState,
    #[serde(default, deserialize_with = "null_default")]
    pub power_type: String,
    #[serde(default, deserialize_with = "null_default")]
    pub osystem: String,
    #[serde(default, deserialize_with = "null_default")]
    pub distro_series: String,
    #[serde(default)]
    pub hwe_kernel: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    /// Absent on MAAS before 2.x; kubemaas stamps its machines here.
    #[serde(default, deserialize_with = "null_default")]
    pub owner_data: BTreeMap<String, String>,
    #[serde(default)]
    pub locked: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub interface_set: Vec<Interface>,
    #[serde(default, deserialize_with = "null_default")]
    pub physicalblockdevice_set: Vec<BlockDevice>,
    #[serde(default)]
    pub resource_uri: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Machine {
    /// The pool's name, or "default" on a MAAS too old to have pools.
    pub fn pool_name(&self) -> &str {
        self.pool.as_ref().map_or("default", |p| p.name.as_str())
    }

    /// Physical disks, largest first, in whole gigabytes (decimal, as MAAS's storage constraint).
    pub fn disk_sizes_gb(&self) -> Vec<u64> {
        let mut sizes: Vec<u64> = self
            .physicalblockdevice_set
            .iter()
            .map(|d| d.size / 1_000_000_000)
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes
    }

    /// The address of this machine on a subnet, if it has one there.
    pub fn address_on(&self, cidr: &str) -> Option<&str> {
        self.interface_set
            .iter()
            .flat_map(|i| i.links.iter())
            .filter(|l| l.subnet.as_ref().is_some_and(|s| s.cidr == cidr))
            .find_map(|l| l.ip_address.as_deref())
    }
}

/// The answer to `machines/?op=allocate`: the machine (Allocated) and which of its disks and
/// interfaces matched each labelled constraint (`{"storage": {"root": [id]}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    pub machine: Machine,
    pub constraints_by_type: Map<String, Value>,
}

/// A reserved or assigned IP address (`ipaddresses/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpAddress {
    pub ip: String,
    #[serde(default)]
    pub alloc_type: Option<i64>,
    #[serde(default, deserialize_with = "null_default")]
    pub alloc_type_name: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub subnet: Option<Subnet>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A DNS resource (`dnsresources/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsResource {
    pub id: i64,
    pub fqdn: String,
    #[serde(default)]
    pub address_ttl: Option<u32>,
    #[serde(default, deserialize_with = "null_default")]
    pub ip_addresses: Vec<IpAddress>,
    #[serde(default)]
    pub resource_uri: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One MAAS event (`events/?op=query`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: i64,
    /// The machine's system_id.
    #[serde(default, deserialize_with = "null_default")]
    pub node: String,
    #[serde(default, deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(default, deserialize_with = "null_default")]
    pub username: String,
    #[serde(default, deserialize_with = "null_default")]
    pub level: String,
    /// MAAS's own format, e.g. "Fri, 07 Dec. 2018 20:11:08".
    #[serde(default, deserialize_with = "null_default")]
    pub created: String,
    #[serde(rename = "type", default, deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
}

/// A page of events; MAAS lists newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub count: u64,
    pub events: Vec<Event>,
    #[serde(default)]
    pub next_uri: Option<String>,
    #[serde(default)]
    pub prev_uri: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_state_tolerates_unknown_values() {
        let p: PowerState = serde_json::from_str("\"on\"").unwrap();
        assert_eq!(p, PowerState::On);
        let p: PowerState = serde_json::from_str("\"something-new\"").unwrap();
        assert_eq!(p, PowerState::Unknown);
    }

    #[test]
    fn boot_resource_series() {
        let b = BootResource {
            id: 1,
            kind: "Synced".into(),
            name: "ubuntu/jammy".into(),
            architecture: "amd64/ga-22.04".into(),
            resource_uri: String::new(),
            extra: Map::new(),
        };
        assert_eq!(b.distro_series(), "jammy");
    }
}
