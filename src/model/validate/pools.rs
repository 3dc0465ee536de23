//! Node pools: names, sizes, roles, machine minimums, tags, labels, taints, static addresses,
//! rolling updates, and whether anything can run workloads.

use super::network::{check_ip_placement, parse_ip, Nets};
use crate::model::names;
use crate::model::problem::Problems;
use crate::model::spec::{ClusterSpec, NodePool, PoolRole, RolloutStrategy};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// kubeadm's preflight refuses a control-plane node with fewer than 2 CPUs or about 1.7 GB.
const CP_MIN_CPU: u32 = 2;
const CP_MIN_MEMORY_MIB: u64 = 2048;
const WORKER_MIN_MEMORY_MIB: u64 = 1024;
/// The OS, container images and etcd need room; below this deployments fail half-way.
const MIN_DISK_GB: u64 = 20;
/// Upper bounds beyond any machine MAAS could hold (the largest servers sold have a few hundred
/// cores, tens of TiB of memory and boot disks of a few hundred TB). A value past them is a typo
/// or an attack (`minMemoryMiB: 18446744073709551615`), and would only make a pool that waits
/// forever while the cluster holds the machines of its other pools.
const MAX_CPU: u32 = 4096;
/// 64 TiB in MiB.
const MAX_MEMORY_MIB: u64 = 64 * 1024 * 1024;
/// 1 PB in GB (decimal, as MAAS counts disk).
const MAX_DISK_GB: u64 = 1_000_000;
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

pub(super) fn check_pools(spec: &ClusterSpec, nets: &Nets, p: &mut Problems) {
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

/// Refuses machine minimums no machine could meet, naming the key and the bound.
fn check_upper_bounds(pool: &NodePool, path: &str, p: &mut Problems) {
    if pool.min_cpu > MAX_CPU {
        p.push(
            format!("{path}.minCpu"),
            format!(
                "{} cores is more than any machine has: minCpu is at most {MAX_CPU}",
                pool.min_cpu
            ),
        );
    }
    if pool.min_memory_mib > MAX_MEMORY_MIB {
        p.push(
            format!("{path}.minMemoryMiB"),
            format!(
                "{} MiB is more memory than any machine has: minMemoryMiB is at most {MAX_MEMORY_MIB} (64 TiB)",
                pool.min_memory_mib
            ),
        );
    }
    if pool.min_disk_gb > MAX_DISK_GB {
        p.push(
            format!("{path}.minDiskGB"),
            format!(
                "{} GB is a bigger boot disk than any machine has: minDiskGB is at most {MAX_DISK_GB} (1 PB)",
                pool.min_disk_gb
            ),
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
    check_upper_bounds(pool, path, p);
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
