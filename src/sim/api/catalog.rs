//! The region's catalogues: zones, resource pools, tags, domains, subnets, fabrics, spaces and
//! boot resources.

use super::json::{self, API};
use super::{Ctx, Resource};
use crate::maas::{Domain, Tag, Zone};
use crate::sim::render;
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::{visible, Region};
use serde_json::{json, Value};

fn domain_json(d: &Domain, region: &Region) -> Value {
    let mut v = render::domain(d);
    // The count depends on the records created through the API since start.
    let records = region.dns.iter().filter(|r| r.domain == d.name).count() as u64;
    v["resource_record_count"] = json!(d.resource_record_count + records);
    v
}

fn admin_only(ctx: &Ctx, what: &str) -> Result<(), ApiError> {
    if ctx.actor()?.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "You don't have permission to {what}: this needs an administrator's API key."
        )))
    }
}

pub fn dispatch(region: &mut Region, resource: Resource, arg: &str, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    let cat = &region.catalog;
    let list = |items: Vec<Value>| Ok(Reply::Json(Value::Array(items)));
    match (resource, ctx.method.as_str(), ctx.op.as_deref()) {
        (Resource::Zones, "GET", None) => list(cat.zones.iter().map(render::zone).collect()),
        (Resource::Zones, "POST", None) => {
            admin_only(ctx, "create zones")?;
            let name = ctx
                .params
                .get_nonempty("name")
                .ok_or_else(|| ApiError::field("name", "This field is required."))?
                .to_string();
            if cat.zones.iter().any(|z| z.name == name) {
                return Err(ApiError::field(
                    "name",
                    "Zone with this Name already exists.",
                ));
            }
            let id = cat.zones.iter().filter_map(|z| z.id).max().unwrap_or(0) + 1;
            let zone = Zone {
                id: Some(id),
                name: name.clone(),
                description: ctx
                    .params
                    .get("description")
                    .unwrap_or_default()
                    .to_string(),
                resource_uri: format!("{API}/zones/{name}/"),
            };
            let v = render::zone(&zone);
            region.catalog.zones.push(zone);
            Ok(Reply::Json(v))
        }
        (Resource::Zone, "GET", None) => cat
            .zones
            .iter()
            .find(|z| z.name == arg)
            .map(|z| Reply::Json(render::zone(z)))
            .ok_or_else(|| ApiError::NotFound("No Zone matches the given query.".into())),
        (Resource::Pools, "GET", None) => list(cat.pools.iter().map(render::pool).collect()),
        (Resource::Pool, "GET", None) => cat
            .pools
            .iter()
            .find(|p| p.name == arg || p.id.is_some_and(|id| id.to_string() == arg))
            .map(|p| Reply::Json(render::pool(p)))
            .ok_or_else(|| ApiError::NotFound("No ResourcePool matches the given query.".into())),
        (Resource::Tags, "GET", None) => list(cat.tags.iter().map(render::tag).collect()),
        (Resource::Tags, "POST", None) => {
            admin_only(ctx, "create tags")?;
            let name = ctx
                .params
                .get_nonempty("name")
                .ok_or_else(|| ApiError::field("name", "This field is required."))?
                .to_string();
            if cat.tags.iter().any(|t| t.name == name) {
                return Err(ApiError::field(
                    "name",
                    "Tag with this Name already exists.",
                ));
            }
            let tag = Tag {
                name: name.clone(),
                definition: ctx.params.get("definition").unwrap_or_default().to_string(),
                comment: ctx.params.get("comment").unwrap_or_default().to_string(),
                kernel_opts: ctx
                    .params
                    .get("kernel_opts")
                    .unwrap_or_default()
                    .to_string(),
                resource_uri: format!("{API}/tags/{name}/"),
            };
            let v = render::tag(&tag);
            region.catalog.tags.push(tag);
            Ok(Reply::Json(v))
        }
        (Resource::Tag, method, op) => {
            let tag = cat
                .tags
                .iter()
                .find(|t| t.name == arg)
                .cloned()
                .ok_or_else(|| ApiError::NotFound("No Tag matches the given query.".into()))?;
            match (method, op) {
                ("GET", None) => Ok(Reply::Json(render::tag(&tag))),
                ("GET", Some("machines")) => list(
                    (0..region.machines.len())
                        .filter(|i| {
                            let m = &region.machines[*i];
                            m.tags.contains(&tag.name) && visible(m, &actor)
                        })
                        .map(|i| json::machine(region, i))
                        .collect(),
                ),
                ("POST", Some("update_nodes")) => {
                    if !actor.admin {
                        return Err(ApiError::Forbidden(
                            "Must be a superuser or supply a rack_controller".into(),
                        ));
                    }
                    if !tag.definition.trim().is_empty() {
                        return Err(ApiError::Conflict(format!(
                            "Definition supplied '{}' doesn't match current definition ''",
                            tag.definition
                        )));
                    }
                    let add = ctx.params.list("add");
                    let remove = ctx.params.list("remove");
                    let (mut added, mut removed) = (0, 0);
                    for m in region.machines.iter_mut() {
                        if add.contains(&m.system_id) && !m.tags.contains(&tag.name) {
                            m.tags.push(tag.name.clone());
                            added += 1;
                        }
                        if remove.contains(&m.system_id) && m.tags.contains(&tag.name) {
                            m.tags.retain(|t| *t != tag.name);
                            removed += 1;
                        }
                    }
                    Ok(Reply::Json(json!({"added": added, "removed": removed})))
                }
                _ => Err(ctx.unrecognised()),
            }
        }
        (Resource::Domains, "GET", None) => {
            list(cat.domains.iter().map(|d| domain_json(d, region)).collect())
        }
        (Resource::Domain, "GET", None) => cat
            .domains
            .iter()
            .find(|d| d.id.to_string() == arg || d.name == arg)
            .map(|d| Reply::Json(domain_json(d, region)))
            .ok_or_else(|| ApiError::NotFound("No Domain matches the given query.".into())),
        (Resource::Subnets, "GET", None) => list(cat.subnets.iter().map(render::subnet).collect()),
        (Resource::Subnet, method, op) => {
            let subnet = region
                .find_subnet(arg)
                .cloned()
                .ok_or_else(|| ApiError::NotFound("No Subnet matches the given query.".into()))?;
            match (method, op) {
                ("GET", None) => Ok(Reply::Json(render::subnet(&subnet))),
                ("GET", Some("unreserved_ip_ranges")) => list(
                    region
                        .free_ranges(&subnet)
                        .iter()
                        .map(|r| {
                            json!({"start": r.start.to_string(), "end": r.end.to_string(), "num_addresses": u64::try_from(r.num_addresses).unwrap_or(u64::MAX)})
                        })
                        .collect(),
                ),
                ("GET", Some("reserved_ip_ranges")) => list(
                    region
                        .used_in(&subnet)
                        .iter()
                        .map(|ip| {
                            json!({"start": ip.to_string(), "end": ip.to_string(), "num_addresses": 1, "purpose": ["assigned-ip"]})
                        })
                        .collect(),
                ),
                _ => Err(ctx.unrecognised()),
            }
        }
        (Resource::Fabrics, "GET", None) => {
            list(cat.fabrics.iter().map(|f| render::fabric(f, cat)).collect())
        }
        (Resource::Spaces, "GET", None) => {
            list(cat.spaces.iter().map(|sp| render::space(sp, cat)).collect())
        }
        (Resource::Vlan, "GET", None) => arg
            .parse()
            .ok()
            .and_then(|id| cat.vlan(id))
            .map(|v| Reply::Json(render::vlan(v)))
            .ok_or_else(|| ApiError::NotFound("No VLAN matches the given query.".into())),
        (Resource::Fabric, "GET", None) => cat
            .fabrics
            .iter()
            .find(|f| f.id.to_string() == arg || f.name == arg)
            .map(|f| Reply::Json(render::fabric(f, cat)))
            .ok_or_else(|| ApiError::NotFound("No Fabric matches the given query.".into())),
        (Resource::Space, "GET", None) => cat
            .spaces
            .iter()
            .find(|sp| sp.id.to_string() == arg || sp.name == arg)
            .map(|sp| Reply::Json(render::space(sp, cat)))
            .ok_or_else(|| ApiError::NotFound("No Space matches the given query.".into())),
        (Resource::BootResources, "GET", None) => list(
            cat.boot_resources
                .iter()
                .map(render::boot_resource)
                .collect(),
        ),
        (Resource::BootResource, "GET", None) => cat
            .boot_resources
            .iter()
            .find(|b| b.id.to_string() == arg)
            .map(|b| Reply::Json(render::boot_resource_detail(b)))
            .ok_or_else(|| ApiError::NotFound("No BootResource matches the given query.".into())),
        _ => Err(ctx.unrecognised()),
    }
}
