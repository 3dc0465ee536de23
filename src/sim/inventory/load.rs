//! Reading `GET machines/` JSON from a real MAAS into the simulator's model, and deriving the
//! region's catalogue (zones, pools, tags, domains, networks, images) from what the machines
//! reference. Every field is checked with its type; a bad one is reported with the machine's
//! index, its system_id and what the field should hold.

use super::InventoryError;
use crate::maas::{BootResource, Domain, NodeStatus, PowerState, ResourcePool, Tag, Zone};
use crate::sim::model::{
    SimCatalog, SimDisk, SimFabric, SimInventory, SimMachine, SimNic, SimSpace, SimSubnet, SimVlan,
};
use crate::sim::render::DERIVED_MACHINE_FIELDS;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Interface keys the model holds (or recomputes); the rest of an interface is kept in `extra`.
const MODELLED_NIC_FIELDS: &[&str] = &["id", "name", "mac_address", "links", "vlan", "system_id"];
/// Block-device keys the model holds (or recomputes); the rest is kept in `extra`.
const MODELLED_DISK_FIELDS: &[&str] =
    &["id", "name", "size", "model", "serial", "tags", "system_id"];

pub fn machines(value: &Value) -> Result<SimInventory, InventoryError> {
    let list = match value {
        Value::Array(list) => list,
        other => {
            return Err(InventoryError::Invalid {
                what: "file".into(),
                problem: format!(
                    "expected a JSON array of machine objects, got {}: give the output of `maas $PROFILE machines read` (GET /MAAS/api/2.0/machines/) as it is",
                    describe(other)
                ),
            })
        }
    };
    if list.is_empty() {
        return Err(InventoryError::Invalid {
            what: "file".into(),
            problem: "holds no machines (an empty array): give at least one machine, or generate a fleet with --machines N instead of --inventory".into(),
        });
    }
    let mut catalog = CatalogBuilder::default();
    let mut machines = Vec::with_capacity(list.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, item) in list.iter().enumerate() {
        let m = machine(index, item, &mut catalog)?;
        if let Some(first) = seen.insert(m.system_id.clone(), index) {
            return Err(InventoryError::Invalid {
                what: format!("machine #{index} ({})", m.system_id),
                problem: format!(
                    "`system_id` {:?} is already used by machine #{first}: system_ids are unique in a region; remove the duplicate or give it another id",
                    m.system_id
                ),
            });
        }
        machines.push(m);
    }
    Ok(SimInventory {
        catalog: catalog.finish(&machines),
        machines,
    })
}

/// A reference by name, with the object it came in when it was one.
type Named<'v> = (String, Option<&'v Map<String, Value>>);

/// The machine being read: for error messages.
struct Ctx {
    index: usize,
    system_id: Option<String>,
}

impl Ctx {
    fn err(&self, problem: String) -> InventoryError {
        let what = match &self.system_id {
            Some(id) => format!("machine #{} ({id})", self.index),
            None => format!("machine #{}", self.index),
        };
        InventoryError::Invalid { what, problem }
    }

    /// A required, non-empty string.
    fn string(
        &self,
        o: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<String, InventoryError> {
        match o.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(self.err(format!(
                "`{path}` is empty: it must name the machine's {key}"
            ))),
            None | Some(Value::Null) => Err(self.err(format!(
                "`{path}` is missing: every machine object from MAAS has it"
            ))),
            Some(other) => {
                Err(self.err(format!("`{path}` must be a string, got {}", short(other))))
            }
        }
    }

    /// A string that may be null or absent.
    fn opt_string(
        &self,
        o: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<String>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(format!(
                "`{path}` must be a string or null, got {}",
                short(other)
            ))),
        }
    }

    /// A non-negative whole number; `unit` says what it counts, for the error.
    fn count(
        &self,
        o: &Map<String, Value>,
        key: &str,
        path: &str,
        unit: &str,
    ) -> Result<Option<u64>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                if let Some(v) = n.as_u64() {
                    return Ok(Some(v));
                }
                // MAAS sends integers; a float with no fraction (from a re-encoded dump) is the
                // same number, anything else is a mistake.
                match n.as_f64() {
                    Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(Some(f as u64)),
                    _ => Err(self.err(format!(
                        "`{path}` must be a whole number of {unit} (0 or more), got {n}"
                    ))),
                }
            }
            Some(other) => Err(self.err(format!(
                "`{path}` must be a number of {unit}, got {}",
                short(other)
            ))),
        }
    }

    fn id(
        &self,
        o: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<i64>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
            Some(other) => Err(self.err(format!(
                "`{path}` must be an integer id, got {}",
                short(other)
            ))),
        }
    }

    fn boolean(
        &self,
        o: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(format!(
                "`{path}` must be true or false, got {}",
                short(other)
            ))),
        }
    }

    fn strings(
        &self,
        o: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Vec<String>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(format!(
                        "`{path}[{i}]` must be a string, got {}",
                        short(other)
                    ))),
                })
                .collect(),
            Some(other) => Err(self.err(format!(
                "`{path}` must be a list of strings, got {}",
                short(other)
            ))),
        }
    }

    fn string_map(
        &self,
        o: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<BTreeMap<String, String>>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => {
                let mut out = BTreeMap::new();
                for (k, v) in map {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        // MAAS never stores nulls here; dropping one loses nothing.
                        Value::Null => {}
                        other => {
                            return Err(self.err(format!(
                                "`{key}.{k}` must be a string (MAAS keeps {key} as text), got {}",
                                short(other)
                            )))
                        }
                    }
                }
                Ok(Some(out))
            }
            Some(other) => Err(self.err(format!(
                "`{key}` must be an object of strings, got {}",
                short(other)
            ))),
        }
    }

    fn objects<'v>(
        &self,
        o: &'v Map<String, Value>,
        key: &str,
    ) -> Result<Vec<&'v Map<String, Value>>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_object().ok_or_else(|| {
                        self.err(format!("`{key}[{i}]` must be an object, got {}", short(v)))
                    })
                })
                .collect(),
            Some(other) => Err(self.err(format!(
                "`{key}` must be a list of objects, got {}",
                short(other)
            ))),
        }
    }

    /// A `{name, ...}` reference (zone, pool, domain); a bare name is accepted too.
    fn named<'v>(
        &self,
        o: &'v Map<String, Value>,
        key: &str,
    ) -> Result<Option<Named<'v>>, InventoryError> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some((s.clone(), None))),
            Some(Value::Object(obj)) => {
                let name = self.string(obj, "name", &format!("{key}.name"))?;
                Ok(Some((name, Some(obj))))
            }
            Some(other) => Err(self.err(format!(
                "`{key}` must be an object with a `name` (or a name), got {}",
                short(other)
            ))),
        }
    }
}

fn machine(
    index: usize,
    item: &Value,
    catalog: &mut CatalogBuilder,
) -> Result<SimMachine, InventoryError> {
    let mut ctx = Ctx {
        index,
        system_id: None,
    };
    let Some(o) = item.as_object() else {
        return Err(ctx.err(format!(
            "expected a machine object, got {}: the file must be a list of machine objects",
            describe(item)
        )));
    };
    ctx.system_id = o
        .get("system_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let system_id = ctx.string(o, "system_id", "system_id")?;
    let hostname = ctx.string(o, "hostname", "hostname")?;

    let status = match o.get("status") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(NodeStatus::from_code)
            .ok_or_else(|| ctx.err(format!("`status` must be a MAAS node status code (0-22, e.g. 4 for Ready), got {n}")))?,
        None | Some(Value::Null) => match o.get("status_name").and_then(Value::as_str) {
            Some(name) => NodeStatus::from_name(name).ok_or_else(|| {
                ctx.err(format!("`status` is missing and `status_name` {name:?} is not a MAAS status: give `status` as a code (4 for Ready)"))
            })?,
            None => return Err(ctx.err("`status` is missing: give the MAAS node status code (4 for Ready, 6 for Deployed)".into())),
        },
        Some(other) => {
            return Err(ctx.err(format!(
                "`status` must be a MAAS node status code (0-22, e.g. 4 for Ready), got {}",
                short(other)
            )))
        }
    };

    let cpu_count = ctx
        .count(o, "cpu_count", "cpu_count", "CPU cores")?
        .unwrap_or(0);
    let cpu_count = u32::try_from(cpu_count).map_err(|_| {
        ctx.err(format!(
            "`cpu_count` {cpu_count} is not a plausible number of cores"
        ))
    })?;
    let cpu_speed = ctx.count(o, "cpu_speed", "cpu_speed", "MHz")?.unwrap_or(0);
    let cpu_speed = u32::try_from(cpu_speed).map_err(|_| {
        ctx.err(format!(
            "`cpu_speed` {cpu_speed} is not a plausible speed in MHz"
        ))
    })?;
    let memory_mib = ctx.count(o, "memory", "memory", "MiB")?.unwrap_or(0);

    let power_state = match o.get("power_state") {
        None | Some(Value::Null) => PowerState::Unknown,
        Some(Value::String(s)) => {
            serde_json::from_value(Value::String(s.clone())).unwrap_or_default()
        }
        Some(other) => {
            return Err(ctx.err(format!(
                "`power_state` must be one of \"on\", \"off\", \"unknown\", \"error\", got {}",
                short(other)
            )))
        }
    };

    let zone = match ctx.named(o, "zone")? {
        Some((name, obj)) => {
            catalog.zone(&name, obj);
            name
        }
        None => "default".to_string(),
    };
    // MAAS before 2.5 has no pools: such machines are in the default pool.
    let pool = match ctx.named(o, "pool")? {
        Some((name, obj)) => {
            catalog.pool(&name, obj);
            name
        }
        None => "default".to_string(),
    };
    let domain = match ctx.named(o, "domain")? {
        Some((name, obj)) => {
            catalog.domain(&name, obj);
            name
        }
        None => {
            let from_fqdn = o
                .get("fqdn")
                .and_then(Value::as_str)
                .and_then(|f| f.split_once('.'))
                .map(|(_, d)| d.to_string());
            let name = from_fqdn.unwrap_or_else(|| "maas".into());
            catalog.domain(&name, None);
            name
        }
    };
    let tags = ctx.strings(o, "tag_names", "tag_names")?;
    for t in &tags {
        catalog.tag(t);
    }

    let owner_data = match ctx.string_map(o, "owner_data")? {
        Some(map) => map,
        None => ctx
            .string_map(o, "workload_annotations")?
            .unwrap_or_default(),
    };
    let hardware_info = ctx.string_map(o, "hardware_info")?.unwrap_or_default();
    let osystem = ctx.opt_string(o, "osystem", "osystem")?.unwrap_or_default();
    let distro_series = ctx
        .opt_string(o, "distro_series", "distro_series")?
        .unwrap_or_default();
    if !distro_series.is_empty() {
        catalog.image(&osystem, &distro_series);
    }

    let mut disks = Vec::new();
    for (i, d) in ctx
        .objects(o, "physicalblockdevice_set")?
        .into_iter()
        .enumerate()
    {
        disks.push(disk(&ctx, i, d)?);
    }
    let mut nics = Vec::new();
    for (i, n) in ctx.objects(o, "interface_set")?.into_iter().enumerate() {
        nics.push(nic(&ctx, i, n, catalog)?);
    }

    let mut passthrough = Map::new();
    for (key, value) in o {
        if !DERIVED_MACHINE_FIELDS.contains(&key.as_str()) {
            passthrough.insert(key.clone(), value.clone());
        }
    }

    Ok(SimMachine {
        system_id,
        hostname,
        domain,
        status,
        status_message: ctx.opt_string(o, "status_message", "status_message")?,
        cpu_count,
        cpu_speed,
        memory_mib,
        architecture: ctx
            .opt_string(o, "architecture", "architecture")?
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "amd64/generic".into()),
        zone,
        pool,
        tags,
        power_type: ctx
            .opt_string(o, "power_type", "power_type")?
            .unwrap_or_default(),
        power_state,
        disks,
        nics,
        owner: ctx.opt_string(o, "owner", "owner")?,
        owner_data,
        agent_name: ctx
            .opt_string(o, "agent_name", "agent_name")?
            .unwrap_or_default(),
        osystem,
        distro_series,
        hwe_kernel: ctx.opt_string(o, "hwe_kernel", "hwe_kernel")?,
        min_hwe_kernel: ctx
            .opt_string(o, "min_hwe_kernel", "min_hwe_kernel")?
            .unwrap_or_default(),
        user_data: None,
        locked: ctx.boolean(o, "locked", "locked")?.unwrap_or(false),
        description: ctx
            .opt_string(o, "description", "description")?
            .unwrap_or_default(),
        error_description: ctx
            .opt_string(o, "error_description", "error_description")?
            .unwrap_or_default(),
        hardware_info,
        passthrough,
    })
}

fn disk(ctx: &Ctx, i: usize, d: &Map<String, Value>) -> Result<SimDisk, InventoryError> {
    let p = |k: &str| format!("physicalblockdevice_set[{i}].{k}");
    let size_bytes = ctx.count(d, "size", &p("size"), "bytes")?.ok_or_else(|| {
        ctx.err(format!(
            "`{}` is missing: give the disk's size in bytes",
            p("size")
        ))
    })?;
    Ok(SimDisk {
        id: ctx.id(d, "id", &p("id"))?.unwrap_or(i as i64 + 1),
        name: ctx.string(d, "name", &p("name"))?,
        size_bytes,
        model: ctx.opt_string(d, "model", &p("model"))?.unwrap_or_default(),
        serial: ctx
            .opt_string(d, "serial", &p("serial"))?
            .unwrap_or_default(),
        tags: ctx.strings(d, "tags", &p("tags"))?,
        extra: rest(d, MODELLED_DISK_FIELDS),
    })
}

fn nic(
    ctx: &Ctx,
    i: usize,
    n: &Map<String, Value>,
    catalog: &mut CatalogBuilder,
) -> Result<SimNic, InventoryError> {
    let p = |k: &str| format!("interface_set[{i}].{k}");
    let vlan_id = match n.get("vlan") {
        None | Some(Value::Null) => None,
        Some(Value::Object(v)) => Some(catalog.vlan(ctx, v, &p("vlan"))?),
        Some(other) => {
            return Err(ctx.err(format!(
                "`{}` must be a VLAN object or null, got {}",
                p("vlan"),
                short(other)
            )))
        }
    };
    let mut modelled: Option<(i64, i64, String, Option<String>)> = None;
    let mut more_links = Vec::new();
    let links = match n.get("links") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => {
            return Err(ctx.err(format!(
                "`{}` must be a list of links, got {}",
                p("links"),
                short(other)
            )))
        }
    };
    for (j, link) in links.iter().enumerate() {
        let lp = |k: &str| format!("interface_set[{i}].links[{j}].{k}");
        let Some(l) = link.as_object() else {
            return Err(ctx.err(format!(
                "`interface_set[{i}].links[{j}]` must be an object, got {}",
                short(link)
            )));
        };
        let subnet = match l.get("subnet") {
            Some(Value::Object(s)) => Some(s),
            None | Some(Value::Null) => None,
            Some(other) => {
                return Err(ctx.err(format!(
                    "`{}` must be a subnet object, got {}",
                    lp("subnet"),
                    short(other)
                )))
            }
        };
        match (subnet, &modelled) {
            (Some(s), None) => {
                let subnet_id = catalog.subnet(ctx, s, &lp("subnet"))?;
                let link_id = ctx.id(l, "id", &lp("id"))?.unwrap_or(0);
                let mode = ctx
                    .opt_string(l, "mode", &lp("mode"))?
                    .unwrap_or_else(|| "auto".into());
                let ip = ctx
                    .opt_string(l, "ip_address", &lp("ip_address"))?
                    .filter(|s| !s.is_empty());
                modelled = Some((subnet_id, link_id, mode, ip));
            }
            (Some(s), Some(_)) => {
                catalog.subnet(ctx, s, &lp("subnet"))?;
                more_links.push(link.clone());
            }
            (None, _) => more_links.push(link.clone()),
        }
    }
    let (subnet_id, link_id, link_mode, ip_address) = match modelled {
        Some((s, l, m, ip)) => (Some(s), l, m, ip),
        None => (None, 0, String::new(), None),
    };
    Ok(SimNic {
        id: ctx.id(n, "id", &p("id"))?.unwrap_or(i as i64 + 1),
        name: ctx.string(n, "name", &p("name"))?,
        mac_address: ctx
            .opt_string(n, "mac_address", &p("mac_address"))?
            .unwrap_or_default(),
        subnet_id,
        ip_address,
        link_id,
        link_mode,
        vlan_id: vlan_id.or_else(|| subnet_id.and_then(|id| catalog.subnet_vlan(id))),
        more_links,
        extra: rest(n, MODELLED_NIC_FIELDS),
    })
}

fn rest(o: &Map<String, Value>, modelled: &[&str]) -> Map<String, Value> {
    o.iter()
        .filter(|(k, _)| !modelled.contains(&k.as_str()) && k.as_str() != "resource_uri")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Collects the catalogue in first-seen order while machines are read.
#[derive(Default)]
struct CatalogBuilder {
    zones: Vec<Zone>,
    pools: Vec<ResourcePool>,
    domains: Vec<Domain>,
    tags: Vec<Tag>,
    subnets: Vec<SimSubnet>,
    vlans: Vec<SimVlan>,
    /// (osystem, series) deployed somewhere in the file.
    images: Vec<(String, String)>,
}

impl CatalogBuilder {
    fn zone(&mut self, name: &str, obj: Option<&Map<String, Value>>) {
        if self.zones.iter().any(|z| z.name == name) {
            return;
        }
        self.zones.push(Zone {
            id: obj.and_then(|o| o.get("id")).and_then(Value::as_i64),
            name: name.into(),
            description: text(obj, "description"),
            resource_uri: format!("/MAAS/api/2.0/zones/{name}/"),
        });
    }

    fn pool(&mut self, name: &str, obj: Option<&Map<String, Value>>) {
        if self.pools.iter().any(|p| p.name == name) {
            return;
        }
        self.pools.push(ResourcePool {
            id: obj.and_then(|o| o.get("id")).and_then(Value::as_i64),
            name: name.into(),
            description: text(obj, "description"),
            resource_uri: String::new(),
        });
    }

    fn domain(&mut self, name: &str, obj: Option<&Map<String, Value>>) {
        if self.domains.iter().any(|d| d.name == name) {
            return;
        }
        let get = |k: &str| obj.and_then(|o| o.get(k));
        self.domains.push(Domain {
            id: get("id").and_then(Value::as_i64).unwrap_or(-1),
            name: name.into(),
            ttl: get("ttl")
                .and_then(Value::as_u64)
                .and_then(|t| u32::try_from(t).ok()),
            authoritative: get("authoritative")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            is_default: get("is_default").and_then(Value::as_bool).unwrap_or(false),
            resource_record_count: get("resource_record_count")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            resource_uri: String::new(),
        });
    }

    fn tag(&mut self, name: &str) {
        if !self.tags.iter().any(|t| t.name == name) {
            self.tags.push(Tag {
                name: name.into(),
                definition: String::new(),
                comment: String::new(),
                kernel_opts: String::new(),
                resource_uri: format!("/MAAS/api/2.0/tags/{name}/"),
            });
        }
    }

    fn image(&mut self, osystem: &str, series: &str) {
        let os = if osystem.is_empty() {
            "ubuntu"
        } else {
            osystem
        };
        let key = (os.to_string(), series.to_string());
        if !self.images.contains(&key) {
            self.images.push(key);
        }
    }

    /// Registers a VLAN object and returns its id. The same id seen twice must describe the
    /// same VLAN: two different ones mean the file mixes regions.
    fn vlan(
        &mut self,
        ctx: &Ctx,
        v: &Map<String, Value>,
        path: &str,
    ) -> Result<i64, InventoryError> {
        let id = ctx.id(v, "id", &format!("{path}.id"))?.ok_or_else(|| {
            ctx.err(format!(
                "`{path}.id` is missing: a VLAN object needs its id"
            ))
        })?;
        let vid = ctx
            .count(v, "vid", &format!("{path}.vid"), "VLAN tag")?
            .unwrap_or(0);
        let vid = u32::try_from(vid)
            .map_err(|_| ctx.err(format!("`{path}.vid` {vid} is not a VLAN tag (0-4094)")))?;
        let fabric = ctx
            .opt_string(v, "fabric", &format!("{path}.fabric"))?
            .unwrap_or_else(|| "fabric-0".into());
        let vlan = SimVlan {
            id,
            name: ctx
                .opt_string(v, "name", &format!("{path}.name"))?
                .unwrap_or_else(|| {
                    if vid == 0 {
                        "untagged".into()
                    } else {
                        vid.to_string()
                    }
                }),
            vid,
            mtu: ctx
                .count(v, "mtu", &format!("{path}.mtu"), "bytes")?
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(1500),
            fabric_id: ctx
                .id(v, "fabric_id", &format!("{path}.fabric_id"))?
                .unwrap_or(-1),
            fabric,
            dhcp_on: ctx
                .boolean(v, "dhcp_on", &format!("{path}.dhcp_on"))?
                .unwrap_or(false),
            primary_rack: ctx.opt_string(v, "primary_rack", &format!("{path}.primary_rack"))?,
            secondary_rack: ctx.opt_string(
                v,
                "secondary_rack",
                &format!("{path}.secondary_rack"),
            )?,
            space: ctx
                .opt_string(v, "space", &format!("{path}.space"))?
                .filter(|s| s != "undefined"),
        };
        match self.vlans.iter().find(|known| known.id == id) {
            Some(known) if known.vid != vlan.vid || known.fabric != vlan.fabric => Err(ctx.err(format!(
                "`{path}` says VLAN {id} is vid {} on {}, but an earlier machine has it as vid {} on {}: the file mixes regions; load one region's machines",
                vlan.vid, vlan.fabric, known.vid, known.fabric
            ))),
            Some(_) => Ok(id),
            None => {
                self.vlans.push(vlan);
                Ok(id)
            }
        }
    }

    fn subnet(
        &mut self,
        ctx: &Ctx,
        s: &Map<String, Value>,
        path: &str,
    ) -> Result<i64, InventoryError> {
        let id = ctx.id(s, "id", &format!("{path}.id"))?.ok_or_else(|| {
            ctx.err(format!(
                "`{path}.id` is missing: a subnet object needs its id"
            ))
        })?;
        let cidr = ctx.string(s, "cidr", &format!("{path}.cidr"))?;
        if cidr.parse::<ipnet::IpNet>().is_err() {
            return Err(ctx.err(format!(
                "`{path}.cidr` must be a network such as \"10.0.0.0/24\", got {cidr:?}"
            )));
        }
        if let Some(known) = self.subnets.iter().find(|k| k.id == id) {
            if known.cidr != cidr {
                return Err(ctx.err(format!(
                    "`{path}` says subnet {id} is {cidr}, but an earlier machine has it as {}: the file mixes regions; load one region's machines",
                    known.cidr
                )));
            }
            return Ok(id);
        }
        let vlan_id = match s.get("vlan") {
            Some(Value::Object(v)) => Some(self.vlan(ctx, v, &format!("{path}.vlan"))?),
            None | Some(Value::Null) => None,
            Some(other) => {
                return Err(ctx.err(format!(
                    "`{path}.vlan` must be a VLAN object, got {}",
                    short(other)
                )))
            }
        };
        let vlan = match vlan_id.and_then(|id| self.vlans.iter().find(|v| v.id == id)) {
            Some(v) => v.clone(),
            // A subnet always has a VLAN in MAAS; an export without one gets the default VLAN.
            None => self.default_vlan(),
        };
        let space = ctx
            .opt_string(s, "space", &format!("{path}.space"))?
            .unwrap_or_else(|| "undefined".into());
        let dns_servers = ctx.strings(s, "dns_servers", &format!("{path}.dns_servers"))?;
        let extra = rest(
            s,
            &[
                "id",
                "name",
                "cidr",
                "gateway_ip",
                "dns_servers",
                "vlan",
                "space",
                "managed",
            ],
        );
        self.subnets.push(SimSubnet {
            id,
            name: ctx
                .opt_string(s, "name", &format!("{path}.name"))?
                .unwrap_or_else(|| cidr.clone()),
            gateway_ip: ctx.opt_string(s, "gateway_ip", &format!("{path}.gateway_ip"))?,
            dns_servers,
            vlan_id: vlan.id,
            vid: vlan.vid,
            fabric: vlan.fabric.clone(),
            space,
            managed: ctx
                .boolean(s, "managed", &format!("{path}.managed"))?
                .unwrap_or(true),
            vlan,
            extra,
            cidr,
        });
        Ok(id)
    }

    /// The fabric-0 untagged VLAN every MAAS has, registered on first use.
    fn default_vlan(&mut self) -> SimVlan {
        if let Some(v) = self
            .vlans
            .iter()
            .find(|v| v.fabric == "fabric-0" && v.vid == 0)
        {
            return v.clone();
        }
        let id = self
            .vlans
            .iter()
            .map(|v| v.id + 1)
            .max()
            .unwrap_or(5001)
            .max(5001);
        let vlan = SimVlan {
            id,
            name: "untagged".into(),
            vid: 0,
            mtu: 1500,
            fabric: "fabric-0".into(),
            fabric_id: -1,
            dhcp_on: false,
            primary_rack: None,
            secondary_rack: None,
            space: None,
        };
        self.vlans.push(vlan.clone());
        vlan
    }

    fn subnet_vlan(&self, subnet_id: i64) -> Option<i64> {
        self.subnets
            .iter()
            .find(|s| s.id == subnet_id)
            .map(|s| s.vlan_id)
    }

    /// The catalogue: what the machines referenced, ids filled in where the file had none, plus
    /// what every region has (the default zone, pool and domain, the LTS images).
    fn finish(mut self, machines: &[SimMachine]) -> SimCatalog {
        // Zones: the default zone has id 1 on real installs.
        if !self.zones.iter().any(|z| z.name == "default") {
            self.zones.insert(
                0,
                Zone {
                    id: Some(1),
                    name: "default".into(),
                    description: String::new(),
                    resource_uri: "/MAAS/api/2.0/zones/default/".into(),
                },
            );
        }
        let taken: Vec<i64> = self.zones.iter().filter_map(|z| z.id).collect();
        let mut next = taken.iter().copied().max().unwrap_or(0).max(1) + 1;
        for z in &mut self.zones {
            if z.id.is_none() {
                z.id = Some(if z.name == "default" && !taken.contains(&1) {
                    1
                } else {
                    next_id(&mut next)
                });
            }
        }
        // Pools: the default pool is id 0.
        if !self.pools.iter().any(|p| p.name == "default") {
            self.pools.insert(
                0,
                ResourcePool {
                    id: Some(0),
                    name: "default".into(),
                    description: "Default pool".into(),
                    resource_uri: String::new(),
                },
            );
        }
        let taken: Vec<i64> = self.pools.iter().filter_map(|p| p.id).collect();
        let mut next = taken.iter().copied().max().unwrap_or(0) + 1;
        for p in &mut self.pools {
            if p.id.is_none() {
                p.id = Some(if p.name == "default" && !taken.contains(&0) {
                    0
                } else {
                    next_id(&mut next)
                });
            }
            p.resource_uri = format!("/MAAS/api/2.0/resourcepool/{}/", p.id.unwrap_or(0));
        }
        // Domains: exactly one default ("maas" unless the file says otherwise).
        if self.domains.is_empty() {
            self.domain("maas", None);
        }
        let taken: Vec<i64> = self
            .domains
            .iter()
            .map(|d| d.id)
            .filter(|&id| id >= 0)
            .collect();
        let mut next = taken.iter().copied().max().map_or(0, |m| m + 1);
        for d in &mut self.domains {
            if d.id < 0 {
                d.id = next_id(&mut next);
            }
            d.resource_uri = format!("/MAAS/api/2.0/domains/{}/", d.id);
        }
        if !self.domains.iter().any(|d| d.is_default) {
            let pick = self
                .domains
                .iter()
                .position(|d| d.name == "maas")
                .unwrap_or(0);
            self.domains[pick].is_default = true;
        }

        // Fabrics from VLANs (ids from the file when it has them), spaces from subnets/VLANs.
        let mut fabrics: Vec<SimFabric> = Vec::new();
        for v in &self.vlans {
            if !fabrics.iter().any(|f| f.name == v.fabric) && v.fabric_id >= 0 {
                fabrics.push(SimFabric {
                    id: v.fabric_id,
                    name: v.fabric.clone(),
                    class_type: None,
                });
            }
        }
        let mut next = fabrics.iter().map(|f| f.id + 1).max().unwrap_or(0);
        for v in &self.vlans {
            if !fabrics.iter().any(|f| f.name == v.fabric) {
                fabrics.push(SimFabric {
                    id: next_id(&mut next),
                    name: v.fabric.clone(),
                    class_type: None,
                });
            }
        }
        for v in &mut self.vlans {
            if let Some(f) = fabrics.iter().find(|f| f.name == v.fabric) {
                v.fabric_id = f.id;
            }
        }
        for s in &mut self.subnets {
            if let Some(v) = self.vlans.iter().find(|v| v.id == s.vlan_id) {
                s.vlan = v.clone();
            }
        }
        let mut spaces: Vec<SimSpace> = Vec::new();
        let names = self
            .subnets
            .iter()
            .map(|s| s.space.clone())
            .chain(self.vlans.iter().filter_map(|v| v.space.clone()));
        for name in names {
            if name != "undefined" && !spaces.iter().any(|s| s.name == name) {
                spaces.push(SimSpace {
                    id: spaces.len() as i64 + 1,
                    name,
                    description: String::new(),
                });
            }
        }

        // Images: the LTS releases a region syncs by default, then whatever machines run.
        let mut images: Vec<(String, String)> = ["focal", "jammy", "noble"]
            .iter()
            .map(|s| ("ubuntu".to_string(), s.to_string()))
            .collect();
        for image in self.images {
            if !images.contains(&image) {
                images.push(image);
            }
        }
        let arch = machines
            .iter()
            .map(|m| m.architecture.split('/').next().unwrap_or("amd64"))
            .next()
            .unwrap_or("amd64")
            .to_string();
        let boot_resources = images
            .into_iter()
            .enumerate()
            .map(|(i, (os, series))| boot_resource(i as i64 + 1, &os, &series, &arch))
            .collect();

        SimCatalog {
            zones: self.zones,
            pools: self.pools,
            tags: self.tags,
            domains: self.domains,
            subnets: self.subnets,
            boot_resources,
            vlans: self.vlans,
            fabrics,
            spaces,
        }
    }
}

fn next_id(next: &mut i64) -> i64 {
    let id = *next;
    *next += 1;
    id
}

/// The boot resource a deployed series implies: Ubuntu releases are synced from the Canonical
/// stream, `custom/<name>` images are uploaded, other OSes are synced from their own streams.
fn boot_resource(id: i64, os: &str, series: &str, arch: &str) -> BootResource {
    let (kind, name, subarch) = match os {
        "custom" => (
            "Uploaded",
            format!("custom/{series}"),
            "generic".to_string(),
        ),
        "ubuntu" => ("Synced", format!("ubuntu/{series}"), ga_kernel(series)),
        other => ("Synced", format!("{other}/{series}"), "generic".to_string()),
    };
    let name = if series.contains('/') {
        series.to_string()
    } else {
        name
    };
    let mut extra = Map::new();
    extra.insert("title".into(), Value::String(name.clone()));
    extra.insert("subarches".into(), Value::String(subarch.clone()));
    extra.insert("last_deployed".into(), Value::Null);
    BootResource {
        id,
        kind: kind.into(),
        name,
        architecture: format!("{arch}/{subarch}"),
        resource_uri: format!("/MAAS/api/2.0/boot-resources/{id}/"),
        extra,
    }
}

/// The GA kernel flavour of an Ubuntu release, as MAAS names its subarchitectures.
fn ga_kernel(series: &str) -> String {
    let version = match series {
        "trusty" => "14.04",
        "xenial" => "16.04",
        "bionic" => "18.04",
        "focal" => "20.04",
        "jammy" => "22.04",
        "noble" => "24.04",
        _ => return "generic".into(),
    };
    format!("ga-{version}")
}

fn text(obj: Option<&Map<String, Value>>, key: &str) -> String {
    obj.and_then(|o| o.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// What a JSON value is, in words, for "expected X, got Y" messages.
fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as it appears in the file, cut short: strings quoted, containers named.
fn short(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 40 => {
            format!(
                "{:?}",
                format!("{}...", s.chars().take(40).collect::<String>())
            )
        }
        Value::Array(_) | Value::Object(_) => describe(v).to_string(),
        other => other.to_string(),
    }
}
