//! Electing the gateway node that runs the reconcilers: etcd's election API on a lease. The
//! elected node holds the role while its lease lives; a node that dies stops renewing and the
//! lease expires after its TTL, when the next candidate is elected. A leader that loses its
//! lease (cut from the etcd majority, lease revoked, key deleted) is told through
//! [`Leadership::lost`] and must stop reconciling at once; the new leader takes over as after
//! taking the engine lock (interrupted tasks resume, claimed commands requeue, open intents are
//! resolved against MAAS), which is safe whatever the old leader was doing.

use super::config::EtcdConfig;
use super::error::HaError;
use crate::etcd::{code, EtcdClient as Client, EtcdError, EventKind, Range};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

/// How long a resignation waits for etcd to revoke the lease. Past it the lease simply
/// expires after its TTL, which is what a crashed node costs anyway.
const RESIGN_TIMEOUT: Duration = Duration::from_secs(5);

/// One node competing for leadership.
pub struct Candidate {
    client: Client,
    election: String,
    id: String,
    ttl: i64,
    endpoints: String,
    /// True while a [`Leadership`] won by this candidate is held (see [`Candidate::role`]).
    role: watch::Sender<bool>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("election", &self.election)
            .field("id", &self.id)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The held role. Dropping it resigns (the lease is revoked, so the next node is elected at
/// once rather than after the TTL).
pub struct Leadership {
    id: String,
    lease: i64,
    lost: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    client: Client,
    /// Set once the lease was released (by a [`Resigner`] or by the drop), so it is
    /// released once.
    released: Arc<AtomicBool>,
    role: watch::Sender<bool>,
}

/// Resigns a [`Leadership`] that was handed away (the engine holds it for its life): revokes
/// the lease and *waits* for etcd to confirm, so the next candidate is elected at once. A
/// gateway node about to re-execute for an upgrade must resign this way: a revocation merely
/// spawned may never be sent before the process image is replaced, and the role would then
/// stay with a dead lease for a whole TTL.
#[derive(Clone)]
pub struct Resigner {
    id: String,
    lease: i64,
    client: Client,
    tasks: Vec<AbortHandle>,
    released: Arc<AtomicBool>,
    role: watch::Sender<bool>,
}

impl std::fmt::Debug for Resigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resigner")
            .field("id", &self.id)
            .field("lease", &self.lease)
            .finish()
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("id", &self.id)
            .field("lease", &self.lease)
            .field("lost", &*self.lost.borrow())
            .finish()
    }
}

impl Candidate {
    /// A candidate named `id` (shown as the leader's name) in `config`'s election, whose lease
    /// lasts `ttl` without renewal: how long a dead leader keeps the role.
    pub async fn connect(
        config: &EtcdConfig,
        id: impl Into<String>,
        ttl: Duration,
    ) -> Result<Candidate, HaError> {
        let client = config.connect().await?;
        Ok(Candidate {
            client,
            election: format!("{}/leader", config.prefix.trim_end_matches('/')),
            id: id.into(),
            ttl: ttl.as_secs().max(2) as i64,
            endpoints: config.endpoints_text(),
            role: watch::channel(false).0,
        })
    }

    /// Whether this node holds the role now: true from the election won until the
    /// [`Leadership`] is resigned or dropped. For status pages (`GET /v1/upgrade` says which
    /// node leads, so an upgrade restarts the leader last); the reconcilers themselves watch
    /// [`Leadership::lost`].
    pub fn role(&self) -> watch::Receiver<bool> {
        self.role.subscribe()
    }

    fn err(&self, what: &'static str, e: EtcdError) -> HaError {
        HaError::Etcd {
            endpoints: self.endpoints.clone(),
            what,
            detail: e.to_string(),
        }
    }

    /// Waits until this node is elected. Cancel-safe: dropping the future abandons the
    /// campaign and revokes its lease (in the background: use [`Candidate::campaign_until`]
    /// when the process is about to exit or re-execute).
    pub async fn campaign(&self) -> Result<Leadership, HaError> {
        let mut pending = self.grant().await?;
        let lost = self.elect(&mut pending).await?;
        Ok(pending.into_leadership(self.id.clone(), lost))
    }

    /// [`Candidate::campaign`] until `stop` completes: `Ok(None)` then, once the campaign's
    /// lease is revoked — awaited, so that no stale campaign key of this node stays queued in
    /// the election. A stale key would be elected when the leader resigns and hold the role,
    /// for nobody, until its lease expired.
    pub async fn campaign_until(
        &self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<Option<Leadership>, HaError> {
        let mut pending = self.grant().await?;
        let outcome = tokio::select! {
            elected = self.elect(&mut pending) => Some(elected),
            _ = stop => None,
        };
        match outcome {
            Some(lost) => Ok(Some(pending.into_leadership(self.id.clone(), lost?))),
            None => {
                pending.revoke().await;
                Ok(None)
            }
        }
    }

    /// A lease of this candidate's TTL, renewed until the returned [`Pending`] is dropped.
    async fn grant(&self) -> Result<Pending, HaError> {
        let lease = self
            .client
            .lease_grant(self.ttl)
            .await
            .map_err(|e| self.err("taking a lease", e))?;
        let (lost_tx, lost) = watch::channel(false);
        Ok(Pending {
            client: self.client.clone(),
            lease,
            tasks: vec![tokio::spawn(keep_alive(
                self.client.clone(),
                lease,
                self.ttl,
                lost_tx.clone(),
            ))],
            lost_tx,
            lost,
            role: self.role.clone(),
        })
    }

    /// Campaigns on `pending`'s lease until elected; the receiver tells when the role is lost.
    async fn elect(&self, pending: &mut Pending) -> Result<watch::Receiver<bool>, HaError> {
        let key = self
            .client
            .campaign(self.election.as_bytes(), self.id.as_bytes(), pending.lease)
            .await
            .map_err(|e| self.err("campaigning for leadership", e))?;
        pending.tasks.push(tokio::spawn(watch_key(
            self.client.clone(),
            key,
            pending.lost_tx.clone(),
        )));
        tracing::info!(id = %self.id, lease = pending.lease, "elected leader: running the reconcilers here");
        Ok(pending.lost.clone())
    }

    /// This candidate's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current leader's name, if any.
    pub async fn leader(&self) -> Result<Option<String>, HaError> {
        match self.client.leader(self.election.as_bytes()).await {
            Ok(kv) => Ok(kv.map(|kv| String::from_utf8_lossy(&kv.value).into_owned())),
            Err(e) => Err(self.err("asking for the leader", e)),
        }
    }
}

/// A lease and its tasks before the election is won: dropped (campaign cancelled or failed),
/// it stops renewing and revokes the lease.
struct Pending {
    client: Client,
    lease: i64,
    tasks: Vec<JoinHandle<()>>,
    lost_tx: watch::Sender<bool>,
    lost: watch::Receiver<bool>,
    role: watch::Sender<bool>,
}

impl Pending {
    fn into_leadership(mut self, id: String, lost: watch::Receiver<bool>) -> Leadership {
        let tasks = std::mem::take(&mut self.tasks);
        let lease = self.lease;
        self.lease = 0;
        self.role.send_replace(true);
        Leadership {
            id,
            lease,
            lost,
            tasks,
            client: self.client.clone(),
            released: Arc::new(AtomicBool::new(false)),
            role: self.role.clone(),
        }
    }

    /// Stops renewing and revokes the lease, waiting for etcd.
    async fn revoke(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        let lease = std::mem::replace(&mut self.lease, 0);
        if lease != 0 {
            revoke_now(&self.client, lease).await;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        release(&self.client, self.lease, &self.tasks);
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.role.send_replace(false);
        if self.released.swap(true, Ordering::AcqRel) {
            // A Resigner revoked the lease already (and stopped the tasks).
            return;
        }
        tracing::info!(id = %self.id, "leaving leadership");
        release(&self.client, self.lease, &self.tasks);
    }
}

/// Revokes `lease`, waiting at most [`RESIGN_TIMEOUT`]. A lease etcd no longer knows was
/// revoked already (or expired): the role is free either way.
async fn revoke_now(client: &Client, lease: i64) {
    match tokio::time::timeout(RESIGN_TIMEOUT, client.lease_revoke(lease)).await {
        Ok(Ok(_)) => tracing::info!(lease, "leadership lease revoked"),
        Ok(Err(e)) if e.code() == Some(code::NOT_FOUND) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, lease, "could not revoke the leadership lease; it expires after its TTL")
        }
        Err(_) => tracing::warn!(
            lease,
            "etcd did not confirm the lease revocation in time; it expires after its TTL"
        ),
    }
}

fn release(client: &Client, lease: i64, tasks: &[JoinHandle<()>]) {
    for task in tasks {
        task.abort();
    }
    if lease == 0 {
        return;
    }
    // Revoking deletes the election key at once. Without a runtime (a process exiting) the
    // lease simply expires after its TTL.
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let client = client.clone();
        handle.spawn(async move {
            if let Err(e) = client.lease_revoke(lease).await {
                tracing::debug!(error = %e, "could not revoke the leadership lease; it expires on its own");
            }
        });
    }
}

impl Leadership {
    /// This node's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The etcd lease the role hangs on.
    pub fn lease_id(&self) -> i64 {
        self.lease
    }

    /// A handle that resigns this role from wherever the `Leadership` went (the engine owns
    /// it): see [`Resigner`].
    pub fn resigner(&self) -> Resigner {
        Resigner {
            id: self.id.clone(),
            lease: self.lease,
            client: self.client.clone(),
            tasks: self.tasks.iter().map(JoinHandle::abort_handle).collect(),
            released: Arc::clone(&self.released),
            role: self.role.clone(),
        }
    }

    /// False once the role is lost.
    pub fn is_leader(&self) -> bool {
        !*self.lost.borrow()
    }

    /// A future that resolves when the role is lost, usable after the `Leadership` was handed
    /// to the engine.
    pub fn lost_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut lost = self.lost.clone();
        async move {
            let _ = lost.wait_for(|lost| *lost).await;
        }
    }

    /// Resolves when the role is lost (at once if it already is).
    pub async fn lost(&mut self) {
        // An error means the tasks are gone: the role cannot be vouched for any more.
        let _ = self.lost.wait_for(|lost| *lost).await;
    }
}

impl Resigner {
    /// Gives the role up now: stops renewing, revokes the lease and waits until etcd
    /// confirmed (at most a few seconds), so another candidate is elected at once. Resigning
    /// a role already given up (dropped, lost, resigned) is harmless. Stop reconciling first:
    /// from the moment this returns another node may reconcile.
    pub async fn resign(&self) {
        self.role.send_replace(false);
        // Whoever released first stopped the tasks; revoking again is idempotent (a lease
        // already revoked is "not found"), and waiting for it is the point here.
        self.released.store(true, Ordering::Release);
        for task in &self.tasks {
            task.abort();
        }
        tracing::info!(id = %self.id, lease = self.lease, "resigning the leadership");
        revoke_now(&self.client, self.lease).await;
    }
}

/// Renews the lease every third of its TTL; marks the role lost when etcd says the lease is
/// gone, or when no renewal succeeded for a whole TTL (this node may be cut from the majority,
/// and another may already lead).
async fn keep_alive(client: Client, lease: i64, ttl: i64, lost: watch::Sender<bool>) {
    let period = Duration::from_millis((ttl as u64 * 1000) / 3);
    let ttl = Duration::from_secs(ttl as u64);
    let mut last_ok = Instant::now();
    loop {
        match client.lease_keep_alive(lease).await {
            Ok(left) if left > 0 => {
                last_ok = Instant::now();
                tokio::time::sleep(period).await;
            }
            Ok(_) => {
                tracing::warn!(
                    lease,
                    "the leadership lease expired or was revoked: stop reconciling"
                );
                let _ = lost.send(true);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot renew the leadership lease");
                if last_ok.elapsed() >= ttl {
                    let _ = lost.send(true);
                    return;
                }
                tokio::time::sleep(period.min(Duration::from_millis(500))).await;
            }
        }
    }
}

/// Marks the role lost when the election key goes (lease revoked, or deleted by hand).
async fn watch_key(client: Client, key: Vec<u8>, lost: watch::Sender<bool>) {
    loop {
        let result = async {
            let resp = client.range(&Range::key(key.clone())).await?;
            if resp.kvs.is_empty() {
                return Ok::<bool, EtcdError>(true);
            }
            let mut stream = client
                .watch(&Range::key(key.clone()), resp.header.revision + 1)
                .await?;
            while let Some(msg) = stream.message().await? {
                if msg.events.iter().any(|e| e.kind == EventKind::Delete) {
                    return Ok(true);
                }
                if msg.canceled {
                    break;
                }
            }
            Ok(false)
        }
        .await;
        match result {
            Ok(true) => {
                tracing::warn!("the leadership key was deleted: stop reconciling");
                let _ = lost.send(true);
                return;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(error = %e, "the watch on the leadership key broke; watching again")
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
