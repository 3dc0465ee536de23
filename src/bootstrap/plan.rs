//! The inputs of bootstrap generation: what the engine knows about a cluster and about one node,
//! reduced to plain data. The engine maps the operator's spec and profile onto these; keeping them
//! separate from the model lets this module be tested without a store or a MAAS.

use super::error::BootstrapError;
use crate::model::k8s_version::{KubernetesVersion, NEWEST_MINOR, OLDEST_MINOR};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// The port every kube-apiserver listens on, and that the control-plane endpoint answers on.
pub const API_SERVER_PORT: u16 = 6443;

/// One cluster, as far as its bootstrap artifacts are concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterPlan {
    /// The engine's id for the cluster; echoed in each node's identity file.
    pub cluster_id: String,
    /// The Kubernetes cluster name (kubeadm `clusterName`, kubeconfig names).
    pub cluster_name: String,
    pub kubernetes_version: KubernetesVersion,
    /// Host of the control-plane endpoint: the VIP, or a DNS name (a MAAS DNS record or a name
    /// that resolves to the VIP). The API server port is always [`API_SERVER_PORT`].
    pub endpoint_host: String,
    /// The VIP kube-vip announces, when the endpoint is a VIP rather than a DNS record.
    pub vip: Option<VipPlan>,
    /// The subnet the operator chose for the cluster's traffic. Nodes advertise their address on
    /// it, kube-vip binds on its interface, and it is added to NO_PROXY.
    pub node_subnet: Option<IpNet>,
    pub pod_cidr: IpNet,
    pub service_cidr: IpNet,
    /// The cluster DNS domain, normally `cluster.local` (CoreDNS answers for it).
    pub dns_domain: String,
    /// The MAAS DNS domain the nodes are registered in (kept off the proxy; never the cluster
    /// domain).
    pub maas_domain: String,
    /// Proxies the nodes must use to reach the outside; `None` for direct access.
    pub proxy: Option<ProxyPlan>,
    /// Where kubelet, kubeadm and kubectl are installed from.
    pub packages: AptRepository,
    /// Where kubeadm pulls the control-plane images, and containerd the pause image, from
    /// (kubeadm `imageRepository`): `registry.k8s.io` or the site's copy of it.
    pub image_repository: String,
    /// containerd registry mirrors: registry host (`docker.io`, `ghcr.io`) → mirror URLs, tried
    /// in order before the registry itself. One `certs.d/<registry>/hosts.toml` each.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// PEM certificates every node trusts (the site mirrors' CA), installed before anything is
    /// fetched.
    pub ca_certificates: Vec<String>,
    /// An Ubuntu archive mirror for apt, replacing the one MAAS configured.
    pub apt_mirror: Option<String>,
    /// More Debian packages installed with containerd and kubelet.
    pub extra_packages: Vec<String>,
    /// More kubelet flags on every node (flag name without dashes → value).
    pub kubelet_extra_args: BTreeMap<String, String>,
    /// Fields merged into the generated kubeadm ClusterConfiguration (a mapping; null for none).
    pub cluster_configuration: serde_yaml::Value,
    pub cni: CniPlan,
    /// Manifests applied after the CNI on the first control-plane node, in order: the storage
    /// and add-on layers' `manifestUrl`s.
    pub addon_manifests: Vec<String>,
    /// kubectl arguments run after them on the first control-plane node (the packs' settings,
    /// such as marking a StorageClass the default), with the admin kubeconfig, retried.
    pub addon_steps: Vec<Vec<String>>,
    /// The kube-vip image, e.g. `registry.corp.example/kube-vip/kube-vip:v0.8.9`.
    pub kube_vip_image: String,
}

/// The control-plane VIP and where to announce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipPlan {
    pub address: IpAddr,
    /// The interface to announce it on. When `None`, each control-plane node finds at boot the
    /// interface holding its address on [`ClusterPlan::node_subnet`] (so it must be set).
    pub interface: Option<String>,
}

/// HTTP(S) proxies. Proxy URLs may hold credentials, so `Debug` hides their passwords.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProxyPlan {
    pub http: Option<String>,
    pub https: Option<String>,
    /// Extra NO_PROXY entries (hosts, `.domain` suffixes, CIDRs). The cluster's own ranges and
    /// names are always added; see [`crate::bootstrap::no_proxy_list`].
    pub no_proxy: Vec<String>,
}

impl fmt::Debug for ProxyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyPlan")
            .field("http", &self.http.as_deref().map(redact_url))
            .field("https", &self.https.as_deref().map(redact_url))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// A URL with any password replaced, for Debug output and error messages.
pub(crate) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            u.to_string()
        }
        Err(_) => "<not a URL>".to_string(),
    }
}

/// An apt repository serving kubelet, kubeadm and kubectl (pkgs.k8s.io or an internal mirror).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AptRepository {
    /// e.g. `https://apt.corp.example/kubernetes/core:/stable:/v1.30/deb/`.
    pub url: String,
    /// The suite; `/` for a flat repository such as pkgs.k8s.io's.
    pub suite: String,
    /// Components after the suite; empty for a flat repository.
    pub components: Vec<String>,
    /// The repository's signing key.
    pub key: AptKey,
    /// The exact package version (`1.30.2-1.1`); `None` installs the newest `<version>-*`.
    pub package_version: Option<String>,
}

/// Where a repository's signing key comes from. Keys are public: no masking needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum AptKey {
    /// The ASCII-armoured key, downloaded at boot from this URL (usually the mirror's Release.key).
    Url(String),
    /// The ASCII-armoured key itself, written to the node.
    Armored(String),
}

/// The CNI and its manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CniPlan {
    pub kind: CniKind,
    pub manifest: CniManifest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CniKind {
    Calico,
    Cilium,
}

impl fmt::Display for CniKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CniKind::Calico => "calico",
            CniKind::Cilium => "cilium",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum CniManifest {
    /// A URL the first control-plane node can reach (normally on the internal mirror).
    Url(String),
    /// The manifest text (one or more YAML documents).
    Inline(String),
}

/// What a node does in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// The first control-plane node: runs `kubeadm init` and applies the CNI.
    InitControlPlane,
    /// Any further control-plane node: `kubeadm join --control-plane`.
    JoinControlPlane,
    Worker,
}

impl NodeRole {
    pub fn is_control_plane(self) -> bool {
        matches!(
            self,
            NodeRole::InitControlPlane | NodeRole::JoinControlPlane
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::InitControlPlane => "init_control_plane",
            NodeRole::JoinControlPlane => "join_control_plane",
            NodeRole::Worker => "worker",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node to bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodePlan {
    /// The MAAS hostname; becomes the Kubernetes node name.
    pub hostname: String,
    pub role: NodeRole,
    /// Node labels the kubelet registers with (`--node-labels`).
    pub labels: Vec<(String, String)>,
    /// `None`: kubeadm's default for the role (control-plane nodes get the control-plane
    /// NoSchedule taint, workers none). `Some(list)`: exactly these, so `Some(vec![])` makes a
    /// schedulable control-plane node.
    pub taints: Option<Vec<Taint>>,
    /// The node's address on the cluster subnet, when MAAS has already assigned it. When `None`
    /// and the plan has a node subnet, the node finds its address on that subnet at boot.
    pub ip: Option<IpAddr>,
}

/// A Kubernetes node taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl ClusterPlan {
    /// `host:6443`, with IPv6 hosts bracketed as URLs and kubeadm expect.
    pub fn endpoint_host_port(&self) -> String {
        host_port(&self.endpoint_host, API_SERVER_PORT)
    }

    /// `https://host:6443`.
    pub fn server_url(&self) -> String {
        format!("https://{}", self.endpoint_host_port())
    }

    /// Checks everything user-data generation relies on, reporting the first problem found.
    pub fn validate(&self) -> Result<(), BootstrapError> {
        require_non_blank("cluster.cluster_id", &self.cluster_id)?;
        if !is_dns_label(&self.cluster_name) {
            return Err(BootstrapError::plan(
                "cluster.cluster_name",
                format!("{:?} is not a DNS label", self.cluster_name),
                "use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit",
            ));
        }
        if !self.kubernetes_version.is_supported() {
            return Err(BootstrapError::plan(
                "cluster.kubernetes_version",
                format!("Kubernetes {} is not supported", self.kubernetes_version),
                format!("choose a 1.{OLDEST_MINOR}.x to 1.{NEWEST_MINOR}.x release in the cluster profile"),
            ));
        }
        if self.endpoint_host.parse::<IpAddr>().is_err() && !is_dns_name(&self.endpoint_host) {
            return Err(BootstrapError::plan(
                "cluster.endpoint_host",
                format!(
                    "{:?} is neither an IP address nor a DNS name",
                    self.endpoint_host
                ),
                "give the VIP or the control-plane DNS name, without scheme or port",
            ));
        }
        if !is_dns_name(&self.dns_domain) {
            return Err(BootstrapError::plan(
                "cluster.dns_domain",
                format!("{:?} is not a DNS domain", self.dns_domain),
                "use a domain such as cluster.local",
            ));
        }
        self.validate_ranges()?;
        self.validate_vip()?;
        if let Some(proxy) = &self.proxy {
            validate_proxy(proxy)?;
        }
        validate_apt(&self.packages)?;
        for (registry, mirrors) in &self.registry_mirrors {
            if !crate::model::profile::is_registry_host(registry) {
                return Err(BootstrapError::plan(
                    "cluster.registry_mirrors",
                    format!("{registry:?} is not a registry host"),
                    "key mirrors by the registry they mirror, like docker.io",
                ));
            }
            for mirror in mirrors {
                require_http_url("cluster.registry_mirrors", mirror)?;
            }
        }
        if let Some(mirror) = &self.apt_mirror {
            require_http_url("cluster.apt_mirror", mirror)?;
        }
        for url in &self.addon_manifests {
            if url::Url::parse(url).is_err() {
                return Err(BootstrapError::plan(
                    "cluster.addon_manifests",
                    format!("{url:?} is not a URL"),
                    "give each storage and add-on layer an http(s) manifestUrl",
                ));
            }
        }
        if self.kube_vip_image.trim().is_empty()
            || self.kube_vip_image.chars().any(|c| c.is_whitespace())
        {
            return Err(BootstrapError::plan(
                "cluster.kube_vip_image",
                "the kube-vip image reference is empty or contains whitespace",
                "give an image reference such as registry.corp.example/kube-vip/kube-vip:v0.8.9",
            ));
        }
        super::cni::validate(&self.cni, self.pod_cidr)
    }

    fn validate_ranges(&self) -> Result<(), BootstrapError> {
        let overlap = |a: &IpNet, b: &IpNet| a.contains(&b.network()) || b.contains(&a.network());
        if overlap(&self.pod_cidr, &self.service_cidr) {
            return Err(BootstrapError::plan(
                "cluster.service_cidr",
                format!(
                    "the service CIDR {} overlaps the pod CIDR {}",
                    self.service_cidr, self.pod_cidr
                ),
                "choose disjoint ranges, e.g. pods 10.244.0.0/16 and services 10.96.0.0/12",
            ));
        }
        // kube-apiserver refuses service ranges with more than 20 host bits.
        let host_bits = self.service_cidr.max_prefix_len() - self.service_cidr.prefix_len();
        if host_bits > 20 {
            return Err(BootstrapError::plan(
                "cluster.service_cidr",
                format!(
                    "{} is larger than kube-apiserver accepts",
                    self.service_cidr
                ),
                "use at most 20 host bits: /12 or smaller for IPv4, /108 or smaller for IPv6",
            ));
        }
        if let Some(subnet) = &self.node_subnet {
            for (name, range) in [("pod", &self.pod_cidr), ("service", &self.service_cidr)] {
                if overlap(subnet, range) {
                    return Err(BootstrapError::plan(
                        format!("cluster.{name}_cidr"),
                        format!("the {name} CIDR {range} overlaps the node subnet {subnet}"),
                        "choose cluster ranges outside every subnet the machines use",
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_vip(&self) -> Result<(), BootstrapError> {
        let Some(vip) = &self.vip else {
            return Ok(());
        };
        if let Some(subnet) = &self.node_subnet {
            if !subnet.contains(&vip.address) {
                return Err(BootstrapError::plan(
                    "cluster.vip",
                    format!("the VIP {} is not on the node subnet {subnet}", vip.address),
                    "reserve the VIP on the subnet the control-plane nodes use",
                ));
            }
        }
        match &vip.interface {
            Some(iface) if !is_interface_name(iface) => Err(BootstrapError::plan(
                "cluster.vip.interface",
                format!("{iface:?} is not a Linux interface name"),
                "give a name such as eth0 or bond0.100, or leave it unset to detect it from the node subnet",
            )),
            None if self.node_subnet.is_none() => Err(BootstrapError::plan(
                "cluster.vip.interface",
                "kube-vip needs the interface to announce the VIP on, and neither the interface nor the node subnet is set",
                "set the node subnet (preferred: each node then finds its interface on it) or the interface name",
            )),
            _ => Ok(()),
        }
    }
}

impl NodePlan {
    /// Checks the node's own fields and their fit with the cluster.
    pub fn validate(&self, plan: &ClusterPlan) -> Result<(), BootstrapError> {
        if !is_dns_label(&self.hostname) {
            return Err(BootstrapError::plan(
                "node.hostname",
                format!("{:?} is not a valid Kubernetes node name", self.hostname),
                "use the MAAS hostname: lowercase letters, digits and '-', at most 63 characters",
            ));
        }
        for (key, value) in &self.labels {
            validate_label(key, value)?;
        }
        for taint in self.taints.iter().flatten() {
            validate_label_key("node.taints", &taint.key)?;
            if let Some(v) = &taint.value {
                validate_label_value("node.taints", v)?;
            }
        }
        if let (Some(ip), Some(subnet)) = (self.ip, plan.node_subnet) {
            if !subnet.contains(&ip) {
                return Err(BootstrapError::plan(
                    "node.ip",
                    format!(
                        "{}'s address {ip} is not on the node subnet {subnet}",
                        self.hostname
                    ),
                    "pass the machine's address on the cluster subnet, or none to detect it at boot",
                ));
            }
        }
        Ok(())
    }
}

/// `host:port`, bracketing IPv6 literals.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn require_non_blank(field: &str, value: &str) -> Result<(), BootstrapError> {
    if value.trim().is_empty() {
        return Err(BootstrapError::plan(
            field,
            "it is empty",
            "the engine must fill it in",
        ));
    }
    Ok(())
}

fn require_http_url(field: &str, raw: &str) -> Result<url::Url, BootstrapError> {
    let parsed = url::Url::parse(raw).map_err(|e| {
        BootstrapError::plan(
            field,
            // The raw value may hold a proxy password: describe it, never quote it.
            format!("the value is not a URL ({e})"),
            "give a full URL such as http://proxy.corp.example:3128",
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(BootstrapError::plan(
            field,
            format!("{} is not an http(s) URL with a host", redact_url(raw)),
            "use an http:// or https:// URL with a host name or address",
        ));
    }
    Ok(parsed)
}

fn validate_proxy(proxy: &ProxyPlan) -> Result<(), BootstrapError> {
    if let Some(http) = &proxy.http {
        require_http_url("cluster.proxy.http", http)?;
    }
    if let Some(https) = &proxy.https {
        require_http_url("cluster.proxy.https", https)?;
    }
    for entry in &proxy.no_proxy {
        if entry.is_empty() || entry.contains(|c: char| c.is_whitespace() || c == ',' || c == '"') {
            return Err(BootstrapError::plan(
                "cluster.proxy.no_proxy",
                format!("the entry {entry:?} is empty or contains spaces, commas or quotes"),
                "give one host, .domain suffix or CIDR per entry",
            ));
        }
    }
    Ok(())
}

fn validate_apt(repo: &AptRepository) -> Result<(), BootstrapError> {
    require_http_url("cluster.packages.url", &repo.url)?;
    let word_ok = |w: &str| !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || c == ']');
    if !word_ok(&repo.suite) || !repo.components.iter().all(|c| word_ok(c)) {
        return Err(BootstrapError::plan(
            "cluster.packages.suite",
            "the suite or a component is empty or contains whitespace",
            "use suite \"/\" with no components for a flat repository such as pkgs.k8s.io, or e.g. suite \"kubernetes-xenial\" with component \"main\"",
        ));
    }
    if repo.suite.ends_with('/') != repo.components.is_empty() {
        return Err(BootstrapError::plan(
            "cluster.packages.components",
            "a flat repository (suite ending in '/') takes no components, and any other suite needs at least one",
            "for pkgs.k8s.io-style mirrors use suite \"/\" and no components",
        ));
    }
    match &repo.key {
        AptKey::Url(u) => {
            require_http_url("cluster.packages.key", u)?;
        }
        AptKey::Armored(text) => {
            if !text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                return Err(BootstrapError::plan(
                    "cluster.packages.key",
                    "the inline key is not an ASCII-armoured PGP public key",
                    "paste the repository's Release.key as served (it starts with -----BEGIN PGP PUBLIC KEY BLOCK-----)",
                ));
            }
        }
    }
    if let Some(v) = &repo.package_version {
        if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '=') {
            return Err(BootstrapError::plan(
                "cluster.packages.package_version",
                format!("{v:?} is not a Debian package version"),
                "give a version as apt shows it, e.g. 1.30.2-1.1, or leave it unset",
            ));
        }
    }
    Ok(())
}

/// kubelet refuses to set labels in the kubernetes.io / k8s.io namespaces except a few.
const KUBELET_ALLOWED_PREFIXES: [&str; 2] = ["kubelet.kubernetes.io/", "node.kubernetes.io/"];
const KUBELET_ALLOWED_KEYS: [&str; 7] = [
    "kubernetes.io/hostname",
    "kubernetes.io/instance-type",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
];

fn validate_label(key: &str, value: &str) -> Result<(), BootstrapError> {
    validate_label_key("node.labels", key)?;
    validate_label_value("node.labels", value)?;
    if let Some((prefix, _)) = key.split_once('/') {
        let restricted = prefix == "kubernetes.io"
            || prefix.ends_with(".kubernetes.io")
            || prefix == "k8s.io"
            || prefix.ends_with(".k8s.io");
        let allowed = KUBELET_ALLOWED_KEYS.contains(&key)
            || KUBELET_ALLOWED_PREFIXES.iter().any(|p| key.starts_with(p));
        if restricted && !allowed {
            return Err(BootstrapError::plan(
                "node.labels",
                format!("the kubelet may not set the label {key:?} on its own node (NodeRestriction)"),
                "use a label under node.kubernetes.io/ or your own prefix, or set it through the API after the node joins",
            ));
        }
    }
    Ok(())
}

fn validate_label_key(field: &str, key: &str) -> Result<(), BootstrapError> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| p.len() <= 253 && is_dns_name(p));
    if !prefix_ok || !is_label_name(name) {
        return Err(BootstrapError::plan(
            field,
            format!("{key:?} is not a valid label or taint key"),
            "use [prefix/]name, the name 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
        ));
    }
    Ok(())
}

fn validate_label_value(field: &str, value: &str) -> Result<(), BootstrapError> {
    if !value.is_empty() && !is_label_name(value) {
        return Err(BootstrapError::plan(
            field,
            format!("{value:?} is not a valid label value"),
            "use at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric",
        ));
    }
    Ok(())
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// RFC 1123 label, lowercase.
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Dot-separated RFC 1123 labels, lowercase.
pub(crate) fn is_dns_name(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_interface_name(s: &str) -> bool {
    // Linux IFNAMSIZ is 16 including the NUL; '/' and whitespace are forbidden.
    !s.is_empty()
        && s.len() <= 15
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rules() {
        assert!(validate_label("node.kubernetes.io/pool", "gpu").is_ok());
        assert!(validate_label("example.com/rack", "r12").is_ok());
        assert!(validate_label("node-role.kubernetes.io/worker", "").is_err());
        assert!(validate_label("bad key", "x").is_err());
        assert!(validate_label("ok", "-bad").is_err());
    }

    #[test]
    fn ipv6_endpoints_are_bracketed() {
        assert_eq!(host_port("fd00::10", 6443), "[fd00::10]:6443");
        assert_eq!(host_port("api.example", 6443), "api.example:6443");
    }

    #[test]
    fn proxy_debug_hides_passwords() {
        let p = ProxyPlan {
            http: Some("http://user:hunter2@proxy.example:3128".into()),
            https: None,
            no_proxy: vec![],
        };
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("proxy.example"));
    }
}
