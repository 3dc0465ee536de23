//! `ipaddresses/`, `dnsresources/`, `dnsresources/{id}/` and `events/?op=query`.

use super::json::{self, API};
use super::{Ctx, Resource};
use crate::sim::reply::{ApiError, ApiResult, Reply};
use crate::sim::state::{Level, Region};
use serde_json::{json, Value};

/// MAAS refuses to page more than this many events at once.
const MAX_EVENTS: usize = 1000;

pub fn dispatch(region: &mut Region, resource: Resource, arg: &str, ctx: &Ctx) -> ApiResult {
    let actor = ctx.actor()?.clone();
    let p = &ctx.params;
    match (resource, ctx.method.as_str(), ctx.op.as_deref()) {
        (Resource::IpAddresses, "GET", None) => {
            let all = p
                .flag("all", false)
                .map_err(|e| ApiError::field("all", e.to_string()))?;
            let owner = p.get_nonempty("owner");
            if (all || owner.is_some()) && !actor.admin {
                return Err(ApiError::Forbidden(
                    "Listing other users' addresses (all=true, owner=) needs an administrator's API key.".into(),
                ));
            }
            let ips = p.list("ip");
            Ok(Reply::Json(Value::Array(
                region
                    .reservations
                    .iter()
                    .filter(|r| match owner {
                        Some(o) => r.owner == o,
                        None => all || r.owner == actor.username,
                    })
                    .filter(|r| ips.is_empty() || ips.contains(&r.ip))
                    .map(|r| json::ip_reservation(region, r))
                    .collect(),
            )))
        }
        (Resource::IpAddresses, "POST", Some("reserve")) => {
            let idx = region.reserve_ip(&actor, p)?;
            Ok(Reply::Json(json::ip_reservation(
                region,
                &region.reservations[idx],
            )))
        }
        (Resource::IpAddresses, "POST", Some("release")) => {
            region.release_ip(&actor, p)?;
            Ok(Reply::NoContent)
        }
        (Resource::DnsResources, "GET", None) => {
            let fqdn = p.get_nonempty("fqdn");
            let domain = p.get_nonempty("domain");
            let name = p.get_nonempty("name");
            let mut out: Vec<Value> = region
                .dns
                .iter()
                .filter(|r| fqdn.is_none_or(|f| r.fqdn() == f.trim_end_matches('.')))
                .filter(|r| domain.is_none_or(|d| r.domain == d))
                .filter(|r| name.is_none_or(|n| r.name == n))
                .map(json::dns)
                .collect();
            let all = p
                .flag("all", false)
                .map_err(|e| ApiError::field("all", e.to_string()))?;
            if all {
                // MAAS adds the implicit records of machines' own addresses, with id -1.
                for m in &region.machines {
                    let ips: Vec<&String> = m
                        .nics
                        .iter()
                        .filter_map(|n| n.ip_address.as_ref())
                        .collect();
                    if ips.is_empty()
                        || fqdn.is_some_and(|f| f != m.fqdn())
                        || domain.is_some_and(|d| d != m.domain)
                        || name.is_some_and(|n| n != m.hostname)
                    {
                        continue;
                    }
                    out.push(json!({
                        "id": -1,
                        "fqdn": m.fqdn(),
                        "address_ttl": null,
                        "ip_addresses": null,
                        "resource_records": [],
                        "resource_uri": format!("{API}/dnsresources/-1/"),
                    }));
                }
            }
            Ok(Reply::Json(Value::Array(out)))
        }
        (Resource::DnsResources, "POST", None) => {
            let idx = region.create_dns(&actor, p)?;
            Ok(Reply::Json(json::dns(&region.dns[idx])))
        }
        (Resource::DnsResource, method, None) => {
            let id: i64 = arg.parse().map_err(|_| {
                ApiError::NotFound("No DNSResource matches the given query.".into())
            })?;
            match method {
                "GET" => {
                    let idx = region.dns_index(id)?;
                    Ok(Reply::Json(json::dns(&region.dns[idx])))
                }
                "PUT" => {
                    let idx = region.update_dns(id, &actor, p)?;
                    Ok(Reply::Json(json::dns(&region.dns[idx])))
                }
                "DELETE" => {
                    region.delete_dns(id, &actor)?;
                    Ok(Reply::NoContent)
                }
                _ => Err(ctx.unrecognised()),
            }
        }
        _ => Err(ctx.unrecognised()),
    }
}

/// `GET events/?op=query`: newest first, `after`/`before` paging, `limit` ≤ 1000.
pub fn events(region: &Region, ctx: &Ctx) -> ApiResult {
    if !(ctx.method == "GET" && ctx.op.as_deref() == Some("query")) {
        return Err(ctx.unrecognised());
    }
    let p = &ctx.params;
    let limit = match p.get_nonempty("limit") {
        None => 100,
        Some(raw) => raw.parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!("Invalid limit: {raw:?} is not a whole number."))
        })?,
    };
    if limit > MAX_EVENTS {
        return Err(ApiError::BadRequest(format!(
            "Requested number of events {limit} is greater than limit: {MAX_EVENTS}"
        )));
    }
    let number = |key: &str| -> Result<Option<i64>, ApiError> {
        p.get_nonempty(key)
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| {
                    ApiError::BadRequest(format!("Invalid {key}: {raw:?} is not an event id."))
                })
            })
            .transpose()
    };
    let after = number("after")?;
    let before = number("before")?;
    if after.is_some() && before.is_some() {
        return Err(ApiError::BadRequest(
            "There is undetermined behaviour when both 'after' and 'before' are specified.".into(),
        ));
    }
    let level = match p.get_nonempty("level") {
        None => Level::Info,
        Some(raw) => Level::parse(raw).ok_or_else(|| {
            ApiError::field(
                "level",
                format!(
                    "Unknown level {raw:?}: use DEBUG, INFO, WARNING, ERROR, CRITICAL or AUDIT."
                ),
            )
        })?,
    };
    let ids = p.list("id");
    let hostnames = p.list("hostname");
    let macs = p.list("mac_address");
    let zones = p.list("zone");
    let agents = p.list("agent_name");
    let owners = p.list("owner");
    let node_ok = |node: &str, hostname: &str| {
        let m = region.machine(node);
        (ids.is_empty() || ids.iter().any(|i| i == node))
            && (hostnames.is_empty() || hostnames.iter().any(|h| h == hostname))
            && (macs.is_empty()
                || m.is_some_and(|m| {
                    m.nics
                        .iter()
                        .any(|n| macs.iter().any(|x| x.eq_ignore_ascii_case(&n.mac_address)))
                }))
            && (zones.is_empty() || m.is_some_and(|m| zones.contains(&m.zone)))
            && (agents.is_empty() || m.is_some_and(|m| agents.contains(&m.agent_name)))
            && (owners.is_empty()
                || m.is_some_and(|m| m.owner.as_ref().is_some_and(|o| owners.contains(o))))
    };
    let matching: Vec<_> = region
        .events()
        .iter()
        .filter(|e| {
            // AUDIT is its own channel: asked for explicitly, never implied by a lower level.
            (if level == Level::Audit {
                e.level == Level::Audit
            } else {
                e.level >= level && e.level != Level::Audit
            }) && node_ok(&e.node, &e.hostname)
        })
        .collect();
    let mut page: Vec<_> = match (after, before) {
        (Some(a), _) => matching
            .iter()
            .filter(|e| e.id > a)
            .take(limit)
            .copied()
            .collect(),
        (_, Some(b)) => matching
            .iter()
            .rev()
            .filter(|e| e.id < b)
            .take(limit)
            .copied()
            .collect(),
        _ => matching.iter().rev().take(limit).copied().collect(),
    };
    page.sort_by_key(|e| std::cmp::Reverse(e.id));
    let base: Vec<(String, String)> = p
        .pairs()
        .iter()
        .filter(|(k, _)| k != "after" && k != "before")
        .cloned()
        .collect();
    let uri = |extra: (&str, i64)| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("op", "query");
        for (k, v) in &base {
            q.append_pair(k, v);
        }
        q.append_pair(extra.0, &extra.1.to_string());
        format!("{}{API}/events/?{}", ctx.origin, q.finish())
    };
    let newest = page.first().map(|e| e.id).or(after).unwrap_or(0);
    let oldest = page.last().map(|e| e.id).or(before).unwrap_or(0);
    Ok(Reply::Json(json!({
        "count": page.len(),
        "events": page.iter().map(|e| json::event(e)).collect::<Vec<_>>(),
        "prev_uri": uri(("after", newest)),
        "next_uri": uri(("before", oldest)),
    })))
}
