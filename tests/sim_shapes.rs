//! The simulator's JSON has the shapes real MAAS sends: the keys and JSON types of a recorded
//! MAAS response, everything gomaasapi's schema checks demand, the catalogue objects' fields,
//! and a describe document that covers exactly the simulated API surface. Also: generated
//! fleets are deterministic and realistic, real dumps load and round-trip, bad dumps give
//! errors that say what to fix.

use kubemaas::maas::{Machine, NodeStatus};
use kubemaas::sim::model::{SimInventory, SimMachine};
use kubemaas::sim::{describe, inventory, render};
use serde_json::{json, Value};
use std::collections::HashSet;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/maas/gomaasapi-machines-2.0.json"
);

/// Machine fields of MAAS 2.0 that 3.x no longer sends.
const REMOVED_IN_3X: &[&str] = &["macaddress_set"];
/// Machine fields 2.0 sent as "" that 3.x sends as null when unset (a real 3.x allocate
/// response has `"hwe_kernel": null` on an undeployed machine).
const NULLABLE_IN_3X: &[&str] = &["hwe_kernel"];

fn fixture() -> Value {
    let text = std::fs::read_to_string(FIXTURE).expect("the shared MAAS fixture is readable");
    serde_json::from_str(&text).expect("the shared MAAS fixture is JSON")
}

fn render_all(inv: &SimInventory) -> Vec<Value> {
    inv.machines
        .iter()
        .map(|m| render::machine(m, &inv.catalog))
        .collect()
}

fn first_with(inv: &SimInventory, status: NodeStatus) -> &SimMachine {
    inv.machines
        .iter()
        .find(|m| m.status == status)
        .unwrap_or_else(|| panic!("the generated fleet has a {status} machine"))
}

/// The JSON type of a value, with integers and floats apart (Go clients decode them apart).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `real` is in `ours` with the same JSON type, recursively (first elements of
/// non-empty arrays compared). A null in `real` says nothing about the type, so any is fine.
fn same_shape(real: &Value, ours: &Value, path: &str, problems: &mut Vec<String>) {
    match (real, ours) {
        (Value::Null, _) => {}
        (Value::Object(r), Value::Object(o)) => {
            for (key, rv) in r {
                if path.is_empty() && REMOVED_IN_3X.contains(&key.as_str()) {
                    continue;
                }
                match o.get(key) {
                    Some(Value::Null)
                        if path.is_empty() && NULLABLE_IN_3X.contains(&key.as_str()) => {}
                    Some(ov) => same_shape(rv, ov, &format!("{path}.{key}"), problems),
                    None => problems.push(format!("{path}.{key} missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(rf), Some(of)) = (r.first(), o.first()) {
                same_shape(rf, of, &format!("{path}[0]"), problems);
            }
        }
        _ => {
            if kind(real) != kind(ours) {
                problems.push(format!(
                    "{path}: MAAS sends {}, simulator sends {}",
                    kind(real),
                    kind(ours)
                ));
            }
        }
    }
}

#[test]
fn generated_machines_have_every_key_and_type_of_the_real_maas_response() {
    let real = fixture();
    let inv = inventory::generate(300, 11);
    // The fixture has one Deployed machine (with addresses) and two Ready ones: compare each
    // against a generated machine in the same state.
    for r in real.as_array().unwrap() {
        let status = NodeStatus::from_code(r["status"].as_u64().unwrap()).unwrap();
        let ours = render::machine(first_with(&inv, status), &inv.catalog);
        let mut problems = Vec::new();
        same_shape(r, &ours, "", &mut problems);
        assert!(problems.is_empty(), "{status} machine: {problems:#?}");
    }
}

#[test]
fn the_shape_check_notices_a_wrong_type() {
    // Guard against a same_shape that accepts everything.
    let mut problems = Vec::new();
    same_shape(
        &json!({"memory": 1024, "zone": {"name": "a"}, "storage": 1.5, "tags": ["x"]}),
        &json!({"memory": "1024", "zone": {}, "storage": 2, "tags": [1]}),
        "",
        &mut problems,
    );
    assert_eq!(problems.len(), 4, "{problems:?}");
}

/// Asserts `v[key]` exists and is one of `kinds`.
fn require(v: &Value, key: &str, kinds: &[&str], what: &str) {
    let Some(field) = v.get(key) else {
        panic!("{what}: `{key}` missing");
    };
    assert!(
        kinds.contains(&kind(field)),
        "{what}: `{key}` is {} ({field}), gomaasapi wants {kinds:?}",
        kind(field)
    );
}

const STR: &[&str] = &["string"];
const OPT_STR: &[&str] = &["string", "null"];
const INT: &[&str] = &["integer"];
const LIST: &[&str] = &["array"];
const MAP: &[&str] = &["object"];
const OPT_MAP: &[&str] = &["object", "null"];
const BOOL: &[&str] = &["bool"];

fn check_gomaasapi_machine(m: &Value) {
    let what = format!("machine {}", m["system_id"]);
    for key in [
        "resource_uri",
        "system_id",
        "hostname",
        "fqdn",
        "osystem",
        "distro_series",
        "power_state",
        "status_name",
    ] {
        require(m, key, STR, &what);
    }
    require(m, "status_message", OPT_STR, &what);
    require(m, "memory", INT, &what);
    require(m, "cpu_count", INT, &what);
    require(m, "storage", &["float"], &what);
    for key in [
        "tag_names",
        "ip_addresses",
        "interface_set",
        "physicalblockdevice_set",
        "blockdevice_set",
    ] {
        require(m, key, LIST, &what);
    }
    assert!(m["tag_names"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
    assert!(m["ip_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .all(Value::is_string));
    require(m, "owner_data", MAP, &what);
    assert!(m["owner_data"]
        .as_object()
        .unwrap()
        .values()
        .all(Value::is_string));
    require(m, "workload_annotations", MAP, &what);
    require(m, "hardware_info", MAP, &what);
    assert!(m["hardware_info"]
        .as_object()
        .unwrap()
        .values()
        .all(Value::is_string));
    require(m, "architecture", STR, &what);
    for key in ["zone", "pool"] {
        require(m, key, MAP, &what);
        for sub in ["name", "description", "resource_uri"] {
            require(&m[key], sub, STR, &format!("{what} {key}"));
        }
        require(&m[key], "id", INT, &format!("{what} {key}"));
    }
    assert!(m["pool"]["resource_uri"]
        .as_str()
        .unwrap()
        .contains("/resourcepool/"));
    require(m, "domain", MAP, &what);
    require(m, "boot_interface", OPT_MAP, &what);
    require(m, "boot_disk", OPT_MAP, &what);
    require(m, "node_type", INT, &what);
    assert_eq!(m["node_type"], json!(0));
    assert_eq!(m["node_type_name"], json!("Machine"));
    assert!(
        m.get("agent_name").is_none(),
        "MAAS does not render agent_name"
    );
    for key in [
        "commissioning_status",
        "testing_status",
        "cpu_test_status",
        "storage_test_status",
    ] {
        require(m, key, INT, &what);
        require(m, &format!("{key}_name"), STR, &what);
    }
    require(m, "numanode_set", LIST, &what);
    require(m, "locked", BOOL, &what);
    require(m, "netboot", BOOL, &what);

    for iface in m["interface_set"].as_array().unwrap() {
        let what = format!("{what} interface {}", iface["name"]);
        for key in ["resource_uri", "name", "type", "mac_address"] {
            require(iface, key, STR, &what);
        }
        for key in ["id", "effective_mtu"] {
            require(iface, key, INT, &what);
        }
        require(iface, "enabled", BOOL, &what);
        for key in ["tags", "links", "parents", "children"] {
            require(iface, key, LIST, &what);
        }
        require(iface, "vlan", OPT_MAP, &what);
        if iface["vlan"].is_object() {
            check_vlan(&iface["vlan"], &what);
        }
        for link in iface["links"].as_array().unwrap() {
            require(link, "id", INT, &what);
            require(link, "mode", STR, &what);
            if let Some(ip) = link.get("ip_address") {
                assert!(ip.is_string(), "{what}: link ip_address {ip}");
            }
            require(link, "subnet", OPT_MAP, &what);
            if link["subnet"].is_object() {
                check_subnet(&link["subnet"], &what);
            }
        }
    }
    for disk in m["blockdevice_set"].as_array().unwrap() {
        check_block_device(disk, &what);
    }
    for disk in m["physicalblockdevice_set"].as_array().unwrap() {
        check_block_device(disk, &what);
    }
}

fn check_vlan(v: &Value, what: &str) {
    let what = format!("{what} vlan");
    for key in ["resource_uri", "name", "fabric"] {
        require(v, key, STR, &what);
    }
    for key in ["id", "vid", "mtu"] {
        require(v, key, INT, &what);
    }
    require(v, "dhcp_on", BOOL, &what);
    require(v, "primary_rack", OPT_STR, &what);
    require(v, "secondary_rack", OPT_STR, &what);
}

fn check_subnet(s: &Value, what: &str) {
    let what = format!("{what} subnet");
    for key in ["resource_uri", "name", "space", "cidr"] {
        require(s, key, STR, &what);
    }
    require(s, "id", INT, &what);
    require(s, "gateway_ip", OPT_STR, &what);
    require(s, "dns_servers", LIST, &what);
    require(s, "vlan", MAP, &what);
    check_vlan(&s["vlan"], &what);
}

fn check_block_device(d: &Value, what: &str) {
    let what = format!("{what} disk {}", d["name"]);
    for key in ["resource_uri", "name", "path"] {
        require(d, key, STR, &what);
    }
    for key in ["uuid", "model", "id_path", "used_for"] {
        require(d, key, OPT_STR, &what);
    }
    for key in ["id", "block_size", "used_size", "size"] {
        require(d, key, INT, &what);
    }
    require(d, "tags", LIST, &what);
    require(d, "partitions", LIST, &what);
    require(d, "filesystem", OPT_MAP, &what);
}

#[test]
fn every_generated_status_satisfies_gomaasapi() {
    let inv = inventory::generate(400, 3);
    let mut statuses = HashSet::new();
    for m in &inv.machines {
        if statuses.insert(m.status) {
            check_gomaasapi_machine(&render::machine(m, &inv.catalog));
        }
    }
    assert!(statuses.len() >= 4, "statuses seen: {statuses:?}");
}

#[test]
fn loaded_fixture_machines_satisfy_gomaasapi() {
    let inv = inventory::from_machines_json(&fixture()).expect("the MAAS 2.0 fixture loads");
    for m in render_all(&inv) {
        check_gomaasapi_machine(&m);
    }
}

#[test]
fn allocate_response_has_constraints_by_type() {
    let inv = inventory::generate(5, 1);
    let v = render::allocated_machine(&inv.machines[0], &inv.catalog);
    require(&v, "constraints_by_type", MAP, "allocate response");
    assert!(render::machine(&inv.machines[0], &inv.catalog)
        .get("constraints_by_type")
        .is_none());
}

#[test]
fn storage_memory_and_addresses_follow_the_model() {
    let inv = inventory::generate(300, 5);
    let m = first_with(&inv, NodeStatus::Deployed);
    let v = render::machine(m, &inv.catalog);
    let bytes: u64 = m.disks.iter().map(|d| d.size_bytes).sum();
    assert_eq!(v["storage"].as_f64().unwrap(), bytes as f64 / 1e6);
    assert_eq!(v["memory"].as_u64().unwrap(), m.memory_mib);
    let ips: Vec<&str> = v["ip_addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(!ips.is_empty(), "a deployed machine has addresses");
    let linked: Vec<&str> = v["interface_set"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["links"].as_array().unwrap().iter())
        .filter_map(|l| l["ip_address"].as_str())
        .collect();
    assert_eq!(ips, linked);
    assert_eq!(v["owner_data"], v["workload_annotations"]);
    assert_eq!(v["netboot"], json!(false));
    assert_eq!(v["boot_interface"], v["interface_set"][0]);
    assert_eq!(v["boot_disk"], v["physicalblockdevice_set"][0]);

    let ready = render::machine(first_with(&inv, NodeStatus::Ready), &inv.catalog);
    assert_eq!(ready["ip_addresses"], json!([]));
    assert_eq!(ready["owner"], Value::Null);
    assert_eq!(ready["netboot"], json!(true));
    for link in ready["interface_set"][0]["links"].as_array().unwrap() {
        assert!(
            link.get("ip_address").is_none(),
            "MAAS omits ip_address until one is assigned"
        );
    }
}

#[test]
fn rendered_machines_parse_as_kubemaas_machines() {
    let inv = inventory::generate(200, 9);
    for (m, v) in inv.machines.iter().zip(render_all(&inv)) {
        let parsed: Machine = serde_json::from_value(v).expect("a rendered machine parses");
        assert_eq!(parsed.system_id, m.system_id);
        assert_eq!(parsed.status, m.status);
        assert_eq!(parsed.memory, m.memory_mib);
        assert_eq!(parsed.storage, m.storage_mb());
        assert_eq!(parsed.pool_name(), m.pool);
        assert_eq!(parsed.zone.name, m.zone);
        assert_eq!(parsed.fqdn, m.fqdn());
        assert_eq!(parsed.power_state, m.power_state);
        assert_eq!(parsed.interface_set.len(), m.nics.len());
        assert_eq!(parsed.physicalblockdevice_set.len(), m.disks.len());
        if let Some(ip) = m.nics[0].ip_address.as_deref() {
            let cidr = &inv
                .catalog
                .subnet(m.nics[0].subnet_id.unwrap())
                .unwrap()
                .cidr;
            assert_eq!(parsed.address_on(cidr), Some(ip));
        }
    }
}

#[test]
fn catalogue_objects_have_maas_fields() {
    let c = inventory::default_catalog();
    let zones: Vec<&str> = c.zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(zones, ["default", "az-1", "az-2", "az-3"]);
    for z in &c.zones {
        let v = render::zone(z);
        require(&v, "id", INT, "zone");
        for key in ["name", "description", "resource_uri"] {
            require(&v, key, STR, "zone");
        }
        assert_eq!(
            v["resource_uri"],
            json!(format!("/MAAS/api/2.0/zones/{}/", z.name))
        );
    }
    let default_pool = render::pool(&c.pools[0]);
    assert_eq!(
        default_pool,
        json!({"id": 0, "name": "default", "description": "Default pool", "resource_uri": "/MAAS/api/2.0/resourcepool/0/"})
    );
    assert!(c.pools.len() >= 3);
    for t in &c.tags {
        let v = render::tag(t);
        for key in [
            "name",
            "definition",
            "comment",
            "kernel_opts",
            "resource_uri",
        ] {
            require(&v, key, STR, "tag");
        }
        assert!(
            !t.definition.is_empty() && !t.comment.is_empty(),
            "tag {} documented",
            t.name
        );
    }
    for name in ["virtual", "physical", "ssd", "nvme", "gpu", "10g", "25g"] {
        assert!(c.tag(name).is_some(), "tag {name}");
    }
    let defaults: Vec<&str> = c
        .domains
        .iter()
        .filter(|d| d.is_default)
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(defaults, ["maas"]);
    assert!(c.domains.len() >= 2);
    for d in &c.domains {
        let v = render::domain(d);
        require(&v, "authoritative", BOOL, "domain");
        require(&v, "ttl", &["integer", "null"], "domain");
        require(&v, "id", INT, "domain");
        require(&v, "name", STR, "domain");
        require(&v, "is_default", BOOL, "domain");
        require(&v, "resource_record_count", INT, "domain");
        assert_eq!(
            v["resource_uri"],
            json!(format!("/MAAS/api/2.0/domains/{}/", d.id))
        );
    }
    for s in &c.subnets {
        let v = render::subnet(s);
        check_subnet(&v, "catalogue");
        for key in [
            "description",
            "rdns_mode",
            "allow_dns",
            "allow_proxy",
            "active_discovery",
            "managed",
            "disabled_boot_architectures",
        ] {
            assert!(v.get(key).is_some(), "subnet {key}");
        }
        assert!(s.cidr.parse::<ipnet::IpNet>().is_ok());
        assert_eq!(v["vlan"]["id"], json!(s.vlan_id));
    }
    let images: Vec<(&str, &str)> = c
        .boot_resources
        .iter()
        .map(|b| (b.kind.as_str(), b.name.as_str()))
        .collect();
    for series in ["ubuntu/focal", "ubuntu/jammy", "ubuntu/noble"] {
        assert!(images.contains(&("Synced", series)), "{series} synced");
    }
    assert!(images
        .iter()
        .any(|(k, n)| *k == "Uploaded" && n.starts_with("custom/")));
    for b in &c.boot_resources {
        let v = render::boot_resource(b);
        require(&v, "id", INT, "boot resource");
        for key in ["type", "name", "architecture", "resource_uri"] {
            require(&v, key, STR, "boot resource");
        }
    }
    for f in &c.fabrics {
        let v = render::fabric(f, &c);
        require(&v, "vlans", LIST, "fabric");
        assert!(
            !v["vlans"].as_array().unwrap().is_empty(),
            "fabric {} has VLANs",
            f.name
        );
    }
    for s in &c.spaces {
        let v = render::space(s, &c);
        require(&v, "subnets", LIST, "space");
        require(&v, "vlans", LIST, "space");
    }
}

#[test]
fn fleets_are_deterministic_per_seed_and_differ_across_seeds() {
    let a = inventory::generate(500, 42);
    let b = inventory::generate(500, 42);
    assert_eq!(a, b);
    assert_eq!(render_all(&a), render_all(&b));
    let c = inventory::generate(500, 43);
    let names = |inv: &SimInventory| {
        inv.machines
            .iter()
            .map(|m| m.hostname.clone())
            .collect::<Vec<_>>()
    };
    assert_ne!(names(&a), names(&c));
    assert_ne!(a.machines, c.machines);
}

#[test]
fn a_generated_fleet_looks_real() {
    let inv = inventory::generate(10_000, 1);
    assert_eq!(inv.machines.len(), 10_000);
    let ids: HashSet<&str> = inv.machines.iter().map(|m| m.system_id.as_str()).collect();
    assert_eq!(ids.len(), 10_000, "system_ids unique");
    let hosts: HashSet<&str> = inv.machines.iter().map(|m| m.hostname.as_str()).collect();
    assert_eq!(hosts.len(), 10_000, "hostnames unique");
    let macs: HashSet<&str> = inv
        .machines
        .iter()
        .flat_map(|m| m.nics.iter().map(|n| n.mac_address.as_str()))
        .collect();
    let nic_count: usize = inv.machines.iter().map(|m| m.nics.len()).sum();
    assert_eq!(macs.len(), nic_count, "MACs unique");
    let mut addresses = HashSet::new();
    for m in &inv.machines {
        assert!(
            m.system_id.len() == 6
                && m.system_id
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()),
            "{}",
            m.system_id
        );
        let words: Vec<&str> = m.hostname.split('-').collect();
        assert!(
            words.len() >= 2
                && words
                    .iter()
                    .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase())),
            "{}",
            m.hostname
        );
        assert!(
            inv.catalog.zone(&m.zone).is_some()
                && inv.catalog.pool(&m.pool).is_some()
                && inv.catalog.domain(&m.domain).is_some()
        );
        for t in &m.tags {
            assert!(inv.catalog.tag(t).is_some(), "tag {t} is in the catalogue");
        }
        for n in &m.nics {
            assert!(
                n.subnet_id.and_then(|id| inv.catalog.subnet(id)).is_some(),
                "{} links to a known subnet",
                n.name
            );
            if let Some(ip) = &n.ip_address {
                assert!(addresses.insert(ip.clone()), "address {ip} given twice");
            }
        }
        if m.status == NodeStatus::New {
            assert!(
                m.disks.is_empty() && m.cpu_count == 0,
                "a New machine is not yet commissioned"
            );
            continue;
        }
        assert!((4..=128).contains(&m.cpu_count), "{} cores", m.cpu_count);
        assert!(
            (8 * 1024..=1024 * 1024).contains(&m.memory_mib),
            "{} MiB",
            m.memory_mib
        );
        assert!((1..=4).contains(&m.disks.len()), "{} disks", m.disks.len());
        assert!(!m.nics.is_empty() && !m.hardware_info.is_empty());
    }
    let count = |s: NodeStatus| inv.machines.iter().filter(|m| m.status == s).count();
    assert!(count(NodeStatus::Ready) > 7_000, "mostly Ready");
    for s in [
        NodeStatus::New,
        NodeStatus::Commissioning,
        NodeStatus::Broken,
        NodeStatus::Deployed,
    ] {
        assert!(count(s) > 50, "some {s}");
    }
    for m in inv
        .machines
        .iter()
        .filter(|m| m.status == NodeStatus::Deployed)
    {
        assert!(
            m.owner.as_deref().is_some_and(|o| o != "admin"),
            "deployed for another user"
        );
        assert!(!m.distro_series.is_empty() && !m.ip_addresses().is_empty());
    }
    let distinct = |f: &dyn Fn(&SimMachine) -> String| {
        inv.machines.iter().map(f).collect::<HashSet<_>>().len()
    };
    assert!(distinct(&|m| m.zone.clone()) >= 4);
    assert!(distinct(&|m| m.pool.clone()) >= 4);
    assert!(distinct(&|m| m.power_type.clone()) >= 4);
    assert!(distinct(&|m| m.cpu_count.to_string()) >= 8);
    assert!(distinct(&|m| m.disks.len().to_string()) >= 4);
}

#[test]
fn tiny_fleets_work() {
    let empty = inventory::generate(0, 1);
    assert!(empty.machines.is_empty());
    assert_eq!(empty.catalog, inventory::default_catalog());
    let one = inventory::generate(1, 99);
    assert_eq!(
        one.machines[0].status,
        NodeStatus::Ready,
        "a one-machine fleet can be allocated"
    );
}

#[test]
fn the_maas_20_fixture_loads() {
    let inv = inventory::from_machines_json(&fixture()).expect("fixture loads");
    assert_eq!(inv.machines.len(), 3);
    let m = &inv.machines[0];
    assert_eq!(m.system_id, "4y3ha3");
    assert_eq!(m.status, NodeStatus::Deployed);
    assert_eq!(m.owner.as_deref(), Some("thumper"));
    assert_eq!(m.pool, "default", "MAAS 2.0 has no pools: the default pool");
    assert!(m.owner_data.is_empty());
    assert_eq!(m.memory_mib, 1024);
    assert_eq!(m.nics[0].ip_address.as_deref(), Some("192.168.100.4"));
    assert_eq!(m.disks[0].size_bytes, 8_589_934_592);
    assert!(m.passthrough.contains_key("macaddress_set"));
    let c = &inv.catalog;
    assert_eq!(c.subnets.len(), 1);
    assert_eq!(c.subnets[0].cidr, "192.168.100.0/24");
    assert_eq!(c.subnets[0].vlan.primary_rack.as_deref(), Some("4y3h7n"));
    assert_eq!(
        c.spaces.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["space-0"]
    );
    assert_eq!(
        c.fabrics
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["fabric-0"]
    );
    assert!(c.zone("default").is_some_and(|z| z.id.is_some()));
    assert_eq!(c.pool("default").and_then(|p| p.id), Some(0));
    assert!(c.domain("maas").is_some_and(|d| d.is_default));
    let tags: Vec<&str> = c.tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tags, ["virtual", "magic"]);
    assert!(
        c.boot_resources.iter().any(|b| b.name == "ubuntu/trusty"),
        "deployed series has an image"
    );
    assert!(c.boot_resources.iter().any(|b| b.name == "ubuntu/jammy"));
}

/// `ours` holds everything in `real` with equal values: objects may have more keys.
fn contains(real: &Value, ours: &Value, path: &str, problems: &mut Vec<String>) {
    match (real, ours) {
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                match o.get(k) {
                    Some(ov) => contains(rv, ov, &format!("{path}.{k}"), problems),
                    None => problems.push(format!("{path}.{k} missing")),
                }
            }
        }
        (Value::Array(r), Value::Array(o)) if r.len() == o.len() => {
            for (i, (rv, ov)) in r.iter().zip(o).enumerate() {
                contains(rv, ov, &format!("{path}[{i}]"), problems);
            }
        }
        _ if real == ours => {}
        _ => problems.push(format!("{path}: was {real}, now {ours}")),
    }
}

#[test]
fn the_fixture_round_trips() {
    let real = fixture();
    let inv = inventory::from_machines_json(&real).unwrap();
    let ours = render_all(&inv);
    for (r, o) in real.as_array().unwrap().iter().zip(&ours) {
        let mut problems = Vec::new();
        contains(r, o, "", &mut problems);
        // 2.0 did not name the boot disk; 3.x always does.
        problems.retain(|p| !p.starts_with(".boot_disk:"));
        assert!(problems.is_empty(), "{}: {problems:#?}", r["system_id"]);
    }
    // Loading what the simulator rendered gives back the same machines and the same JSON.
    let again = inventory::from_machines_json(&Value::Array(ours.clone())).unwrap();
    assert_eq!(render_all(&again), ours);
}

#[test]
fn a_generated_fleet_round_trips_through_the_loader() {
    let inv = inventory::generate(120, 8);
    let json = Value::Array(render_all(&inv));
    let loaded = inventory::from_machines_json(&json).unwrap();
    assert_eq!(Value::Array(render_all(&loaded)), json);
    let names = |c: &kubemaas::sim::model::SimCatalog| {
        c.subnets
            .iter()
            .map(|s| s.cidr.clone())
            .collect::<HashSet<_>>()
    };
    assert!(names(&loaded.catalog).is_subset(&names(&inv.catalog)));
}

fn load_err(v: Value) -> String {
    match inventory::from_machines_json(&v) {
        Ok(_) => panic!("{v} should not load"),
        Err(e) => e.to_string(),
    }
}

fn machine_json(system_id: &str) -> Value {
    let mut m = fixture()[1].clone();
    m["system_id"] = json!(system_id);
    m
}

#[test]
fn bad_inventories_say_what_is_wrong_and_where() {
    let msg = load_err(json!({"machines": []}));
    assert!(
        msg.contains("expected a JSON array") && msg.contains("machines read"),
        "{msg}"
    );

    let msg = load_err(json!([]));
    assert!(
        msg.contains("no machines") && msg.contains("--machines"),
        "{msg}"
    );

    let mut list: Vec<Value> = ["aaa111", "bbb222", "ccc333", "abc123"]
        .iter()
        .map(|id| machine_json(id))
        .collect();
    list[3]["memory"] = json!("lots");
    let msg = load_err(Value::Array(list.clone()));
    assert!(
        msg.contains("machine #3 (abc123): `memory` must be a number of MiB, got \"lots\""),
        "{msg}"
    );

    list[3]["memory"] = json!(2048);
    list[3]["system_id"] = json!("bbb222");
    let msg = load_err(Value::Array(list.clone()));
    assert!(
        msg.contains("machine #3 (bbb222)") && msg.contains("already used by machine #1"),
        "{msg}"
    );

    let mut bad = machine_json("st4tus");
    bad["status"] = json!(99);
    let msg = load_err(json!([bad]));
    assert!(
        msg.contains("machine #0 (st4tus): `status` must be a MAAS node status code"),
        "{msg}"
    );

    let mut bad = machine_json("nohost");
    bad.as_object_mut().unwrap().remove("hostname");
    let msg = load_err(json!([bad]));
    assert!(
        msg.contains("machine #0 (nohost): `hostname` is missing"),
        "{msg}"
    );

    let mut bad = machine_json("cidr01");
    bad["interface_set"][0]["links"][0]["subnet"]["cidr"] = json!("192.168.100.0/99");
    let msg = load_err(json!([bad]));
    assert!(
        msg.contains("`interface_set[0].links[0].subnet.cidr` must be a network"),
        "{msg}"
    );

    let mut bad = machine_json("disk01");
    bad["physicalblockdevice_set"][0]["size"] = json!(-5);
    let msg = load_err(json!([bad]));
    assert!(
        msg.contains("`physicalblockdevice_set[0].size` must be a whole number of bytes"),
        "{msg}"
    );

    let mut bad = machine_json("owner1");
    bad["owner_data"] = json!({"cluster": 7});
    let msg = load_err(json!([bad]));
    assert!(
        msg.contains("`owner_data.cluster` must be a string"),
        "{msg}"
    );

    let msg = load_err(json!([42]));
    assert!(
        msg.contains("machine #0: expected a machine object, got a number"),
        "{msg}"
    );

    let mut other_region = machine_json("other1");
    other_region["interface_set"][0]["links"][0]["subnet"]["cidr"] = json!("10.0.0.0/24");
    let msg = load_err(json!([machine_json("first1"), other_region]));
    assert!(
        msg.contains("machine #1 (other1)") && msg.contains("mixes regions"),
        "{msg}"
    );
}

#[test]
fn bad_inventory_files_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "  \n").unwrap();
    let msg = inventory::load_file(&empty).unwrap_err().to_string();
    assert!(
        msg.contains("is empty") && msg.contains("machines read"),
        "{msg}"
    );

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "machines: yes").unwrap();
    let msg = inventory::load_file(&garbage).unwrap_err().to_string();
    assert!(msg.contains("is not JSON"), "{msg}");

    let missing = dir.path().join("missing.json");
    let msg = inventory::load_file(&missing).unwrap_err().to_string();
    assert!(msg.contains("cannot read inventory file"), "{msg}");

    let good = dir.path().join("good.json");
    std::fs::write(&good, std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    assert_eq!(inventory::load_file(&good).unwrap().machines.len(), 3);
}

/// The API surface from the shared contract: handler, path, anonymous, actions (name:method).
const SURFACE: &[(&str, &str, bool, &[&str])] = &[
    ("VersionHandler", "version/", true, &["read:GET"]),
    ("UsersHandler", "users/", false, &["read:GET", "whoami:GET"]),
    ("UserHandler", "users/{username}/", false, &["read:GET"]),
    (
        "AccountHandler",
        "account/",
        false,
        &[
            "create_authorisation_token:POST",
            "list_authorisation_tokens:GET",
        ],
    ),
    ("MaasHandler", "maas/", false, &["get_config:GET"]),
    (
        "AnonMachinesHandler",
        "machines/",
        true,
        &["is_registered:GET"],
    ),
    (
        "MachinesHandler",
        "machines/",
        false,
        &[
            "read:GET",
            "allocate:POST",
            "release:POST",
            "list_allocated:GET",
        ],
    ),
    (
        "MachineHandler",
        "machines/{system_id}/",
        false,
        &[
            "read:GET",
            "update:PUT",
            "delete:DELETE",
            "deploy:POST",
            "release:POST",
            "abort:POST",
            "power_on:POST",
            "power_off:POST",
            "query_power_state:GET",
            "set_owner_data:POST",
            "set_workload_annotations:POST",
            "mark_broken:POST",
            "mark_fixed:POST",
            "lock:POST",
            "unlock:POST",
        ],
    ),
    (
        "ZonesHandler",
        "zones/",
        false,
        &["read:GET", "create:POST"],
    ),
    ("ZoneHandler", "zones/{name}/", false, &["read:GET"]),
    (
        "ResourcePoolsHandler",
        "resourcepools/",
        false,
        &["read:GET"],
    ),
    (
        "ResourcePoolHandler",
        "resourcepool/{id}/",
        false,
        &["read:GET"],
    ),
    ("TagsHandler", "tags/", false, &["read:GET", "create:POST"]),
    (
        "TagHandler",
        "tags/{name}/",
        false,
        &["read:GET", "machines:GET", "update_nodes:POST"],
    ),
    ("DomainsHandler", "domains/", false, &["read:GET"]),
    ("DomainHandler", "domains/{id}/", false, &["read:GET"]),
    ("SubnetsHandler", "subnets/", false, &["read:GET"]),
    (
        "SubnetHandler",
        "subnets/{id}/",
        false,
        &[
            "read:GET",
            "unreserved_ip_ranges:GET",
            "reserved_ip_ranges:GET",
        ],
    ),
    ("FabricsHandler", "fabrics/", false, &["read:GET"]),
    ("SpacesHandler", "spaces/", false, &["read:GET"]),
    (
        "BootResourcesHandler",
        "boot-resources/",
        false,
        &["read:GET"],
    ),
    (
        "BootResourceHandler",
        "boot-resources/{id}/",
        false,
        &["read:GET"],
    ),
    (
        "IPAddressesHandler",
        "ipaddresses/",
        false,
        &["read:GET", "reserve:POST", "release:POST"],
    ),
    (
        "DNSResourcesHandler",
        "dnsresources/",
        false,
        &["read:GET", "create:POST"],
    ),
    (
        "DNSResourceHandler",
        "dnsresources/{id}/",
        false,
        &["read:GET", "update:PUT", "delete:DELETE"],
    ),
    ("EventsHandler", "events/", false, &["query:GET"]),
];

#[test]
fn describe_covers_exactly_the_simulated_api() {
    let origin = "http://127.0.0.1:5240";
    let doc = describe::document(origin);
    assert_eq!(doc["doc"], json!("MAAS API"));
    assert_eq!(doc["hash"], json!(describe::api_hash()));
    let resources = doc["resources"].as_array().unwrap();
    let names: Vec<&str> = resources
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let mut sorted_names = names.clone();
    sorted_names.sort_unstable();
    assert_eq!(names, sorted_names, "resources sorted by name");

    let mut found = Vec::new();
    for r in resources {
        assert_eq!(r.as_object().unwrap().len(), 3, "{{name, anon, auth}}");
        for side in ["anon", "auth"] {
            let h = &r[side];
            if h.is_null() {
                continue;
            }
            for key in ["name", "doc", "path", "uri"] {
                require(h, key, STR, "handler");
            }
            require(h, "params", LIST, "handler");
            let path = h["path"].as_str().unwrap();
            assert!(
                path.starts_with("/MAAS/api/2.0/") && path.ends_with('/'),
                "{path}"
            );
            assert_eq!(h["uri"], json!(format!("{origin}{path}")));
            for p in h["params"].as_array().unwrap() {
                assert!(
                    path.contains(&format!("{{{}}}", p.as_str().unwrap())),
                    "param {p} in {path}"
                );
            }
            let mut actions: Vec<String> = Vec::new();
            for a in h["actions"].as_array().unwrap() {
                for key in ["name", "method", "doc"] {
                    require(a, key, STR, "action");
                }
                require(a, "restful", BOOL, "action");
                require(a, "op", OPT_STR, "action");
                assert_eq!(a["restful"].as_bool().unwrap(), a["op"].is_null());
                if !a["op"].is_null() {
                    assert_eq!(a["op"], a["name"]);
                }
                actions.push(format!(
                    "{}:{}",
                    a["name"].as_str().unwrap(),
                    a["method"].as_str().unwrap()
                ));
            }
            actions.sort();
            found.push((
                h["name"].as_str().unwrap().to_string(),
                path.trim_start_matches("/MAAS/api/2.0/").to_string(),
                side == "anon",
                actions,
            ));
        }
    }
    let mut expected: Vec<(String, String, bool, Vec<String>)> = SURFACE
        .iter()
        .map(|(n, p, anon, actions)| {
            let mut a: Vec<String> = actions.iter().map(|s| s.to_string()).collect();
            a.sort();
            (n.to_string(), p.to_string(), *anon, a)
        })
        .collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);

    let machines = resources
        .iter()
        .find(|r| r["name"] == "MachinesHandler")
        .unwrap();
    assert_eq!(machines["anon"]["name"], json!("AnonMachinesHandler"));
    assert_eq!(machines["auth"]["name"], json!("MachinesHandler"));
    let version = resources
        .iter()
        .find(|r| r["name"] == "VersionHandler")
        .unwrap();
    assert!(version["auth"].is_null());

    // The legacy flat list: every non-null handler, anon before auth.
    let flat: Vec<&str> = doc["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(flat.len(), SURFACE.len());
    let anon_at = flat
        .iter()
        .position(|n| *n == "AnonMachinesHandler")
        .unwrap();
    assert_eq!(flat[anon_at + 1], "MachinesHandler");
}

#[test]
fn describe_hash_is_deterministic_and_origin_independent() {
    let h = describe::api_hash();
    assert_eq!(h.len(), 40);
    assert!(h
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    let a = describe::document("http://127.0.0.1:1");
    let b = describe::document("http://localhost:5240/");
    assert_eq!(a["hash"], b["hash"]);
    assert_eq!(
        b["resources"][0]["auth"]["uri"]
            .as_str()
            .unwrap()
            .matches("//")
            .count(),
        1
    );
}

/// MAAS 3.x `DISPLAYED_MACHINE_FIELDS` (3.5 plus the 3.6 and later additions) and piston's
/// `resource_uri`; `constraints_by_type` is only in allocate responses.
const MAAS_3X_MACHINE_FIELDS: &[&str] = &[
    "system_id",
    "hostname",
    "description",
    "hardware_uuid",
    "domain",
    "fqdn",
    "owner",
    "owner_data",
    "locked",
    "cache_sets",
    "bcaches",
    "bios_boot_method",
    "boot_interface",
    "architecture",
    "min_hwe_kernel",
    "hwe_kernel",
    "cpu_count",
    "cpu_speed",
    "memory",
    "swap_size",
    "storage",
    "status",
    "osystem",
    "distro_series",
    "ephemeral_deploy",
    "error_description",
    "netboot",
    "power_type",
    "power_state",
    "tag_names",
    "address_ttl",
    "ip_addresses",
    "interface_set",
    "zone",
    "pool",
    "disable_ipv4",
    "boot_disk",
    "blockdevice_set",
    "physicalblockdevice_set",
    "virtualblockdevice_set",
    "volume_groups",
    "raids",
    "status_action",
    "status_message",
    "status_name",
    "node_type",
    "node_type_name",
    "special_filesystems",
    "parent",
    "pod",
    "default_gateways",
    "current_commissioning_result_id",
    "current_testing_result_id",
    "current_installation_result_id",
    "commissioning_status",
    "commissioning_status_name",
    "testing_status",
    "testing_status_name",
    "cpu_test_status",
    "cpu_test_status_name",
    "memory_test_status",
    "memory_test_status_name",
    "network_test_status",
    "network_test_status_name",
    "storage_test_status",
    "storage_test_status_name",
    "other_test_status",
    "other_test_status_name",
    "hardware_info",
    "interface_test_status",
    "interface_test_status_name",
    "numanode_set",
    "virtualmachine_id",
    "workload_annotations",
    "last_sync",
    "sync_interval",
    "next_sync",
    "enable_hw_sync",
    "enable_kernel_crash_dump",
    "is_dpu",
    "resource_uri",
];

#[test]
fn machines_have_every_maas_3x_field() {
    let inv = inventory::generate(50, 2);
    let loaded = inventory::from_machines_json(&fixture()).unwrap();
    for v in render_all(&inv).into_iter().chain(render_all(&loaded)) {
        for key in MAAS_3X_MACHINE_FIELDS {
            assert!(v.get(*key).is_some(), "{} lacks {key}", v["system_id"]);
        }
        for node in v["numanode_set"].as_array().unwrap() {
            for key in ["index", "cores", "memory", "hugepages_set"] {
                assert!(node.get(key).is_some(), "numanode {key}");
            }
        }
        let cores: u64 = v["numanode_set"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["cores"].as_array().unwrap().len() as u64)
            .sum();
        assert_eq!(
            cores,
            v["cpu_count"].as_u64().unwrap(),
            "NUMA nodes hold every core"
        );
    }
}

#[test]
fn commissioned_boot_disks_carry_the_default_layout() {
    let inv = inventory::generate(100, 4);
    let m = first_with(&inv, NodeStatus::Ready);
    let v = render::machine(m, &inv.catalog);
    let disk = &v["boot_disk"];
    assert!(disk["partition_table_type"].is_string());
    let parts = disk["partitions"].as_array().unwrap();
    assert!(!parts.is_empty());
    let root = parts
        .iter()
        .find(|p| p["filesystem"]["mount_point"] == json!("/"))
        .expect("a root filesystem");
    assert!(root["size"].as_u64().unwrap() < m.disks[0].size_bytes);
    let total: u64 = parts.iter().map(|p| p["size"].as_u64().unwrap()).sum();
    assert!(total <= m.disks[0].size_bytes);
    // Data disks stay blank for the workload to use.
    for d in v["physicalblockdevice_set"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
    {
        assert_eq!(d["partitions"], json!([]));
        assert_eq!(d["available_size"], d["size"]);
    }
}

#[test]
fn minimal_and_unusual_machines_load_and_render_completely() {
    let minimal = json!({"system_id": "min001", "hostname": "tiny", "status": 4});
    let mut bonded = machine_json("bond01");
    // A second link (an alias) and a subnet exported without its VLAN.
    let mut alias = bonded["interface_set"][0]["links"][0].clone();
    alias["id"] = json!(99);
    alias["ip_address"] = json!("10.99.0.5");
    alias["subnet"] = json!({"id": 7, "cidr": "10.99.0.0/24", "name": "alias-net", "space": "undefined", "gateway_ip": null, "dns_servers": []});
    bonded["interface_set"][0]["links"]
        .as_array_mut()
        .unwrap()
        .push(alias);
    bonded["interface_set"][0]["type"] = json!("bond");
    let inv = inventory::from_machines_json(&json!([minimal, bonded])).unwrap();
    let out = render_all(&inv);
    for v in &out {
        check_gomaasapi_machine(v);
    }
    assert_eq!(out[0]["zone"]["name"], json!("default"));
    assert_eq!(out[0]["pool"]["name"], json!("default"));
    assert_eq!(out[0]["fqdn"], json!("tiny.maas"));
    assert_eq!(out[1]["interface_set"][0]["type"], json!("bond"));
    let links = out[1]["interface_set"][0]["links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[1]["id"], json!(99));
    assert_eq!(out[1]["ip_addresses"], json!(["10.99.0.5"]));
    let alias_net = inv
        .catalog
        .subnet(7)
        .expect("the alias subnet is in the catalogue");
    assert!(
        inv.catalog.vlan(alias_net.vlan_id).is_some(),
        "its VLAN too"
    );
    assert!(inv
        .catalog
        .fabrics
        .iter()
        .any(|f| f.name == alias_net.fabric));
}

#[test]
fn boot_resource_detail_has_complete_sets() {
    for b in &inventory::default_catalog().boot_resources {
        let v = render::boot_resource_detail(b);
        let sets = v["sets"].as_object().expect("sets");
        assert_eq!(sets.len(), 1);
        for set in sets.values() {
            for key in ["version", "label"] {
                require(set, key, STR, "set");
            }
            require(set, "size", INT, "set");
            require(set, "complete", BOOL, "set");
            let files = set["files"].as_object().unwrap();
            assert!(!files.is_empty());
            let sum: u64 = files.values().map(|f| f["size"].as_u64().unwrap()).sum();
            assert_eq!(set["size"].as_u64().unwrap(), sum);
            for f in files.values() {
                assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
                for key in ["filename", "filetype"] {
                    require(f, key, STR, "file");
                }
            }
        }
        assert_eq!(v["name"], render::boot_resource(b)["name"]);
    }
}

const MAAS_35_DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/maas-3.5-machines.json"
);

#[test]
fn a_maas_3x_dump_loads_and_round_trips_unchanged() {
    let real: Value =
        serde_json::from_str(&std::fs::read_to_string(MAAS_35_DUMP).unwrap()).unwrap();
    let inv = inventory::load_file(std::path::Path::new(MAAS_35_DUMP)).expect("a 3.x dump loads");
    let ours = render_all(&inv);
    for (r, o) in real.as_array().unwrap().iter().zip(&ours) {
        let mut problems = Vec::new();
        contains(r, o, "", &mut problems);
        assert!(problems.is_empty(), "{}: {problems:#?}", r["system_id"]);
        check_gomaasapi_machine(o);
    }
    let m = &inv.machines[0];
    assert_eq!(
        m.owner_data.get("kubemaas.io/cluster").map(String::as_str),
        Some("prod-1")
    );
    assert_eq!(
        (m.zone.as_str(), m.pool.as_str(), m.domain.as_str()),
        ("rack-a", "k8s", "lab")
    );
    for key in [
        "hardware_uuid",
        "bios_boot_method",
        "numanode_set",
        "current_commissioning_result_id",
        "default_gateways",
    ] {
        assert!(
            m.passthrough.contains_key(key),
            "{key} kept as MAAS sent it"
        );
    }
    for key in [
        "status_name",
        "ip_addresses",
        "interface_set",
        "fqdn",
        "owner_data",
    ] {
        assert!(
            !m.passthrough.contains_key(key),
            "{key} is modelled, not passed through"
        );
    }
    let c = &inv.catalog;
    let zone = c.zone("rack-a").unwrap();
    assert_eq!(
        (zone.id, zone.description.as_str()),
        (Some(3), "Rack A, row 3")
    );
    assert_eq!(c.zone("default").unwrap().id, Some(1));
    assert_eq!(c.pool("k8s").unwrap().id, Some(2));
    assert_eq!(c.pool("default").unwrap().id, Some(0));
    let lab = c.domain("lab").unwrap();
    assert!(lab.is_default && lab.id == 2);
    assert_eq!(c.domains.iter().filter(|d| d.is_default).count(), 1);
    let s = c.subnet_by_cidr("10.55.0.0/22").unwrap();
    assert_eq!((s.id, s.vlan_id, s.space.as_str()), (3, 5001, "mgmt"));
    assert_eq!(
        c.fabrics
            .iter()
            .map(|f| (f.id, f.name.as_str()))
            .collect::<Vec<_>>(),
        [(0, "fabric-0")]
    );
    assert_eq!(
        c.spaces.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["mgmt"]
    );
}
