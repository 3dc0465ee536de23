//! Devices (`devices/`): non-deployable nodes MAAS tracks for their addresses — containers and
//! VMs a machine hosts (Juju registers them with the host as `parent`), switches, printers.
//! Each MAC given at creation becomes one physical interface on the default VLAN.

use super::model::SimNic;
use super::reply::ApiError;
use super::state::{Actor, Region};
use serde_json::Map;

/// One device.
#[derive(Debug, Clone, PartialEq)]
pub struct SimDevice {
    pub system_id: String,
    pub hostname: String,
    pub domain: String,
    pub owner: String,
    /// The system_id of the machine (or device) it belongs to.
    pub parent: Option<String>,
    pub zone: String,
    pub nics: Vec<SimNic>,
}

impl SimDevice {
    pub fn fqdn(&self) -> String {
        format!("{}.{}", self.hostname, self.domain)
    }
}

/// What `POST devices/` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub mac_addresses: Vec<String>,
    pub parent: Option<String>,
}

/// `aa:bb:cc:dd:ee:ff` (MAAS also takes `-` separators and normalises them to `:`).
fn normalise_mac(mac: &str) -> Option<String> {
    let lower = mac.trim().to_ascii_lowercase().replace('-', ":");
    let ok = lower.len() == 17
        && lower.split(':').count() == 6
        && lower
            .split(':')
            .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then_some(lower)
}

impl Region {
    /// Devices the caller may see: admins all, users their own (MAAS's view permission).
    pub fn visible_devices<'a>(&'a self, actor: &'a Actor) -> impl Iterator<Item = &'a SimDevice> {
        self.devices
            .iter()
            .filter(move |d| actor.admin || d.owner == actor.username)
    }

    pub fn find_device(&self, system_id: &str, actor: &Actor) -> Result<usize, ApiError> {
        self.devices
            .iter()
            .position(|d| d.system_id == system_id && (actor.admin || d.owner == actor.username))
            .ok_or_else(|| ApiError::NotFound("No Device matches the given query.".into()))
    }

    /// MAAS's `DeviceWithMACsForm`: at least one valid MAC, none already on another node, a
    /// known parent and domain. Field errors come back as MAAS's JSON validation errors.
    pub fn create_device(&mut self, actor: &Actor, new: NewDevice) -> Result<usize, ApiError> {
        if new.mac_addresses.is_empty() {
            return Err(ApiError::field("mac_addresses", "This field is required."));
        }
        let mut macs = Vec::new();
        for raw in &new.mac_addresses {
            let mac = normalise_mac(raw).ok_or_else(|| {
                ApiError::field(
                    "mac_addresses",
                    format!("'{raw}' is not a valid MAC address."),
                )
            })?;
            if let Some(owner) = self.node_with_mac(&mac) {
                return Err(ApiError::field(
                    "mac_addresses",
                    format!("MAC address {mac} already in use on {owner}."),
                ));
            }
            macs.push(mac);
        }
        if let Some(parent) = &new.parent {
            if self.index_of(parent).is_none()
                && !self.devices.iter().any(|d| d.system_id == *parent)
            {
                return Err(ApiError::field(
                    "parent",
                    "Select a valid choice. That choice is not one of the available choices.",
                ));
            }
        }
        let domain = match new.domain {
            Some(d) => {
                if self.catalog.domain(&d).is_none() {
                    return Err(ApiError::field(
                        "domain",
                        "Select a valid choice. That choice is not one of the available choices.",
                    ));
                }
                d
            }
            None => self.default_domain(),
        };
        let serial = self.fresh_id();
        let hostname = new.hostname.unwrap_or_else(|| format!("device-{serial}"));
        let vlan_id = self.catalog.vlans.first().map(|v| v.id);
        let mut next_nic = self.next_interface_id();
        let nics = macs
            .into_iter()
            .enumerate()
            .map(|(n, mac)| {
                let id = next_nic;
                next_nic += 1;
                SimNic {
                    id,
                    name: format!("eth{n}"),
                    mac_address: mac,
                    subnet_id: None,
                    ip_address: None,
                    link_id: 0,
                    link_mode: "link_up".into(),
                    vlan_id,
                    more_links: Vec::new(),
                    extra: Map::new(),
                }
            })
            .collect();
        let system_id = self.unused_system_id(serial);
        self.devices.push(SimDevice {
            system_id,
            hostname,
            domain,
            owner: actor.username.clone(),
            parent: new.parent,
            zone: "default".into(),
            nics,
        });
        Ok(self.devices.len() - 1)
    }

    pub fn delete_device(&mut self, system_id: &str, actor: &Actor) -> Result<(), ApiError> {
        let idx = self.find_device(system_id, actor)?;
        self.devices.remove(idx);
        Ok(())
    }

    /// The hostname of the machine or device owning `mac`, if any.
    fn node_with_mac(&self, mac: &str) -> Option<String> {
        let on = |nics: &[SimNic]| nics.iter().any(|n| n.mac_address.eq_ignore_ascii_case(mac));
        self.machines
            .iter()
            .find(|m| on(&m.nics))
            .map(|m| m.hostname.clone())
            .or_else(|| {
                self.devices
                    .iter()
                    .find(|d| on(&d.nics))
                    .map(|d| d.hostname.clone())
            })
    }

    /// Interface ids are global in MAAS (one table for all nodes).
    fn next_interface_id(&self) -> i64 {
        let machines = self.machines.iter().flat_map(|m| m.nics.iter());
        let devices = self.devices.iter().flat_map(|d| d.nics.iter());
        machines.chain(devices).map(|n| n.id).max().unwrap_or(0) + 1
    }

    /// A six-character system_id as MAAS makes them, unused by any node.
    fn unused_system_id(&self, seed: i64) -> String {
        const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxy0123456789";
        let mut n = seed as u64 * 7919 + 104_729;
        loop {
            let mut id = String::new();
            let mut x = n;
            for _ in 0..6 {
                id.push(char::from(ALPHABET[(x % ALPHABET.len() as u64) as usize]));
                x /= ALPHABET.len() as u64;
            }
            let taken =
                self.index_of(&id).is_some() || self.devices.iter().any(|d| d.system_id == id);
            if !taken {
                return id;
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_mac;

    #[test]
    fn macs() {
        assert_eq!(
            normalise_mac("AA-bb-CC-00-11-22").as_deref(),
            Some("aa:bb:cc:00:11:22")
        );
        assert_eq!(normalise_mac("aa:bb:cc:00:11"), None);
        assert_eq!(normalise_mac("zz:bb:cc:00:11:22"), None);
    }
}
