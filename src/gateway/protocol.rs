//! What gateway and console say to each other over HTTPS (JSON bodies). Nothing here ever
//! carries a MAAS API key or a private key.

use serde::{Deserialize, Serialize};

/// The pairing endpoint: `GET` says hello, `POST` pairs. The only route open without a client
/// certificate.
pub const PAIR_PATH: &str = "/v1/pair";
pub const INFO_PATH: &str = "/v1/info";
pub const HEALTH_PATH: &str = "/v1/health";
/// Newline-delimited JSON: one [`Health`] now, then one per heartbeat, until the client leaves.
pub const HEALTH_WATCH_PATH: &str = "/v1/health/watch";

/// `GET /v1/pair`: who is there, before any trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairHello {
    pub gateway: String,
    pub protocol: u32,
}

/// `POST /v1/pair`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRequest {
    /// How the gateway will know this console (the client certificate's common name).
    pub console: String,
    /// The console's uncompressed P-256 public key, base64.
    pub public_key: String,
    /// `HMAC(code key, "console" ‖ gateway certificate fingerprint ‖ public key)`, base64.
    pub proof: String,
}

/// The gateway's answer to a good pairing request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairResponse {
    pub gateway: String,
    /// PEM of the console's client certificate, signed by the gateway CA.
    pub client_cert: String,
    /// PEM of the gateway CA, which the console pins.
    pub ca_cert: String,
    /// `HMAC(code key, "gateway" ‖ fingerprint ‖ public key)`, base64.
    pub proof: String,
}

/// Every refusal: a stable code and a message saying what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    /// The error's fields, for the console to rebuild the same error kind (engine routes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// `GET /v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub name: String,
    /// The kubemaas version the gateway runs.
    pub version: String,
    pub protocol: u32,
    pub maas: MaasInfo,
    /// The cloud account made from gateway.yaml's MAAS: clusters use it unless told otherwise.
    pub default_account: String,
}

/// What `GET /v1/info` says about the nodes of a replicated (3-node) gateway. A 1-node
/// gateway sends neither field: its one address is the one the console paired with, so there
/// is nothing to learn (and its listen address, often `0.0.0.0`, is no address to call).
/// Both fields default, so consoles and gateways of older builds still read each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesInfo {
    /// The node that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Every node the gateway recorded, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeInfo>,
}

/// One node of a replicated gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// Where consoles reach it (`host:port`).
    pub address: String,
    /// Whether it is the elected node running the reconcilers (as the answering node last
    /// saw the election, within a second or so).
    pub leader: bool,
}

/// `GET /v1/info` as a gateway sends it: one flat JSON object, [`GatewayInfo`]'s fields and
/// [`NodesInfo`]'s. A console of an older build reads it as a [`GatewayInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoAnswer {
    #[serde(flatten)]
    pub gateway: GatewayInfo,
    #[serde(flatten)]
    pub nodes: NodesInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaasInfo {
    /// The region URL (never the key).
    pub endpoint: String,
    /// The MAAS version, when the gateway could reach MAAS at start.
    pub version: Option<String>,
}

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub uptime_seconds: u64,
}

// ---- the engine's routes (every one behind a paired client certificate) ----

/// `GET` lists live clusters, `POST` ([`SpecBody`]) creates one.
pub const CLUSTERS_PATH: &str = "/v1/clusters";
/// `GET` journal events: `?after=ID&limit=N[&cluster=ID]`.
pub const EVENTS_PATH: &str = "/v1/events";
/// Newline-delimited [`StreamLine`]s: `?after=ID[&cluster=ID]`, live, with heartbeats.
pub const EVENTS_STREAM_PATH: &str = "/v1/events/stream";
/// `GET` lists the gateway's cloud accounts, `POST` ([`AddAccountRequest`]) adds one.
pub const ACCOUNTS_PATH: &str = "/v1/accounts";

/// `POST /v1/clusters` and `POST /v1/clusters/NAME/spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecBody {
    pub spec: crate::model::ClusterSpec,
}

/// `POST /v1/clusters/NAME/delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteBody {
    pub erase: bool,
}

/// `POST /v1/clusters/NAME/scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleBody {
    pub pool: String,
    pub size: u32,
}

/// The answer to delete and abort: the queued command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandBody {
    pub command: crate::store::CommandId,
}

/// `GET /v1/clusters/NAME/kubeconfig`: the one response that carries a private key, asked for
/// explicitly.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeconfigBody {
    pub kubeconfig: String,
}

impl std::fmt::Debug for KubeconfigBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeconfigBody { .. }")
    }
}

/// One line of [`EVENTS_STREAM_PATH`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamLine {
    /// A journal entry, in id order.
    Event(crate::store::EventRow),
    /// Sent first and then whenever nothing else was sent for `interval_ms`: the channel is
    /// alive, and everything up to `last_id` (of the stream's selection) was delivered.
    Heartbeat {
        last_id: crate::store::EventId,
        interval_ms: u64,
    },
}

/// `POST /v1/accounts`: a MAAS region for the gateway to check and keep. The key travels to
/// the gateway only; no response ever carries it back.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddAccountRequest {
    pub name: String,
    pub endpoint: String,
    pub api_key: String,
    /// PEM of the CA that signed an https MAAS's certificate.
    #[serde(default)]
    pub ca_cert: Option<String>,
}

impl std::fmt::Debug for AddAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddAccountRequest")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("api_key", &"****")
            .finish_non_exhaustive()
    }
}

/// `GET /v1/accounts/NAME/machines`: a machine of the account's MAAS, as consoles list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineSummary {
    pub system_id: String,
    pub hostname: String,
    pub status: String,
    pub zone: String,
    pub pool: Option<String>,
    pub cpu_count: u32,
    /// MiB.
    pub memory: u64,
    pub ip_addresses: Vec<String>,
    pub tags: Vec<String>,
    /// Physical disks, largest first, in decimal GB (absent from older gateways).
    #[serde(default)]
    pub disks_gb: Vec<u64>,
    /// The MAAS user holding the machine.
    #[serde(default)]
    pub owner: Option<String>,
    /// The kubemaas cluster id in the machine's owner data.
    #[serde(default)]
    pub cluster: Option<String>,
}

impl From<crate::maas::Machine> for MachineSummary {
    /// A MAAS machine as the gateway reports it: owner and cluster only when set, the status
    /// MAAS names (or the status code's label when MAAS sent no name).
    fn from(m: crate::maas::Machine) -> Self {
        let status = if m.status_name.is_empty() {
            m.status.label().to_string()
        } else {
            m.status_name.clone()
        };
        MachineSummary {
            disks_gb: m.disk_sizes_gb(),
            cluster: m
                .owner_data
                .get(crate::engine::OWNER_KEY_CLUSTER)
                .filter(|id| !id.is_empty())
                .cloned(),
            system_id: m.system_id,
            hostname: m.hostname,
            status,
            zone: m.zone.name,
            pool: m.pool.map(|p| p.name),
            cpu_count: m.cpu_count,
            memory: m.memory,
            owner: m.owner.filter(|o| !o.is_empty()),
            ip_addresses: m.ip_addresses,
            tags: m.tag_names,
        }
    }
}

/// `GET /v1/accounts/NAME/maas`: the MAAS region behind an account, as the console's header
/// shows it (asked live by the gateway; never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaasIdentityBody {
    pub endpoint: String,
    pub version: String,
    pub user: String,
}

/// `GET /v1/accounts/NAME/snapshot` answers a [`crate::model::MaasSnapshot`]: zones, pools,
/// tags, domains, subnets, boot images and machines, read together for the console's wizards.
pub const SNAPSHOT_TAIL: &str = "/snapshot";
/// `GET /v1/accounts/NAME/maas` answers a [`MaasIdentityBody`].
pub const MAAS_IDENTITY_TAIL: &str = "/maas";

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> GatewayInfo {
        GatewayInfo {
            name: "dc1".into(),
            version: "1.0.0".into(),
            protocol: 1,
            maas: MaasInfo {
                endpoint: "http://127.0.0.1:5240/MAAS/".into(),
                version: None,
            },
            default_account: "dc1".into(),
        }
    }

    #[test]
    fn the_info_answer_is_one_object_older_builds_read_both_ways() {
        let answer = InfoAnswer {
            gateway: gateway(),
            nodes: NodesInfo {
                node: Some("gw2".into()),
                nodes: vec![NodeInfo {
                    name: "gw1".into(),
                    address: "127.0.0.1:1".into(),
                    leader: true,
                }],
            },
        };
        let text = serde_json::to_string(&answer).unwrap();
        let flat: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(flat["name"], "dc1");
        assert_eq!(flat["node"], "gw2");
        assert_eq!(flat["nodes"][0]["leader"], true);
        // An older console reads the gateway's part.
        assert_eq!(
            serde_json::from_str::<GatewayInfo>(&text).unwrap(),
            gateway()
        );
        assert_eq!(serde_json::from_str::<InfoAnswer>(&text).unwrap(), answer);
        // A 1-node or older gateway's answer: no nodes.
        let old = serde_json::to_string(&gateway()).unwrap();
        assert!(!old.contains("nodes"));
        let read: InfoAnswer = serde_json::from_str(&old).unwrap();
        assert_eq!(read.nodes, NodesInfo::default());
    }
}
