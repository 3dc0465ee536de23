//! How the engine learns whether Kubernetes is up: a [`KubeProbe`] answers "is the API server
//! ready, and which nodes are Ready". The real probe asks the cluster's API server over HTTPS
//! with the admin certificate; the simulator probe asks the MAAS simulator, which simulates the
//! Kubernetes side of the clusters it hosts. Tests never reach the (non-loopback) control-plane
//! address: they use the simulator probe or a fake.

use crate::store::ClusterId;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a probe saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeHealth {
    pub api_server_ready: bool,
    #[serde(default)]
    pub nodes: Vec<KubeNode>,
}

impl KubeHealth {
    /// True when the node called `name` is registered and Ready.
    pub fn node_ready(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.name == name && n.ready)
    }
}

/// One Kubernetes node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeNode {
    pub name: String,
    #[serde(default)]
    pub role: String,
    pub ready: bool,
}

/// What a probe needs to reach a cluster.
#[derive(Clone)]
pub struct ProbeTarget {
    pub cluster: ClusterId,
    /// `https://host:6443`.
    pub server_url: String,
    /// PEM of the cluster CA.
    pub ca_pem: String,
    /// PEM of an admin client certificate and its key (secret: never logged).
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl std::fmt::Debug for ProbeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeTarget")
            .field("cluster", &self.cluster)
            .field("server_url", &self.server_url)
            .field("client_key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Why a probe could not tell. The engine treats it as "not ready yet" and probes again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot probe Kubernetes at {target}: {detail}")]
pub struct ProbeError {
    pub target: String,
    pub detail: String,
}

/// Asks a cluster how its Kubernetes is. Object-safe so the engine can hold any of them.
pub trait KubeProbe: Send + Sync {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>>;
}

/// The MAAS capability the simulator announces in `version/`.
pub const SIMULATOR_CAPABILITY: &str = "kubemaas-simulator";

/// Asks the MAAS simulator: `GET {origin}/_sim/k8s/clusters/{cluster_id}`.
#[derive(Debug, Clone)]
pub struct SimProbe {
    origin: String,
    http: reqwest::Client,
}

impl SimProbe {
    /// `origin` is the simulator's `scheme://host:port`.
    pub fn new(origin: impl Into<String>) -> Self {
        SimProbe {
            origin: origin.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }
}

impl KubeProbe for SimProbe {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>> {
        Box::pin(async move {
            let url = format!("{}/_sim/k8s/clusters/{}", self.origin, target.cluster);
            let err = |detail: String| ProbeError {
                target: url.clone(),
                detail,
            };
            let resp = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| err(e.to_string()))?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                // The simulator hosts no node of this cluster yet.
                return Ok(KubeHealth::default());
            }
            if !resp.status().is_success() {
                return Err(err(format!("HTTP {}", resp.status())));
            }
            resp.json::<KubeHealth>()
                .await
                .map_err(|e| err(format!("unreadable answer: {e}")))
        })
    }
}

/// Asks the cluster's API server: `/readyz`, then `/api/v1/nodes`, as kubernetes-admin.
#[derive(Debug, Clone, Default)]
pub struct HttpsProbe;

#[derive(Deserialize)]
struct NodeList {
    #[serde(default)]
    items: Vec<NodeItem>,
}

#[derive(Deserialize)]
struct NodeItem {
    metadata: NodeMeta,
    #[serde(default)]
    status: NodeStatusField,
}

#[derive(Deserialize)]
struct NodeMeta {
    name: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct NodeStatusField {
    #[serde(default)]
    conditions: Vec<NodeCondition>,
}

#[derive(Deserialize)]
struct NodeCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

impl HttpsProbe {
    fn client(target: &ProbeTarget) -> Result<reqwest::Client, ProbeError> {
        let err = |detail: String| ProbeError {
            target: target.server_url.clone(),
            detail,
        };
        let ca = reqwest::Certificate::from_pem(target.ca_pem.as_bytes())
            .map_err(|e| err(format!("the cluster CA is not a PEM certificate: {e}")))?;
        let mut pem = target.client_cert_pem.clone().into_bytes();
        pem.extend_from_slice(target.client_key_pem.as_bytes());
        // The identity error would describe the PEM, not quote it.
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|_| err("the admin client certificate or key is unreadable".into()))?;
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .identity(identity)
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| err(e.to_string()))
    }
}

impl KubeProbe for HttpsProbe {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>> {
        Box::pin(async move {
            let client = Self::client(target)?;
            let err = |detail: String| ProbeError {
                target: target.server_url.clone(),
                detail,
            };
            let ready = client
                .get(format!("{}/readyz", target.server_url))
                .send()
                .await
                .map_err(|e| err(e.to_string()))?;
            if !ready.status().is_success() {
                return Ok(KubeHealth::default());
            }
            let nodes: NodeList = client
                .get(format!("{}/api/v1/nodes", target.server_url))
                .send()
                .await
                .map_err(|e| err(e.to_string()))?
                .json()
                .await
                .map_err(|e| err(format!("unreadable node list: {e}")))?;
            Ok(KubeHealth {
                api_server_ready: true,
                nodes: nodes
                    .items
                    .into_iter()
                    .map(|n| KubeNode {
                        role: if n
                            .metadata
                            .labels
                            .contains_key("node-role.kubernetes.io/control-plane")
                        {
                            "control-plane".into()
                        } else {
                            "worker".into()
                        },
                        ready: n
                            .status
                            .conditions
                            .iter()
                            .any(|c| c.kind == "Ready" && c.status == "True"),
                        name: n.metadata.name,
                    })
                    .collect(),
            })
        })
    }
}
