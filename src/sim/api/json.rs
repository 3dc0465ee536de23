//! JSON for the resources whose shape the simulator owns (users, events, IP reservations,
//! DNS resources, fabrics, spaces, VLANs); machines and subnets come from `sim::render`.

use crate::sim::auth::SimUser;
use crate::sim::model::SimSubnet;
use crate::sim::render;
use crate::sim::state::{DnsRecord, IpReservation, Region, SimEvent};
use serde_json::{json, Value};

pub const API: &str = "/MAAS/api/2.0";

/// A machine as MAAS renders it, plus what only the simulator's bookkeeping knows.
pub fn machine(region: &Region, idx: usize) -> Value {
    let m = &region.machines[idx];
    let mut v = render::machine(m, &region.catalog);
    if let (Some(swap), Some(obj)) = (region.swap_size(&m.system_id), v.as_object_mut()) {
        obj.insert("swap_size".into(), json!(swap));
    }
    v
}

pub fn user(u: &SimUser) -> Value {
    json!({
        "username": u.username,
        "email": u.email,
        "is_superuser": u.is_superuser,
        "is_local": true,
        "resource_uri": format!("{API}/users/{}/", u.username),
    })
}

pub fn event(e: &SimEvent) -> Value {
    json!({
        "username": e.username.clone().unwrap_or_default(),
        "node": e.node,
        "hostname": e.hostname,
        "id": e.id,
        "level": e.level.as_str(),
        "created": render::event_time(e.created),
        "type": e.kind,
        "description": e.description,
    })
}

pub fn ip_reservation(region: &Region, r: &IpReservation) -> Value {
    let owner = region.user(&r.owner).map(user).unwrap_or(Value::Null);
    let subnet = region
        .catalog
        .subnets
        .iter()
        .find(|s| s.id == r.subnet_id)
        .map(render::subnet)
        .unwrap_or(Value::Null);
    json!({
        "alloc_type": 4,
        "alloc_type_name": "User reserved",
        "created": render::ip_created_time(r.created),
        "ip": r.ip,
        "owner": owner,
        "subnet": subnet,
        "interface_set": [],
        "resource_uri": format!("{API}/ipaddresses/"),
    })
}

pub fn dns(r: &DnsRecord) -> Value {
    json!({
        "id": r.id,
        "fqdn": r.fqdn(),
        "address_ttl": r.address_ttl,
        "ip_addresses": r.ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "resource_records": [],
        "resource_uri": format!("{API}/dnsresources/{}/", r.id),
    })
}

/// Fabric names in first-seen subnet order; a fabric's id is its 0-based position.
pub fn fabric_names(subnets: &[SimSubnet]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in subnets {
        if !out.contains(&s.fabric) {
            out.push(s.fabric.clone());
        }
    }
    out
}

pub fn vlan(s: &SimSubnet, subnets: &[SimSubnet]) -> Value {
    let fabric_id = fabric_names(subnets)
        .iter()
        .position(|f| *f == s.fabric)
        .unwrap_or(0);
    json!({
        "id": s.vlan_id,
        "vid": s.vid,
        "name": if s.vid == 0 { "untagged".to_string() } else { s.vid.to_string() },
        "fabric": s.fabric,
        "fabric_id": fabric_id,
        "mtu": 1500,
        "dhcp_on": s.managed,
        "external_dhcp": null,
        "primary_rack": null,
        "secondary_rack": null,
        "relay_vlan": null,
        "space": s.space,
        "resource_uri": format!("{API}/vlans/{}/", s.vlan_id),
    })
}

pub fn fabrics(subnets: &[SimSubnet]) -> Value {
    fabric_names(subnets)
        .iter()
        .enumerate()
        .map(|(id, name)| {
            let mut vlans: Vec<Value> = Vec::new();
            for s in subnets.iter().filter(|s| &s.fabric == name) {
                let v = vlan(s, subnets);
                if !vlans.iter().any(|x| x["id"] == v["id"]) {
                    vlans.push(v);
                }
            }
            json!({
                "id": id,
                "name": name,
                "class_type": null,
                "vlans": vlans,
                "resource_uri": format!("{API}/fabrics/{id}/"),
            })
        })
        .collect()
}

pub fn spaces(subnets: &[SimSubnet]) -> Value {
    let mut names: Vec<&str> = Vec::new();
    for s in subnets {
        if !names.contains(&s.space.as_str()) {
            names.push(&s.space);
        }
    }
    names
        .iter()
        .enumerate()
        .map(|(id, name)| {
            let members: Vec<&SimSubnet> = subnets.iter().filter(|s| s.space == *name).collect();
            json!({
                "id": id,
                "name": name,
                "subnets": members.iter().map(|s| render::subnet(s)).collect::<Vec<_>>(),
                "vlans": members.iter().map(|s| vlan(s, subnets)).collect::<Vec<_>>(),
                "resource_uri": format!("{API}/spaces/{id}/"),
            })
        })
        .collect()
}
