//! kubeadm configuration files as typed structures following kubeadm's documented API
//! (`kubeadm.k8s.io/v1beta3` up to 1.30, `v1beta4` from 1.31). Only the fields kubemaas sets are
//! modelled; everything else keeps kubeadm's defaults. No kubeadm binary exists where kubemaas is
//! built, so these structures (and golden files of their output) are the check.

use super::error::BootstrapError;
use super::pki::ClusterSecrets;
use super::plan::{ClusterPlan, NodePlan, NodeRole, Taint, API_SERVER_PORT};
use crate::model::k8s_version::KubeadmApi;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where kubeadm finds containerd.
pub const CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";
/// The group kubeadm's default join RBAC is bound to.
pub const BOOTSTRAP_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";
/// Long enough for a slow MAAS deployment of every node; later joins use a renewed token.
pub const BOOTSTRAP_TOKEN_TTL: &str = "24h0m0s";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfiguration {
    pub api_version: String,
    pub kind: String,
    pub cluster_name: String,
    pub kubernetes_version: String,
    pub control_plane_endpoint: String,
    /// Where kubeadm pulls the control-plane images from.
    pub image_repository: String,
    pub networking: Networking,
    pub api_server: ApiServer,
    /// v1beta4 only: the key type kubeadm generates its own certificates with. Matches the
    /// ECDSA CAs kubemaas provides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    pub pod_subnet: String,
    pub service_subnet: String,
    pub dns_domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    #[serde(rename = "certSANs")]
    pub cert_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitConfiguration {
    pub api_version: String,
    pub kind: String,
    pub bootstrap_tokens: Vec<BootstrapTokenSpec>,
    pub node_registration: NodeRegistration,
    #[serde(
        rename = "localAPIEndpoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_api_endpoint: Option<ApiEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapTokenSpec {
    pub token: String,
    pub description: String,
    pub ttl: String,
    pub usages: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRegistration {
    pub name: String,
    pub cri_socket: String,
    /// Absent: kubeadm's default for the role. Present (even empty): exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    #[serde(default, skip_serializing_if = "ExtraArgs::is_empty")]
    pub kubelet_extra_args: ExtraArgs,
}

/// Extra command-line arguments: a map in v1beta3, a list of name/value pairs in v1beta4
/// (which allows repeating a flag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExtraArgs {
    Map(BTreeMap<String, String>),
    List(Vec<Arg>),
}

impl Default for ExtraArgs {
    fn default() -> Self {
        ExtraArgs::Map(BTreeMap::new())
    }
}

impl ExtraArgs {
    fn new(api: KubeadmApi, args: Vec<(String, String)>) -> Self {
        match api {
            KubeadmApi::V1Beta3 => ExtraArgs::Map(args.into_iter().collect()),
            KubeadmApi::V1Beta4 => ExtraArgs::List(
                args.into_iter()
                    .map(|(name, value)| Arg { name, value })
                    .collect(),
            ),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            ExtraArgs::Map(m) => m.is_empty(),
            ExtraArgs::List(l) => l.is_empty(),
        }
    }

    /// The value of a flag, whichever shape.
    pub fn get(&self, name: &str) -> Option<&str> {
        match self {
            ExtraArgs::Map(m) => m.get(name).map(String::as_str),
            ExtraArgs::List(l) => l.iter().find(|a| a.name == name).map(|a| a.value.as_str()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arg {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiEndpoint {
    pub advertise_address: String,
    pub bind_port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinConfiguration {
    pub api_version: String,
    pub kind: String,
    pub discovery: Discovery,
    pub node_registration: NodeRegistration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<JoinControlPlane>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discovery {
    pub bootstrap_token: BootstrapTokenDiscovery,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapTokenDiscovery {
    pub api_server_endpoint: String,
    pub token: String,
    pub ca_cert_hashes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinControlPlane {
    #[serde(
        rename = "localAPIEndpoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub local_api_endpoint: Option<ApiEndpoint>,
}

/// The documents of one node's kubeadm configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeadmConfig {
    Init {
        cluster: Box<ClusterConfiguration>,
        /// The profile's `clusterConfiguration` fields, merged over `cluster` when written.
        cluster_extra: serde_yaml::Value,
        init: InitConfiguration,
    },
    Join(JoinConfiguration),
}

impl KubeadmConfig {
    /// Builds the configuration for `node`. `advertise_address` is the node's address on the
    /// cluster subnet (or the placeholder the boot script replaces), `None` for kubeadm's
    /// default-route guess.
    pub fn build(
        plan: &ClusterPlan,
        secrets: &ClusterSecrets,
        node: &NodePlan,
        advertise_address: Option<&str>,
    ) -> Self {
        let api = plan.kubernetes_version.kubeadm_api();
        let endpoint = advertise_address.map(|a| ApiEndpoint {
            advertise_address: a.to_string(),
            bind_port: API_SERVER_PORT,
        });
        let registration = node_registration(api, plan, node, advertise_address);
        match node.role {
            NodeRole::InitControlPlane => KubeadmConfig::Init {
                cluster: Box::new(cluster_configuration(plan)),
                cluster_extra: plan.cluster_configuration.clone(),
                init: InitConfiguration {
                    api_version: api.api_version().into(),
                    kind: "InitConfiguration".into(),
                    bootstrap_tokens: vec![BootstrapTokenSpec {
                        token: secrets.bootstrap_token.expose(),
                        description: "kubemaas: joins this cluster's nodes".into(),
                        ttl: BOOTSTRAP_TOKEN_TTL.into(),
                        usages: vec!["signing".into(), "authentication".into()],
                        groups: vec![BOOTSTRAP_TOKEN_GROUP.into()],
                    }],
                    node_registration: registration,
                    local_api_endpoint: endpoint,
                },
            },
            NodeRole::JoinControlPlane | NodeRole::Worker => {
                KubeadmConfig::Join(JoinConfiguration {
                    api_version: api.api_version().into(),
                    kind: "JoinConfiguration".into(),
                    discovery: Discovery {
                        bootstrap_token: BootstrapTokenDiscovery {
                            api_server_endpoint: plan.endpoint_host_port(),
                            token: secrets.bootstrap_token.expose(),
                            ca_cert_hashes: vec![secrets.ca_cert_hash.clone()],
                        },
                    },
                    node_registration: registration,
                    control_plane: (node.role == NodeRole::JoinControlPlane).then_some(
                        JoinControlPlane {
                            local_api_endpoint: endpoint,
                        },
                    ),
                })
            }
        }
    }

    /// The multi-document YAML `kubeadm --config` reads.
    pub fn to_yaml(&self) -> Result<String, BootstrapError> {
        match self {
            KubeadmConfig::Init {
                cluster,
                cluster_extra,
                init,
            } => {
                let mut merged = serde_yaml::to_value(cluster)
                    .map_err(|e| BootstrapError::serialize("kubeadm config", e))?;
                merge(&mut merged, cluster_extra);
                Ok(format!("{}---\n{}", yaml(&merged)?, yaml(init)?))
            }
            KubeadmConfig::Join(join) => yaml(join),
        }
    }
}

/// Lays `extra` over `base`: mappings merge key by key, lists are extended (certSANs the
/// profile adds join kubemaas's), and anything else in `extra` replaces what `base` has. The
/// fields kubemaas owns are refused in the profile before they get here.
fn merge(base: &mut serde_yaml::Value, extra: &serde_yaml::Value) {
    use serde_yaml::Value;
    match (base, extra) {
        (Value::Mapping(b), Value::Mapping(e)) => {
            for (key, value) in e {
                match b.get_mut(key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        b.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::Sequence(b), Value::Sequence(e)) => {
            for value in e {
                if !b.contains(value) {
                    b.push(value.clone());
                }
            }
        }
        (_, Value::Null) => {}
        (b, e) => *b = e.clone(),
    }
}

fn yaml<T: Serialize>(doc: &T) -> Result<String, BootstrapError> {
    serde_yaml::to_string(doc).map_err(|e| BootstrapError::serialize("kubeadm config", e))
}

fn cluster_configuration(plan: &ClusterPlan) -> ClusterConfiguration {
    let api = plan.kubernetes_version.kubeadm_api();
    let mut sans = vec![plan.endpoint_host.clone()];
    if let Some(vip) = &plan.vip {
        let vip = vip.address.to_string();
        if !sans.contains(&vip) {
            sans.push(vip);
        }
    }
    ClusterConfiguration {
        api_version: api.api_version().into(),
        kind: "ClusterConfiguration".into(),
        cluster_name: plan.cluster_name.clone(),
        kubernetes_version: plan.kubernetes_version.tag(),
        control_plane_endpoint: plan.endpoint_host_port(),
        image_repository: plan.image_repository.clone(),
        networking: Networking {
            pod_subnet: plan.pod_cidr.to_string(),
            service_subnet: plan.service_cidr.to_string(),
            dns_domain: plan.dns_domain.clone(),
        },
        api_server: ApiServer { cert_sans: sans },
        encryption_algorithm: (api == KubeadmApi::V1Beta4).then(|| "ECDSA-P256".to_string()),
    }
}

fn node_registration(
    api: KubeadmApi,
    plan: &ClusterPlan,
    node: &NodePlan,
    advertise_address: Option<&str>,
) -> NodeRegistration {
    let mut args = Vec::new();
    if !node.labels.is_empty() {
        let labels: Vec<String> = node
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        args.push(("node-labels".to_string(), labels.join(",")));
    }
    // Without node-ip the kubelet reports the default-route address, which is wrong on
    // machines whose cluster subnet is not the default route's.
    if let Some(ip) = advertise_address {
        args.push(("node-ip".to_string(), ip.to_string()));
    }
    // The profile's flags (the two above are refused there: they are per node).
    args.extend(
        plan.kubelet_extra_args
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    NodeRegistration {
        name: node.hostname.clone(),
        cri_socket: CRI_SOCKET.into(),
        taints: node.taints.clone(),
        kubelet_extra_args: ExtraArgs::new(api, args),
    }
}
