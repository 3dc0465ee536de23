//! The leak check: compares the machines MAAS says kubemaas owns with the machines the store
//! holds, so that no machine taken from MAAS is ever forgotten (or silently lost).

use super::error::StoreError;
use super::machines::MachineRow;
use super::tx::Tx;
use std::collections::{BTreeMap, BTreeSet};

/// A machine MAAS lists as taken by kubemaas (owned by its user and tagged with a cluster id
/// through `agent_name` / owner data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedInMaas {
    pub system_id: String,
    pub hostname: Option<String>,
    /// The cluster id MAAS has on the machine, when the tag was readable.
    pub cluster_tag: Option<String>,
}

/// What differs between MAAS and the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeakReport {
    /// Owned in MAAS, unknown to the store: leaked machines to adopt or release.
    pub untracked: Vec<OwnedInMaas>,
    /// Held in the store, but MAAS no longer lists them as ours (released or taken by someone
    /// else behind kubemaas's back).
    pub vanished: Vec<MachineRow>,
    /// Held by one cluster in the store while MAAS tags them with another.
    pub mismatched: Vec<(MachineRow, OwnedInMaas)>,
}

impl LeakReport {
    /// True when MAAS and the store agree.
    pub fn is_clean(&self) -> bool {
        self.untracked.is_empty() && self.vanished.is_empty() && self.mismatched.is_empty()
    }
}

/// Compares `owned` (from MAAS) with `held` (from the store). Pure, so it is easy to test.
pub fn compare(owned: &[OwnedInMaas], held: &[MachineRow]) -> LeakReport {
    let held_by_id: BTreeMap<&str, &MachineRow> =
        held.iter().map(|m| (m.system_id.as_str(), m)).collect();
    let owned_ids: BTreeSet<&str> = owned.iter().map(|o| o.system_id.as_str()).collect();
    let mut report = LeakReport::default();
    for o in owned {
        match held_by_id.get(o.system_id.as_str()) {
            None => report.untracked.push(o.clone()),
            Some(m) => {
                if let Some(tag) = &o.cluster_tag {
                    if tag != m.cluster.as_str() {
                        report.mismatched.push(((*m).clone(), o.clone()));
                    }
                }
            }
        }
    }
    report.vanished = held
        .iter()
        .filter(|m| !owned_ids.contains(m.system_id.as_str()))
        .cloned()
        .collect();
    report
}

impl Tx<'_> {
    /// Compares what MAAS says kubemaas owns with every active machine in the store.
    pub fn leak_check(&self, owned: &[OwnedInMaas]) -> Result<LeakReport, StoreError> {
        Ok(compare(owned, &self.all_active_machines()?))
    }
}
