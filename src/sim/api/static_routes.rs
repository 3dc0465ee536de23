//! `static-routes/` and `static-routes/{id}/`: list, create (administrators), read, delete.

use super::Ctx;
use crate::sim::render;
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::{Region, SimStaticRoute};
use serde_json::Value;

fn not_found() -> ApiError {
    ApiError::NotFound("No StaticRoute matches the given query.".into())
}

pub fn collection(region: &mut Region, ctx: &Ctx) -> ApiResult {
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => Ok(Reply::Json(Value::Array(
            region
                .static_routes
                .iter()
                .map(|r| render::static_route(r, &region.catalog))
                .collect(),
        ))),
        ("POST", None) => {
            if !ctx.actor()?.admin {
                return Err(ApiError::Forbidden(
                    "You don't have permission to create static routes: this needs an administrator's API key.".into(),
                ));
            }
            let subnet = |key: &str| -> Result<i64, ApiError> {
                let spec = ctx
                    .params
                    .get_nonempty(key)
                    .ok_or_else(|| ApiError::field(key, "This field is required."))?;
                region.find_subnet(spec).map(|s| s.id).ok_or_else(|| {
                    ApiError::field(
                        key,
                        "Select a valid choice. That choice is not one of the available choices.",
                    )
                })
            };
            let (source, destination) = (subnet("source")?, subnet("destination")?);
            let gateway_ip = ctx
                .params
                .get_nonempty("gateway_ip")
                .ok_or_else(|| ApiError::field("gateway_ip", "This field is required."))?
                .to_string();
            let metric = match ctx.params.get_nonempty("metric") {
                None => 0,
                Some(m) => m
                    .parse()
                    .map_err(|_| ApiError::field("metric", "Enter a whole number."))?,
            };
            let id = region.fresh_id();
            let route = SimStaticRoute {
                id,
                source,
                destination,
                gateway_ip,
                metric,
            };
            let v = render::static_route(&route, &region.catalog);
            region.static_routes.push(route);
            Ok(Reply::Json(v))
        }
        _ => Err(ctx.unrecognised()),
    }
}

pub fn instance(region: &mut Region, id: &str, ctx: &Ctx) -> ApiResult {
    let idx = region
        .static_routes
        .iter()
        .position(|r| r.id.to_string() == id)
        .ok_or_else(not_found)?;
    match (ctx.method.as_str(), ctx.op.as_deref()) {
        ("GET", None) => Ok(Reply::Json(render::static_route(
            &region.static_routes[idx],
            &region.catalog,
        ))),
        ("DELETE", None) => {
            if !ctx.actor()?.admin {
                return Err(ApiError::Forbidden(
                    "You don't have permission to delete static routes: this needs an administrator's API key.".into(),
                ));
            }
            region.static_routes.remove(idx);
            Ok(Reply::NoContent)
        }
        _ => Err(ctx.unrecognised()),
    }
}
