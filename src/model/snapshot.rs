//! What the MAAS checks of a spec need to know about a region, fetched by the engine in one go
//! (zones, pools, tags, domains, subnets, boot images, machines) and checked without further
//! calls, so the console can re-run the checks as the operator edits.

use crate::maas::{BootResource, Domain, Machine, ResourcePool, Subnet, Tag, Version, Zone};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MaasSnapshot {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    #[serde(default)]
    pub zones: Vec<Zone>,
    #[serde(default)]
    pub pools: Vec<ResourcePool>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub domains: Vec<Domain>,
    #[serde(default)]
    pub subnets: Vec<Subnet>,
    #[serde(default)]
    pub boot_resources: Vec<BootResource>,
    #[serde(default)]
    pub machines: Vec<Machine>,
}

impl MaasSnapshot {
    /// Reads everything a snapshot holds from `client`'s region, all calls at once (over a
    /// slow link eight sequential calls add up).
    pub async fn fetch(client: &crate::maas::MaasClient) -> Result<Self, crate::maas::MaasError> {
        let all = crate::maas::MachineFilter::default();
        let (version, zones, pools, tags, domains, subnets, boot_resources, machines) = tokio::try_join!(
            client.version(),
            client.zones(),
            client.resource_pools(),
            client.tags(),
            client.domains(),
            client.subnets(),
            client.boot_resources(),
            client.machines(&all),
        )?;
        Ok(MaasSnapshot {
            version: Some(version),
            zones,
            pools,
            tags,
            domains,
            subnets,
            boot_resources,
            machines,
        })
    }

    pub fn zone_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.zones.iter().map(|z| z.name.as_str())
    }

    /// Resource pool names. A MAAS older than 2.5 lists none and has only "default".
    pub fn pool_names(&self) -> Vec<&str> {
        if self.pools.is_empty() {
            vec!["default"]
        } else {
            self.pools.iter().map(|p| p.name.as_str()).collect()
        }
    }

    pub fn tag_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.tags.iter().map(|t| t.name.as_str())
    }

    pub fn domain_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.domains.iter().map(|d| d.name.as_str())
    }

    pub fn boot_resource_names(&self) -> impl Iterator<Item = &str> + Clone {
        self.boot_resources.iter().map(|b| b.name.as_str())
    }

    pub fn has_zone(&self, name: &str) -> bool {
        self.zone_names().any(|z| z == name)
    }

    pub fn has_pool(&self, name: &str) -> bool {
        self.pool_names().contains(&name)
    }

    pub fn has_tag(&self, name: &str) -> bool {
        self.tag_names().any(|t| t == name)
    }

    pub fn has_domain(&self, name: &str) -> bool {
        self.domain_names().any(|d| d == name)
    }

    pub fn has_boot_resource(&self, name: &str) -> bool {
        self.boot_resource_names().any(|b| b == name)
    }
}
