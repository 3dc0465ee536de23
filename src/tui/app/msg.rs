//! What can happen to the console, and what it asks the event loop to do.

use crate::gateway::upgrade::UpgradeProgress;
use crate::model::{ClusterProfile, ClusterSpec, Problems};
use crate::tui::account_check::{AccountCheck, AccountDraft, AccountSummary};
use crate::tui::clusters::{ClusterInfo, Poll};
use crate::tui::lookups::PlacementChoices;
use crate::tui::source::{
    GatewaySummary, MaasIdentity, MachineRow, PairFailure, PairOffer, Reachability, SourceError,
};
use crate::tui::widgets::secret::Secret;
use crossterm::event::KeyEvent;
use std::path::PathBuf;

/// Everything that changes the state arrives as one of these.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// A key press.
    Key(KeyEvent),
    /// The mouse wheel turned (with `--mouse`): positive scrolls down, in rows.
    Scroll(i8),
    /// The terminal is now this many columns and rows.
    Resize(u16, u16),
    /// The 1 Hz clock: periodic refresh, flash expiry.
    Tick,
    /// The answer to [`Cmd::Identify`].
    Identified(Result<MaasIdentity, SourceError>),
    /// The answer to [`Cmd::LoadMachines`].
    MachinesLoaded(Result<Vec<MachineRow>, SourceError>),
    /// The answer to [`Cmd::LoadProfiles`].
    ProfilesLoaded(Result<Vec<ClusterProfile>, SourceError>),
    /// The answer to [`Cmd::LoadAccounts`].
    AccountsLoaded(Result<Vec<AccountSummary>, SourceError>),
    /// The answer to [`Cmd::LoadChoices`].
    ChoicesLoaded(Box<Result<PlacementChoices, SourceError>>),
    /// The answer to [`Cmd::ValidateAccount`]: problems at the account's fields.
    AccountValidated(Result<AccountCheck, Problems>),
    /// The answer to [`Cmd::SaveAccount`].
    AccountSaved(Result<(), SourceError>),
    /// The answer to [`Cmd::DeleteAccount`].
    AccountDeleted(Result<(), SourceError>),
    /// The answer to [`Cmd::CreateCluster`]: the cluster's name once accepted.
    ClusterCreated(Result<String, SourceError>),
    /// The answer to [`Cmd::CreateCluster`] on a gateway that is away: the request is kept by
    /// this console (shown Queued) and sent once the gateway answers.
    ClusterQueued { name: String, reason: String },
    /// The requests this console keeps for the gateway in use (sent with every
    /// [`Cmd::LoadClusters`] answer, before it: read from the console's own store, they are
    /// there even while the gateway is away).
    QueueLoaded(Result<Vec<ClusterInfo>, SourceError>),
    /// The answer to [`Cmd::PollEvents`]: new journal entries and the engine's clock.
    EventsPolled(Result<Poll, SourceError>),
    /// The answer to [`Cmd::LoadClusters`].
    ClustersLoaded(Result<Vec<ClusterInfo>, SourceError>),
    /// The answer to [`Cmd::LoadCluster`] (the key it was asked for).
    ClusterLoaded(String, Box<Result<ClusterInfo, SourceError>>),
    /// A cluster command (delete, abort, resize, kubeconfig) was accepted or refused.
    ClusterActionDone {
        /// What was asked, for the flash ("deletion of demo requested").
        done: String,
        result: Result<(), SourceError>,
    },
    /// The answer to [`Cmd::LoadGateways`].
    GatewaysLoaded(Result<Vec<GatewaySummary>, SourceError>),
    /// The answer to [`Cmd::LoadGatewayNodes`].
    GatewayNodesLoaded(Result<crate::tui::source::GatewayNodes, SourceError>),
    /// The answer to [`Cmd::UnpairGateway`] (the gateway's name).
    GatewayUnpaired(String, Result<(), SourceError>),
    /// The answer to [`Cmd::PairGateway`].
    GatewayPaired(Result<PairOffer, PairFailure>),
    /// The answer to [`Cmd::ConfirmPairing`]: the gateway's name once stored.
    PairingSaved(Result<String, SourceError>),
    /// The console now works through gateway `name` (every screen's data comes from there),
    /// or could not switch; `Ok(true)` when it has a MAAS inventory to show.
    GatewaySwitched {
        name: String,
        result: Result<bool, SourceError>,
    },
    /// The answer to [`Cmd::CheckGateway`]: how the gateway in use answers now.
    GatewayChecked(String, Reachability),
    /// A step of the upgrade of gateway `.0` (asked by [`Cmd::UpgradeGateway`]).
    UpgradeProgressed(String, UpgradeProgress),
    /// The upgrade of gateway `.0` finished: the version it runs now, or why it did not.
    GatewayUpgraded(String, Result<String, SourceError>),
    /// A step of the resize of gateway `.0` (asked by [`Cmd::ResizeGateway`]).
    ResizeProgressed(String, crate::gateway::resize::ResizeProgress),
    /// The resize of gateway `.0` finished: what the operator does next (one line each), or
    /// why it did not.
    GatewayResized(String, Result<Vec<String>, SourceError>),
    /// Leave now (a signal: SIGTERM, SIGHUP from a dropped SSH session; or input closed).
    Quit,
}

/// Work `update` asks for; the event loop runs it on a task and answers with a [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    Identify,
    LoadMachines,
    LoadProfiles,
    LoadAccounts,
    /// Zones, pools, tags, domains, images and the MAAS snapshot, for the wizards.
    LoadChoices,
    ValidateAccount(AccountDraft),
    SaveAccount(AccountDraft),
    DeleteAccount(String),
    CreateCluster(Box<ClusterSpec>),
    /// Journal entries after this id.
    PollEvents(i64),
    LoadClusters,
    /// One cluster, by name or id.
    LoadCluster(String),
    DeleteCluster(String),
    AbortCluster(String),
    ScalePool {
        cluster: String,
        pool: String,
        size: u32,
    },
    WriteKubeconfig {
        cluster: String,
        path: PathBuf,
    },
    /// `local` and the paired gateways, each asked how it is.
    LoadGateways,
    /// The nodes the console knows of each paired gateway (after [`Cmd::LoadGateways`]).
    LoadGatewayNodes,
    UnpairGateway(String),
    /// Pair (the code is masked in Debug); nothing is stored until [`Cmd::ConfirmPairing`].
    PairGateway {
        address: String,
        code: Secret,
    },
    ConfirmPairing(String),
    /// Work through this gateway from now on (`local`: the embedded engine).
    UseGateway(String),
    /// Ask the gateway in use whether it answers (the header's mark).
    CheckGateway(String),
    /// Upgrade this gateway to this console's kubemaas (progress arrives as messages).
    UpgradeGateway(String),
    /// Move this gateway onto etcd; two nodes join it (progress arrives as messages).
    ResizeGateway {
        gateway: String,
        settings: crate::gateway::resize::EtcdSettings,
    },
}

impl Cmd {
    /// A name for logs (never the command's data: an account draft holds a key).
    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Identify => "identify",
            Cmd::LoadMachines => "load_machines",
            Cmd::LoadProfiles => "load_profiles",
            Cmd::LoadAccounts => "load_accounts",
            Cmd::LoadChoices => "load_choices",
            Cmd::ValidateAccount(_) => "validate_account",
            Cmd::SaveAccount(_) => "save_account",
            Cmd::DeleteAccount(_) => "delete_account",
            Cmd::CreateCluster(_) => "create_cluster",
            Cmd::PollEvents(_) => "poll_events",
            Cmd::LoadClusters => "load_clusters",
            Cmd::LoadCluster(_) => "load_cluster",
            Cmd::DeleteCluster(_) => "delete_cluster",
            Cmd::AbortCluster(_) => "abort_cluster",
            Cmd::ScalePool { .. } => "scale_pool",
            Cmd::WriteKubeconfig { .. } => "write_kubeconfig",
            Cmd::LoadGateways => "load_gateways",
            Cmd::LoadGatewayNodes => "load_gateway_nodes",
            Cmd::UnpairGateway(_) => "unpair_gateway",
            Cmd::PairGateway { .. } => "pair_gateway",
            Cmd::ConfirmPairing(_) => "confirm_pairing",
            Cmd::UseGateway(_) => "use_gateway",
            Cmd::CheckGateway(_) => "check_gateway",
            Cmd::UpgradeGateway(_) => "upgrade_gateway",
            Cmd::ResizeGateway { .. } => "resize_gateway",
        }
    }
}
