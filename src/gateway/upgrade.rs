//! The console's side of `kubemaas gateway upgrade NAME [--binary PATH]`: stream an executable
//! (this console's own by default) to each node of the gateway over the paired channel, with
//! its SHA-256, and wait until the node answers again running the new version. Nodes are
//! upgraded one at a time ([`upgrade_nodes`] takes their clients in order): a 1-node gateway
//! has one, a 3-node gateway will pass three, and consoles queue cluster requests while a
//! 1-node gateway is away ([`super::queue`]); the upgrade sends them once it is back.

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
}

/// What happens, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeProgress {
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

/// Upgrades the nodes `nodes` one after the other with the executable at `binary`: each is
/// back, running the new version, before the next starts.
pub async fn upgrade_nodes(
    nodes: &[GatewayClient],
    binary: &Path,
    patience: Duration,
    mut progress: impl FnMut(UpgradeProgress),
) -> Result<Vec<NodeUpgrade>, UpgradeError> {
    let (sha256, bytes) = sha256_file(binary).await?;
    let mut done = Vec::new();
    for client in nodes {
        let address = client.address().to_string();
        progress(UpgradeProgress::Uploading {
            address: address.clone(),
            bytes,
        });
        let accepted = upload(client, binary, &sha256, bytes).await?;
        progress(UpgradeProgress::Restarting {
            address: address.clone(),
            from: accepted.previous_version.clone(),
            to: accepted.next.version.clone(),
        });
        let back = wait_back(client, &accepted.boot_id, &accepted.next.version, patience).await?;
        progress(UpgradeProgress::Back {
            address: address.clone(),
            version: back.version.clone(),
        });
        done.push(NodeUpgrade {
            address,
            from_version: accepted.previous_version,
            to_version: back.version,
            bytes,
            sha256: sha256.clone(),
        });
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
    let flushed = match nodes.first() {
        Some(client) => queue::flush(store, gateway, client).await?,
        None => FlushReport::default(),
    };
    Ok(UpgradeReport {
        gateway: gateway.to_string(),
        nodes: upgraded,
        flushed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
