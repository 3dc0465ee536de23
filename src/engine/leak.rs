//! The leak check: every MAAS machine kubemaas holds (tagged with a cluster's owner tag as
//! `agent_name`, or carrying kubemaas owner data) compared with the machines the store holds.

use super::core::Engine;
use super::error::EngineError;
use super::reconcile::{agent_name, held_in_maas, OWNER_KEY_CLUSTER};
use crate::maas::MachineFilter;
use crate::store::{LeakReport, OwnedInMaas};
use std::collections::BTreeMap;

impl Engine {
    /// Compares what every cloud account's MAAS says kubemaas holds with the store.
    pub async fn leak_check(&self) -> Result<LeakReport, EngineError> {
        let (accounts, clusters) = self
            .store
            .read(|r| Ok::<_, EngineError>((r.accounts()?, r.clusters(true)?)))?;
        let mut owned: BTreeMap<String, OwnedInMaas> = BTreeMap::new();
        for account in accounts {
            let ctx = self.account(&account.name).await?;
            for m in ctx.client.machines(&MachineFilter::default()).await? {
                if let Some(id) = m.owner_data.get(OWNER_KEY_CLUSTER) {
                    if held_in_maas(&m) {
                        owned.insert(
                            m.system_id.clone(),
                            OwnedInMaas {
                                system_id: m.system_id.clone(),
                                hostname: Some(m.hostname.clone()),
                                cluster_tag: Some(id.clone()),
                            },
                        );
                    }
                }
            }
            // Machines allocated but not yet given owner data only show by agent name.
            for c in clusters.iter().filter(|c| c.account == account.name) {
                let tagged = ctx
                    .client
                    .machines(&MachineFilter::agent_name(agent_name(&c.id)))
                    .await?;
                for m in tagged {
                    owned.insert(
                        m.system_id.clone(),
                        OwnedInMaas {
                            system_id: m.system_id.clone(),
                            hostname: Some(m.hostname.clone()),
                            cluster_tag: Some(c.id.to_string()),
                        },
                    );
                }
            }
        }
        let owned: Vec<OwnedInMaas> = owned.into_values().collect();
        Ok(self.store.read(|r| r.leak_check(&owned))?)
    }
}
