//! The simulator's JSON, shaped exactly as MAAS emits it (field names, types, nesting), so that
//! python-libmaas, gomaasapi and kubemaas's own client parse it unchanged.
//!
//! The field sets follow MAAS 3.5/3.6 (`DISPLAYED_MACHINE_FIELDS` and the interface, block
//! device, subnet and VLAN handlers); gomaasapi's schema checks are the strictest consumer, so
//! every key it requires is always present with the type it checks, even when empty.

use super::auth::oauth_encode;
use super::devices::SimDevice;
use super::files::StoredFile;
use super::model::{
    SimCatalog, SimDisk, SimFabric, SimMachine, SimNic, SimSpace, SimSubnet, SimVlan,
};
use super::state::SimStaticRoute;
use crate::maas::{BootResource, Domain, NodeStatus, ResourcePool, Tag, Zone};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};

/// Every API path starts here; `resource_uri`s are absolute paths under it.
pub const API_PREFIX: &str = "/MAAS/api/2.0";

/// Machine keys the renderer computes from the model (or from the machine's state). An inventory
/// loader must not keep them in `passthrough`: a stale copy would hide state changes.
pub const DERIVED_MACHINE_FIELDS: &[&str] = &[
    "system_id",
    "hostname",
    "description",
    "domain",
    "fqdn",
    "owner",
    "owner_data",
    "workload_annotations",
    "locked",
    "boot_interface",
    "architecture",
    "min_hwe_kernel",
    "hwe_kernel",
    "cpu_count",
    "cpu_speed",
    "memory",
    "storage",
    "status",
    "status_name",
    "status_message",
    "status_action",
    "osystem",
    "distro_series",
    "netboot",
    "error_description",
    "power_type",
    "power_state",
    "tag_names",
    "ip_addresses",
    "interface_set",
    "zone",
    "pool",
    "constraints_by_type",
    "boot_disk",
    "blockdevice_set",
    "physicalblockdevice_set",
    "hardware_info",
    "node_type",
    "node_type_name",
    "resource_uri",
    "agent_name",
];

/// The keys of `hardware_info`; MAAS reports "Unknown" for what commissioning did not find.
pub const HARDWARE_INFO_KEYS: &[&str] = &[
    "system_vendor",
    "system_product",
    "system_family",
    "system_version",
    "system_sku",
    "system_serial",
    "cpu_model",
    "mainboard_vendor",
    "mainboard_product",
    "mainboard_serial",
    "mainboard_version",
    "mainboard_firmware_vendor",
    "mainboard_firmware_date",
    "mainboard_firmware_version",
    "chassis_vendor",
    "chassis_type",
    "chassis_serial",
    "chassis_version",
];

/// A machine object as `GET machines/` and `GET machines/<id>/` return it.
pub fn machine(m: &SimMachine, catalog: &SimCatalog) -> Value {
    let mut o = Map::new();
    let owner_data = json!(m.owner_data);
    let interfaces: Vec<Value> = m
        .nics
        .iter()
        .map(|n| interface(&m.system_id, n, catalog))
        .collect();
    let disks: Vec<Value> = m
        .disks
        .iter()
        .enumerate()
        .map(|(i, d)| {
            if i == 0 {
                boot_disk(m, d)
            } else {
                block_device(m, d)
            }
        })
        .collect();
    let mut all_disks = disks.clone();
    // A loaded machine's virtual devices (RAID, LVM) are not modelled but still belong in
    // `blockdevice_set`, which MAAS fills with physical and virtual devices alike.
    if let Some(Value::Array(virtual_devices)) = m.passthrough.get("virtualblockdevice_set") {
        all_disks.extend(virtual_devices.iter().cloned());
    }
    let (commissioning, testing, storage_test) = script_statuses(m.status);

    o.insert("system_id".into(), json!(m.system_id));
    o.insert("hostname".into(), json!(m.hostname));
    o.insert("description".into(), json!(m.description));
    // Loaded machines carry their real SMBIOS UUID in `passthrough` (applied below).
    o.insert("hardware_uuid".into(), json!(hardware_uuid(&m.system_id)));
    o.insert("domain".into(), domain_named(&m.domain, catalog));
    o.insert("fqdn".into(), json!(m.fqdn()));
    o.insert("owner".into(), json!(m.owner));
    o.insert("owner_data".into(), owner_data.clone());
    o.insert("workload_annotations".into(), owner_data);
    o.insert("locked".into(), json!(m.locked));
    o.insert("cache_sets".into(), json!([]));
    o.insert("bcaches".into(), json!([]));
    o.insert("bios_boot_method".into(), json!(bios_boot_method(m)));
    o.insert(
        "boot_interface".into(),
        interfaces.first().cloned().unwrap_or(Value::Null),
    );
    o.insert("architecture".into(), json!(m.architecture));
    o.insert("min_hwe_kernel".into(), json!(m.min_hwe_kernel));
    // MAAS 3.x sends null until a kernel is chosen at deploy (2.0 sent ""; a loaded "" stays).
    o.insert("hwe_kernel".into(), json!(m.hwe_kernel));
    o.insert("cpu_count".into(), json!(m.cpu_count));
    o.insert("cpu_speed".into(), json!(m.cpu_speed));
    o.insert("memory".into(), json!(m.memory_mib));
    o.insert("swap_size".into(), Value::Null);
    o.insert("storage".into(), json!(m.storage_mb()));
    o.insert("status".into(), json!(m.status.code()));
    o.insert("osystem".into(), json!(m.osystem));
    o.insert("distro_series".into(), json!(m.distro_series));
    o.insert("ephemeral_deploy".into(), json!(false));
    o.insert("error_description".into(), json!(m.error_description));
    // MAAS stops netbooting a machine once it is deployed (it boots from disk from then on).
    o.insert("netboot".into(), json!(m.status != NodeStatus::Deployed));
    o.insert("power_type".into(), json!(m.power_type));
    o.insert("power_state".into(), json!(m.power_state.as_str()));
    o.insert("tag_names".into(), json!(m.tags));
    o.insert("address_ttl".into(), Value::Null);
    o.insert("ip_addresses".into(), json!(m.ip_addresses()));
    o.insert("interface_set".into(), Value::Array(interfaces));
    o.insert("zone".into(), zone_named(&m.zone, catalog));
    o.insert("pool".into(), machine_pool(m, catalog));
    o.insert("disable_ipv4".into(), json!(false));
    o.insert(
        "boot_disk".into(),
        disks.first().cloned().unwrap_or(Value::Null),
    );
    o.insert("blockdevice_set".into(), Value::Array(all_disks));
    o.insert("physicalblockdevice_set".into(), Value::Array(disks));
    o.insert("virtualblockdevice_set".into(), json!([]));
    o.insert("volume_groups".into(), json!([]));
    o.insert("raids".into(), json!([]));
    o.insert("status_action".into(), json!(""));
    o.insert("status_message".into(), json!(m.status_message));
    o.insert("status_name".into(), json!(m.status.label()));
    o.insert("node_type".into(), json!(0));
    o.insert("node_type_name".into(), json!("Machine"));
    o.insert("special_filesystems".into(), json!([]));
    o.insert("parent".into(), Value::Null);
    o.insert("pod".into(), Value::Null);
    o.insert("default_gateways".into(), default_gateways(m, catalog));
    let result_base = stable_number(&m.system_id);
    let has_results = commissioning.0 != SCRIPT_UNKNOWN.0;
    o.insert(
        "current_commissioning_result_id".into(),
        json!(has_results.then_some(result_base)),
    );
    o.insert(
        "current_testing_result_id".into(),
        json!(has_results.then_some(result_base + 1)),
    );
    o.insert(
        "current_installation_result_id".into(),
        json!(
            matches!(m.status, NodeStatus::Deployed | NodeStatus::Deploying)
                .then_some(result_base + 2)
        ),
    );
    insert_status(&mut o, "commissioning_status", commissioning);
    insert_status(&mut o, "testing_status", testing);
    insert_status(&mut o, "cpu_test_status", SCRIPT_UNKNOWN);
    insert_status(&mut o, "memory_test_status", SCRIPT_UNKNOWN);
    insert_status(&mut o, "network_test_status", SCRIPT_UNKNOWN);
    insert_status(&mut o, "storage_test_status", storage_test);
    insert_status(&mut o, "other_test_status", SCRIPT_UNKNOWN);
    insert_status(&mut o, "interface_test_status", SCRIPT_UNKNOWN);
    o.insert("hardware_info".into(), hardware_info(m));
    o.insert("numanode_set".into(), numanode_set(m));
    o.insert("virtualmachine_id".into(), Value::Null);
    o.insert("last_sync".into(), Value::Null);
    o.insert("sync_interval".into(), Value::Null);
    o.insert("next_sync".into(), Value::Null);
    o.insert("enable_hw_sync".into(), json!(false));
    o.insert("enable_kernel_crash_dump".into(), json!(false));
    o.insert("is_dpu".into(), json!(false));
    o.insert(
        "resource_uri".into(),
        json!(format!("{API_PREFIX}/machines/{}/", m.system_id)),
    );
    // What a loaded inventory carried and the simulator does not model goes back out unchanged.
    for (key, value) in &m.passthrough {
        if !DERIVED_MACHINE_FIELDS.contains(&key.as_str()) {
            o.insert(key.clone(), value.clone());
        }
    }
    Value::Object(o)
}

/// A device as `devices/` returns it (MAAS's `DISPLAYED_DEVICE_FIELDS`). Devices belong to no
/// resource pool; `pool` is sent as null because gomaasapi's device schema requires the key.
pub fn device(d: &SimDevice, catalog: &SimCatalog) -> Value {
    let interfaces: Vec<Value> = d
        .nics
        .iter()
        .map(|n| interface(&d.system_id, n, catalog))
        .collect();
    json!({
        "system_id": d.system_id,
        "hostname": d.hostname,
        "description": "",
        "domain": domain_named(&d.domain, catalog),
        "fqdn": d.fqdn(),
        "owner": d.owner,
        "owner_data": {},
        "workload_annotations": {},
        "parent": d.parent,
        "tag_names": [],
        "address_ttl": null,
        "ip_addresses": [],
        "interface_set": interfaces,
        "zone": zone_named(&d.zone, catalog),
        "pool": null,
        "node_type": 1,
        "node_type_name": "Device",
        "resource_uri": format!("{API_PREFIX}/devices/{}/", d.system_id),
    })
}

/// A static route (`static-routes/`), its subnets in full.
pub fn static_route(r: &SimStaticRoute, catalog: &SimCatalog) -> Value {
    let subnet_of = |id: i64| catalog.subnet(id).map_or(Value::Null, subnet);
    json!({
        "id": r.id,
        "source": subnet_of(r.source),
        "destination": subnet_of(r.destination),
        "gateway_ip": r.gateway_ip,
        "metric": r.metric,
        "resource_uri": format!("{API_PREFIX}/static-routes/{}/", r.id),
    })
}

/// A stored file's metadata (`files/` lists these; reading one adds `content`).
pub fn file(f: &StoredFile) -> Value {
    json!({
        "filename": f.filename,
        "anon_resource_uri": format!("{API_PREFIX}/files/?op=get_by_key&key={}", f.key),
        "resource_uri": format!("{API_PREFIX}/files/{}/", oauth_encode(&f.filename)),
    })
}

/// The machine object `op=allocate` returns: a machine plus `constraints_by_type`.
pub fn allocated_machine(m: &SimMachine, catalog: &SimCatalog) -> Value {
    let mut v = machine(m, catalog);
    v["constraints_by_type"] = json!({});
    v
}

/// A subnet object (`subnets/`, and nested in interface links).
pub fn subnet(s: &SimSubnet) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(s.id));
    o.insert("name".into(), json!(s.name));
    o.insert("description".into(), json!(""));
    o.insert("vlan".into(), vlan(&s.vlan));
    o.insert("cidr".into(), json!(s.cidr));
    o.insert("rdns_mode".into(), json!(2));
    o.insert("gateway_ip".into(), json!(s.gateway_ip));
    o.insert("dns_servers".into(), json!(s.dns_servers));
    o.insert("allow_dns".into(), json!(true));
    o.insert("allow_proxy".into(), json!(true));
    o.insert("active_discovery".into(), json!(false));
    o.insert("managed".into(), json!(s.managed));
    o.insert("disabled_boot_architectures".into(), json!([]));
    o.insert("space".into(), json!(s.space));
    o.insert(
        "resource_uri".into(),
        json!(format!("{API_PREFIX}/subnets/{}/", s.id)),
    );
    overlay(&mut o, &s.extra);
    Value::Object(o)
}

/// A VLAN object (nested in interfaces, subnets and fabrics).
pub fn vlan(v: &SimVlan) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "vid": v.vid,
        "mtu": v.mtu,
        "dhcp_on": v.dhcp_on,
        "external_dhcp": null,
        "relay_vlan": null,
        "fabric": v.fabric,
        "fabric_id": v.fabric_id,
        "primary_rack": v.primary_rack,
        "secondary_rack": v.secondary_rack,
        "space": v.space.as_deref().unwrap_or("undefined"),
        "resource_uri": format!("{API_PREFIX}/vlans/{}/", v.id),
    })
}

/// A zone (`zones/`, and a machine's `zone`).
pub fn zone(z: &Zone) -> Value {
    json!({
        "id": z.id,
        "name": z.name,
        "description": z.description,
        "resource_uri": format!("{API_PREFIX}/zones/{}/", z.name),
    })
}

/// A resource pool (`resourcepools/`, and a machine's `pool`). MAAS's detail path is the
/// singular `resourcepool/<id>/`.
pub fn pool(p: &ResourcePool) -> Value {
    let id = p.id.unwrap_or(0);
    json!({
        "id": id,
        "name": p.name,
        "description": p.description,
        "resource_uri": format!("{API_PREFIX}/resourcepool/{id}/"),
    })
}

/// A tag (`tags/`).
pub fn tag(t: &Tag) -> Value {
    json!({
        "name": t.name,
        "definition": t.definition,
        "comment": t.comment,
        "kernel_opts": t.kernel_opts,
        "resource_uri": format!("{API_PREFIX}/tags/{}/", t.name),
    })
}

/// A DNS domain (`domains/`, and a machine's `domain`).
pub fn domain(d: &Domain) -> Value {
    json!({
        "authoritative": d.authoritative,
        "ttl": d.ttl,
        "id": d.id,
        "name": d.name,
        "is_default": d.is_default,
        "resource_record_count": d.resource_record_count,
        "resource_uri": format!("{API_PREFIX}/domains/{}/", d.id),
    })
}

/// A fabric (`fabrics/`) with its VLANs.
pub fn fabric(f: &SimFabric, catalog: &SimCatalog) -> Value {
    let vlans: Vec<Value> = catalog
        .vlans
        .iter()
        .filter(|v| v.fabric_id == f.id)
        .map(vlan)
        .collect();
    json!({
        "id": f.id,
        "name": f.name,
        "class_type": f.class_type,
        "vlans": vlans,
        "resource_uri": format!("{API_PREFIX}/fabrics/{}/", f.id),
    })
}

/// A space (`spaces/`) with its VLANs and subnets.
pub fn space(s: &SimSpace, catalog: &SimCatalog) -> Value {
    let vlans: Vec<Value> = catalog
        .vlans
        .iter()
        .filter(|v| v.space.as_deref() == Some(s.name.as_str()))
        .map(vlan)
        .collect();
    let subnets: Vec<Value> = catalog
        .subnets
        .iter()
        .filter(|sub| sub.space == s.name)
        .map(subnet)
        .collect();
    json!({
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "vlans": vlans,
        "subnets": subnets,
        "resource_uri": format!("{API_PREFIX}/spaces/{}/", s.id),
    })
}

/// A boot resource (`boot-resources/`). Fields the model keeps in `extra` (subarches, title,
/// last_deployed, ...) are rendered as they are.
pub fn boot_resource(b: &BootResource) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(b.id));
    o.insert("type".into(), json!(b.kind));
    o.insert("name".into(), json!(b.name));
    o.insert("architecture".into(), json!(b.architecture));
    o.insert(
        "resource_uri".into(),
        json!(format!("{API_PREFIX}/boot-resources/{}/", b.id)),
    );
    overlay(&mut o, &b.extra);
    Value::Object(o)
}

/// A boot resource as `boot-resources/<id>/` returns it: the listing's fields plus `sets`, the
/// downloaded versions with their files (python-libmaas reads them).
pub fn boot_resource_detail(b: &BootResource) -> Value {
    let mut v = boot_resource(b);
    let digest = |what: &str| -> String {
        let mut h = sha2::Sha256::new();
        sha2::Digest::update(&mut h, format!("{}/{what}", b.name).as_bytes());
        sha2::Digest::finalize(h)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let uploaded = b.kind == "Uploaded";
    let (version, label) = if uploaded {
        ("20240601", "uploaded")
    } else {
        ("20240603", "stable")
    };
    let files: Vec<(&str, &str, u64)> = if uploaded {
        vec![("root-tgz", "root-tgz", 1_073_741_824)]
    } else {
        vec![
            ("squashfs", "squashfs", 287_481_856),
            ("boot-kernel", "boot-kernel", 14_893_448),
            ("boot-initrd", "boot-initrd", 71_302_120),
        ]
    };
    let size: u64 = files.iter().map(|f| f.2).sum();
    let files: Map<String, Value> = files
        .into_iter()
        .map(|(name, kind, bytes)| {
            (
                name.to_string(),
                json!({
                    "filename": name,
                    "filetype": kind,
                    "size": bytes,
                    "sha256": digest(name),
                    "complete": true,
                }),
            )
        })
        .collect();
    v["sets"] = json!({
        version: {
            "version": version,
            "size": size,
            "label": label,
            "complete": true,
            "files": files,
        }
    });
    v
}

/// One interface of a machine or device (`interface_set[]`, `boot_interface`), with its VLAN
/// and links.
pub fn interface(system_id: &str, nic: &SimNic, catalog: &SimCatalog) -> Value {
    let linked = nic.subnet_id.and_then(|id| catalog.subnet(id));
    let nic_vlan = linked
        .map(|s| &s.vlan)
        .or_else(|| nic.vlan_id.and_then(|id| catalog.vlan(id)));
    let mut links = Vec::new();
    if let Some(s) = linked {
        let mut link = Map::new();
        link.insert("id".into(), json!(nic.link_id));
        link.insert("mode".into(), json!(nic.link_mode));
        link.insert("subnet".into(), subnet(s));
        // MAAS omits the key (rather than sending null) while a link has no address.
        if let Some(ip) = &nic.ip_address {
            link.insert("ip_address".into(), json!(ip));
        }
        links.push(Value::Object(link));
    }
    // Extra links come from a loaded file; their subnets are rendered from the catalogue so
    // they are as complete as the first link's.
    for link in &nic.more_links {
        let mut link = link.clone();
        let known = link
            .get("subnet")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_i64)
            .and_then(|id| catalog.subnet(id));
        if let Some(s) = known {
            link["subnet"] = subnet(s);
        }
        links.push(link);
    }

    let mut o = Map::new();
    o.insert("system_id".into(), json!(system_id));
    o.insert("id".into(), json!(nic.id));
    o.insert("name".into(), json!(nic.name));
    o.insert("type".into(), json!("physical"));
    o.insert("vlan".into(), nic_vlan.map(vlan).unwrap_or(Value::Null));
    o.insert("mac_address".into(), json!(nic.mac_address));
    o.insert("parents".into(), json!([]));
    o.insert("children".into(), json!([]));
    o.insert("tags".into(), json!([]));
    o.insert("enabled".into(), json!(true));
    o.insert("links".into(), Value::Array(links));
    o.insert("params".into(), json!(""));
    o.insert("discovered".into(), json!([]));
    o.insert(
        "effective_mtu".into(),
        json!(nic_vlan.map_or(1500, |v| v.mtu)),
    );
    o.insert("vendor".into(), Value::Null);
    o.insert("product".into(), Value::Null);
    o.insert("firmware_version".into(), Value::Null);
    o.insert("link_connected".into(), json!(true));
    o.insert("interface_speed".into(), json!(0));
    o.insert("link_speed".into(), json!(0));
    o.insert("numa_node".into(), json!(0));
    o.insert("sriov_max_vf".into(), json!(0));
    o.insert(
        "resource_uri".into(),
        json!(format!(
            "{API_PREFIX}/nodes/{system_id}/interfaces/{}/",
            nic.id
        )),
    );
    overlay(&mut o, &nic.extra);
    Value::Object(o)
}

/// One physical disk of a machine (`physicalblockdevice_set[]`, `blockdevice_set[]`,
/// `boot_disk`). A generated disk is blank: no partition table, all space available.
pub fn block_device(m: &SimMachine, d: &SimDisk) -> Value {
    let mut o = Map::new();
    o.insert("system_id".into(), json!(m.system_id));
    o.insert("id".into(), json!(d.id));
    o.insert("name".into(), json!(d.name));
    o.insert("uuid".into(), Value::Null);
    o.insert("type".into(), json!("physical"));
    o.insert(
        "path".into(),
        json!(format!("/dev/disk/by-dname/{}", d.name)),
    );
    o.insert("model".into(), json!(d.model));
    o.insert("serial".into(), json!(d.serial));
    o.insert("id_path".into(), json!(id_path(d)));
    o.insert("size".into(), json!(d.size_bytes));
    o.insert("block_size".into(), json!(block_size(d)));
    o.insert("available_size".into(), json!(d.size_bytes));
    o.insert("used_size".into(), json!(0));
    o.insert("used_for".into(), json!("Unused"));
    o.insert("tags".into(), json!(d.tags));
    o.insert("filesystem".into(), Value::Null);
    o.insert("partition_table_type".into(), Value::Null);
    o.insert("partitions".into(), json!([]));
    o.insert("firmware_version".into(), Value::Null);
    o.insert("storage_pool".into(), Value::Null);
    o.insert("numa_node".into(), json!(0));
    o.insert(
        "resource_uri".into(),
        json!(format!(
            "{API_PREFIX}/nodes/{}/blockdevices/{}/",
            m.system_id, d.id
        )),
    );
    overlay(&mut o, &d.extra);
    Value::Object(o)
}

/// The boot disk: MAAS applies its default "flat" storage layout to every machine that finished
/// commissioning, so from Ready on the first disk carries a partition table with a root
/// filesystem (and an EFI system partition on UEFI machines). A loaded disk keeps what its
/// file said.
pub fn boot_disk(m: &SimMachine, d: &SimDisk) -> Value {
    let mut v = block_device(m, d);
    let laid_out = !matches!(m.status, NodeStatus::New | NodeStatus::Commissioning)
        && !d.extra.contains_key("partitions")
        && !d.extra.contains_key("partition_table_type");
    if !laid_out {
        return v;
    }
    const MIB: u64 = 1024 * 1024;
    let uefi = bios_boot_method(m) == "uefi";
    // MAAS keeps 8 MiB at the disk's ends for the partition table and alignment.
    let usable = d.size_bytes.saturating_sub(8 * MIB);
    let mut parts = Vec::new();
    if uefi {
        parts.push((512 * MIB, "fat32", "efi", "/boot/efi", true));
        parts.push((usable.saturating_sub(512 * MIB), "ext4", "root", "/", false));
    } else {
        parts.push((usable, "ext4", "root", "/", false));
    }
    let count = parts.len();
    let partitions: Vec<Value> = parts
        .into_iter()
        .enumerate()
        .map(|(n, (size, fstype, label, mount_point, bootable))| {
            let id = d.id * 100 + n as i64 + 1;
            json!({
                "uuid": uuid_from(&format!("{}/{}/{n}/part", m.system_id, d.id)),
                "size": size,
                "bootable": bootable,
                "tags": [],
                "type": "partition",
                "path": format!("/dev/disk/by-dname/{}-part{}", d.name, n + 1),
                "system_id": m.system_id,
                "device_id": d.id,
                "id": id,
                "filesystem": {
                    "fstype": fstype,
                    "label": label,
                    "uuid": uuid_from(&format!("{}/{}/{n}/fs", m.system_id, d.id)),
                    "mount_point": mount_point,
                    "mount_options": null,
                },
                "used_for": format!("{fstype} formatted filesystem mounted at {mount_point}"),
                "resource_uri": format!("{API_PREFIX}/nodes/{}/blockdevices/{}/partition/{id}", m.system_id, d.id),
            })
        })
        .collect();
    let table = if uefi { "GPT" } else { "MBR" };
    v["partition_table_type"] = json!(table);
    v["partitions"] = Value::Array(partitions);
    v["used_for"] = json!(format!(
        "{table} partitioned with {count} partition{}",
        if count == 1 { "" } else { "s" }
    ));
    v["available_size"] = json!(0);
    v["used_size"] = json!(d.size_bytes.saturating_sub(3 * MIB));
    v
}

/// `hardware_info`: every key MAAS reports, "Unknown" where the model has nothing.
pub fn hardware_info(m: &SimMachine) -> Value {
    let mut o = Map::new();
    for key in HARDWARE_INFO_KEYS {
        let value = m.hardware_info.get(*key).map_or("Unknown", String::as_str);
        o.insert((*key).to_string(), json!(value));
    }
    for (key, value) in &m.hardware_info {
        o.entry(key.clone()).or_insert_with(|| json!(value));
    }
    Value::Object(o)
}

/// `numanode_set`: cores and memory split evenly over the sockets a machine of this size has
/// (two from 32 cores up, as on the dual-socket servers such machines are).
pub fn numanode_set(m: &SimMachine) -> Value {
    let nodes: u32 = if m.cpu_count >= 32 && m.cpu_count.is_multiple_of(2) {
        2
    } else {
        1
    };
    let per_node = m.cpu_count / nodes;
    let memory = m.memory_mib / u64::from(nodes);
    let set: Vec<Value> = (0..nodes)
        .map(|index| {
            let cores: Vec<u32> = (index * per_node..(index + 1) * per_node).collect();
            json!({"index": index, "cores": cores, "memory": memory, "hugepages_set": []})
        })
        .collect();
    Value::Array(set)
}

/// MAAS's event timestamp format: "Fri, 07 Dec. 2018 20:11:08".
pub fn event_time(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b. %Y %H:%M:%S").to_string()
}

/// MAAS's IP-address `created` format (no zone): "2018-12-14T20:01:45.856".
pub fn ip_created_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

/// Script-result status (MAAS's `SCRIPT_STATUS`): code and display name.
type ScriptStatus = (i64, &'static str);
const SCRIPT_UNKNOWN: ScriptStatus = (-1, "Unknown");
const SCRIPT_PENDING: ScriptStatus = (0, "Pending");
const SCRIPT_RUNNING: ScriptStatus = (1, "Running");
const SCRIPT_PASSED: ScriptStatus = (2, "Passed");
const SCRIPT_FAILED: ScriptStatus = (3, "Failed");

/// Commissioning, testing and storage-test statuses consistent with a machine's node status: a
/// new machine has no results, one being commissioned is running them, every machine that got
/// past commissioning passed (smartctl-validate is the storage test MAAS runs by default).
fn script_statuses(status: NodeStatus) -> (ScriptStatus, ScriptStatus, ScriptStatus) {
    use NodeStatus::*;
    match status {
        New => (SCRIPT_UNKNOWN, SCRIPT_UNKNOWN, SCRIPT_UNKNOWN),
        Commissioning => (SCRIPT_RUNNING, SCRIPT_PENDING, SCRIPT_PENDING),
        FailedCommissioning => (SCRIPT_FAILED, SCRIPT_UNKNOWN, SCRIPT_UNKNOWN),
        Testing => (SCRIPT_PASSED, SCRIPT_RUNNING, SCRIPT_RUNNING),
        FailedTesting => (SCRIPT_PASSED, SCRIPT_FAILED, SCRIPT_FAILED),
        _ => (SCRIPT_PASSED, SCRIPT_PASSED, SCRIPT_PASSED),
    }
}

fn insert_status(o: &mut Map<String, Value>, key: &str, (code, name): ScriptStatus) {
    o.insert(key.to_string(), json!(code));
    o.insert(format!("{key}_name"), json!(name));
}

/// A node's `zone`: the catalogue's zone of that name, or a bare one (a loaded inventory may
/// name zones its catalogue lacks).
fn zone_named(name: &str, catalog: &SimCatalog) -> Value {
    match catalog.zone(name) {
        Some(z) => zone(z),
        None => zone(&Zone {
            id: None,
            name: name.to_string(),
            description: String::new(),
            resource_uri: String::new(),
        }),
    }
}

fn machine_pool(m: &SimMachine, catalog: &SimCatalog) -> Value {
    match catalog.pool(&m.pool) {
        Some(p) => pool(p),
        None => json!({
            "id": null,
            "name": m.pool,
            "description": "",
            "resource_uri": format!("{API_PREFIX}/resourcepool/{}/", m.pool),
        }),
    }
}

fn domain_named(name: &str, catalog: &SimCatalog) -> Value {
    match catalog.domain(name) {
        Some(d) => domain(d),
        None => domain(&Domain {
            id: 0,
            name: name.to_string(),
            ttl: None,
            authoritative: true,
            is_default: false,
            resource_record_count: 0,
            resource_uri: String::new(),
        }),
    }
}

/// Where the machine's default route goes: the gateway of the boot interface's subnet.
fn default_gateways(m: &SimMachine, catalog: &SimCatalog) -> Value {
    let gateway = m
        .boot_nic()
        .and_then(|n| n.subnet_id)
        .and_then(|id| catalog.subnet(id))
        .and_then(|s| s.gateway_ip.clone());
    json!({
        "ipv4": {"gateway_ip": gateway, "link_id": null},
        "ipv6": {"gateway_ip": null, "link_id": null},
    })
}

/// Virtual machines PXE-boot in legacy BIOS mode; current servers boot UEFI.
fn bios_boot_method(m: &SimMachine) -> &'static str {
    match m.power_type.as_str() {
        "virsh" | "lxd" => "pxe",
        _ => "uefi",
    }
}

/// A stable SMBIOS-style UUID for a machine: the same system_id always gets the same one.
fn hardware_uuid(system_id: &str) -> String {
    uuid_from(system_id)
}

/// A UUID-formatted digest of `seed`: stable identifiers for things MAAS gives UUIDs.
pub(crate) fn uuid_from(seed: &str) -> String {
    let d = Sha1::digest(seed.as_bytes());
    let h: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A stable positive number derived from a string (FNV-1a), for ids MAAS keeps elsewhere.
fn stable_number(s: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    1000 + (h % 900_000) as i64
}

/// The udev by-id path MAAS records: bus prefix, model with underscores, serial.
fn id_path(d: &SimDisk) -> String {
    let model = d.model.replace(' ', "_");
    if d.name.starts_with("nvme") {
        format!("/dev/disk/by-id/nvme-{model}_{}", d.serial)
    } else {
        format!("/dev/disk/by-id/ata-{model}_{}", d.serial)
    }
}

/// Large spinning disks have 4 KiB sectors; SSDs and NVMe report 512-byte logical blocks.
fn block_size(d: &SimDisk) -> u64 {
    if d.tags.iter().any(|t| t == "rotary") {
        4096
    } else {
        512
    }
}

fn overlay(o: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        o.insert(key.clone(), value.clone());
    }
}
