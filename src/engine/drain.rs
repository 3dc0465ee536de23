//! The drain step of a release: before a machine retired from a running cluster (scale down,
//! a rolling replacement) goes back to MAAS, its Kubernetes node is cordoned, its pods evicted
//! and the Node deleted ([`super::probe::KubeProbe::drain`]), one call per pass.
//!
//! A machine whose node never joined (the cluster has no API yet, or Kubernetes does not know
//! the node) or whose cluster API does not answer is released without a drain, and an event
//! says so. A drain that does not finish within [`EngineConfig::drain_timeout`] gives up with
//! a warning and the machine is released anyway: a stuck PodDisruptionBudget must not hold a
//! resize forever. Delete and abort never come here: the whole cluster goes.
//!
//! [`EngineConfig::drain_timeout`]: super::EngineConfig::drain_timeout

use super::core::Engine;
use super::error::EngineError;
use super::probe::{DrainProgress, ProbeError, ProbeTarget};
use super::reconcile::Pass;
use super::status::{machine_state as ms, DrainRecord};
use crate::store::{EventLevel, MachineRow, NewEvent};
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use serde_json::json;
use std::collections::BTreeMap;

const SOURCE: &str = "reconciler";

/// What to do with one retiring machine after this pass's drain call.
enum Verdict {
    Release,
    Wait,
}

/// Forgets the per-machine records (drains, etcd removals) of machines not in `machines`;
/// says whether any went, so the pass knows to save its status.
pub(super) fn keep_only<V>(records: &mut BTreeMap<String, V>, machines: &[&str]) -> bool {
    let before = records.len();
    records.retain(|sid, _| machines.contains(&sid.as_str()));
    records.len() != before
}

/// Marks the machine's drain over, so a release MAAS refuses is retried without draining or
/// journaling again. The record goes once the machine is no longer retiring.
fn finish(p: &mut Pass, row: &MachineRow) {
    let record = p
        .status
        .drains
        .entry(row.system_id.clone())
        .or_insert_with(|| DrainRecord {
            node: row.hostname.clone().unwrap_or_default(),
            started: Utc::now(),
            attempts: 0,
            finished: true,
        });
    record.finished = true;
}

impl Engine {
    /// Of `going` (the rows this pass would release), drains the retiring machines' nodes
    /// first. Returns the rows that may be released now: failed and rejected machines (their
    /// deployment failed, no node to drain), and retiring ones whose drain finished, gave up,
    /// or is not possible. `target` is how to reach the cluster's API; `None` when it never had
    /// one (no secrets or no endpoint yet, or the API server never answered).
    pub(crate) async fn drain_before_release(
        &self,
        p: &mut Pass,
        going: Vec<MachineRow>,
        target: Option<&ProbeTarget>,
    ) -> Result<Vec<MachineRow>, EngineError> {
        let retiring: Vec<&str> = going
            .iter()
            .filter(|r| r.state == ms::RETIRING)
            .map(|r| r.system_id.as_str())
            .collect();
        // A drain record outlives its machine only if the machine left some other way
        // (released in MAAS behind our back, the cluster deleted): forget it.
        let mut changed = keep_only(&mut p.status.drains, &retiring);

        let (retiring, mut release): (Vec<MachineRow>, Vec<MachineRow>) =
            going.into_iter().partition(|r| {
                r.state == ms::RETIRING
                    && p.status
                        .drains
                        .get(&r.system_id)
                        .is_none_or(|d| d.in_progress())
            });
        let mut calls = Vec::new();
        for row in retiring {
            let skip = match (target, row.hostname.as_deref()) {
                (None, _) => Some(
                    "the cluster's Kubernetes API never answered, so no node joined".to_string(),
                ),
                (_, None) => Some("MAAS never named the machine, so no node joined".to_string()),
                (Some(_), Some(node)) => {
                    calls.push((row.clone(), node.to_string()));
                    None
                }
            };
            if let Some(why) = skip {
                self.drain_event(
                    p,
                    &row,
                    EventLevel::Info,
                    "skipped",
                    format!("not draining {}: {why}; releasing it", row.system_id),
                )?;
                finish(p, &row);
                changed = true;
                release.push(row);
            }
        }
        let answers: Vec<(MachineRow, String, Result<DrainProgress, ProbeError>)> = match target {
            Some(t) if !calls.is_empty() => {
                let probe = &p.acct.probe;
                stream::iter(calls)
                    .map(|(row, node)| async move {
                        let answer = probe.drain(t, &node).await;
                        (row, node, answer)
                    })
                    .buffer_unordered(self.config.concurrency.max(1))
                    .collect()
                    .await
            }
            _ => Vec::new(),
        };
        for (row, node, answer) in answers {
            changed = true;
            match self.judge(p, &row, &node, answer)? {
                Verdict::Release => {
                    finish(p, &row);
                    release.push(row);
                }
                Verdict::Wait => {}
            }
        }
        if changed {
            self.store.tx(|tx| p.save(tx))?;
        }
        Ok(release)
    }

    /// Records one drain call's answer (events, the drain record) and says whether the
    /// machine may go now.
    fn judge(
        &self,
        p: &mut Pass,
        row: &MachineRow,
        node: &str,
        answer: Result<DrainProgress, ProbeError>,
    ) -> Result<Verdict, EngineError> {
        let sid = &row.system_id;
        let record = p.status.drains.get(sid).cloned();
        let started = |this: &Self, p: &mut Pass| -> Result<DrainRecord, EngineError> {
            let r = DrainRecord {
                node: node.to_string(),
                started: Utc::now(),
                attempts: 0,
                finished: false,
            };
            this.drain_event(
                p,
                row,
                EventLevel::Info,
                "started",
                format!(
                    "draining Kubernetes node {node} ({sid}, pool {}): cordon, evict its pods, delete the Node, then release the machine",
                    row.pool
                ),
            )?;
            Ok(r)
        };
        match answer {
            Ok(DrainProgress::NotRegistered) if record.is_none() => {
                self.drain_event(
                    p,
                    row,
                    EventLevel::Info,
                    "skipped",
                    format!("not draining {sid}: Kubernetes has no node {node} (it never joined); releasing it"),
                )?;
                Ok(Verdict::Release)
            }
            Ok(DrainProgress::Drained | DrainProgress::NotRegistered) => {
                let r = match record {
                    Some(r) => r,
                    None => started(self, p)?,
                };
                self.drain_event(
                    p,
                    row,
                    EventLevel::Info,
                    "finished",
                    format!(
                        "drained Kubernetes node {node} ({sid}): its pods were evicted and the Node deleted ({} pass(es)); releasing the machine",
                        r.attempts + 1
                    ),
                )?;
                Ok(Verdict::Release)
            }
            Err(e) if record.is_none() => {
                self.drain_event(
                    p,
                    row,
                    EventLevel::Warn,
                    "skipped",
                    format!("cannot drain Kubernetes node {node} ({sid}): {e}; releasing the machine without a drain"),
                )?;
                Ok(Verdict::Release)
            }
            // Pending, or the API stopped answering mid-drain (a blip, an API server being
            // rolled): try again next pass, within the bound.
            other => {
                let mut r = match record {
                    Some(r) => r,
                    None => started(self, p)?,
                };
                r.attempts += 1;
                let how = match &other {
                    Ok(progress) => progress.describe(),
                    Err(e) => e.to_string(),
                };
                let elapsed = (Utc::now() - r.started).to_std().unwrap_or_default();
                let max_attempts = self.max_drain_attempts();
                if r.attempts >= max_attempts || elapsed >= self.config.drain_timeout {
                    self.drain_event(
                        p,
                        row,
                        EventLevel::Warn,
                        "gave_up",
                        format!(
                            "gave up draining Kubernetes node {node} ({sid}) after {} pass(es) and {}s (the bound is {max_attempts} passes or {}s): {how}; releasing the machine anyway, its pods are lost; look for a PodDisruptionBudget that allows no disruption",
                            r.attempts,
                            elapsed.as_secs(),
                            self.config.drain_timeout.as_secs()
                        ),
                    )?;
                    return Ok(Verdict::Release);
                }
                tracing::debug!(cluster = %p.id, node, attempts = r.attempts, how, "drain not finished yet");
                p.status.drains.insert(sid.clone(), r);
                Ok(Verdict::Wait)
            }
        }
    }

    /// Drain calls at most: one per pass for `drain_timeout` at the driver's pace.
    fn max_drain_attempts(&self) -> u32 {
        let per = self.config.poll_interval.as_secs_f64().max(0.001);
        (self.config.drain_timeout.as_secs_f64() / per)
            .ceil()
            .clamp(1.0, u32::MAX as f64) as u32
    }

    fn drain_event(
        &self,
        p: &Pass,
        row: &MachineRow,
        level: EventLevel,
        outcome: &str,
        message: String,
    ) -> Result<(), EngineError> {
        self.store.append_event(
            &NewEvent::new(level, SOURCE, message)
                .cluster(&p.id)
                .machine(&row.system_id)
                .detail(json!({
                    "op": "drain",
                    "outcome": outcome,
                    "node": row.hostname,
                    "pool": row.pool,
                })),
        )?;
        Ok(())
    }
}
