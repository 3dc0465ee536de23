//! Electing the gateway node that runs the reconcilers: etcd's election API on a lease. The
//! elected node holds the role while its lease lives; a node that dies stops renewing and the
//! lease expires after its TTL, when the next candidate is elected. A leader that loses its
//! lease (cut from the etcd majority, lease revoked, key deleted) is told through
//! [`Leadership::lost`] and must stop reconciling at once; the new leader takes over as after
//! taking the engine lock (interrupted tasks resume, claimed commands requeue, open intents are
//! resolved against MAAS), which is safe whatever the old leader was doing.

use super::config::EtcdConfig;
use super::error::HaError;
use etcd_client::{Client, EventType};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One node competing for leadership.
pub struct Candidate {
    client: Client,
    election: String,
    id: String,
    ttl: i64,
    endpoints: String,
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
        })
    }

    fn err(&self, what: &'static str, e: etcd_client::Error) -> HaError {
        HaError::Etcd {
            endpoints: self.endpoints.clone(),
            what,
            detail: e.to_string(),
        }
    }

    /// Waits until this node is elected. Cancel-safe: dropping the future abandons the
    /// campaign and revokes its lease.
    pub async fn campaign(&self) -> Result<Leadership, HaError> {
        let mut lease_client = self.client.lease_client();
        let lease = lease_client
            .grant(self.ttl, None)
            .await
            .map_err(|e| self.err("taking a lease", e))?
            .id();
        let (lost_tx, lost) = watch::channel(false);
        let mut pending = Pending {
            client: self.client.clone(),
            lease,
            tasks: vec![tokio::spawn(keep_alive(
                self.client.clone(),
                lease,
                self.ttl,
                lost_tx.clone(),
            ))],
        };
        let mut election = self.client.election_client();
        let resp = election
            .campaign(self.election.clone(), self.id.clone(), lease)
            .await
            .map_err(|e| self.err("campaigning for leadership", e))?;
        let key = resp
            .leader()
            .map(|l| l.key().to_vec())
            .ok_or_else(|| HaError::Etcd {
                endpoints: self.endpoints.clone(),
                what: "campaigning for leadership",
                detail: "etcd answered without a leader key".to_string(),
            })?;
        pending
            .tasks
            .push(tokio::spawn(watch_key(self.client.clone(), key, lost_tx)));
        tracing::info!(id = %self.id, lease, "elected leader: running the reconcilers here");
        Ok(pending.into_leadership(self.id.clone(), lost))
    }

    /// This candidate's name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The current leader's name, if any.
    pub async fn leader(&self) -> Result<Option<String>, HaError> {
        let mut election = self.client.election_client();
        match election.leader(self.election.clone()).await {
            Ok(resp) => Ok(resp
                .kv()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned())),
            // etcd answers "election: no leader" as an error.
            Err(e) if e.to_string().contains("no leader") => Ok(None),
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
}

impl Pending {
    fn into_leadership(mut self, id: String, lost: watch::Receiver<bool>) -> Leadership {
        let tasks = std::mem::take(&mut self.tasks);
        let lease = self.lease;
        self.lease = 0;
        Leadership {
            id,
            lease,
            lost,
            tasks,
            client: self.client.clone(),
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
        tracing::info!(id = %self.id, "leaving leadership");
        release(&self.client, self.lease, &self.tasks);
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
        let mut lease_client = client.lease_client();
        handle.spawn(async move {
            if let Err(e) = lease_client.revoke(lease).await {
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

/// Renews the lease every third of its TTL; marks the role lost when etcd says the lease is
/// gone, or when no renewal succeeded for a whole TTL (this node may be cut from the majority,
/// and another may already lead).
async fn keep_alive(client: Client, lease: i64, ttl: i64, lost: watch::Sender<bool>) {
    let period = Duration::from_millis((ttl as u64 * 1000) / 3);
    let ttl = Duration::from_secs(ttl as u64);
    let mut last_ok = Instant::now();
    loop {
        let mut lease_client = client.lease_client();
        let result = async {
            let (mut keeper, mut stream) = lease_client.keep_alive(lease).await?;
            loop {
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(resp) if resp.ttl() > 0 => last_ok = Instant::now(),
                    _ => return Ok::<bool, etcd_client::Error>(false),
                }
                tokio::time::sleep(period).await;
            }
        }
        .await;
        match result {
            Ok(false) => {
                tracing::warn!(
                    lease,
                    "the leadership lease expired or was revoked: stop reconciling"
                );
                let _ = lost.send(true);
                return;
            }
            Ok(true) => {}
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
        let mut kv = client.kv_client();
        let mut watch = client.watch_client();
        let result = async {
            let resp = kv.get(key.clone(), None).await?;
            if resp.kvs().is_empty() {
                return Ok::<bool, etcd_client::Error>(true);
            }
            let revision = resp.header().map_or(0, |h| h.revision());
            let mut stream = watch
                .watch(
                    key.clone(),
                    Some(etcd_client::WatchOptions::new().with_start_revision(revision + 1)),
                )
                .await?;
            while let Some(msg) = stream.message().await? {
                if msg
                    .events()
                    .iter()
                    .any(|e| e.event_type() == EventType::Delete)
                {
                    return Ok(true);
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
