//! `update`: the only place the state changes. Marks the state dirty only when something
//! visible changed, so an idle console writes nothing to the terminal.

use super::cluster_update;
use super::gateways;
use super::msg::{Cmd, Msg};
use super::state::{Connection, FlashLevel, Mode, ScreenId, State, COMMAND_HISTORY};
use super::view::table_rows;
use super::wizard_update::{
    on_modal_key, on_msg, on_screen_action, on_screen_opened, open_account_wizard,
    open_cluster_wizard,
};
use crate::tui::keymap::Action;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::Input;

/// The work to start with the console.
pub fn init(state: &mut State) -> Vec<Cmd> {
    let mut cmds = match state.connection {
        Connection::NotConfigured => Vec::new(),
        _ => {
            state.identify_in_flight = true;
            state.refresh.start(state.ticks);
            vec![Cmd::Identify, Cmd::LoadMachines]
        }
    };
    cmds.extend(cluster_update::init(state));
    cmds
}

pub fn update(state: &mut State, msg: Msg) -> Vec<Cmd> {
    let msg = match on_msg(state, msg) {
        Ok(cmds) => return cmds,
        Err(other) => other,
    };
    let msg = match cluster_update::on_msg(state, msg) {
        Ok(cmds) => return cmds,
        Err(other) => other,
    };
    let msg = match gateways::on_msg(state, msg) {
        Ok(cmds) => return cmds,
        Err(other) => other,
    };
    match msg {
        Msg::Key(key) => on_key(state, key),
        Msg::Resize(w, h) => {
            if state.size != (w, h) {
                state.size = (w, h);
                let rows = table_rows(state.size);
                state.machines.scroll_into_view(rows);
                state.dirty = true;
            }
            Vec::new()
        }
        Msg::Scroll(rows) => {
            if state.table_active() && !state.help_open {
                let before = (state.machines.selected(), state.machines.offset());
                state
                    .machines
                    .move_by(isize::from(rows), table_rows(state.size));
                state.dirty |= before != (state.machines.selected(), state.machines.offset());
            }
            Vec::new()
        }
        Msg::Tick => on_tick(state),
        Msg::Identified(result) => {
            state.identify_in_flight = false;
            let next = match result {
                Ok(id) => Connection::Connected(id),
                Err(e) => Connection::Failed(e.message),
            };
            if state.connection != next {
                // The header has room for "unreachable" only: the why goes to the footer.
                if let Connection::Failed(message) = &next {
                    state.flash(FlashLevel::Error, message.clone());
                }
                state.connection = next;
                state.dirty = true;
            }
            Vec::new()
        }
        Msg::MachinesLoaded(result) => {
            state.refresh.finished(state.ticks, result.is_ok());
            let changed = match result {
                Ok(rows) => state.machines.set_rows(rows),
                Err(e) => state.machines.set_error(e.message),
            };
            if changed {
                let rows = table_rows(state.size);
                state.machines.scroll_into_view(rows);
                state.dirty = true;
            }
            Vec::new()
        }
        Msg::Quit => {
            state.quit = true;
            Vec::new()
        }
        // Answered by `on_msg` above.
        _ => Vec::new(),
    }
}

fn on_tick(state: &mut State) -> Vec<Cmd> {
    state.ticks += 1;
    if state
        .flash
        .as_ref()
        .is_some_and(|f| state.ticks > f.until_tick)
    {
        state.flash = None;
        state.dirty = true;
    }
    let mut cmds = cluster_update::on_tick(state);
    cmds.extend(gateways::on_tick(state));
    if state.connection == Connection::NotConfigured || !state.refresh.due(state.ticks) {
        return cmds;
    }
    state.refresh.start(state.ticks);
    cmds.push(Cmd::LoadMachines);
    if matches!(state.connection, Connection::Failed(_)) && !state.identify_in_flight {
        state.identify_in_flight = true;
        cmds.push(Cmd::Identify);
    }
    cmds
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Cmd> {
    // Terminals with the kitty protocol also report releases; only presses act.
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    if state.help_open {
        return on_help_key(state, key);
    }
    if let Some(cmds) = on_modal_key(state, key) {
        return cmds;
    }
    if let Some(cmds) = cluster_update::on_prompt_key(state, key) {
        return cmds;
    }
    match std::mem::take(&mut state.mode) {
        Mode::Normal => on_normal_key(state, key),
        Mode::Command(input, recalled) => on_command_key(state, input, recalled, key),
        Mode::Filter(input) => on_filter_key(state, input, key),
    }
}

fn on_help_key(state: &mut State, key: KeyEvent) -> Vec<Cmd> {
    let action = state.keymap.action_for(&key);
    let closes = matches!(action, Some(Action::Help | Action::Back | Action::Quit))
        || key.code == KeyCode::Esc;
    if closes {
        state.help_open = false;
        state.dirty = true;
    }
    Vec::new()
}

fn on_normal_key(state: &mut State, key: KeyEvent) -> Vec<Cmd> {
    let Some(action) = state.keymap.action_for(&key) else {
        return Vec::new();
    };
    let rows = table_rows(state.size);
    let page = rows.max(1) as isize;
    let on_table = state.table_active();
    if let Some(cmds) = on_screen_action(state, action) {
        return cmds;
    }
    if let Some(cmds) = cluster_update::on_action(state, action) {
        return cmds;
    }
    if let Some(cmds) = gateways::on_action(state, action) {
        return cmds;
    }
    match action {
        Action::Quit => state.quit = true,
        Action::Help => state.help_open = true,
        Action::Command => state.mode = Mode::Command(Input::default(), None),
        Action::Redraw => state.clear_requested = true,
        Action::Filter if cluster_update::filter_screen(state) => {
            state.mode = Mode::Filter(Input::new(cluster_update::filter_text(state)));
        }
        Action::Filter if on_table => {
            let current = state.machines.filter_text().to_string();
            state.mode = Mode::Filter(Input::new(current));
        }
        Action::Back => {
            if on_table && !state.machines.filter_text().is_empty() {
                state.machines.set_filter("");
            } else if let Some(previous) = state.history.pop() {
                state.screen = previous;
                state.dirty = true;
                return screen_opened(state);
            } else {
                return Vec::new();
            }
        }
        Action::Up if on_table => state.machines.move_by(-1, rows),
        Action::Down if on_table => state.machines.move_by(1, rows),
        Action::PageUp if on_table => state.machines.move_by(-page, rows),
        Action::PageDown if on_table => state.machines.move_by(page, rows),
        Action::Top if on_table => state.machines.select_first(rows),
        Action::Bottom if on_table => state.machines.select_last(rows),
        // The selection follows its machine to its new place: bring that into view.
        Action::SortNext if on_table => {
            state.machines.sort_next();
            state.machines.scroll_into_view(rows);
        }
        Action::SortReverse if on_table => {
            state.machines.sort_reverse();
            state.machines.scroll_into_view(rows);
        }
        Action::Refresh => {
            if state.connection == Connection::NotConfigured || state.refresh.in_flight() {
                return Vec::new();
            }
            state.refresh.start(state.ticks);
            state.flash(FlashLevel::Info, "Reloading from MAAS…");
            return vec![Cmd::LoadMachines];
        }
        // Table actions on a screen without a table do nothing.
        _ => return Vec::new(),
    }
    state.dirty = true;
    Vec::new()
}

/// Feeds a key to a text input; returns whether the text or the cursor moved.
fn edit(input: &mut Input, key: KeyEvent) -> bool {
    let before = (input.value().to_string(), input.cursor());
    if let Some(req) = to_input_request(&Event::Key(key)) {
        input.handle(req);
    }
    before.0 != input.value() || before.1 != input.cursor()
}

fn on_command_key(
    state: &mut State,
    mut input: Input,
    recalled: Option<usize>,
    key: KeyEvent,
) -> Vec<Cmd> {
    match key.code {
        KeyCode::Esc => {}
        KeyCode::Enter => {
            let command = input.value().trim().to_string();
            if !command.is_empty() {
                remember(state, &command);
            }
            state.dirty = true;
            return run_command(state, &command);
        }
        KeyCode::Tab => {
            let completed = complete(input.value());
            state.mode = Mode::Command(Input::new(completed), None);
        }
        KeyCode::Up | KeyCode::Down => {
            let len = state.command_history.len();
            let next = match (key.code, recalled) {
                (_, _) if len == 0 => None,
                (KeyCode::Up, None) => Some(len - 1),
                (KeyCode::Up, Some(i)) => Some(i.saturating_sub(1)),
                (_, Some(i)) if i + 1 < len => Some(i + 1),
                _ => None,
            };
            let text = next
                .map(|i| state.command_history[i].clone())
                .unwrap_or_default();
            state.dirty |= text != input.value();
            state.mode = Mode::Command(Input::new(text), next);
            return Vec::new();
        }
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {}
        _ => {
            // Only an edit that changed something is worth a frame; never clear `dirty`
            // here: an earlier message of the same batch may still need drawing.
            state.dirty |= edit(&mut input, key);
            state.mode = Mode::Command(input, recalled);
            return Vec::new();
        }
    }
    state.dirty = true;
    Vec::new()
}

/// Adds a command to the history (once: a repeat moves to the end).
fn remember(state: &mut State, command: &str) {
    state.command_history.retain(|c| c != command);
    state.command_history.push(command.to_string());
    let excess = state.command_history.len().saturating_sub(COMMAND_HISTORY);
    state.command_history.drain(..excess);
}

fn on_filter_key(state: &mut State, mut input: Input, key: KeyEvent) -> Vec<Cmd> {
    if cluster_update::filter_screen(state) {
        match key.code {
            KeyCode::Esc => cluster_update::set_filter(state, ""),
            KeyCode::Enter => {}
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                cluster_update::set_filter(state, "");
            }
            _ => {
                state.dirty |= edit(&mut input, key);
                cluster_update::set_filter(state, input.value());
                state.mode = Mode::Filter(input);
                return Vec::new();
            }
        }
        state.dirty = true;
        return Vec::new();
    }
    let rows = table_rows(state.size);
    match key.code {
        // Esc cancels: no filter. Enter keeps what was typed.
        KeyCode::Esc => state.machines.set_filter(""),
        KeyCode::Enter => {}
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            state.machines.set_filter("");
        }
        _ => {
            state.dirty |= edit(&mut input, key);
            state.machines.set_filter(input.value());
            state.mode = Mode::Filter(input);
            state.machines.scroll_into_view(rows);
            return Vec::new();
        }
    }
    state.dirty = true;
    state.machines.scroll_into_view(rows);
    Vec::new()
}

/// Completes a command prefix when exactly one canonical name starts with it.
fn complete(prefix: &str) -> String {
    let p = prefix.trim().to_ascii_lowercase();
    let candidates: Vec<&str> = ScreenId::ALL
        .into_iter()
        .map(|s| s.aliases()[0])
        .chain(["quit", "help", "new-cluster", "new-account"])
        .filter(|n| n.starts_with(&p))
        .collect();
    match candidates.as_slice() {
        [one] => (*one).to_string(),
        _ => prefix.to_string(),
    }
}

fn run_command(state: &mut State, text: &str) -> Vec<Cmd> {
    let name = text.trim().trim_start_matches(':').trim();
    if name.is_empty() {
        return Vec::new();
    }
    match name.to_ascii_lowercase().as_str() {
        // `:q!` leaves without asking, even while this console runs clusters' work.
        "q!" => {
            state.quit = true;
            return Vec::new();
        }
        "q" | "quit" | "exit" => return cluster_update::on_quit(state),
        "help" | "?" => {
            state.help_open = true;
            return Vec::new();
        }
        "new-cluster" | "nc" => return open_cluster_wizard(state),
        "new-account" | "na" => return open_account_wizard(state),
        _ => {}
    }
    // `:gateway NAME` switches every screen to that gateway (`local`: the embedded engine).
    if let Some((verb, gateway)) = name.split_once(char::is_whitespace) {
        let gateway = gateway.trim();
        if ScreenId::Gateways
            .aliases()
            .contains(&verb.to_ascii_lowercase().as_str())
            && !gateway.is_empty()
        {
            return gateways::use_gateway(state, gateway);
        }
    }
    match ScreenId::from_command(name) {
        Some(screen) if screen == state.screen => {}
        Some(screen) => {
            state.history.push(state.screen);
            state.screen = screen;
            return screen_opened(state);
        }
        None => {
            let known: Vec<&str> = ScreenId::ALL.iter().map(|s| s.aliases()[0]).collect();
            state.flash(
                FlashLevel::Error,
                format!(
                    "unknown command `:{name}`: try :{} or :q",
                    known.join(", :")
                ),
            );
        }
    }
    Vec::new()
}

/// The loads a newly opened screen needs (lists of the wizards' screens and the clusters').
pub(super) fn screen_opened(state: &mut State) -> Vec<Cmd> {
    let mut cmds = on_screen_opened(state);
    cmds.extend(cluster_update::on_screen_opened(state));
    cmds.extend(gateways::on_screen_opened(state));
    cmds
}
