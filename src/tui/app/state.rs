//! Everything the console shows, in one place owned by the event loop.

use super::gateways::GatewaysView;
use super::lists::{AccountsView, ProfilesView};
use super::refresh::RefreshSchedule;
use crate::tui::clusters::ClustersModel;
use crate::tui::keymap::Keymap;
use crate::tui::machines::MachinesTable;
use crate::tui::source::MaasIdentity;
use crate::tui::theme::Theme;
use crate::tui::widgets::confirm::ConfirmDialog;
use crate::tui::wizards::Wizard;
use tui_input::Input;

/// The screens `:` can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScreenId {
    Machines,
    Clusters,
    Accounts,
    Profiles,
    Gateways,
    Events,
    /// One cluster's live provisioning pane (opened from Clusters with Enter; not a `:` command).
    ClusterDetail,
}

impl ScreenId {
    pub const ALL: [ScreenId; 6] = [
        ScreenId::Machines,
        ScreenId::Clusters,
        ScreenId::Accounts,
        ScreenId::Profiles,
        ScreenId::Gateways,
        ScreenId::Events,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ScreenId::Machines => "Machines",
            ScreenId::Clusters => "Clusters",
            ScreenId::Accounts => "Cloud accounts",
            ScreenId::Profiles => "Cluster profiles",
            ScreenId::Gateways => "Gateways",
            ScreenId::Events => "Events",
            ScreenId::ClusterDetail => "Cluster",
        }
    }

    /// The command names that open this screen; the first is the canonical one.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            ScreenId::Machines => &["machines", "machine", "m", "ma"],
            ScreenId::Clusters => &["clusters", "cluster", "cl", "c"],
            ScreenId::Accounts => &["accounts", "account", "acc", "a"],
            ScreenId::Profiles => &["profiles", "profile", "pr", "p"],
            ScreenId::Gateways => &["gateways", "gateway", "gw", "g"],
            ScreenId::Events => &["events", "event", "ev", "e"],
            ScreenId::ClusterDetail => &["cluster-detail"],
        }
    }

    pub fn from_command(name: &str) -> Option<ScreenId> {
        let name = name.trim().to_ascii_lowercase();
        ScreenId::ALL
            .into_iter()
            .find(|s| s.aliases().contains(&name.as_str()))
    }
}

/// What keys go to.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    /// Keys are actions from the keymap.
    #[default]
    Normal,
    /// Typing a `:` command; the index is the history entry shown (↑ / ↓), if any.
    Command(Input, Option<usize>),
    /// Typing a `/` filter (applied as typed).
    Filter(Input),
}

/// How the console knows MAAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// No account and no MAAS_URL / MAAS_API_KEY: the console explains how to start.
    NotConfigured,
    /// Identifying the region.
    Connecting,
    Connected(MaasIdentity),
    /// Identification failed; retried on each refresh.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashLevel {
    Info,
    Warning,
    Error,
}

/// A one-line message in the footer that goes away by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub level: FlashLevel,
    /// The tick after which it disappears.
    pub until_tick: u64,
}

/// How long a flash message stays, in ticks (seconds).
pub const FLASH_TICKS: u64 = 6;

/// What the console starts with.
#[derive(Debug, Clone)]
pub struct StateOptions {
    pub theme: Theme,
    pub keymap: Keymap,
    pub readonly: bool,
    pub connection: Connection,
    /// Seconds between inventory reloads (k9s's refresh rate; at least 2).
    pub refresh_secs: u64,
    /// The terminal size at start.
    pub size: (u16, u16),
}

/// The whole console state.
#[derive(Debug, Clone)]
pub struct State {
    pub screen: ScreenId,
    /// Screens to go back to with Esc.
    pub history: Vec<ScreenId>,
    pub mode: Mode,
    pub help_open: bool,
    pub connection: Connection,
    pub machines: MachinesTable,
    pub theme: Theme,
    pub keymap: Keymap,
    /// `--readonly`: destructive actions are hidden and refused (none exist yet; the footer
    /// shows the badge so the operator knows).
    pub readonly: bool,
    pub flash: Option<Flash>,
    pub size: (u16, u16),
    /// Something visible changed since the last frame.
    pub dirty: bool,
    pub quit: bool,
    pub ticks: u64,
    /// When the inventory is reloaded next.
    pub refresh: RefreshSchedule,
    pub identify_in_flight: bool,
    /// The next frame repaints every cell (ctrl-l: the screen got garbled, e.g. by another
    /// program writing to the terminal).
    pub clear_requested: bool,
    /// Commands run with `:`, newest last, for ↑ / ↓ in the prompt.
    pub command_history: Vec<String>,
    /// An open wizard takes the body and every key.
    pub wizard: Option<Wizard>,
    /// A confirm dialog over everything (it takes the keys first).
    pub confirm: Option<ConfirmDialog>,
    pub profiles: ProfilesView,
    pub accounts: AccountsView,
    /// Clusters, the open cluster and the engine's journal.
    pub clusters: ClustersModel,
    /// `local` and the paired gateways, and which one is in use.
    pub gateways: GatewaysView,
}

/// How many `:` commands are remembered.
pub const COMMAND_HISTORY: usize = 50;

impl State {
    pub fn new(opts: StateOptions) -> State {
        State {
            screen: ScreenId::Machines,
            history: Vec::new(),
            mode: Mode::Normal,
            help_open: false,
            connection: opts.connection,
            machines: MachinesTable::default(),
            theme: opts.theme,
            keymap: opts.keymap,
            readonly: opts.readonly,
            flash: None,
            size: opts.size,
            dirty: true,
            quit: false,
            ticks: 0,
            refresh: RefreshSchedule::new(opts.refresh_secs),
            identify_in_flight: false,
            clear_requested: false,
            command_history: Vec::new(),
            wizard: None,
            confirm: None,
            profiles: ProfilesView::default(),
            accounts: AccountsView::default(),
            clusters: ClustersModel::default(),
            gateways: GatewaysView::default(),
        }
    }

    /// Whether table keys (move, sort, filter) apply: the Machines table is on screen.
    pub fn table_active(&self) -> bool {
        self.screen == ScreenId::Machines && self.connection != Connection::NotConfigured
    }

    /// Shows a message in the footer for a few seconds. Messages quote MAAS, gateways and
    /// specs: control characters are shown escaped (ratatui would silently drop them, hiding
    /// what was sent) and a newline cannot push the rest out of the one-line footer.
    pub fn flash(&mut self, level: FlashLevel, text: impl Into<String>) {
        self.flash = Some(Flash {
            text: crate::untrusted::one_line(&text.into()).into_owned(),
            level,
            until_tick: self.ticks + FLASH_TICKS,
        });
        self.dirty = true;
    }
}
