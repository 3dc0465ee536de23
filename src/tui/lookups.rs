//! What the wizards pick from MAAS: zones, resource pools, tags, DNS domains and boot images,
//! each with how many machines could be taken now (Ready and unlocked, MAAS's own rule in
//! [`crate::model::constraints::is_available`]), plus the whole [`MaasSnapshot`] so the
//! review step can run [`crate::model::validate_against_maas`] (capacity included) without
//! another call. Plain data: screens never see HTTP.

use crate::model::constraints::is_available;
use crate::model::MaasSnapshot;
use std::collections::BTreeMap;

/// A name and the machines that could be taken under it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCount {
    pub name: String,
    pub available: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlacementChoices {
    pub zones: Vec<NamedCount>,
    pub pools: Vec<NamedCount>,
    pub tags: Vec<NamedCount>,
    pub domains: Vec<NamedCount>,
    /// Boot resource names (`ubuntu/jammy`, `custom/…`), as `osImage` takes them.
    pub boot_images: Vec<String>,
    pub snapshot: MaasSnapshot,
}

impl PlacementChoices {
    /// Counts available machines per zone, pool, tag and domain of a snapshot.
    pub fn from_snapshot(snapshot: MaasSnapshot) -> PlacementChoices {
        let mut zones: BTreeMap<&str, usize> = snapshot.zone_names().map(|z| (z, 0)).collect();
        let mut pools: BTreeMap<&str, usize> =
            snapshot.pool_names().into_iter().map(|p| (p, 0)).collect();
        let mut tags: BTreeMap<&str, usize> = snapshot.tag_names().map(|t| (t, 0)).collect();
        let mut domains: BTreeMap<&str, usize> = snapshot.domain_names().map(|d| (d, 0)).collect();
        for m in snapshot.machines.iter().filter(|m| is_available(m)) {
            *zones.entry(m.zone.name.as_str()).or_default() += 1;
            *pools.entry(m.pool_name()).or_default() += 1;
            for t in &m.tag_names {
                *tags.entry(t.as_str()).or_default() += 1;
            }
            if let Some(d) = &m.domain {
                *domains.entry(d.name.as_str()).or_default() += 1;
            }
        }
        let list = |m: BTreeMap<&str, usize>| {
            m.into_iter()
                .map(|(name, available)| NamedCount {
                    name: name.to_string(),
                    available,
                })
                .collect::<Vec<_>>()
        };
        let mut boot_images: Vec<String> =
            snapshot.boot_resource_names().map(str::to_string).collect();
        boot_images.sort();
        boot_images.dedup();
        PlacementChoices {
            zones: list(zones),
            pools: list(pools),
            tags: list(tags),
            domains: list(domains),
            boot_images,
            snapshot,
        }
    }

    /// The domain MAAS marks as default, else the first.
    pub fn default_domain(&self) -> Option<&str> {
        self.snapshot
            .domains
            .iter()
            .find(|d| d.is_default)
            .map(|d| d.name.as_str())
            .or_else(|| self.domains.first().map(|d| d.name.as_str()))
    }
}
