//! `version/`, `describe/`, `users/`, `users/{username}/`, `account/`, `maas/`.

use super::json;
use super::{Ctx, Resource};
use crate::maas::ApiKey;
use crate::sim::describe;
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::Region;
use serde_json::{json, Value};

/// The MAAS version the simulator reports.
pub const MAAS_VERSION: &str = "3.5.4";

/// `version/` and `describe/`, which need no credentials.
pub fn meta(resource: Resource, ctx: &Ctx) -> ApiResult {
    if ctx.method != "GET" || ctx.op.is_some() {
        return Err(ctx.unrecognised());
    }
    match resource {
        Resource::Version => Ok(Reply::Json(json!({
            "capabilities": [
                "networks-management",
                "static-ipaddresses",
                "ipv6-deployment-ubuntu",
                "devices-management",
                "storage-deployment-ubuntu",
                "network-deployment-ubuntu",
                "bridging-interface-ubuntu",
                "bridging-automatic-ubuntu",
                "authenticate-api",
                // Not a MAAS capability: tells kubemaas's engine it may ask the control API
                // (`/_sim/k8s/`) about cluster readiness instead of the nodes themselves.
                "kubemaas-simulator"
            ],
            "version": MAAS_VERSION,
            "subversion": "",
        }))),
        _ => Ok(Reply::Json(describe::document(&ctx.origin))),
    }
}

pub fn dispatch(region: &mut Region, resource: Resource, arg: &str, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    match (resource, ctx.method.as_str(), ctx.op.as_deref()) {
        (Resource::Users, "GET", None) => Ok(Reply::Json(Value::Array(
            region.users.iter().map(json::user).collect(),
        ))),
        (Resource::Users, "GET", Some("whoami")) => {
            let me = region
                .user(&actor.username)
                .ok_or_else(|| ApiError::Unauthorized("Forbidden".into()))?;
            Ok(Reply::Json(json::user(me)))
        }
        (Resource::User, "GET", None) => region
            .user(arg)
            .map(|u| Reply::Json(json::user(u)))
            .ok_or_else(|| ApiError::NotFound("No User matches the given query.".into())),
        (Resource::Account, "POST", Some("create_authorisation_token")) => {
            let name = ctx
                .params
                .get_nonempty("name")
                .unwrap_or("API token")
                .to_string();
            let key = ApiKey::generate(&mut region.key_rng.0);
            let user = region
                .users
                .iter_mut()
                .find(|u| u.username == actor.username)
                .ok_or_else(|| ApiError::Unauthorized("Forbidden".into()))?;
            user.keys.push((name.clone(), key.clone()));
            Ok(Reply::Json(json!({
                "name": name,
                "consumer_key": key.consumer_key(),
                "token_key": key.token_key(),
                "token_secret": key.token_secret(),
            })))
        }
        (Resource::Account, "GET", Some("list_authorisation_tokens")) => {
            let user = region
                .user(&actor.username)
                .ok_or_else(|| ApiError::Unauthorized("Forbidden".into()))?;
            Ok(Reply::Json(Value::Array(
                user.keys
                    .iter()
                    .map(|(name, key)| json!({"name": name, "token": key.expose()}))
                    .collect(),
            )))
        }
        (Resource::Maas, "GET", Some("get_config")) => {
            let name = ctx
                .params
                .get_nonempty("name")
                .ok_or_else(|| ApiError::field("name", "This field is required."))?;
            config(name, &ctx.origin).map(Reply::Json).ok_or_else(|| {
                ApiError::field(
                    "name",
                    format!(
                        "{name:?} is not a valid config setting (valid settings are: {}).",
                        CONFIG_NAMES.join(", ")
                    ),
                )
            })
        }
        _ => Err(ctx.unrecognised()),
    }
}

const CONFIG_NAMES: &[&str] = &[
    "maas_name",
    "maas_url",
    "default_osystem",
    "default_distro_series",
    "commissioning_distro_series",
    "default_min_hwe_kernel",
    "enable_disk_erasing_on_release",
    "disk_erase_with_quick_erase",
    "disk_erase_with_secure_erase",
    "kernel_opts",
    "ntp_servers",
    "upstream_dns",
    "node_timeout",
];

fn config(name: &str, origin: &str) -> Option<Value> {
    Some(match name {
        "maas_name" => json!("kubemaas-sim"),
        "maas_url" => json!(format!("{origin}/MAAS")),
        "default_osystem" => json!("ubuntu"),
        "default_distro_series" | "commissioning_distro_series" => json!("jammy"),
        "default_min_hwe_kernel" => json!(""),
        "enable_disk_erasing_on_release"
        | "disk_erase_with_quick_erase"
        | "disk_erase_with_secure_erase" => json!(false),
        "kernel_opts" => Value::Null,
        "ntp_servers" | "upstream_dns" => json!(""),
        "node_timeout" => json!(30),
        _ => return None,
    })
}
