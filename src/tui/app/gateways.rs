//! The Gateways screen's state and keys: `local` (the embedded engine) and the paired
//! gateways, each with how it answered the last `info` call (asked by [`Cmd::LoadGateways`]
//! on a task, never while drawing); `u` unpairs the selected one after the operator types its
//! name. The header reads the gateway in use from here.
//!
//! Enter on a gateway (or `:gateway NAME`) switches every screen to it: the event loop swaps
//! the source, and [`switched`] starts the screens over from the new one's data. While a paired
//! gateway is in use it is asked on a timer whether it answers ([`Cmd::CheckGateway`]); when it
//! does not, the screens keep their last data marked stale ([`GatewaysView::stale`]).

use super::lists::{AccountsView, ListLoad};
use super::msg::{Cmd, Msg};
use super::state::{Connection, FlashLevel, ScreenId, State};
use super::wizard_update::open_confirm;
use crate::gateway::upgrade::UpgradeProgress;
use crate::gateway::upgrade_version::running_version;
use crate::model::account::LOCAL_GATEWAY;
use crate::tui::clusters::{ClustersModel, EngineLink};
use crate::tui::keymap::Action;
use crate::tui::machines::MachinesTable;
use crate::tui::source::{GatewayNodes, GatewaySummary, Reachability, SourceError};
use crate::tui::widgets::confirm::ConfirmAction;
use crate::tui::wizards::Wizard;

/// Ticks (seconds) between re-asking the gateways how they are while the screen is open.
pub const GATEWAY_REFRESH_TICKS: u64 = 15;
/// Ticks (seconds) between asking the gateway in use whether it answers (the header's mark).
pub const GATEWAY_CHECK_TICKS: u64 = 5;

#[derive(Debug, Clone)]
pub struct GatewaysView {
    pub rows: Vec<GatewaySummary>,
    /// The known nodes of each replicated gateway, by name (loaded after the rows).
    pub nodes: GatewayNodes,
    pub load: ListLoad,
    pub selected: usize,
    /// The gateway this console works through: `local` (the embedded engine) or a paired one.
    pub in_use: String,
    /// The tick of the last answer, for the periodic re-check.
    pub loaded_at: u64,
    /// How the gateway in use answered its last check (None: not asked yet).
    pub health: Option<Reachability>,
    pub check_in_flight: bool,
    /// The tick of the last check's answer.
    pub checked_at: u64,
    /// A switch asked for and not answered yet.
    pub switching: Option<String>,
    /// How the console is attached to this host's engine (restored when switching back).
    pub local_link: EngineLink,
    /// Whether this host has a MAAS for the inventory screens (restored likewise).
    pub local_maas: bool,
    /// The last gateway upgrade started from this console: its steps and how it ended.
    pub upgrade: Option<UpgradePanel>,
    /// The last gateway resize started from this console, likewise.
    pub resize: Option<super::gateway_resize::ResizePanel>,
}

/// A gateway upgrade as the Gateways screen's panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradePanel {
    pub gateway: String,
    /// The version it is upgraded to (this console's).
    pub to: String,
    /// One line per step, oldest first.
    pub lines: Vec<String>,
    /// None while it runs; then the version it runs, or why it did not finish.
    pub outcome: Option<Result<String, String>>,
}

impl UpgradePanel {
    fn step(&mut self, p: UpgradeProgress) {
        let line = match p {
            UpgradeProgress::Node {
                index,
                total,
                name,
                address,
                leader,
            } => format!(
                "node {index}/{total} {name} at {address}{}",
                if leader {
                    " (the leader: it resigns first)"
                } else {
                    ""
                }
            ),
            UpgradeProgress::Uploading { address, bytes } => format!(
                "uploading this console's kubemaas ({}) to {address}",
                byte_size(bytes)
            ),
            UpgradeProgress::Restarting { address, from, to } => format!(
                "{address} installed it: draining, then restarting from kubemaas {from} into {to}"
            ),
            UpgradeProgress::Back { address, version } => {
                format!("{address} is back, running kubemaas {version}")
            }
        };
        self.lines.push(line);
    }
}

/// `48.2 MB`: an executable's size, as the operator reads it.
fn byte_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else if bytes >= 1_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} bytes")
    }
}

impl Default for GatewaysView {
    fn default() -> Self {
        GatewaysView {
            rows: Vec::new(),
            nodes: GatewayNodes::new(),
            load: ListLoad::NotLoaded,
            selected: 0,
            in_use: LOCAL_GATEWAY.to_string(),
            loaded_at: 0,
            health: None,
            check_in_flight: false,
            checked_at: 0,
            switching: None,
            local_link: EngineLink::Absent,
            local_maas: false,
            upgrade: None,
            resize: None,
        }
    }
}

impl GatewaySummary {
    /// Whether Enter can switch to it: `local`, or a gateway this console is paired with.
    pub fn usable(&self) -> bool {
        self.reachability != Reachability::NotPaired
    }

    /// Whether `u` applies: a remote gateway this console is paired with.
    pub fn unpairable(&self) -> bool {
        !matches!(
            self.reachability,
            Reachability::Embedded | Reachability::NotPaired
        )
    }
}

impl GatewaysView {
    pub fn selected_row(&self) -> Option<&GatewaySummary> {
        self.rows.get(self.selected)
    }

    /// The row of the gateway in use, once loaded.
    pub fn in_use_row(&self) -> Option<&GatewaySummary> {
        self.rows.iter().find(|g| g.name == self.in_use)
    }

    /// Whether a paired gateway is in use (not the embedded engine).
    pub fn remote_in_use(&self) -> bool {
        self.in_use != LOCAL_GATEWAY
    }

    /// How the gateway in use answers, as the header shows it: its last check, else its row.
    pub fn in_use_reachability(&self) -> Option<&Reachability> {
        if !self.remote_in_use() {
            return Some(&Reachability::Embedded);
        }
        self.health
            .as_ref()
            .or_else(|| self.in_use_row().map(|g| &g.reachability))
    }

    /// The gateway being upgraded now, if any (one at a time).
    pub fn upgrade_in_flight(&self) -> Option<&str> {
        self.upgrade
            .as_ref()
            .filter(|u| u.outcome.is_none())
            .map(|u| u.gateway.as_str())
    }

    /// The gateway in use does not answer: what the screens show is its last data.
    pub fn stale(&self) -> bool {
        self.remote_in_use()
            && matches!(
                self.in_use_reachability(),
                Some(Reachability::Unreachable(_) | Reachability::Incompatible(_))
            )
    }

    pub fn move_by(&mut self, by: isize) -> bool {
        let before = self.selected;
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(by).min(last);
        before != self.selected
    }
}

fn load(state: &mut State) -> Vec<Cmd> {
    if state.gateways.load == ListLoad::Loading {
        return Vec::new();
    }
    state.gateways.load = ListLoad::Loading;
    vec![Cmd::LoadGateways]
}

/// The load the Gateways screen needs when it opens.
pub fn on_screen_opened(state: &mut State) -> Vec<Cmd> {
    if state.screen == ScreenId::Gateways {
        return load(state);
    }
    Vec::new()
}

/// Re-asks the gateways now and then while their screen is open (reachability changes
/// without any event the console would hear of).
pub fn on_tick(state: &mut State) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    let g = &mut state.gateways;
    // The gateway in use is asked on its own timer, whatever the screen: the header says
    // whether it answers, and the render path never waits for it.
    let check_due = state.ticks.saturating_sub(g.checked_at) >= GATEWAY_CHECK_TICKS;
    if g.remote_in_use() && !g.check_in_flight && check_due {
        g.check_in_flight = true;
        cmds.push(Cmd::CheckGateway(g.in_use.clone()));
    }
    let due = state.ticks.saturating_sub(state.gateways.loaded_at) >= GATEWAY_REFRESH_TICKS;
    if state.screen == ScreenId::Gateways && state.wizard.is_none() && due {
        cmds.extend(load(state));
    }
    cmds
}

/// Starts working through gateway `name` (the loop swaps the source, then [`switched`]).
pub fn use_gateway(state: &mut State, name: &str) -> Vec<Cmd> {
    state.dirty = true;
    if name == state.gateways.in_use {
        state.flash(
            FlashLevel::Info,
            format!("this console already works through gateway {name}"),
        );
        return Vec::new();
    }
    if let Some(g) = state.gateways.rows.iter().find(|g| g.name == name) {
        if !g.usable() {
            let text = format!(
                "gateway {name} is not paired with this console: pair it first (n on this screen, or `kubemaas gateway pair`)"
            );
            state.flash(FlashLevel::Error, text);
            return Vec::new();
        }
    }
    state.gateways.switching = Some(name.to_string());
    state.flash(FlashLevel::Info, format!("switching to gateway {name}…"));
    vec![Cmd::UseGateway(name.to_string())]
}

/// The console now works through gateway `name`: every screen starts over from its data
/// (nothing of the previous gateway's stays on screen to be mistaken for this one's).
fn switched(state: &mut State, name: String, shows_maas: bool) -> Vec<Cmd> {
    let local = name == LOCAL_GATEWAY;
    let g = &mut state.gateways;
    g.switching = None;
    g.in_use = name.clone();
    g.health = None;
    g.check_in_flight = false;
    g.checked_at = state.ticks;
    state.machines = MachinesTable::default();
    state.accounts = AccountsView::default();
    state.clusters = ClustersModel {
        // A gateway reconciles by itself: leaving the console stops nothing there.
        link: if local {
            state.gateways.local_link
        } else {
            EngineLink::Watching
        },
        // The start-up summary belongs to the first engine the console opened on.
        greeted: true,
        ..ClustersModel::default()
    };
    state.connection = if shows_maas {
        Connection::Connecting
    } else {
        Connection::NotConfigured
    };
    state.identify_in_flight = false;
    if state.screen == ScreenId::ClusterDetail {
        state.screen = ScreenId::Clusters;
        state.history.retain(|s| *s != ScreenId::ClusterDetail);
    }
    let where_ = if local {
        "the embedded engine (local)".to_string()
    } else {
        format!("gateway {name}")
    };
    state.flash(
        FlashLevel::Info,
        format!("every screen now works through {where_}"),
    );
    let mut cmds = super::update::init(state);
    cmds.extend(super::update::screen_opened(state));
    if !local {
        state.gateways.check_in_flight = true;
        cmds.push(Cmd::CheckGateway(name));
    }
    state.dirty = true;
    cmds
}

/// The gateway in use answered a check (or did not).
fn checked(state: &mut State, name: String, reachability: Reachability) -> Vec<Cmd> {
    let g = &mut state.gateways;
    if name != g.in_use {
        // A check of the gateway just left.
        return Vec::new();
    }
    g.check_in_flight = false;
    g.checked_at = state.ticks;
    // A gateway that answers had its queued requests sent by the check: read the list again
    // so the Queued rows become the clusters (or show why they were refused).
    let answers = matches!(reachability, Reachability::Reachable { .. });
    let mut cmds = if answers && state.clusters.has_waiting() {
        super::cluster_update::reload_list(state)
    } else {
        Vec::new()
    };
    let g = &mut state.gateways;
    if g.health.as_ref() == Some(&reachability) {
        return cmds;
    }
    let was_stale = g.stale();
    g.health = Some(reachability);
    state.dirty = true;
    match (&state.gateways.health, was_stale) {
        (Some(Reachability::Incompatible(why)), false) => {
            let text = format!("gateway {name} cannot be used: {why}");
            state.flash(FlashLevel::Error, text);
            cmds
        }
        (Some(Reachability::Unreachable(why)), false) => {
            let text = format!(
                "gateway {name} is unreachable: {why} — the screens show its last data (stale) until it answers"
            );
            state.flash(FlashLevel::Error, text);
            cmds
        }
        (Some(Reachability::Reachable { .. }), true) => {
            state.flash(
                FlashLevel::Info,
                format!("gateway {name} answers again: reloading"),
            );
            // Whatever failed while it was away is read again now, not at the next refresh.
            cmds.extend(super::cluster_update::reload_list(state));
            if state.connection != Connection::NotConfigured && !state.refresh.in_flight() {
                state.refresh.start(state.ticks);
                cmds.push(Cmd::LoadMachines);
            }
            cmds
        }
        _ => cmds,
    }
}

/// Keys of the Gateways screen; `None` when not its.
pub fn on_action(state: &mut State, action: Action) -> Option<Vec<Cmd>> {
    if state.screen != ScreenId::Gateways {
        return None;
    }
    let step = match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -10,
        Action::PageDown => 10,
        Action::Top => -isize::MAX,
        Action::Bottom => isize::MAX,
        _ => 0,
    };
    if step != 0 {
        state.dirty |= state.gateways.move_by(step);
        return Some(Vec::new());
    }
    match action {
        Action::Open => {
            let name = state.gateways.selected_row().map(|g| g.name.clone());
            Some(match name {
                Some(name) => use_gateway(state, &name),
                None => Vec::new(),
            })
        }
        Action::New => {
            if state.readonly {
                state.flash(
                    FlashLevel::Error,
                    "read-only: pairing a gateway is refused because kubemaas was started with --readonly; restart without it to change anything",
                );
            } else {
                state.wizard = Some(Wizard::Gateway(Box::default()));
            }
            state.dirty = true;
            Some(Vec::new())
        }
        Action::Refresh => {
            state.dirty = true;
            Some(load(state))
        }
        Action::Upgrade => {
            open_upgrade(state);
            Some(Vec::new())
        }
        Action::Resize => {
            super::gateway_resize::open(state);
            Some(Vec::new())
        }
        Action::Unpair => {
            match state.gateways.selected_row() {
                Some(g) if g.unpairable() => {
                    let name = g.name.clone();
                    open_confirm(state, ConfirmAction::UnpairGateway { name });
                }
                Some(g) if g.reachability == Reachability::Embedded => state.flash(
                    FlashLevel::Warning,
                    "`local` is the embedded engine: it is always there and cannot be unpaired",
                ),
                Some(g) => {
                    let text = format!(
                        "gateway {} is not paired with this console: nothing to unpair",
                        g.name
                    );
                    state.flash(FlashLevel::Warning, text);
                }
                None => {}
            }
            state.dirty = true;
            Some(Vec::new())
        }
        _ => None,
    }
}

/// Answers to the gateway commands; anything else goes back to the caller.
pub fn on_msg(state: &mut State, msg: Msg) -> Result<Vec<Cmd>, Msg> {
    match msg {
        Msg::GatewaysLoaded(result) => {
            let view = &mut state.gateways;
            view.loaded_at = state.ticks;
            match result {
                Ok(rows) => {
                    view.selected = view.selected.min(rows.len().saturating_sub(1));
                    view.rows = rows;
                    view.load = ListLoad::Loaded;
                    state.dirty = true;
                    // The probes just asked each gateway for its nodes: read what they recorded.
                    return Ok(vec![Cmd::LoadGatewayNodes]);
                }
                Err(e) => view.load = ListLoad::Failed(e.message),
            }
            state.dirty = true;
            Ok(Vec::new())
        }
        Msg::GatewayNodesLoaded(result) => {
            let view = &mut state.gateways;
            match result {
                Ok(nodes) => view.nodes = nodes,
                // Stale node lists would mislead (a replaced node's old address): none shown,
                // and the note says why.
                Err(e) => {
                    view.nodes.clear();
                    view.load =
                        ListLoad::Failed(format!("cannot read the gateways' nodes: {}", e.message));
                }
            }
            state.dirty = true;
            Ok(Vec::new())
        }
        Msg::GatewaySwitched { name, result } => match result {
            Ok(shows_maas) => Ok(switched(state, name, shows_maas)),
            Err(e) => {
                state.gateways.switching = None;
                state.flash(FlashLevel::Error, e.message);
                Ok(Vec::new())
            }
        },
        Msg::GatewayChecked(name, reachability) => Ok(checked(state, name, reachability)),
        Msg::UpgradeProgressed(name, step) => {
            if let Some(panel) = state
                .gateways
                .upgrade
                .as_mut()
                .filter(|u| u.gateway == name)
            {
                panel.step(step);
                state.dirty = true;
            }
            Ok(Vec::new())
        }
        Msg::GatewayUpgraded(name, result) => Ok(upgraded(state, name, result)),
        Msg::ResizeProgressed(name, step) => {
            super::gateway_resize::progressed(state, name, step);
            Ok(Vec::new())
        }
        Msg::GatewayResized(name, result) => {
            super::gateway_resize::finished(state, name, result);
            // Its nodes and state changed: ask again.
            Ok(load(state))
        }
        Msg::GatewayUnpaired(name, result) => {
            let mut cmds = Vec::new();
            match result {
                Ok(()) => {
                    state.flash(
                        FlashLevel::Info,
                        format!("unpaired gateway {name}: its record stays; pair again with `kubemaas gateway pair`"),
                    );
                    // Its keys are gone: the console cannot keep working through it.
                    if name == state.gateways.in_use {
                        state.gateways.switching = Some(LOCAL_GATEWAY.to_string());
                        cmds.push(Cmd::UseGateway(LOCAL_GATEWAY.to_string()));
                    }
                }
                Err(e) => state.flash(FlashLevel::Error, e.message),
            }
            state.dirty = true;
            cmds.extend(load(state));
            Ok(cmds)
        }
        Msg::GatewayPaired(result) => {
            if let Some(Wizard::Gateway(w)) = state.wizard.as_mut() {
                w.paired(result);
                state.dirty = true;
            }
            Ok(Vec::new())
        }
        Msg::PairingSaved(result) => {
            if let Some(Wizard::Gateway(w)) = state.wizard.as_mut() {
                match result {
                    Ok(name) => {
                        state.wizard = None;
                        state.flash(
                            FlashLevel::Info,
                            format!("paired with gateway {name}: its CA is pinned"),
                        );
                        state.dirty = true;
                        return Ok(load(state));
                    }
                    Err(e) => w.save_failed(e.message),
                }
                state.dirty = true;
            }
            Ok(Vec::new())
        }
        other => Err(other),
    }
}

/// `U` on a gateway row: asks (typing its name) before upgrading it to this console's
/// kubemaas; refused under --readonly (by the dialog), for `local`, for an unpaired gateway and
/// while another upgrade runs.
fn open_upgrade(state: &mut State) {
    let Some(g) = state.gateways.selected_row() else {
        return;
    };
    let refusal = if let Some(busy) = state.gateways.upgrade_in_flight() {
        Some(format!(
            "gateway {busy} is being upgraded: wait for it to finish (its panel shows how far it is)"
        ))
    } else if g.reachability == Reachability::Embedded {
        Some("`local` is the embedded engine: it runs inside this console, which is upgraded by installing a newer kubemaas".into())
    } else if !g.unpairable() {
        Some(format!(
            "gateway {} is not paired with this console: pair it first (n), then upgrade it",
            g.name
        ))
    } else {
        None
    };
    if let Some(text) = refusal {
        state.flash(FlashLevel::Warning, text);
        state.dirty = true;
        return;
    }
    let name = g.name.clone();
    open_confirm(
        state,
        ConfirmAction::UpgradeGateway {
            name,
            to: running_version(),
        },
    );
}

/// The operator confirmed the upgrade of `name`: its panel opens and the work starts.
pub fn upgrade_started(state: &mut State, name: String, to: String) -> Vec<Cmd> {
    state.gateways.upgrade = Some(UpgradePanel {
        gateway: name.clone(),
        to,
        lines: Vec::new(),
        outcome: None,
    });
    state.flash(
        FlashLevel::Info,
        format!("upgrading gateway {name}: the console keeps working meanwhile"),
    );
    state.dirty = true;
    vec![Cmd::UpgradeGateway(name)]
}

/// The upgrade of `name` finished (or failed).
fn upgraded(state: &mut State, name: String, result: Result<String, SourceError>) -> Vec<Cmd> {
    let Some(panel) = state
        .gateways
        .upgrade
        .as_mut()
        .filter(|u| u.gateway == name)
    else {
        return Vec::new();
    };
    state.dirty = true;
    match result {
        Ok(version) => {
            panel.outcome = Some(Ok(version.clone()));
            state.flash(
                FlashLevel::Info,
                format!("gateway {name} upgraded: it runs kubemaas {version}"),
            );
        }
        Err(e) => {
            panel.outcome = Some(Err(e.message.clone()));
            state.flash(
                FlashLevel::Error,
                format!("upgrade of gateway {name} failed: {}", e.message),
            );
        }
    }
    // Its version changed (or its state did): ask again; requests the upgrade sent are read
    // with the list when the gateway is the one in use.
    let mut cmds = load(state);
    if name == state.gateways.in_use {
        state.gateways.check_in_flight = true;
        cmds.push(Cmd::CheckGateway(name));
        cmds.extend(super::cluster_update::reload_list(state));
    }
    cmds
}
