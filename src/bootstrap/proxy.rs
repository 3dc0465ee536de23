//! Proxy settings for the programs on a node that reach out: apt, containerd and the kubelet.
//! NO_PROXY always covers the cluster's own ranges and names, or the cluster would send its own
//! traffic (pod to service, kubelet to API server) through the proxy.

use super::plan::{ClusterPlan, ProxyPlan};

/// The NO_PROXY entries for `plan`: the pod CIDR, service CIDR, node subnet, the endpoint (and
/// VIP), localhost, 127.0.0.1, `.svc`, `.cluster.local` and the cluster domain, then the
/// operator's own entries. Order is stable and duplicates are dropped.
pub fn no_proxy_list(plan: &ClusterPlan) -> Vec<String> {
    let mut list: Vec<String> = vec![plan.pod_cidr.to_string(), plan.service_cidr.to_string()];
    if let Some(subnet) = plan.node_subnet {
        list.push(subnet.to_string());
    }
    list.push(plan.endpoint_host.clone());
    if let Some(vip) = &plan.vip {
        list.push(vip.address.to_string());
    }
    list.extend(
        ["localhost", "127.0.0.1", ".svc"]
            .iter()
            .map(|s| s.to_string()),
    );
    list.push(format!(".{}", plan.dns_domain));
    list.push(format!(".{}", plan.maas_domain));
    if let Some(proxy) = &plan.proxy {
        list.extend(proxy.no_proxy.iter().cloned());
    }
    let mut seen = std::collections::HashSet::new();
    list.retain(|e| seen.insert(e.clone()));
    list
}

/// The proxy URLs, normalised (url crate serialisation percent-encodes anything odd, so they
/// can be placed inside quotes in apt and systemd files).
struct Urls {
    http: Option<String>,
    https: Option<String>,
}

fn urls(proxy: &ProxyPlan) -> Urls {
    let norm = |u: &Option<String>| {
        u.as_deref()
            .and_then(|s| url::Url::parse(s).ok())
            .map(|u| u.to_string())
    };
    Urls {
        http: norm(&proxy.http),
        https: norm(&proxy.https),
    }
}

/// `/etc/apt/apt.conf.d/` content. apt ignores NO_PROXY, so exact host names and IPv4
/// addresses from it get explicit `DIRECT` entries (apt has no suffix or CIDR matching, and no
/// way to name an IPv6 host), and so does the package mirror when NO_PROXY covers it.
pub(crate) fn apt_conf(plan: &ClusterPlan, proxy: &ProxyPlan) -> String {
    let u = urls(proxy);
    let mut out = String::from("// Written by kubemaas: proxies for apt.\n");
    for (scheme, url) in [("http", &u.http), ("https", &u.https)] {
        if let Some(url) = url {
            out.push_str(&format!("Acquire::{scheme}::Proxy \"{url}\";\n"));
        }
    }
    let mut direct: Vec<String> = no_proxy_list(plan)
        .into_iter()
        // '::' separates apt option names, so IPv6 literals cannot be keys either.
        .filter(|e| !e.starts_with('.') && !e.contains(['/', '*', ':']))
        .collect();
    if let Some(mirror) = url::Url::parse(&plan.packages.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    {
        if host_matches_no_proxy(&mirror, &no_proxy_list(plan)) && !direct.contains(&mirror) {
            direct.push(mirror);
        }
    }
    for host in direct {
        for (scheme, url) in [("http", &u.http), ("https", &u.https)] {
            if url.is_some() {
                out.push_str(&format!("Acquire::{scheme}::Proxy::{host} \"DIRECT\";\n"));
            }
        }
    }
    out
}

/// Does NO_PROXY's host or `.suffix` matching cover `host`?
fn host_matches_no_proxy(host: &str, list: &[String]) -> bool {
    list.iter().any(|e| {
        let e = e.trim_start_matches('*');
        host == e || (e.starts_with('.') && (host.ends_with(e) || host == &e[1..]))
    })
}

/// A systemd drop-in giving a service the proxy environment.
pub(crate) fn systemd_drop_in(plan: &ClusterPlan, proxy: &ProxyPlan) -> String {
    let u = urls(proxy);
    let mut out = String::from("# Written by kubemaas: proxies for this service.\n[Service]\n");
    let mut env = |name: &str, value: &str| {
        out.push_str(&format!(
            "Environment=\"{}={}\"\n",
            name,
            systemd_escape(value)
        ));
    };
    if let Some(http) = &u.http {
        env("HTTP_PROXY", http);
    }
    if let Some(https) = &u.https {
        env("HTTPS_PROXY", https);
    }
    env("NO_PROXY", &no_proxy_list(plan).join(","));
    out
}

/// Environment assignments for a command run from cloud-init (which has no proxy settings of
/// its own), so it follows the same rules as the services.
pub(crate) fn command_env(plan: &ClusterPlan, proxy: &ProxyPlan) -> Vec<String> {
    let u = urls(proxy);
    download_env(
        u.http.as_deref(),
        u.https.as_deref(),
        &no_proxy_list(plan).join(","),
    )
}

/// `NAME=value` assignments for commands that download (apt, curl, kubeadm's pulls), in both
/// spellings: curl reads only the lower-case `http_proxy` (it ignores an upper-case HTTP_PROXY
/// on purpose), while apt and Go programs read the upper-case ones.
pub(crate) fn download_env(http: Option<&str>, https: Option<&str>, no_proxy: &str) -> Vec<String> {
    let mut env = Vec::new();
    let mut both = |name: &str, value: &str| {
        env.push(format!("{}={value}", name.to_ascii_uppercase()));
        env.push(format!("{name}={value}"));
    };
    if let Some(http) = http {
        both("http_proxy", http);
    }
    if let Some(https) = https {
        both("https_proxy", https);
    }
    both("no_proxy", no_proxy);
    env
}

/// Quotes a value for a double-quoted systemd `Environment=` assignment: backslashes and quotes
/// are escaped, and `%` is doubled because systemd expands `%` specifiers there.
fn systemd_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_values_are_escaped() {
        assert_eq!(systemd_escape("http://u:p%40@h"), "http://u:p%%40@h");
        assert_eq!(systemd_escape("a\"b\\c"), "a\\\"b\\\\c");
    }

    #[test]
    fn apt_direct_entries_skip_what_apt_cannot_express() {
        let yaml = r#"
cluster_id: c
cluster_name: c
kubernetes_version: 1.30.2
endpoint_host: fd00::10
vip: null
node_subnet: null
pod_cidr: 10.244.0.0/16
service_cidr: 10.96.0.0/12
dns_domain: cluster.local
maas_domain: maas
proxy: {http: "http://proxy:3128", https: null, no_proxy: ["apt.example", ".corp", "10.0.0.0/8"]}
packages: {url: "https://apt.example/k8s/", suite: "/", components: [], key: {kind: url, value: "https://apt.example/k"}, package_version: null}
image_repository: registry.k8s.io
registry_mirrors: {}
ca_certificates: []
apt_mirror: null
extra_packages: []
kubelet_extra_args: {}
cluster_configuration: null
cni: {kind: calico, manifest: {kind: url, value: "https://x/calico.yaml"}}
addon_manifests: []
addon_steps: []
kube_vip_image: kube-vip
"#;
        let plan: ClusterPlan = serde_yaml::from_str(yaml).unwrap();
        let conf = apt_conf(&plan, plan.proxy.as_ref().unwrap());
        assert!(
            conf.contains("Acquire::http::Proxy::apt.example \"DIRECT\";"),
            "{conf}"
        );
        assert!(conf.contains("Acquire::http::Proxy::localhost \"DIRECT\";"));
        assert!(!conf.contains("fd00"), "{conf}");
        assert!(!conf.contains("10.0.0.0/8"), "{conf}");
        assert!(
            !conf.contains("Acquire::https"),
            "no https proxy, no https entries: {conf}"
        );
    }

    #[test]
    fn suffix_entries_cover_subdomains() {
        let list = vec![".corp.example".to_string(), "10.0.0.1".to_string()];
        assert!(host_matches_no_proxy("apt.corp.example", &list));
        assert!(host_matches_no_proxy("corp.example", &list));
        assert!(!host_matches_no_proxy("evilcorp.example", &list));
        assert!(host_matches_no_proxy("10.0.0.1", &list));
    }
}
