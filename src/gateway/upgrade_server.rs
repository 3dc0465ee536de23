//! The gateway's side of `kubemaas gateway upgrade`.
//!
//! A paired console streams a new kubemaas executable to [`UPGRADE_PATH`] with its SHA-256 in
//! [`SHA256_HEADER`]. The gateway writes it beside its own executable while hashing, refuses
//! it when the digest differs, makes it 0755, asks it what it is (`gateway build-info`: a file
//! that does not run as kubemaas is refused before anything is replaced), and renames it over
//! its executable — atomic, so a crash leaves the old or the new binary, never half of one.
//!
//! Then the gateway drains: engine work (every non-GET engine request) is answered
//! `503 upgrading` with `Retry-After`, the reconcile pass in flight finishes, and
//! `kubemaas gateway run` re-executes itself with the same arguments ([`reexec`], execve: same
//! pid). The new build resumes every operation from the journal through the engine's
//! crash-safety path, exactly as after a restart.
//!
//! On a node of a replicated (3-node) gateway ([`UpgradeGate::replicated`]) the drain also
//! resigns the leadership (`ha::lead` stops, then revokes its lease and waits), so another
//! node reconciles at once while this one restarts; the restarted node catches its copy up
//! and campaigns again. Such a node refuses a build that writes another store schema (its
//! copy would be migrated while the other nodes still apply the same log with the old one) or
//! that no longer speaks this build's protocol (consoles talk to old and new nodes during
//! the roll). Its status tells the console which node it is, whether it leads and how far its
//! copy has applied the log, so a rolling upgrade restarts the leader last and waits for each
//! node to catch up.

use super::protocol::ErrorBody;
use super::upgrade_version::{self, ProtocolRange};
use crate::store::{Store, SCHEMA_VERSION};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// `POST` streams a new executable (upgrade); `GET` says where an upgrade is.
pub const UPGRADE_PATH: &str = "/v1/upgrade";
/// The hex SHA-256 of the uploaded executable.
pub const SHA256_HEADER: &str = "x-kubemaas-sha256";
/// On a `503 upgrading`: this node refused the request unprocessed because it is restarting,
/// so a console may send it to another node of the gateway (any method: nothing was done).
pub const DRAINING_HEADER: &str = "x-kubemaas-draining";
/// Where the running gateway's executable lives, passed on across re-executions (the process
/// image may be a wrapper that execs another file, yet the upgrade must replace the installed
/// one).
pub const BINARY_ENV: &str = "KUBEMAAS_GATEWAY_BINARY";
/// The address the gateway had bound, passed on across re-executions so a gateway started with
/// port 0 comes back on the same port its consoles have recorded.
pub const LISTEN_ENV: &str = "KUBEMAAS_GATEWAY_LISTEN";
/// Seconds a console is told to wait before retrying refused engine work.
pub const RETRY_AFTER_SECONDS: u64 = 5;
/// The largest executable accepted.
const MAX_BINARY: u64 = 1 << 30;
/// How long the staged executable may take to say what it is.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// Testing hook, like `KUBEMAAS_REPORT_VERSION`: the store schema `gateway build-info`
/// reports, so a test can play a build that changes the schema. Nothing else should set it.
const SCHEMA_ENV: &str = "KUBEMAAS_REPORT_SCHEMA";

/// What `kubemaas gateway build-info` prints: what a build is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInfo {
    pub version: String,
    pub protocol: u32,
    pub oldest_protocol: u32,
    /// The store schema version the build migrates its state database to (0: a build that
    /// predates this field, whose schema is unknown).
    #[serde(default)]
    pub schema: i64,
}

impl BuildInfo {
    /// This build (with the test overrides of [`upgrade_version`] and [`SCHEMA_ENV`]).
    pub fn current() -> BuildInfo {
        let range = ProtocolRange::ours();
        BuildInfo {
            version: upgrade_version::running_version(),
            protocol: range.newest,
            oldest_protocol: range.oldest,
            schema: std::env::var(SCHEMA_ENV)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(SCHEMA_VERSION),
        }
    }

    /// The protocols the build speaks.
    pub fn protocols(&self) -> ProtocolRange {
        ProtocolRange {
            oldest: self.oldest_protocol.min(self.protocol),
            newest: self.protocol,
        }
    }
}

/// Why a node of a replicated gateway refuses a build for a rolling upgrade (`None`: it may
/// roll). `running` is this node's build.
pub fn roll_refusal(running: &BuildInfo, next: &BuildInfo) -> Option<(&'static str, String)> {
    if next.schema != running.schema {
        let theirs = if next.schema == 0 {
            "an unknown store schema (it predates schema reporting)".to_string()
        } else {
            format!("store schema {}", next.schema)
        };
        return Some((
            "schema_change",
            format!(
                "kubemaas {} writes {theirs} and this node runs kubemaas {} with store schema {}: the nodes of a replicated gateway share one store, and a node migrating its copy while the others still apply the same log with the old schema would make the copies diverge, so a rolling upgrade across a schema change is refused (nothing was replaced); upgrade to a release with store schema {}, see docs/ha.md (Rolling upgrades)",
                next.version, running.version, running.schema, running.schema
            ),
        ));
    }
    let speaks = next.protocols();
    if !(speaks.oldest..=speaks.newest).contains(&running.protocol) {
        return Some((
            "protocol_gap",
            format!(
                "kubemaas {} speaks {speaks} but not protocol {}, which this node (kubemaas {}) and its consoles speak: during a rolling upgrade consoles talk to old and new nodes alike, so the new build must still speak the old protocol (nothing was replaced); upgrade through an intermediate release that speaks both",
                next.version, running.protocol, running.version
            ),
        ));
    }
    None
}

/// Where an upgrade is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpgradeState {
    /// Serving normally (an upload may be arriving).
    Serving,
    /// A new executable is installed: engine work is refused while the pass in flight
    /// finishes, then the gateway restarts.
    Draining,
}

/// `GET /v1/upgrade`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeStatus {
    pub state: UpgradeState,
    pub version: String,
    pub protocol: u32,
    /// Random per process start: a console knows the gateway restarted when it changes.
    pub boot_id: String,
    /// While draining: the version about to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_version: Option<String>,
    /// The store schema this build writes (0 from a build that predates the field).
    #[serde(default)]
    pub schema: i64,
    /// On a node of a replicated gateway: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// On a node of a replicated gateway: whether it is the elected leader now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<bool>,
    /// On a node of a replicated gateway: the last entry of the replicated log its copy has
    /// applied. A restarted node is caught up once this reaches what the others applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_seq: Option<u64>,
}

/// The answer to an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeAccepted {
    pub previous_version: String,
    pub next: BuildInfo,
    pub sha256: String,
    pub bytes: u64,
    /// The boot id of the process that accepted it (the one about to be replaced).
    pub boot_id: String,
}

/// What the serving loop does once an upgrade was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub binary: PathBuf,
    pub next: BuildInfo,
}

struct GateState {
    state: UpgradeState,
    receiving: bool,
    next: Option<BuildInfo>,
}

/// What a node of a replicated gateway tells about itself in its upgrade status.
#[derive(Clone)]
pub struct ReplicatedNode {
    /// The node's name (`gateway run --node`).
    pub name: String,
    /// Its copy of the replicated store.
    pub store: Store,
    /// True while it holds the leadership (`ha::Candidate::role`).
    pub leading: watch::Receiver<bool>,
}

/// Shared between the upgrade routes, the engine-work gate and the serving loop.
#[derive(Clone)]
pub struct UpgradeGate {
    gateway: String,
    binary: PathBuf,
    boot_id: String,
    state: Arc<Mutex<GateState>>,
    restart: watch::Sender<Option<Restart>>,
    node: Option<ReplicatedNode>,
}

impl std::fmt::Debug for UpgradeGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeGate")
            .field("gateway", &self.gateway)
            .field("binary", &self.binary)
            .finish_non_exhaustive()
    }
}

/// Where the running gateway's executable is installed: what [`BINARY_ENV`] says (set by a
/// re-execution), or this process's executable.
pub fn installed_binary() -> std::io::Result<PathBuf> {
    match std::env::var_os(BINARY_ENV) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => std::env::current_exe(),
    }
}

/// The listen address a re-executed gateway must take again, if it is one.
pub fn inherited_listen() -> Option<SocketAddr> {
    std::env::var(LISTEN_ENV).ok()?.parse().ok()
}

fn boot_id() -> String {
    use rand::Rng;
    let bytes: [u8; 8] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl UpgradeGate {
    /// A gate for gateway `gateway`, whose executable is installed at `binary`.
    pub fn new(gateway: &str, binary: PathBuf) -> UpgradeGate {
        UpgradeGate {
            gateway: gateway.to_string(),
            binary,
            boot_id: boot_id(),
            state: Arc::new(Mutex::new(GateState {
                state: UpgradeState::Serving,
                receiving: false,
                next: None,
            })),
            restart: watch::channel(None).0,
            node: None,
        }
    }

    /// The same gate on node `node` of a replicated gateway: its status names the node, its
    /// role and its position in the log, and it refuses builds that cannot roll (see
    /// [`roll_refusal`]).
    pub fn replicated(mut self, node: ReplicatedNode) -> UpgradeGate {
        self.node = Some(node);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn status(&self) -> UpgradeStatus {
        let st = self.lock();
        let me = BuildInfo::current();
        UpgradeStatus {
            state: st.state,
            version: me.version,
            protocol: me.protocol,
            boot_id: self.boot_id.clone(),
            next_version: st.next.as_ref().map(|n| n.version.clone()),
            schema: me.schema,
            node: self.node.as_ref().map(|n| n.name.clone()),
            leader: self.node.as_ref().map(|n| *n.leading.borrow()),
            applied_seq: self.node.as_ref().map(|n| n.store.applied_seq()),
        }
    }

    /// Completes once an upgrade was installed: the serving loop then drains and re-executes.
    pub async fn restart_requested(&self) -> Restart {
        let mut rx = self.restart.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                // The gate is never dropped while the loop runs; if it were, nothing restarts.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Whether the gateway is serving with no upgrade arriving or draining.
    pub fn is_idle(&self) -> bool {
        let st = self.lock();
        st.state == UpgradeState::Serving && !st.receiving
    }

    /// Drains and re-executes the installed executable as it is, exactly as after an upgrade
    /// but without a new build: how a gateway whose gateway.yaml was changed under it (moved
    /// onto etcd by `gateway resize`) starts again with it. False, changing nothing, while an
    /// upgrade is arriving or draining.
    pub fn restart_in_place(&self) -> bool {
        let next = BuildInfo::current();
        {
            let mut st = self.lock();
            if st.state != UpgradeState::Serving || st.receiving {
                return false;
            }
            st.state = UpgradeState::Draining;
            st.next = Some(next.clone());
        }
        self.restart.send_replace(Some(Restart {
            binary: self.binary.clone(),
            next,
        }));
        true
    }

    /// The routes: `GET` and `POST` [`UPGRADE_PATH`]. Merge into the gateway's `api`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route(UPGRADE_PATH, get(status).post(upload))
            .with_state(self.clone())
    }
}

fn refuse(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: error.into(),
            message: message.into(),
            detail: None,
        }),
    )
        .into_response()
}

/// Middleware for the engine's routes: while draining, engine work is refused with
/// `503 upgrading` and `Retry-After`; reads still answer.
pub async fn refuse_while_upgrading(
    State(gate): State<UpgradeGate>,
    request: Request,
    next: Next,
) -> Response {
    let next_version = {
        let st = gate.lock();
        (st.state == UpgradeState::Draining).then(|| {
            st.next
                .as_ref()
                .map(|n| n.version.clone())
                .unwrap_or_default()
        })
    };
    match next_version {
        Some(v) if request.method() != Method::GET && request.uri().path() != UPGRADE_PATH => {
            let message = match &gate.node {
                // The other nodes serve meanwhile: a console sends the request to one of them.
                Some(node) => format!(
                    "node {} of gateway {} is restarting into kubemaas {v}: the gateway's other nodes take requests meanwhile; send it to another node, or retry here in a few seconds",
                    node.name, gate.gateway
                ),
                None => format!(
                    "gateway {} is restarting into kubemaas {v}: retry in a few seconds (kubemaas consoles queue cluster requests and send them once it is back)",
                    gate.gateway
                ),
            };
            let mut response = refuse(StatusCode::SERVICE_UNAVAILABLE, "upgrading", message);
            let headers = response.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            headers.insert(DRAINING_HEADER, HeaderValue::from_static("1"));
            response
        }
        _ => next.run(request).await,
    }
}

async fn status(State(gate): State<UpgradeGate>) -> Json<UpgradeStatus> {
    Json(gate.status())
}

/// Clears the "receiving" mark however the upload ends.
struct Receiving<'a>(&'a UpgradeGate);

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.lock().receiving = false;
    }
}

/// Removes a staged file unless it was installed.
struct Staged(Option<PathBuf>);

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn upload(
    State(gate): State<UpgradeGate>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    let Some(claimed) = headers
        .get(SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "missing_sha256",
            format!("send the executable's SHA-256 (64 hex digits) in {SHA256_HEADER}: use `kubemaas gateway upgrade`"),
        );
    };
    {
        let mut st = gate.lock();
        if st.receiving || st.state != UpgradeState::Serving {
            return refuse(
                StatusCode::CONFLICT,
                "upgrade_in_progress",
                format!(
                    "gateway {} is already being upgraded: wait for it to come back, then check `kubemaas gateway show {}`",
                    gate.gateway, gate.gateway
                ),
            );
        }
        st.receiving = true;
    }
    let _receiving = Receiving(&gate);
    match receive(&gate, &claimed, body).await {
        Ok(accepted) => {
            tracing::info!(
                from = %accepted.previous_version,
                to = %accepted.next.version,
                bytes = accepted.bytes,
                "new executable installed: draining, then restarting"
            );
            (StatusCode::ACCEPTED, Json(accepted)).into_response()
        }
        Err(response) => response,
    }
}

/// Receives, checks and installs the executable; on success the gate is draining.
async fn receive(
    gate: &UpgradeGate,
    claimed: &str,
    body: Body,
) -> Result<UpgradeAccepted, Response> {
    let dir = gate
        .binary
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let file_name = gate
        .binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubemaas".into());
    let staged_path = dir.join(format!(".{file_name}.upgrade-{}", std::process::id()));
    let io_fail = |what: &str, e: std::io::Error| {
        tracing::error!(path = %staged_path.display(), error = %e, "{what}");
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "upgrade_io",
            format!(
                "the gateway could not {what} in {} ({e}): its user must be able to write the directory of its executable",
                dir.display()
            ),
        )
    };
    let mut file = tokio::fs::File::create(&staged_path)
        .await
        .map_err(|e| io_fail("write the new executable", e))?;
    let mut staged = Staged(Some(staged_path.clone()));
    let mut hasher = Sha256::new();
    let mut bytes: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            refuse(
                StatusCode::BAD_REQUEST,
                "upload_broken",
                format!("the upload broke off after {bytes} bytes ({e}): run the upgrade again"),
            )
        })?;
        bytes += chunk.len() as u64;
        if bytes > MAX_BINARY {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "a kubemaas executable is far smaller than {MAX_BINARY} bytes: check --binary"
                ),
            ));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| io_fail("write the new executable", e))?;
    }
    file.sync_all()
        .await
        .map_err(|e| io_fail("flush the new executable", e))?;
    drop(file);
    let got = hex(&hasher.finalize());
    if got != claimed {
        tracing::warn!(bytes, "an upgrade arrived damaged: sha256 mismatch");
        return Err(refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sha256_mismatch",
            format!(
                "the executable arrived with SHA-256 {got}, but the console sent {claimed}: it was damaged on the way and was not installed; run the upgrade again"
            ),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged_path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_fail("make the new executable runnable", e))?;
    }
    let next = probe(&staged_path).await.map_err(|reason| {
        refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_kubemaas",
            format!("the uploaded file does not run as kubemaas here ({reason}); nothing was replaced: upload a kubemaas executable built for this gateway's system"),
        )
    })?;
    if gate.node.is_some() {
        if let Some((error, message)) = roll_refusal(&BuildInfo::current(), &next) {
            tracing::warn!(to = %next.version, error, "refused a build that cannot roll onto this replicated gateway");
            return Err(refuse(StatusCode::CONFLICT, error, message));
        }
    }
    std::fs::rename(&staged_path, &gate.binary)
        .map_err(|e| io_fail("replace the executable", e))?;
    staged.0 = None;
    if let Ok(d) = std::fs::File::open(&dir) {
        // The rename is durable once the directory is.
        let _ = d.sync_all();
    }
    let previous_version = upgrade_version::running_version();
    {
        let mut st = gate.lock();
        st.state = UpgradeState::Draining;
        st.next = Some(next.clone());
    }
    gate.restart.send_replace(Some(Restart {
        binary: gate.binary.clone(),
        next: next.clone(),
    }));
    Ok(UpgradeAccepted {
        previous_version,
        next,
        sha256: got,
        bytes,
        boot_id: gate.boot_id.clone(),
    })
}

/// Runs `path gateway build-info` and reads what it says it is.
pub async fn probe(path: &Path) -> Result<BuildInfo, String> {
    let run = tokio::process::Command::new(path)
        .args(["gateway", "build-info"])
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(PROBE_TIMEOUT, run).await {
        Err(_) => {
            return Err(format!(
                "`gateway build-info` did not answer within {PROBE_TIMEOUT:?}"
            ))
        }
        Ok(Err(e)) => return Err(format!("it cannot be started: {e}")),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        return Err(format!("`gateway build-info` exited with {}", out.status));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
    line.and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| "`gateway build-info` printed no build description".to_string())
}

/// Replaces this process with `binary`, run with this process's arguments (execve: the same
/// pid). Everything this process opened is closed on exec (Rust opens files, sockets and the
/// reconciler lock close-on-exec), so the new image starts as a fresh gateway would — only
/// [`BINARY_ENV`] and [`LISTEN_ENV`] tell it where it is installed and which address to take
/// again. Returns only when the exec failed.
#[cfg(unix)]
pub fn reexec(binary: &Path, listen: SocketAddr) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| binary.as_os_str().to_owned());
    tracing::info!(binary = %binary.display(), %listen, "re-executing the upgraded gateway");
    std::process::Command::new(binary)
        .arg0(arg0)
        .args(args)
        .env(BINARY_ENV, binary)
        .env(LISTEN_ENV, listen.to_string())
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_starts_serving_with_a_fresh_boot_id() {
        let a = UpgradeGate::new("dc1", PathBuf::from("/nonexistent/kubemaas"));
        let b = UpgradeGate::new("dc1", PathBuf::from("/nonexistent/kubemaas"));
        assert_eq!(a.status().state, UpgradeState::Serving);
        assert_ne!(a.status().boot_id, b.status().boot_id);
        assert!(a.status().next_version.is_none());
    }

    fn build(version: &str, oldest: u32, newest: u32, schema: i64) -> BuildInfo {
        BuildInfo {
            version: version.into(),
            protocol: newest,
            oldest_protocol: oldest,
            schema,
        }
    }

    #[test]
    fn a_roll_needs_the_same_schema_and_the_running_protocol() {
        let running = build("0.1.0", 1, 1, 3);
        assert_eq!(roll_refusal(&running, &build("0.2.0", 1, 1, 3)), None);
        // A newer protocol that still speaks the old one rolls.
        assert_eq!(roll_refusal(&running, &build("0.2.0", 1, 2, 3)), None);
        let (error, message) = roll_refusal(&running, &build("0.2.0", 1, 1, 4)).unwrap();
        assert_eq!(error, "schema_change");
        assert!(
            message.contains("store schema 4") && message.contains("store schema 3"),
            "{message}"
        );
        assert!(message.contains("nothing was replaced"), "{message}");
        let (error, message) = roll_refusal(&running, &build("0.2.0", 1, 1, 0)).unwrap();
        assert_eq!(error, "schema_change");
        assert!(message.contains("unknown store schema"), "{message}");
        let (error, message) = roll_refusal(&running, &build("0.3.0", 2, 2, 3)).unwrap();
        assert_eq!(error, "protocol_gap");
        assert!(
            message.contains("protocol 2") && message.contains("not protocol 1"),
            "{message}"
        );
    }

    #[test]
    fn an_older_build_info_without_a_schema_reads_as_unknown() {
        let old: BuildInfo =
            serde_json::from_str(r#"{"version":"0.1.0","protocol":1,"oldest_protocol":1}"#)
                .unwrap();
        assert_eq!(old.schema, 0);
        let status: UpgradeStatus = serde_json::from_str(
            r#"{"state":"serving","version":"0.1.0","protocol":1,"boot_id":"ab"}"#,
        )
        .unwrap();
        assert_eq!(
            (status.node, status.leader, status.applied_seq),
            (None, None, None)
        );
    }

    #[tokio::test]
    async fn a_restart_in_place_drains_once_and_asks_for_the_same_binary() {
        let gate = UpgradeGate::new("dc1", PathBuf::from("/nonexistent/kubemaas"));
        assert!(gate.is_idle());
        assert!(gate.restart_in_place());
        assert!(!gate.is_idle());
        assert_eq!(gate.status().state, UpgradeState::Draining);
        // Already draining: a second request changes nothing.
        assert!(!gate.restart_in_place());
        let restart = gate.restart_requested().await;
        assert_eq!(restart.binary, PathBuf::from("/nonexistent/kubemaas"));
        assert_eq!(restart.next, BuildInfo::current());
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_per_byte() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
