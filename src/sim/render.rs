//! The simulator's JSON, shaped exactly as MAAS emits it (field names, types, nesting), so that
//! python-libmaas, gomaasapi and kubemaas's own client parse it unchanged.
//!
//! SEAM (filled in by the sim-data work): signatures are fixed; bodies are minimal.

use super::model::{SimCatalog, SimMachine, SimSubnet};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// A machine object as `GET machines/` and `GET machines/<id>/` return it.
pub fn machine(m: &SimMachine, catalog: &SimCatalog) -> Value {
    let _ = catalog;
    json!({
        "system_id": m.system_id,
        "hostname": m.hostname,
        "fqdn": m.fqdn(),
        "status": m.status.code(),
        "status_name": m.status.label(),
        "status_message": m.status_message,
        "cpu_count": m.cpu_count,
        "memory": m.memory_mib,
        "storage": m.storage_mb(),
        "zone": {"name": m.zone, "description": "", "resource_uri": format!("/MAAS/api/2.0/zones/{}/", m.zone)},
        "pool": {"name": m.pool, "description": "", "resource_uri": format!("/MAAS/api/2.0/resourcepool/{}/", m.pool)},
        "tag_names": m.tags,
        "power_state": m.power_state.as_str(),
        "owner": m.owner,
        "owner_data": m.owner_data,
        "osystem": m.osystem,
        "distro_series": m.distro_series,
        "resource_uri": format!("/MAAS/api/2.0/machines/{}/", m.system_id),
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
    json!({"id": s.id, "name": s.name, "cidr": s.cidr})
}

/// MAAS's event timestamp format: "Fri, 07 Dec. 2018 20:11:08".
pub fn event_time(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b. %Y %H:%M:%S").to_string()
}

/// MAAS's IP-address `created` format (no zone): "2018-12-14T20:01:45.856".
pub fn ip_created_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}
