//! Assembles one node's cloud-init user-data: OS preparation, proxies, packages, the shared PKI
//! on control-plane nodes, the kubeadm configuration, kube-vip, and the commands that run
//! kubeadm and apply the CNI.

use super::cloud_config::{apt_get, AptConfig, CloudConfig, Command, WriteFile};
use super::error::BootstrapError;
use super::host;
use super::identity::NodeIdentity;
use super::kube_vip::{self, KubeVipCredentials};
use super::kubeadm::KubeadmConfig;
use super::pki::ClusterSecrets;
use super::plan::{AptKey, ClusterPlan, CniManifest, NodePlan, NodeRole};
use super::proxy;

pub const KUBEADM_CONFIG_PATH: &str = "/etc/kubemaas/kubeadm.yaml";
pub const KUBE_VIP_MANIFEST_PATH: &str = "/etc/kubernetes/manifests/kube-vip.yaml";
/// kube-vip manifests are staged outside the manifests directory and copied in when their
/// kubeconfig is about to exist (see [`commands`]).
const KUBE_VIP_STAGED: &str = "/etc/kubemaas/kube-vip.yaml";
const KUBE_VIP_STAGED_SUPER_ADMIN: &str = "/etc/kubemaas/kube-vip-super-admin.yaml";
const CNI_MANIFEST_PATH: &str = "/etc/kubemaas/cni.yaml";
const DETECT_SCRIPT_PATH: &str = "/etc/kubemaas/detect-node-network.sh";
const APT_PROXY_PATH: &str = "/etc/apt/apt.conf.d/90kubemaas-proxy";
const CONTAINERD_PROXY_PATH: &str = "/etc/systemd/system/containerd.service.d/http-proxy.conf";
const KUBELET_PROXY_PATH: &str = "/etc/systemd/system/kubelet.service.d/http-proxy.conf";

/// Placeholders the boot-time detection script replaces when kubemaas does not know the node's
/// address or interface on the cluster subnet (MAAS assigns it during deployment).
pub const NODE_IP_PLACEHOLDER: &str = "@KUBEMAAS_NODE_IP@";
pub const NODE_INTERFACE_PLACEHOLDER: &str = "@KUBEMAAS_NODE_INTERFACE@";

/// Finds the machine's first address on the subnet given as `$1` and writes it, and its
/// interface, over the placeholders in the remaining files. A static script: data only arrives
/// as arguments, so nothing is spliced into shell text.
const DETECT_SCRIPT: &str = r#"#!/bin/sh
# Written by kubemaas: finds this machine's address and interface on the cluster subnet ($1)
# and writes them into the files named after it, over the placeholders kubemaas left because
# MAAS assigns the address during deployment.
set -eu
subnet="$1"
shift
line=$(ip -o addr show to "$subnet" | head -n 1)
if [ -z "$line" ]; then
  echo "kubemaas: this machine has no address on $subnet; link one of its interfaces to that subnet in MAAS and redeploy" >&2
  exit 1
fi
iface=$(printf '%s\n' "$line" | awk '{print $2}')
iface=${iface%%@*}
addr=$(printf '%s\n' "$line" | awk '{print $4}')
addr=${addr%%/*}
for f in "$@"; do
  sed -i -e "s|@KUBEMAAS_NODE_IP@|$addr|g" -e "s|@KUBEMAAS_NODE_INTERFACE@|$iface|g" "$f"
done
echo "kubemaas: cluster address $addr on $iface"
"#;

/// Runs its arguments until they succeed: 30 tries, 10 s apart. Arguments arrive as `$@`, so
/// nothing is spliced into shell text.
const RETRY_SCRIPT: &str = r#"n=0
until "$@"; do
  n=$((n + 1))
  if [ "$n" -ge 30 ]; then echo "kubemaas: giving up on: $*" >&2; exit 1; fi
  sleep 10
done"#;

/// Waits up to 60 minutes for `$2` (the API server's /readyz) to answer, trusting CA `$1`.
const WAIT_SCRIPT: &str = r#"n=0
until curl -fsS --max-time 5 --cacert "$1" "$2" >/dev/null 2>&1; do
  n=$((n + 1))
  if [ "$n" -ge 360 ]; then
    echo "kubemaas: the API server at $2 was not ready within 60 minutes; is the first control-plane node deployed?" >&2
    exit 1
  fi
  sleep 10
done"#;

/// The cluster CA certificate (public), on every node: joiners check the API server with it
/// before kubeadm's own discovery starts its five-minute clock.
pub const CLUSTER_CA_PATH: &str = "/etc/kubemaas/cluster-ca.crt";

/// The `#cloud-config` user-data for `node`. Holds the bootstrap token (and, on control-plane
/// nodes, the CA keys): hand it to MAAS only, never log it.
pub fn user_data(
    plan: &ClusterPlan,
    secrets: &ClusterSecrets,
    node: &NodePlan,
) -> Result<String, BootstrapError> {
    let config = node_cloud_config(plan, secrets, node)?;
    tracing::debug!(
        node = %node.hostname,
        role = %node.role,
        files = config.write_files.len(),
        commands = config.runcmd.len(),
        "generated user-data"
    );
    config
        .render()
        .map_err(|e| BootstrapError::serialize("cloud-config", e))
}

/// The user-data as a structure, for callers that want to inspect it.
pub fn node_cloud_config(
    plan: &ClusterPlan,
    secrets: &ClusterSecrets,
    node: &NodePlan,
) -> Result<CloudConfig, BootstrapError> {
    plan.validate()?;
    node.validate(plan)?;
    let net = NodeNetwork::resolve(plan, node);

    let mut files = Vec::new();
    let identity = NodeIdentity {
        cluster_id: plan.cluster_id.clone(),
        cluster_name: plan.cluster_name.clone(),
        role: node.role,
        node_name: node.hostname.clone(),
        kubernetes_version: plan.kubernetes_version.to_string(),
    };
    files.push(
        identity
            .write_file()
            .map_err(|e| BootstrapError::serialize("node identity", e))?,
    );
    files.extend(os_files(plan));
    files.push(WriteFile::new(
        CLUSTER_CA_PATH,
        secrets.ca.cert_pem.clone(),
        "0644",
    ));
    if node.role.is_control_plane() {
        files.extend(pki_files(secrets));
    }
    let kubeadm = KubeadmConfig::build(plan, secrets, node, net.advertise_address.as_deref());
    files.push(WriteFile::new(
        KUBEADM_CONFIG_PATH,
        kubeadm.to_yaml()?,
        "0600",
    ));

    let mut substitute = Vec::new();
    if net.advertise_address.as_deref() == Some(NODE_IP_PLACEHOLDER) {
        substitute.push(KUBEADM_CONFIG_PATH.to_string());
    }
    let vip_files = kube_vip_files(plan, node, &net.vip_interface)?;
    for f in &vip_files {
        if net.vip_interface == NODE_INTERFACE_PLACEHOLDER {
            substitute.push(f.path.clone());
        }
    }
    files.extend(vip_files);
    if node.role == NodeRole::InitControlPlane {
        if let CniManifest::Inline(text) = &plan.cni.manifest {
            files.push(WriteFile::new(CNI_MANIFEST_PATH, text.clone(), "0644"));
        }
    }
    let detect = match (plan.node_subnet, substitute.is_empty()) {
        (Some(subnet), false) => {
            files.push(WriteFile::new(DETECT_SCRIPT_PATH, DETECT_SCRIPT, "0755"));
            let mut argv = vec![
                "sh".to_string(),
                DETECT_SCRIPT_PATH.into(),
                subnet.to_string(),
            ];
            argv.extend(substitute);
            Some(Command::Argv(argv))
        }
        _ => None,
    };

    Ok(CloudConfig {
        write_files: files,
        runcmd: commands(plan, node, detect),
        apt: plan.apt_mirror.as_deref().map(AptConfig::mirror),
    })
}

/// How a node learns its address and interface on the cluster subnet.
struct NodeNetwork {
    /// kubeadm's advertise address and kubelet's node-ip; `None` leaves kubeadm's default.
    advertise_address: Option<String>,
    /// The interface kube-vip announces the VIP on (a name or the placeholder).
    vip_interface: String,
}

impl NodeNetwork {
    fn resolve(plan: &ClusterPlan, node: &NodePlan) -> Self {
        let advertise_address = match (node.ip, plan.node_subnet) {
            (Some(ip), _) => Some(ip.to_string()),
            (None, Some(_)) => Some(NODE_IP_PLACEHOLDER.to_string()),
            (None, None) => None,
        };
        let vip_interface = plan
            .vip
            .as_ref()
            .and_then(|v| v.interface.clone())
            .unwrap_or_else(|| NODE_INTERFACE_PLACEHOLDER.to_string());
        NodeNetwork {
            advertise_address,
            vip_interface,
        }
    }
}

fn os_files(plan: &ClusterPlan) -> Vec<WriteFile> {
    let mut files = vec![
        WriteFile::new(host::MODULES_PATH, host::modules_conf(), "0644"),
        WriteFile::new(host::SYSCTL_PATH, host::sysctl_conf(plan), "0644"),
        WriteFile::new(
            host::CONTAINERD_CONFIG_PATH,
            host::containerd_config(plan),
            "0644",
        ),
        WriteFile::new(host::APT_SOURCE_PATH, host::apt_source(plan), "0644"),
    ];
    for (registry, mirrors) in &plan.registry_mirrors {
        files.push(WriteFile::new(
            &host::containerd_hosts_path(registry),
            host::containerd_mirror_hosts(registry, mirrors),
            "0644",
        ));
    }
    for (i, pem) in plan.ca_certificates.iter().enumerate() {
        let mut pem = pem.trim().to_string();
        pem.push('\n');
        files.push(WriteFile::new(&host::site_ca_path(i), pem, "0644"));
    }
    if let Some(key) = host::apt_key_inline(plan) {
        files.push(WriteFile::new(host::APT_KEY_PATH, key, "0644"));
    }
    if let Some(p) = &plan.proxy {
        if p.http.is_some() || p.https.is_some() {
            let drop_in = proxy::systemd_drop_in(plan, p);
            files.push(WriteFile::new(
                APT_PROXY_PATH,
                proxy::apt_conf(plan, p),
                "0644",
            ));
            files.push(WriteFile::new(
                CONTAINERD_PROXY_PATH,
                drop_in.clone(),
                "0644",
            ));
            files.push(WriteFile::new(KUBELET_PROXY_PATH, drop_in, "0644"));
        }
    }
    files
}

/// The shared CA material, where kubeadm looks for it: with these present kubeadm uses them
/// instead of generating its own, so every control-plane node trusts the same CAs.
fn pki_files(s: &ClusterSecrets) -> Vec<WriteFile> {
    let pki = "/etc/kubernetes/pki";
    let file = |name: &str, content: &str, mode: &str| {
        WriteFile::new(&format!("{pki}/{name}"), content, mode)
    };
    vec![
        file("ca.crt", &s.ca.cert_pem, "0644"),
        file("ca.key", &s.ca.key_pem, "0600"),
        file("sa.key", &s.service_account.private_key_pem, "0600"),
        file("sa.pub", &s.service_account.public_key_pem, "0644"),
        file("front-proxy-ca.crt", &s.front_proxy_ca.cert_pem, "0644"),
        file("front-proxy-ca.key", &s.front_proxy_ca.key_pem, "0600"),
        file("etcd/ca.crt", &s.etcd_ca.cert_pem, "0644"),
        file("etcd/ca.key", &s.etcd_ca.key_pem, "0600"),
    ]
}

fn kube_vip_files(
    plan: &ClusterPlan,
    node: &NodePlan,
    interface: &str,
) -> Result<Vec<WriteFile>, BootstrapError> {
    if !node.role.is_control_plane() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    if let Some(m) = kube_vip::manifest(plan, interface, KubeVipCredentials::Admin)? {
        files.push(WriteFile::new(KUBE_VIP_STAGED, m, "0600"));
    }
    if node.role == NodeRole::InitControlPlane && plan.kubernetes_version.init_needs_super_admin() {
        if let Some(m) = kube_vip::manifest(plan, interface, KubeVipCredentials::SuperAdmin)? {
            files.push(WriteFile::new(KUBE_VIP_STAGED_SUPER_ADMIN, m, "0600"));
        }
    }
    Ok(files)
}

/// The `runcmd` sequence. cloud-init runs all entries as one shell script, so the leading
/// `set -e` makes the first failure stop the bootstrap (and show in cloud-init's status)
/// instead of running kubeadm on a half-prepared machine.
fn commands(plan: &ClusterPlan, node: &NodePlan, detect: Option<Command>) -> Vec<Command> {
    let argv = Command::argv::<Vec<String>, String>;
    let s = |v: &[&str]| Command::argv(v.iter().copied());
    let proxy_env: Vec<String> = plan
        .proxy
        .as_ref()
        .filter(|p| p.http.is_some() || p.https.is_some())
        .map(|p| proxy::command_env(plan, p))
        .unwrap_or_default();
    let with_proxy = |args: Vec<String>| -> Command {
        if proxy_env.is_empty() {
            argv(args)
        } else {
            let mut full = vec!["env".to_string()];
            full.extend(proxy_env.iter().cloned());
            full.extend(args);
            argv(full)
        }
    };

    let mut cmds = vec![
        Command::Shell("set -e".into()),
        // kubelet refuses to run with swap on.
        s(&["swapoff", "-a"]),
        s(&["sed", "-ri", r"/\sswap\s/s/^#?/#/", "/etc/fstab"]),
    ];
    for m in host::KERNEL_MODULES {
        cmds.push(s(&["modprobe", m]));
    }
    cmds.push(s(&["sysctl", "-p", host::SYSCTL_PATH]));
    if !plan.ca_certificates.is_empty() {
        // Before anything is fetched: the site's mirrors are signed by this CA.
        cmds.push(s(&["update-ca-certificates"]));
    }
    cmds.push(s(&["install", "-d", "-m", "0755", "/etc/apt/keyrings"]));
    if let AptKey::Url(url) = &plan.packages.key {
        cmds.push(with_proxy(
            [
                "curl",
                "-fsSL",
                "--retry",
                "5",
                "-o",
                host::APT_KEY_PATH,
                url.as_str(),
            ]
            .map(String::from)
            .to_vec(),
        ));
    }
    cmds.push(apt_get(&[], &["update"]));
    // force-confold: keep the containerd config written above when the package ships its own.
    let mut install: Vec<String> = [
        "install",
        "-y",
        "-o",
        "Dpkg::Options::=--force-confold",
        "containerd",
    ]
    .map(String::from)
    .to_vec();
    install.extend(host::package_pins(plan));
    install.extend(plan.extra_packages.iter().cloned());
    cmds.push(apt_get(&[], &install));
    cmds.push(s(&["apt-mark", "hold", "kubelet", "kubeadm", "kubectl"]));
    cmds.push(s(&["systemctl", "daemon-reload"]));
    cmds.push(s(&["systemctl", "enable", "containerd"]));
    cmds.push(s(&["systemctl", "restart", "containerd"]));
    cmds.push(s(&["systemctl", "enable", "kubelet"]));
    cmds.extend(detect);

    let vip = plan.vip.is_some();
    let install_vip = |staged: &str| s(&["install", "-m", "0600", staged, KUBE_VIP_MANIFEST_PATH]);
    match node.role {
        NodeRole::InitControlPlane => {
            if vip {
                // The VIP must answer during init: kubeadm's later phases use the endpoint.
                cmds.push(s(&[
                    "install",
                    "-d",
                    "-m",
                    "0755",
                    "/etc/kubernetes/manifests",
                ]));
                let staged = if plan.kubernetes_version.init_needs_super_admin() {
                    KUBE_VIP_STAGED_SUPER_ADMIN
                } else {
                    KUBE_VIP_STAGED
                };
                cmds.push(install_vip(staged));
            }
            cmds.push(s(&["kubeadm", "init", "--config", KUBEADM_CONFIG_PATH]));
            let source = match &plan.cni.manifest {
                CniManifest::Url(u) => u.clone(),
                CniManifest::Inline(_) => CNI_MANIFEST_PATH.to_string(),
            };
            // Server-side apply: CNI CRDs exceed the size limit of client-side apply's
            // last-applied annotation. Retried: the API server may still be settling right
            // after init. Done before kube-vip is switched over, while the VIP is stable.
            let mut apply = vec!["sh".to_string(), "-c".into(), RETRY_SCRIPT.into()];
            apply.push("kubemaas-retry".into());
            apply.extend(
                [
                    "kubectl",
                    "--kubeconfig",
                    "/etc/kubernetes/admin.conf",
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-f",
                    source.as_str(),
                ]
                .map(String::from),
            );
            cmds.push(with_proxy(apply));
            // Storage and add-on layers, once the CNI is in: their pods need the pod network.
            // Then their settings, on the objects the manifests made.
            let kubectl = |args: &[String]| {
                let mut argv = vec!["sh".to_string(), "-c".into(), RETRY_SCRIPT.into()];
                argv.extend(
                    [
                        "kubemaas-retry",
                        "kubectl",
                        "--kubeconfig",
                        "/etc/kubernetes/admin.conf",
                    ]
                    .map(String::from),
                );
                argv.extend(args.iter().cloned());
                argv
            };
            for url in &plan.addon_manifests {
                let apply = [
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-f",
                    url.as_str(),
                ]
                .map(String::from);
                cmds.push(with_proxy(kubectl(&apply)));
            }
            for step in &plan.addon_steps {
                cmds.push(argv(kubectl(step)));
            }
            if vip && plan.kubernetes_version.init_needs_super_admin() {
                // super-admin.conf is a break-glass credential: back to admin.conf now that
                // init has bound it.
                cmds.push(install_vip(KUBE_VIP_STAGED));
            }
        }
        NodeRole::JoinControlPlane => {
            cmds.push(wait_for_api(plan));
            cmds.push(s(&["kubeadm", "join", "--config", KUBEADM_CONFIG_PATH]));
            if vip {
                // After the join: admin.conf exists only now, and the VIP is already held by
                // the first node, so this node need not announce it to join.
                cmds.push(install_vip(KUBE_VIP_STAGED));
            }
        }
        NodeRole::Worker => {
            cmds.push(wait_for_api(plan));
            cmds.push(s(&["kubeadm", "join", "--config", KUBEADM_CONFIG_PATH]));
        }
    }
    cmds
}

/// Joiners may be deployed alongside the first node, and kubeadm's discovery gives up after
/// five minutes; so wait (bounded) until the API server behind the endpoint is ready, checked
/// against the cluster CA. `/readyz` is readable without credentials in kubeadm clusters.
fn wait_for_api(plan: &ClusterPlan) -> Command {
    Command::argv([
        "sh".to_string(),
        "-c".into(),
        WAIT_SCRIPT.into(),
        "kubemaas-wait-api".into(),
        CLUSTER_CA_PATH.into(),
        format!("{}/readyz", plan.server_url()),
    ])
}
