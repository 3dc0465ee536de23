//! When a wait is over: the one rule the embedded engine and a gateway's console both apply to
//! each view of the cluster they wait for.

use super::api::{ClusterView, WaitFor};
use super::error::EngineError;
use crate::store::ClusterPhase;

/// Whether `view` is where `target` wants it (`Some(Ok)`), can never get there (`Some(Err)`),
/// or not yet (`None`).
///
/// `commands_done`: every command queued before this view was taken has been applied (the
/// waiter ran the reconcilers' pass itself). Only then does an Aborted cluster prove it will
/// never be deleted — a `cluster delete` queued a moment ago leaves it Aborted until the next
/// pass takes it up.
pub fn reached(
    view: &ClusterView,
    target: WaitFor,
    commands_done: bool,
) -> Option<Result<ClusterView, EngineError>> {
    let failed = |reason: Option<String>| EngineError::ClusterFailed {
        cluster: view.name.clone(),
        reason: reason.unwrap_or_else(|| "no reason recorded".into()),
    };
    let settled = view.observed_generation >= view.spec_generation;
    match (target, view.phase) {
        (WaitFor::Deleted, ClusterPhase::Deleted) => Some(Ok(view.clone())),
        // Aborted is final until someone deletes the cluster: waiting would never end.
        (WaitFor::Deleted, ClusterPhase::Aborted) if commands_done => {
            Some(Err(EngineError::NeverDeleted {
                cluster: view.name.clone(),
                phase: view.phase.to_string(),
            }))
        }
        (WaitFor::Running, ClusterPhase::Running) if settled => Some(Ok(view.clone())),
        (WaitFor::Running, ClusterPhase::Failed) if settled => {
            Some(Err(failed(view.reason.clone())))
        }
        (WaitFor::Running, ClusterPhase::Aborted | ClusterPhase::Deleted) => {
            Some(Err(failed(Some(format!("it was {}", view.phase)))))
        }
        (
            WaitFor::Settled,
            ClusterPhase::Running
            | ClusterPhase::Failed
            | ClusterPhase::Aborted
            | ClusterPhase::Deleted,
        ) if settled => Some(Ok(view.clone())),
        _ => None,
    }
}
