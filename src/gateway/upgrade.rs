//! The console's side of `kubemaas gateway upgrade NAME [--binary PATH]`: stream an executable
//! (this console's own by default) to each node of the gateway over the paired channel, with
//! its SHA-256, and wait until the node answers again running the new version. Nodes are
//! upgraded one at a time ([`upgrade_nodes`] takes one client per node).
//!
//! A 1-node gateway is away while it restarts: consoles queue cluster requests meanwhile
//! ([`super::queue`]) and the upgrade sends them once it is back.
//!
//! A replicated (3-node) gateway is rolled: every node must answer before anything starts;
//! followers go first and the elected leader last (asked again before each node, as the role
//! can move); each node drains, resigns if it leads, restarts and must come back running the
//! new version (its `/v1/info` too) with its copy of the store caught up with what the others
//! had applied, before the next one starts. While one node restarts the others serve, so
//! nothing is queued. A node that does not come back stops the roll, naming it; the nodes
//! after it are left untouched.

use super::client::{decode, GatewayClient, GatewayClientError};
use super::console::{self, ConsoleError};
use super::queue::{self, FlushReport, QueueError};
use super::upgrade_server::{
    UpgradeAccepted, UpgradeState, UpgradeStatus, SHA256_HEADER, UPGRADE_PATH,
};
use crate::store::Store;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long an upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Between two "are you back?" questions.
const POLL: Duration = Duration::from_millis(250);

/// Why an upgrade did not finish.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("cannot read the executable to upload, {path}: {source} (pass --binary PATH to a kubemaas executable)")]
    Binary {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    Client(#[from] GatewayClientError),
    #[error("gateway node {address} did not come back running kubemaas {expected} within {waited:?} (last answer: {last}): check its log on the gateway host; the executable is installed, so restarting `kubemaas gateway run` there starts the new version")]
    NotBack {
        address: String,
        expected: String,
        waited: Duration,
        last: String,
    },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("node {index}/{total} {node} ({address}) does not answer ({detail}): a rolling upgrade takes one node away at a time and needs the others up, so nothing was started; bring it back (or remove it from the gateway) and run the upgrade again")]
    NodeAway {
        index: usize,
        total: usize,
        node: String,
        address: String,
        detail: String,
    },
    #[error("node {address} came back running kubemaas {expected} but its copy of the store stays at log entry {applied} while the other nodes applied {target} (waited {waited:?}): check its log for replication errors; the nodes after it were not upgraded")]
    NotCaughtUp {
        address: String,
        expected: String,
        applied: u64,
        target: u64,
        waited: Duration,
    },
    #[error("node {address} answers its upgrade status with kubemaas {expected} but /v1/info says {said}: the restarted gateway is inconsistent; check its log")]
    InfoMismatch {
        address: String,
        expected: String,
        said: String,
    },
    #[error(
        "rolling upgrade stopped at node {index}/{total} {node}: {source}; {}",
        roll_state(upgraded, untouched)
    )]
    Roll {
        index: usize,
        total: usize,
        node: String,
        /// Nodes already running the new version.
        upgraded: Vec<String>,
        /// Nodes not touched (still on their version, serving).
        untouched: Vec<String>,
        source: Box<UpgradeError>,
    },
}

fn roll_state(upgraded: &[String], untouched: &[String]) -> String {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!(
        "already upgraded: {}; not touched: {} (the gateway keeps serving on mixed versions; fix the node and run the upgrade again: nodes already on the new version are upgraded again harmlessly)",
        list(upgraded),
        list(untouched)
    )
}

/// What happens, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeProgress {
    /// A node of a replicated gateway is next: `index` of `total` (from 1), by its name.
    /// Not sent for a 1-node gateway.
    Node {
        index: usize,
        total: usize,
        name: String,
        address: String,
        /// It is the elected leader (it resigns before restarting).
        leader: bool,
    },
    Uploading {
        address: String,
        bytes: u64,
    },
    /// The node took the executable and is draining / restarting.
    Restarting {
        address: String,
        from: String,
        to: String,
    },
    Back {
        address: String,
        version: String,
    },
}

/// One node's upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUpgrade {
    /// The node's name (its address on a 1-node gateway, which has no node names).
    pub name: String,
    pub address: String,
    pub from_version: String,
    pub to_version: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The whole upgrade.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeReport {
    pub gateway: String,
    pub nodes: Vec<NodeUpgrade>,
    /// The cluster requests this console had queued for the gateway, sent once it was back.
    pub flushed: FlushReport,
    /// A replicated gateway, rolled node by node: its other nodes served while each one
    /// restarted, so no request had to be queued for it.
    pub rolled: bool,
}

/// This console's own executable (what `gateway upgrade` uploads by default).
pub fn own_binary() -> Result<PathBuf, UpgradeError> {
    std::env::current_exe().map_err(|source| UpgradeError::Binary {
        path: PathBuf::from("(this process's executable)"),
        source,
    })
}

/// The hex SHA-256 and length of the file at `path`, read in chunks.
pub async fn sha256_file(path: &Path) -> Result<(String, u64), UpgradeError> {
    let path_buf = path.to_path_buf();
    let fail = |source| UpgradeError::Binary {
        path: path_buf.clone(),
        source,
    };
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut file = std::fs::File::open(&owned)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((hex, total))
    })
    .await
    .map_err(|e| fail(std::io::Error::other(e.to_string())))?
    .map_err(fail)
}

/// Where the node is (`GET /v1/upgrade`), whatever protocol it speaks.
pub async fn status(client: &GatewayClient) -> Result<UpgradeStatus, GatewayClientError> {
    let response = client
        .send_unchecked(
            client
                .request(reqwest::Method::GET, UPGRADE_PATH)?
                .timeout(Duration::from_secs(10)),
        )
        .await?;
    decode(client.address(), UPGRADE_PATH, response).await
}

/// Streams the file at `path` to the node `client` reaches, claiming `sha256` (hex). The
/// node installs it and restarts into it; this returns as soon as it took it.
pub async fn upload(
    client: &GatewayClient,
    path: &Path,
    sha256: &str,
    bytes: u64,
) -> Result<UpgradeAccepted, UpgradeError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| UpgradeError::Binary {
            path: path.to_path_buf(),
            source,
        })?;
    // Read and sent a chunk at a time: the executable is never held in memory whole.
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buf = vec![0u8; 1 << 16];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    let body = reqwest::Body::wrap_stream(chunks);
    let request = client
        .request(reqwest::Method::POST, UPGRADE_PATH)?
        .timeout(UPLOAD_TIMEOUT)
        .header(SHA256_HEADER, sha256)
        .header(reqwest::header::CONTENT_LENGTH, bytes)
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(body);
    let response = client.send_unchecked(request).await?;
    Ok(decode(client.address(), UPGRADE_PATH, response).await?)
}

/// Waits until the node answers from a new process (another boot id) running `expected`.
pub async fn wait_back(
    client: &GatewayClient,
    old_boot: &str,
    expected: &str,
    patience: Duration,
) -> Result<UpgradeStatus, UpgradeError> {
    let start = Instant::now();
    loop {
        let last = match status(client).await {
            Ok(s) if s.boot_id != old_boot && s.state == UpgradeState::Serving => {
                if s.version == expected {
                    return Ok(s);
                }
                format!("it answers running kubemaas {}", s.version)
            }
            Ok(s) => format!("still the old process ({:?})", s.state),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= patience {
            return Err(UpgradeError::NotBack {
                address: client.address().to_string(),
                expected: expected.to_string(),
                waited: patience,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Upgrades the nodes `nodes` (one client per node) one after the other with the executable
/// at `binary`: each is back, running the new version, before the next starts. Several nodes
/// are rolled as the module docs say: all must answer first, the leader goes last, and each
/// must also have caught its store copy up.
pub async fn upgrade_nodes(
    nodes: &[GatewayClient],
    binary: &Path,
    patience: Duration,
    mut progress: impl FnMut(UpgradeProgress),
) -> Result<Vec<NodeUpgrade>, UpgradeError> {
    let (sha256, bytes) = sha256_file(binary).await?;
    if nodes.len() <= 1 {
        let mut done = Vec::new();
        for client in nodes {
            let node = client.address().to_string();
            let upgraded = upgrade_one(
                client,
                &node,
                binary,
                &sha256,
                bytes,
                patience,
                &mut progress,
            )
            .await?;
            progress(UpgradeProgress::Back {
                address: upgraded.address.clone(),
                version: upgraded.to_version.clone(),
            });
            done.push(upgraded);
        }
        return Ok(done);
    }
    roll(nodes, binary, &sha256, bytes, patience, progress).await
}

/// Uploads to one node and waits until it is back on the new version (the caller reports
/// [`UpgradeProgress::Back`]: a rolled node must also have caught up first).
async fn upgrade_one(
    client: &GatewayClient,
    name: &str,
    binary: &Path,
    sha256: &str,
    bytes: u64,
    patience: Duration,
    progress: &mut impl FnMut(UpgradeProgress),
) -> Result<NodeUpgrade, UpgradeError> {
    let address = client.address().to_string();
    progress(UpgradeProgress::Uploading {
        address: address.clone(),
        bytes,
    });
    let accepted = upload(client, binary, sha256, bytes).await?;
    progress(UpgradeProgress::Restarting {
        address: address.clone(),
        from: accepted.previous_version.clone(),
        to: accepted.next.version.clone(),
    });
    let back = wait_back(client, &accepted.boot_id, &accepted.next.version, patience).await?;
    Ok(NodeUpgrade {
        name: name.to_string(),
        address,
        from_version: accepted.previous_version,
        to_version: back.version,
        bytes,
        sha256: sha256.to_string(),
    })
}

/// One node of a roll, as surveyed.
struct Member<'a> {
    client: &'a GatewayClient,
    name: String,
}

/// Asks every node where it is; all must answer. The names are the nodes' own (or the
/// console's name for them, from a node that predates node names).
async fn survey(nodes: &[GatewayClient]) -> Result<Vec<Member<'_>>, UpgradeError> {
    let total = nodes.len();
    let mut members = Vec::new();
    for (i, client) in nodes.iter().enumerate() {
        match status(client).await {
            Ok(s) if s.state == UpgradeState::Serving => members.push(Member {
                client,
                name: s.node.unwrap_or_else(|| client.name().to_string()),
            }),
            Ok(s) => {
                return Err(UpgradeError::NodeAway {
                    index: i + 1,
                    total,
                    node: s.node.unwrap_or_else(|| client.name().to_string()),
                    address: client.address().to_string(),
                    detail: format!(
                        "it is restarting into kubemaas {}",
                        s.next_version.unwrap_or_default()
                    ),
                })
            }
            Err(e) => {
                return Err(UpgradeError::NodeAway {
                    index: i + 1,
                    total,
                    node: client.name().to_string(),
                    address: client.address().to_string(),
                    detail: e.to_string(),
                })
            }
        }
    }
    Ok(members)
}

/// Which of `remaining` goes next: the first that does not lead now. The leader is asked
/// for again before each node because the role moves when a leader fails; a node whose
/// status cannot be read is taken as not leading (its own upgrade then says what is wrong).
async fn next_node(remaining: &[Member<'_>]) -> usize {
    for (i, m) in remaining.iter().enumerate() {
        match status(m.client).await {
            Ok(s) if s.leader == Some(true) => continue,
            _ => return i,
        }
    }
    0
}

/// The highest log position the nodes other than `except` applied (those that answer).
async fn others_applied(members: &[&GatewayClient], except: &GatewayClient) -> u64 {
    let mut target = 0;
    for client in members {
        if client.address() == except.address() {
            continue;
        }
        if let Ok(s) = status(client).await {
            target = target.max(s.applied_seq.unwrap_or(0));
        }
    }
    target
}

/// Waits until `client`'s copy applied at least `target`.
async fn wait_caught_up(
    client: &GatewayClient,
    expected: &str,
    target: u64,
    patience: Duration,
) -> Result<u64, UpgradeError> {
    let start = Instant::now();
    let mut applied = 0;
    loop {
        if let Ok(s) = status(client).await {
            applied = s.applied_seq.unwrap_or(0);
            // A node without a position (not replicated) has nothing to catch up.
            if s.applied_seq.is_none() || applied >= target {
                return Ok(applied);
            }
        }
        if start.elapsed() >= patience {
            return Err(UpgradeError::NotCaughtUp {
                address: client.address().to_string(),
                expected: expected.to_string(),
                applied,
                target,
                waited: patience,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The rolling upgrade of a replicated gateway.
async fn roll(
    nodes: &[GatewayClient],
    binary: &Path,
    sha256: &str,
    bytes: u64,
    patience: Duration,
    mut progress: impl FnMut(UpgradeProgress),
) -> Result<Vec<NodeUpgrade>, UpgradeError> {
    let total = nodes.len();
    let all: Vec<&GatewayClient> = nodes.iter().collect();
    let mut remaining = survey(nodes).await?;
    let mut done: Vec<NodeUpgrade> = Vec::new();
    while !remaining.is_empty() {
        let pick = next_node(&remaining).await;
        let member = remaining.remove(pick);
        let index = done.len() + 1;
        let leader = matches!(status(member.client).await, Ok(s) if s.leader == Some(true));
        progress(UpgradeProgress::Node {
            index,
            total,
            name: member.name.clone(),
            address: member.client.address().to_string(),
            leader,
        });
        let step = async {
            let upgraded = upgrade_one(
                member.client,
                &member.name,
                binary,
                sha256,
                bytes,
                patience,
                &mut progress,
            )
            .await?;
            // The status route answers before any protocol check: /v1/info proves this
            // console still talks to the new build.
            let info = member.client.info().await?;
            if info.version != upgraded.to_version {
                return Err(UpgradeError::InfoMismatch {
                    address: upgraded.address.clone(),
                    expected: upgraded.to_version.clone(),
                    said: info.version,
                });
            }
            let target = others_applied(&all, member.client).await;
            wait_caught_up(member.client, &upgraded.to_version, target, patience).await?;
            Ok(upgraded)
        };
        match step.await {
            Ok(upgraded) => {
                progress(UpgradeProgress::Back {
                    address: upgraded.address.clone(),
                    version: upgraded.to_version.clone(),
                });
                done.push(upgraded);
            }
            Err(source) => {
                return Err(UpgradeError::Roll {
                    index,
                    total,
                    node: member.name,
                    upgraded: done.iter().map(|d| d.name.clone()).collect(),
                    untouched: remaining.iter().map(|m| m.name.clone()).collect(),
                    source: Box::new(source),
                })
            }
        }
    }
    Ok(done)
}

/// The nodes of paired gateway `gateway`, in upgrade order: one client per node the console
/// knows (each calling its node only), followers first and the elected node last, as the
/// gateway's latest `/v1/info` said; a 1-node gateway's one client. See
/// [`console::node_clients`].
pub fn node_clients(store: &Store, gateway: &str) -> Result<Vec<GatewayClient>, UpgradeError> {
    Ok(console::node_clients(store, gateway)?)
}

/// `kubemaas gateway upgrade NAME`: upgrades every node of `gateway` with `binary`, then
/// sends the cluster requests this console queued while it was away.
pub async fn upgrade_gateway(
    store: &Store,
    gateway: &str,
    binary: &Path,
    patience: Duration,
    progress: impl FnMut(UpgradeProgress),
) -> Result<UpgradeReport, UpgradeError> {
    let nodes = node_clients(store, gateway)?;
    let upgraded = upgrade_nodes(&nodes, binary, patience, progress).await?;
    // Requests queued before (a 1-node gateway away, or one that was unreachable) go now;
    // a roll itself queues nothing, as the other nodes served meanwhile.
    let flushed = match nodes.last() {
        Some(client) => queue::flush(store, gateway, client).await?,
        None => FlushReport::default(),
    };
    Ok(UpgradeReport {
        gateway: gateway.to_string(),
        nodes: upgraded,
        flushed,
        rolled: nodes.len() > 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_roll_names_the_node_and_what_was_left() {
        let e = UpgradeError::Roll {
            index: 2,
            total: 3,
            node: "gw2".into(),
            upgraded: vec!["gw1".into()],
            untouched: vec!["gw3".into()],
            source: Box::new(UpgradeError::NotBack {
                address: "127.0.0.1:1".into(),
                expected: "0.2.0".into(),
                waited: Duration::from_secs(1),
                last: "connection refused".into(),
            }),
        };
        let text = e.to_string();
        assert!(text.contains("stopped at node 2/3 gw2"), "{text}");
        assert!(text.contains("already upgraded: gw1"), "{text}");
        assert!(text.contains("not touched: gw3"), "{text}");
        assert!(
            text.contains("did not come back running kubemaas 0.2.0"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_digest_is_the_files_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let (hex, n) = sha256_file(&p).await.unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let missing = sha256_file(&dir.path().join("nope")).await.unwrap_err();
        assert!(missing.to_string().contains("--binary"), "{missing}");
    }
}
