//! A node of a replicated (3-node) gateway: its store is a copy of the log in etcd, and what
//! makes the nodes one gateway to consoles — the CA and the paired consoles — lives in that
//! store instead of per-node files (docs/ha.md).

use super::pki::{GatewayPki, PkiError};
use crate::ha::{EtcdConfig, EtcdLog, HaError};
use crate::store::replica::{Follower, StoredCa};
use crate::store::{ReplicaLog, ReplicaOptions, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a node could not join its gateway.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Etcd(#[from] HaError),
    #[error("cannot open this node's copy of the replicated state in {dir}: {source}")]
    Store { dir: PathBuf, source: StoreError },
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("the node start-up stopped unexpectedly ({0}): report this as a kubemaas bug")]
    Join(String),
}

/// The replicated store of `state_dir` over the log in `etcd`, caught up, with the follower
/// that keeps applying other nodes' writes (stop it by dropping it).
///
/// Connecting and catching up block on etcd, so they run off the async workers.
pub async fn open_store(
    etcd: &EtcdConfig,
    state_dir: &Path,
) -> Result<(Store, Option<Follower>), NodeError> {
    let (etcd, dir) = (etcd.clone(), state_dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let log = EtcdLog::connect(&etcd)?;
        let store_err = |source| NodeError::Store {
            dir: dir.clone(),
            source,
        };
        let store =
            Store::open_replicated(&dir, log as Arc<dyn ReplicaLog>, ReplicaOptions::default())
                .map_err(store_err)?;
        let follower = store.follow().map_err(store_err)?;
        Ok((store, follower))
    })
    .await
    .map_err(|e| NodeError::Join(e.to_string()))?
}

/// The gateway's PKI on a replicated node: the CA every node shares (the first node to start
/// creates it and stores it; the others load it), and a server certificate of this node's own
/// for `names`. Consoles pin the CA, so each node's certificate is accepted by all of them.
pub async fn shared_pki(
    store: &Store,
    pki_dir: &Path,
    names: &[String],
) -> Result<GatewayPki, NodeError> {
    let store = store.clone();
    let ca = tokio::task::spawn_blocking(move || -> Result<StoredCa, NodeError> {
        let existing = store
            .read(|r| r.gateway_ca())
            .map_err(|source| NodeError::Store {
                dir: store.path().to_path_buf(),
                source,
            })?;
        if let Some(ca) = existing {
            return Ok(ca);
        }
        // Made outside the transaction: a transaction may run again when another node wrote
        // first, and must only change the database.
        let (key_pem, cert_pem) = GatewayPki::new_ca()?;
        let offered = StoredCa { key_pem, cert_pem };
        let kept = store
            .tx(|tx| tx.seed_gateway_ca(&offered))
            .map_err(|source| NodeError::Store {
                dir: store.path().to_path_buf(),
                source,
            })?;
        if kept == offered {
            tracing::info!("gateway CA created and shared through the replicated store");
        }
        Ok(kept)
    })
    .await
    .map_err(|e| NodeError::Join(e.to_string()))??;
    Ok(GatewayPki::from_ca(
        pki_dir,
        &ca.key_pem,
        &ca.cert_pem,
        names,
    )?)
}
