//! Checking a spec against what a MAAS region holds: the zones, resource pools, tags, domain and
//! image it names exist (with the closest name when one is mistyped), its addresses sit on MAAS
//! subnets, and there are enough Ready machines for every pool at once.

use super::capacity::{plan_capacity, plan_ever, PoolCapacity, PoolRequest};
use super::constraints::{is_available, MachineConstraints};
use super::problem::{Problem, Problems};
use super::snapshot::MaasSnapshot;
use super::spec::{ClusterSpec, NodePool, OsImage};
use super::suggest;
use super::validate::effective_os_image;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The constraints a pool's machines must meet.
pub fn pool_constraints(pool: &NodePool) -> MachineConstraints {
    MachineConstraints {
        min_cpu: pool.min_cpu,
        min_memory_mib: pool.min_memory_mib,
        min_disk_gb: pool.min_disk_gb,
        tags: pool.maas_tags.clone(),
        pool: Some(pool.resource_pool.clone()),
        zones: pool.zones.clone(),
    }
}

/// [`validate_against_maas`]'s problems, split by what they call for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaasFit {
    /// Need a changed spec or MAAS: names MAAS lacks, addresses off its subnets, a pool no
    /// machine in MAAS could ever fill.
    pub refused: Problems,
    /// Only "too few machines free now" (at `spec.nodePools[i].size`): a cluster can wait these
    /// out, and the engine does instead of failing.
    pub waitable: Problems,
}

/// Checks `spec` against `maas`, every problem in one list (refusals first), as an operator
/// reads it. See [`fit_against_maas`] for the same split by whether waiting can help.
pub fn validate_against_maas(
    spec: &ClusterSpec,
    profile_series: Option<&str>,
    maas: &MaasSnapshot,
) -> Problems {
    let MaasFit {
        mut refused,
        waitable,
    } = fit_against_maas(spec, profile_series, maas);
    refused.extend(waitable);
    refused
}

/// Checks `spec` against `maas`. `profile_series` is the Ubuntu series of the spec's profile,
/// used when the spec names no `osImage`. Run [`super::validate_local`] first: this assumes
/// the local checks passed and skips what they would report.
pub fn fit_against_maas(
    spec: &ClusterSpec,
    profile_series: Option<&str>,
    maas: &MaasSnapshot,
) -> MaasFit {
    let mut p = Problems::new();
    let mut waitable = Problems::new();
    let body = &spec.spec;
    if !maas.has_domain(&body.dns_domain) {
        p.push(
            "spec.dnsDomain",
            format!(
                "MAAS has no DNS domain `{}`{}",
                body.dns_domain,
                suggest::hint(&body.dns_domain, maas.domain_names())
            ),
        );
    }
    if let Some(image) = effective_os_image(spec, profile_series) {
        check_image(&image, spec.spec.os_image.is_some(), maas, &mut p);
    }
    check_addresses(spec, maas, &mut p);

    let mut requests = Vec::new();
    let mut request_paths = Vec::new();
    for (i, pool) in body.node_pools.iter().enumerate() {
        let path = format!("spec.nodePools[{i}]");
        let refs_ok = check_references(pool, &path, maas, &mut p);
        // A pool naming something MAAS lacks has already been reported; counting its machines
        // would only add a second, less precise complaint.
        if refs_ok && pool.size > 0 {
            requests.push(PoolRequest {
                name: pool.name.clone(),
                count: pool.size,
                constraints: pool_constraints(pool),
            });
            request_paths.push(path);
        }
    }
    let plan = plan_capacity(&requests, &maas.machines);
    let ever = plan_ever(&requests, &maas.machines);
    for (((outcome, ever), request), path) in
        plan.iter().zip(&ever).zip(&requests).zip(&request_paths)
    {
        // Both at the pool's size, the field an operator changes (the console shows them
        // beside it); only the second can be waited out.
        let at = format!("{path}.size");
        if ever.shortfall() > 0 {
            p.push(at, never_message(ever, request, maas));
        } else if outcome.shortfall() > 0 {
            waitable.push(at, shortfall_message(outcome, request, maas));
        }
    }
    MaasFit {
        refused: p,
        waitable,
    }
}

/// "pool workers needs 5 machines with …; of the 12 machines in MAAS, whatever their status,
/// only 3 could ever match": no waiting helps, so the cluster is refused before it allocates.
fn never_message(ever: &PoolCapacity, request: &PoolRequest, maas: &MaasSnapshot) -> String {
    let c = &request.constraints;
    let mut msg = format!(
        "pool {} needs {} machine{} with {}; of the {} machine(s) in MAAS, whatever their status, {} could ever match",
        ever.name,
        ever.needed,
        if ever.needed == 1 { "" } else { "s" },
        c.describe(),
        maas.machines.len(),
        ever.matching,
    );
    if !ever.taken_by_others.is_empty() {
        let others: Vec<String> = ever
            .taken_by_others
            .iter()
            .map(|(pool, n)| format!("{n} needed by pool {pool}"))
            .collect();
        msg.push_str(&format!(", {}", others.join(" and ")));
    }
    msg.push_str(&format!(" ({} more needed)", ever.shortfall()));
    if let Some(reasons) = top_reasons(maas.machines.iter(), c) {
        msg.push_str(&format!("; of all machines, {reasons}"));
    }
    msg.push_str(": waiting cannot help, so nothing is allocated; add machines that fit to MAAS or relax the pool's constraints");
    msg
}

/// The three commonest reasons `machines` do not fit `c`, counted ("2 are in other zones, 1 has
/// fewer than 8 cores"); `None` when every one fits.
fn top_reasons<'a>(
    machines: impl Iterator<Item = &'a crate::maas::Machine>,
    c: &MachineConstraints,
) -> Option<String> {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for m in machines {
        for mismatch in c.hardware_and_placement_mismatches(m) {
            *reasons.entry(mismatch.category(c)).or_default() += 1;
        }
    }
    if reasons.is_empty() {
        return None;
    }
    let mut ranked: Vec<(String, usize)> = reasons.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let listed: Vec<String> = ranked
        .iter()
        .take(3)
        .map(|(why, n)| format!("{n} {}", if *n == 1 { singular(why) } else { why.clone() }))
        .collect();
    Some(listed.join(", "))
}

/// The pools of `spec` MAAS has too few matching machines for, with the counts (what
/// `cluster create` says before anything is taken, as the wizard's review does): those it
/// cannot fill now (the cluster waits), then those it could never fill (the engine refuses).
pub fn capacity_shortfalls(
    spec: &ClusterSpec,
    maas: &MaasSnapshot,
) -> (Vec<Problem>, Vec<Problem>) {
    let fit = fit_against_maas(spec, None, maas);
    let pool_size =
        |p: &&Problem| p.path.starts_with("spec.nodePools[") && p.path.ends_with(".size");
    (
        fit.waitable.iter().cloned().collect(),
        fit.refused.iter().filter(pool_size).cloned().collect(),
    )
}

fn check_image(image: &OsImage, from_spec: bool, maas: &MaasSnapshot, p: &mut Problems) {
    let name = image.boot_resource_name();
    if maas.has_boot_resource(&name) {
        return;
    }
    let path = if from_spec {
        "spec.osImage"
    } else {
        "spec.profile.name"
    };
    let fix = match image {
        OsImage::Ubuntu { .. } => "sync it in MAAS (Images > Ubuntu) or pick another series",
        OsImage::Custom { .. } => {
            "upload it with `maas $PROFILE boot-resources create name=custom/NAME ...`"
        }
    };
    p.push(
        path,
        format!(
            "MAAS has no boot image `{name}`{}: {fix}",
            suggest::hint(&name, maas.boot_resource_names())
        ),
    );
}

/// True when every zone, pool and tag the pool names exists.
fn check_references(pool: &NodePool, path: &str, maas: &MaasSnapshot, p: &mut Problems) -> bool {
    let mut ok = true;
    if !maas.has_pool(&pool.resource_pool) {
        ok = false;
        let known = maas.pool_names();
        p.push(
            format!("{path}.resourcePool"),
            format!(
                "MAAS has no resource pool `{}`{}",
                pool.resource_pool,
                suggest::hint(&pool.resource_pool, known.iter().copied())
            ),
        );
    }
    for (z, zone) in pool.zones.iter().enumerate() {
        if !maas.has_zone(zone) {
            ok = false;
            p.push(
                format!("{path}.zones[{z}]"),
                format!(
                    "MAAS has no zone `{zone}`{}",
                    suggest::hint(zone, maas.zone_names())
                ),
            );
        }
    }
    for (t, tag) in pool.maas_tags.iter().enumerate() {
        if !maas.has_tag(tag) {
            ok = false;
            p.push(
                format!("{path}.maasTags[{t}]"),
                format!(
                    "MAAS has no tag `{tag}`{}: create it in MAAS or fix the name",
                    suggest::hint(tag, maas.tag_names())
                ),
            );
        }
    }
    ok
}

/// "pool workers needs 5 machines with … ; MAAS has 3 Ready that match (2 more needed)", with
/// the machines other pools took and the commonest reasons the rest do not fit.
fn shortfall_message(outcome: &PoolCapacity, request: &PoolRequest, maas: &MaasSnapshot) -> String {
    let c = &request.constraints;
    let mut msg = format!(
        "pool {} needs {} machine{} with {}; MAAS has {} Ready that match",
        outcome.name,
        outcome.needed,
        if outcome.needed == 1 { "" } else { "s" },
        c.describe(),
        outcome.matching,
    );
    if !outcome.taken_by_others.is_empty() {
        let others: Vec<String> = outcome
            .taken_by_others
            .iter()
            .map(|(pool, n)| format!("{n} go to pool {pool}"))
            .collect();
        msg.push_str(&format!(", of which {}", others.join(" and ")));
    }
    msg.push_str(&format!(" ({} more needed)", outcome.shortfall()));
    if c.zones.len() > 1 {
        // Where the matches are, so the operator sees which zone to add machines to.
        let per_zone: Vec<String> = c
            .zones
            .iter()
            .map(|zone| {
                let n = maas
                    .machines
                    .iter()
                    .filter(|m| m.zone.name == *zone && c.matches(m))
                    .count();
                format!("{zone} {n}")
            })
            .collect();
        msg.push_str(&format!(
            "; matching Ready machines by zone: {}",
            per_zone.join(", ")
        ));
    }

    // Among Ready machines of the right resource pool, why the others do not fit.
    let in_pool: Vec<_> = maas
        .machines
        .iter()
        .filter(|m| is_available(m) && c.pool.as_deref().is_none_or(|pool| m.pool_name() == pool))
        .collect();
    if let Some(reasons) = top_reasons(in_pool.iter().copied(), c) {
        msg.push_str(&format!(
            "; of the {} Ready machine(s) in resource pool {}, {reasons}",
            in_pool.len(),
            c.pool.as_deref().unwrap_or("any"),
        ));
    }
    let busy = maas
        .machines
        .iter()
        .filter(|m| !is_available(m) && c.hardware_and_placement_mismatches(m).is_empty())
        .count();
    if busy > 0 {
        let verb = if busy == 1 { "is" } else { "are" };
        msg.push_str(&format!(
            "; {busy} more would fit but {verb} not Ready or locked"
        ));
    }
    msg.push_str(
        ": add or commission machines, release unused ones, or relax the pool's constraints",
    );
    msg
}

fn check_addresses(spec: &ClusterSpec, maas: &MaasSnapshot, p: &mut Problems) {
    let subnets: Vec<(IpNet, &str)> = maas
        .subnets
        .iter()
        .filter_map(|s| {
            s.cidr
                .parse::<IpNet>()
                .ok()
                .map(|n| (n.trunc(), s.cidr.as_str()))
        })
        .collect();
    if subnets.is_empty() {
        return;
    }
    let net = &spec.spec.network;
    for (text, path) in [
        (&net.pod_cidr, "spec.network.podCIDR"),
        (&net.service_cidr, "spec.network.serviceCIDR"),
    ] {
        let Ok(range) = text.trim().parse::<IpNet>() else {
            continue;
        };
        let range = range.trunc();
        for (subnet, name) in &subnets {
            if range.contains(subnet) || subnet.contains(&range) {
                p.push(
                    path,
                    format!("{range} overlaps MAAS subnet {name}, where the machines live: pick a range no MAAS subnet uses"),
                );
            }
        }
    }
    let ep = &net.control_plane_endpoint;
    if let Some(text) = &ep.subnet {
        if let Ok(wanted) = text.trim().parse::<IpNet>() {
            if !subnets.iter().any(|(s, _)| *s == wanted.trunc()) {
                let names: Vec<&str> = subnets.iter().map(|(_, n)| *n).collect();
                p.push(
                    "spec.network.controlPlaneEndpoint.subnet",
                    format!(
                        "MAAS has no subnet {wanted}{}",
                        suggest::hint(text, names.iter().copied())
                    ),
                );
            }
        }
    }
    let mut addresses: Vec<(IpAddr, String)> = Vec::new();
    if let Some(ip) = ep.vip.as_deref().and_then(|v| v.trim().parse().ok()) {
        addresses.push((ip, "spec.network.controlPlaneEndpoint.vip".into()));
    }
    for (i, pool) in spec.spec.node_pools.iter().enumerate() {
        for (s, text) in pool.static_ips.iter().enumerate() {
            if let Ok(ip) = text.trim().parse() {
                addresses.push((ip, format!("spec.nodePools[{i}].staticIps[{s}]")));
            }
        }
    }
    for (ip, path) in addresses {
        if !subnets.iter().any(|(s, _)| s.contains(&ip)) {
            p.push(path.clone(), format!("{ip} is on no MAAS subnet: the nodes could not reach it; pick an address on the machines' subnet"));
        }
        if let Some(m) = maas.machines.iter().find(|m| {
            m.ip_addresses
                .iter()
                .any(|a| a.parse::<IpAddr>().ok() == Some(ip))
        }) {
            p.push(
                path,
                format!(
                    "{ip} is already used by machine {} ({}): pick a free address",
                    m.hostname, m.system_id
                ),
            );
        }
    }
}

/// "are in other zones" → "is in other zones" for a count of one.
fn singular(phrase: &str) -> String {
    for (plural, one) in [("are ", "is "), ("have ", "has "), ("lack ", "lacks ")] {
        if let Some(rest) = phrase.strip_prefix(plural) {
            return format!("{one}{rest}");
        }
    }
    phrase.to_string()
}

#[cfg(test)]
mod tests {
    use super::singular;

    #[test]
    fn singular_phrases() {
        assert_eq!(singular("are in other zones"), "is in other zones");
        assert_eq!(
            singular("have fewer than 8 cores"),
            "has fewer than 8 cores"
        );
        assert_eq!(singular("lack tag(s) gpu"), "lacks tag(s) gpu");
        assert_eq!(singular("other"), "other");
    }
}
