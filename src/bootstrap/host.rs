//! The operating-system files every node needs before kubeadm runs: kernel modules, sysctls,
//! containerd's configuration and the Kubernetes apt source.

use super::plan::{AptKey, ClusterPlan};
use ipnet::IpNet;

pub(crate) const MODULES_PATH: &str = "/etc/modules-load.d/kubemaas-kubernetes.conf";
pub(crate) const SYSCTL_PATH: &str = "/etc/sysctl.d/90-kubemaas-kubernetes.conf";
pub(crate) const CONTAINERD_CONFIG_PATH: &str = "/etc/containerd/config.toml";
pub(crate) const CONTAINERD_CERTS_DIR: &str = "/etc/containerd/certs.d";
/// The CA certificates the site's mirrors use, where `update-ca-certificates` picks them up.
pub(crate) const SITE_CA_DIR: &str = "/usr/local/share/ca-certificates";
pub(crate) const APT_SOURCE_PATH: &str = "/etc/apt/sources.list.d/kubemaas-kubernetes.list";
/// `.asc`: apt reads ASCII-armoured keys directly, so no gpg is needed on the node.
pub(crate) const APT_KEY_PATH: &str = "/etc/apt/keyrings/kubemaas-kubernetes.asc";
pub(crate) const KERNEL_MODULES: [&str; 2] = ["overlay", "br_netfilter"];

pub(crate) fn modules_conf() -> String {
    let mut out = String::from("# Written by kubemaas: modules containerd and kube-proxy need.\n");
    for m in KERNEL_MODULES {
        out.push_str(m);
        out.push('\n');
    }
    out
}

pub(crate) fn sysctl_conf(plan: &ClusterPlan) -> String {
    let mut out = String::from(
        "# Written by kubemaas: bridged traffic through iptables, and routing for pods.\n\
         net.bridge.bridge-nf-call-iptables = 1\n\
         net.bridge.bridge-nf-call-ip6tables = 1\n\
         net.ipv4.ip_forward = 1\n",
    );
    if matches!(plan.pod_cidr, IpNet::V6(_)) || matches!(plan.service_cidr, IpNet::V6(_)) {
        out.push_str("net.ipv6.conf.all.forwarding = 1\n");
    }
    out
}

/// containerd 1.7 configuration (schema version 2, also read by containerd 2). Only what differs
/// from the defaults: the systemd cgroup driver kubelet expects, the pause image kubeadm
/// expects, and registry host configuration in `certs.d` (where the mirror is set).
pub(crate) fn containerd_config(plan: &ClusterPlan) -> String {
    format!(
        "# Written by kubemaas.\n\
         version = 2\n\
         \n\
         [plugins.\"io.containerd.grpc.v1.cri\"]\n\
         \x20 sandbox_image = {pause}\n\
         \n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n\
         \x20 runtime_type = \"io.containerd.runc.v2\"\n\
         \n\
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n\
         \x20 SystemdCgroup = true\n\
         \n\
         [plugins.\"io.containerd.grpc.v1.cri\".registry]\n\
         \x20 config_path = {certs}\n",
        pause = toml_string(
            &plan
                .kubernetes_version
                .pause_image_in(&plan.image_repository)
        ),
        certs = toml_string(CONTAINERD_CERTS_DIR),
    )
}

/// Where containerd reads `registry`'s host configuration.
pub(crate) fn containerd_hosts_path(registry: &str) -> String {
    format!("{CONTAINERD_CERTS_DIR}/{registry}/hosts.toml")
}

/// `hosts.toml` sending `registry`'s pulls through `mirrors`, in order; containerd falls back to
/// the registry itself (`server`) only when every mirror fails, which air-gapped fails too: the
/// mirrors must be complete. The mirrors' CA is in the system store (installed first).
pub(crate) fn containerd_mirror_hosts(registry: &str, mirrors: &[String]) -> String {
    // Docker Hub's API is not served at its name.
    let upstream = match registry {
        "docker.io" => "https://registry-1.docker.io".to_string(),
        other => format!("https://{other}"),
    };
    let mut out = format!(
        "# Written by kubemaas: pull {registry} images through the site's mirrors.\n\
         server = {}\n",
        toml_string(&upstream)
    );
    for mirror in mirrors {
        out.push_str(&format!(
            "\n[host.{}]\n\x20 capabilities = [\"pull\", \"resolve\"]\n",
            toml_string(mirror.trim_end_matches('/'))
        ));
    }
    out
}

/// The path of the `i`-th site CA certificate.
pub(crate) fn site_ca_path(i: usize) -> String {
    format!("{SITE_CA_DIR}/kubemaas-site-{i}.crt")
}

/// The one-line apt source, pinned to the repository's key.
pub(crate) fn apt_source(plan: &ClusterPlan) -> String {
    let repo = &plan.packages;
    let mut line = format!("deb [signed-by={APT_KEY_PATH}] {} {}", repo.url, repo.suite);
    for c in &repo.components {
        line.push(' ');
        line.push_str(c);
    }
    format!("# Written by kubemaas: kubelet, kubeadm and kubectl.\n{line}\n")
}

/// The inline key, when the plan carries one (a URL key is downloaded at boot instead).
pub(crate) fn apt_key_inline(plan: &ClusterPlan) -> Option<&str> {
    match &plan.packages.key {
        AptKey::Armored(text) => Some(text),
        AptKey::Url(_) => None,
    }
}

/// `kubelet=<version>` etc.: the exact package version, or every package build of the
/// Kubernetes release (`1.30.2-*`, which apt accepts as a pattern).
pub(crate) fn package_pins(plan: &ClusterPlan) -> Vec<String> {
    let version = plan
        .packages
        .package_version
        .clone()
        .unwrap_or_else(|| format!("{}-*", plan.kubernetes_version));
    ["kubelet", "kubeadm", "kubectl"]
        .iter()
        .map(|p| format!("{p}={version}"))
        .collect()
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
