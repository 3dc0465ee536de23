//! `devices/` and `devices/{system_id}/`: list (filtered as machines are), create (a plain
//! POST, gomaasapi sends `op=` empty), read, delete.

use super::Ctx;
use crate::sim::devices::NewDevice;
use crate::sim::render;
use crate::sim::reply::{ApiResult, Reply};
use crate::sim::state::Region;
use serde_json::Value;

pub fn collection(region: &mut Region, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    let p = &ctx.params;
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => {
            let (hostnames, macs, ids) = (p.list("hostname"), p.list("mac_address"), p.list("id"));
            let matches = |wanted: &[String], value: &str| {
                wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(value))
            };
            let list: Vec<Value> = region
                .visible_devices(&actor)
                .filter(|d| matches(&hostnames, &d.hostname) && matches(&ids, &d.system_id))
                .filter(|d| {
                    macs.is_empty() || d.nics.iter().any(|n| matches(&macs, &n.mac_address))
                })
                .filter(|d| p.get_nonempty("domain").is_none_or(|x| d.domain == x))
                .filter(|d| p.get_nonempty("zone").is_none_or(|x| d.zone == x))
                .map(|d| render::device(d, &region.catalog))
                .collect();
            Ok(Reply::Json(Value::Array(list)))
        }
        ("POST", None) => {
            let new = NewDevice {
                hostname: p.get_nonempty("hostname").map(str::to_string),
                domain: p.get_nonempty("domain").map(str::to_string),
                mac_addresses: p.list("mac_addresses"),
                parent: p.get_nonempty("parent").map(str::to_string),
            };
            let idx = region.create_device(&actor, new)?;
            Ok(Reply::Json(render::device(
                &region.devices[idx],
                &region.catalog,
            )))
        }
        _ => Err(ctx.unrecognised()),
    }
}

pub fn instance(region: &mut Region, system_id: &str, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => {
            let idx = region.find_device(system_id, &actor)?;
            Ok(Reply::Json(render::device(
                &region.devices[idx],
                &region.catalog,
            )))
        }
        ("DELETE", None) => {
            region.delete_device(system_id, &actor)?;
            Ok(Reply::NoContent)
        }
        _ => Err(ctx.unrecognised()),
    }
}
