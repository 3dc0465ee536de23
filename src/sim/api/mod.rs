//! The MAAS API surface: path routing (trailing slash, `/op-NAME` suffix), the anonymous vs.
//! authenticated split, and dispatch of (method, op) to each resource's handler.

mod catalog;
mod json;
mod machines;
mod network;
mod users;

use super::params::Params;
use super::reply::{ApiError, ApiResult};
use super::state::{Actor, Region};
use percent_encoding::percent_decode_str;

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
    Fabrics,
    Spaces,
    BootResources,
    BootResource,
    IpAddresses,
    DnsResources,
    DnsResource,
    Events,
}

/// (collection segment, instance?) → resource and its counter template.
const TABLE: &[(&str, bool, Resource, &str)] = &[
    ("version", false, Resource::Version, "version/"),
    ("describe", false, Resource::Describe, "describe/"),
    ("users", false, Resource::Users, "users/"),
    ("users", true, Resource::User, "users/{username}/"),
    ("account", false, Resource::Account, "account/"),
    ("maas", false, Resource::Maas, "maas/"),
    ("machines", false, Resource::Machines, "machines/"),
    ("machines", true, Resource::Machine, "machines/{system_id}/"),
    ("zones", false, Resource::Zones, "zones/"),
    ("zones", true, Resource::Zone, "zones/{name}/"),
    ("resourcepools", false, Resource::Pools, "resourcepools/"),
    ("resourcepool", true, Resource::Pool, "resourcepool/{id}/"),
    ("tags", false, Resource::Tags, "tags/"),
    ("tags", true, Resource::Tag, "tags/{name}/"),
    ("domains", false, Resource::Domains, "domains/"),
    ("domains", true, Resource::Domain, "domains/{id}/"),
    ("subnets", false, Resource::Subnets, "subnets/"),
    ("subnets", true, Resource::Subnet, "subnets/{id}/"),
    ("fabrics", false, Resource::Fabrics, "fabrics/"),
    ("spaces", false, Resource::Spaces, "spaces/"),
    (
        "boot-resources",
        false,
        Resource::BootResources,
        "boot-resources/",
    ),
    (
        "boot-resources",
        true,
        Resource::BootResource,
        "boot-resources/{id}/",
    ),
    ("ipaddresses", false, Resource::IpAddresses, "ipaddresses/"),
    (
        "dnsresources",
        false,
        Resource::DnsResources,
        "dnsresources/",
    ),
    (
        "dnsresources",
        true,
        Resource::DnsResource,
        "dnsresources/{id}/",
    ),
    ("events", false, Resource::Events, "events/"),
];

/// A resolved API path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub resource: Resource,
    /// Counter/fault template, e.g. `machines/{system_id}/`.
    pub template: &'static str,
    /// The instance argument (system_id, name, id), percent-decoded.
    pub arg: Option<String>,
    /// An op given as a `/op-NAME` path suffix (MAAS ≥ 3.3).
    pub path_op: Option<String>,
}

impl Resource {
    /// Served without credentials at all (no authenticated handler exists).
    pub fn anonymous_only(self) -> bool {
        matches!(self, Resource::Version | Resource::Describe)
    }
}

/// Resolves the part of the path after `/MAAS/api/2.0/`. `None` is MAAS's catch-all 404.
pub fn route(rest: &str) -> Option<Route> {
    let (body, path_op) = if let Some(stripped) = rest.strip_suffix('/') {
        (stripped, None)
    } else {
        // `machines/abc/op-power_on`: no trailing slash, op in the last segment.
        let (head, last) = rest.rsplit_once('/')?;
        let op = last.strip_prefix("op-").filter(|o| {
            !o.is_empty()
                && o.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })?;
        (head, Some(op.to_string()))
    };
    let segments: Vec<&str> = body.split('/').collect();
    let (first, arg) = match segments.as_slice() {
        [one] => (*one, None),
        [one, two] if !two.is_empty() => (
            *one,
            Some(percent_decode_str(two).decode_utf8_lossy().into_owned()),
        ),
        _ => return None,
    };
    TABLE
        .iter()
        .find(|(seg, inst, _, _)| *seg == first && *inst == arg.is_some())
        .map(|(_, _, resource, template)| Route {
            resource: *resource,
            template,
            arg,
            path_op,
        })
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
        return Err(ApiError::Unauthorized("Forbidden".into()));
    }
    let arg = route.arg.as_deref().unwrap_or_default();
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
            (r.resource, r.arg.as_deref(), r.path_op),
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
    }
}
