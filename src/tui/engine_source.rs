//! The console over the engine: [`EngineSource`] answers every [`ConsoleSource`] question
//! through [`EngineApi`] on a [`ConsoleEngine`] — this host's embedded engine or a paired
//! gateway's — so every screen works the same against both. The MAAS questions (inventory,
//! header, wizard choices) go to the console's MAAS client on `local`, and to the gateway's
//! account routes on a gateway (its keys stay there). Gateways, pairing and profiles are this
//! console's own, kept in the local store whichever gateway is in use.
//! Screens see only the plain rows of [`crate::tui::clusters`].

use super::account_check::{AccountDraft, AccountSummary};
use super::clusters::{ClusterInfo, EventLine, Poll};
use super::console_engine::{ConsoleEngine, RemoteFeed, FEED_WAIT};
use super::lookups::PlacementChoices;
use super::source::{
    ConsoleSource, CreateAnswer, GatewayNodes, GatewaySummary, MaasIdentity, MaasSource,
    MachineRow, PairFailure, PairOffer, ProgressSink, Reachability, SourceError,
};
use super::widgets::secret::Secret;
use crate::accounts::{self, connect};
use crate::engine::{EmbeddedEngine, EngineApi, EngineError, EngineEvent};
use crate::gateway::client::{GatewayClientError, PairedMaterial};
use crate::gateway::pairing::PairingCode;
use crate::gateway::pki::fingerprint_text;
use crate::gateway::protocol::{AddAccountRequest, MachineSummary};
use crate::gateway::queue;
use crate::gateway::upgrade;
use crate::gateway::RemoteEngine;
use crate::maas::{MaasClient, MachineFilter, NodeStatus};
use crate::model::{ClusterProfile, ClusterSpec};
use crate::store::{EventId, GatewayKind, Store};
use chrono::Utc;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How long a gateway node may take to come back from its upgrade (as `gateway upgrade`'s
/// default): draining waits for in-flight work.
const UPGRADE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(300);

/// Sorts a pairing failure by the field the operator must fix.
fn classify(e: &crate::gateway::console::ConsoleError) -> PairFailure {
    let text = e.to_string();
    let client = match e {
        crate::gateway::console::ConsoleError::Client(c) => Some(c),
        _ => None,
    };
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

/// The engine in use (this host's or a paired gateway's), the local store for what is this
/// console's own, and a MAAS client for the inventory screens on `local`.
#[derive(Clone)]
pub struct EngineSource {
    /// This host's engine: its store keeps the gateways, pairings, profiles and accounts.
    local: EmbeddedEngine,
    /// The engine the cluster screens work through.
    engine: ConsoleEngine,
    /// This host's MAAS (inventory on `local`), kept for switching back.
    maas: Option<MaasSource>,
    /// On a gateway: the cloud account its Machines screen and wizards show (its default).
    remote_account: Option<String>,
    /// On a gateway: its live journal.
    feed: RemoteFeed,
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
            .field("gateway", &self.engine.gateway())
            .field("maas", &self.maas.is_some())
            .finish_non_exhaustive()
    }
}

/// Asks paired gateway `name` how it is (its `info`, over mutual TLS with this console's
/// certificate); every failure is worded with what to do.
pub async fn probe_gateway(store: &Store, name: &str) -> Reachability {
    // The same client `kubemaas gateway show` asks: pinned CA, this console's certificate.
    let asked = async {
        let client = crate::gateway::console::client_for(store, name)?;
        Ok::<_, crate::gateway::console::ConsoleError>(client.info().await?)
    }
    .await;
    match asked {
        Ok(info) => Reachability::Reachable {
            version: info.version,
        },
        // Reached, but refused for want of a common protocol: not "unreachable" (it runs),
        // and the operator must upgrade one side rather than check the network.
        Err(crate::gateway::console::ConsoleError::Client(GatewayClientError::Incompatible(e))) => {
            Reachability::Incompatible(e.to_string())
        }
        Err(e) => Reachability::Unreachable(e.to_string()),
    }
}

/// Sends the requests queued for gateway `name` (if any), logging what became of them; a
/// failure leaves them queued for the next check.
async fn flush_queued(store: &Store, name: &str) {
    let waiting = match queue::queued(store, name) {
        Ok(rows) => rows.iter().any(|r| r.state == queue::QueueState::Queued),
        Err(e) => {
            tracing::warn!(gateway = name, error = %e, "cannot read the queued cluster requests");
            return;
        }
    };
    if !waiting {
        return;
    }
    let client = match crate::gateway::console::client_for(store, name) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(gateway = name, error = %e, "queued requests kept: no client for the gateway");
            return;
        }
    };
    match queue::flush(store, name, &client).await {
        Ok(report) => {
            for (request, view) in &report.submitted {
                tracing::info!(gateway = name, cluster = %request.name, id = %view.id, "queued request submitted");
            }
            for (request, reason) in &report.failed {
                tracing::warn!(gateway = name, cluster = %request.name, %reason, "queued request refused");
            }
        }
        Err(e) => {
            tracing::warn!(gateway = name, error = %e, "queued requests kept: sending failed")
        }
    }
}

/// A machine as a gateway lists it, as the Machines screen shows it; None (logged) for a
/// status this build does not know — a newer MAAS than this console — rather than a wrong one.
fn machine_row(m: MachineSummary) -> Option<MachineRow> {
    let Some(status) = NodeStatus::from_name(&m.status) else {
        tracing::warn!(machine = %m.system_id, status = %m.status, "a MAAS status this console does not know: machine not listed");
        return None;
    };
    Some(MachineRow {
        status,
        system_id: m.system_id,
        hostname: m.hostname,
        zone: m.zone,
        pool: m.pool.unwrap_or_default(),
        cores: m.cpu_count,
        memory_mib: m.memory,
        disks_gb: m.disks_gb,
        tags: m.tags,
        owner: m.owner,
        cluster: m.cluster,
    })
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
            engine: ConsoleEngine::Local(engine.clone()),
            local: engine,
            maas: maas.map(MaasSource::new),
            remote_account: None,
            feed: RemoteFeed::default(),
            state_dir,
            clients: Arc::new(Mutex::new(HashMap::new())),
            pending: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Whether a MAAS region is known (the inventory screens have something to show): a
    /// gateway always has its own.
    pub fn has_maas(&self) -> bool {
        self.remote().is_some() || self.maas.is_some()
    }

    /// This host's engine.
    pub fn engine(&self) -> &EmbeddedEngine {
        &self.local
    }

    /// The engine the screens work through.
    pub fn console_engine(&self) -> &ConsoleEngine {
        &self.engine
    }

    /// The gateway in use: `local` or a paired gateway's name.
    pub fn gateway(&self) -> &str {
        self.engine.gateway()
    }

    /// The same console on gateway `name` (`local`: this host's engine). A paired gateway
    /// must answer: its default cloud account is what its Machines screen shows.
    pub async fn on_gateway(&self, name: &str) -> Result<EngineSource, SourceError> {
        let mut next = self.clone();
        next.feed = RemoteFeed::default();
        if name == crate::model::account::LOCAL_GATEWAY {
            next.engine = ConsoleEngine::Local(self.local.clone());
            next.remote_account = None;
            return Ok(next);
        }
        let remote = RemoteEngine::connect(self.local.store(), name).map_err(|e| {
            SourceError::new(format!(
                "cannot use gateway {name}: {e} (pair it first on the Gateways screen, :gw then n)"
            ))
        })?;
        let info = remote.info().await.map_err(|e| {
            SourceError::new(format!(
                "gateway {name} does not answer: {e}; the console stays where it was (check the gateway runs, then try again)"
            ))
        })?;
        next.engine = ConsoleEngine::Remote(remote);
        next.remote_account = Some(info.default_account);
        Ok(next)
    }

    fn remote(&self) -> Option<(&RemoteEngine, &str)> {
        match (&self.engine, &self.remote_account) {
            (ConsoleEngine::Remote(r), Some(account)) => Some((r, account.as_str())),
            _ => None,
        }
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
        let row = self.local.store().read(|r| r.account(account)).ok()?;
        let client = connect::client_for(&self.state_dir, &row, connect::Patience::Check).ok()?;
        cache.insert(account.to_string(), client.clone());
        Some(client)
    }

    /// MAAS's status message per system id. Best effort: the detail shows the engine's view
    /// without messages when MAAS does not answer (the engine reports that failure itself).
    async fn status_messages(&self, account: &str, ids: Vec<String>) -> HashMap<String, String> {
        // On a gateway the engine's own MAAS status is what the console gets: MAAS is reached
        // from the gateway, and its keys stay there.
        if ids.is_empty() || self.remote().is_some() {
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
        if let Some((remote, account)) = self.remote() {
            let id = remote.maas_identity(account).await?;
            return Ok(MaasIdentity {
                endpoint: id.endpoint,
                version: id.version,
                user: id.user,
            });
        }
        self.maas()?.identify().await
    }

    async fn list_machines(&self) -> Result<Vec<MachineRow>, SourceError> {
        let (mut rows, names): (Vec<MachineRow>, HashMap<String, String>) = match self.remote() {
            Some((remote, account)) => {
                let (machines, clusters) =
                    tokio::join!(remote.machines(account), remote.clusters());
                let rows = machines?.into_iter().filter_map(machine_row).collect();
                let names = clusters?
                    .into_iter()
                    .map(|c| (c.id.to_string(), c.name))
                    .collect();
                (rows, names)
            }
            None => {
                let rows = self.maas()?.list_machines().await?;
                let names = self
                    .local
                    .store()
                    .read(|r| r.clusters(true))
                    .map_err(|e| SourceError::new(e.to_string()))?
                    .into_iter()
                    .map(|c| (c.id.to_string(), c.name))
                    .collect();
                (rows, names)
            }
        };
        // MAAS knows the cluster's id (owner data); the operator knows its name.
        for row in &mut rows {
            if let Some(name) = row.cluster.as_ref().and_then(|id| names.get(id)) {
                row.cluster = Some(name.clone());
            }
        }
        Ok(rows)
    }

    async fn placement_choices(&self) -> Result<PlacementChoices, SourceError> {
        if let Some((remote, account)) = self.remote() {
            let snapshot = remote.maas_snapshot(account).await?;
            return Ok(PlacementChoices::from_snapshot(snapshot));
        }
        self.maas()?.placement_choices().await
    }

    async fn profiles(&self) -> Result<Vec<ClusterProfile>, SourceError> {
        let rows = self
            .local
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
        let views = match self.remote() {
            Some((remote, _)) => remote.accounts().await?,
            None => {
                accounts::list(self.local.store()).map_err(|e| SourceError::new(e.to_string()))?
            }
        };
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
        let store = self.local.store();
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
                asks.spawn(async move { (i, probe_gateway(&store, &name).await) });
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

    async fn gateway_nodes(&self) -> Result<GatewayNodes, SourceError> {
        let store = self.local.store();
        let rows = store
            .read(|r| r.gateways())
            .map_err(|e| SourceError::new(e.to_string()))?;
        let mut out = GatewayNodes::new();
        for row in rows.iter().filter(|r| r.kind == GatewayKind::Remote) {
            let nodes = crate::gateway::console::known_nodes(store, &row.name)
                .map_err(|e| SourceError::new(e.to_string()))?;
            if !nodes.is_empty() {
                out.insert(row.name.clone(), nodes);
            }
        }
        Ok(out)
    }

    async fn use_gateway(&self, name: String) -> Result<EngineSource, SourceError> {
        self.on_gateway(&name).await
    }

    fn shows_maas(&self) -> bool {
        self.has_maas()
    }

    async fn check_gateway(&self, name: String) -> Reachability {
        if name == crate::model::account::LOCAL_GATEWAY {
            return Reachability::Embedded;
        }
        let answer = probe_gateway(self.local.store(), &name).await;
        if matches!(answer, Reachability::Reachable { .. }) {
            // The gateway answers: whatever waited for it goes now. Asked on the header's
            // timer, so requests queued while it was away are sent within one check of its
            // return, and retried on every check while it keeps refusing to take them.
            flush_queued(self.local.store(), &name).await;
        }
        answer
    }

    async fn pair_gateway(&self, address: String, code: Secret) -> Result<PairOffer, PairFailure> {
        let code =
            PairingCode::parse(code.expose()).map_err(|e| PairFailure::Code(format!("{e}")))?;
        let store = self.local.store();
        let (name, material) = crate::gateway::console::begin_pairing(
            store,
            &address,
            &code,
            None,
            &crate::store::host_name(),
        )
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
        crate::gateway::console::finish_pairing(
            self.local.store(),
            &self.state_dir,
            &name,
            &address,
            &material,
        )
        .await
        .map_err(|e| SourceError::new(e.to_string()))?;
        Ok(name)
    }

    async fn upgrade_gateway(
        &self,
        name: String,
        progress: ProgressSink,
    ) -> Result<String, SourceError> {
        let fail = |e: upgrade::UpgradeError| SourceError::new(e.to_string());
        let binary = upgrade::own_binary().map_err(fail)?;
        let report = upgrade::upgrade_gateway(
            self.local.store(),
            &name,
            &binary,
            UPGRADE_PATIENCE,
            progress,
        )
        .await
        .map_err(fail)?;
        for (request, reason) in &report.flushed.failed {
            tracing::warn!(gateway = %name, cluster = %request.name, %reason, "queued request refused after the upgrade");
        }
        Ok(report
            .nodes
            .last()
            .map(|n| n.to_version.clone())
            .unwrap_or_else(crate::gateway::upgrade_version::running_version))
    }

    async fn resize_gateway(
        &self,
        name: String,
        settings: crate::gateway::resize::EtcdSettings,
        progress: super::source::ResizeSink,
    ) -> Result<Vec<String>, SourceError> {
        use crate::gateway::resize;
        let report = resize::resize_gateway(
            self.local.store(),
            &name,
            resize::HA_NODES,
            settings,
            UPGRADE_PATIENCE,
            progress,
        )
        .await
        .map_err(|e| SourceError::new(e.to_string()))?;
        for (request, reason) in &report.flushed.failed {
            tracing::warn!(gateway = %name, cluster = %request.name, %reason, "queued request refused after the resize");
        }
        let joins = resize::join_commands(&report.nodes, usize::from(resize::HA_NODES), &[]);
        let mut lines = Vec::new();
        if !report.switched {
            lines.push(format!(
                "gateway {name} keeps its state in etcd already: nothing changed"
            ));
        }
        if !joins.is_empty() {
            lines.push(format!(
                "copy {} to each new host, then run there:",
                report.nodes.config
            ));
            lines.extend(joins.into_iter().map(|j| j.command));
        }
        lines.push(format!(
            "nodes now: {}",
            report
                .nodes
                .nodes
                .iter()
                .map(|n| format!("{} ({})", n.name, n.address))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Ok(lines)
    }

    async fn unpair_gateway(&self, name: String) -> Result<(), SourceError> {
        // The same call as `kubemaas gateway unpair`: material removed, record kept.
        crate::gateway::console::unpair(self.local.store(), &self.state_dir, &name)
            .map_err(|e| SourceError::new(e.to_string()))
    }

    async fn save_account(&self, draft: AccountDraft) -> Result<(), SourceError> {
        let account = draft
            .to_account()
            .map_err(|p| SourceError::new(p.to_string()))?;
        if draft.gateway != crate::model::account::LOCAL_GATEWAY {
            let Some((remote, _)) = self.remote().filter(|(r, _)| r.gateway() == draft.gateway)
            else {
                return Err(SourceError::new(format!(
                    "account {} belongs on gateway {}, which this console is not working through: switch to it first (:gateway {}); nothing was saved",
                    account.name, draft.gateway, draft.gateway
                )));
            };
            // The gateway checks it again from where it will be used, and keeps the key.
            let request = AddAccountRequest {
                name: account.name.clone(),
                endpoint: account.endpoint.to_string(),
                api_key: account.api_key.expose().to_string(),
                ca_cert: account.ca_cert.clone(),
            };
            remote.add_account(&request).await?;
            return Ok(());
        }
        accounts::add_account(&self.state_dir, &account)
            .await
            .map_err(|e| SourceError::new(e.to_string()))?;
        Ok(())
    }

    async fn delete_account(&self, name: String) -> Result<(), SourceError> {
        if let Some((remote, _)) = self.remote() {
            return Err(SourceError::new(format!(
                "account {name} is kept by gateway {}: remove it on the gateway host with `kubemaas account delete {name}`; nothing was changed",
                remote.gateway()
            )));
        }
        self.local
            .store()
            .tx(|tx| tx.delete_account(&name))
            .map_err(|e| SourceError::new(e.to_string()))?;
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
        Ok(())
    }

    async fn create_cluster(&self, spec: ClusterSpec) -> Result<CreateAnswer, SourceError> {
        let ConsoleEngine::Remote(remote) = &self.engine else {
            return Ok(CreateAnswer::Created(
                self.engine.create_cluster(spec).await?.name,
            ));
        };
        // The same path as `cluster create --gateway`: kept in this console's store first,
        // then sent; a gateway that is away (upgrading, stopped) leaves it Queued.
        let store = self.local.store();
        let gateway = remote.gateway();
        match queue::create_or_queue(store, gateway, remote.client(), spec).await {
            Ok(queue::CreateOutcome::Created(view)) => Ok(CreateAnswer::Created(view.name)),
            Ok(queue::CreateOutcome::Queued(request)) => Ok(CreateAnswer::Queued {
                reason: request
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("gateway {gateway} did not answer")),
                name: request.name,
            }),
            Err(e) => Err(SourceError::new(e.to_string())),
        }
    }

    async fn queued_requests(&self) -> Result<Vec<ClusterInfo>, SourceError> {
        let ConsoleEngine::Remote(remote) = &self.engine else {
            return Ok(Vec::new());
        };
        let rows = queue::queued(self.local.store(), remote.gateway())
            .map_err(|e| SourceError::new(e.to_string()))?;
        Ok(rows.iter().map(ClusterInfo::from_request).collect())
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
        // A request this console still keeps is not the gateway's yet: its detail is the
        // request's (why it waits, or why it was refused), read even while the gateway is away.
        let request = self
            .queued_requests()
            .await?
            .into_iter()
            .find(|r| r.name == key || r.id == key);
        let view = match (request, self.engine.cluster(&key).await) {
            (Some(r), _) if r.phase == super::clusters::Phase::Queued => return Ok(r),
            (_, Ok(view)) => view,
            (Some(r), Err(_)) => return Ok(r),
            (None, Err(e)) => return Err(e.into()),
        };
        let ids = view.machines.iter().map(|m| m.system_id.clone()).collect();
        let messages = self.status_messages(&view.account, ids).await;
        Ok(ClusterInfo::from_view(view, &messages))
    }

    async fn events_after(&self, after: i64, limit: usize) -> Result<Poll, SourceError> {
        if let Some((remote, _)) = self.remote() {
            // The gateway pushes its journal: this answers as soon as something arrives (or
            // after FEED_WAIT with nothing), and the console asks again at once.
            let rows = self.feed.read(remote, after, limit, FEED_WAIT).await?;
            return Ok(Poll {
                events: rows.into_iter().map(EventLine::from).collect(),
                now: Utc::now(),
                reconciling: false,
                streaming: true,
            });
        }
        let events = self.local.events(None, EventId(after), limit).await?;
        let lines = events
            .into_iter()
            .map(|e| match e {
                EngineEvent::Journal(row) => EventLine::from(row),
            })
            .collect();
        Ok(Poll {
            events: lines,
            now: Utc::now(),
            reconciling: self.local.engine().is_some(),
            streaming: false,
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
