//! The Profiles screen: the list (name, version, OS, Kubernetes, CNI) and the read-only detail
//! of layers and pack values, scrolled; snapshots at 80x24 and 120x40 with colours checked.

mod tui_support;
mod tui_wizard_support;

use crossterm::event::KeyCode;
use kubemaas::model::shipped_profiles;
use kubemaas::tui::app::{update, Cmd, Msg, ScreenId, State};
use kubemaas::tui::source::SourceError;
use tui_support::{buffer, draw, find, loaded};
use tui_wizard_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn snap(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

fn profiles(size: (u16, u16)) -> State {
    let mut state = loaded(0, size);
    assert_eq!(command(&mut state, "profiles"), vec![Cmd::LoadProfiles]);
    assert_eq!(state.screen, ScreenId::Profiles);
    update(&mut state, Msg::ProfilesLoaded(Ok(shipped_profiles())));
    state
}

#[test]
fn list_and_detail() {
    for size in SIZES {
        let mut state = profiles(size);
        k(&mut state, KeyCode::Down);
        snap("profiles_list", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let second = &shipped_profiles()[1].metadata.name;
        let (x, y) = find(buf, second).expect("listed");
        assert_eq!(buf[(x, y)].bg, state.theme.selection.bg.unwrap());
        let (x, y) = find(buf, "KUBERNETES").expect("column");
        assert_eq!(buf[(x, y)].fg, state.theme.header.fg.unwrap());

        k(&mut state, KeyCode::Enter);
        assert!(state.profiles.detail);
        snap("profile_detail", &state);
        for _ in 0..12 {
            k(&mut state, KeyCode::Down);
        }
        snap("profile_detail_scrolled", &state);
        k(&mut state, KeyCode::Esc);
        assert!(!state.profiles.detail, "esc closes the detail first");
        assert_eq!(state.screen, ScreenId::Profiles);
        k(&mut state, KeyCode::Esc);
        assert_eq!(state.screen, ScreenId::Machines, "then goes back");
    }
}

#[test]
fn loading_and_failure() {
    let mut state = loaded(0, (80, 24));
    command(&mut state, "profiles");
    snap("profiles_loading", &state);
    update(
        &mut state,
        Msg::ProfilesLoaded(Err(SourceError::new(
            "the store is locked by another kubemaas",
        ))),
    );
    snap("profiles_failed", &state);
    // Enter on an empty list opens nothing.
    k(&mut state, KeyCode::Enter);
    assert!(!state.profiles.detail);
}

#[test]
fn detail_scroll_stops_at_the_top() {
    let mut state = profiles((80, 24));
    k(&mut state, KeyCode::Enter);
    k(&mut state, KeyCode::Up);
    assert_eq!(state.profiles.detail_scroll, 0);
    state.dirty = false;
    k(&mut state, KeyCode::Up);
    assert!(!state.dirty, "a key that changes nothing draws nothing");
}
