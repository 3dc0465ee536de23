//! Why `kubemaas gateway deploy` stopped. Each says what failed, on which side, and what to
//! change before rerunning (the command is idempotent: a rerun keeps what succeeded).

use super::record::RecordError;
use crate::bootstrap::BootstrapError;
use crate::maas::MaasError;
use std::path::PathBuf;

/// One machine MAAS could not deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedMachine {
    pub system_id: String,
    pub hostname: String,
    pub status: String,
    /// MAAS's status message (the latest event), e.g. `Failed deployment - curtin failed`.
    pub message: String,
}

impl std::fmt::Display for FailedMachine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}: {}",
            self.hostname, self.system_id, self.status, self.message
        )
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("  - {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{config} has no `artifact:` to install kubemaas from: add `artifact: {{url: URL, sha256: DIGEST}}` (the URL the nodes download the kubemaas binary from, and its `sha256sum`), or pass --gateway-binary-url URL with --gateway-binary-sha256, or --serve-binary ADDR to serve this console's own binary")]
    NoArtifact { config: PathBuf },
    #[error("--gateway-binary-url needs the file's SHA-256: pass --gateway-binary-sha256 DIGEST (from `sha256sum FILE`), or put it in gateway.yaml's artifact.sha256")]
    NoDigest,
    #[error("--serve-binary {addr}: {reason}")]
    Serve { addr: String, reason: String },
    #[error("no MAAS machine fits gateway {gateway}'s placement ({placement}): {source}. Fix `placement:` in gateway.yaml (zone, pool, machine.minCpu / minMemoryMiB) or free machines in MAAS, then rerun")]
    NoMatch {
        gateway: String,
        placement: String,
        #[source]
        source: MaasError,
    },
    #[error("gateway {gateway} already holds {found} machines in MAAS but gateway.yaml asks for {wanted}: a deploy never adds or removes running nodes; set `placement.nodes: {found}` (or resize the gateway) and rerun")]
    TooMany {
        gateway: String,
        found: usize,
        wanted: usize,
    },
    #[error("MAAS could not deploy {} of gateway {gateway}'s machines:\n{}\nrerun `kubemaas gateway deploy` to release and replace {}, keeping the others; if it fails again, look at the machine in MAAS (its event log) or change `placement:` to avoid it", failed.len(), list(failed), if failed.len() == 1 { "it" } else { "them" })]
    DeploymentFailed {
        gateway: String,
        failed: Vec<FailedMachine>,
    },
    #[error("gateway {gateway}'s machines were not all Deployed within {waited_secs} s; still waiting on:\n{}\nrerun `kubemaas gateway deploy` (with a longer --timeout) to keep waiting: nothing is redone", list(pending))]
    Timeout {
        gateway: String,
        waited_secs: u64,
        pending: Vec<String>,
    },
    #[error("MAAS failed during the gateway deploy: {0}")]
    Maas(#[from] MaasError),
    #[error("cannot make the gateway node's user-data: {0}")]
    UserData(#[from] BootstrapError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot read this console's state: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot read maas.caFile {path} to copy it onto the nodes: {detail} (fix maas.caFile in gateway.yaml)")]
    CaFile { path: PathBuf, detail: String },
    #[error("gateway {gateway} is deployed, but MAAS shows no address for {hostname}: pass --pair-address HOST:PORT with the address consoles reach it at, and rerun")]
    NoAddress { gateway: String, hostname: String },
    #[error("cannot have gateway {gateway}'s etcd admit the replacement node: {detail}. The replacement is not deployed (it stays Allocated): once a surviving node answers and its etcd has a quorum, rerun `kubemaas gateway deploy` (pass --pair-address HOST:PORT of a surviving node if this console cannot reach the recorded one)")]
    Membership { gateway: String, detail: String },
    #[error("gateway {gateway} never paired with this console, so its surviving nodes' etcd cannot be asked to admit the replacement {replaced}: rerun `kubemaas gateway deploy` without --no-pair (it pairs through a surviving node first; pass --pair-address HOST:PORT of one if MAAS shows none Deployed with an address), or pair with a surviving node yourself (`kubemaas gateway pair --address HOST:PORT --code CODE`, the code from `kubemaas gateway pairing-code` on that node) and rerun; or release all of the gateway's machines in MAAS and rerun to deploy it afresh")]
    ReplaceUnpaired { gateway: String, replaced: String },
    #[error("pairing with the deployed gateway failed on this console's side: {detail}")]
    PairConsoleSide { detail: String },
    #[error("pairing with the deployed gateway failed on the gateway's side (it refused the code from its user-data): {detail}. The node accepts that code only once, within an hour of its first boot and at its first start: on the node run `kubemaas --state-dir /var/lib/kubemaas gateway pairing-code` and pair with `kubemaas gateway pair --address {address} --code CODE`")]
    PairGatewaySide { address: String, detail: String },
    #[error("gateway {gateway} is deployed but did not answer at {address} in time ({detail}): check that this console can reach that address and port (firewall, routes), that `kubemaas-gateway` runs on the node (`journalctl -u kubemaas-gateway`), then rerun `kubemaas gateway deploy` (or pass --pair-address HOST:PORT)")]
    PairUnreachable {
        gateway: String,
        address: String,
        detail: String,
    },
}
