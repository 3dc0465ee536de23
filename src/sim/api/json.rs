//! JSON for the resources whose shape the simulator owns (users, events, IP reservations,
//! DNS resources, fabrics, spaces, VLANs); machines and subnets come from `sim::render`.

use crate::sim::auth::SimUser;
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
