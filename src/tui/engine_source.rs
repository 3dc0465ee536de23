//! The console over the engine: [`EngineSource`] answers every [`ConsoleSource`] question
//! through [`EngineApi`] (the interface a remote gateway implements too) and the store's
//! accounts, and the MAAS questions (inventory, wizard choices) through the console's MAAS
//! client. Screens see only the plain rows of [`crate::tui::clusters`].

use super::account_check::{AccountDraft, AccountSummary};
use super::clusters::{ClusterInfo, EventLine, Poll};
use super::lookups::PlacementChoices;
use super::source::{
    ConsoleSource, GatewaySummary, MaasIdentity, MaasSource, MachineRow, PairFailure, PairOffer,
    Reachability, SourceError,
};
use super::widgets::secret::Secret;
use crate::cli::account_cmd::{self, connect};
use crate::cli::gateway_cmd;
use crate::engine::{EmbeddedEngine, EngineApi, EngineError, EngineEvent};
use crate::gateway::client::{GatewayClientError, PairedMaterial};
use crate::gateway::pairing::PairingCode;
use crate::gateway::pki::fingerprint_text;
use crate::maas::{MaasClient, MachineFilter};
use crate::model::{ClusterProfile, ClusterSpec};
use crate::store::{EventId, GatewayKind};
use chrono::Utc;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Sorts a pairing failure by the field the operator must fix.
fn classify(e: &color_eyre::Report) -> PairFailure {
    let text = format!("{e:#}");
    let client = e.downcast_ref::<GatewayClientError>().or_else(|| {
        match e.downcast_ref::<crate::gateway::console::ConsoleError>() {
            Some(crate::gateway::console::ConsoleError::Client(c)) => Some(c),
            _ => None,
        }
    });
    match client {
        Some(GatewayClientError::NotTheGateway { .. }) => PairFailure::Impersonator(text),
        // The gateway's own words: they say what to do and never hold the code.
        Some(GatewayClientError::Refused { error, message, .. })
            if matches!(
                error.as_str(),
                "wrong_code" | "reused_code" | "expired_code" | "rate_limited"
            ) =>
        {
            PairFailure::Code(message.clone())
        }
        Some(
            GatewayClientError::BadAddress { .. }
            | GatewayClientError::Connect { .. }
            | GatewayClientError::Channel { .. }
            | GatewayClientError::Protocol { .. }
            | GatewayClientError::Decode { .. },
        ) => PairFailure::Address(text),
        _ => PairFailure::Other(text),
    }
}

impl From<EngineError> for SourceError {
    fn from(e: EngineError) -> Self {
        // Engine errors say what is wrong and what to do, and never carry keys.
        SourceError::new(e.to_string())
    }
}

/// The engine on a state dir, plus a MAAS client for the inventory screens.
#[derive(Clone)]
pub struct EngineSource {
    engine: EmbeddedEngine,
    maas: Option<MaasSource>,
    state_dir: PathBuf,
    /// MAAS clients per cloud account, for the machines' status messages.
    clients: Arc<Mutex<HashMap<String, MaasClient>>>,
    /// Pairings made but not yet confirmed by the operator, by address: (name, material).
    /// Kept here, not in the console's state, so the private key never enters a `Msg`.
    pending: Arc<Mutex<HashMap<String, (String, PairedMaterial)>>>,
}

impl std::fmt::Debug for EngineSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSource")
            .field("state_dir", &self.state_dir)
            .field("maas", &self.maas.is_some())
            .finish_non_exhaustive()
    }
}

impl EngineSource {
    /// `maas`: the region the inventory screens show (None: the first stored account's).
    pub fn new(
        engine: EmbeddedEngine,
        state_dir: PathBuf,
        maas: Option<MaasClient>,
    ) -> Result<Self, SourceError> {
        let maas = match maas {
            Some(c) => Some(c),
            None => {
                let first = engine
                    .store()
                    .read(|r| r.accounts())
                    .map_err(|e| SourceError::new(e.to_string()))?
                    .into_iter()
                    .next();
                match first {
                    Some(row) => Some(
                        connect::client_for(&state_dir, &row, connect::Patience::Work)
                            .map_err(|e| SourceError::new(e.to_string()))?,
                    ),
                    None => None,
                }
            }
        };
        Ok(EngineSource {
            engine,
            maas: maas.map(MaasSource::new),
            state_dir,
            clients: Arc::new(Mutex::new(HashMap::new())),
            pending: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Whether a MAAS region is known (the inventory screens have something to show).
    pub fn has_maas(&self) -> bool {
        self.maas.is_some()
    }

    pub fn engine(&self) -> &EmbeddedEngine {
        &self.engine
    }

    fn maas(&self) -> Result<&MaasSource, SourceError> {
        self.maas.as_ref().ok_or_else(|| {
            SourceError::new(
                "no MAAS region is configured: add a cloud account (:new-account, or `kubemaas account add`)",
            )
        })
    }

    fn client_for_account(&self, account: &str) -> Option<MaasClient> {
        let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(account) {
            return Some(c.clone());
        }
        let row = self.engine.store().read(|r| r.account(account)).ok()?;
        let client = connect::client_for(&self.state_dir, &row, connect::Patience::Check).ok()?;
        cache.insert(account.to_string(), client.clone());
        Some(client)
    }

    /// MAAS's status message per system id. Best effort: the detail shows the engine's view
    /// without messages when MAAS does not answer (the engine reports that failure itself).
    async fn status_messages(&self, account: &str, ids: Vec<String>) -> HashMap<String, String> {
        if ids.is_empty() {
            return HashMap::new();
        }
        let Some(client) = self.client_for_account(account) else {
            return HashMap::new();
        };
        let filter = MachineFilter {
            ids,
            ..MachineFilter::default()
        };
        match client.machines(&filter).await {
            Ok(machines) => machines
                .into_iter()
                .filter_map(|m| m.status_message.map(|s| (m.system_id, s)))
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "status messages unavailable");
                HashMap::new()
            }
        }
    }
}

impl ConsoleSource for EngineSource {
    async fn identify(&self) -> Result<MaasIdentity, SourceError> {
        self.maas()?.identify().await
    }

    async fn list_machines(&self) -> Result<Vec<MachineRow>, SourceError> {
        let mut rows = self.maas()?.list_machines().await?;
        // MAAS knows the cluster's id (owner data); the operator knows its name.
        let names: std::collections::HashMap<String, String> = self
            .engine
            .store()
            .read(|r| r.clusters(true))
            .map_err(|e| SourceError::new(e.to_string()))?
            .into_iter()
            .map(|c| (c.id.to_string(), c.name))
            .collect();
        for row in &mut rows {
            if let Some(name) = row.cluster.as_ref().and_then(|id| names.get(id)) {
                row.cluster = Some(name.clone());
            }
        }
        Ok(rows)
    }

    async fn placement_choices(&self) -> Result<PlacementChoices, SourceError> {
        self.maas()?.placement_choices().await
    }

    async fn profiles(&self) -> Result<Vec<ClusterProfile>, SourceError> {
        let rows = self
            .engine
            .store()
            .read(|r| r.profiles())
            .map_err(|e| SourceError::new(e.to_string()))?;
        // Shipped ones first, then the operator's imported ones (as the wizard lists them).
        let mut out = crate::model::shipped_profiles();
        for row in rows {
            match row.document_as::<ClusterProfile>() {
                Ok(p) => out.push(p),
                Err(e) => tracing::warn!(profile = %row.name, error = %e, "unreadable profile"),
            }
        }
        Ok(out)
    }

    async fn accounts(&self) -> Result<Vec<AccountSummary>, SourceError> {
        let views =
            account_cmd::list(self.engine.store()).map_err(|e| SourceError::new(e.to_string()))?;
        Ok(views
            .into_iter()
            .map(|v| AccountSummary {
                name: v.name,
                gateway: v.gateway,
                endpoint: v.endpoint,
                maas_version: None,
                last_validated: v
                    .last_validated
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            })
            .collect())
    }

    async fn gateways(&self) -> Result<Vec<GatewaySummary>, SourceError> {
        let store = self.engine.store();
        let err = |e: crate::gateway::console::ConsoleError| SourceError::new(e.to_string());
        crate::gateway::console::ensure_local(store).map_err(err)?;
        let rows = store
            .read(|r| r.gateways())
            .map_err(|e| SourceError::new(e.to_string()))?;
        // Every paired gateway is asked at once, so one that times out does not hold up the
        // others' answers; the order of the store is kept.
        let mut asks = tokio::task::JoinSet::new();
        for (i, row) in rows.iter().enumerate() {
            if row.kind == GatewayKind::Remote && row.fingerprint.is_some() {
                let (store, name) = (store.clone(), row.name.clone());
                asks.spawn(async move {
                    // The same client `kubemaas gateway show` asks: pinned CA, this console's
                    // certificate; every failure is already worded with what to do.
                    let asked = async {
                        let client = crate::gateway::console::client_for(&store, &name)?;
                        Ok::<_, crate::gateway::console::ConsoleError>(client.info().await?)
                    }
                    .await;
                    let reachability = match asked {
                        Ok(info) => Reachability::Reachable {
                            version: info.version,
                        },
                        Err(e) => Reachability::Unreachable(e.to_string()),
                    };
                    (i, reachability)
                });
            }
        }
        let mut out: Vec<GatewaySummary> = rows
            .into_iter()
            .map(|row| GatewaySummary {
                reachability: match (row.kind, &row.fingerprint) {
                    (GatewayKind::Local, _) => Reachability::Embedded,
                    (GatewayKind::Remote, None) => Reachability::NotPaired,
                    // Replaced by the probe's answer below.
                    (GatewayKind::Remote, Some(_)) => Reachability::Unreachable(
                        "the reachability check did not finish (see the log); press ctrl-r to ask again".into(),
                    ),
                },
                name: row.name,
                address: row.address,
                ca_fingerprint: row.fingerprint,
            })
            .collect();
        while let Some(answer) = asks.join_next().await {
            match answer {
                Ok((i, reachability)) => out[i].reachability = reachability,
                // A probe task that died leaves its row saying so.
                Err(e) => tracing::warn!(error = %e, "a gateway reachability probe failed"),
            }
        }
        // `local` first whatever the store's order: it is the default gateway.
        out.sort_by_key(|g| g.reachability != Reachability::Embedded);
        Ok(out)
    }

    async fn pair_gateway(&self, address: String, code: Secret) -> Result<PairOffer, PairFailure> {
        let code =
            PairingCode::parse(code.expose()).map_err(|e| PairFailure::Code(format!("{e}")))?;
        let store = self.engine.store();
        let (name, material) =
            gateway_cmd::begin_pairing(store, &address, &code, None, &crate::store::host_name())
                .await
                .map_err(|e| classify(&e))?;
        let offer = PairOffer {
            address: address.clone(),
            gateway: name.clone(),
            ca_fingerprint: fingerprint_text(&material.ca_fingerprint),
        };
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(address, (name, material));
        Ok(offer)
    }

    async fn confirm_pairing(&self, address: String) -> Result<String, SourceError> {
        let taken = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&address);
        let Some((name, material)) = taken else {
            return Err(SourceError::new(format!(
                "no pairing with {address} is waiting for confirmation: pair again with a fresh code"
            )));
        };
        gateway_cmd::finish_pairing(
            self.engine.store(),
            &self.state_dir,
            &name,
            &address,
            &material,
        )
        .await
        .map_err(|e| SourceError::new(format!("{e:#}")))?;
        Ok(name)
    }

    async fn unpair_gateway(&self, name: String) -> Result<(), SourceError> {
        // The same call as `kubemaas gateway unpair`: material removed, record kept.
        crate::gateway::console::unpair(self.engine.store(), &self.state_dir, &name)
            .map_err(|e| SourceError::new(e.to_string()))
    }

    async fn save_account(&self, draft: AccountDraft) -> Result<(), SourceError> {
        let account = draft
            .to_account()
            .map_err(|p| SourceError::new(p.to_string()))?;
        account_cmd::add_account(&self.state_dir, &account)
            .await
            .map_err(|e| SourceError::new(e.to_string()))?;
        Ok(())
    }

    async fn delete_account(&self, name: String) -> Result<(), SourceError> {
        self.engine
            .store()
            .tx(|tx| tx.delete_account(&name))
            .map_err(|e| SourceError::new(e.to_string()))?;
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        Ok(())
    }

    async fn create_cluster(&self, spec: ClusterSpec) -> Result<String, SourceError> {
        Ok(self.engine.create_cluster(spec).await?.name)
    }

    async fn clusters(&self) -> Result<Vec<ClusterInfo>, SourceError> {
        let views = self.engine.clusters().await?;
        let none = HashMap::new();
        Ok(views
            .into_iter()
            .map(|v| ClusterInfo::from_view(v, &none))
            .collect())
    }

    async fn cluster(&self, key: String) -> Result<ClusterInfo, SourceError> {
        let view = self.engine.cluster(&key).await?;
        let ids = view.machines.iter().map(|m| m.system_id.clone()).collect();
        let messages = self.status_messages(&view.account, ids).await;
        Ok(ClusterInfo::from_view(view, &messages))
    }

    async fn events_after(&self, after: i64, limit: usize) -> Result<Poll, SourceError> {
        let events = self.engine.events(None, EventId(after), limit).await?;
        let lines = events
            .into_iter()
            .map(|e| match e {
                EngineEvent::Journal(row) => EventLine::from(row),
            })
            .collect();
        Ok(Poll {
            events: lines,
            now: Utc::now(),
            reconciling: self.engine.engine().is_some(),
        })
    }

    async fn delete_cluster(&self, name: String) -> Result<(), SourceError> {
        self.engine.delete_cluster(&name, false).await?;
        Ok(())
    }

    async fn abort_cluster(&self, name: String) -> Result<(), SourceError> {
        self.engine.abort_cluster(&name).await?;
        Ok(())
    }

    async fn scale_pool(&self, name: String, pool: String, size: u32) -> Result<(), SourceError> {
        self.engine.scale_pool(&name, &pool, size).await?;
        Ok(())
    }

    async fn write_kubeconfig(&self, name: String, path: PathBuf) -> Result<(), SourceError> {
        let text = self.engine.kubeconfig(&name).await?;
        crate::paths::write_private_file(&path, text.as_bytes()).map_err(|e| {
            SourceError::new(format!(
                "cannot write the kubeconfig to {}: {e} (pick a path in a directory you can write)",
                path.display()
            ))
        })
    }
}
