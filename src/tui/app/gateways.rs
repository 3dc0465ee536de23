//! The Gateways screen's state and keys: `local` (the embedded engine) and the paired
//! gateways, each with how it answered the last `info` call (asked by [`Cmd::LoadGateways`]
//! on a task, never while drawing); `u` unpairs the selected one after the operator types its
//! name. The header reads the gateway in use from here.

use super::lists::ListLoad;
use super::msg::{Cmd, Msg};
use super::state::{FlashLevel, ScreenId, State};
use super::wizard_update::open_confirm;
use crate::model::account::LOCAL_GATEWAY;
use crate::tui::keymap::Action;
use crate::tui::source::{GatewaySummary, Reachability};
use crate::tui::widgets::confirm::ConfirmAction;
use crate::tui::wizards::Wizard;

/// Ticks (seconds) between re-asking the gateways how they are while the screen is open.
pub const GATEWAY_REFRESH_TICKS: u64 = 15;

#[derive(Debug, Clone)]
pub struct GatewaysView {
    pub rows: Vec<GatewaySummary>,
    pub load: ListLoad,
    pub selected: usize,
    /// The gateway this console works through (`local` until consoles can switch).
    pub in_use: String,
    /// The tick of the last answer, for the periodic re-check.
    pub loaded_at: u64,
}

impl Default for GatewaysView {
    fn default() -> Self {
        GatewaysView {
            rows: Vec::new(),
            load: ListLoad::NotLoaded,
            selected: 0,
            in_use: LOCAL_GATEWAY.to_string(),
            loaded_at: 0,
        }
    }
}

impl GatewaySummary {
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
    let due = state.ticks.saturating_sub(state.gateways.loaded_at) >= GATEWAY_REFRESH_TICKS;
    if state.screen == ScreenId::Gateways && state.wizard.is_none() && due {
        return load(state);
    }
    Vec::new()
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
                }
                Err(e) => view.load = ListLoad::Failed(e.message),
            }
            state.dirty = true;
            Ok(Vec::new())
        }
        Msg::GatewayUnpaired(name, result) => {
            match result {
                Ok(()) => state.flash(
                    FlashLevel::Info,
                    format!("unpaired gateway {name}: its record stays; pair again with `kubemaas gateway pair`"),
                ),
                Err(e) => state.flash(FlashLevel::Error, e.message),
            }
            state.dirty = true;
            Ok(load(state))
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
