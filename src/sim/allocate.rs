//! `machines/?op=allocate`: MAAS's AcquireNodeForm — every constraint, validation with MAAS's
//! JSON texts, cheapest machine first, and the 409 texts (never with `Retry-After`).

use super::model::{SimCatalog, SimMachine, SimSubnet};
use super::params::Params;
use super::reply::ApiError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Parameters allocate accepts as constraints.
const CONSTRAINTS: &[&str] = &[
    "name",
    "system_id",
    "arch",
    "cpu_count",
    "cpu_speed",
    "mem",
    "tags",
    "not_tags",
    "zone",
    "not_in_zone",
    "pool",
    "not_in_pool",
    "subnets",
    "not_subnets",
    "storage",
    "interfaces",
    "fabrics",
    "not_fabrics",
    "fabric_classes",
    "not_fabric_classes",
    "link_speed",
    "devices",
    "power_state",
    "deployment_target",
    "pod",
    "not_pod",
    "pod_type",
    "not_pod_type",
];

/// Parameters allocate accepts that do not select machines (MAAS's `IGNORED_FIELDS`).
const OPTIONS: &[&str] = &[
    "agent_name",
    "comment",
    "bridge_all",
    "bridge_type",
    "bridge_stp",
    "bridge_fd",
    "dry_run",
    "verbose",
    "op",
    "install_kvm",
];

/// One disk requirement of `storage=label:size(tag,…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSpec {
    pub label: String,
    pub size_gb: f64,
    pub tags: Vec<String>,
}

/// One `interfaces=` requirement: a label and its `key=value` conditions.
type InterfaceSpec = (String, Vec<(String, String)>);

/// Parsed, validated allocation constraints.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    name: Option<String>,
    system_id: Option<String>,
    arch: Vec<String>,
    cpu_count: Option<f64>,
    cpu_speed: Option<f64>,
    mem: Option<f64>,
    link_speed: Option<f64>,
    tags: Vec<String>,
    not_tags: Vec<String>,
    zone: Option<String>,
    not_in_zone: Vec<String>,
    pool: Option<String>,
    not_in_pool: Vec<String>,
    subnets: Vec<String>,
    not_subnets: Vec<String>,
    fabrics: Vec<String>,
    not_fabrics: Vec<String>,
    fabric_classes: Vec<String>,
    devices: Vec<String>,
    pods: Vec<String>,
    power_state: Option<String>,
    storage: Vec<StorageSpec>,
    interfaces: Vec<InterfaceSpec>,
    /// Any constraint given at all (else the 409 reads "No machine available.").
    any: bool,
    /// The resolved form for the 409 text: name → value, numbers as floats.
    resolved: BTreeMap<String, String>,
}

/// The result of matching: the machine and the `constraints_by_type` MAAS returns with it.
#[derive(Debug, Clone)]
pub struct Choice {
    pub index: usize,
    pub constraints_by_type: Value,
}

fn number(params: &Params, key: &str, errors: &mut Map<String, Value>) -> Option<f64> {
    let raw = params.get_nonempty(key)?;
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        _ => {
            errors.insert(key.into(), json!(["Enter a number."]));
            None
        }
    }
}

/// Python's float repr for the "resolved to" text (`4.0`, `1.5`).
fn py_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Python's repr of a str.
pub fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{}\"", s.replace('\\', "\\\\"))
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| py_repr(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Splits on commas outside parentheses (`root:10(ssd,nvme),data:50`).
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth -= 1;
                current.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Parses MAAS's storage constraint `label:size(tag,tag),…` (size in GB; label optional).
pub fn parse_storage(raw: &str) -> Result<Vec<StorageSpec>, String> {
    let mut specs = Vec::new();
    for (i, part) in split_top_level(raw).into_iter().enumerate() {
        let bad = || format!("Malformed storage constraint, \"{part}\".");
        let (label, rest) = match part.split_once(':') {
            Some((l, r)) => (l.trim().to_string(), r.trim()),
            None => (i.to_string(), part.as_str()),
        };
        let (size, tags) = match rest.split_once('(') {
            Some((s, t)) => {
                let t = t.strip_suffix(')').ok_or_else(bad)?;
                (
                    s.trim(),
                    t.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect(),
                )
            }
            None => (rest, Vec::new()),
        };
        let size_gb = if size.is_empty() {
            0.0
        } else {
            size.parse::<f64>()
                .ok()
                .filter(|v| *v >= 0.0)
                .ok_or_else(bad)?
        };
        if label.is_empty() {
            return Err(bad());
        }
        specs.push(StorageSpec {
            label,
            size_gb,
            tags,
        });
    }
    Ok(specs)
}

/// Parses `interfaces=label:key=value,key=value;label2:…`.
fn parse_interfaces(raw: &str) -> Result<Vec<InterfaceSpec>, String> {
    let mut out = Vec::new();
    for (i, part) in raw
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let (label, rest) = match part.split_once(':') {
            Some((l, r)) if !r.contains(':') || l.contains('=') => {
                if l.contains('=') {
                    (i.to_string(), part)
                } else {
                    (l.trim().to_string(), r)
                }
            }
            _ => (i.to_string(), part),
        };
        let mut pairs = Vec::new();
        for kv in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("Invalid interfaces constraint: \"{part}\"."))?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        out.push((label, pairs));
    }
    Ok(out)
}

impl Constraints {
    /// Validates the request like AcquireNodeForm: unknown parameters, numbers, zones, pools,
    /// tags and storage syntax, every problem reported at once as MAAS does.
    pub fn parse(
        params: &Params,
        catalog: &SimCatalog,
        machines: &[SimMachine],
    ) -> Result<Self, ApiError> {
        let unknown: Vec<&str> = params
            .keys()
            .into_iter()
            .filter(|k| !CONSTRAINTS.contains(k) && !OPTIONS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(ApiError::no_such_constraint(&unknown));
        }
        let mut errors = Map::new();
        let mut c = Constraints {
            name: params.get_nonempty("name").map(str::to_string),
            system_id: params.get_nonempty("system_id").map(str::to_string),
            arch: params.list("arch"),
            cpu_count: number(params, "cpu_count", &mut errors),
            cpu_speed: number(params, "cpu_speed", &mut errors),
            mem: number(params, "mem", &mut errors),
            link_speed: number(params, "link_speed", &mut errors),
            tags: params.list("tags"),
            not_tags: params.list("not_tags"),
            zone: params.get_nonempty("zone").map(str::to_string),
            not_in_zone: params.list("not_in_zone"),
            pool: params.get_nonempty("pool").map(str::to_string),
            not_in_pool: params.list("not_in_pool"),
            subnets: params.list("subnets"),
            not_subnets: params.list("not_subnets"),
            fabrics: params.list("fabrics"),
            not_fabrics: params.list("not_fabrics"),
            fabric_classes: params.list("fabric_classes"),
            devices: params.list("devices"),
            pods: params
                .list("pod")
                .into_iter()
                .chain(params.list("pod_type"))
                .collect(),
            power_state: params.get_nonempty("power_state").map(str::to_string),
            ..Constraints::default()
        };
        if let Some(raw) = params.get_nonempty("storage") {
            match parse_storage(raw) {
                Ok(specs) => c.storage = specs,
                Err(e) => {
                    errors.insert("storage".into(), json!([e]));
                }
            }
        }
        if let Some(raw) = params.get_nonempty("interfaces") {
            match parse_interfaces(raw) {
                Ok(v) => c.interfaces = v,
                Err(e) => {
                    errors.insert("interfaces".into(), json!([e]));
                }
            }
        }
        if let Some(zone) = &c.zone {
            if !catalog.zones.iter().any(|z| &z.name == zone) {
                errors.insert(
                    "zone".into(),
                    json!([format!("No such zone: {}.", py_repr(zone))]),
                );
            }
        }
        let missing_zones: Vec<String> = c
            .not_in_zone
            .iter()
            .filter(|z| !catalog.zones.iter().any(|k| &&k.name == z))
            .cloned()
            .collect();
        if !missing_zones.is_empty() {
            errors.insert(
                "not_in_zone".into(),
                json!([format!("No such zone(s): {}.", quoted_list(&missing_zones))]),
            );
        }
        if let Some(pool) = &c.pool {
            if !catalog.pools.iter().any(|p| &p.name == pool) {
                errors.insert(
                    "pool".into(),
                    json!([format!("No such pool: {}.", py_repr(pool))]),
                );
            }
        }
        let missing_pools: Vec<String> = c
            .not_in_pool
            .iter()
            .filter(|p| !catalog.pools.iter().any(|k| &&k.name == p))
            .cloned()
            .collect();
        if !missing_pools.is_empty() {
            errors.insert(
                "not_in_pool".into(),
                json!([format!("No such pool(s): {}.", quoted_list(&missing_pools))]),
            );
        }
        for field in ["tags", "not_tags"] {
            let wanted = if field == "tags" {
                &c.tags
            } else {
                &c.not_tags
            };
            let missing: Vec<String> = wanted
                .iter()
                .filter(|t| !tag_known(t, catalog, machines))
                .cloned()
                .collect();
            if !missing.is_empty() {
                errors.insert(
                    field.into(),
                    json!([format!("No such tag(s): {}.", quoted_list(&missing))]),
                );
            }
        }
        for arch in &c.arch {
            if !arch_known(arch, machines) {
                errors.insert("arch".into(), json!(["Architecture not recognised."]));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::Invalid(Value::Object(errors)));
        }
        c.any = params.keys().iter().any(|k| CONSTRAINTS.contains(k));
        for (key, values) in params.lists() {
            if !CONSTRAINTS.contains(&key) {
                continue;
            }
            let value = match key {
                "cpu_count" | "mem" | "cpu_speed" | "link_speed" => values
                    .first()
                    .and_then(|v| v.parse::<f64>().ok())
                    .map(py_float)
                    .unwrap_or_default(),
                _ => values.join(","),
            };
            c.resolved.insert(key.to_string(), value);
        }
        Ok(c)
    }

    /// The 409 text when nothing matches, as MAAS words it.
    pub fn no_match(&self, params: &Params) -> ApiError {
        if let Some(id) = &self.system_id {
            return ApiError::Conflict(format!("No machine with system ID {id} available."));
        }
        if !self.any {
            return ApiError::Conflict("No machine available.".into());
        }
        let given = params
            .lists()
            .into_iter()
            .filter(|(k, _)| *k != "op")
            .map(|(k, vs)| {
                format!(
                    "({}, [{}])",
                    py_repr(k),
                    vs.iter().map(|v| py_repr(v)).collect::<Vec<_>>().join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let resolved = self
            .resolved
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        ApiError::Conflict(format!(
            "No available machine matches constraints: [{given}] (resolved to \"{resolved}\")"
        ))
    }

    /// Whether `m` satisfies every constraint; on success the storage/interface mapping.
    pub fn matches(&self, m: &SimMachine, catalog: &SimCatalog) -> Option<Value> {
        if let Some(name) = &self.name {
            if &m.hostname != name && &m.fqdn() != name {
                return None;
            }
        }
        if self.system_id.as_ref().is_some_and(|id| id != &m.system_id) {
            return None;
        }
        if !self.arch.is_empty() && !self.arch.iter().any(|a| arch_matches(a, &m.architecture)) {
            return None;
        }
        if self.cpu_count.is_some_and(|c| (m.cpu_count as f64) < c) {
            return None;
        }
        if self.cpu_speed.is_some_and(|c| (m.cpu_speed as f64) < c) {
            return None;
        }
        if self.mem.is_some_and(|c| (m.memory_mib as f64) < c) {
            return None;
        }
        // The simulator's NICs are all 1 GbE.
        if self.link_speed.is_some_and(|c| c > 1000.0) {
            return None;
        }
        if !self.tags.iter().all(|t| m.tags.contains(t)) {
            return None;
        }
        if self.not_tags.iter().any(|t| m.tags.contains(t)) {
            return None;
        }
        if self.zone.as_ref().is_some_and(|z| z != &m.zone) || self.not_in_zone.contains(&m.zone) {
            return None;
        }
        if self.pool.as_ref().is_some_and(|p| p != &m.pool) || self.not_in_pool.contains(&m.pool) {
            return None;
        }
        if let Some(p) = &self.power_state {
            if p != m.power_state.as_str() {
                return None;
            }
        }
        // No pods, PCI/USB devices or fabric classes are modelled: such constraints match nothing.
        if !self.pods.is_empty() || !self.devices.is_empty() || !self.fabric_classes.is_empty() {
            return None;
        }
        let subnets = machine_subnets(m, catalog);
        if !self
            .subnets
            .iter()
            .all(|s| subnets.iter().any(|n| subnet_matches(s, n)))
        {
            return None;
        }
        if self
            .not_subnets
            .iter()
            .any(|s| subnets.iter().any(|n| subnet_matches(s, n)))
        {
            return None;
        }
        if !self
            .fabrics
            .iter()
            .all(|f| subnets.iter().any(|n| &n.fabric == f))
        {
            return None;
        }
        if self
            .not_fabrics
            .iter()
            .any(|f| subnets.iter().any(|n| &n.fabric == f))
        {
            return None;
        }
        let mut by_type = Map::new();
        if !self.storage.is_empty() {
            by_type.insert("storage".into(), self.match_storage(m)?);
        }
        if !self.interfaces.is_empty() {
            by_type.insert("interfaces".into(), self.match_interfaces(m, catalog)?);
        }
        Some(Value::Object(by_type))
    }

    /// The first spec must fit the boot disk (MAAS's rule), the others distinct disks; each
    /// takes the smallest disk that fits.
    fn match_storage(&self, m: &SimMachine) -> Option<Value> {
        let mut disks: Vec<&super::model::SimDisk> = m.disks.iter().collect();
        disks.sort_by_key(|d| d.id);
        let fits = |spec: &StorageSpec, d: &super::model::SimDisk| {
            d.size_bytes as f64 >= spec.size_gb * 1e9
                && spec.tags.iter().all(|t| d.tags.contains(t))
        };
        let mut used: Vec<i64> = Vec::new();
        let mut out = Map::new();
        for (i, spec) in self.storage.iter().enumerate() {
            let chosen = if i == 0 {
                disks.first().filter(|d| fits(spec, d)).copied()
            } else {
                disks
                    .iter()
                    .filter(|d| !used.contains(&d.id) && fits(spec, d))
                    .min_by_key(|d| d.size_bytes)
                    .copied()
            }?;
            used.push(chosen.id);
            out.insert(spec.label.clone(), json!([chosen.id]));
        }
        Some(Value::Object(out))
    }

    fn match_interfaces(&self, m: &SimMachine, catalog: &SimCatalog) -> Option<Value> {
        let mut used: Vec<i64> = Vec::new();
        let mut out = Map::new();
        for (label, pairs) in &self.interfaces {
            let nic = m.nics.iter().find(|n| {
                if used.contains(&n.id) {
                    return false;
                }
                let subnet = n
                    .subnet_id
                    .and_then(|id| catalog.subnets.iter().find(|s| s.id == id));
                pairs.iter().all(|(k, v)| match (k.as_str(), subnet) {
                    ("space", Some(s)) => &s.space == v,
                    ("fabric", Some(s)) => &s.fabric == v,
                    ("vid", Some(s)) => s.vid.to_string() == *v,
                    ("subnet", Some(s)) => subnet_matches(v, s),
                    ("name", _) => &n.name == v,
                    ("mode", _) => true,
                    _ => false,
                })
            })?;
            used.push(nic.id);
            out.insert(label.clone(), json!([nic.id]));
        }
        Some(Value::Object(out))
    }
}

fn tag_known(tag: &str, catalog: &SimCatalog, machines: &[SimMachine]) -> bool {
    catalog.tags.iter().any(|t| t.name == tag)
        || machines.iter().any(|m| m.tags.iter().any(|t| t == tag))
}

const KNOWN_ARCHES: &[&str] = &[
    "amd64", "arm64", "i386", "armhf", "ppc64el", "s390x", "riscv64",
];

fn arch_known(arch: &str, machines: &[SimMachine]) -> bool {
    let base = arch.split('/').next().unwrap_or(arch);
    KNOWN_ARCHES.contains(&base) || machines.iter().any(|m| arch_matches(arch, &m.architecture))
}

/// `amd64` matches `amd64/generic`; a full `arch/subarch` must match exactly.
fn arch_matches(wanted: &str, actual: &str) -> bool {
    if wanted.contains('/') {
        wanted == actual
    } else {
        actual.split('/').next() == Some(wanted)
    }
}

fn machine_subnets<'a>(m: &SimMachine, catalog: &'a SimCatalog) -> Vec<&'a SimSubnet> {
    m.nics
        .iter()
        .filter_map(|n| n.subnet_id)
        .filter_map(|id| catalog.subnets.iter().find(|s| s.id == id))
        .collect()
}

/// MAAS subnet specifiers: `<id>`, `name:`, `cidr:`, `space:`, `vid:`, `fabric:`, `ip:`, or a
/// bare CIDR / name.
pub fn subnet_matches(spec: &str, s: &SimSubnet) -> bool {
    if let Ok(id) = spec.parse::<i64>() {
        return s.id == id;
    }
    match spec.split_once(':') {
        Some(("name", v)) => s.name == v,
        Some(("cidr", v)) => s.cidr == v,
        Some(("space", v)) => s.space == v,
        Some(("vid", v)) => s.vid.to_string() == v,
        Some(("fabric", v)) => s.fabric == v,
        Some(("ip", v)) => ip_in_subnet(v, s),
        _ => s.cidr == spec || s.name == spec,
    }
}

/// Whether `ip` lies inside the subnet's CIDR.
pub fn ip_in_subnet(ip: &str, s: &SimSubnet) -> bool {
    match (
        ip.trim().parse::<std::net::IpAddr>(),
        s.cidr.parse::<ipnet::IpNet>(),
    ) {
        (Ok(addr), Ok(net)) => net.contains(&addr),
        _ => false,
    }
}

/// Picks the cheapest matching Ready, unlocked machine (cost = cpu_count + memory GiB).
pub fn choose(
    constraints: &Constraints,
    machines: &[SimMachine],
    catalog: &SimCatalog,
    candidate: impl Fn(&SimMachine) -> bool,
) -> Option<Choice> {
    machines
        .iter()
        .enumerate()
        .filter(|(_, m)| candidate(m))
        .filter_map(|(i, m)| {
            constraints.matches(m, catalog).map(|by_type| {
                let cost = m.cpu_count as f64 + m.memory_mib as f64 / 1024.0;
                (cost, i, by_type)
            })
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, index, constraints_by_type)| Choice {
            index,
            constraints_by_type,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_specs() {
        let s = parse_storage("root:100(ssd,nvme),data:500,20").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].label, "root");
        assert_eq!(s[0].tags, vec!["ssd", "nvme"]);
        assert_eq!(s[1].size_gb, 500.0);
        assert_eq!(s[2].label, "2");
        assert!(parse_storage("root:abc").is_err());
        assert!(parse_storage("root:10(ssd").is_err());
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_repr("a"), "'a'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_float(4.0), "4.0");
        assert_eq!(py_float(1.5), "1.5");
    }
}
