//! The etcd step of a control-plane node's release: after its drain and before its machine
//! goes back to MAAS, a control-plane node leaving a live cluster (scale down, a rolling
//! replacement) has its etcd member removed, as `etcdctl member remove` would. Without it
//! the released machine stays a member nobody answers for: a 3-member etcd scaled to 1 that
//! way keeps 3 members with 1 alive and loses quorum.
//!
//! * The engine lists the members through a control-plane node that stays
//!   ([`KubeProbe::etcd_members`]) and finds the leaving node's member by name (kubeadm names
//!   it after the node) or by a peer URL on the node's address; then removes it
//!   ([`KubeProbe::etcd_remove_member`]). A member already gone (removed by an earlier pass
//!   that crashed before recording it, or never joined) is success.
//! * Removals are one at a time, journaled as an `etcd_remove` intent before the call and
//!   recorded ([`EtcdRemovalRecord`]) in the transaction that closes it, with an event
//!   `etcd member NAME removed`. A crash in between leaves the record not done: the next pass
//!   lists again and finds the member gone.
//! * A failure (no remaining member answers, etcd refuses) keeps the machine: it is retried
//!   after a back-off of 1, 2, 4 … [`MAX_WAIT_PASSES`] passes, said in an event and in the
//!   task message. The last member is never removed.
//! * Delete and abort never come here: the whole cluster, etcd included, goes.
//!
//! [`KubeProbe::etcd_members`]: super::probe::KubeProbe::etcd_members
//! [`KubeProbe::etcd_remove_member`]: super::probe::KubeProbe::etcd_remove_member

pub(crate) mod gateway;

use super::core::Engine;
use super::error::EngineError;
use super::plan::parse_role;
use super::probe::{EtcdMember, EtcdTarget, MemberRemoval, ProbeError, ETCD_CLIENT_PORT};
use super::reconcile::Pass;
use super::secrets;
use super::status::{machine_state as ms, ClusterStatus, EtcdRemovalRecord};
use crate::maas::NodeStatus;
use crate::store::{EventLevel, MachineRow, NewEvent};
use serde_json::json;

const SOURCE: &str = "reconciler";

/// The longest back-off between two removal attempts, in passes.
pub(crate) const MAX_WAIT_PASSES: u32 = 32;

/// Passes to skip after the `failures`-th failed attempt: 1, 2, 4 … up to the cap.
fn backoff(failures: u32) -> u32 {
    1u32.checked_shl(failures.saturating_sub(1))
        .unwrap_or(MAX_WAIT_PASSES)
        .min(MAX_WAIT_PASSES)
}

/// Whether `row` is a control-plane machine (its node may be an etcd member).
fn is_control_plane(row: &MachineRow) -> bool {
    parse_role(&row.role).is_control_plane()
}

/// `https://ADDRESS:2379`, with brackets for IPv6.
fn client_url(ip: &str) -> String {
    if ip.contains(':') {
        format!("https://[{ip}]:{ETCD_CLIENT_PORT}")
    } else {
        format!("https://{ip}:{ETCD_CLIENT_PORT}")
    }
}

/// The machine's addresses, the one on the cluster's node subnet first: kubeadm's etcd
/// advertises (and listens on) the node's address on that subnet, and a machine with several
/// NICs lists the others too.
fn addresses(p: &Pass, row: &MachineRow) -> Vec<String> {
    let mut all: Vec<String> = p
        .maas
        .get(&row.system_id)
        .map(|m| m.ip_addresses.clone())
        .unwrap_or_default();
    if let Some(ip) = &row.ip {
        if !all.contains(ip) {
            all.push(ip.clone());
        }
    }
    subnet_first(all, p.status.node_subnet.as_deref())
}

/// `addresses` with those inside `subnet` (a CIDR) first, the others after, each group in
/// the order given.
fn subnet_first(mut all: Vec<String>, subnet: Option<&str>) -> Vec<String> {
    if let Some(net) = subnet.and_then(|c| c.parse::<ipnet::IpNet>().ok()) {
        all.sort_by_key(|a| {
            !a.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| net.contains(&ip))
        });
    }
    all
}

/// The task-message note of removals that failed and wait for their next attempt, if any.
pub(crate) fn pending_note(status: &ClusterStatus) -> Option<String> {
    let notes: Vec<String> = status
        .etcd_removals
        .values()
        .filter(|r| !r.done)
        .filter_map(|r| {
            r.last_error.as_ref().map(|e| {
                format!(
                    "etcd member {} not removed yet (attempt {} failed: {e}; next try in {} pass(es)); its machine is kept until it is",
                    r.node,
                    r.failures,
                    r.wait_passes + 1
                )
            })
        })
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// `row`'s removal record, made on first use and named after its node.
fn removal_record<'a>(p: &'a mut Pass, row: &MachineRow) -> &'a mut EtcdRemovalRecord {
    p.status
        .etcd_removals
        .entry(row.system_id.clone())
        .or_insert_with(|| EtcdRemovalRecord {
            node: row.hostname.clone().unwrap_or_default(),
            ..Default::default()
        })
}

/// Records `row`'s node out of etcd (its machine may go): not to be tried again.
fn record_left(p: &mut Pass, row: &MachineRow) {
    let record = removal_record(p, row);
    record.done = true;
    record.last_error = None;
}

/// What one attempt concluded for one machine.
enum Outcome {
    /// Out of etcd: release it.
    Left,
    /// Still a member (or unknown): keep it.
    Kept,
}

impl Engine {
    /// Of `going` (the rows this pass would release, drains done), removes the etcd members
    /// of the leaving control-plane machines, one at a time. Returns the rows that may be
    /// released now: every row that is not a retiring control-plane machine, and those whose
    /// member is out of etcd.
    pub(crate) async fn leave_etcd_before_release(
        &self,
        p: &mut Pass,
        going: Vec<MachineRow>,
    ) -> Result<Vec<MachineRow>, EngineError> {
        let (leaving, mut release): (Vec<MachineRow>, Vec<MachineRow>) = going
            .into_iter()
            .partition(|r| r.state == ms::RETIRING && is_control_plane(r));
        if leaving.is_empty() {
            return Ok(release);
        }
        let rows = self.store.read(|r| r.machines(&p.id, false))?;
        // A removal record outlives its machine only if the machine left some other way.
        let retiring: Vec<&str> = rows
            .iter()
            .filter(|r| r.state == ms::RETIRING)
            .map(|r| r.system_id.as_str())
            .collect();
        let mut changed = super::drain::keep_only(&mut p.status.etcd_removals, &retiring);
        let mut target: Option<EtcdTarget> = None;
        for row in leaving {
            let node = row.hostname.clone().unwrap_or_default();
            let record = removal_record(p, &row);
            if record.done {
                release.push(row);
                continue;
            }
            if record.wait_passes > 0 {
                record.wait_passes -= 1;
                changed = true;
                continue;
            }
            changed = true;
            if let Some(why) = self.no_member_possible(p, &row) {
                let event = self.etcd_new_event(
                    p,
                    &row,
                    EventLevel::Info,
                    "skipped",
                    None,
                    format!(
                        "not removing an etcd member for {node} ({}): {why}",
                        row.system_id
                    ),
                );
                self.mark_left(p, &row, &event)?;
                release.push(row);
                continue;
            }
            if target.is_none() {
                target = Some(self.etcd_target(p, &rows)?);
            }
            let Some(t) = target.as_ref() else {
                continue;
            };
            match self.remove_member(p, &row, t).await? {
                Outcome::Left => release.push(row),
                Outcome::Kept => {}
            }
        }
        if changed {
            self.store.tx(|tx| p.save(tx))?;
        }
        Ok(release)
    }

    /// Why `row`'s node cannot be an etcd member, if it cannot: the cluster never had a
    /// working control plane, or the machine was never deployed.
    fn no_member_possible(&self, p: &Pass, row: &MachineRow) -> Option<String> {
        if !p.status.initialized {
            return Some(
                "the cluster's API server never answered, so its etcd never formed".into(),
            );
        }
        match p.maas.get(&row.system_id).map(|m| m.status) {
            Some(NodeStatus::Allocated) => {
                Some("the machine was never deployed, so its node never joined etcd".into())
            }
            _ if row.hostname.is_none() => {
                Some("MAAS never named the machine, so no node joined".into())
            }
            _ => None,
        }
    }

    /// How to reach etcd: the control-plane nodes that stay (deployed, not leaving), the etcd
    /// CA and a fresh client certificate from it.
    fn etcd_target(&self, p: &Pass, rows: &[MachineRow]) -> Result<EtcdTarget, EngineError> {
        let endpoints = rows
            .iter()
            .filter(|r| r.state == ms::DEPLOYED && is_control_plane(r))
            .filter_map(|r| addresses(p, r).into_iter().next())
            .map(|ip| client_url(&ip))
            .collect();
        let secrets = secrets::load(&self.config.state_dir, &p.id)?.ok_or_else(|| {
            EngineError::Other(format!(
                "cluster {} has no bootstrap secrets in {}: without its etcd CA its control-plane nodes cannot leave etcd; restore the secrets file from a backup",
                p.spec.name(),
                self.config.state_dir.display()
            ))
        })?;
        let client =
            secrets
                .issue_etcd_client_certificate()
                .map_err(|source| EngineError::Bootstrap {
                    cluster: p.spec.name().to_string(),
                    source,
                })?;
        Ok(EtcdTarget {
            cluster: p.id.clone(),
            endpoints,
            ca_pem: secrets.etcd_ca.cert_pem.clone(),
            client_cert_pem: client.cert_pem,
            client_key_pem: client.key_pem,
        })
    }

    /// One attempt for one machine: list, find its member, remove it (journaled).
    async fn remove_member(
        &self,
        p: &mut Pass,
        row: &MachineRow,
        target: &EtcdTarget,
    ) -> Result<Outcome, EngineError> {
        let node = row.hostname.clone().unwrap_or_default();
        if target.endpoints.is_empty() {
            let e = ProbeError {
                target: target.describe(),
                detail: "no control-plane node that stays is deployed with an address to reach etcd through".into(),
            };
            return self.failed(p, row, e.to_string());
        }
        let members = match p.acct.probe.etcd_members(target).await {
            Ok(m) => m,
            Err(e) => return self.failed(p, row, e.to_string()),
        };
        let ips = addresses(p, row);
        let found = members
            .iter()
            .find(|m| m.is_node(&node, None) || ips.iter().any(|ip| m.is_node(&node, Some(ip))));
        let Some(member) = found.cloned() else {
            let event = self.etcd_new_event(
                p,
                row,
                EventLevel::Info,
                "absent",
                None,
                format!(
                    "{node} ({}) is not an etcd member (it never joined, or was removed already); releasing the machine",
                    row.system_id
                ),
            );
            self.mark_left(p, row, &event)?;
            return Ok(Outcome::Left);
        };
        if members.len() <= 1 {
            return self.failed(
                p,
                row,
                format!(
                    "etcd member {} is the last one: removing it would end the cluster's data; the control-plane nodes that stay never joined etcd",
                    member.label()
                ),
            );
        }
        let intent = self.store.begin_intent(
            &p.id,
            "etcd_remove",
            &row.system_id,
            &json!({"member": format!("{:x}", member.id), "name": member.name}),
        )?;
        self.checkpoint("etcd_remove: journaled")?;
        let answer = p.acct.probe.etcd_remove_member(target, member.id).await;
        self.checkpoint("etcd_remove: answered")?;
        match answer {
            Ok(outcome) => {
                record_left(p, row);
                let message = match outcome {
                    MemberRemoval::Removed => format!(
                        "etcd member {node} removed (id {:x}, {} member(s) left); releasing {}",
                        member.id,
                        members.len() - 1,
                        row.system_id
                    ),
                    MemberRemoval::NotFound => format!(
                        "etcd member {node} removed (id {:x}, gone already when asked); releasing {}",
                        member.id, row.system_id
                    ),
                };
                let event = self.etcd_new_event(
                    p,
                    row,
                    EventLevel::Info,
                    "removed",
                    Some(&member),
                    message,
                );
                self.store.tx(|tx| {
                    p.save(tx)?;
                    tx.complete_intent(intent, &json!({"applied": true}))?;
                    tx.append_event(&event)?;
                    Ok::<_, EngineError>(())
                })?;
                Ok(Outcome::Left)
            }
            Err(e) => {
                // Maybe applied (an answer lost): the next attempt lists again and finds out.
                self.store.complete_intent(
                    intent,
                    &json!({"applied": "unknown", "why": e.to_string(), "resolved_by": "the next attempt lists the members again"}),
                )?;
                self.failed(p, row, e.to_string())
            }
        }
    }

    /// Records a failed attempt: back-off, an event, the machine kept.
    fn failed(&self, p: &mut Pass, row: &MachineRow, why: String) -> Result<Outcome, EngineError> {
        let node = row.hostname.clone().unwrap_or_default();
        let record = removal_record(p, row);
        record.failures += 1;
        record.wait_passes = backoff(record.failures);
        record.last_error = Some(why.clone());
        let (failures, wait) = (record.failures, record.wait_passes);
        tracing::warn!(cluster = %p.id, node, failures, error = %why, "etcd member removal failed");
        self.etcd_event(
            p,
            row,
            EventLevel::Warn,
            "failed",
            None,
            format!(
                "cannot remove the etcd member of {node} ({}), attempt {failures}: {why}; keeping the machine and trying again in {} pass(es)",
                row.system_id,
                wait + 1
            ),
        )?;
        Ok(Outcome::Kept)
    }

    /// Records `row`'s node out of etcd without a removal, with `event` saying why, in one
    /// transaction.
    fn mark_left(
        &self,
        p: &mut Pass,
        row: &MachineRow,
        event: &NewEvent,
    ) -> Result<(), EngineError> {
        record_left(p, row);
        self.store.tx(|tx| {
            p.save(tx)?;
            tx.append_event(event)?;
            Ok::<_, EngineError>(())
        })
    }

    fn etcd_new_event(
        &self,
        p: &Pass,
        row: &MachineRow,
        level: EventLevel,
        outcome: &str,
        member: Option<&EtcdMember>,
        message: String,
    ) -> NewEvent {
        NewEvent::new(level, SOURCE, message)
            .cluster(&p.id)
            .machine(&row.system_id)
            .detail(json!({
                "op": "etcd_remove",
                "outcome": outcome,
                "node": row.hostname,
                "pool": row.pool,
                "member": member.map(|m| format!("{:x}", m.id)),
            }))
    }

    fn etcd_event(
        &self,
        p: &Pass,
        row: &MachineRow,
        level: EventLevel,
        outcome: &str,
        member: Option<&EtcdMember>,
        message: String,
    ) -> Result<(), EngineError> {
        let event = self.etcd_new_event(p, row, level, outcome, member, message);
        self.store.append_event(&event)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let waits: Vec<u32> = (1..=8).map(backoff).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(backoff(200), MAX_WAIT_PASSES);
    }

    #[test]
    fn the_node_subnet_address_comes_first() {
        let all = vec![
            "192.168.5.7".to_string(),
            "10.20.0.11".into(),
            "10.20.0.12".into(),
        ];
        assert_eq!(
            subnet_first(all.clone(), Some("10.20.0.0/24")),
            ["10.20.0.11", "10.20.0.12", "192.168.5.7"]
        );
        assert_eq!(subnet_first(all.clone(), None), all);
        assert_eq!(subnet_first(all.clone(), Some("not a cidr")), all);
    }

    #[test]
    fn client_urls_bracket_ipv6() {
        assert_eq!(client_url("10.0.0.5"), "https://10.0.0.5:2379");
        assert_eq!(client_url("fd00::5"), "https://[fd00::5]:2379");
    }

    #[test]
    fn only_failed_removals_make_a_note() {
        let mut s = ClusterStatus::default();
        assert_eq!(pending_note(&s), None);
        s.etcd_removals.insert(
            "a".into(),
            EtcdRemovalRecord {
                node: "cp-2".into(),
                done: false,
                failures: 2,
                wait_passes: 1,
                last_error: Some("HTTP 503".into()),
            },
        );
        s.etcd_removals.insert(
            "b".into(),
            EtcdRemovalRecord {
                node: "cp-3".into(),
                done: true,
                ..Default::default()
            },
        );
        let note = pending_note(&s).unwrap();
        assert!(note.contains("cp-2") && note.contains("HTTP 503"), "{note}");
        assert!(!note.contains("cp-3"), "{note}");
    }
}
