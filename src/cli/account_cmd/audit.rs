//! `kubemaas account audit NAME`: every machine kubemaas holds in an account's MAAS, which
//! cluster it belongs to according to the store, and the ones no live cluster claims.
//!
//! MAAS marks a machine as kubemaas's in two ways, and they differ in what MAAS lets us read:
//! * owner data (`kubemaas-cluster=<cluster>`) is in the machine JSON, so one listing shows it;
//! * `agent_name` (`kubemaas:<cluster>`, or the store's owner tag `kubemaas-<id>`) is NOT in the
//!   machine JSON — MAAS only filters on it, exactly. So the audit asks MAAS once per agent name
//!   it can name: those of every cluster the store has known for the account (deleted ones
//!   included: that is where leaks come from) plus any the operator passes.
//!
//! A machine owned by the account's MAAS user, taken (not Ready) and neither marked nor held by
//! the store is reported too ("unaccounted"): it may carry an agent name nobody can guess.

use crate::maas::{Machine, NodeStatus};
use crate::store::{ClusterRow, MachineRow};
use serde::Serialize;
use std::collections::BTreeMap;

/// The owner-data key kubemaas stamps on the machines it takes.
pub const OWNER_DATA_KEY: &str = "kubemaas-cluster";
/// How a mark naming a cluster the store never had is shown in the CLUSTER column.
const UNKNOWN_TO_STORE: &str = " (unknown to this store)";
/// The agent-name prefix kubemaas uses: `kubemaas:<cluster>`.
pub const AGENT_NAME_PREFIX: &str = "kubemaas:";

/// What the audit concludes about one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A live cluster in the store holds it, and MAAS agrees.
    Held,
    /// Held by one cluster in the store, while MAAS marks it for another.
    Mismatched,
    /// Held in the store, but MAAS has it free, owned by someone else, or not at all.
    Vanished,
    /// Marked as kubemaas's in MAAS, and no live cluster holds it: leaked.
    Orphan,
    /// Taken by this account's MAAS user with no mark MAAS shows and unknown to the store.
    Unaccounted,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Held => "held",
            Verdict::Mismatched => "mismatched",
            Verdict::Vanished => "vanished",
            Verdict::Orphan => "orphan",
            Verdict::Unaccounted => "unaccounted",
        }
    }

    /// No live cluster claims the machine: it should go back to MAAS.
    pub fn is_unclaimed(self) -> bool {
        matches!(self, Verdict::Orphan | Verdict::Unaccounted)
    }
}

/// One machine in the audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub system_id: String,
    pub hostname: String,
    /// MAAS's status label, or `absent from MAAS`.
    pub status: String,
    pub owner: Option<String>,
    /// The marks MAAS has: `agent_name=kubemaas:x`, `owner_data kubemaas-cluster=x`.
    pub markers: Vec<String>,
    /// The cluster the store says holds it (`name (id)`), or the one its marks name.
    pub cluster: Option<String>,
    pub verdict: Verdict,
    /// `op=release` would be accepted in this status.
    #[serde(skip)]
    pub releasable: bool,
}

/// Everything the audit found for one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    pub account: String,
    pub endpoint: String,
    /// The MAAS user the account's key belongs to.
    pub maas_user: String,
    /// The agent names MAAS was asked about.
    pub agent_names_checked: Vec<String>,
    pub machines: Vec<AuditRow>,
    /// The machines no live cluster claims that MAAS would release now.
    pub unclaimed: Vec<String>,
    /// The command that releases them, when there are any.
    pub release_command: Option<String>,
}

/// The agent names to ask MAAS about for these clusters (the store's, for one account), plus
/// `extra` from the operator, without repeats.
pub fn agent_names_to_probe(clusters: &[ClusterRow], extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for c in clusters {
        for name in [
            format!("{AGENT_NAME_PREFIX}{}", c.id),
            format!("{AGENT_NAME_PREFIX}{}", c.name),
            c.id.owner_tag(),
        ] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    for name in extra {
        let name = name.trim().to_string();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The cluster a kubemaas mark points at: `kubemaas:x` / `kubemaas-x` → `x`.
fn cluster_key(mark: &str) -> &str {
    mark.strip_prefix(AGENT_NAME_PREFIX)
        .or_else(|| mark.strip_prefix(crate::store::OWNER_TAG_PREFIX))
        .unwrap_or(mark)
}

/// `name (id)`, with `, deleted` for a deleted cluster.
fn label(c: &ClusterRow) -> String {
    if c.is_deleted() {
        format!("{} ({}, deleted)", c.name, c.id)
    } else {
        format!("{} ({})", c.name, c.id)
    }
}

/// What the audit works from, all already fetched.
pub struct AuditInput<'a> {
    /// Every machine MAAS lists for the key.
    pub machines: &'a [Machine],
    /// system_id → the agent names MAAS matched it with.
    pub agent_names: &'a BTreeMap<String, Vec<String>>,
    /// The account's clusters in the store, deleted ones included.
    pub clusters: &'a [ClusterRow],
    /// The machines the store holds for those clusters.
    pub held: &'a [MachineRow],
    /// The MAAS user of the account's key.
    pub maas_user: &'a str,
}

/// Classifies every relevant machine. Pure, so the rules are tested without MAAS.
pub fn classify(input: &AuditInput<'_>) -> Vec<AuditRow> {
    let cluster_by_id: BTreeMap<&str, &ClusterRow> =
        input.clusters.iter().map(|c| (c.id.as_str(), c)).collect();
    // A mark names a cluster by id or by name; a name may have been reused, so prefer the
    // live cluster of that name.
    let resolve = |key: &str| -> Option<&ClusterRow> {
        cluster_by_id.get(key).copied().or_else(|| {
            let mut named: Vec<&ClusterRow> =
                input.clusters.iter().filter(|c| c.name == key).collect();
            named.sort_by_key(|c| c.is_deleted());
            named.first().copied()
        })
    };
    let held_by_id: BTreeMap<&str, &MachineRow> = input
        .held
        .iter()
        .map(|m| (m.system_id.as_str(), m))
        .collect();
    let mut rows = Vec::new();
    for m in input.machines {
        let holder = held_by_id.get(m.system_id.as_str()).copied();
        // Machines on their way back to MAAS need nothing more from anyone.
        if holder.is_none() && matches!(m.status, NodeStatus::Releasing | NodeStatus::DiskErasing) {
            continue;
        }
        let mut markers = Vec::new();
        let mut keys = Vec::new();
        for name in input.agent_names.get(&m.system_id).into_iter().flatten() {
            markers.push(format!("agent_name={name}"));
            keys.push(cluster_key(name).to_string());
        }
        for (k, v) in &m.owner_data {
            if k == OWNER_DATA_KEY || k.starts_with("kubemaas") {
                markers.push(format!("owner_data {k}={v}"));
                keys.push(cluster_key(v).to_string());
            }
        }
        let owned_by_us = m.owner.as_deref() == Some(input.maas_user) && m.status.is_owned();
        let holder_cluster = holder.and_then(|h| cluster_by_id.get(h.cluster.as_str()).copied());
        let marked_clusters: Vec<&ClusterRow> = keys.iter().filter_map(|k| resolve(k)).collect();
        let (verdict, cluster) = match holder {
            Some(h) => {
                let cluster = holder_cluster
                    .map(label)
                    .unwrap_or_else(|| h.cluster.to_string());
                let elsewhere = marked_clusters.iter().any(|c| c.id != h.cluster)
                    || (marked_clusters.is_empty() && !keys.is_empty());
                if !m.status.is_owned() || m.owner.as_deref() != Some(input.maas_user) {
                    (Verdict::Vanished, Some(cluster))
                } else if elsewhere {
                    (Verdict::Mismatched, Some(cluster))
                } else {
                    (Verdict::Held, Some(cluster))
                }
            }
            None if !keys.is_empty() => {
                let cluster = match marked_clusters.first() {
                    Some(c) => Some(label(c)),
                    None => Some(format!("{}{UNKNOWN_TO_STORE}", keys[0])),
                };
                // A mark left on a machine that is back in MAAS's pool is harmless history.
                if !m.status.is_owned() {
                    continue;
                }
                (Verdict::Orphan, cluster)
            }
            None if owned_by_us => (Verdict::Unaccounted, None),
            None => continue,
        };
        rows.push(AuditRow {
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            status: status_text(m),
            owner: m.owner.clone(),
            markers,
            cluster,
            verdict,
            releasable: m.status.is_releasable(),
        });
    }
    let listed: Vec<&str> = input
        .machines
        .iter()
        .map(|m| m.system_id.as_str())
        .collect();
    for h in input.held {
        if listed.contains(&h.system_id.as_str()) {
            continue;
        }
        rows.push(AuditRow {
            system_id: h.system_id.clone(),
            hostname: h.hostname.clone().unwrap_or_default(),
            status: "absent from MAAS".into(),
            owner: None,
            markers: Vec::new(),
            cluster: Some(
                cluster_by_id
                    .get(h.cluster.as_str())
                    .map(|c| label(c))
                    .unwrap_or_else(|| h.cluster.to_string()),
            ),
            verdict: Verdict::Vanished,
            releasable: false,
        });
    }
    rows.sort_by(|a, b| {
        a.verdict
            .cmp(&b.verdict)
            .then(a.cluster.cmp(&b.cluster))
            .then(a.hostname.cmp(&b.hostname))
    });
    rows
}

fn status_text(m: &Machine) -> String {
    if m.status_name.is_empty() {
        m.status.label().to_string()
    } else {
        m.status_name.clone()
    }
}

/// The machines an operator should release: unclaimed and in a state MAAS releases from.
pub fn unclaimed(rows: &[AuditRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.verdict.is_unclaimed() && r.releasable)
        .map(|r| r.system_id.clone())
        .collect()
}

/// The table an operator reads.
pub fn render(report: &AuditReport) -> String {
    let mut out = String::new();
    if report.machines.is_empty() {
        out.push_str(&format!(
            "kubemaas holds no machines in MAAS account {} ({}, user {}).\n",
            report.account, report.endpoint, report.maas_user
        ));
        return out;
    }
    let mut t = super::Table::new([
        "SYSTEM_ID",
        "HOSTNAME",
        "STATUS",
        "CLUSTER",
        "VERDICT",
        "MARKERS",
    ]);
    for r in &report.machines {
        t.row([
            r.system_id.clone(),
            dash(&r.hostname),
            r.status.clone(),
            r.cluster.clone().unwrap_or_else(|| "-".into()),
            r.verdict.as_str().to_string(),
            if r.markers.is_empty() {
                "-".to_string()
            } else {
                r.markers.join(", ")
            },
        ]);
    }
    out.push_str(&t.render());
    let count = |v: Verdict| report.machines.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "\n{} held, {} orphan, {} unaccounted, {} vanished, {} mismatched.\n",
        count(Verdict::Held),
        count(Verdict::Orphan),
        count(Verdict::Unaccounted),
        count(Verdict::Vanished),
        count(Verdict::Mismatched),
    ));
    if count(Verdict::Unaccounted) > 0 {
        out.push_str(&format!(
            "Unaccounted machines are taken by MAAS user {} with no kubemaas mark MAAS can show (MAAS hides agent_name): make sure no other tool using this key took them before releasing: `account release` needs --force for them (`--agent-name NAME` looks for a given agent name).\n",
            report.maas_user
        ));
    }
    let unknown = report
        .machines
        .iter()
        .filter(|r| {
            r.cluster
                .as_deref()
                .is_some_and(|c| c.ends_with(UNKNOWN_TO_STORE))
        })
        .count();
    if unknown > 0 {
        out.push_str(&format!(
            "{unknown} machine(s) carry a kubemaas mark for a cluster this state store does not know: kubemaas holds them, and if the state database was lost, emptied or replaced they are its clusters' machines, perhaps still serving. Restore state.db from a backup before releasing them.\n"
        ));
    }
    if count(Verdict::Vanished) > 0 {
        out.push_str("Vanished machines are held in kubemaas's store but MAAS no longer has them as taken: the engine's leak check reconciles them when it next runs the cluster.\n");
    }
    if let Some(cmd) = &report.release_command {
        out.push_str(&format!(
            "{} machine(s) no live cluster claims. Release them with:\n  {cmd}\n",
            report.unclaimed.len()
        ));
    }
    out
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ClusterId, ClusterPhase};
    use serde_json::json;

    fn machine(
        id: &str,
        status: NodeStatus,
        owner: Option<&str>,
        data: &[(&str, &str)],
    ) -> Machine {
        let data: serde_json::Map<String, serde_json::Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        serde_json::from_value(json!({
            "system_id": id, "hostname": format!("host-{id}"), "status": status.code(),
            "status_name": status.label(), "owner": owner, "owner_data": data,
            "zone": {"name": "default"}
        }))
        .unwrap()
    }

    fn cluster(id: &str, name: &str, deleted: bool) -> ClusterRow {
        let now = chrono::Utc::now();
        ClusterRow {
            id: ClusterId::parse(id).unwrap(),
            name: name.into(),
            account: "lab".into(),
            spec: serde_json::Value::Null,
            spec_generation: 1,
            observed_generation: 0,
            phase: ClusterPhase::Pending,
            reason: None,
            status: serde_json::Value::Null,
            created: now,
            updated: now,
            deleted_at: deleted.then_some(now),
        }
    }

    fn held(id: &str, cluster: &str) -> MachineRow {
        let now = chrono::Utc::now();
        MachineRow {
            id: 1,
            cluster: ClusterId::parse(cluster).unwrap(),
            pool: "workers".into(),
            system_id: id.into(),
            hostname: Some(format!("host-{id}")),
            role: "worker".into(),
            state: "deployed".into(),
            maas_status: None,
            ip: None,
            generation: 1,
            created: now,
            updated: now,
            released_at: None,
        }
    }

    #[test]
    fn every_verdict() {
        use NodeStatus::*;
        let machines = vec![
            machine("aaa", Deployed, Some("admin"), &[]),
            machine(
                "bbb",
                Deployed,
                Some("admin"),
                &[(OWNER_DATA_KEY, "0badc0de")],
            ),
            machine("ccc", Allocated, Some("admin"), &[]),
            machine("ddd", Deployed, Some("admin"), &[]),
            machine("eee", Ready, None, &[]),
            machine("fff", Deployed, Some("someone"), &[]),
            machine(
                "ggg",
                Deployed,
                Some("admin"),
                &[(OWNER_DATA_KEY, "11111111")],
            ),
            machine("hhh", Deployed, Some("someone"), &[]),
            machine(
                "iii",
                Releasing,
                Some("admin"),
                &[(OWNER_DATA_KEY, "0badc0de")],
            ),
        ];
        let clusters = vec![
            cluster("11111111", "prod", false),
            cluster("0badc0de", "old", true),
        ];
        let held_rows = vec![
            held("aaa", "11111111"),
            held("eee", "11111111"),
            held("zzz", "11111111"),
            held("ggg", "11111111"),
            held("hhh", "11111111"),
        ];
        let mut agent_names = BTreeMap::new();
        agent_names.insert("ccc".to_string(), vec!["kubemaas:old".to_string()]);
        let rows = classify(&AuditInput {
            machines: &machines,
            agent_names: &agent_names,
            clusters: &clusters,
            held: &held_rows,
            maas_user: "admin",
        });
        let got: BTreeMap<&str, (Verdict, Option<&str>)> = rows
            .iter()
            .map(|r| (r.system_id.as_str(), (r.verdict, r.cluster.as_deref())))
            .collect();
        assert_eq!(got["aaa"], (Verdict::Held, Some("prod (11111111)")));
        assert_eq!(got["ggg"], (Verdict::Held, Some("prod (11111111)")));
        assert_eq!(
            got["bbb"],
            (Verdict::Orphan, Some("old (0badc0de, deleted)"))
        );
        assert_eq!(
            got["ccc"],
            (Verdict::Orphan, Some("old (0badc0de, deleted)"))
        );
        assert_eq!(got["ddd"], (Verdict::Unaccounted, None));
        assert_eq!(got["eee"].0, Verdict::Vanished);
        assert_eq!(got["zzz"].0, Verdict::Vanished);
        assert!(
            !got.contains_key("fff"),
            "another user's machine is not ours"
        );
        assert_eq!(got["hhh"].0, Verdict::Vanished, "taken by someone else");
        assert!(!got.contains_key("iii"), "already on its way back");
        assert_eq!(unclaimed(&rows), ["bbb", "ccc", "ddd"]);
    }

    #[test]
    fn machines_marked_for_clusters_the_store_never_had_point_at_a_lost_store() {
        use NodeStatus::*;
        // An emptied store: MAAS still has a deployed machine the engine stamped.
        let machines = vec![machine(
            "aaa",
            Deployed,
            Some("admin"),
            &[(OWNER_DATA_KEY, "5eed5eed")],
        )];
        let rows = classify(&AuditInput {
            machines: &machines,
            agent_names: &BTreeMap::new(),
            clusters: &[],
            held: &[],
            maas_user: "admin",
        });
        assert_eq!(rows[0].verdict, Verdict::Orphan);
        let report = AuditReport {
            account: "lab".into(),
            endpoint: "http://maas:5240/MAAS/".into(),
            maas_user: "admin".into(),
            agent_names_checked: Vec::new(),
            unclaimed: unclaimed(&rows),
            machines: rows,
            release_command: None,
        };
        let text = render(&report);
        assert!(
            text.contains(
                "1 machine(s) carry a kubemaas mark for a cluster this state store does not know"
            ),
            "{text}"
        );
        assert!(text.contains("Restore state.db from a backup"), "{text}");
    }

    #[test]
    fn probes_cover_ids_names_and_owner_tags_once() {
        let clusters = vec![cluster("11111111", "prod", false)];
        let names = agent_names_to_probe(
            &clusters,
            &[
                "kubemaas:dead".to_string(),
                "kubemaas:prod".to_string(),
                " ".to_string(),
            ],
        );
        assert_eq!(
            names,
            [
                "kubemaas:11111111",
                "kubemaas:prod",
                "kubemaas-11111111",
                "kubemaas:dead"
            ]
        );
    }

    #[test]
    fn a_mark_for_another_cluster_is_a_mismatch() {
        let machines = vec![machine(
            "aaa",
            NodeStatus::Deployed,
            Some("admin"),
            &[(OWNER_DATA_KEY, "kubemaas-22222222")],
        )];
        let clusters = vec![
            cluster("11111111", "a", false),
            cluster("22222222", "b", false),
        ];
        let rows = classify(&AuditInput {
            machines: &machines,
            agent_names: &BTreeMap::new(),
            clusters: &clusters,
            held: &[held("aaa", "11111111")],
            maas_user: "admin",
        });
        assert_eq!(rows[0].verdict, Verdict::Mismatched);
    }
}
