//! The gateway's side of `kubemaas gateway resize` (see [`super::resize`]): the admin routes
//! [`RESIZE_PATH`] and [`NODES_PATH`], merged into the paired (mutual-TLS) API.
//!
//! A resize changes nothing until every check passed: the `--nodes` asked, the etcd settings'
//! shape, the TLS files they name (readable here, as the gateway will read them), etcd reachable
//! and the log under the prefix empty — or already this gateway's: holding its CA, with this
//! state dir a copy of it. Only then does the gateway record its CA and paired consoles in its
//! store (a 1-node gateway keeps them in files; a replicated one in the store, so they must
//! travel with the state into the log), write `etcd:` into its gateway.yaml and restart through
//! the upgrade path ([`UpgradeGate::restart_in_place`]): engine work is refused with
//! `503 upgrading` (consoles queue cluster requests), the pass in flight finishes, and the
//! process re-executes itself. The new process finds `etcd:`, opens the state dir as the first
//! copy of the replicated store — which seeds the empty log with it, as a snapshot at entry 0 —
//! and runs the reconcilers through `ha::lead`; the engine's journal resumes in-flight work.
//!
//! Why a restart rather than switching the store in place: every component (engine, journal
//! feed, console registry, PKI) holds the store it was started with; the restart path already
//! drains them safely and is what an upgrade relies on, so the switch gets the same guarantees.

use super::config_etcd;
use super::protocol::ErrorBody;
use super::registry::ConsoleRegistry;
use super::resize::{
    NodeEntry, NodesReport, ResizeAnswer, ResizeRequest, FIRST_NODE, HA_NODES, NODES_PATH,
    RESIZE_PATH,
};
use super::upgrade_server::UpgradeGate;
use crate::ha::{EtcdConfig, EtcdLog};
use crate::store::replica::{Read, StoredCa, StoredConsole};
use crate::store::{ReplicaLog, Store, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The files a 1-node gateway keeps its CA in (inside its `pki` dir).
const CA_KEY_FILE: &str = "ca.key";
const CA_CERT_FILE: &str = "ca.pem";
/// The table a replicated copy records its position in: a state dir holding it was seeded
/// into (or loaded from) a log before.
const REPLICA_TABLE: &str = "kubemaas_replica";

/// What the resize routes need from the running gateway.
#[derive(Clone)]
pub struct ResizeService {
    pub gateway: String,
    /// The gateway.yaml this process was started with (as given: the re-execution reads the
    /// same path).
    pub config_path: PathBuf,
    /// This node's name when `--node` or gateway.yaml's `node:` gave one.
    pub node: Option<String>,
    pub store: Store,
    /// The CA files of a 1-node gateway.
    pub pki_dir: PathBuf,
    pub consoles: ConsoleRegistry,
    pub gate: UpgradeGate,
    /// Where this node serves, once bound ([`ResizeService::serving_at`]).
    address: Arc<OnceLock<SocketAddr>>,
    started: DateTime<Utc>,
    busy: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for ResizeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResizeService")
            .field("gateway", &self.gateway)
            .field("config_path", &self.config_path)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// Why a resize was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("a gateway is resized to {HA_NODES} nodes, not {0}: pass --nodes {HA_NODES}")]
    Nodes(u8),
    #[error("{0}")]
    Settings(String),
    #[error("the gateway cannot read the etcd TLS file {path} ({detail}): put it on the gateway host, readable by the gateway's user, and run the resize again")]
    TlsFile { path: PathBuf, detail: String },
    #[error("{0}: nothing was changed; start the etcd members (or fix --etcd-endpoint) and run the resize again")]
    Unreachable(String),
    #[error("the etcd log under prefix {prefix} already holds another gateway's state: nothing was changed; pass another --etcd-prefix (like /kubemaas/{gateway})")]
    Foreign { prefix: String, gateway: String },
    #[error("gateway {0} is being upgraded or restarted: wait until it is back, then run the resize again")]
    Busy(String),
    #[error("this gateway's CA files in {dir} cannot be read ({detail}): the gateway cannot carry its identity into etcd; check the state dir")]
    Ca { dir: PathBuf, detail: String },
    #[error("cannot record the gateway's identity in its store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
}

impl Refusal {
    fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Refusal::Nodes(_) => (StatusCode::BAD_REQUEST, "bad_nodes"),
            Refusal::Settings(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_etcd_settings"),
            Refusal::TlsFile { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "etcd_tls_unreadable"),
            // Not a 5xx: a console reads those as "the gateway is away", and this is an answer.
            Refusal::Unreachable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "etcd_unreachable"),
            Refusal::Foreign { .. } => (StatusCode::CONFLICT, "foreign_log"),
            Refusal::Busy(_) => (StatusCode::CONFLICT, "restart_in_progress"),
            Refusal::Ca { .. } | Refusal::Store(_) | Refusal::Config(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "resize_failed")
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, error) = self.status();
        tracing::warn!(%error, reason = %self, "gateway resize refused");
        (
            status,
            Json(ErrorBody {
                error: error.into(),
                message: self.to_string(),
                detail: None,
            }),
        )
            .into_response()
    }
}

/// What the etcd log under the prefix holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogState {
    Empty,
    /// This gateway's already (a resize interrupted after the log was seeded).
    Ours,
}

impl ResizeService {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        gateway: &str,
        config_path: PathBuf,
        node: Option<String>,
        store: Store,
        pki_dir: PathBuf,
        consoles: ConsoleRegistry,
        gate: UpgradeGate,
    ) -> ResizeService {
        ResizeService {
            gateway: gateway.to_string(),
            config_path,
            node,
            store,
            pki_dir,
            consoles,
            gate,
            address: Arc::new(OnceLock::new()),
            started: Utc::now(),
            busy: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Records where this node serves (known once the server is bound).
    pub fn serving_at(&self, addr: SocketAddr) {
        let _ = self.address.set(addr);
    }

    /// The routes; merge into the gateway's authenticated `api`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route(RESIZE_PATH, post(resize))
            .route(NODES_PATH, get(nodes))
            .with_state(self.clone())
    }

    fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| FIRST_NODE.to_string())
    }

    fn config_text(&self) -> String {
        std::fs::canonicalize(&self.config_path)
            .unwrap_or_else(|_| self.config_path.clone())
            .display()
            .to_string()
    }

    /// The gateway's nodes: from the replicated store, or this one node.
    fn report(&self) -> Result<NodesReport, StoreError> {
        let replicated = self.store.is_replicated();
        let nodes = if replicated {
            self.store
                .read(|r| r.gateway_nodes())?
                .into_iter()
                .map(|n| NodeEntry {
                    name: n.name,
                    address: n.address,
                    started: n.started,
                })
                .collect()
        } else {
            vec![NodeEntry {
                name: self.node_name(),
                address: self
                    .address
                    .get()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                started: self.started,
            }]
        };
        Ok(NodesReport {
            gateway: self.gateway.clone(),
            replicated,
            node: self.node_name(),
            nodes,
            config: self.config_text(),
        })
    }

    /// The CA of a 1-node gateway, from its files.
    fn file_ca(&self) -> Result<StoredCa, Refusal> {
        let read = |name: &str| {
            std::fs::read_to_string(self.pki_dir.join(name)).map_err(|e| Refusal::Ca {
                dir: self.pki_dir.clone(),
                detail: e.to_string(),
            })
        };
        Ok(StoredCa {
            key_pem: read(CA_KEY_FILE)?,
            cert_pem: read(CA_CERT_FILE)?,
        })
    }

    /// Records the CA and the paired consoles in the store, where a replicated gateway keeps
    /// them, so that seeding the log carries them to every node and paired consoles stay
    /// paired. Harmless to a 1-node gateway, which reads them from its files.
    fn record_identity(&self, ca: &StoredCa) -> Result<(), Refusal> {
        let consoles: Vec<StoredConsole> = self
            .consoles
            .list()
            .into_iter()
            .map(|c| StoredConsole {
                name: c.name,
                fingerprint: c.fingerprint,
                remote: c.remote,
                paired_at: c.paired_at,
                revoked_at: c.revoked_at,
            })
            .collect();
        let kept = self.store.tx(|tx| {
            let kept = tx.seed_gateway_ca(ca)?;
            for c in &consoles {
                tx.add_gateway_console(c)?;
            }
            Ok::<_, StoreError>(kept)
        })?;
        if kept.cert_pem != ca.cert_pem {
            return Err(Refusal::Ca {
                dir: self.pki_dir.clone(),
                detail: "the store already holds another CA than these files".into(),
            });
        }
        Ok(())
    }
}

/// Whether the state dir of `store` was a copy of a replicated log before.
fn was_replicated(store: &Store) -> Result<bool, StoreError> {
    store.read(|r| {
        r.conn()
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [REPLICA_TABLE],
                |row| row.get::<_, bool>(0),
            )
            .map_err(|e| {
                StoreError::Replica(crate::store::ReplicaError::Log(
                    crate::store::replica::LogError::Corrupt {
                        detail: format!("cannot read this state dir's replication position: {e}"),
                    },
                ))
            })
    })
}

/// The CA certificate held in a snapshot's database.
fn snapshot_ca(database: &[u8]) -> Option<String> {
    let mut conn = rusqlite::Connection::open_in_memory().ok()?;
    conn.deserialize_read_exact(rusqlite::MAIN_DB, database, database.len(), true)
        .ok()?;
    conn.query_row(
        "SELECT cert_pem FROM gateway_identity WHERE name = 'ca'",
        [],
        |r| r.get(0),
    )
    .ok()
}

/// Looks at the log under `etcd`'s prefix: empty, this gateway's (its snapshot holds `ca_cert`
/// and this state dir was seeded from it), or refused.
fn check_log(
    etcd: &EtcdConfig,
    gateway: &str,
    ca_cert: &str,
    seeded_here: bool,
) -> Result<LogState, Refusal> {
    let log = EtcdLog::connect(etcd).map_err(|e| Refusal::Unreachable(e.to_string()))?;
    check_log_in(&*log, etcd, gateway, ca_cert, seeded_here)
}

/// [`check_log`] on a connected log.
fn check_log_in(
    log: &dyn ReplicaLog,
    etcd: &EtcdConfig,
    gateway: &str,
    ca_cert: &str,
    seeded_here: bool,
) -> Result<LogState, Refusal> {
    let unreachable = |e: crate::store::replica::LogError| Refusal::Unreachable(e.to_string());
    let snapshot = log.snapshot_seq().map_err(unreachable)?;
    let entries = log.read_after(0, 1).map_err(unreachable)?;
    if snapshot.is_none() && matches!(&entries, Read::Entries(e) if e.is_empty()) {
        return Ok(LogState::Empty);
    }
    let ours = seeded_here
        && log
            .latest_snapshot()
            .map_err(unreachable)?
            .and_then(|s| snapshot_ca(&s.database))
            .is_some_and(|held| held == ca_cert);
    if ours {
        Ok(LogState::Ours)
    } else {
        Err(Refusal::Foreign {
            prefix: etcd.prefix.clone(),
            gateway: gateway.to_string(),
        })
    }
}

/// The checks on the settings themselves: shape, prefix and TLS files.
fn check_settings(etcd: &EtcdConfig) -> Result<(), Refusal> {
    etcd.validate()
        .map_err(|e| Refusal::Settings(e.to_string()))?;
    let p = &etcd.prefix;
    if !(p.starts_with('/') && p.len() > 1 && !p.contains(char::is_whitespace)) {
        return Err(Refusal::Settings(format!(
            "the etcd prefix `{p}` must be a key path starting with `/` and without spaces, like /kubemaas/dc1: fix --etcd-prefix"
        )));
    }
    if let Some(tls) = &etcd.tls {
        for path in [Some(&tls.ca), tls.cert.as_ref(), tls.key.as_ref()]
            .into_iter()
            .flatten()
        {
            std::fs::read(path).map_err(|e| Refusal::TlsFile {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        Refusal::Config(format!(
            "the resize check stopped unexpectedly ({e}): report this as a kubemaas bug"
        ))
    })?
}

async fn nodes(State(s): State<ResizeService>) -> Response {
    let s2 = s.clone();
    match blocking(move || Ok(s2.report()?)).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn resize(State(s): State<ResizeService>, Json(body): Json<ResizeRequest>) -> Response {
    match switch(&s, body).await {
        Ok(answer) => {
            let status = match answer {
                ResizeAnswer::Switching { .. } => StatusCode::ACCEPTED,
                ResizeAnswer::AlreadyReplicated(_) => StatusCode::OK,
            };
            (status, Json(answer)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn switch(s: &ResizeService, body: ResizeRequest) -> Result<ResizeAnswer, Refusal> {
    if body.nodes != HA_NODES {
        return Err(Refusal::Nodes(body.nodes));
    }
    if s.store.is_replicated() {
        let s2 = s.clone();
        let report = blocking(move || Ok(s2.report()?)).await?;
        return Ok(ResizeAnswer::AlreadyReplicated(report));
    }
    let Ok(_busy) = s.busy.try_lock() else {
        return Err(Refusal::Busy(s.gateway.clone()));
    };
    if !s.gate.is_idle() {
        return Err(Refusal::Busy(s.gateway.clone()));
    }
    let etcd = body.etcd.to_config();
    check_settings(&etcd)?;
    let ca = s.file_ca()?;
    let seeded_here = was_replicated(&s.store)?;
    let (cfg, gateway, cert) = (etcd.clone(), s.gateway.clone(), ca.cert_pem.clone());
    let state = blocking(move || check_log(&cfg, &gateway, &cert, seeded_here)).await?;
    tracing::info!(?state, prefix = %etcd.prefix, endpoints = %etcd.endpoints_text(), "etcd checked: moving the gateway onto it");
    let s2 = s.clone();
    blocking(move || s2.record_identity(&ca)).await?;
    // The first node's name goes into gateway.yaml unless --node or the file named it, so
    // that it stays the same across later restarts.
    let write_name = s.node.is_none().then_some(FIRST_NODE);
    let (path, cfg) = (s.config_path.clone(), etcd.clone());
    blocking(move || {
        config_etcd::write_etcd(&path, &cfg, write_name).map_err(|e| Refusal::Config(e.to_string()))
    })
    .await?;
    let status = s.gate.status();
    if !s.gate.restart_in_place() {
        return Err(Refusal::Config(format!(
            "gateway.yaml {} now holds the `etcd:` section, but an upgrade started meanwhile: the gateway moves onto etcd when it restarts",
            s.config_text()
        )));
    }
    Ok(ResizeAnswer::Switching {
        node: s.node_name(),
        config: s.config_text(),
        boot_id: status.boot_id,
        version: status.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_with_a_bad_prefix_or_unreadable_tls_are_refused() {
        let mut cfg = EtcdConfig::new(vec!["http://127.0.0.1:2379".into()]);
        check_settings(&cfg).unwrap();
        cfg.prefix = "kubemaas".into();
        assert!(matches!(check_settings(&cfg), Err(Refusal::Settings(_))));
        cfg.prefix = "/kubemaas".into();
        cfg.tls = Some(crate::ha::EtcdTls {
            ca: "/nonexistent/etcd-ca.pem".into(),
            cert: None,
            key: None,
        });
        let err = check_settings(&cfg).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/etcd-ca.pem"),
            "{err}"
        );
        assert_eq!(err.status().1, "etcd_tls_unreadable");
        let bad = EtcdConfig::new(vec!["10.0.0.1".into()]);
        assert!(matches!(check_settings(&bad), Err(Refusal::Settings(_))));
    }

    #[test]
    fn a_snapshot_names_the_ca_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ca = StoredCa {
            key_pem: "k".into(),
            cert_pem: "cert-1".into(),
        };
        store.tx(|tx| tx.seed_gateway_ca(&ca)).unwrap();
        drop(store);
        let conn = rusqlite::Connection::open(dir.path().join(crate::store::DB_FILE)).unwrap();
        let bytes = conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
        let mut bytes = bytes;
        // As the snapshot code stores it: a rollback-journal image.
        bytes[18] = 1;
        bytes[19] = 1;
        assert_eq!(snapshot_ca(&bytes).as_deref(), Some("cert-1"));
        assert_eq!(snapshot_ca(b"not a database"), None);
        let store = Store::open(dir.path()).unwrap();
        assert!(!was_replicated(&store).unwrap());
    }

    #[test]
    fn a_log_is_empty_ours_when_seeded_here_with_our_ca_or_foreign() {
        use crate::store::replica::MemoryLog;
        use crate::store::ReplicaOptions;
        let etcd = EtcdConfig::new(vec!["http://127.0.0.1:2379".into()]);
        let log = Arc::new(MemoryLog::new(crate::store::replica::MAX_CHUNK));
        assert_eq!(
            check_log_in(&*log, &etcd, "dc1", "ours", false).unwrap(),
            LogState::Empty
        );
        // A 1-node gateway's state dir with its CA recorded, seeded into the log.
        let dir = tempfile::tempdir().unwrap();
        let standalone = Store::open(dir.path()).unwrap();
        let ca = StoredCa {
            key_pem: "k".into(),
            cert_pem: "ours".into(),
        };
        standalone.tx(|tx| tx.seed_gateway_ca(&ca)).unwrap();
        // A gateway's store always holds rows (its `local` record, its cloud account): what
        // makes the first replicated open seed the log.
        crate::gateway::console::ensure_local(&standalone).unwrap();
        drop(standalone);
        let seeded = Store::open_replicated(
            dir.path(),
            Arc::clone(&log) as Arc<dyn ReplicaLog>,
            ReplicaOptions::default(),
        )
        .unwrap();
        assert!(was_replicated(&seeded).unwrap());
        assert_eq!(
            check_log_in(&*log, &etcd, "dc1", "ours", true).unwrap(),
            LogState::Ours
        );
        // Another CA, or a state dir that was never seeded into it: another gateway's log.
        let other = check_log_in(&*log, &etcd, "dc1", "theirs", true).unwrap_err();
        assert!(matches!(other, Refusal::Foreign { .. }), "{other}");
        assert!(other.to_string().contains("/kubemaas/dc1"), "{other}");
        let fresh = check_log_in(&*log, &etcd, "dc1", "ours", false).unwrap_err();
        assert_eq!(fresh.status().1, "foreign_log");
    }
}
