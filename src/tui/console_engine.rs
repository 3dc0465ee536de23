//! The engine behind the console's screens: this host's embedded engine, or a paired
//! gateway's ([`RemoteEngine`]). One type, so [`super::engine_source::EngineSource`] asks the
//! same [`EngineApi`] calls whichever it is and no screen logic is written twice.
//!
//! Following the journal differs: the embedded engine is read after an id (a cheap local
//! query, asked once a second), while a gateway pushes its journal down a live stream
//! ([`EventFollower`]) that [`RemoteFeed`] turns into the same answers as they arrive.

use crate::engine::{ClusterView, EmbeddedEngine, EngineApi, EngineError, EngineEvent, WaitFor};
use crate::gateway::{EventFollower, Followed, RemoteEngine};
use crate::model::ClusterSpec;
use crate::store::{ClusterId, CommandId, EventId, EventRow};
use std::sync::Arc;
use std::time::Duration;

/// The engine the console works through.
#[derive(Debug, Clone)]
pub enum ConsoleEngine {
    /// The engine embedded in this process, on the local state dir (gateway `local`).
    Local(EmbeddedEngine),
    /// A paired gateway's engine, over mutual TLS.
    Remote(RemoteEngine),
}

impl ConsoleEngine {
    /// The gateway's name: `local`, or the paired gateway's.
    pub fn gateway(&self) -> &str {
        match self {
            ConsoleEngine::Local(_) => crate::model::account::LOCAL_GATEWAY,
            ConsoleEngine::Remote(r) => r.gateway(),
        }
    }
}

impl EngineApi for ConsoleEngine {
    async fn create_cluster(&self, spec: ClusterSpec) -> Result<ClusterView, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.create_cluster(spec).await,
            ConsoleEngine::Remote(r) => r.create_cluster(spec).await,
        }
    }

    async fn delete_cluster(&self, cluster: &str, erase: bool) -> Result<CommandId, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.delete_cluster(cluster, erase).await,
            ConsoleEngine::Remote(r) => r.delete_cluster(cluster, erase).await,
        }
    }

    async fn abort_cluster(&self, cluster: &str) -> Result<CommandId, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.abort_cluster(cluster).await,
            ConsoleEngine::Remote(r) => r.abort_cluster(cluster).await,
        }
    }

    async fn scale_pool(
        &self,
        cluster: &str,
        pool: &str,
        size: u32,
    ) -> Result<ClusterView, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.scale_pool(cluster, pool, size).await,
            ConsoleEngine::Remote(r) => r.scale_pool(cluster, pool, size).await,
        }
    }

    async fn update_spec(
        &self,
        cluster: &str,
        spec: ClusterSpec,
    ) -> Result<ClusterView, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.update_spec(cluster, spec).await,
            ConsoleEngine::Remote(r) => r.update_spec(cluster, spec).await,
        }
    }

    async fn clusters(&self) -> Result<Vec<ClusterView>, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.clusters().await,
            ConsoleEngine::Remote(r) => r.clusters().await,
        }
    }

    async fn cluster(&self, cluster: &str) -> Result<ClusterView, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.cluster(cluster).await,
            ConsoleEngine::Remote(r) => r.cluster(cluster).await,
        }
    }

    async fn events(
        &self,
        cluster: Option<&ClusterId>,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<EngineEvent>, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.events(cluster, after, limit).await,
            ConsoleEngine::Remote(r) => r.events(cluster, after, limit).await,
        }
    }

    async fn wait(
        &self,
        cluster: &str,
        target: WaitFor,
        progress: impl FnMut(&ClusterView) + Send,
    ) -> Result<ClusterView, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.wait(cluster, target, progress).await,
            ConsoleEngine::Remote(r) => r.wait(cluster, target, progress).await,
        }
    }

    async fn kubeconfig(&self, cluster: &str) -> Result<String, EngineError> {
        match self {
            ConsoleEngine::Local(e) => e.kubeconfig(cluster).await,
            ConsoleEngine::Remote(r) => r.kubeconfig(cluster).await,
        }
    }
}

/// How long one read of a gateway's stream waits for the first line before answering with
/// nothing: the console's clock (elapsed times of running steps) still moves once a second
/// while the gateway is quiet, and a switch away is never held up longer than this.
pub const FEED_WAIT: Duration = Duration::from_secs(1);

/// A gateway's live journal as the console reads it: one [`EventFollower`] kept open across
/// reads, so each answer is whatever the gateway pushed since the last one (resumed after the
/// last id by the follower when the connection drops).
#[derive(Clone)]
pub struct RemoteFeed {
    follower: Arc<tokio::sync::Mutex<Option<EventFollower>>>,
}

impl std::fmt::Debug for RemoteFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteFeed").finish_non_exhaustive()
    }
}

impl Default for RemoteFeed {
    fn default() -> Self {
        RemoteFeed {
            follower: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }
}

impl RemoteFeed {
    /// The events after `after` (at most `limit`): waits up to `wait` for the first line, then
    /// takes every line already there. An empty answer means the gateway had nothing new.
    pub async fn read(
        &self,
        engine: &RemoteEngine,
        after: i64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<EventRow>, EngineError> {
        let mut guard = self.follower.lock().await;
        // A follower elsewhere in the journal (a new console state after a switch, or one
        // that started over) is replaced by one that resumes exactly where the console is.
        let resumes = guard
            .as_ref()
            .is_some_and(|f| f.last_id() == Some(EventId(after)));
        if !resumes {
            *guard = Some(engine.follow(None, Some(EventId(after))));
        }
        let Some(follower) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        let mut budget = wait;
        while rows.len() < limit.max(1) {
            // `timeout` polls the follower before looking at the clock, so a zero budget
            // still takes a line that is already there. Cancelling a read loses nothing: the
            // stream keeps its buffer and the follower its resume point.
            match tokio::time::timeout(budget, follower.next()).await {
                Ok(Ok(Followed::Event(row))) => rows.push(row),
                Ok(Ok(Followed::Heartbeat)) => {}
                Ok(Err(e)) => {
                    *guard = None;
                    return Err(e);
                }
                Err(_) => break,
            }
            budget = Duration::ZERO;
        }
        Ok(rows)
    }
}
