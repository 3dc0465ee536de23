//! The engine on this host: [`EmbeddedEngine`] opens the state dir, runs the reconcilers when it
//! can take the lock, and otherwise only submits changes and watches (another kubemaas process
//! runs them). Waiting takes the lock over as soon as its holder exits.

use super::api::{ClusterView, EngineApi, EngineEvent, TaskView, WaitFor};
use super::core::{check_command_allowed, status_of, Engine, EngineConfig, QueuedCommand};
use super::error::EngineError;
use super::plan;
use super::secrets;
use super::wait::reached;
use crate::model::{validate_local, ClusterSpec};
use crate::store::{
    ClusterId, ClusterPhase, ClusterRow, CommandId, EventId, EventLevel, LockError, NewEvent,
    Store, StoreError,
};
use std::sync::{Arc, Mutex};

/// How many tasks a [`ClusterView`] carries.
const VIEW_TASKS: usize = 5;

/// The engine interface on a local state dir.
#[derive(Debug, Clone)]
pub struct EmbeddedEngine {
    store: Store,
    config: EngineConfig,
    /// Present once this process holds the reconciler lock. Shared by clones.
    engine: Arc<Mutex<Option<Arc<Engine>>>>,
}

impl EmbeddedEngine {
    /// Opens the state dir and takes the reconciler lock if nobody holds it.
    pub fn open(config: EngineConfig) -> Result<Self, EngineError> {
        let store = Store::open(&config.state_dir)?;
        Self::with_store(store, config)
    }

    /// Like [`EmbeddedEngine::open`] on an open store.
    pub fn with_store(store: Store, config: EngineConfig) -> Result<Self, EngineError> {
        let this = Self::watcher(store, config);
        this.take_over()?;
        Ok(this)
    }

    /// Submits and watches; takes the reconciler lock only when [`EngineApi::wait`] runs
    /// (or [`EmbeddedEngine::take_over`] is called) and nobody else holds it.
    pub fn watcher(store: Store, config: EngineConfig) -> Self {
        EmbeddedEngine {
            store,
            config,
            engine: Arc::new(Mutex::new(None)),
        }
    }

    /// The reconciling engine: this process's, or a new one if the lock is free now (the
    /// process that held it exited), or `None` while another process holds it.
    pub fn take_over(&self) -> Result<Option<Arc<Engine>>, EngineError> {
        let mut slot = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(Some(e.clone()));
        }
        match Engine::start(self.store.clone(), self.config.clone()) {
            Ok(e) => {
                let e = Arc::new(e);
                *slot = Some(e.clone());
                Ok(Some(e))
            }
            Err(EngineError::Lock(LockError::Held { holder })) => {
                tracing::debug!(?holder, "another process runs the reconcilers; watching");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The reconciling engine, when this process holds the lock.
    pub fn engine(&self) -> Option<Arc<Engine>> {
        self.engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn row(&self, key: &str) -> Result<ClusterRow, EngineError> {
        Ok(self.store.read(|r| r.resolve_cluster(key))?)
    }

    fn view(&self, row: ClusterRow) -> Result<ClusterView, EngineError> {
        let (machines, tasks) = self.store.read(|r| {
            Ok::<_, StoreError>((
                r.machines(&row.id, false)?,
                r.tasks(Some(&row.id), VIEW_TASKS)?,
            ))
        })?;
        Ok(ClusterView {
            status: status_of(&row)?,
            deleted: row.is_deleted(),
            id: row.id,
            name: row.name,
            account: row.account,
            phase: row.phase,
            reason: row.reason,
            spec_generation: row.spec_generation,
            observed_generation: row.observed_generation,
            machines: machines.into_iter().map(Into::into).collect(),
            tasks: tasks.into_iter().map(TaskView::from).collect(),
            created: row.created,
            updated: row.updated,
        })
    }

    /// Checks a spec before it is recorded (also used by the gateway's idempotent create).
    pub(crate) fn check_spec(&self, spec: &ClusterSpec) -> Result<(), EngineError> {
        let profile = self
            .store
            .read(|r| plan::find_profile(r, &spec.spec.profile.name))?;
        let problems = validate_local(spec, Some(&profile));
        if !problems.is_empty() {
            return Err(EngineError::InvalidSpec {
                problems: problems.to_string(),
            });
        }
        Ok(())
    }

    fn submit(&self, key: &str, cmd: QueuedCommand) -> Result<CommandId, EngineError> {
        let row = self.row(key)?;
        check_command_allowed(&row, &cmd)?;
        let id = self.store.tx(|tx| {
            let id = tx.submit_command(Some(&row.id), cmd.kind(), &cmd)?;
            tx.append_event(
                &NewEvent::new(
                    EventLevel::Info,
                    "cli",
                    format!("{} requested (command {id})", cmd.kind()),
                )
                .cluster(&row.id),
            )?;
            Ok::<_, EngineError>(id)
        })?;
        Ok(id)
    }

    fn change_spec(
        &self,
        key: &str,
        change: impl FnOnce(&mut ClusterSpec) -> Result<String, EngineError>,
    ) -> Result<ClusterView, EngineError> {
        let row = self.row(key)?;
        if matches!(
            row.phase,
            ClusterPhase::Deleting | ClusterPhase::Aborting | ClusterPhase::Aborted
        ) {
            return Err(EngineError::WrongPhase {
                cluster: row.name.clone(),
                phase: row.phase.to_string(),
                action: "changing the spec",
                when: "while the cluster is not being deleted or aborted",
            });
        }
        let mut spec: ClusterSpec = row.spec_as()?;
        let what = change(&mut spec)?;
        self.check_spec(&spec)?;
        self.store.tx(|tx| {
            let generation = tx.update_cluster_spec(&row.id, &spec, Some(row.spec_generation))?;
            tx.append_event(
                &NewEvent::new(
                    EventLevel::Info,
                    "cli",
                    format!("{what} (spec generation {generation})"),
                )
                .cluster(&row.id),
            )?;
            Ok::<_, EngineError>(())
        })?;
        self.view(self.store.read(|r| r.cluster(&row.id))?)
    }
}

impl EngineApi for EmbeddedEngine {
    /// Runs the reconcilers (when this process holds the lock) or watches (when another does)
    /// until cluster `key` reaches `target`. `progress` sees the cluster after every pass.
    /// Fails when the cluster ends Failed (or Aborted while waiting for Running), and when it is
    /// Aborted while waiting for Deleted (only `cluster delete` gets it there).
    async fn wait(
        &self,
        key: &str,
        target: WaitFor,
        mut progress: impl FnMut(&ClusterView) + Send,
    ) -> Result<ClusterView, EngineError> {
        let id = self.row(key)?.id;
        loop {
            // Take over as soon as nobody else runs the reconcilers, so waiting resumes whatever
            // an earlier (or concurrent, now exited) process left.
            // Whether this pass applied every queued command (a delete just submitted).
            let reconciled = match self.take_over()? {
                Some(engine) => {
                    engine.step().await?;
                    true
                }
                None => false,
            };
            let view = self.view(self.store.read(|r| r.cluster(&id))?)?;
            progress(&view);
            if let Some(done) = reached(&view, target, reconciled) {
                return done;
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    async fn create_cluster(&self, spec: ClusterSpec) -> Result<ClusterView, EngineError> {
        self.check_spec(&spec)?;
        let row = self.store.tx(|tx| {
            let row = tx.create_cluster(spec.name(), &spec.spec.cloud_account, &spec)?;
            tx.append_event(
                &NewEvent::new(
                    EventLevel::Info,
                    "cli",
                    format!("cluster {} submitted", row.name),
                )
                .cluster(&row.id),
            )?;
            Ok::<_, EngineError>(row)
        })?;
        self.view(row)
    }

    async fn delete_cluster(&self, cluster: &str, erase: bool) -> Result<CommandId, EngineError> {
        self.submit(cluster, QueuedCommand::Delete { erase })
    }

    async fn abort_cluster(&self, cluster: &str) -> Result<CommandId, EngineError> {
        self.submit(cluster, QueuedCommand::Abort)
    }

    async fn scale_pool(
        &self,
        cluster: &str,
        pool: &str,
        size: u32,
    ) -> Result<ClusterView, EngineError> {
        self.change_spec(cluster, |spec| {
            let known = spec
                .spec
                .node_pools
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(", ");
            let p = spec
                .spec
                .node_pools
                .iter_mut()
                .find(|p| p.name == pool)
                .ok_or_else(|| EngineError::NoSuchPool {
                    cluster: cluster.to_string(),
                    pool: pool.to_string(),
                    known,
                })?;
            let from = p.size;
            p.size = size;
            Ok(format!("pool {pool} scaled from {from} to {size}"))
        })
    }

    async fn update_spec(
        &self,
        cluster: &str,
        spec: ClusterSpec,
    ) -> Result<ClusterView, EngineError> {
        self.change_spec(cluster, |current| {
            if current.name() != spec.name() {
                return Err(EngineError::Other(format!(
                    "the new spec names cluster `{}`, not `{}`: a cluster cannot be renamed",
                    spec.name(),
                    current.name()
                )));
            }
            if current.spec.cloud_account != spec.spec.cloud_account {
                return Err(EngineError::Other(format!(
                    "the new spec moves cluster `{}` to cloud account `{}`: a cluster stays on the MAAS it was created on; create a new cluster there instead",
                    spec.name(),
                    spec.spec.cloud_account
                )));
            }
            *current = spec;
            Ok("spec replaced".to_string())
        })
    }

    async fn clusters(&self) -> Result<Vec<ClusterView>, EngineError> {
        let rows = self.store.read(|r| r.clusters(false))?;
        rows.into_iter().map(|r| self.view(r)).collect()
    }

    async fn cluster(&self, cluster: &str) -> Result<ClusterView, EngineError> {
        self.view(self.row(cluster)?)
    }

    async fn events(
        &self,
        cluster: Option<&ClusterId>,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<EngineEvent>, EngineError> {
        Ok(self
            .store
            .events_after(cluster, after, limit)?
            .into_iter()
            .map(EngineEvent::Journal)
            .collect())
    }

    async fn kubeconfig(&self, cluster: &str) -> Result<String, EngineError> {
        let row = self.row(cluster)?;
        let spec: ClusterSpec = row.spec_as()?;
        let status = status_of(&row)?;
        let secrets = secrets::load(&self.config.state_dir, &row.id)?.ok_or_else(|| {
            EngineError::Other(format!(
                "cluster {} has no credentials yet: they are made once its control-plane endpoint is reserved; wait with `kubemaas cluster wait {} --for running`",
                row.name, row.name
            ))
        })?;
        let profile = self
            .store
            .read(|r| plan::find_profile(r, &spec.spec.profile.name))?;
        let resolved = plan::resolve_profile(&profile, &spec)?;
        let plan = plan::cluster_plan(&row.id, &spec, &resolved, &status)?;
        crate::bootstrap::admin_kubeconfig(&secrets, &plan).map_err(|source| {
            EngineError::Bootstrap {
                cluster: row.name.clone(),
                source,
            }
        })
    }
}
