//! The Gateways screen: snapshots at 80x24 and 120x40 (local only; local + a reachable
//! gateway; an unreachable one), the header's gateway, and the update logic (load on open,
//! periodic re-check, unpair asks and is refused for `local` and under --readonly).

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::tui::app::lists::ListLoad;
use kubemaas::tui::app::{update, Cmd, Msg, ScreenId, State};
use kubemaas::tui::source::{GatewaySummary, Reachability, SourceError};
use kubemaas::tui::widgets::confirm::ConfirmAction;
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
const FP: &str = "SHA256:3F:A1:09:C4:77:10:BE:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:02:03:04:05:06:07:08";

fn snapshot(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

fn remote(name: &str, reachability: Reachability) -> GatewaySummary {
    remote_gateway(name, reachability, FP)
}

fn unreachable() -> Reachability {
    Reachability::Unreachable("cannot reach the gateway at dc2.example:8443 (connection refused): check the address and port".into())
}

/// A console on the Gateways screen, with the load it asked for answered by `rows`.
fn on_gateways(size: (u16, u16), rows: Vec<GatewaySummary>) -> State {
    let mut state = loaded(10, size);
    type_text(&mut state, ":gw");
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Gateways);
    assert_eq!(cmds, vec![Cmd::LoadGateways], "opening the screen loads it");
    update(&mut state, Msg::GatewaysLoaded(Ok(rows)));
    state
}

#[test]
fn local_only() {
    for size in SIZES {
        let state = on_gateways(size, vec![local_gateway()]);
        snapshot("gateways_local", &state);
        let text = screen_text(&state);
        assert!(text.contains("local *"), "{text}");
        assert!(text.contains("embedded"), "{text}");
    }
}

#[test]
fn local_and_a_reachable_gateway() {
    for size in SIZES {
        let rows = vec![
            local_gateway(),
            remote(
                "dc1",
                Reachability::Reachable {
                    version: "0.9.1".into(),
                },
            ),
        ];
        let mut state = on_gateways(size, rows);
        press(&mut state, KeyCode::Down);
        snapshot("gateways_reachable", &state);
        let text = screen_text(&state);
        assert!(text.contains("reachable"), "{text}");
        assert!(
            text.contains("3F:A1:09:C4…"),
            "the fingerprint is shortened: {text}"
        );
        assert!(text.contains("dc1.example:8443"), "{text}");
    }
}

#[test]
fn an_unreachable_gateway_says_why() {
    for size in SIZES {
        let rows = vec![local_gateway(), remote("dc2", unreachable())];
        let mut state = on_gateways(size, rows);
        press(&mut state, KeyCode::Down);
        snapshot("gateways_unreachable", &state);
        let text = screen_text(&state);
        assert!(text.contains("unreachable"), "{text}");
        assert!(
            text.contains("connection refused"),
            "the why is shown: {text}"
        );
    }
}

#[test]
fn a_failed_load_is_shown() {
    let mut state = loaded(10, (80, 24));
    type_text(&mut state, ":gateways");
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaysLoaded(Err(SourceError::new("the store is locked: retry"))),
    );
    assert_eq!(
        state.gateways.load,
        ListLoad::Failed("the store is locked: retry".into())
    );
    assert!(screen_text(&state).contains("the store is locked"));
}

#[test]
fn the_header_shows_the_gateway_in_use_and_whether_it_answers() {
    let mut state = on_gateways((120, 40), vec![local_gateway()]);
    let header = |s: &State| {
        screen_text(s)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        header(&state).contains("gateway local │"),
        "{}",
        header(&state)
    );
    // A paired gateway in use: reachable, then not.
    state.gateways.in_use = "dc1".into();
    let reachable = Reachability::Reachable {
        version: "0.9.1".into(),
    };
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![local_gateway(), remote("dc1", reachable)])),
    );
    assert!(
        header(&state).contains("gateway dc1 ✓"),
        "{}",
        header(&state)
    );
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![local_gateway(), remote("dc1", unreachable())])),
    );
    assert!(
        header(&state).contains("gateway dc1  ✗ UNREACHABLE · stale"),
        "{}",
        header(&state)
    );
}

#[test]
fn the_screen_rechecks_the_gateways_while_open_and_not_twice_at_once() {
    let mut state = on_gateways((80, 24), vec![local_gateway()]);
    let mut asked = 0;
    for _ in 0..60 {
        let cmds = update(&mut state, Msg::Tick);
        asked += cmds.iter().filter(|c| **c == Cmd::LoadGateways).count();
    }
    // Unanswered, the first re-check is not repeated.
    assert_eq!(asked, 1);
    update(&mut state, Msg::GatewaysLoaded(Ok(vec![local_gateway()])));
    let mut again = 0;
    for _ in 0..30 {
        let cmds = update(&mut state, Msg::Tick);
        again += cmds.iter().filter(|c| **c == Cmd::LoadGateways).count();
    }
    assert_eq!(again, 1);
    // ctrl-r asks at once (already in flight here: nothing more).
    assert!(update(&mut state, ctrl('r')).is_empty());
    // Elsewhere the gateways are not asked.
    let mut state = on_gateways((80, 24), vec![local_gateway()]);
    type_text(&mut state, ":m");
    press(&mut state, KeyCode::Enter);
    for _ in 0..60 {
        assert!(!update(&mut state, Msg::Tick).contains(&Cmd::LoadGateways));
    }
}

#[test]
fn unpair_asks_for_the_name_then_unpairs() {
    let rows = vec![
        local_gateway(),
        remote(
            "dc1",
            Reachability::Reachable {
                version: "0.9.1".into(),
            },
        ),
    ];
    let mut state = on_gateways((80, 24), rows);
    // `local` cannot be unpaired.
    press(&mut state, KeyCode::Char('u'));
    assert!(state.confirm.is_none());
    assert!(state
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("embedded engine"));
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Char('u'));
    let dialog = state.confirm.as_ref().expect("the dialog opens");
    assert_eq!(
        dialog.action,
        ConfirmAction::UnpairGateway { name: "dc1".into() }
    );
    snapshot("gateways_unpair_confirm", &state);
    press(&mut state, KeyCode::Tab);
    type_text(&mut state, "dc1");
    press(&mut state, KeyCode::Enter);
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::UnpairGateway("dc1".into())]);
    let cmds = update(&mut state, Msg::GatewayUnpaired("dc1".into(), Ok(())));
    assert_eq!(cmds, vec![Cmd::LoadGateways], "the list is re-read");
    assert!(state
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("unpaired gateway dc1"));
}

#[test]
fn unpair_is_refused_read_only() {
    let mut state = loaded(10, (80, 24));
    state.readonly = true;
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![local_gateway(), remote("dc2", unreachable())])),
    );
    press(&mut state, KeyCode::Down);
    let text = screen_text(&state);
    let footer = text.lines().last().unwrap_or_default();
    assert!(!footer.contains("unpair"), "hidden in the footer: {footer}");
    press(&mut state, KeyCode::Char('u'));
    assert!(state.confirm.is_none());
    assert!(state.flash.as_ref().unwrap().text.contains("read-only"));
}
