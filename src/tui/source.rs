//! Where the console's data comes from. Screens see only the plain rows defined here, never
//! HTTP or MAAS wire types, so the engine can replace [`MaasSource`] later without touching a
//! screen, and every screen can be tested from hand-built rows.

use crate::gateway::upgrade::UpgradeProgress;
use crate::gateway::upgrade_version::{self, VersionNotice};
use crate::maas::{MaasClient, MaasError, Machine, MachineFilter, NodeStatus};
use crate::model::{ClusterProfile, ClusterSpec, MaasSnapshot, Problems};
use crate::tui::account_check::{validate_live, AccountCheck, AccountDraft, AccountSummary};
use crate::tui::clusters::{ClusterInfo, Poll};
use crate::tui::lookups::PlacementChoices;
use crate::tui::widgets::secret::Secret;
use std::future::Future;

/// Which MAAS the console is looking at, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaasIdentity {
    /// The region URL, as the operator gave it.
    pub endpoint: String,
    pub version: String,
    pub user: String,
}

/// One machine of the MAAS inventory, as the Machines screen shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineRow {
    pub system_id: String,
    pub hostname: String,
    pub status: NodeStatus,
    pub zone: String,
    pub pool: String,
    pub cores: u32,
    /// MiB, as MAAS reports it.
    pub memory_mib: u64,
    /// Physical disks, largest first, in decimal GB.
    pub disks_gb: Vec<u64>,
    pub tags: Vec<String>,
    pub owner: Option<String>,
    /// The kubemaas cluster holding the machine (its owner data names the cluster's id; the
    /// engine source turns that into the cluster's name).
    pub cluster: Option<String>,
}

impl MachineRow {
    /// Memory in GiB, for display.
    pub fn memory_gib(&self) -> f64 {
        self.memory_mib as f64 / 1024.0
    }

    /// "2×960G" style summary of the disks.
    pub fn disks_label(&self) -> String {
        match self.disks_gb.as_slice() {
            [] => "-".to_string(),
            [one] => format!("{one}G"),
            [first, rest @ ..] if rest.iter().all(|d| d == first) => {
                format!("{}×{first}G", rest.len() + 1)
            }
            many => many
                .iter()
                .map(|d| format!("{d}G"))
                .collect::<Vec<_>>()
                .join("+"),
        }
    }

    /// The sum of the disks, for sorting.
    pub fn disks_total_gb(&self) -> u64 {
        self.disks_gb.iter().sum()
    }
}

impl From<&Machine> for MachineRow {
    fn from(m: &Machine) -> Self {
        MachineRow {
            system_id: m.system_id.clone(),
            hostname: m.hostname.clone(),
            status: m.status,
            zone: m.zone.name.clone(),
            pool: m.pool_name().to_string(),
            cores: m.cpu_count,
            memory_mib: m.memory,
            disks_gb: m.disk_sizes_gb(),
            tags: m.tag_names.clone(),
            owner: m.owner.clone().filter(|o| !o.is_empty()),
            cluster: m
                .owner_data
                .get(crate::engine::OWNER_KEY_CLUSTER)
                .filter(|id| !id.is_empty())
                .cloned(),
        }
    }
}

/// How a gateway answered the console's last `info` call (asked on a task, never while drawing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// The embedded engine: it runs inside this process, there is nothing to reach.
    Embedded,
    /// Recorded but not paired (unpaired, or pairing never finished): nothing to ask.
    NotPaired,
    /// It answered over mutual TLS, running this kubemaas version.
    Reachable { version: String },
    /// It did not answer; why, worded for the operator.
    Unreachable(String),
    /// It answered, but this console and it share no wire protocol: the message names both
    /// versions and which side to upgrade.
    Incompatible(String),
}

impl Reachability {
    /// A version notice when it answered running an older kubemaas than this console
    /// (`upgrade_version::notice`: "runs 0.1.0, this console 0.2.0" and what changed).
    pub fn notice(&self, gateway: &str) -> Option<VersionNotice> {
        match self {
            Reachability::Reachable { version } => {
                upgrade_version::notice(gateway, version, &upgrade_version::running_version())
            }
            _ => None,
        }
    }
}

/// The known nodes of each paired gateway, by gateway name (see [`ConsoleSource::gateway_nodes`]).
/// Kept beside the [`GatewaySummary`] rows rather than in them: most gateways have none.
pub type GatewayNodes = std::collections::BTreeMap<String, Vec<crate::store::KnownNode>>;

/// One gateway on the Gateways screen: `local` (the embedded engine) or a paired gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySummary {
    pub name: String,
    /// HOST:PORT, or `embedded` for `local`.
    pub address: String,
    /// The pinned CA's fingerprint, as the store keeps it (None for `local` or unpaired).
    pub ca_fingerprint: Option<String>,
    pub reachability: Reachability,
}

impl GatewaySummary {
    /// The fingerprint shortened for a table cell: its first 4 bytes without the `SHA256:` prefix (enough to tell
    /// two gateways apart at a glance; `kubemaas gateway show` prints it whole).
    pub fn short_fingerprint(&self) -> String {
        match &self.ca_fingerprint {
            Some(fp) => {
                let hex = fp.strip_prefix("SHA256:").unwrap_or(fp);
                let short: String = hex.chars().take(11).collect();
                if short.len() < hex.len() {
                    format!("{short}…")
                } else {
                    short
                }
            }
            None => "-".into(),
        }
    }
}

/// What a gateway showed when the console paired with it, for the operator to confirm before
/// anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairOffer {
    pub address: String,
    /// The name the gateway will be known by here (the one it announced).
    pub gateway: String,
    /// The CA this console would pin, `SHA256:AB:CD:…`.
    pub ca_fingerprint: String,
}

/// Why pairing did not happen, sorted by where the wizard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairFailure {
    /// Beside the address field: not HOST:PORT, nothing listening, not a gateway.
    Address(String),
    /// Beside the pairing code field: malformed, wrong, expired, already used, rate limited.
    Code(String),
    /// The gateway could not prove it knows the code: possibly an impersonator. Shown loud.
    Impersonator(String),
    /// Anything else (the store, a name already paired), under the form.
    Other(String),
}

impl PairFailure {
    pub fn message(&self) -> &str {
        match self {
            PairFailure::Address(m)
            | PairFailure::Code(m)
            | PairFailure::Impersonator(m)
            | PairFailure::Other(m) => m,
        }
    }
}

/// What became of a cluster the console asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateAnswer {
    /// The engine accepted it: the cluster's name.
    Created(String),
    /// The gateway is away: the request is kept by this console and sent when it answers.
    Queued { name: String, reason: String },
}

/// Where an upgrade's steps go as they happen (the event loop turns them into messages).
pub type ProgressSink = Box<dyn FnMut(UpgradeProgress) + Send>;
/// Where a gateway resize's steps go as they happen.
pub type ResizeSink = Box<dyn FnMut(crate::gateway::resize::ResizeProgress) + Send>;

/// A failed load, worded for the operator (what failed and what to do). Never holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
}

impl SourceError {
    pub fn new(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
        }
    }

    /// What a source that cannot do `what` yet answers (the engine provides it later).
    pub fn needs_engine(what: &str) -> Self {
        SourceError::new(format!(
            "{what} needs the kubemaas engine, which this console is not connected to yet; nothing was changed"
        ))
    }
}

impl From<MaasError> for SourceError {
    fn from(e: MaasError) -> Self {
        // MaasError's texts already scrub the API key and say how to fix the problem.
        SourceError {
            message: e.to_string(),
        }
    }
}

/// What the console needs from whoever knows about MAAS. Futures are `Send` so loads run on
/// their own tasks and answer the event loop by message; the render path never awaits them.
pub trait ConsoleSource: Send + Sync + 'static {
    /// The MAAS region, its version and the user the console acts as.
    fn identify(&self) -> impl Future<Output = Result<MaasIdentity, SourceError>> + Send;
    /// `local` first, then every gateway recorded in the store, each asked how it is.
    fn gateways(&self) -> impl Future<Output = Result<Vec<GatewaySummary>, SourceError>> + Send {
        async { Err(SourceError::needs_engine("listing gateways")) }
    }
    /// The nodes this console knows of each paired gateway, by gateway name, as the
    /// gateway's latest `/v1/info` answer listed them (a 1-node gateway lists none). Read from
    /// the console's own store, never the network: asked right after [`Self::gateways`],
    /// whose calls just refreshed the lists.
    fn gateway_nodes(&self) -> impl Future<Output = Result<GatewayNodes, SourceError>> + Send {
        async { Ok(GatewayNodes::new()) }
    }
    /// The same console working through gateway `name` (`local`: this host's engine): every
    /// screen's data comes from there once the event loop swapped it in.
    fn use_gateway(&self, name: String) -> impl Future<Output = Result<Self, SourceError>> + Send
    where
        Self: Sized,
    {
        let _ = name;
        async { Err(SourceError::needs_engine("switching gateways")) }
    }
    /// Whether this source has a MAAS inventory to show (a gateway always has its own).
    fn shows_maas(&self) -> bool {
        true
    }
    /// How gateway `name` answers now (the header's reachability, asked on a timer). One that
    /// answers is also sent the cluster requests this console queued for it.
    fn check_gateway(&self, name: String) -> impl Future<Output = Reachability> + Send {
        let _ = name;
        async { Reachability::Unreachable(SourceError::needs_engine("reaching a gateway").message) }
    }
    /// Upgrades gateway `name` to this console's own kubemaas (the same function as
    /// `kubemaas gateway upgrade`), telling `progress` each step; answers the version it runs
    /// once back. Requests queued for it meanwhile are sent when it is back.
    fn upgrade_gateway(
        &self,
        name: String,
        progress: ProgressSink,
    ) -> impl Future<Output = Result<String, SourceError>> + Send {
        let _ = (name, progress);
        async { Err(SourceError::needs_engine("upgrading a gateway")) }
    }
    /// Moves paired gateway `name` onto the etcd of `settings` (the same function as
    /// `kubemaas gateway resize NAME --nodes 3`): what the operator does next, one line each.
    fn resize_gateway(
        &self,
        name: String,
        settings: crate::gateway::resize::EtcdSettings,
        progress: ResizeSink,
    ) -> impl Future<Output = Result<Vec<String>, SourceError>> + Send {
        let _ = (name, settings, progress);
        async { Err(SourceError::needs_engine("resizing a gateway")) }
    }
    /// Forgets this console's pairing with gateway `name` (its record stays).
    fn unpair_gateway(&self, name: String) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = name;
        async { Err(SourceError::needs_engine("unpairing a gateway")) }
    }
    /// Pairs with the gateway at `address` using `code` (the same function as
    /// `kubemaas gateway pair`), keeping the result aside until [`Self::confirm_pairing`].
    fn pair_gateway(
        &self,
        address: String,
        code: Secret,
    ) -> impl Future<Output = Result<PairOffer, PairFailure>> + Send {
        let _ = (address, code);
        async {
            Err(PairFailure::Other(
                SourceError::needs_engine("pairing a gateway").message,
            ))
        }
    }
    /// Stores the pairing [`Self::pair_gateway`] made with `address`; gives the gateway's name.
    fn confirm_pairing(
        &self,
        address: String,
    ) -> impl Future<Output = Result<String, SourceError>> + Send {
        let _ = address;
        async { Err(SourceError::needs_engine("pairing a gateway")) }
    }
    /// Every machine the user may see.
    fn list_machines(&self) -> impl Future<Output = Result<Vec<MachineRow>, SourceError>> + Send;

    /// Zones, pools, tags, domains and boot images with their available machines, and the
    /// snapshot the spec is checked against (wizards).
    fn placement_choices(
        &self,
    ) -> impl Future<Output = Result<PlacementChoices, SourceError>> + Send {
        async {
            Err(SourceError::needs_engine(
                "listing MAAS zones, pools and tags",
            ))
        }
    }

    /// The cluster profiles to build from: shipped ones, then the operator's imported ones.
    fn profiles(&self) -> impl Future<Output = Result<Vec<ClusterProfile>, SourceError>> + Send {
        async { Ok(crate::model::shipped_profiles()) }
    }

    /// The cloud accounts kubemaas knows.
    fn accounts(&self) -> impl Future<Output = Result<Vec<AccountSummary>, SourceError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// Checks an account against the model and the live MAAS; problems at the draft's fields.
    fn validate_account(
        &self,
        draft: AccountDraft,
    ) -> impl Future<Output = Result<AccountCheck, Problems>> + Send {
        async move { validate_live(&draft).await }
    }

    /// Records a validated account (with its key) in the store.
    fn save_account(
        &self,
        draft: AccountDraft,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = draft;
        async { Err(SourceError::needs_engine("saving a cloud account")) }
    }

    /// Forgets an account (kubemaas's record; MAAS is untouched).
    fn delete_account(&self, name: String) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = name;
        async { Err(SourceError::needs_engine("deleting a cloud account")) }
    }

    /// Starts building a cluster; answers its name once the engine accepted it, or that the
    /// request is queued (a gateway that is away).
    fn create_cluster(
        &self,
        spec: ClusterSpec,
    ) -> impl Future<Output = Result<CreateAnswer, SourceError>> + Send {
        let _ = spec;
        async { Err(SourceError::needs_engine("creating a cluster")) }
    }
    /// The cluster requests this console keeps for the gateway in use (Queued or Refused
    /// rows); none on the embedded engine, which never queues.
    fn queued_requests(
        &self,
    ) -> impl Future<Output = Result<Vec<ClusterInfo>, SourceError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// Live clusters, by name (cluster screens).
    fn clusters(&self) -> impl Future<Output = Result<Vec<ClusterInfo>, SourceError>> + Send {
        async { Err(SourceError::needs_engine("listing clusters")) }
    }

    /// One cluster by name or id, with its machines' MAAS status messages.
    fn cluster(
        &self,
        key: String,
    ) -> impl Future<Output = Result<ClusterInfo, SourceError>> + Send {
        let _ = key;
        async { Err(SourceError::needs_engine("showing a cluster")) }
    }

    /// The engine's journal after entry `after` (all clusters), oldest first, at most `limit`;
    /// with the engine's clock and whether this process runs the reconcilers.
    fn events_after(
        &self,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Poll, SourceError>> + Send {
        let _ = (after, limit);
        async { Err(SourceError::needs_engine("reading the event journal")) }
    }

    /// Queues the deletion of a provisioned cluster.
    fn delete_cluster(&self, name: String) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = name;
        async { Err(SourceError::needs_engine("deleting a cluster")) }
    }

    /// Queues the abort of a cluster still provisioning.
    fn abort_cluster(&self, name: String) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = name;
        async { Err(SourceError::needs_engine("aborting a cluster")) }
    }

    /// Sets a pool's size (a new spec generation).
    fn scale_pool(
        &self,
        name: String,
        pool: String,
        size: u32,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = (name, pool, size);
        async { Err(SourceError::needs_engine("resizing a pool")) }
    }

    /// Writes the cluster's admin kubeconfig to `path` (0600).
    fn write_kubeconfig(
        &self,
        name: String,
        path: std::path::PathBuf,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        let _ = (name, path);
        async { Err(SourceError::needs_engine("writing a kubeconfig")) }
    }
}

/// The name the console gives the account it was started with (MAAS_URL / MAAS_API_KEY).
pub const ENV_ACCOUNT: &str = "env";

/// The console over a MAAS client (until the engine provides its own interface).
#[derive(Debug, Clone)]
pub struct MaasSource {
    client: MaasClient,
}

impl MaasSource {
    pub fn new(client: MaasClient) -> Self {
        MaasSource { client }
    }
}

impl ConsoleSource for MaasSource {
    async fn identify(&self) -> Result<MaasIdentity, SourceError> {
        let (version, user) = self.client.identify().await?;
        Ok(MaasIdentity {
            endpoint: self.client.endpoint().to_string(),
            version: version.version,
            user: user.username,
        })
    }

    async fn list_machines(&self) -> Result<Vec<MachineRow>, SourceError> {
        let machines = self.client.machines(&MachineFilter::default()).await?;
        Ok(machines.iter().map(MachineRow::from).collect())
    }

    async fn placement_choices(&self) -> Result<PlacementChoices, SourceError> {
        Ok(PlacementChoices::from_snapshot(
            MaasSnapshot::fetch(&self.client).await?,
        ))
    }

    async fn accounts(&self) -> Result<Vec<AccountSummary>, SourceError> {
        // Without the store the only account is the one the console runs on; it is listed
        // as validated now because identifying it just succeeded.
        let (version, _) = self.client.identify().await?;
        Ok(vec![AccountSummary {
            name: ENV_ACCOUNT.to_string(),
            gateway: crate::model::account::LOCAL_GATEWAY.to_string(),
            endpoint: self.client.endpoint().to_string(),
            maas_version: Some(version.version),
            last_validated: Some(
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(disks: &[u64]) -> MachineRow {
        MachineRow {
            system_id: "abc".into(),
            hostname: "h".into(),
            status: NodeStatus::Ready,
            zone: "z".into(),
            pool: "p".into(),
            cores: 4,
            memory_mib: 8192,
            disks_gb: disks.to_vec(),
            tags: vec![],
            owner: None,
            cluster: None,
        }
    }

    #[test]
    fn disk_labels() {
        assert_eq!(row(&[]).disks_label(), "-");
        assert_eq!(row(&[960]).disks_label(), "960G");
        assert_eq!(row(&[960, 960]).disks_label(), "2×960G");
        assert_eq!(row(&[1920, 480]).disks_label(), "1920G+480G");
        assert_eq!(row(&[1920, 480]).disks_total_gb(), 2400);
        assert_eq!(row(&[]).memory_gib(), 8.0);
    }
}
