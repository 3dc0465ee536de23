//! How the engine talks to a cluster's Kubernetes: a [`KubeProbe`] answers "is the API server
//! ready, and which nodes are Ready", and drains a node before its machine is released
//! ([`KubeProbe::drain`]). The real probe asks the cluster's API server over HTTPS with the
//! admin certificate; the simulator probe asks the MAAS simulator, which simulates the
//! Kubernetes side of the clusters it hosts. Tests never reach the (non-loopback) control-plane
//! address: they use the simulator probe, a fake, or a fake API server on loopback.

use crate::store::ClusterId;
use crate::untrusted::{read_body, read_prefix};
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

impl ProbeError {
    /// Makes errors about `target`, for `map_err`: every step of one call names the same place
    /// and only says what went wrong.
    pub(crate) fn about(target: impl Into<String>) -> impl Fn(String) -> ProbeError {
        let target = target.into();
        move |detail| ProbeError {
            target: target.clone(),
            detail,
        }
    }
}

/// Where one drain call left a node. A drain takes several calls (one per reconcile pass):
/// each call cordons, evicts what it can and deletes the Node once nothing evictable is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DrainProgress {
    /// Cordoned, no pod left to evict, and the Node object is deleted (or was already, by an
    /// earlier call of the same drain).
    Drained,
    /// No Node of that name is registered: it never joined, or it is gone already.
    NotRegistered,
    /// Cordoned; pods are still on the node. `terminating`: evicted (or being deleted) and not
    /// gone yet; `blocked`: eviction refused for now, as a PodDisruptionBudget does (HTTP 429).
    Pending { terminating: usize, blocked: usize },
}

impl DrainProgress {
    /// `2 pod(s) terminating, 1 blocked by a PodDisruptionBudget`, for events.
    pub fn describe(&self) -> String {
        match self {
            DrainProgress::Drained => "drained and deleted".into(),
            DrainProgress::NotRegistered => "not registered".into(),
            DrainProgress::Pending {
                terminating,
                blocked,
            } => format!(
                "{terminating} pod(s) terminating, {blocked} blocked by a PodDisruptionBudget"
            ),
        }
    }
}

/// Asks a cluster how its Kubernetes is, and drains nodes. Object-safe so the engine can hold
/// any of them.
pub trait KubeProbe: Send + Sync {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>>;

    /// One step of draining node `node`: cordon it, evict its pods (not DaemonSet or mirror
    /// pods), delete the Node once none is left. Idempotent: the engine calls it once per pass
    /// until it says [`DrainProgress::Drained`]. A probe that only reads health (a test fake)
    /// keeps this default, which says it cannot drain; the engine then releases without one.
    fn drain<'a>(
        &'a self,
        target: &'a ProbeTarget,
        node: &'a str,
    ) -> BoxFuture<'a, Result<DrainProgress, ProbeError>> {
        Box::pin(async move {
            Err(ProbeError {
                target: target.server_url.clone(),
                detail: format!(
                    "this Kubernetes probe only reads health and cannot drain node {node}"
                ),
            })
        })
    }

    /// The cluster's etcd members (etcd's `MemberList`), asked through one of
    /// `target.endpoints`. A probe that cannot reach etcd (a test fake) keeps this default,
    /// which says so; the engine then keeps the leaving control-plane machine rather than risk
    /// etcd's quorum (see `engine/etcd.rs`).
    fn etcd_members<'a>(
        &'a self,
        target: &'a EtcdTarget,
    ) -> BoxFuture<'a, Result<Vec<EtcdMember>, ProbeError>> {
        Box::pin(async move { Err(no_etcd(target)) })
    }

    /// Removes member `id` from the cluster's etcd (etcd's `MemberRemove`). A member that is
    /// not there (any more) is [`MemberRemoval::NotFound`], not an error.
    fn etcd_remove_member<'a>(
        &'a self,
        target: &'a EtcdTarget,
        id: u64,
    ) -> BoxFuture<'a, Result<MemberRemoval, ProbeError>> {
        let _ = id;
        Box::pin(async move { Err(no_etcd(target)) })
    }
}

fn no_etcd(target: &EtcdTarget) -> ProbeError {
    ProbeError {
        target: target.describe(),
        detail: "this Kubernetes probe cannot reach etcd, so it cannot change etcd membership"
            .into(),
    }
}

/// The port of etcd's client API (and of its v3 JSON gateway) on a kubeadm control-plane node.
pub const ETCD_CLIENT_PORT: u16 = 2379;

/// How to reach a cluster's etcd: the client URLs of control-plane nodes that stay, the etcd
/// CA (kubeadm's etcd serves a certificate it signed and verifies clients against it) and a
/// client certificate signed by that CA.
#[derive(Clone)]
pub struct EtcdTarget {
    pub cluster: ClusterId,
    /// `https://ADDRESS:2379` of each remaining control-plane node, tried in order.
    pub endpoints: Vec<String>,
    /// PEM of the etcd CA.
    pub ca_pem: String,
    /// PEM of a client certificate signed by the etcd CA, and its key (secret: never logged).
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl EtcdTarget {
    /// `etcd of cluster ID at https://a:2379, https://b:2379`, for errors.
    pub fn describe(&self) -> String {
        if self.endpoints.is_empty() {
            format!("etcd of cluster {}", self.cluster)
        } else {
            format!(
                "etcd of cluster {} at {}",
                self.cluster,
                self.endpoints.join(", ")
            )
        }
    }
}

impl std::fmt::Debug for EtcdTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdTarget")
            .field("cluster", &self.cluster)
            .field("endpoints", &self.endpoints)
            .field("client_key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// One etcd member as `MemberList` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdMember {
    pub id: u64,
    /// kubeadm names a member after its node (the MAAS hostname); empty while not started.
    pub name: String,
    pub peer_urls: Vec<String>,
    #[serde(default)]
    pub client_urls: Vec<String>,
}

impl EtcdMember {
    /// Whether this member runs on node `name` with address `address`: by name, or (a member
    /// not started yet has no name) by a peer URL on that address.
    pub fn is_node(&self, name: &str, address: Option<&str>) -> bool {
        if !self.name.is_empty() && self.name == name {
            return true;
        }
        let Some(address) = address else {
            return false;
        };
        let address = address.trim_start_matches('[').trim_end_matches(']');
        self.peer_urls.iter().any(|u| {
            url::Url::parse(u).ok().is_some_and(|u| {
                u.host_str()
                    .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                    == Some(address)
            })
        })
    }

    /// `NAME (id 8e9e05c52164694d)`: etcdctl shows ids in hex.
    pub fn label(&self) -> String {
        let name = if self.name.is_empty() {
            "(not started)"
        } else {
            &self.name
        };
        format!("{name} (id {:x})", self.id)
    }
}

/// What a `MemberRemove` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemoval {
    Removed,
    /// etcd has no such member: removed before, or never added.
    NotFound,
}

/// Path-segment escaping: everything but RFC 3986 unreserved characters, so a node or pod
/// name can never change the path it is put in.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn segment(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, SEGMENT)
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

    /// `{origin}/_sim/k8s/clusters/{cluster}{rest}`: where the simulator serves one cluster.
    fn cluster_url(&self, cluster: &ClusterId, rest: &str) -> String {
        format!(
            "{}/_sim/k8s/clusters/{}{rest}",
            self.origin,
            segment(cluster.as_str())
        )
    }

    /// Sends one call of the simulator's control API; an error names `url`.
    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::Response, ProbeError> {
        self.http
            .request(method, url)
            .send()
            .await
            .map_err(|e| ProbeError::about(url)(e.to_string()))
    }
}

impl KubeProbe for SimProbe {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>> {
        Box::pin(async move {
            let url = self.cluster_url(&target.cluster, "");
            let err = ProbeError::about(&url);
            let resp = self.send(reqwest::Method::GET, &url).await?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                // The simulator hosts no node of this cluster yet.
                return Ok(KubeHealth::default());
            }
            if !resp.status().is_success() {
                return Err(err(format!("HTTP {}", resp.status())));
            }
            answer_json::<KubeHealth>(resp)
                .await
                .map_err(|e| err(format!("unreadable answer: {e}")))
        })
    }

    fn drain<'a>(
        &'a self,
        target: &'a ProbeTarget,
        node: &'a str,
    ) -> BoxFuture<'a, Result<DrainProgress, ProbeError>> {
        Box::pin(self.sim_drain(target, node))
    }

    fn etcd_members<'a>(
        &'a self,
        target: &'a EtcdTarget,
    ) -> BoxFuture<'a, Result<Vec<EtcdMember>, ProbeError>> {
        Box::pin(self.sim_etcd_members(target))
    }

    fn etcd_remove_member<'a>(
        &'a self,
        target: &'a EtcdTarget,
        id: u64,
    ) -> BoxFuture<'a, Result<MemberRemoval, ProbeError>> {
        Box::pin(self.sim_etcd_remove(target, id))
    }
}

impl SimProbe {
    /// `POST {origin}/_sim/k8s/clusters/{cluster}/etcd/member/list`: the simulator answers as
    /// etcd's JSON gateway does (503 when no member answers).
    async fn sim_etcd_members(&self, target: &EtcdTarget) -> Result<Vec<EtcdMember>, ProbeError> {
        let url = self.cluster_url(&target.cluster, "/etcd/member/list");
        let err = ProbeError::about(&url);
        let resp = self.send(reqwest::Method::POST, &url).await?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            // No node of this cluster ever deployed: no etcd, so no member.
            return Ok(Vec::new());
        }
        let body = answer_body(resp).await.map_err(&err)?;
        if !status.is_success() {
            return Err(err(super::etcd::gateway::refusal(status, &body)));
        }
        super::etcd::gateway::parse_members(&body).map_err(err)
    }

    /// `POST {origin}/_sim/k8s/clusters/{cluster}/etcd/members/{id}/remove`.
    async fn sim_etcd_remove(
        &self,
        target: &EtcdTarget,
        id: u64,
    ) -> Result<MemberRemoval, ProbeError> {
        let url = self.cluster_url(&target.cluster, &format!("/etcd/members/{id}/remove"));
        let err = ProbeError::about(&url);
        let resp = self.send(reqwest::Method::POST, &url).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(MemberRemoval::Removed);
        }
        let body = answer_body(resp).await.map_err(&err)?;
        if super::etcd::gateway::is_not_found(&body) {
            return Ok(MemberRemoval::NotFound);
        }
        Err(err(super::etcd::gateway::refusal(status, &body)))
    }
}

/// What the simulator answers to a drain call (`sim::k8s::K8sDrain`, read loosely so the
/// engine does not depend on the simulator's types).
#[derive(Deserialize)]
struct SimDrainAnswer {
    #[serde(default)]
    drained_at: Option<String>,
    #[serde(default)]
    held: bool,
    #[serde(default)]
    pods_remaining: usize,
}

impl SimProbe {
    /// `POST {origin}/_sim/k8s/clusters/{cluster}/nodes/{node}/drain`.
    async fn sim_drain(
        &self,
        target: &ProbeTarget,
        node: &str,
    ) -> Result<DrainProgress, ProbeError> {
        let url = self.cluster_url(&target.cluster, &format!("/nodes/{}/drain", segment(node)));
        let err = ProbeError::about(&url);
        let resp = self.send(reqwest::Method::POST, &url).await?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(DrainProgress::NotRegistered);
        }
        if !status.is_success() {
            return Err(err(refusal(resp).await));
        }
        let answer: SimDrainAnswer = answer_json(resp)
            .await
            .map_err(|e| err(format!("unreadable answer: {e}")))?;
        Ok(if answer.drained_at.is_some() {
            DrainProgress::Drained
        } else if answer.held {
            DrainProgress::Pending {
                terminating: 0,
                blocked: answer.pods_remaining,
            }
        } else {
            DrainProgress::Pending {
                terminating: answer.pods_remaining,
                blocked: 0,
            }
        })
    }
}

/// Asks the cluster's API server as kubernetes-admin: `/readyz`, then `/api/v1/nodes`; drains
/// through the API (cordon, policy/v1 evictions, delete the Node), as `kubectl drain` does.
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
        pinned_client(
            &PinnedTls {
                ca_name: "cluster CA",
                ca_pem: &target.ca_pem,
                cert_name: "admin client",
                cert_pem: &target.client_cert_pem,
                key_pem: &target.client_key_pem,
            },
            Duration::from_secs(10),
        )
        .map_err(ProbeError::about(&target.server_url))
    }
}

/// The TLS material of a call that trusts one CA only and shows a client certificate. The
/// names say which CA and certificate an error is about (never their content).
pub(crate) struct PinnedTls<'a> {
    /// `cluster CA`, `etcd CA`.
    pub ca_name: &'a str,
    pub ca_pem: &'a str,
    /// `admin client`, `etcd client`.
    pub cert_name: &'a str,
    pub cert_pem: &'a str,
    /// Secret: never quoted in an error.
    pub key_pem: &'a str,
}

/// A client that trusts only `tls.ca_pem` (not the system roots: the cluster's own CAs sign
/// its servers) and shows `tls.cert_pem` with its key.
pub(crate) fn pinned_client(
    tls: &PinnedTls<'_>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let ca = reqwest::Certificate::from_pem(tls.ca_pem.as_bytes())
        .map_err(|e| format!("the {} is not a PEM certificate: {e}", tls.ca_name))?;
    let mut pem = tls.cert_pem.as_bytes().to_vec();
    // A certificate without its final newline would run into the key's BEGIN line.
    pem.push(b'\n');
    pem.extend_from_slice(tls.key_pem.as_bytes());
    // The identity error would describe the PEM, not quote it; still, say nothing of it.
    let identity = reqwest::Identity::from_pem(&pem)
        .map_err(|_| format!("the {} certificate or key is unreadable", tls.cert_name))?;
    reqwest::Client::builder()
        // The cluster's API servers and etcd members sit on the node network: a jump host's
        // HTTPS_PROXY must never carry these calls (nor see the client certificate's use).
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(identity)
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

impl KubeProbe for HttpsProbe {
    fn probe<'a>(
        &'a self,
        target: &'a ProbeTarget,
    ) -> BoxFuture<'a, Result<KubeHealth, ProbeError>> {
        Box::pin(async move {
            let client = Self::client(target)?;
            let err = ProbeError::about(&target.server_url);
            let ready = client
                .get(format!("{}/readyz", target.server_url))
                .send()
                .await
                .map_err(|e| err(e.to_string()))?;
            if !ready.status().is_success() {
                return Ok(KubeHealth::default());
            }
            let listed = client
                .get(format!("{}/api/v1/nodes", target.server_url))
                .send()
                .await
                .map_err(|e| err(e.to_string()))?;
            let nodes: NodeList = answer_json(listed)
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

    fn drain<'a>(
        &'a self,
        target: &'a ProbeTarget,
        node: &'a str,
    ) -> BoxFuture<'a, Result<DrainProgress, ProbeError>> {
        Box::pin(async move {
            let client = Self::client(target)?;
            drain_via_api(&client, &target.server_url, node).await
        })
    }

    fn etcd_members<'a>(
        &'a self,
        target: &'a EtcdTarget,
    ) -> BoxFuture<'a, Result<Vec<EtcdMember>, ProbeError>> {
        Box::pin(super::etcd::gateway::members(target))
    }

    fn etcd_remove_member<'a>(
        &'a self,
        target: &'a EtcdTarget,
        id: u64,
    ) -> BoxFuture<'a, Result<MemberRemoval, ProbeError>> {
        Box::pin(super::etcd::gateway::remove(target, id))
    }
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Deserialize)]
struct Pod {
    metadata: PodMeta,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodMeta {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    owner_references: Vec<OwnerReference>,
    #[serde(default)]
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct OwnerReference {
    kind: String,
}

#[derive(Deserialize, Default)]
struct PodStatus {
    #[serde(default)]
    phase: String,
}

/// The annotation the kubelet puts on the API's copy of a static pod: deleting or evicting it
/// does nothing (the kubelet owns it), so a drain leaves it.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// What a drain does with one pod on the node.
#[derive(Debug, PartialEq, Eq)]
enum PodFate {
    /// DaemonSet, mirror (static) and finished pods stay: they neither move nor hold work, and
    /// go with the Node.
    Leave,
    /// Already being deleted: wait for it.
    Terminating,
    /// Ask for an eviction.
    Evict,
}

fn fate(pod: &Pod) -> PodFate {
    let m = &pod.metadata;
    if m.annotations.contains_key(MIRROR_ANNOTATION)
        || m.owner_references.iter().any(|o| o.kind == "DaemonSet")
        || matches!(pod.status.phase.as_str(), "Succeeded" | "Failed")
    {
        PodFate::Leave
    } else if m.deletion_timestamp.is_some() {
        PodFate::Terminating
    } else {
        PodFate::Evict
    }
}

/// The most read of one answer of a Kubernetes API server, etcd's gateway or the simulator.
/// The largest are node lists (a node object is a few KB; kubemaas clusters have at most
/// thousands) and one node's pods (110 by default).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// The most read of a refused call's body: only its first 300 characters are shown.
const MAX_REFUSAL: usize = 16 * 1024;

/// A whole answer, at most [`MAX_ANSWER`]: an endless one is an error naming the URL and the
/// bound, never a process out of memory.
pub(crate) async fn answer_body(resp: reqwest::Response) -> Result<bytes::Bytes, String> {
    read_body(resp, MAX_ANSWER).await.map_err(|e| e.to_string())
}

/// A whole JSON answer, at most [`MAX_ANSWER`].
async fn answer_json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, String> {
    let body = answer_body(resp).await?;
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// The body of a refused call, cut short: API `Status` messages are short, proxies' pages are
/// not (and an endless one is never read past [`MAX_REFUSAL`]).
async fn refusal(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body = read_prefix(resp, MAX_REFUSAL).await.unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    let body: String = body.trim().chars().take(300).collect();
    format!("HTTP {status}: {body}")
}

/// One drain step against the Kubernetes API at `server` (`https://host:6443`; tests use an
/// `http://127.0.0.1` fake): cordon (merge-patch `spec.unschedulable`), list the node's pods,
/// evict the evictable ones (policy/v1), and delete the Node once none is left.
async fn drain_via_api(
    client: &reqwest::Client,
    server: &str,
    node: &str,
) -> Result<DrainProgress, ProbeError> {
    let server = server.trim_end_matches('/');
    let err = ProbeError::about(server);
    let node_url = format!("{server}/api/v1/nodes/{}", segment(node));
    let cordon = client
        .patch(&node_url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/merge-patch+json",
        )
        .body(r#"{"spec":{"unschedulable":true}}"#)
        .send()
        .await
        .map_err(|e| err(format!("cordoning node {node}: {e}")))?;
    if cordon.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(DrainProgress::NotRegistered);
    }
    if !cordon.status().is_success() {
        return Err(err(format!(
            "cordoning node {node}: {}",
            refusal(cordon).await
        )));
    }
    let listed = client
        .get(format!("{server}/api/v1/pods"))
        .query(&[("fieldSelector", format!("spec.nodeName={node}"))])
        .send()
        .await
        .map_err(|e| err(format!("listing the pods of node {node}: {e}")))?;
    if !listed.status().is_success() {
        return Err(err(format!(
            "listing the pods of node {node}: {}",
            refusal(listed).await
        )));
    }
    let pods: PodList = answer_json(listed)
        .await
        .map_err(|e| err(format!("unreadable pod list of node {node}: {e}")))?;
    let (mut terminating, mut blocked) = (0usize, 0usize);
    for pod in &pods.items {
        match fate(pod) {
            PodFate::Leave => {}
            PodFate::Terminating => terminating += 1,
            PodFate::Evict => {
                let (ns, name) = (&pod.metadata.namespace, &pod.metadata.name);
                let answer = client
                    .post(format!(
                        "{server}/api/v1/namespaces/{}/pods/{}/eviction",
                        segment(ns),
                        segment(name)
                    ))
                    .json(&serde_json::json!({
                        "apiVersion": "policy/v1",
                        "kind": "Eviction",
                        "metadata": {"name": name, "namespace": ns},
                    }))
                    .send()
                    .await
                    .map_err(|e| err(format!("evicting pod {ns}/{name}: {e}")))?;
                match answer.status().as_u16() {
                    200 | 201 => terminating += 1,
                    // Gone between the list and the eviction: nothing left to wait for.
                    404 => {}
                    // A PodDisruptionBudget does not allow it yet: ask again next pass.
                    429 => blocked += 1,
                    _ => {
                        return Err(err(format!(
                            "evicting pod {ns}/{name}: {}",
                            refusal(answer).await
                        )))
                    }
                }
            }
        }
    }
    if terminating + blocked > 0 {
        return Ok(DrainProgress::Pending {
            terminating,
            blocked,
        });
    }
    let deleted = client
        .delete(&node_url)
        .send()
        .await
        .map_err(|e| err(format!("deleting node {node}: {e}")))?;
    if deleted.status().is_success() || deleted.status() == reqwest::StatusCode::NOT_FOUND {
        Ok(DrainProgress::Drained)
    } else {
        Err(err(format!(
            "deleting node {node}: {}",
            refusal(deleted).await
        )))
    }
}
