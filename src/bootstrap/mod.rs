//! Cluster bootstrap artifacts: the PKI kubeadm needs, the admin kubeconfig, bootstrap tokens,
//! and the cloud-init user-data each node is deployed with.
//!
//! The engine maps a cluster spec and profile onto a [`ClusterPlan`] and one [`NodePlan`] per
//! machine, makes the cluster's [`ClusterSecrets`] once (and keeps them in the store), then asks
//! for each machine's [`user_data`] and for the [`admin_kubeconfig`]. The MAAS simulator reads a
//! deployed machine's role back with [`node_identity_from_user_data`].

pub mod cloud_config;
mod cni;
mod error;
pub mod gateway_user_data;
mod host;
mod identity;
pub mod kube_vip;
pub mod kubeadm;
mod kubeconfig;
mod pki;
mod plan;
mod proxy;
mod token;
mod user_data;

pub use error::BootstrapError;
pub use identity::{node_identity_from_user_data, NodeIdentity, NODE_IDENTITY_PATH};
pub use kubeconfig::{admin_kubeconfig, kubeconfig_for, Kubeconfig};
pub use pki::{
    CaKeyPair, ClientCertificate, ClusterSecrets, ServiceAccountKeys, ADMIN_CN, ADMIN_ORG,
    CLUSTER_CA_CN, ETCD_CA_CN, ETCD_CLIENT_CN, FRONT_PROXY_CA_CN,
};
pub use plan::{
    AptKey, AptRepository, ClusterPlan, CniKind, CniManifest, CniPlan, NodePlan, NodeRole,
    ProxyPlan, Taint, TaintEffect, VipPlan, API_SERVER_PORT,
};
pub use proxy::no_proxy_list;
pub use token::{BootstrapToken, TokenParseError};
pub use user_data::{
    node_cloud_config, user_data, CLUSTER_CA_PATH, KUBEADM_CONFIG_PATH, KUBE_VIP_MANIFEST_PATH,
    NODE_INTERFACE_PLACEHOLDER, NODE_IP_PLACEHOLDER,
};
// One Kubernetes version type for the whole crate: profiles choose it, plans carry it.
pub use crate::model::k8s_version::{KubeadmApi, KubernetesVersion, VersionParseError};
