//! A node's parts, each at its own `resource_uri`: `nodes/{system_id}/interfaces/{id}/`,
//! `nodes/{system_id}/blockdevices/{id}/` and `…/partition/{id}`. "Node" covers machines and
//! devices alike, as in MAAS; only reads are simulated.

use super::{Ctx, Resource, Route};
use crate::sim::model::SimNic;
use crate::sim::render;
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::Region;
use serde_json::Value;

pub fn dispatch(region: &Region, route: &Route, ctx: &Ctx) -> ApiResult {
    if !ctx.is("GET", None) {
        return Err(ctx.unrecognised());
    }
    let actor = ctx.actor()?;
    let system_id = route.arg().unwrap_or_default();
    let id = |n: usize, what: &str| -> Result<i64, ApiError> {
        route
            .args
            .get(n)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ApiError::NotFound(format!("No {what} matches the given query.")))
    };
    match route.resource {
        Resource::NodeInterface => {
            let wanted = id(1, "Interface")?;
            let not_found = || ApiError::NotFound("No Interface matches the given query.".into());
            let find = |nics: &[SimNic]| nics.iter().find(|n| n.id == wanted).cloned();
            let nic = match region.find_visible(system_id, actor) {
                Ok(idx) => find(&region.machines[idx].nics),
                Err(_) => {
                    let idx = region
                        .find_device(system_id, actor)
                        .map_err(|_| not_found())?;
                    find(&region.devices[idx].nics)
                }
            }
            .ok_or_else(not_found)?;
            Ok(Reply::Json(render::interface(
                system_id,
                &nic,
                &region.catalog,
            )))
        }
        Resource::NodeBlockDevice => {
            let disk = block_device(region, ctx, system_id, id(1, "BlockDevice")?)?;
            Ok(Reply::Json(disk))
        }
        Resource::NodePartition => {
            let disk = block_device(region, ctx, system_id, id(1, "BlockDevice")?)?;
            let wanted = id(2, "Partition")?;
            disk["partitions"]
                .as_array()
                .and_then(|parts| parts.iter().find(|p| p["id"].as_i64() == Some(wanted)))
                .cloned()
                .map(Reply::Json)
                .ok_or_else(|| ApiError::NotFound("No Partition matches the given query.".into()))
        }
        _ => Err(ctx.unrecognised()),
    }
}

/// A machine's disk rendered exactly as in the machine's `blockdevice_set` (the boot disk with
/// its layout), so the two can never disagree.
fn block_device(
    region: &Region,
    ctx: &Ctx,
    system_id: &str,
    wanted: i64,
) -> Result<Value, ApiError> {
    let idx = region.find_visible(system_id, ctx.actor()?)?;
    let machine = render::machine(&region.machines[idx], &region.catalog);
    machine["blockdevice_set"]
        .as_array()
        .and_then(|disks| disks.iter().find(|d| d["id"].as_i64() == Some(wanted)))
        .cloned()
        .ok_or_else(|| ApiError::NotFound("No BlockDevice matches the given query.".into()))
}
