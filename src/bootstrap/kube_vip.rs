//! The kube-vip static pod that announces the control-plane VIP (ARP mode, leader election) on
//! each control-plane node. Typed, so the manifest is always well-formed YAML.

use super::error::BootstrapError;
use super::plan::{ClusterPlan, API_SERVER_PORT};
use serde::{Deserialize, Serialize};

/// Which kubeconfig kube-vip talks to the API server with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeVipCredentials {
    /// `/etc/kubernetes/admin.conf`: every node once its kubeadm run is over.
    Admin,
    /// `/etc/kubernetes/super-admin.conf`: the first node during `kubeadm init` on ≥ 1.29, when
    /// admin.conf's RBAC binding does not exist yet.
    SuperAdmin,
}

impl KubeVipCredentials {
    pub fn path(self) -> &'static str {
        match self {
            KubeVipCredentials::Admin => "/etc/kubernetes/admin.conf",
            KubeVipCredentials::SuperAdmin => "/etc/kubernetes/super-admin.conf",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub host_aliases: Vec<HostAlias>,
    pub host_network: bool,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    pub image_pull_policy: String,
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub security_context: SecurityContext,
    pub volume_mounts: Vec<VolumeMount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    pub field_ref: FieldRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityContext {
    pub capabilities: Capabilities,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub add: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub mount_path: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAlias {
    pub hostnames: Vec<String>,
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    pub host_path: HostPath,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPath {
    pub path: String,
    /// `File`: never let the kubelet create a directory where kubeadm will write the kubeconfig.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The kube-vip manifest for `interface` (a name, or the boot-time placeholder).
/// `None` if the plan has no VIP.
pub fn manifest(
    plan: &ClusterPlan,
    interface: &str,
    credentials: KubeVipCredentials,
) -> Result<Option<String>, BootstrapError> {
    let Some(vip) = &plan.vip else {
        return Ok(None);
    };
    let env = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    };
    // The lease holder's identity: the node name, so `kubectl get lease` shows which node
    // holds the VIP.
    let node_name = EnvVar {
        name: "vip_nodename".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: FieldRef {
                field_path: "spec.nodeName".into(),
            },
        }),
    };
    let host_bits = if vip.address.is_ipv4() { "32" } else { "128" };
    let pod = Pod {
        api_version: "v1".into(),
        kind: "Pod".into(),
        metadata: ObjectMeta {
            name: "kube-vip".into(),
            namespace: "kube-system".into(),
        },
        spec: PodSpec {
            containers: vec![Container {
                name: "kube-vip".into(),
                image: plan.kube_vip_image.clone(),
                image_pull_policy: "IfNotPresent".into(),
                args: vec!["manager".into()],
                env: vec![
                    env("vip_arp", "true"),
                    env("port", &API_SERVER_PORT.to_string()),
                    node_name,
                    env("vip_interface", interface),
                    env("vip_subnet", host_bits),
                    env("cp_enable", "true"),
                    env("cp_namespace", "kube-system"),
                    env("vip_leaderelection", "true"),
                    env("vip_leasename", "plndr-cp-lock"),
                    env("vip_leaseduration", "5"),
                    env("vip_renewdeadline", "3"),
                    env("vip_retryperiod", "1"),
                    env("address", &vip.address.to_string()),
                ],
                security_context: SecurityContext {
                    capabilities: Capabilities {
                        add: vec!["NET_ADMIN".into(), "NET_RAW".into()],
                    },
                },
                volume_mounts: vec![VolumeMount {
                    mount_path: "/etc/kubernetes/admin.conf".into(),
                    name: "kubeconfig".into(),
                }],
            }],
            // kube-vip dials "kubernetes:6443" for leader election; pin it to this node's
            // API server so election works before the VIP exists.
            host_aliases: vec![HostAlias {
                hostnames: vec!["kubernetes".into()],
                ip: "127.0.0.1".into(),
            }],
            host_network: true,
            volumes: vec![Volume {
                name: "kubeconfig".into(),
                host_path: HostPath {
                    path: credentials.path().into(),
                    kind: "File".into(),
                },
            }],
        },
    };
    serde_yaml::to_string(&pod)
        .map(Some)
        .map_err(|e| BootstrapError::serialize("kube-vip manifest", e))
}
