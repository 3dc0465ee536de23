//! `kubemaas gateway resize NAME --nodes 3`: a running 1-node gateway moves its state onto etcd
//! and becomes the first node of a 3-node gateway, which two more nodes then join.
//!
//! This module holds what console and gateway exchange (the admin routes [`RESIZE_PATH`] and
//! [`NODES_PATH`], behind the paired mutual-TLS channel) and the console's side; the gateway's
//! side is [`super::resize_server`]. The steps:
//!
//! 1. the console sends the etcd settings; the gateway checks them (its TLS files readable,
//!    etcd reachable, the log under the prefix empty or already this gateway's), records its
//!    CA and paired consoles in its store so that they travel with the state, writes the
//!    `etcd:` section into its gateway.yaml and restarts through the upgrade path (drain, then
//!    re-execute itself): the new process opens the state dir as the first copy of the
//!    replicated store, which seeds the empty log, and runs `ha::lead`;
//! 2. the console waits for the new process (its boot id changes), sends the cluster requests
//!    it queued meanwhile, and prints the command each missing node runs;
//! 3. with `--wait`, it polls [`NODES_PATH`] until the gateway lists every node.

use super::client::{decode, GatewayClient, GatewayClientError};
use super::console::{self, ConsoleError};
use super::queue::{self, FlushReport, QueueError};
use super::upgrade::{self, UpgradeError};
use crate::ha::{EtcdConfig, EtcdTls};
use crate::store::Store;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// `POST`: move this gateway onto etcd ([`ResizeRequest`] → [`ResizeAnswer`]).
pub const RESIZE_PATH: &str = "/v1/admin/resize";
/// `GET`: the gateway's nodes ([`NodesReport`]).
pub const NODES_PATH: &str = "/v1/admin/nodes";
/// The only size a gateway is resized to: 3 nodes survive the loss of one; 2 would not.
pub const HA_NODES: u8 = 3;
/// What the first node is called when neither `--node` nor gateway.yaml's `node:` names it.
pub const FIRST_NODE: &str = "gw1";
/// How long the gateway may take to check etcd (three members, each with a connect timeout).
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Between two looks at the node list.
const POLL: Duration = Duration::from_millis(500);

/// The etcd settings the gateway writes into its gateway.yaml. Paths are on the gateway host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<EtcdTlsPaths>,
}

/// The etcd TLS files, as paths on the gateway host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdTlsPaths {
    pub ca: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

impl EtcdSettings {
    /// The `etcd:` section these settings make (the default prefix when none is given).
    pub fn to_config(&self) -> EtcdConfig {
        let mut cfg = EtcdConfig::new(self.endpoints.clone());
        if let Some(p) = &self.prefix {
            cfg.prefix = p.clone();
        }
        cfg.tls = self.tls.as_ref().map(|t| EtcdTls {
            ca: t.ca.clone(),
            cert: t.cert.clone(),
            key: t.key.clone(),
        });
        cfg
    }
}

/// `POST /v1/admin/resize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResizeRequest {
    pub nodes: u8,
    pub etcd: EtcdSettings,
}

/// One node of the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    pub name: String,
    /// Where consoles reach it (`host:port`).
    pub address: String,
    pub started: DateTime<Utc>,
}

/// `GET /v1/admin/nodes`: the gateway's nodes as recorded in its (replicated) store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesReport {
    pub gateway: String,
    /// Whether the gateway keeps its state in etcd.
    pub replicated: bool,
    /// The node that answered.
    pub node: String,
    pub nodes: Vec<NodeEntry>,
    /// The gateway.yaml the answering node runs with (a path on its host): the file the other
    /// nodes need a copy of.
    pub config: String,
}

/// The answer to a resize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ResizeAnswer {
    /// gateway.yaml now holds `etcd:`; the gateway is draining and restarts onto etcd.
    Switching {
        /// What the first node is called.
        node: String,
        config: String,
        /// The process that took the request: the console waits for another one.
        boot_id: String,
        version: String,
    },
    /// The gateway keeps its state in etcd already: nothing was changed.
    AlreadyReplicated(NodesReport),
}

/// Why a resize did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResizeError {
    #[error("a gateway is resized to {HA_NODES} nodes, not {asked}: pass --nodes {HA_NODES} (3 nodes keep working when one is lost; 2 would not)")]
    Nodes { asked: u64 },
    #[error("give the etcd members with --etcd-endpoint URL (once per member, like --etcd-endpoint https://10.0.0.1:2379)")]
    NoEndpoints,
    #[error("--etcd-cert and --etcd-key go together (a client certificate and its key), and need --etcd-ca: add the missing one")]
    HalfTls,
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Client(#[from] GatewayClientError),
    #[error(transparent)]
    Restart(#[from] UpgradeError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("gateway {gateway} restarted but does not keep its state in etcd: check its log on the gateway host (`kubemaas gateway run` prints why it could not open the replicated store)")]
    NotReplicated { gateway: String },
    #[error("gateway {gateway} lists {have} of {want} nodes after {waited:?}: start the missing nodes with the commands printed above, then run `kubemaas gateway resize {gateway} --nodes 3 --wait 300` to watch them join")]
    NotJoined {
        gateway: String,
        have: usize,
        want: usize,
        waited: Duration,
    },
}

/// What happens, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResizeProgress {
    /// The gateway is checking etcd.
    Checking { address: String },
    /// It accepted: gateway.yaml holds `etcd:`, it drains and restarts.
    Switching {
        address: String,
        node: String,
        config: String,
    },
    /// It answers again, from etcd.
    Back { address: String },
    /// Waiting for nodes to join.
    Waiting { have: usize, want: usize },
}

/// The whole resize.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeReport {
    pub gateway: String,
    /// False when the gateway was on etcd already (a no-op).
    pub switched: bool,
    pub nodes: NodesReport,
    /// The cluster requests this console had queued, sent once the gateway was back.
    pub flushed: FlushReport,
}

/// What a missing node runs on its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinCommand {
    pub node: String,
    pub command: String,
}

/// Checks the console's flags and makes the settings sent to the gateway.
pub fn settings(
    nodes: u64,
    endpoints: Vec<String>,
    prefix: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<(u8, EtcdSettings), ResizeError> {
    if nodes != u64::from(HA_NODES) {
        return Err(ResizeError::Nodes { asked: nodes });
    }
    let tls = match (ca, cert, key) {
        (None, None, None) => None,
        (Some(ca), cert, key) if cert.is_some() == key.is_some() => {
            Some(EtcdTlsPaths { ca, cert, key })
        }
        _ => return Err(ResizeError::HalfTls),
    };
    Ok((
        HA_NODES,
        EtcdSettings {
            endpoints,
            prefix,
            tls,
        },
    ))
}

/// Asks the node `client` reaches for the gateway's nodes.
pub async fn nodes(client: &GatewayClient) -> Result<NodesReport, GatewayClientError> {
    client.get(NODES_PATH).await
}

/// Asks the gateway to move onto etcd (the check of etcd may take a while).
pub async fn request(
    client: &GatewayClient,
    body: &ResizeRequest,
) -> Result<ResizeAnswer, GatewayClientError> {
    let response = client
        .send(
            client
                .request(reqwest::Method::POST, RESIZE_PATH)?
                .timeout(CHECK_TIMEOUT)
                .json(body),
        )
        .await?;
    decode(client.address(), RESIZE_PATH, response).await
}

/// Polls until the gateway lists `want` nodes, within `patience`.
pub async fn wait_for_nodes(
    client: &GatewayClient,
    gateway: &str,
    want: usize,
    patience: Duration,
    mut progress: impl FnMut(ResizeProgress),
) -> Result<NodesReport, ResizeError> {
    let start = Instant::now();
    let mut last_have = None;
    loop {
        // A node restarting or a leader change may make one look fail: keep asking.
        let have = match nodes(client).await {
            Ok(report) if report.nodes.len() >= want => return Ok(report),
            Ok(report) => report.nodes.len(),
            Err(e) => {
                tracing::debug!(error = %e, "asking for the gateway's nodes");
                last_have.unwrap_or(0)
            }
        };
        if last_have != Some(have) {
            progress(ResizeProgress::Waiting { have, want });
            last_have = Some(have);
        }
        if start.elapsed() >= patience {
            return Err(ResizeError::NotJoined {
                gateway: gateway.to_string(),
                have,
                want,
                waited: patience,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `kubemaas gateway resize NAME --nodes N`: moves paired gateway `gateway` onto the etcd of
/// `etcd` (or reports its nodes when it is there already), waits until it is back within
/// `patience`, and sends the cluster requests this console queued while it was away.
pub async fn resize_gateway(
    store: &Store,
    gateway: &str,
    nodes_wanted: u8,
    etcd: EtcdSettings,
    patience: Duration,
    mut progress: impl FnMut(ResizeProgress),
) -> Result<ResizeReport, ResizeError> {
    let client = console::client_for(store, gateway)?;
    let address = client.address().to_string();
    // A gateway on etcd already needs no settings: the resize then only reports its nodes.
    let before = nodes(&client).await?;
    if before.replicated {
        return Ok(ResizeReport {
            gateway: gateway.to_string(),
            switched: false,
            nodes: before,
            flushed: FlushReport::default(),
        });
    }
    if etcd.endpoints.is_empty() {
        return Err(ResizeError::NoEndpoints);
    }
    progress(ResizeProgress::Checking {
        address: address.clone(),
    });
    let body = ResizeRequest {
        nodes: nodes_wanted,
        etcd,
    };
    let (node, boot_id, version) = match request(&client, &body).await? {
        ResizeAnswer::AlreadyReplicated(report) => {
            return Ok(ResizeReport {
                gateway: gateway.to_string(),
                switched: false,
                nodes: report,
                flushed: FlushReport::default(),
            })
        }
        ResizeAnswer::Switching {
            node,
            config,
            boot_id,
            version,
        } => {
            progress(ResizeProgress::Switching {
                address: address.clone(),
                node: node.clone(),
                config,
            });
            (node, boot_id, version)
        }
    };
    upgrade::wait_back(&client, &boot_id, &version, patience).await?;
    progress(ResizeProgress::Back {
        address: address.clone(),
    });
    let report = nodes(&client).await?;
    if !report.replicated {
        return Err(ResizeError::NotReplicated {
            gateway: gateway.to_string(),
        });
    }
    tracing::info!(gateway, %node, "gateway moved onto etcd");
    let flushed = queue::flush(store, gateway, &client).await?;
    Ok(ResizeReport {
        gateway: gateway.to_string(),
        switched: true,
        nodes: report,
        flushed,
    })
}

/// The commands that start the nodes `report` is missing to make `want`: named `gw1`, `gw2` …
/// (skipping names in use), each listening at the matching `listen` address when given, or at
/// HOST and the first node's port otherwise.
pub fn join_commands(report: &NodesReport, want: usize, listen: &[String]) -> Vec<JoinCommand> {
    let used: Vec<&str> = report.nodes.iter().map(|n| n.name.as_str()).collect();
    let port = report
        .nodes
        .iter()
        .find(|n| n.name == report.node)
        .or(report.nodes.first())
        .and_then(|n| n.address.rsplit_once(':'))
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| "PORT".into());
    let missing = want.saturating_sub(report.nodes.len());
    (1..)
        .map(|i| format!("gw{i}"))
        .filter(|name| !used.contains(&name.as_str()))
        .take(missing)
        .enumerate()
        .map(|(i, node)| {
            let at = listen
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("HOST:{port}"));
            JoinCommand {
                command: format!(
                    "kubemaas gateway run -c {} --node {node} --listen {at}",
                    report.config
                ),
                node,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(names: &[(&str, &str)]) -> NodesReport {
        NodesReport {
            gateway: "dc1".into(),
            replicated: true,
            node: names.first().map(|n| n.0.to_string()).unwrap_or_default(),
            nodes: names
                .iter()
                .map(|(n, a)| NodeEntry {
                    name: n.to_string(),
                    address: a.to_string(),
                    started: Utc::now(),
                })
                .collect(),
            config: "/etc/kubemaas/gateway.yaml".into(),
        }
    }

    #[test]
    fn the_missing_nodes_get_free_names_and_the_given_addresses() {
        let r = report(&[("gw1", "10.0.0.1:8443")]);
        let cmds = join_commands(&r, 3, &["10.0.0.2:8443".into()]);
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].node, "gw2");
        assert_eq!(
            cmds[0].command,
            "kubemaas gateway run -c /etc/kubemaas/gateway.yaml --node gw2 --listen 10.0.0.2:8443"
        );
        assert!(cmds[1].command.ends_with("--node gw3 --listen HOST:8443"));

        let named = report(&[("alpha", "10.0.0.1:9000"), ("gw2", "10.0.0.2:9000")]);
        let cmds = join_commands(&named, 3, &[]);
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].node, "gw1");
        assert!(
            join_commands(&report(&[("a", "x:1"), ("b", "y:1"), ("c", "z:1")]), 3, &[]).is_empty()
        );
    }

    #[test]
    fn only_three_nodes_and_whole_tls_settings_are_accepted() {
        let eps = || vec!["http://127.0.0.1:2379".to_string()];
        assert!(matches!(
            settings(2, eps(), None, None, None, None),
            Err(ResizeError::Nodes { asked: 2 })
        ));
        assert!(matches!(
            settings(3, eps(), None, None, Some("c".into()), Some("k".into())),
            Err(ResizeError::HalfTls)
        ));
        assert!(matches!(
            settings(3, eps(), None, Some("ca".into()), Some("c".into()), None),
            Err(ResizeError::HalfTls)
        ));
        let (n, s) = settings(3, eps(), Some("/kubemaas/dc1".into()), None, None, None).unwrap();
        assert_eq!(n, 3);
        let cfg = s.to_config();
        assert_eq!(cfg.prefix, "/kubemaas/dc1");
        assert_eq!(cfg.endpoints, eps());
        let (_, s) = settings(3, eps(), None, Some("ca".into()), None, None).unwrap();
        assert_eq!(s.to_config().prefix, "/kubemaas");
        assert_eq!(s.to_config().tls.unwrap().ca, PathBuf::from("ca"));
    }

    #[test]
    fn answers_round_trip_with_their_outcome_tag() {
        let a = ResizeAnswer::AlreadyReplicated(report(&[("gw1", "a:1")]));
        let text = serde_json::to_string(&a).unwrap();
        assert!(
            text.contains("\"outcome\":\"already_replicated\""),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<ResizeAnswer>(&text).unwrap(), a);
    }
}
