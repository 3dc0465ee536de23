//! `machines/` and `machines/{system_id}/`.

use super::json;
use super::Ctx;
use crate::sim::render;
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::Region;
use serde_json::{json, Value};

/// Anonymous `GET machines/?op=is_registered&mac_address=…`.
pub fn is_registered(region: &Region, ctx: &Ctx) -> ApiResult {
    let mac = ctx
        .params
        .get_nonempty("mac_address")
        .ok_or_else(|| ApiError::field("mac_address", "This field is required."))?;
    let found = region.machines.iter().any(|m| {
        m.nics
            .iter()
            .any(|n| n.mac_address.eq_ignore_ascii_case(mac))
    });
    Ok(Reply::Json(json!(found)))
}

pub fn collection(region: &mut Region, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => {
            let list = region.list_machines(&actor, &ctx.params)?;
            Ok(Reply::Json(Value::Array(
                list.into_iter().map(|i| json::machine(region, i)).collect(),
            )))
        }
        ("GET", Some("list_allocated")) => Ok(Reply::Json(Value::Array(
            (0..region.machines.len())
                .filter(|i| {
                    let m = &region.machines[*i];
                    m.owner.as_deref() == Some(actor.username.as_str()) && m.status.is_owned()
                })
                .map(|i| json::machine(region, i))
                .collect(),
        ))),
        ("GET", Some("is_registered")) => is_registered(region, ctx),
        ("POST", Some("allocate")) => {
            let (idx, by_type) = region.allocate(&actor, &ctx.params)?;
            let mut v = render::allocated_machine(&region.machines[idx], &region.catalog);
            if let Some(swap) = region.swap_size(&region.machines[idx].system_id) {
                v["swap_size"] = json!(swap);
            }
            v["constraints_by_type"] = by_type;
            Ok(Reply::Json(v))
        }
        ("POST", Some("release")) => Ok(Reply::Json(region.release_many(&actor, &ctx.params)?)),
        _ => Err(ctx.unrecognised()),
    }
}

pub fn instance(region: &mut Region, system_id: &str, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    let p = &ctx.params;
    let idx = match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => region.find_visible(system_id, &actor)?,
        ("GET", Some("query_power_state")) => {
            let idx = region.find_visible(system_id, &actor)?;
            return Ok(Reply::Json(
                json!({"state": region.machines[idx].power_state.as_str()}),
            ));
        }
        ("PUT", None) => region.update_machine(system_id, &actor, p)?,
        ("DELETE", None) => {
            region.delete_machine(system_id, &actor)?;
            return Ok(Reply::NoContent);
        }
        ("POST", Some("deploy")) => region.deploy(system_id, &actor, p)?,
        ("POST", Some("release")) => region.release(system_id, &actor, p)?,
        ("POST", Some("abort")) => region.abort(system_id, &actor, p)?,
        ("POST", Some("power_on")) => region.set_power(system_id, &actor, true)?,
        ("POST", Some("power_off")) => region.set_power(system_id, &actor, false)?,
        ("POST", Some("set_owner_data")) | ("POST", Some("set_workload_annotations")) => {
            region.set_owner_data(system_id, &actor, p)?
        }
        ("POST", Some("mark_broken")) => region.mark_broken(system_id, &actor, p)?,
        ("POST", Some("mark_fixed")) => region.mark_fixed(system_id, &actor, p)?,
        ("POST", Some("lock")) => region.set_lock(system_id, &actor, true)?,
        ("POST", Some("unlock")) => region.set_lock(system_id, &actor, false)?,
        _ => {
            // MAAS resolves the machine before the signature only for known ops; an unknown op
            // on an unknown machine is still "Unrecognised signature".
            return Err(ctx.unrecognised());
        }
    };
    Ok(Reply::Json(json::machine(region, idx)))
}
