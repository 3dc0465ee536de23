//! The console's engine when it works through a paired gateway: [`RemoteEngine`] implements
//! [`EngineApi`] over [`GatewayClient`], so the CLI and the console run unchanged against the
//! embedded engine or a gateway.
//!
//! The gateway reconciles by itself; `wait` only watches. It follows the gateway's live journal
//! ([`EventFollower`]) and re-reads the cluster whenever one of its events (or a heartbeat)
//! arrives. A dropped connection — or one gone silent for three heartbeats — is reopened with
//! the last event id seen, so nothing is lost. On a replicated gateway it is reopened on
//! another node when the one it followed is down ([`GatewayClient`] moves on; event ids are
//! the replicated journal's, the same on every node).

use super::client::{GatewayClient, GatewayClientError, NdjsonStream};
use super::console::{self, ConsoleError};
use super::protocol::{
    AddAccountRequest, CommandBody, DeleteBody, GatewayInfo, KubeconfigBody, MaasIdentityBody,
    MachineSummary, ScaleBody, SpecBody, StreamLine, ACCOUNTS_PATH, CLUSTERS_PATH, EVENTS_PATH,
    EVENTS_STREAM_PATH, MAAS_IDENTITY_TAIL, SNAPSHOT_TAIL,
};
use super::wire_error::{engine_error_from, RemoteError};
use crate::accounts::{AccountView, CheckReport};
use crate::engine::wait::reached;
use crate::engine::{ClusterView, EngineApi, EngineError, EngineEvent, WaitFor};
use crate::model::{ClusterSpec, MaasSnapshot};
use crate::store::{ClusterId, CommandId, EventId, EventRow, Store};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use std::time::{Duration, Instant};

/// How a follower rides out a gateway that is away.
#[derive(Debug, Clone, Copy)]
pub struct FollowPolicy {
    /// Give up after the gateway has been unreachable this long without a break.
    pub give_up: Duration,
    /// The longest pause between two reconnection attempts.
    pub max_backoff: Duration,
    /// Silence (no line at all) after which a connection counts as dead, before the gateway
    /// said its heartbeat interval.
    pub initial_silence: Duration,
}

impl Default for FollowPolicy {
    fn default() -> Self {
        FollowPolicy {
            give_up: Duration::from_secs(300),
            max_backoff: Duration::from_secs(5),
            initial_silence: Duration::from_secs(60),
        }
    }
}

/// The engine of a paired gateway.
#[derive(Debug, Clone)]
pub struct RemoteEngine {
    gateway: String,
    client: GatewayClient,
    policy: FollowPolicy,
}

fn segment(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl From<ConsoleError> for EngineError {
    fn from(e: ConsoleError) -> Self {
        match e {
            ConsoleError::Store(s) => EngineError::Store(s),
            ConsoleError::Client(c) => RemoteError::Channel(c).into(),
            other => EngineError::Other(other.to_string()),
        }
    }
}

impl RemoteEngine {
    pub fn new(gateway: &str, client: GatewayClient) -> Self {
        RemoteEngine {
            gateway: gateway.to_string(),
            client,
            policy: FollowPolicy::default(),
        }
    }

    /// The engine of gateway `gateway`, paired with the console whose store this is.
    pub fn connect(store: &Store, gateway: &str) -> Result<Self, EngineError> {
        Ok(Self::new(gateway, console::client_for(store, gateway)?))
    }

    pub fn with_policy(mut self, policy: FollowPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The gateway's name, as this console knows it.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    pub fn client(&self) -> &GatewayClient {
        &self.client
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, EngineError> {
        self.client.get(path).await.map_err(engine_error_from)
    }

    async fn post<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, EngineError> {
        self.client
            .post(path, body)
            .await
            .map_err(engine_error_from)
    }

    fn cluster_path(cluster: &str, tail: &str) -> String {
        format!("{CLUSTERS_PATH}/{}{tail}", segment(cluster))
    }

    /// Follows the gateway's journal (of one cluster, or all) after `after`, or from now on.
    pub fn follow(&self, cluster: Option<ClusterId>, after: Option<EventId>) -> EventFollower {
        EventFollower {
            client: self.client.clone(),
            policy: self.policy,
            cluster,
            last: after,
            stream: None,
            silence: self.policy.initial_silence,
        }
    }

    /// The gateway's cloud accounts (keys masked).
    pub async fn accounts(&self) -> Result<Vec<AccountView>, EngineError> {
        self.get(ACCOUNTS_PATH).await
    }

    pub async fn account(&self, name: &str) -> Result<AccountView, EngineError> {
        self.get(&format!("{ACCOUNTS_PATH}/{}", segment(name)))
            .await
    }

    /// Asks the gateway to check an account live (from where it will be used) and keep it.
    pub async fn add_account(
        &self,
        request: &AddAccountRequest,
    ) -> Result<CheckReport, EngineError> {
        self.post(ACCOUNTS_PATH, request).await
    }

    /// The MAAS region behind an account: endpoint, version and the user its key acts as.
    pub async fn maas_identity(&self, account: &str) -> Result<MaasIdentityBody, EngineError> {
        self.get(&format!(
            "{ACCOUNTS_PATH}/{}{MAAS_IDENTITY_TAIL}",
            segment(account)
        ))
        .await
    }

    /// Zones, pools, tags, domains, subnets, images and machines of an account's MAAS, read
    /// by the gateway (for the console's wizards).
    pub async fn maas_snapshot(&self, account: &str) -> Result<MaasSnapshot, EngineError> {
        self.get(&format!(
            "{ACCOUNTS_PATH}/{}{SNAPSHOT_TAIL}",
            segment(account)
        ))
        .await
    }

    /// The gateway's own identity and default cloud account (`GET /v1/info`).
    pub async fn info(&self) -> Result<GatewayInfo, EngineError> {
        self.client.info().await.map_err(engine_error_from)
    }

    /// The machines of an account's MAAS, as the gateway sees them.
    pub async fn machines(&self, account: &str) -> Result<Vec<MachineSummary>, EngineError> {
        self.get(&format!("{ACCOUNTS_PATH}/{}/machines", segment(account)))
            .await
    }
}

impl EngineApi for RemoteEngine {
    async fn create_cluster(&self, spec: ClusterSpec) -> Result<ClusterView, EngineError> {
        self.post(CLUSTERS_PATH, &SpecBody { spec }).await
    }

    async fn delete_cluster(&self, cluster: &str, erase: bool) -> Result<CommandId, EngineError> {
        let body: CommandBody = self
            .post(
                &Self::cluster_path(cluster, "/delete"),
                &DeleteBody { erase },
            )
            .await?;
        Ok(body.command)
    }

    async fn abort_cluster(&self, cluster: &str) -> Result<CommandId, EngineError> {
        let body: CommandBody = self
            .post(
                &Self::cluster_path(cluster, "/abort"),
                &serde_json::json!({}),
            )
            .await?;
        Ok(body.command)
    }

    async fn scale_pool(
        &self,
        cluster: &str,
        pool: &str,
        size: u32,
    ) -> Result<ClusterView, EngineError> {
        self.post(
            &Self::cluster_path(cluster, "/scale"),
            &ScaleBody {
                pool: pool.to_string(),
                size,
            },
        )
        .await
    }

    async fn update_spec(
        &self,
        cluster: &str,
        spec: ClusterSpec,
    ) -> Result<ClusterView, EngineError> {
        self.post(&Self::cluster_path(cluster, "/spec"), &SpecBody { spec })
            .await
    }

    async fn clusters(&self) -> Result<Vec<ClusterView>, EngineError> {
        self.get(CLUSTERS_PATH).await
    }

    async fn cluster(&self, cluster: &str) -> Result<ClusterView, EngineError> {
        self.get(&Self::cluster_path(cluster, "")).await
    }

    async fn events(
        &self,
        cluster: Option<&ClusterId>,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<EngineEvent>, EngineError> {
        let mut path = format!("{EVENTS_PATH}?after={after}&limit={limit}");
        if let Some(c) = cluster {
            path.push_str(&format!("&cluster={c}"));
        }
        let rows: Vec<EventRow> = self.get(&path).await?;
        Ok(rows.into_iter().map(EngineEvent::Journal).collect())
    }

    /// Watches the gateway's journal and re-reads the cluster on each of its events (and on
    /// heartbeats) until it reaches `target`; the gateway does the reconciling.
    async fn wait(
        &self,
        cluster: &str,
        target: WaitFor,
        mut progress: impl FnMut(&ClusterView) + Send,
    ) -> Result<ClusterView, EngineError> {
        let id = self.cluster(cluster).await?.id;
        let mut follower = self.follow(Some(id.clone()), None);
        // Attached before the first read: whatever changes after it is announced.
        follower.attach().await?;
        loop {
            let view = self.cluster(id.as_str()).await?;
            progress(&view);
            // The gateway reconciles on its own schedule: a delete queued there a moment ago
            // may not be applied yet, so an Aborted cluster is not taken as final.
            if let Some(done) = reached(&view, target, false) {
                return done;
            }
            follower.next().await?;
        }
    }

    async fn kubeconfig(&self, cluster: &str) -> Result<String, EngineError> {
        let body: KubeconfigBody = self
            .get(&Self::cluster_path(cluster, "/kubeconfig"))
            .await?;
        Ok(body.kubeconfig)
    }
}

/// What a follower got.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    Event(EventRow),
    /// The channel is alive; nothing new.
    Heartbeat,
}

/// Follows a gateway's live journal across reconnections: it remembers the last event id and
/// resumes after it, so a console that loses its connection loses no event.
pub struct EventFollower {
    client: GatewayClient,
    policy: FollowPolicy,
    cluster: Option<ClusterId>,
    /// The last event delivered; `None` until the gateway said where its journal is.
    last: Option<EventId>,
    stream: Option<NdjsonStream<StreamLine>>,
    /// How long a silent connection is trusted.
    silence: Duration,
}

impl EventFollower {
    /// The last event id delivered (resume point).
    pub fn last_id(&self) -> Option<EventId> {
        self.last
    }

    fn path(&self) -> String {
        let mut q = Vec::new();
        if let Some(a) = self.last {
            q.push(format!("after={a}"));
        }
        if let Some(c) = &self.cluster {
            q.push(format!("cluster={c}"));
        }
        if q.is_empty() {
            EVENTS_STREAM_PATH.to_string()
        } else {
            format!("{EVENTS_STREAM_PATH}?{}", q.join("&"))
        }
    }

    /// Opens the stream now (retrying while the gateway is away) and reads its first line, so
    /// that everything after this call is delivered.
    pub async fn attach(&mut self) -> Result<(), EngineError> {
        while self.stream.is_none() {
            self.next().await?;
        }
        Ok(())
    }

    /// The next event or heartbeat. Reconnects (after the last id) when the connection drops
    /// or goes silent; fails when the gateway refuses, or stays unreachable for
    /// [`FollowPolicy::give_up`].
    pub async fn next(&mut self) -> Result<Followed, EngineError> {
        let mut failing_since: Option<Instant> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.stream.is_none() {
                match self.client.stream::<StreamLine>(&self.path()).await {
                    Ok(s) => self.stream = Some(s),
                    Err(e) => {
                        self.retry_or_fail(e, &mut failing_since, &mut backoff)
                            .await?;
                        continue;
                    }
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                continue;
            };
            let outcome = tokio::time::timeout(self.silence, stream.next()).await;
            match outcome {
                Ok(Some(Ok(StreamLine::Event(row)))) => {
                    self.last = Some(row.id);
                    return Ok(Followed::Event(row));
                }
                Ok(Some(Ok(StreamLine::Heartbeat {
                    last_id,
                    interval_ms,
                }))) => {
                    if self.last.is_none() {
                        self.last = Some(last_id);
                    }
                    // Three missed heartbeats: the connection is dead even if TCP says not.
                    self.silence = Duration::from_millis(interval_ms.max(1) * 3);
                    return Ok(Followed::Heartbeat);
                }
                Ok(Some(Err(e))) => {
                    tracing::info!(error = %e, "the event stream broke: reconnecting");
                    self.stream = None;
                    if matches!(e, GatewayClientError::Decode { .. }) {
                        return Err(engine_error_from(e));
                    }
                    self.retry_or_fail(e, &mut failing_since, &mut backoff)
                        .await?;
                }
                Ok(None) => {
                    tracing::info!("the gateway ended the event stream: reconnecting");
                    self.stream = None;
                }
                Err(_) => {
                    tracing::info!(
                        silence = ?self.silence,
                        "the event stream went silent: reconnecting"
                    );
                    self.stream = None;
                }
            }
        }
    }

    async fn retry_or_fail(
        &self,
        e: GatewayClientError,
        failing_since: &mut Option<Instant>,
        backoff: &mut Duration,
    ) -> Result<(), EngineError> {
        let transient = matches!(e, GatewayClientError::Connect { .. });
        let since = *failing_since.get_or_insert_with(Instant::now);
        if !transient || since.elapsed() >= self.policy.give_up {
            return Err(engine_error_from(e));
        }
        tracing::info!(error = %e, "the gateway is unreachable: trying again");
        tokio::time::sleep(*backoff).await;
        *backoff = (*backoff * 2).min(self.policy.max_backoff);
        Ok(())
    }
}
