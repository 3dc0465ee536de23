//! The console's update logic driven by key events and messages, without a terminal.

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::tui::app::{update, Cmd, Connection, FlashLevel, Mode, Msg, ScreenId, State};
use kubemaas::tui::keymap::Keymap;
use kubemaas::tui::machines::{LoadState, MachineColumn};
use kubemaas::tui::source::SourceError;
use std::path::Path;
use tui_support::*;

fn selected_host(state: &State) -> String {
    state
        .machines
        .selected_row()
        .map(|r| r.hostname.clone())
        .unwrap_or_default()
}

#[test]
fn start_asks_for_identity_and_machines_only_when_configured() {
    let mut state = State::new(options((80, 24)));
    assert_eq!(
        kubemaas::tui::app::init(&mut state),
        vec![Cmd::Identify, Cmd::LoadMachines]
    );
    let mut opts = options((80, 24));
    opts.connection = Connection::NotConfigured;
    let mut state = State::new(opts);
    assert!(kubemaas::tui::app::init(&mut state).is_empty());
    // Ticks never load anything without a MAAS.
    for _ in 0..20 {
        assert!(update(&mut state, Msg::Tick).is_empty());
    }
}

#[test]
fn moving_the_selection() {
    let mut state = loaded(100, (80, 24));
    let rows = kubemaas::tui::app::table_rows((80, 24));
    assert_eq!(rows, 19);
    type_text(&mut state, "jjj");
    assert_eq!(selected_host(&state), "node-0003");
    type_text(&mut state, "k");
    assert_eq!(selected_host(&state), "node-0002");
    press(&mut state, KeyCode::PageDown);
    assert_eq!(state.machines.selected(), 2 + rows);
    assert_eq!(state.machines.offset(), 2 + rows - (rows - 1));
    type_text(&mut state, "G");
    assert_eq!(selected_host(&state), "node-0099");
    assert_eq!(state.machines.offset(), 100 - rows);
    type_text(&mut state, "j");
    assert_eq!(
        selected_host(&state),
        "node-0099",
        "the end stops the selection"
    );
    type_text(&mut state, "g");
    assert_eq!(selected_host(&state), "node-0000");
    assert_eq!(state.machines.offset(), 0);
    type_text(&mut state, "k");
    assert_eq!(
        selected_host(&state),
        "node-0000",
        "the top stops the selection"
    );
    update(&mut state, ctrl('f'));
    assert_eq!(state.machines.selected(), rows);
}

#[test]
fn sorting_cycles_columns_and_reverses() {
    let mut state = loaded(30, (120, 40));
    assert_eq!(state.machines.sort.column, MachineColumn::Hostname);
    type_text(&mut state, "S");
    assert!(state.machines.sort.descending);
    assert_eq!(
        selected_host(&state),
        "node-0000",
        "the selection follows its machine"
    );
    type_text(&mut state, "g");
    assert_eq!(selected_host(&state), "node-0029");
    type_text(&mut state, "s");
    assert_eq!(state.machines.sort.column, MachineColumn::Status);
    assert!(!state.machines.sort.descending);
    type_text(&mut state, "g");
    // Alphabetical by status label: Allocated first.
    let first = state.machines.selected_row().unwrap();
    assert_eq!(first.status.label(), "Allocated");
    type_text(&mut state, "sss");
    assert_eq!(state.machines.sort.column, MachineColumn::Cores);
    type_text(&mut state, "G");
    assert_eq!(state.machines.selected_row().unwrap().cores, 32);
}

#[test]
fn filter_is_live_supports_negation_and_esc_clears() {
    let mut state = loaded(60, (80, 24));
    type_text(&mut state, "/");
    assert!(matches!(state.mode, Mode::Filter(_)));
    type_text(&mut state, "failed");
    let failed = fleet(60)
        .iter()
        .filter(|r| r.status.label().to_lowercase().contains("failed"))
        .count();
    assert_eq!(state.machines.shown(), failed);
    press(&mut state, KeyCode::Enter);
    assert!(matches!(state.mode, Mode::Normal));
    assert_eq!(state.machines.filter_text(), "failed");
    // `/` again edits the current filter: make it a negation.
    type_text(&mut state, "/");
    press(&mut state, KeyCode::Home);
    type_text(&mut state, "!");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.machines.filter_text(), "!failed");
    assert_eq!(state.machines.shown(), 60 - failed);
    // Esc in normal mode clears the filter first.
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.machines.filter_text(), "");
    assert_eq!(state.machines.shown(), 60);
    // Esc inside the prompt cancels the filter being typed.
    type_text(&mut state, "/node-001");
    assert_eq!(state.machines.shown(), 10);
    press(&mut state, KeyCode::Esc);
    assert!(matches!(state.mode, Mode::Normal));
    assert_eq!(state.machines.shown(), 60);
    // Backspace edits.
    type_text(&mut state, "/node-0010x");
    assert_eq!(state.machines.shown(), 0);
    press(&mut state, KeyCode::Backspace);
    assert_eq!(state.machines.shown(), 1);
}

#[test]
fn command_mode_opens_screens_by_alias_and_esc_goes_back() {
    let mut state = loaded(10, (80, 24));
    for (typed, screen) in [
        ("clusters", ScreenId::Clusters),
        ("acc", ScreenId::Accounts),
        ("profiles", ScreenId::Profiles),
        ("gw", ScreenId::Gateways),
        ("events", ScreenId::Events),
        ("m", ScreenId::Machines),
    ] {
        type_text(&mut state, ":");
        type_text(&mut state, typed);
        press(&mut state, KeyCode::Enter);
        assert_eq!(state.screen, screen, ":{typed}");
        assert!(matches!(state.mode, Mode::Normal));
    }
    // Esc walks back through the screens visited.
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.screen, ScreenId::Events);
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.screen, ScreenId::Gateways);
    // Table keys do nothing on a screen without a table.
    state.dirty = false;
    type_text(&mut state, "jsG");
    assert!(!state.dirty);
    assert_eq!(state.machines.selected(), 0);
}

#[test]
fn command_mode_completes_rejects_and_cancels() {
    let mut state = loaded(10, (80, 24));
    type_text(&mut state, ":clu");
    press(&mut state, KeyCode::Tab);
    match &state.mode {
        Mode::Command(input, _) => assert_eq!(input.value(), "clusters"),
        other => panic!("not in command mode: {other:?}"),
    }
    press(&mut state, KeyCode::Esc);
    assert!(matches!(state.mode, Mode::Normal));
    assert_eq!(state.screen, ScreenId::Machines, "Esc cancels the command");

    type_text(&mut state, ":bogus");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Machines);
    let flash = state.flash.clone().expect("an unknown command is reported");
    assert_eq!(flash.level, FlashLevel::Error);
    assert!(flash.text.contains(":bogus"), "{}", flash.text);
    assert!(flash.text.contains(":machines"), "{}", flash.text);
    assert!(!state.quit);
}

#[test]
fn quitting() {
    let mut state = loaded(10, (80, 24));
    type_text(&mut state, ":q");
    press(&mut state, KeyCode::Enter);
    assert!(state.quit);

    let mut state = loaded(10, (80, 24));
    type_text(&mut state, "q");
    assert!(state.quit);

    let mut state = loaded(10, (80, 24));
    update(&mut state, ctrl('c'));
    assert!(state.quit);

    let mut state = loaded(10, (80, 24));
    update(&mut state, Msg::Quit);
    assert!(state.quit, "SIGTERM / SIGHUP arrive as Msg::Quit");

    // In a prompt, q is text.
    let mut state = loaded(10, (80, 24));
    type_text(&mut state, "/q");
    assert!(!state.quit);
}

#[test]
fn help_opens_and_closes_without_quitting() {
    let mut state = loaded(10, (80, 24));
    type_text(&mut state, "?");
    assert!(state.help_open);
    // Keys do not reach the table while help is open.
    type_text(&mut state, "j");
    assert_eq!(state.machines.selected(), 0);
    type_text(&mut state, "q");
    assert!(!state.help_open);
    assert!(!state.quit, "q closes help first");
    type_text(&mut state, "?");
    press(&mut state, KeyCode::Esc);
    assert!(!state.help_open);
}

#[test]
fn key_releases_are_ignored() {
    let mut state = loaded(10, (80, 24));
    state.dirty = false;
    update(&mut state, release(KeyCode::Char('j')));
    update(&mut state, release(KeyCode::Char('q')));
    assert_eq!(state.machines.selected(), 0);
    assert!(!state.quit);
    assert!(!state.dirty);
}

#[test]
fn unbound_keys_leave_the_state_clean() {
    let mut state = loaded(10, (80, 24));
    state.dirty = false;
    type_text(&mut state, "xz");
    assert!(
        !state.dirty,
        "a key that does nothing must not cause a redraw"
    );
}

/// Ticks until the next command; panics past `limit`.
fn ticks_until_command(state: &mut State, limit: u64) -> (u64, Vec<Cmd>) {
    for n in 1..=limit {
        let cmds = update(state, Msg::Tick);
        if !cmds.is_empty() {
            return (n, cmds);
        }
    }
    panic!("no command within {limit} ticks");
}

#[test]
fn refresh_runs_on_schedule_and_never_twice_at_once() {
    let mut state = loaded(10, (80, 24));
    let (after, cmds) = ticks_until_command(&mut state, 100);
    assert_eq!((after, cmds), (5, vec![Cmd::LoadMachines]));
    // Still in flight: nothing more is asked however long it takes.
    for _ in 0..30 {
        assert!(update(&mut state, Msg::Tick).is_empty());
    }
    // That load took 30 s: the next waits twice that, so a slow MAAS is not kept busy.
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    let (after, _) = ticks_until_command(&mut state, 100);
    assert_eq!(after, 60);
    // A quick load: back to every 5 s.
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    let (after, _) = ticks_until_command(&mut state, 100);
    assert_eq!(after, 5);
    // ctrl-r asks at once, unless a load is running.
    assert!(update(&mut state, ctrl('r')).is_empty());
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    assert_eq!(update(&mut state, ctrl('r')), vec![Cmd::LoadMachines]);
}

#[test]
fn failing_loads_back_off() {
    let mut state = loaded(10, (80, 24));
    let down = || {
        Msg::MachinesLoaded(Err(SourceError {
            message: "MAAS is down".into(),
        }))
    };
    let mut waits = Vec::new();
    for _ in 0..6 {
        let (after, _) = ticks_until_command(&mut state, 200);
        waits.push(after);
        update(&mut state, down());
    }
    assert_eq!(waits, vec![5, 10, 20, 40, 60, 60]);
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    assert_eq!(ticks_until_command(&mut state, 200).0, 5);
}

#[test]
fn unchanged_data_and_quiet_ticks_do_not_redraw() {
    let mut state = loaded(10, (80, 24));
    state.dirty = false;
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    assert!(
        !state.dirty,
        "the same inventory again changes nothing on screen"
    );
    update(&mut state, Msg::Tick);
    assert!(!state.dirty);
    update(&mut state, Msg::Identified(Ok(identity())));
    assert!(!state.dirty);
    update(&mut state, Msg::Resize(80, 24));
    assert!(!state.dirty);
    update(&mut state, Msg::Resize(100, 30));
    assert!(state.dirty);
}

#[test]
fn reload_keeps_the_selected_machine() {
    let mut state = loaded(50, (80, 24));
    type_text(&mut state, "jjjjj");
    assert_eq!(selected_host(&state), "node-0005");
    let mut rows = fleet(50);
    rows.remove(0);
    rows.remove(0);
    update(&mut state, Msg::MachinesLoaded(Ok(rows)));
    assert_eq!(selected_host(&state), "node-0005");
    assert_eq!(state.machines.selected(), 3);
    // The selected machine vanishing keeps the position, clamped to the list.
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(2))));
    assert_eq!(selected_host(&state), "node-0001");
}

#[test]
fn failures_are_shown_and_cleared() {
    let mut state = loaded(10, (80, 24));
    let err = SourceError {
        message: "MAAS could not serve GET machines/ now (HTTP 503)".into(),
    };
    update(&mut state, Msg::MachinesLoaded(Err(err.clone())));
    assert!(matches!(state.machines.load, LoadState::Failed(_)));
    assert_eq!(
        state.machines.total(),
        10,
        "the last inventory stays on screen"
    );
    update(&mut state, Msg::Identified(Err(err)));
    assert!(matches!(state.connection, Connection::Failed(_)));
    // The next refresh retries both.
    let (_, cmds) = ticks_until_command(&mut state, 100);
    assert!(cmds.contains(&Cmd::Identify) && cmds.contains(&Cmd::LoadMachines));
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    assert_eq!(state.machines.load, LoadState::Loaded);
}

#[test]
fn flash_messages_expire() {
    let mut state = loaded(10, (80, 24));
    state.flash(FlashLevel::Info, "hello");
    for _ in 0..6 {
        update(&mut state, Msg::Tick);
    }
    assert!(state.flash.is_some());
    state.dirty = false;
    update(&mut state, Msg::Tick);
    assert!(state.flash.is_none());
    assert!(state.dirty);
}

#[test]
fn readonly_is_carried_in_the_state() {
    let mut opts = options((80, 24));
    opts.readonly = true;
    let state = State::new(opts);
    assert!(state.readonly);
    assert!(!State::new(options((80, 24))).readonly);
}

#[test]
fn user_keymap_changes_what_keys_do() {
    let (keymap, warnings) =
        Keymap::default().patched("down: [n]\nquit: x\n", Path::new("keymap.yaml"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut state = loaded(10, (80, 24));
    state.keymap = keymap;
    type_text(&mut state, "j");
    assert_eq!(state.machines.selected(), 0, "j was rebound away");
    type_text(&mut state, "n");
    assert_eq!(state.machines.selected(), 1);
    type_text(&mut state, "q");
    assert!(!state.quit);
    type_text(&mut state, "x");
    assert!(state.quit);
}

#[test]
fn mouse_wheel_scrolls_the_table() {
    let mut state = loaded(30, (80, 24));
    update(&mut state, Msg::Scroll(3));
    assert_eq!(state.machines.selected(), 3);
    update(&mut state, Msg::Scroll(-3));
    update(&mut state, Msg::Scroll(-3));
    assert_eq!(state.machines.selected(), 0);
    state.dirty = false;
    update(&mut state, Msg::Scroll(-3));
    assert!(!state.dirty, "scrolling past the top changes nothing");
}

#[test]
fn a_no_op_key_in_a_prompt_keeps_an_earlier_change_dirty() {
    let mut state = loaded(10, (80, 24));
    type_text(&mut state, ":");
    state.dirty = false;
    // New data arrives, then (same batch) a key that changes nothing in the prompt.
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(12))));
    assert!(state.dirty);
    press(&mut state, KeyCode::Left);
    assert!(state.dirty, "the new data must still be drawn");
    state.dirty = false;
    press(&mut state, KeyCode::Left);
    assert!(!state.dirty, "a key that changes nothing needs no frame");
    type_text(&mut state, "x");
    assert!(state.dirty);
}

#[test]
fn command_history_recalls_with_up_and_down() {
    let mut state = loaded(10, (80, 24));
    for cmd in ["gw", "events", "gw", "m"] {
        type_text(&mut state, ":");
        type_text(&mut state, cmd);
        press(&mut state, KeyCode::Enter);
    }
    assert_eq!(state.command_history, vec!["events", "gw", "m"]);
    let shown = |state: &State| match &state.mode {
        Mode::Command(input, _) => input.value().to_string(),
        other => panic!("not in command mode: {other:?}"),
    };
    type_text(&mut state, ":");
    press(&mut state, KeyCode::Up);
    assert_eq!(shown(&state), "m");
    press(&mut state, KeyCode::Up);
    press(&mut state, KeyCode::Up);
    assert_eq!(shown(&state), "events");
    press(&mut state, KeyCode::Up);
    assert_eq!(shown(&state), "events", "the oldest stays");
    press(&mut state, KeyCode::Down);
    assert_eq!(shown(&state), "gw");
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Down);
    assert_eq!(shown(&state), "", "past the newest: an empty prompt");
    press(&mut state, KeyCode::Up);
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Machines);
}

#[test]
fn ctrl_l_asks_for_a_full_repaint() {
    let mut state = loaded(10, (80, 24));
    state.dirty = false;
    update(&mut state, ctrl('l'));
    assert!(state.clear_requested && state.dirty);
}
