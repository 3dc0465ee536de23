//! Following the log: a thread per replicated store that applies what other nodes append as
//! soon as the log says it moved, and stores a snapshot every so many entries.

use super::log::ReplicaLog;
use super::Replica;
use crate::store::{Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest a follower waits without news before checking the log anyway: a missed
/// notification (a watch that reconnected) costs at most this much delay.
const POLL: Duration = Duration::from_secs(1);

/// The pause after a failed catch-up (etcd unreachable, divergence), so a follower that cannot
/// progress logs once a second instead of spinning.
const BACKOFF: Duration = Duration::from_millis(500);

/// A running follower; dropping it stops the thread.
pub struct Follower {
    stop: Arc<AtomicBool>,
    log: Arc<dyn ReplicaLog>,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("stopped", &self.stop.load(Ordering::Relaxed))
            .finish()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.log.wake();
    }
}

impl Store {
    /// Starts applying other nodes' writes to this copy as they are appended, until the
    /// returned [`Follower`] is dropped. `None` for a standalone store: nothing to follow.
    pub fn follow(&self) -> Result<Option<Follower>, StoreError> {
        let Some(replica) = self.replica() else {
            return Ok(None);
        };
        let stop = Arc::new(AtomicBool::new(false));
        let follower = Follower {
            stop: Arc::clone(&stop),
            log: Arc::clone(&replica.log),
        };
        let store = self.clone();
        let replica = Arc::clone(replica);
        std::thread::Builder::new()
            .name("kubemaas-follow".to_string())
            .spawn(move || run(store, replica, stop))
            .map_err(|e| StoreError::Invalid {
                what: "log follower",
                reason: format!("cannot start its thread: {e} (the system is out of threads or memory; stop some processes and retry)"),
            })?;
        Ok(Some(follower))
    }
}

fn run(store: Store, replica: Arc<Replica>, stop: Arc<AtomicBool>) {
    let mut last_snapshot: Option<u64> = None;
    while !stop.load(Ordering::Acquire) {
        match step(&store, &replica, &mut last_snapshot) {
            Ok(()) => {
                replica.log.wait_beyond(store.applied_seq(), POLL);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot apply the replicated state log here; retrying");
                // u64::MAX: only a wake (the follower stopping) or the pause ends this wait.
                replica.log.wait_beyond(u64::MAX, BACKOFF);
            }
        }
    }
    tracing::debug!("log follower stopped");
}

fn step(
    store: &Store,
    replica: &Replica,
    last_snapshot: &mut Option<u64>,
) -> Result<(), StoreError> {
    store.catch_up()?;
    let every = replica.options.snapshot_every.max(1);
    let applied = store.applied_seq();
    let known = match *last_snapshot {
        Some(seq) => seq,
        None => {
            let seq = replica.log.snapshot_seq()?.unwrap_or(0);
            *last_snapshot = Some(seq);
            seq
        }
    };
    if applied >= known + every {
        // Another node may have stored one meanwhile: ask before serialising the database.
        let latest = replica.log.snapshot_seq()?.unwrap_or(0);
        *last_snapshot = Some(if applied >= latest + every {
            store.snapshot_to_log()?
        } else {
            latest
        });
    }
    Ok(())
}
