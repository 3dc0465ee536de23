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
    render_machine(m, region.swap_size(&m.system_id), &region.catalog)
}

/// A machine as MAAS renders it, with the swap size only the simulator's books hold.
pub fn render_machine(
    m: &crate::sim::model::SimMachine,
    swap_size: Option<u64>,
    catalog: &crate::sim::model::SimCatalog,
) -> Value {
    let mut v = render::machine(m, catalog);
    if let (Some(swap), Some(obj)) = (swap_size, v.as_object_mut()) {
        obj.insert("swap_size".into(), json!(swap));
    }
    v
}

/// The machines at `indices`, copied out for rendering once the region lock is released.
pub fn machine_list(
    region: &Region,
    indices: impl IntoIterator<Item = usize>,
) -> crate::sim::reply::MachineList {
    crate::sim::reply::MachineList {
        machines: indices
            .into_iter()
            .map(|i| {
                let m = &region.machines[i];
                (m.clone(), region.swap_size(&m.system_id))
            })
            .collect(),
        catalog: region.catalog.clone(),
    }
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
