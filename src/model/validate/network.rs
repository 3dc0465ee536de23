//! The cluster network: pod and service ranges, the control-plane endpoint, proxies.

use crate::model::names;
use crate::model::problem::Problems;
use crate::model::profile::check_url;
use crate::model::spec::{ClusterSpec, EndpointMode};
use ipnet::IpNet;
use std::net::IpAddr;

/// The per-node pod range the controller manager carves out of the pod CIDR (its default).
const NODE_MASK_V4: u8 = 24;
const NODE_MASK_V6: u8 = 64;

/// The parsed networks, for the checks that relate pools to them.
pub(super) struct Nets {
    pub(super) pod: Option<IpNet>,
    pub(super) service: Option<IpNet>,
    pub(super) vip: Option<IpAddr>,
    pub(super) subnet: Option<IpNet>,
}

/// A CIDR as an operator wrote it (`what` names it in messages: "the pod network"). `Err` when
/// it is not one. A range written with host bits set reads as its network address, with the
/// problem beside it: a spec keeps checking with the intended range and lists the problem, a
/// gateway config refuses it (see `gateway::config::check_cidr`).
pub fn read_cidr(raw: &str, what: &str) -> Result<(IpNet, Option<String>), String> {
    let text = raw.trim();
    let net = text
        .parse::<IpNet>()
        .map_err(|_| format!("`{text}` is not a CIDR: write {what} like `10.244.0.0/16`"))?;
    let host_bits = (net.trunc() != net).then(|| {
        format!(
            "{what} `{text}` has host bits set: write the network address, `{}`",
            net.trunc()
        )
    });
    Ok((net.trunc(), host_bits))
}

/// Why a pod range and a service range cannot serve one cluster together: they overlap, or are
/// of different IP families. Every reason, in that order (empty when they fit).
pub fn pod_service_conflicts(pod: IpNet, service: IpNet) -> Vec<String> {
    let mut out = Vec::new();
    if pod.contains(&service) || service.contains(&pod) {
        out.push(format!("{service} overlaps the pod network {pod}: pick ranges that do not overlap, like pods 10.244.0.0/16 and services 10.96.0.0/12"));
    }
    if pod.addr().is_ipv4() != service.addr().is_ipv4() {
        out.push(format!("{service} and the pod network {pod} are of different IP families: use IPv4 for both or IPv6 for both"));
    }
    out
}

/// A service range larger than kube-apiserver accepts (more than 2^20 addresses), if it is.
pub fn service_range_problem(service: IpNet) -> Option<String> {
    let (max_prefix, limit) = match service {
        IpNet::V4(_) => (12, "/12"),
        IpNet::V6(_) => (108, "/108"),
    };
    (service.prefix_len() < max_prefix).then(|| {
        format!("{service} is larger than the API server accepts: use a {limit} or smaller range")
    })
}

pub(super) fn parse_cidr(text: &str, path: &str, what: &str, p: &mut Problems) -> Option<IpNet> {
    match read_cidr(text, what) {
        Ok((net, host_bits)) => {
            if let Some(problem) = host_bits {
                p.push(path, problem);
            }
            Some(net)
        }
        Err(problem) => {
            p.push(path, problem);
            None
        }
    }
}

pub(super) fn parse_ip(text: &str, path: &str, p: &mut Problems) -> Option<IpAddr> {
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

pub(super) fn check_network(spec: &ClusterSpec, p: &mut Problems) -> Nets {
    let net = &spec.spec.network;
    let pod = parse_cidr(&net.pod_cidr, "spec.network.podCIDR", "the pod network", p);
    let service = parse_cidr(
        &net.service_cidr,
        "spec.network.serviceCIDR",
        "the service network",
        p,
    );
    if let (Some(pod), Some(service)) = (pod, service) {
        for problem in pod_service_conflicts(pod, service) {
            p.push("spec.network.serviceCIDR", problem);
        }
    }
    if let Some(problem) = service.and_then(service_range_problem) {
        p.push("spec.network.serviceCIDR", problem);
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

pub(super) fn check_ip_placement(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::config::{check_cidr, check_networks};

    /// A gateway's cluster defaults and a cluster spec accept and refuse the same ranges.
    #[test]
    fn a_gateway_and_a_spec_judge_ranges_alike() {
        for (pod, service, fits) in [
            ("10.244.0.0/16", "10.96.0.0/12", true),
            ("10.96.0.0/16", "10.96.0.0/12", false),
            ("10.0.0.0/8", "10.96.0.0/12", false),
            ("10.244.0.0/16", "fd00::/108", false),
            ("10.244.0.0/16", "10.0.0.0/8", false),
            ("fd01::/48", "fd00::/108", true),
        ] {
            let gateway = check_networks(
                check_cidr(pod, "the pod network").unwrap(),
                check_cidr(service, "the service network").unwrap(),
            );
            let mut spec = ClusterSpec::with_defaults("web", "lab", 1, 1);
            spec.spec.network.pod_cidr = pod.into();
            spec.spec.network.service_cidr = service.into();
            let mut p = Problems::new();
            check_network(&spec, &mut p);
            let shown = p.to_string();
            assert_eq!(gateway.is_ok(), fits, "{pod} {service}: {gateway:?}");
            assert_eq!(
                !shown.contains("spec.network.serviceCIDR"),
                fits,
                "{pod} {service}: {shown}"
            );
            if let Err(first) = gateway {
                assert!(shown.contains(&first), "{first} not in {shown}");
            }
        }
    }

    #[test]
    fn host_bits_read_as_the_network_with_the_problem_beside_it() {
        let (net, problem) = read_cidr(" 10.244.1.0/16 ", "the pod network").unwrap();
        assert_eq!(net.to_string(), "10.244.0.0/16");
        assert!(problem
            .unwrap()
            .contains("write the network address, `10.244.0.0/16`"));
        assert!(check_cidr("10.244.1.0/16", "the pod network").is_err());
        assert!(read_cidr("10.244.0.0", "the pod network")
            .unwrap_err()
            .contains("is not a CIDR"));
    }
}
