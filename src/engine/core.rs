//! [`Engine`]: the process that runs the reconcilers. It holds the state dir's
//! [`EngineLock`], one MAAS client (and Kubernetes probe) per cloud account, and processes the
//! command queue. Its unit of work is [`Engine::reconcile_once`] (in `reconcile.rs`);
//! [`Engine::step`] runs the queued commands and one pass over every cluster with work to do.

use super::error::EngineError;
use super::faults::CrashPlan;
use super::probe::{HttpsProbe, KubeProbe, SimProbe, SIMULATOR_CAPABILITY};
use super::status::ClusterStatus;
use crate::maas::{MaasClient, MaasConfig, MaasError, RetryPolicy, TlsOptions};
use crate::store::{
    ClusterId, ClusterPhase, ClusterRow, CommandState, EngineLock, EventLevel, NewEvent, Store,
    TaskState,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How an [`Engine`] behaves.
#[derive(Clone)]
pub struct EngineConfig {
    /// The state dir (secrets files live beside the database).
    pub state_dir: PathBuf,
    /// Retries of the MAAS client (tests: `RetryPolicy::immediate`).
    pub retry: RetryPolicy,
    /// Independent machine operations (allocate, deploy, release) in flight at once.
    pub concurrency: usize,
    /// Replacement machines a pool may take after failed deployments before the cluster fails.
    pub replace_budget: u32,
    /// A probe to use for every cluster instead of choosing by MAAS's capabilities (tests).
    pub probe: Option<Arc<dyn KubeProbe>>,
    /// The driver's pause between passes.
    pub poll_interval: Duration,
    /// Simulated crashes (tests).
    pub crash: CrashPlan,
    /// How long the engine tries to drain a retiring machine's node before it gives up with a
    /// warning and releases the machine anyway. Counted in wall time since the drain started
    /// and, so that a driver whose passes are virtual (tests) is bounded too, in passes:
    /// `drain_timeout / poll_interval` drain calls at most.
    pub drain_timeout: Duration,
}

impl EngineConfig {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        EngineConfig {
            state_dir: state_dir.into(),
            retry: RetryPolicy::default(),
            concurrency: 8,
            replace_budget: 3,
            probe: None,
            poll_interval: Duration::from_secs(10),
            crash: CrashPlan::never(),
            drain_timeout: Duration::from_secs(600),
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("state_dir", &self.state_dir)
            .field("concurrency", &self.concurrency)
            .field("replace_budget", &self.replace_budget)
            .field("drain_timeout", &self.drain_timeout)
            .field("probe_override", &self.probe.is_some())
            .finish_non_exhaustive()
    }
}

/// A cloud account's MAAS client and Kubernetes probe.
#[derive(Clone)]
pub(crate) struct AccountCtx {
    pub client: MaasClient,
    pub probe: Arc<dyn KubeProbe>,
}

/// The longest pause between passes while MAAS keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What one [`Engine::step`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    pub commands: usize,
    /// Clusters that still have work (provisioning, updating, deleting, aborting).
    pub busy: usize,
    /// Transient failures met (MAAS busy or unreachable); those clusters are retried.
    pub transient_errors: usize,
    /// Other failures of a pass (journaled on the cluster; retried next pass).
    pub errors: Vec<String>,
}

/// What a queued command asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueuedCommand {
    Delete { erase: bool },
    Abort,
}

impl QueuedCommand {
    pub fn kind(&self) -> &'static str {
        match self {
            QueuedCommand::Delete { .. } => "delete",
            QueuedCommand::Abort => "abort",
        }
    }
}

/// The reconciling engine of one state dir.
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) config: EngineConfig,
    accounts: Mutex<HashMap<String, AccountCtx>>,
    /// What entitles this process to reconcile, held for the engine's life: the state dir's
    /// [`EngineLock`], or a replicated gateway node's `ha::Leadership`.
    _right: Box<dyn std::any::Any + Send + Sync>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Phases with work for the reconcilers.
pub(crate) fn is_active(c: &ClusterRow) -> bool {
    match c.phase {
        ClusterPhase::Pending
        | ClusterPhase::Provisioning
        | ClusterPhase::Updating
        | ClusterPhase::Deleting
        | ClusterPhase::Aborting => true,
        ClusterPhase::Running | ClusterPhase::Failed => c.spec_generation > c.observed_generation,
        ClusterPhase::Deleted | ClusterPhase::Aborted => false,
    }
}

impl Engine {
    /// Takes the reconciler lock of `config.state_dir` and takes over from whoever held it
    /// before: their unfinished tasks are marked interrupted and their claimed commands go back
    /// to the queue. Open intents are resolved by the first pass over each cluster.
    pub fn start(store: Store, config: EngineConfig) -> Result<Engine, EngineError> {
        let lock = EngineLock::try_acquire(&config.state_dir)?;
        Engine::take_over(store, config, Box::new(lock))
    }

    /// [`Engine::start`] on a node of a replicated gateway, elected through etcd instead of
    /// holding the file lock: the takeover is the same. Stop using the engine as soon as
    /// `leadership` is lost (see `crate::ha::lead`).
    pub fn start_elected(
        store: Store,
        config: EngineConfig,
        leadership: crate::ha::Leadership,
    ) -> Result<Engine, EngineError> {
        Engine::take_over(store, config, Box::new(leadership))
    }

    fn take_over(
        store: Store,
        config: EngineConfig,
        right: Box<dyn std::any::Any + Send + Sync>,
    ) -> Result<Engine, EngineError> {
        let (tasks, commands) = store.tx(|tx| {
            let t = tx.interrupt_unfinished_tasks("the process running it stopped")?;
            let c = tx.requeue_claimed_commands()?;
            Ok::<_, EngineError>((t, c))
        })?;
        if tasks + commands > 0 {
            store.append_event(&NewEvent::new(
                EventLevel::Info,
                "engine",
                format!("took over the reconcilers: {tasks} interrupted task(s) resume, {commands} command(s) requeued"),
            ))?;
        }
        Ok(Engine {
            store,
            config,
            accounts: Mutex::new(HashMap::new()),
            _right: right,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The MAAS client and probe of a cloud account, built on first use.
    pub(crate) async fn account(&self, name: &str) -> Result<AccountCtx, EngineError> {
        if let Some(ctx) = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(ctx.clone());
        }
        let row = self.store.read(|r| r.account(name))?;
        let mut tls = TlsOptions::default();
        if let Some(pem) = &row.ca_cert {
            let path = self
                .config
                .state_dir
                .join("accounts")
                .join(format!("{name}-ca.pem"));
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
                    action: "create",
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::write(&path, pem).map_err(|source| EngineError::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
            tls.ca_cert = Some(path);
        }
        let mut cfg = MaasConfig::new(row.endpoint.clone(), row.api_key.clone());
        cfg.tls = tls;
        cfg.retry = self.config.retry.clone();
        let client = MaasClient::new(cfg).map_err(|source| EngineError::Client {
            account: name.to_string(),
            source,
        })?;
        let probe: Arc<dyn KubeProbe> = match &self.config.probe {
            Some(p) => p.clone(),
            None => {
                let version = client.version().await?;
                if version
                    .capabilities
                    .iter()
                    .any(|c| c == SIMULATOR_CAPABILITY)
                {
                    let region = row.endpoint.region_url();
                    let origin = region.origin().ascii_serialization();
                    Arc::new(SimProbe::new(origin))
                } else {
                    Arc::new(HttpsProbe)
                }
            }
        };
        let ctx = AccountCtx { client, probe };
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), ctx.clone());
        Ok(ctx)
    }

    /// A checkpoint of the crash plan.
    pub(crate) fn checkpoint(&self, point: &str) -> Result<(), EngineError> {
        self.config.crash.check(point)
    }

    /// Runs the queued commands, then one reconcile pass over every cluster with work.
    pub async fn step(&self) -> Result<StepReport, EngineError> {
        let mut report = StepReport {
            commands: self.process_commands()?,
            ..Default::default()
        };
        let clusters = self.store.read(|r| r.clusters(false))?;
        // Running clusters get a light pass too (one machine list): a machine lost or broken
        // behind kubemaas's back turns the cluster into a repair.
        for c in clusters
            .iter()
            .filter(|c| is_active(c) || c.phase == ClusterPhase::Running)
        {
            match self.reconcile_once(&c.id).await {
                Ok(()) => {}
                Err(e) if e.is_transient() => {
                    report.transient_errors += 1;
                    self.note_reason(&c.id, &format!("waiting for MAAS: {e}"), EventLevel::Warn)?;
                }
                Err(e @ EngineError::Crashed { .. }) => return Err(e),
                Err(e) => {
                    tracing::warn!(cluster = %c.id, error = %e, "reconcile pass failed");
                    self.note_reason(&c.id, &e.to_string(), EventLevel::Error)?;
                    report.errors.push(format!("{}: {e}", c.name));
                }
            }
        }
        let after = self.store.read(|r| r.clusters(false))?;
        report.busy = after.iter().filter(|c| is_active(c)).count();
        Ok(report)
    }

    /// The driver: a pass every `poll_interval` until `stop` turns true. Passes that met
    /// transient MAAS failures back off exponentially (up to five minutes) so an overloaded
    /// region is not hammered.
    pub async fn run(
        &self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), EngineError> {
        let mut delay = self.config.poll_interval;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let report = self.step().await?;
            delay = if report.transient_errors > 0 {
                (delay.max(Duration::from_secs(1)) * 2).min(MAX_BACKOFF)
            } else {
                self.config.poll_interval
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                changed = stop.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Records why a pass failed as the cluster's reason (journaled once per distinct reason).
    fn note_reason(
        &self,
        id: &ClusterId,
        reason: &str,
        level: EventLevel,
    ) -> Result<(), EngineError> {
        let reason = reason.to_string();
        self.store.tx(|tx| {
            let c = tx.cluster(id)?;
            if c.reason.as_deref() != Some(reason.as_str()) && !c.is_deleted() {
                tx.set_cluster_phase(id, c.phase, Some(&reason))?;
                tx.append_event(&NewEvent::new(level, "engine", reason.clone()).cluster(id))?;
            }
            Ok::<_, EngineError>(())
        })
    }

    /// Claims and applies every queued command. Returns how many were handled.
    pub fn process_commands(&self) -> Result<usize, EngineError> {
        let mut n = 0;
        while let Some(cmd) = self.store.tx(|tx| tx.claim_next_command())? {
            n += 1;
            let outcome = match (&cmd.cluster, serde_json::from_value::<QueuedCommand>(cmd.args.clone())) {
                (Some(cluster), Ok(c)) => self.apply_command(cluster, &c),
                (None, _) => Err(EngineError::Other(format!(
                    "command {} names no cluster: submit it again with `kubemaas cluster ...`",
                    cmd.id
                ))),
                (_, Err(e)) => Err(EngineError::Other(format!(
                    "command {} ({}) is not one this kubemaas knows ({e}): upgrade the kubemaas running the reconcilers",
                    cmd.id, cmd.kind
                ))),
            };
            let (state, result) = match outcome {
                Ok(msg) => (CommandState::Done, json!({ "message": msg })),
                Err(e) => (CommandState::Failed, json!({ "error": e.to_string() })),
            };
            self.store
                .tx(|tx| tx.complete_command(cmd.id, state, &result))?;
        }
        Ok(n)
    }

    fn apply_command(&self, id: &ClusterId, cmd: &QueuedCommand) -> Result<String, EngineError> {
        self.store.tx(|tx| {
            let c = tx.cluster(id)?;
            check_command_allowed(&c, cmd)?;
            let mut status = status_of(&c)?;
            if let Some(task) = status.task.take() {
                let t = tx.task(crate::store::TaskId(task))?;
                if !t.state.is_terminal() {
                    tx.finish_task(
                        t.id,
                        TaskState::Cancelled,
                        &format!("superseded by {}", cmd.kind()),
                    )?;
                }
            }
            let (phase, kind, message) = match cmd {
                QueuedCommand::Delete { erase } => {
                    status.erase = *erase;
                    (
                        ClusterPhase::Deleting,
                        "delete",
                        if *erase {
                            "deleting: releasing every machine with disk erasure"
                        } else {
                            "deleting: releasing every machine"
                        },
                    )
                }
                QueuedCommand::Abort => (
                    ClusterPhase::Aborting,
                    "abort",
                    "aborting: stopping and releasing everything taken so far",
                ),
            };
            let task = tx.start_task(Some(id), kind, message)?;
            status.task = Some(task.0);
            status.waiting = None;
            tx.set_cluster_phase(id, phase, None)?;
            tx.set_cluster_status(id, &status, c.observed_generation)?;
            tx.append_event(&NewEvent::new(EventLevel::Info, "engine", message).cluster(id))?;
            Ok(message.to_string())
        })
    }
}

/// Whether `cmd` may be applied to a cluster in its current phase.
pub(crate) fn check_command_allowed(
    c: &ClusterRow,
    cmd: &QueuedCommand,
) -> Result<(), EngineError> {
    let wrong = |action, when| EngineError::WrongPhase {
        cluster: c.name.clone(),
        phase: c.phase.to_string(),
        action,
        when,
    };
    match cmd {
        QueuedCommand::Delete { .. } => match c.phase {
            ClusterPhase::Running
            | ClusterPhase::Failed
            | ClusterPhase::Aborted
            | ClusterPhase::Updating => Ok(()),
            _ => Err(wrong(
                "delete",
                "for provisioned clusters (Running, Updating, Failed or Aborted); use `kubemaas cluster abort` to stop one still provisioning",
            )),
        },
        // Not while Updating: a running cluster's machines are not "taken so far", and
        // releasing them would destroy it. Change the spec back instead.
        QueuedCommand::Abort => match c.phase {
            ClusterPhase::Pending | ClusterPhase::Provisioning => Ok(()),
            _ => Err(wrong(
                "abort",
                "while a new cluster is provisioning; use `kubemaas cluster delete` for a provisioned one, or submit the previous spec again to undo an update",
            )),
        },
    }
}

/// The engine's status of a cluster (defaults before the first report).
pub(crate) fn status_of(c: &ClusterRow) -> Result<ClusterStatus, EngineError> {
    if c.status.is_null() {
        return Ok(ClusterStatus::default());
    }
    Ok(c.status_as::<ClusterStatus>()?)
}

/// True when MAAS certainly did not apply a failed mutation: it refused it (4xx), or said with
/// `Retry-After` that it rolled it back. Anything else (timeouts, broken connections, 5xx
/// without `Retry-After`, an unreadable success) may have been applied: the intent stays open
/// and the next pass looks the outcome up in MAAS.
pub(crate) fn certainly_not_applied(e: &MaasError) -> bool {
    match e {
        MaasError::ServerBusy { retry_after, .. } => retry_after.is_some(),
        MaasError::Timeout { .. }
        | MaasError::Connect { .. }
        | MaasError::Decode { .. }
        | MaasError::TooLarge { .. }
        | MaasError::Unexpected { .. } => false,
        MaasError::Tls { .. } | MaasError::Redirected { .. } => true,
        _ => e.status().is_some_and(|s| (400..500).contains(&s)),
    }
}

/// A JSON outcome for an intent closed without effect.
pub(crate) fn not_applied(why: impl std::fmt::Display) -> Value {
    json!({ "applied": false, "why": why.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_refusals_and_rolled_back_calls_count_as_not_applied() {
        let busy = |retry_after| MaasError::ServerBusy {
            request: "POST machines/".into(),
            status: 503,
            retry_after,
            message: String::new(),
        };
        assert!(certainly_not_applied(&busy(Some(Duration::from_secs(1)))));
        assert!(!certainly_not_applied(&busy(None)));
        assert!(!certainly_not_applied(&MaasError::Timeout {
            request: "x".into(),
            timeout: Duration::from_secs(1)
        }));
        assert!(certainly_not_applied(&MaasError::Conflict {
            request: "x".into(),
            message: String::new()
        }));
        assert!(certainly_not_applied(&MaasError::NoMatch {
            asked: vec![],
            resolved: None,
            message: String::new()
        }));
    }

    #[test]
    fn queued_commands_round_trip() {
        for c in [QueuedCommand::Delete { erase: true }, QueuedCommand::Abort] {
            let v = serde_json::to_value(&c).unwrap();
            assert_eq!(v["kind"], c.kind());
            assert_eq!(serde_json::from_value::<QueuedCommand>(v).unwrap(), c);
        }
    }
}
