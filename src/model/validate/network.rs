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

pub(super) fn parse_cidr(text: &str, path: &str, what: &str, p: &mut Problems) -> Option<IpNet> {
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
        if pod.contains(&service) || service.contains(&pod) {
            p.push(
                "spec.network.serviceCIDR",
                format!("{service} overlaps the pod network {pod}: pick ranges that do not overlap, like pods 10.244.0.0/16 and services 10.96.0.0/12"),
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
