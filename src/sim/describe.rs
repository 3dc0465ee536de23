//! The `describe/` document python-libmaas reads at connect time to build its handlers, with
//! MAAS's exact handler names, path templates, params and action lists.
//!
//! [`HANDLERS`] is the simulated API surface: the describe document is built from it and the
//! HTTP server can route and reject (`Unrecognised signature`) by the same table, so what the
//! document promises and what the server answers cannot drift apart.

use serde_json::{json, Map, Value};
use sha1::{Digest, Sha1};
use std::sync::OnceLock;

/// Every API path starts with this.
pub const API_ROOT: &str = "/MAAS/api/2.0/";

/// One callable action of a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSpec {
    /// "read", "create", "update", "delete" for the plain (restful) methods; the op otherwise.
    pub name: &'static str,
    /// "GET", "POST", "PUT" or "DELETE".
    pub method: &'static str,
    /// The `op=` value; None for restful actions.
    pub op: Option<&'static str>,
    pub doc: &'static str,
}

/// One MAAS handler: a path template and what may be done there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerSpec {
    /// MAAS's handler class name ("MachinesHandler", "AnonMachinesHandler").
    pub name: &'static str,
    /// The resource it belongs to: the authenticated handler's name ("MachinesHandler").
    pub resource: &'static str,
    /// True for the handler that answers requests without credentials.
    pub anon: bool,
    /// The path under [`API_ROOT`], with `{param}` placeholders ("machines/{system_id}/").
    pub path: &'static str,
    pub params: &'static [&'static str],
    pub doc: &'static str,
    pub actions: &'static [ActionSpec],
}

impl HandlerSpec {
    /// The absolute path template ("/MAAS/api/2.0/machines/{system_id}/").
    pub fn full_path(&self) -> String {
        format!("{API_ROOT}{}", self.path)
    }

    /// The action a request selects: plain methods map to read/create/update/delete, `op=`
    /// requests to the named action with that method. None is MAAS's 400 "Unrecognised
    /// signature".
    pub fn action(&self, method: &str, op: Option<&str>) -> Option<&'static ActionSpec> {
        self.actions
            .iter()
            .find(|a| a.method.eq_ignore_ascii_case(method) && a.op == op)
    }
}

const fn read(doc: &'static str) -> ActionSpec {
    ActionSpec {
        name: "read",
        method: "GET",
        op: None,
        doc,
    }
}

const fn create(doc: &'static str) -> ActionSpec {
    ActionSpec {
        name: "create",
        method: "POST",
        op: None,
        doc,
    }
}

const fn update(doc: &'static str) -> ActionSpec {
    ActionSpec {
        name: "update",
        method: "PUT",
        op: None,
        doc,
    }
}

const fn delete(doc: &'static str) -> ActionSpec {
    ActionSpec {
        name: "delete",
        method: "DELETE",
        op: None,
        doc,
    }
}

/// An `op=` read (GET).
const fn get(op: &'static str, doc: &'static str) -> ActionSpec {
    ActionSpec {
        name: op,
        method: "GET",
        op: Some(op),
        doc,
    }
}

/// An `op=` action (POST).
const fn post(op: &'static str, doc: &'static str) -> ActionSpec {
    ActionSpec {
        name: op,
        method: "POST",
        op: Some(op),
        doc,
    }
}

const fn handler(
    name: &'static str,
    path: &'static str,
    params: &'static [&'static str],
    doc: &'static str,
    actions: &'static [ActionSpec],
) -> HandlerSpec {
    HandlerSpec {
        name,
        resource: name,
        anon: false,
        path,
        params,
        doc,
        actions,
    }
}

/// The simulated API surface, one entry per handler, MAAS's names and paths.
pub const HANDLERS: &[HandlerSpec] = &[
    HandlerSpec {
        name: "VersionHandler",
        resource: "VersionHandler",
        anon: true,
        path: "version/",
        params: &[],
        doc: "Information about this MAAS instance.",
        actions: &[read("Read version and capabilities of this MAAS.")],
    },
    handler(
        "UsersHandler",
        "users/",
        &[],
        "Manage the user accounts of this MAAS.",
        &[
            read("List users."),
            get("whoami", "Returns the currently logged in user."),
        ],
    ),
    handler(
        "UserHandler",
        "users/{username}/",
        &["username"],
        "Manage a user account.",
        &[read("Reads a user.")],
    ),
    handler(
        "AccountHandler",
        "account/",
        &[],
        "Manage the current logged-in user.",
        &[
            post(
                "create_authorisation_token",
                "Create an authorisation OAuth token and OAuth consumer.",
            ),
            get(
                "list_authorisation_tokens",
                "List authorisation tokens available to the currently logged-in user.",
            ),
        ],
    ),
    handler(
        "MaasHandler",
        "maas/",
        &[],
        "Manage the MAAS server.",
        &[get("get_config", "Get a configuration value.")],
    ),
    HandlerSpec {
        name: "AnonMachinesHandler",
        resource: "MachinesHandler",
        anon: true,
        path: "machines/",
        params: &[],
        doc: "Anonymous access to Machines.",
        actions: &[get(
            "is_registered",
            "Returns whether or not the given MAC address is registered within this MAAS.",
        )],
    },
    handler(
        "MachinesHandler",
        "machines/",
        &[],
        "Manage the collection of all the machines in the MAAS.",
        &[
            read("List machines, filtered by the given parameters."),
            post(
                "allocate",
                "Allocates an available machine for deployment, matching the given constraints.",
            ),
            post(
                "release",
                "Release multiple machines, given as repeated `machines` parameters.",
            ),
            get(
                "list_allocated",
                "Fetches the machines allocated to the user making the request.",
            ),
        ],
    ),
    handler(
        "MachineHandler",
        "machines/{system_id}/",
        &["system_id"],
        "Manage an individual machine.\n\nA machine is identified by its system_id.",
        &[
            read("Reads a machine with the given system_id."),
            update("Updates a machine with the given system_id."),
            delete("Deletes a machine with the given system_id."),
            post("deploy", "Deploys an operating system to a given machine."),
            post("release", "Releases a machine. Opposite of allocate."),
            post("abort", "Abort a machine's current operation."),
            post("power_on", "Powers on a given node."),
            post("power_off", "Powers off a given node."),
            get(
                "query_power_state",
                "Query the power state of a node.",
            ),
            post(
                "set_owner_data",
                "Deprecated, use set_workload_annotations instead.",
            ),
            post(
                "set_workload_annotations",
                "Add, update or remove workload annotations (key=value; an empty value removes the key).",
            ),
            post("mark_broken", "Mark a node as 'broken'."),
            post("mark_fixed", "Mark a broken node as fixed and set its status as 'ready'."),
            post("lock", "Mark a machine as 'Locked' to prevent changes."),
            post("unlock", "Mark a machine as 'Unlocked', to allow changes."),
        ],
    ),
    handler(
        "ZonesHandler",
        "zones/",
        &[],
        "Manage physical zones.",
        &[read("List all availability zones."), create("Creates a new zone.")],
    ),
    handler(
        "ZoneHandler",
        "zones/{name}/",
        &["name"],
        "Manage a physical zone.",
        &[read("Returns a named zone.")],
    ),
    handler(
        "ResourcePoolsHandler",
        "resourcepools/",
        &[],
        "Manage resource pools.",
        &[read("Get a listing of all resource pools.")],
    ),
    handler(
        "ResourcePoolHandler",
        "resourcepool/{id}/",
        &["id"],
        "Manage a resource pool.",
        &[read("Returns a resource pool (by id or name).")],
    ),
    handler(
        "TagsHandler",
        "tags/",
        &[],
        "Manage all tags known to MAAS.",
        &[read("List all tags."), create("Create a new tag.")],
    ),
    handler(
        "TagHandler",
        "tags/{name}/",
        &["name"],
        "Tags are properties that can be associated with a Node and serve as criteria for selecting and allocating nodes.",
        &[
            read("Returns a JSON object containing information about a specific tag."),
            get("machines", "Get a JSON list containing the machines with this tag."),
            post(
                "update_nodes",
                "Add or remove nodes (repeated `add` / `remove` system_ids) associated with the given tag.",
            ),
        ],
    ),
    handler(
        "DomainsHandler",
        "domains/",
        &[],
        "Manage domains.",
        &[read("List all domains.")],
    ),
    handler(
        "DomainHandler",
        "domains/{id}/",
        &["id"],
        "Manage domain.",
        &[read("Read a domain with the given id.")],
    ),
    handler(
        "SubnetsHandler",
        "subnets/",
        &[],
        "Manage subnets.",
        &[read("Get a list of all subnets.")],
    ),
    handler(
        "SubnetHandler",
        "subnets/{id}/",
        &["id"],
        "Manage a subnet.",
        &[
            read("Get information about a subnet with the given id."),
            get(
                "unreserved_ip_ranges",
                "Returns a list of IP address ranges that are unused on this subnet.",
            ),
            get(
                "reserved_ip_ranges",
                "Returns a list of IP address ranges reserved on this subnet.",
            ),
        ],
    ),
    handler(
        "FabricsHandler",
        "fabrics/",
        &[],
        "Manage fabrics.",
        &[read("List all fabrics.")],
    ),
    handler(
        "SpacesHandler",
        "spaces/",
        &[],
        "Manage spaces.",
        &[read("Generates a list of all spaces.")],
    ),
    handler(
        "BootResourcesHandler",
        "boot-resources/",
        &[],
        "Manage the boot resources.",
        &[read("List all boot resources.")],
    ),
    handler(
        "BootResourceHandler",
        "boot-resources/{id}/",
        &["id"],
        "Manage a boot resource.",
        &[read("Reads a boot resource by id.")],
    ),
    handler(
        "IPAddressesHandler",
        "ipaddresses/",
        &[],
        "Manage IP addresses allocated by MAAS.",
        &[
            read("List IP addresses known to MAAS."),
            post("reserve", "Reserve an IP address for use outside of MAAS."),
            post("release", "Release an IP address that was previously reserved by the user."),
        ],
    ),
    handler(
        "DNSResourcesHandler",
        "dnsresources/",
        &[],
        "Manage dnsresources.",
        &[
            read("List all resources for the specified criteria."),
            create("Create a DNS resource."),
        ],
    ),
    handler(
        "DNSResourceHandler",
        "dnsresources/{id}/",
        &["id"],
        "Manage dnsresource.",
        &[
            read("Read a DNS resource by id."),
            update("Update a DNS resource with the given id."),
            delete("Delete a DNS resource with the given id."),
        ],
    ),
    handler(
        "EventsHandler",
        "events/",
        &[],
        "Retrieve filtered node events.",
        &[get("query", "List node events, optionally filtered by various criteria.")],
    ),
];

/// What a request path resolves to: the resource's handlers and the bound path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The handler for signed requests, if the resource has one.
    pub auth: Option<&'static HandlerSpec>,
    /// The handler for unsigned requests, if the resource has one (version/, machines/).
    pub anon: Option<&'static HandlerSpec>,
    /// Template parameters in order, percent-decoded: [("system_id", "abc123")].
    pub params: Vec<(&'static str, String)>,
}

impl Route {
    /// The handler that serves a request: signed requests use the authenticated handler and
    /// fall back to the anonymous one (as libmaas and MAAS do); unsigned ones get only the
    /// anonymous handler (None then means MAAS's 401 "Forbidden").
    pub fn handler(&self, authenticated: bool) -> Option<&'static HandlerSpec> {
        if authenticated {
            self.auth.or(self.anon)
        } else {
            self.anon
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The resource whose path template matches `path` (absolute, "/MAAS/api/2.0/machines/x/"),
/// or None for MAAS's 404 "Unknown API endpoint" (a missing trailing slash included).
pub fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix(API_ROOT)?;
    let mut found: Option<Route> = None;
    for h in HANDLERS {
        if let Some(params) = bind(h.path, rest) {
            let r = found.get_or_insert(Route {
                auth: None,
                anon: None,
                params,
            });
            if h.anon {
                r.anon = Some(h);
            } else {
                r.auth = Some(h);
            }
        }
    }
    found
}

/// MAAS 3.3+ also takes the op as a path suffix without a trailing slash
/// (`machines/abc123/op-power_on`, as maas-client-go sends it): returns the handler path (with
/// its slash) and the op, or None when `path` has no such suffix.
pub fn split_op_suffix(path: &str) -> Option<(String, String)> {
    let (base, last) = path.rsplit_once('/')?;
    let op = last.strip_prefix("op-")?;
    if op.is_empty() || base.is_empty() {
        return None;
    }
    Some((format!("{base}/"), op.to_string()))
}

/// Matches `path` against `template` segment by segment; `{name}` binds one non-empty segment.
pub(crate) fn bind(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    let t: Vec<&'static str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let value = percent_encoding::percent_decode_str(ps)
                .decode_utf8_lossy()
                .into_owned();
            params.push((name, value));
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

/// The describe document; `origin` is `scheme://host:port` as the client requested it.
pub fn document(origin: &str) -> Value {
    let mut doc = content(origin.trim_end_matches('/'));
    doc["hash"] = json!(api_hash());
    sorted(doc)
}

/// The value of `X-MAAS-API-Hash` on every API response: a SHA-1 of the API description.
/// Like MAAS's, it covers what the API offers, not where it is served, so every origin (and
/// every run) gets the same hash.
pub fn api_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let canonical = sorted(content(""));
        let text = serde_json::to_string(&canonical).unwrap_or_default();
        Sha1::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
    .clone()
}

/// The document without its hash: resources sorted by name, each with its anonymous and
/// authenticated handler, and the legacy flat `handlers` list (anon then auth per resource).
fn content(origin: &str) -> Value {
    let mut names: Vec<&str> = HANDLERS.iter().map(|h| h.resource).collect();
    names.sort_unstable();
    names.dedup();
    let mut resources = Vec::new();
    let mut handlers = Vec::new();
    for name in names {
        let anon = HANDLERS.iter().find(|h| h.resource == name && h.anon);
        let auth = HANDLERS.iter().find(|h| h.resource == name && !h.anon);
        let anon = anon.map(|h| handler_json(h, origin));
        let auth = auth.map(|h| handler_json(h, origin));
        handlers.extend(anon.iter().cloned());
        handlers.extend(auth.iter().cloned());
        resources.push(json!({
            "name": name,
            "anon": anon,
            "auth": auth,
        }));
    }
    json!({
        "doc": "MAAS API",
        "resources": resources,
        "handlers": handlers,
    })
}

fn handler_json(h: &HandlerSpec, origin: &str) -> Value {
    let mut actions: Vec<&ActionSpec> = h.actions.iter().collect();
    // MAAS lists actions sorted by name.
    actions.sort_by_key(|a| a.name);
    let actions: Vec<Value> = actions
        .into_iter()
        .map(|a| {
            json!({
                "name": a.name,
                "method": a.method,
                "op": a.op,
                "restful": a.op.is_none(),
                "doc": a.doc,
            })
        })
        .collect();
    let path = h.full_path();
    json!({
        "name": h.name,
        "doc": h.doc,
        "params": h.params,
        "path": path,
        "uri": format!("{origin}{path}"),
        "actions": actions,
    })
}

/// The value with every object's keys in sorted order (MAAS dumps describe with sort_keys).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha1_hex_and_stable() {
        let h = api_hash();
        assert_eq!(h.len(), 40);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, api_hash());
        assert_eq!(document("http://127.0.0.1:5240")["hash"], json!(h));
        assert_eq!(document("http://other:1")["hash"], json!(h));
    }

    #[test]
    fn routes_bind_params_and_respect_anon() {
        let r = route("/MAAS/api/2.0/machines/abc123/").unwrap();
        assert_eq!(r.handler(true).unwrap().name, "MachineHandler");
        assert_eq!(r.param("system_id"), Some("abc123"));
        assert!(
            r.handler(false).is_none(),
            "no anonymous access to one machine"
        );
        let r = route("/MAAS/api/2.0/machines/").unwrap();
        assert_eq!(r.handler(false).unwrap().name, "AnonMachinesHandler");
        assert_eq!(r.handler(true).unwrap().name, "MachinesHandler");
        let r = route("/MAAS/api/2.0/version/").unwrap();
        assert_eq!(r.handler(true).unwrap().name, "VersionHandler");
        assert_eq!(r.handler(false).unwrap().name, "VersionHandler");
        assert!(route("/MAAS/api/2.0/machines").is_none());
        assert!(route("/MAAS/api/2.0/machines//").is_none());
        assert!(route("/MAAS/api/2.0/nope/").is_none());
        let r = route("/MAAS/api/2.0/resourcepool/0/").unwrap();
        assert_eq!(r.handler(true).unwrap().name, "ResourcePoolHandler");
        assert_eq!(r.param("id"), Some("0"));
        let r = route("/MAAS/api/2.0/zones/az%2D1/").unwrap();
        assert_eq!(r.param("name"), Some("az-1"));
    }

    #[test]
    fn op_suffixes_split_off() {
        assert_eq!(
            split_op_suffix("/MAAS/api/2.0/machines/abc123/op-power_on"),
            Some(("/MAAS/api/2.0/machines/abc123/".into(), "power_on".into()))
        );
        assert_eq!(split_op_suffix("/MAAS/api/2.0/machines/abc123/"), None);
        assert_eq!(split_op_suffix("/MAAS/api/2.0/machines/op-"), None);
        let (path, op) = split_op_suffix("/MAAS/api/2.0/tags/gpu/op-update_nodes").unwrap();
        let h = route(&path).unwrap().auth.unwrap();
        assert_eq!(h.action("POST", Some(&op)).unwrap().name, "update_nodes");
    }

    #[test]
    fn actions_select_by_method_and_op() {
        let h = route("/MAAS/api/2.0/machines/x/").unwrap().auth.unwrap();
        assert_eq!(h.action("GET", None).unwrap().name, "read");
        assert_eq!(h.action("POST", Some("deploy")).unwrap().name, "deploy");
        assert!(h.action("GET", Some("deploy")).is_none());
        assert!(h.action("POST", Some("explode")).is_none());
        assert_eq!(
            h.action("GET", Some("query_power_state")).unwrap().method,
            "GET"
        );
    }
}
