//! The MAAS API surface: path routing (trailing slash, `/op-NAME` suffix), the anonymous vs.
//! authenticated split, and dispatch of (method, op) to each resource's handler.

mod catalog;
mod devices;
mod files;
pub(crate) mod json;
mod machines;
mod network;
mod nodes;
mod static_routes;
mod users;

use super::params::Params;
use super::reply::{ApiError, ApiResult};
use super::state::{Actor, Region};

/// Every resource the simulator serves under /MAAS/api/2.0/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Version,
    Describe,
    Users,
    User,
    Account,
    Maas,
    Machines,
    Machine,
    /// `nodes/{system_id}/interfaces/{id}/`: a machine's or a device's interface.
    NodeInterface,
    NodeBlockDevice,
    NodePartition,
    Devices,
    Device,
    Zones,
    Zone,
    Pools,
    Pool,
    Tags,
    Tag,
    Domains,
    Domain,
    Subnets,
    Subnet,
    Vlan,
    Fabrics,
    Fabric,
    Spaces,
    Space,
    StaticRoutes,
    StaticRoute,
    Files,
    File,
    BootResources,
    BootResource,
    IpAddresses,
    DnsResources,
    DnsResource,
    Events,
}

/// Path template (also the counter/fault template) → resource. Templates are MAAS's
/// (`urls_api.py`), trailing slash included; the partition path is the one without it.
const TABLE: &[(&str, Resource)] = &[
    ("version/", Resource::Version),
    ("describe/", Resource::Describe),
    ("users/", Resource::Users),
    ("users/{username}/", Resource::User),
    ("account/", Resource::Account),
    ("maas/", Resource::Maas),
    ("machines/", Resource::Machines),
    ("machines/{system_id}/", Resource::Machine),
    (
        "nodes/{system_id}/interfaces/{id}/",
        Resource::NodeInterface,
    ),
    (
        "nodes/{system_id}/blockdevices/{id}/",
        Resource::NodeBlockDevice,
    ),
    // MAAS takes both spellings here (LP:1715230), without a trailing slash.
    (
        "nodes/{system_id}/blockdevices/{device_id}/partition/{id}",
        Resource::NodePartition,
    ),
    (
        "nodes/{system_id}/blockdevices/{device_id}/partitions/{id}",
        Resource::NodePartition,
    ),
    ("devices/", Resource::Devices),
    ("devices/{system_id}/", Resource::Device),
    ("zones/", Resource::Zones),
    ("zones/{name}/", Resource::Zone),
    ("resourcepools/", Resource::Pools),
    ("resourcepool/{id}/", Resource::Pool),
    ("tags/", Resource::Tags),
    ("tags/{name}/", Resource::Tag),
    ("domains/", Resource::Domains),
    ("domains/{id}/", Resource::Domain),
    ("subnets/", Resource::Subnets),
    ("subnets/{id}/", Resource::Subnet),
    ("vlans/{id}/", Resource::Vlan),
    ("fabrics/", Resource::Fabrics),
    ("fabrics/{id}/", Resource::Fabric),
    ("spaces/", Resource::Spaces),
    ("spaces/{id}/", Resource::Space),
    ("static-routes/", Resource::StaticRoutes),
    ("static-routes/{id}/", Resource::StaticRoute),
    ("files/", Resource::Files),
    ("files/{filename}/", Resource::File),
    ("boot-resources/", Resource::BootResources),
    ("boot-resources/{id}/", Resource::BootResource),
    ("ipaddresses/", Resource::IpAddresses),
    ("dnsresources/", Resource::DnsResources),
    ("dnsresources/{id}/", Resource::DnsResource),
    ("events/", Resource::Events),
];

/// A resolved API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub resource: Resource,
    /// Counter/fault template, e.g. `machines/{system_id}/`.
    pub template: &'static str,
    /// The path's arguments (system_id, name, id, …) in order, percent-decoded.
    pub args: Vec<String>,
    /// An op given as a `/op-NAME` path suffix (MAAS ≥ 3.3).
    pub path_op: Option<String>,
}

impl Route {
    /// The first path argument (the instance: system_id, name, id).
    pub fn arg(&self) -> Option<&str> {
        self.args.first().map(String::as_str)
    }
}

impl Resource {
    /// Served without credentials at all (no authenticated handler exists).
    pub fn anonymous_only(self) -> bool {
        matches!(self, Resource::Version | Resource::Describe)
    }
}

fn match_table(path: &str, path_op: Option<String>) -> Option<Route> {
    TABLE.iter().find_map(|&(template, resource)| {
        let bound = super::describe::bind(template, path)?;
        Some(Route {
            resource,
            template,
            args: bound.into_iter().map(|(_, v)| v).collect(),
            path_op: path_op.clone(),
        })
    })
}

/// Resolves the part of the path after `/MAAS/api/2.0/`. `None` is MAAS's catch-all 404.
pub fn route(rest: &str) -> Option<Route> {
    if let Some(found) = match_table(rest, None) {
        return Some(found);
    }
    // `machines/abc/op-power_on`: no trailing slash, op in the last segment.
    let (head, last) = rest.rsplit_once('/')?;
    let op = last.strip_prefix("op-").filter(|o| {
        !o.is_empty()
            && o.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    })?;
    match_table(&format!("{head}/"), Some(op.to_string()))
}

/// One API request as the handlers see it.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub method: String,
    pub op: Option<String>,
    /// Query parameters (GET/DELETE) or body + query parameters (POST/PUT), without `op`.
    pub params: Params,
    pub actor: Option<Actor>,
    /// `scheme://host:port` as the client addressed us (for absolute URIs).
    pub origin: String,
}

impl Ctx {
    fn unrecognised(&self) -> ApiError {
        ApiError::unrecognised(&self.method, self.op.as_deref())
    }

    fn actor(&self) -> Result<&Actor, ApiError> {
        self.actor
            .as_ref()
            .ok_or_else(|| ApiError::Unauthorized("Forbidden".into()))
    }

    fn is(&self, method: &str, op: Option<&str>) -> bool {
        self.method == method && self.op.as_deref() == op
    }
}

/// Runs one request against the region. Authentication already happened: `ctx.actor` is set
/// for verified callers and `None` for anonymous ones.
pub fn dispatch(region: &mut Region, route: &Route, ctx: &Ctx) -> ApiResult {
    if ctx.actor.is_none() && !route.resource.anonymous_only() {
        // Only the machines resource has an anonymous handler worth calling (is_registered);
        // any other call without credentials is MAAS's 401 "Forbidden".
        if route.resource == Resource::Machines {
            if ctx.is("GET", Some("is_registered")) {
                return machines::is_registered(region, ctx);
            }
            return Err(ctx.unrecognised());
        }
        // Files shared by key (MAAS's AnonFilesHandler): what Juju's agents fetch.
        if route.resource == Resource::Files && ctx.is("GET", Some("get_by_key")) {
            return files::get_by_key(region, ctx);
        }
        return Err(ApiError::Unauthorized("Forbidden".into()));
    }
    let arg = route.arg().unwrap_or_default();
    match route.resource {
        Resource::Version | Resource::Describe => users::meta(route.resource, ctx),
        Resource::Users | Resource::User | Resource::Account | Resource::Maas => {
            users::dispatch(region, route.resource, arg, ctx)
        }
        Resource::Machines => machines::collection(region, ctx),
        Resource::Machine => machines::instance(region, arg, ctx),
        Resource::IpAddresses | Resource::DnsResources | Resource::DnsResource => {
            network::dispatch(region, route.resource, arg, ctx)
        }
        Resource::Events => network::events(region, ctx),
        Resource::NodeInterface | Resource::NodeBlockDevice | Resource::NodePartition => {
            nodes::dispatch(region, route, ctx)
        }
        Resource::Devices => devices::collection(region, ctx),
        Resource::Device => devices::instance(region, arg, ctx),
        Resource::Files => files::collection(region, ctx),
        Resource::File => files::instance(region, arg, ctx),
        Resource::StaticRoutes => static_routes::collection(region, ctx),
        Resource::StaticRoute => static_routes::instance(region, arg, ctx),
        _ => catalog::dispatch(region, route.resource, arg, ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = route("machines/abc/").unwrap();
        assert_eq!(
            (r.resource, r.arg(), r.path_op.as_deref()),
            (Resource::Machine, Some("abc"), None)
        );
        let r = route("machines/abc/op-power_on").unwrap();
        assert_eq!(r.path_op.as_deref(), Some("power_on"));
        assert_eq!(r.template, "machines/{system_id}/");
        assert_eq!(route("machines/").unwrap().resource, Resource::Machines);
        assert_eq!(route("tags/op-create").unwrap().resource, Resource::Tags);
        assert!(route("machines").is_none());
        assert!(route("machines/abc").is_none());
        assert!(route("nope/").is_none());
        assert!(route("machines/a/b/").is_none());
        assert!(route("resourcepools/1/").is_none());
        assert_eq!(route("resourcepool/1/").unwrap().resource, Resource::Pool);
        let r = route("nodes/abc/blockdevices/7/partition/701").unwrap();
        assert_eq!(
            (r.resource, r.args),
            (
                Resource::NodePartition,
                vec!["abc".to_string(), "7".to_string(), "701".to_string()]
            )
        );
        let r = route("nodes/abc/interfaces/3/").unwrap();
        assert_eq!(
            (r.resource, r.arg()),
            (Resource::NodeInterface, Some("abc"))
        );
        assert_eq!(route("files/a%20b/").unwrap().arg(), Some("a b"));
        assert_eq!(
            route("static-routes/").unwrap().resource,
            Resource::StaticRoutes
        );
        assert!(route("nodes/abc/").is_none());
    }
}
