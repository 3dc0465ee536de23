//! The admin kubeconfig, built locally from the cluster CA so kubemaas can reach the API server
//! the moment it answers, without copying anything off a node.

use super::error::BootstrapError;
use super::pki::{ClientCertificate, ClusterSecrets, ADMIN_CN};
use super::plan::ClusterPlan;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A kubeconfig file (`apiVersion: v1`, `kind: Config`), the fields kubectl and client-go read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// `apiVersion`: the one camelCase key of a kubeconfig; the rest are kebab-case.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub clusters: Vec<NamedCluster>,
    pub contexts: Vec<NamedContext>,
    pub current_context: String,
    pub users: Vec<NamedUser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    pub cluster: ClusterEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterEntry {
    pub server: String,
    /// Base64 of the CA certificate PEM.
    pub certificate_authority_data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    pub context: ContextEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextEntry {
    pub cluster: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: UserEntry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserEntry {
    /// Base64 of the client certificate PEM.
    pub client_certificate_data: String,
    /// Base64 of the client key PEM.
    pub client_key_data: String,
}

/// Builds the admin kubeconfig: a fresh client certificate (CN kubernetes-admin,
/// O system:masters) signed by the cluster CA, for `https://<endpoint>:6443`, CA inline.
/// The result holds a private key: store it with `crate::paths::write_private_file`.
pub fn admin_kubeconfig(
    secrets: &ClusterSecrets,
    plan: &ClusterPlan,
) -> Result<String, BootstrapError> {
    let client = secrets.issue_admin_certificate()?;
    kubeconfig_for(secrets, plan, &client)
}

/// A kubeconfig for an already issued client certificate (e.g. one kept in the store).
pub fn kubeconfig_for(
    secrets: &ClusterSecrets,
    plan: &ClusterPlan,
    client: &ClientCertificate,
) -> Result<String, BootstrapError> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    let cluster = plan.cluster_name.clone();
    let context = format!("{ADMIN_CN}@{cluster}");
    let config = Kubeconfig {
        api_version: "v1".into(),
        kind: "Config".into(),
        clusters: vec![NamedCluster {
            name: cluster.clone(),
            cluster: ClusterEntry {
                server: plan.server_url(),
                certificate_authority_data: b64(&secrets.ca.cert_pem),
            },
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: ContextEntry {
                cluster,
                user: ADMIN_CN.into(),
            },
        }],
        current_context: context,
        users: vec![NamedUser {
            name: ADMIN_CN.into(),
            user: UserEntry {
                client_certificate_data: b64(&client.cert_pem),
                client_key_data: b64(&client.key_pem),
            },
        }],
    };
    serde_yaml::to_string(&config).map_err(|e| BootstrapError::serialize("admin kubeconfig", e))
}
