//! Running the reconcilers on whichever node is elected: campaign, take over like an engine
//! taking the lock, drive passes, and stop at once when the role is lost.

use super::election::Candidate;
use super::error::HaError;
use crate::engine::{Engine, EngineConfig};
use crate::gateway::driver::drive;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Pause after a takeover that failed (the store unreachable), before campaigning again.
const RETRY: Duration = Duration::from_secs(2);
/// Pause before campaigning again after a campaign request ended without a result: short, as
/// it bounds how long a dead leader's role stays unclaimed beyond its lease.
const CAMPAIGN_RETRY: Duration = Duration::from_millis(200);

/// The tables whose rows, written by another node, give the engine work: the command queue
/// (deletes, aborts, scales submitted through a follower's console) and the clusters with
/// their specs (creates and spec changes). Entries touching only the journal, consoles or
/// nodes do not wake it.
const ENGINE_INPUTS: &[&str] = &["commands", "clusters"];

/// Runs the reconcilers of `store` on this node whenever `candidate` is the elected leader,
/// until `stop` turns true. `wake` triggers a pass at once (a console submitted a change).
/// While leading, `wake` is also signalled when this node's copy applies another node's
/// change to [`ENGINE_INPUTS`], so a request made through a follower starts a pass at once.
///
/// A lost role aborts the pass in progress instead of letting it finish: another node may
/// already reconcile, and an aborted pass is exactly the crash the engine's intent journal is
/// built for. A requested stop (the gateway shutting down, or draining for an upgrade) lets the
/// pass finish, then resigns and *waits* for etcd to confirm before returning: the process may
/// be replaced right after (an upgrade re-executes it), and the next node must be elected at
/// once rather than after the lease's TTL. A node stopped while campaigning withdraws its
/// campaign the same way.
pub async fn lead(
    candidate: &Candidate,
    store: Store,
    config: EngineConfig,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), HaError> {
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let mut stopping = stop.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let leadership = match candidate.campaign_until(stopped).await {
            Ok(Some(leadership)) => leadership,
            Ok(None) => return Ok(()),
            Err(e) => {
                // A campaign is one long etcd request, cut by the client's request timeout
                // while another node leads, and failing while etcd is unreachable: neither
                // may end this node's candidacy, or a later leader's death goes unnoticed.
                tracing::debug!(error = %e, "campaign interrupted; campaigning again");
                tokio::select! {
                    _ = tokio::time::sleep(CAMPAIGN_RETRY) => {}
                    _ = stop.changed() => return Ok(()),
                }
                continue;
            }
        };
        let lost = leadership.lost_signal();
        let resigner = leadership.resigner();
        let (s, c) = (store.clone(), config.clone());
        // The takeover writes the store, which blocks on etcd: off the async workers.
        let started =
            tokio::task::spawn_blocking(move || Engine::start_elected(s, c, leadership)).await;
        let engine = match started {
            Ok(Ok(engine)) => Arc::new(engine),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not take over the reconcilers; campaigning again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "the takeover stopped; campaigning again");
                continue;
            }
        };
        let interval = engine.config().poll_interval;
        // Held only while leading: a follower applying the leader's own writes wakes nothing,
        // and the leader's writes are committed locally, never applied back. Registered after
        // the takeover: anything applied before it is seen by the first pass, which starts now.
        let woken = Arc::clone(&wake);
        let _requests = store.on_applied(ENGINE_INPUTS, move || woken.notify_one());
        let (stop_driver, driver_stop) = watch::channel(false);
        let mut driver = tokio::spawn(drive(engine, interval, Arc::clone(&wake), driver_stop));
        tokio::select! {
            _ = lost => {
                driver.abort();
                let _ = driver.await;
                tracing::warn!(id = candidate.id(), "lost the leadership: stopped reconciling");
            }
            _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                let _ = stop_driver.send(true);
                let _ = driver.await;
                resigner.resign().await;
                return Ok(());
            }
            _ = &mut driver => {
                tracing::warn!("the reconciler loop ended; campaigning again");
            }
        }
    }
}
