//! "Does this machine fit this pool?" with MAAS's own allocation semantics, in one place so the
//! validator's capacity count, the engine's allocate call and the simulator's allocate agree:
//! * a machine can be taken when it is Ready and not locked;
//! * `cpu_count` and `mem` (MiB) are minimums;
//! * the disk constraint is MAAS's `storage=root:<GB>`: the machine's first physical disk (lowest
//!   id) must hold at least that many decimal gigabytes (10^9 bytes);
//! * `tags` are all-of; `pool` is one resource pool; zones are any-of (one allocate names one zone).

use crate::maas::{Machine, NodeStatus};
use serde::{Deserialize, Serialize};

const GB: u64 = 1_000_000_000;

/// What a pool asks of a machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MachineConstraints {
    pub min_cpu: u32,
    /// MiB, as MAAS's `mem`.
    pub min_memory_mib: u64,
    /// GB of the boot disk, as MAAS's `storage=root:N`; 0 means no disk constraint.
    pub min_disk_gb: u64,
    /// All of these MAAS tags.
    pub tags: Vec<String>,
    /// The resource pool; `None` means any.
    pub pool: Option<String>,
    /// Any of these zones; empty means any.
    pub zones: Vec<String>,
}

/// One reason a machine does not fit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mismatch {
    NotReady(NodeStatus),
    Locked,
    TooFewCores { has: u32 },
    TooLittleMemory { has_mib: u64 },
    DiskTooSmall { has_gb: u64 },
    NoDisk,
    MissingTags(Vec<String>),
    OtherPool(String),
    OtherZone(String),
}

impl Mismatch {
    /// A short phrase for counting reasons ("have fewer cores").
    pub fn category(&self, c: &MachineConstraints) -> String {
        match self {
            Mismatch::NotReady(_) => "are not Ready".into(),
            Mismatch::Locked => "are locked".into(),
            Mismatch::TooFewCores { .. } => format!("have fewer than {} cores", c.min_cpu),
            Mismatch::TooLittleMemory { .. } => {
                format!("have less than {} MiB memory", c.min_memory_mib)
            }
            Mismatch::DiskTooSmall { .. } | Mismatch::NoDisk => {
                format!("have a boot disk under {} GB", c.min_disk_gb)
            }
            Mismatch::MissingTags(_) => format!("lack tag(s) {}", capped_list(&c.tags)),
            Mismatch::OtherPool(_) => "are in another resource pool".into(),
            Mismatch::OtherZone(_) => "are in other zones".into(),
        }
    }
}

/// Whether MAAS would hand this machine out at all.
pub fn is_available(m: &Machine) -> bool {
    m.status == NodeStatus::Ready && !m.locked
}

/// The boot disk's size in bytes: MAAS's first physical disk, the one with the lowest id.
pub fn boot_disk_bytes(m: &Machine) -> Option<u64> {
    m.physicalblockdevice_set
        .iter()
        .min_by_key(|d| d.id)
        .map(|d| d.size)
}

impl MachineConstraints {
    /// Every reason `m` does not fit, availability included; empty when it fits.
    pub fn mismatches(&self, m: &Machine) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if m.status != NodeStatus::Ready {
            out.push(Mismatch::NotReady(m.status));
        }
        if m.locked {
            out.push(Mismatch::Locked);
        }
        out.extend(self.hardware_and_placement_mismatches(m));
        out
    }

    /// The reasons `m` does not fit, ignoring its status (for machines already deployed).
    pub fn hardware_and_placement_mismatches(&self, m: &Machine) -> Vec<Mismatch> {
        let mut out = Vec::new();
        if m.cpu_count < self.min_cpu {
            out.push(Mismatch::TooFewCores { has: m.cpu_count });
        }
        if m.memory < self.min_memory_mib {
            out.push(Mismatch::TooLittleMemory { has_mib: m.memory });
        }
        if self.min_disk_gb > 0 {
            match boot_disk_bytes(m) {
                None => out.push(Mismatch::NoDisk),
                Some(bytes) if bytes < self.min_disk_gb.saturating_mul(GB) => {
                    out.push(Mismatch::DiskTooSmall { has_gb: bytes / GB })
                }
                Some(_) => {}
            }
        }
        let missing: Vec<String> = self
            .tags
            .iter()
            .filter(|t| !m.tag_names.contains(t))
            .cloned()
            .collect();
        if !missing.is_empty() {
            out.push(Mismatch::MissingTags(missing));
        }
        if let Some(pool) = &self.pool {
            if m.pool_name() != pool {
                out.push(Mismatch::OtherPool(m.pool_name().to_string()));
            }
        }
        if !self.zones.is_empty() && !self.zones.contains(&m.zone.name) {
            out.push(Mismatch::OtherZone(m.zone.name.clone()));
        }
        out
    }

    /// Whether MAAS would give `m` to an allocate with these constraints.
    pub fn matches(&self, m: &Machine) -> bool {
        is_available(m) && self.hardware_and_placement_mismatches(m).is_empty()
    }

    /// The form parameters of `POST machines/?op=allocate` for one node in `zone` (which must be
    /// one of `zones` when they are set: one allocate names one zone, so spreading over several
    /// is the caller's choice). With no `zone` and exactly one zone configured, that one is used.
    /// Every tag is sent as its own `tags` parameter.
    pub fn allocate_params(&self, zone: Option<&str>) -> Vec<(String, String)> {
        let mut params = vec![
            ("cpu_count".to_string(), self.min_cpu.to_string()),
            ("mem".to_string(), self.min_memory_mib.to_string()),
        ];
        if self.min_disk_gb > 0 {
            params.push(("storage".to_string(), format!("root:{}", self.min_disk_gb)));
        }
        for tag in &self.tags {
            params.push(("tags".to_string(), tag.clone()));
        }
        if let Some(pool) = &self.pool {
            params.push(("pool".to_string(), pool.clone()));
        }
        let zone = zone.or(match self.zones.as_slice() {
            [only] => Some(only.as_str()),
            _ => None,
        });
        if let Some(zone) = zone {
            params.push(("zone".to_string(), zone.to_string()));
        }
        params
    }

    /// Reads the constraint parameters of an allocate request (as the simulator receives them):
    /// `cpu_count`, `mem`, `storage` (the root disk entry), `tags` (repeated or comma-separated),
    /// `pool`, `zone`. Other parameters are not constraints this type models and are ignored
    /// here; the caller decides whether to refuse them.
    pub fn from_allocate_params(params: &[(String, String)]) -> Result<Self, String> {
        let mut c = MachineConstraints::default();
        for (key, value) in params {
            match key.as_str() {
                "cpu_count" => {
                    c.min_cpu = u32::try_from(parse_number(key, value)?).unwrap_or(u32::MAX)
                }
                "mem" => c.min_memory_mib = parse_number(key, value)?,
                "storage" => c.min_disk_gb = parse_root_storage(value)?,
                "tags" => c.tags.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                ),
                "pool" => c.pool = Some(value.clone()),
                "zone" => c.zones = vec![value.clone()],
                _ => {}
            }
        }
        Ok(c)
    }

    /// The constraints in words: ">= 8 cores, >= 16384 MiB memory, a boot disk >= 60 GB, tags
    /// gpu, nvme, in resource pool default, in zones az-1, az-2".
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!(">= {} cores", self.min_cpu),
            format!(">= {} MiB memory", self.min_memory_mib),
        ];
        if self.min_disk_gb > 0 {
            parts.push(format!("a boot disk >= {} GB", self.min_disk_gb));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tag(s) {}", capped_list(&self.tags)));
        }
        if let Some(pool) = &self.pool {
            parts.push(format!("in resource pool {pool}"));
        }
        match self.zones.len() {
            0 => {}
            1 => parts.push(format!("in zone {}", self.zones[0])),
            _ => parts.push(format!("in zones {}", capped_list(&self.zones))),
        }
        parts.join(", ")
    }
}

/// Names joined with ", ", at most [`LISTED_NAMES`] of them and the rest counted: a spec may
/// name thousands of tags, and these words end up in one line of a reason.
fn capped_list(names: &[String]) -> String {
    const LISTED_NAMES: usize = 10;
    if names.len() <= LISTED_NAMES {
        return names.join(", ");
    }
    format!(
        "{} ... and {} more",
        names[..LISTED_NAMES].join(", "),
        names.len() - LISTED_NAMES
    )
}

/// MAAS takes whole numbers and also floats ("4.0"); both round down here as in MAAS.
fn parse_number(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Ok(n);
    }
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(f as u64),
        _ => Err(format!("{key}: `{value}` is not a number")),
    }
}

/// The size of the first entry of a storage constraint (`root:60`, `root:60(ssd),data:500`).
fn parse_root_storage(value: &str) -> Result<u64, String> {
    let first = value.split(',').next().unwrap_or_default();
    let size = match first.split_once(':') {
        Some((_, size)) => size,
        None => first,
    };
    let size = size.split('(').next().unwrap_or_default();
    let gb = size
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && *f >= 0.0)
        .ok_or_else(|| format!("storage: `{value}` is not a constraint like `root:60`"))?;
    Ok(gb.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_round_trip() {
        let c = MachineConstraints {
            min_cpu: 8,
            min_memory_mib: 16384,
            min_disk_gb: 100,
            tags: vec!["gpu".into(), "nvme".into()],
            pool: Some("prod".into()),
            zones: vec!["az-1".into()],
        };
        let params = c.allocate_params(None);
        assert_eq!(params.iter().filter(|(k, _)| k == "tags").count(), 2);
        assert!(params.contains(&("storage".into(), "root:100".into())));
        assert_eq!(
            MachineConstraints::from_allocate_params(&params).unwrap(),
            c
        );
        let legacy = vec![
            ("tags".to_string(), "a,b".to_string()),
            ("cpu_count".into(), "4.0".into()),
        ];
        let parsed = MachineConstraints::from_allocate_params(&legacy).unwrap();
        assert_eq!(parsed.tags, vec!["a", "b"]);
        assert_eq!(parsed.min_cpu, 4);
        assert!(
            MachineConstraints::from_allocate_params(&[("mem".into(), "lots".into())]).is_err()
        );
        assert_eq!(parse_root_storage("root:60(ssd),data:500").unwrap(), 60);
    }

    #[test]
    fn thousands_of_tags_are_described_in_one_short_phrase() {
        let c = MachineConstraints {
            tags: (0..20_000).map(|i| format!("t{i}")).collect(),
            ..Default::default()
        };
        let words = c.describe();
        assert!(words.ends_with("t9 ... and 19990 more"), "{words}");
        assert!(words.len() < 200, "{words}");
    }
}
