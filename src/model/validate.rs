//! Local validation of a cluster spec: everything that can be checked without MAAS. Every problem
//! is listed, each at its field path with what to change.

use super::cron::check_cron;
use super::document::API_VERSION;
use super::names;
use super::problem::Problems;
use super::profile::{check_url, ClusterProfile};
use super::spec::{
    ClusterSpec, EndpointMode, NodePool, OsImage, PoolRole, RolloutStrategy, CLUSTER_KIND,
};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// kubeadm's preflight refuses a control-plane node with fewer than 2 CPUs or about 1.7 GB.
const CP_MIN_CPU: u32 = 2;
const CP_MIN_MEMORY_MIB: u64 = 2048;
const WORKER_MIN_MEMORY_MIB: u64 = 1024;
/// The OS, container images and etcd need room; below this deployments fail half-way.
const MIN_DISK_GB: u64 = 20;
/// The per-node pod range the controller manager carves out of the pod CIDR (its default).
const NODE_MASK_V4: u8 = 24;
const NODE_MASK_V6: u8 = 64;

/// Labels kubelet may set on its own node inside the kubernetes.io / k8s.io namespaces
/// (kubelet's `--node-labels` refuses any other label there).
const KUBELET_ALLOWED_LABELS: &[&str] = &[
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "beta.kubernetes.io/os",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "kubernetes.io/arch",
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
];

/// Checks a spec without MAAS. With the profile it names, per-pack overrides and the OS image
/// are checked against it too.
pub fn validate_local(spec: &ClusterSpec, profile: Option<&ClusterProfile>) -> Problems {
    let mut p = Problems::new();
    if spec.api_version != API_VERSION {
        p.push("apiVersion", format!("must be `{API_VERSION}`"));
    }
    if spec.kind != CLUSTER_KIND {
        p.push("kind", format!("must be `{CLUSTER_KIND}`"));
    }
    if let Err(e) = names::check_dns1123_label(&spec.metadata.name) {
        p.push("metadata.name", format!("the cluster name {e}"));
    }
    for (i, tag) in spec.metadata.tags.iter().enumerate() {
        if tag.trim().is_empty() || tag.chars().any(char::is_control) {
            p.push(
                format!("metadata.tags[{i}]"),
                "is empty or holds control characters: use short words like `team-a` or `env:prod`",
            );
        }
    }
    let body = &spec.spec;
    if let Err(e) = names::check_dns1123_label(&body.cloud_account) {
        p.push(
            "spec.cloudAccount",
            format!("the account name {e} (list accounts with `kubemaas account list`)"),
        );
    }
    if let Err(e) = names::check_dns1123_subdomain(&body.profile.name) {
        p.push("spec.profile.name", format!("the profile name {e}"));
    }
    if let Err(e) = names::check_dns1123_subdomain(&body.dns_domain) {
        p.push("spec.dnsDomain", format!("the DNS domain {e}"));
    }
    let os_image = body
        .os_image
        .as_deref()
        .and_then(|text| match OsImage::parse(text) {
            Ok(img) => Some(img),
            Err(e) => {
                p.push("spec.osImage", e);
                None
            }
        });
    let nets = check_network(spec, &mut p);
    check_pools(spec, &nets, &mut p);
    check_policies(spec, &mut p);
    if let Some(profile) = profile {
        check_against_profile(spec, profile, os_image.as_ref(), &mut p);
    }
    p
}

/// The parsed networks, for the checks that relate pools to them.
struct Nets {
    pod: Option<IpNet>,
    service: Option<IpNet>,
    vip: Option<IpAddr>,
    subnet: Option<IpNet>,
}

fn parse_cidr(text: &str, path: &str, what: &str, p: &mut Problems) -> Option<IpNet> {
    let text = text.trim();
    match text.parse::<IpNet>() {
        Ok(net) => {
            if net.trunc() != net {
                p.push(
                    path,
                    format!(
                        "{what} `{text}` has host bits set: write the network address, `{}`",
                        net.trunc()
                    ),
                );
            }
            Some(net.trunc())
        }
        Err(_) => {
            p.push(
                path,
                format!("`{text}` is not a CIDR: write {what} like `10.244.0.0/16`"),
            );
            None
        }
    }
}

fn parse_ip(text: &str, path: &str, p: &mut Problems) -> Option<IpAddr> {
    match text.trim().parse::<IpAddr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            p.push(
                path,
                format!("`{text}` is not an IP address: write it like `10.20.0.10`"),
            );
            None
        }
    }
}

fn check_network(spec: &ClusterSpec, p: &mut Problems) -> Nets {
    let net = &spec.spec.network;
    let pod = parse_cidr(&net.pod_cidr, "spec.network.podCIDR", "the pod network", p);
    let service = parse_cidr(
        &net.service_cidr,
        "spec.network.serviceCIDR",
        "the service network",
        p,
    );
    if let (Some(pod), Some(service)) = (pod, service) {
        if pod.contains(&service) || service.contains(&pod) {
            p.push(
                "spec.network.serviceCIDR",
                format!("{service} overlaps the pod network {pod}: pick ranges that do not overlap, like pods 192.168.0.0/16 and services 10.96.0.0/12"),
            );
        }
        if pod.addr().is_ipv4() != service.addr().is_ipv4() {
            p.push("spec.network.serviceCIDR", format!("{service} and the pod network {pod} are of different IP families: use IPv4 for both or IPv6 for both"));
        }
    }
    if let Some(service) = service {
        // kube-apiserver refuses service ranges with more than 2^20 addresses.
        let (max_prefix, limit) = match service {
            IpNet::V4(_) => (12, "/12"),
            IpNet::V6(_) => (108, "/108"),
        };
        if service.prefix_len() < max_prefix {
            p.push("spec.network.serviceCIDR", format!("{service} is larger than the API server accepts: use a {limit} or smaller range"));
        }
    }
    if let Some(pod) = pod {
        let node_mask = if pod.addr().is_ipv4() {
            NODE_MASK_V4
        } else {
            NODE_MASK_V6
        };
        let nodes: u64 = spec.spec.node_pools.iter().map(|n| u64::from(n.size)).sum();
        if pod.prefix_len() > node_mask {
            p.push("spec.network.podCIDR", format!("{pod} is smaller than one node's pod range (/{node_mask}): use a /16, for example"));
        } else {
            let ranges = 1u64
                .checked_shl(u32::from(node_mask - pod.prefix_len()))
                .unwrap_or(u64::MAX);
            if nodes > ranges {
                p.push(
                    "spec.network.podCIDR",
                    format!("{pod} holds {ranges} node pod range(s) of /{node_mask}, but the cluster has {nodes} nodes: use a larger range"),
                );
            }
        }
    }

    let ep = &net.control_plane_endpoint;
    let subnet = ep.subnet.as_deref().and_then(|s| {
        parse_cidr(
            s,
            "spec.network.controlPlaneEndpoint.subnet",
            "the API subnet",
            p,
        )
    });
    let vip = match (ep.mode, ep.vip.as_deref()) {
        (EndpointMode::Dns, Some(_)) => {
            p.push(
                "spec.network.controlPlaneEndpoint.vip",
                "is only used with `mode: vip`: remove it, or set mode to vip",
            );
            None
        }
        (EndpointMode::Vip, Some(text)) => {
            parse_ip(text, "spec.network.controlPlaneEndpoint.vip", p)
        }
        _ => None,
    };
    if let Some(ip) = vip {
        check_ip_placement(
            ip,
            "spec.network.controlPlaneEndpoint.vip",
            "the VIP",
            pod,
            service,
            subnet,
            p,
        );
    }
    if let Some(name) = &ep.dns_name {
        if let Err(e) = names::check_dns1123_subdomain(name) {
            p.push(
                "spec.network.controlPlaneEndpoint.dnsName",
                format!("the API's DNS name {e}"),
            );
        }
    }
    if ep.port == 0 {
        p.push(
            "spec.network.controlPlaneEndpoint.port",
            "0 is not a port: use 6443",
        );
    }
    check_proxy(spec, p);
    Nets {
        pod,
        service,
        vip,
        subnet,
    }
}

fn check_ip_placement(
    ip: IpAddr,
    path: &str,
    what: &str,
    pod: Option<IpNet>,
    service: Option<IpNet>,
    subnet: Option<IpNet>,
    p: &mut Problems,
) {
    if let Some(pod) = pod.filter(|n| n.contains(&ip)) {
        p.push(path, format!("{what} {ip} is inside the pod network {pod}: pick an address on the machines' subnet"));
    }
    if let Some(service) = service.filter(|n| n.contains(&ip)) {
        p.push(path, format!("{what} {ip} is inside the service network {service}: pick an address on the machines' subnet"));
    }
    if let Some(subnet) = subnet.filter(|n| !n.contains(&ip)) {
        p.push(
            path,
            format!("{what} {ip} is not on the API subnet {subnet}: pick an address inside it"),
        );
    }
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        p.push(
            path,
            format!(
                "{what} {ip} cannot be a node's address: pick an address on the machines' subnet"
            ),
        );
    }
}

fn check_proxy(spec: &ClusterSpec, p: &mut Problems) {
    let proxy = &spec.spec.network.proxy;
    for (value, path) in [
        (&proxy.http_proxy, "spec.network.proxy.httpProxy"),
        (&proxy.https_proxy, "spec.network.proxy.httpsProxy"),
    ] {
        if let Some(url) = value {
            check_url(url, path, &["http", "https"], p);
        }
    }
    for (i, entry) in proxy.no_proxy.iter().enumerate() {
        let path = format!("spec.network.proxy.noProxy[{i}]");
        let e = entry.trim();
        let host = e
            .strip_prefix("*.")
            .or_else(|| e.strip_prefix('.'))
            .unwrap_or(e);
        let ok = e.parse::<IpAddr>().is_ok()
            || e.parse::<IpNet>().is_ok()
            || e == "*"
            || host_with_optional_port(host);
        if !ok {
            p.push(
                path,
                format!("`{entry}` is not a host, domain (`.example.com`), IP or CIDR"),
            );
        }
    }
}

fn host_with_optional_port(text: &str) -> bool {
    let host = match text.rsplit_once(':') {
        Some((h, port)) if port.parse::<u16>().is_ok() => h,
        _ => text,
    };
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn check_pools(spec: &ClusterSpec, nets: &Nets, p: &mut Problems) {
    let pools = &spec.spec.node_pools;
    let control: Vec<usize> = (0..pools.len())
        .filter(|&i| pools[i].role == PoolRole::ControlPlane)
        .collect();
    match control.len() {
        0 => p.push("spec.nodePools", "there is no control-plane pool: add a pool with `role: controlPlane` and `size: 1`, 3 or 5"),
        1 => {}
        n => p.push(
            format!("spec.nodePools[{}].role", control[1]),
            format!("there are {n} control-plane pools: keep one (scale it with its size)"),
        ),
    }
    if !pools.iter().any(|x| x.role == PoolRole::Worker) {
        p.push("spec.nodePools", "there is no worker pool: add a pool with `role: worker` (its size may be 0 when the control plane runs workloads)");
    }
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut static_seen: BTreeMap<IpAddr, String> = BTreeMap::new();
    for (i, pool) in pools.iter().enumerate() {
        let path = format!("spec.nodePools[{i}]");
        if let Err(e) = names::check_dns1123_label(&pool.name) {
            p.push(format!("{path}.name"), format!("the pool name {e}"));
        }
        if let Some(first) = seen.insert(pool.name.as_str(), i) {
            p.push(
                format!("{path}.name"),
                format!(
                    "`{}` is also the name of nodePools[{first}]: pool names must be unique",
                    pool.name
                ),
            );
        }
        check_pool(pool, &path, nets, &mut static_seen, p);
    }
    let workload_nodes: u32 = pools
        .iter()
        .filter(|x| x.runs_workloads())
        .map(|x| x.size)
        .sum();
    if !pools.is_empty() && workload_nodes == 0 {
        p.push(
            "spec.nodePools",
            "no node can run workloads: give a worker pool a size of 1 or more, or set `allowWorkloads: true` on the control-plane pool",
        );
    }
}

fn check_pool(
    pool: &NodePool,
    path: &str,
    nets: &Nets,
    static_seen: &mut BTreeMap<IpAddr, String>,
    p: &mut Problems,
) {
    let is_cp = pool.role == PoolRole::ControlPlane;
    if is_cp && ![1, 3, 5].contains(&pool.size) {
        p.push(
            format!("{path}.size"),
            format!("a control plane of {} node(s) is not supported: use 1, 3 or 5 (etcd needs an odd number; 3 survives one failure)", pool.size),
        );
    }
    if !is_cp && pool.allow_workloads.is_some() {
        p.push(
            format!("{path}.allowWorkloads"),
            "only applies to the control-plane pool: remove it (worker pools always run workloads)",
        );
    }
    if pool.resource_pool.trim().is_empty() {
        p.push(
            format!("{path}.resourcePool"),
            "is empty: give a MAAS resource pool, like `default`",
        );
    }
    let mut zones = BTreeSet::new();
    for (z, zone) in pool.zones.iter().enumerate() {
        if zone.trim().is_empty() {
            p.push(
                format!("{path}.zones[{z}]"),
                "is empty: give a MAAS zone name, or remove the entry",
            );
        } else if !zones.insert(zone.as_str()) {
            p.push(
                format!("{path}.zones[{z}]"),
                format!("zone `{zone}` is listed twice"),
            );
        }
    }
    let (min_cpu, min_mem) = if is_cp {
        (CP_MIN_CPU, CP_MIN_MEMORY_MIB)
    } else {
        (1, WORKER_MIN_MEMORY_MIB)
    };
    if pool.min_cpu < min_cpu {
        p.push(
            format!("{path}.minCpu"),
            format!(
                "{} core(s) is too few for a {} node: use {min_cpu} or more",
                pool.min_cpu,
                role_words(pool.role)
            ),
        );
    }
    if pool.min_memory_mib < min_mem {
        p.push(
            format!("{path}.minMemoryMiB"),
            format!("{} MiB is too little for a {} node: use {min_mem} or more (MiB, as MAAS counts memory: 8 GiB = 8192)", pool.min_memory_mib, role_words(pool.role)),
        );
    }
    if pool.min_disk_gb < MIN_DISK_GB {
        p.push(
            format!("{path}.minDiskGB"),
            format!(
                "{} GB is too small for the OS and container images: use {MIN_DISK_GB} or more",
                pool.min_disk_gb
            ),
        );
    }
    let mut tags = BTreeSet::new();
    for (t, tag) in pool.maas_tags.iter().enumerate() {
        if let Err(e) = names::check_maas_tag(tag) {
            p.push(format!("{path}.maasTags[{t}]"), format!("the tag {e}"));
        } else if !tags.insert(tag.as_str()) {
            p.push(
                format!("{path}.maasTags[{t}]"),
                format!("tag `{tag}` is listed twice"),
            );
        }
    }
    for (key, value) in &pool.labels {
        // Label keys hold dots and slashes, so they are quoted to keep the path readable.
        let lpath = format!("{path}.labels[{key:?}]");
        if let Err(e) = names::check_label_key(key) {
            p.push(lpath.clone(), format!("label {e}"));
        } else if let Some(reason) = kubelet_refuses(key) {
            p.push(lpath.clone(), reason);
        }
        if let Err(e) = names::check_label_value(value) {
            p.push(lpath, format!("label {e}"));
        }
    }
    let mut taints = BTreeSet::new();
    for (t, taint) in pool.taints.iter().enumerate() {
        let tpath = format!("{path}.taints[{t}]");
        if let Err(e) = names::check_label_key(&taint.key) {
            p.push(format!("{tpath}.key"), format!("taint {e}"));
        }
        if let Err(e) = names::check_label_value(&taint.value) {
            p.push(format!("{tpath}.value"), format!("taint {e}"));
        }
        if !taints.insert((taint.key.as_str(), taint.effect as u8)) {
            p.push(
                tpath,
                format!(
                    "taint `{}` with effect {:?} is listed twice",
                    taint.key, taint.effect
                ),
            );
        }
    }
    if !pool.static_ips.is_empty() {
        if !is_cp {
            p.push(format!("{path}.staticIps"), "static addresses are only for control-plane nodes: remove them (workers take addresses from MAAS)");
        } else if pool.static_ips.len() != pool.size as usize {
            p.push(
                format!("{path}.staticIps"),
                format!(
                    "{} address(es) for {} node(s): give exactly one per node, or none",
                    pool.static_ips.len(),
                    pool.size
                ),
            );
        }
        for (s, text) in pool.static_ips.iter().enumerate() {
            let spath = format!("{path}.staticIps[{s}]");
            let Some(ip) = parse_ip(text, &spath, p) else {
                continue;
            };
            check_ip_placement(
                ip,
                &spath,
                "static address",
                nets.pod,
                nets.service,
                nets.subnet,
                p,
            );
            if nets.vip == Some(ip) {
                p.push(
                    spath.clone(),
                    format!("{ip} is also the VIP: the VIP must be an address no node owns"),
                );
            }
            if let Some(first) = static_seen.insert(ip, spath.clone()) {
                p.push(spath, format!("{ip} is already used at {first}"));
            }
        }
    }
    check_rolling_update(pool, path, p);
}

fn role_words(role: PoolRole) -> &'static str {
    match role {
        PoolRole::ControlPlane => "control-plane",
        PoolRole::Worker => "worker",
    }
}

/// Why kubelet would refuse to put this label on its node, if it would.
fn kubelet_refuses(key: &str) -> Option<String> {
    let (prefix, _) = key.split_once('/')?;
    let reserved = ["kubernetes.io", "k8s.io"]
        .iter()
        .any(|ns| prefix == *ns || prefix.ends_with(&format!(".{ns}")));
    let allowed_ns = ["kubelet.kubernetes.io", "node.kubernetes.io"]
        .iter()
        .any(|ns| prefix == *ns || prefix.ends_with(&format!(".{ns}")));
    if reserved && !allowed_ns && !KUBELET_ALLOWED_LABELS.contains(&key) {
        Some(format!(
            "kubelet refuses to set labels under `{prefix}` on its own node: use your own prefix, like `example.com/{}`",
            key.split_once('/').map_or(key, |(_, n)| n)
        ))
    } else {
        None
    }
}

fn check_rolling_update(pool: &NodePool, path: &str, p: &mut Problems) {
    let ru = &pool.rolling_update;
    let rpath = format!("{path}.rollingUpdate");
    if ru.strategy != RolloutStrategy::Custom {
        if ru.max_surge.is_some() || ru.max_unavailable.is_some() {
            p.push(rpath.clone(), "maxSurge and maxUnavailable only apply to `strategy: custom`: remove them, or set the strategy to custom");
        }
    } else {
        match (ru.max_surge, ru.max_unavailable) {
            (None, _) | (_, None) => p.push(rpath.clone(), "`strategy: custom` needs both maxSurge and maxUnavailable"),
            (Some(0), Some(0)) => p.push(rpath.clone(), "maxSurge and maxUnavailable are both 0, so no node could ever be replaced: raise one of them"),
            _ => {}
        }
    }
    if pool.role == PoolRole::ControlPlane {
        let (surge, unavailable) = ru.surge_and_unavailable();
        // Removing etcd members before adding keeps quorum only when enough others remain.
        let tolerable = pool.size.saturating_sub(1) / 2;
        if unavailable > tolerable {
            let fix = if pool.size < 3 {
                "use expandFirst (a control plane of 1 has no member to spare)".to_string()
            } else {
                format!("keep maxUnavailable at {tolerable} or less, or use expandFirst")
            };
            p.push(
                format!("{rpath}.strategy"),
                format!("taking {unavailable} control-plane node(s) down at once loses etcd quorum with {} node(s): {fix}", pool.size),
            );
        }
        if surge > 1 {
            p.push(
                format!("{rpath}.maxSurge"),
                "the control plane is replaced one node at a time: use maxSurge 0 or 1",
            );
        }
    }
}

fn check_policies(spec: &ClusterSpec, p: &mut Problems) {
    let pol = &spec.spec.policies;
    for (value, path) in [
        (
            &pol.machine_management.patch_schedule,
            "spec.policies.machineManagement.patchSchedule",
        ),
        (&pol.scan.schedule, "spec.policies.scan.schedule"),
        (&pol.backup.schedule, "spec.policies.backup.schedule"),
    ] {
        if let Some(expr) = value {
            if let Err(e) = check_cron(expr) {
                p.push(path, format!("the schedule {e}"));
            }
        }
    }
    if pol.machine_management.reboot_if_required
        && !pol.machine_management.patch_os_on_boot
        && pol.machine_management.patch_schedule.is_none()
    {
        p.push(
            "spec.policies.machineManagement.rebootIfRequired",
            "has no effect without patching: set patchOsOnBoot or a patchSchedule, or remove it",
        );
    }
    if let Some(location) = &pol.backup.location {
        check_url(
            location,
            "spec.policies.backup.location",
            &["s3", "http", "https"],
            p,
        );
    } else if pol.backup.schedule.is_some() {
        p.push(
            "spec.policies.backup.location",
            format!("a backup schedule needs a location: give an S3-compatible URL, like `s3://backups/{}`", spec.metadata.name),
        );
    }
    if pol.backup.retention_days == 0 {
        p.push(
            "spec.policies.backup.retentionDays",
            "0 days would delete every backup at once: keep them 1 day or more",
        );
    }
}

fn check_against_profile(
    spec: &ClusterSpec,
    profile: &ClusterProfile,
    os_image: Option<&OsImage>,
    p: &mut Problems,
) {
    let body = &spec.spec;
    if body.profile.name != profile.metadata.name {
        p.push(
            "spec.profile.name",
            format!(
                "names `{}` but profile `{}` was given to check against",
                body.profile.name, profile.metadata.name
            ),
        );
        return;
    }
    match profile.resolve(&body.profile.overrides) {
        Err(problems) => p.extend(problems),
        Ok(resolved) => {
            if let Some(OsImage::Ubuntu { series }) = os_image {
                if *series != resolved.os.series {
                    p.push(
                        "spec.osImage",
                        format!(
                            "ubuntu/{series} differs from the profile's series `{}`, whose packages are for it: remove osImage, or pick a profile for {series}",
                            resolved.os.series
                        ),
                    );
                }
            }
        }
    }
}

/// Both layers of checks at once — local, and against MAAS — so an operator sees every
/// problem in one list. The MAAS checks skip values the local checks already refused.
pub fn validate_spec(
    spec: &ClusterSpec,
    profile: Option<&ClusterProfile>,
    maas: &super::snapshot::MaasSnapshot,
) -> Problems {
    let mut problems = validate_local(spec, profile);
    let series = profile
        .and_then(|p| p.resolve(&spec.spec.profile.overrides).ok())
        .map(|r| r.os.series);
    problems.extend(super::maas_check::validate_against_maas(
        spec,
        series.as_deref(),
        maas,
    ));
    problems
}

/// The boot resource a spec deploys: its `osImage`, else the profile's Ubuntu series.
pub fn effective_os_image(spec: &ClusterSpec, profile_series: Option<&str>) -> Option<OsImage> {
    match &spec.spec.os_image {
        Some(text) => OsImage::parse(text).ok(),
        None => profile_series.map(|s| OsImage::Ubuntu {
            series: s.to_string(),
        }),
    }
}
