//! Gateway versions and upgrades in the console, driven through `update` like the real loop:
//! the Gateways screen marks a gateway older than this console and says what changes
//! (`upgrade_version::notice`), the header marks the gateway in use when it is older, an
//! incompatible protocol is a clear error state; `U` asks for the gateway's name before
//! upgrading it, is refused under --readonly, for `local` and while another upgrade runs, its
//! steps fill a panel while the console keeps working, and the result names the new version.
//! Snapshots at 80x24 and 120x40 of the notice and of the upgrade panel.

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::gateway::upgrade::UpgradeProgress;
use kubemaas::gateway::upgrade_version::running_version;
use kubemaas::tui::app::{update, Cmd, FlashLevel, Msg, ScreenId, State};
use kubemaas::tui::source::{GatewaySummary, Reachability, SourceError};
use kubemaas::tui::widgets::confirm::ConfirmAction;
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
/// Older than any release this console's changelog knows (it starts at 0.1.0).
const OLD: &str = "0.0.9";

fn snapshot(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

fn remote(name: &str, reachability: Reachability) -> GatewaySummary {
    remote_gateway(name, reachability, "SHA256:3F:A1:09:C4:77:10")
}

fn runs(version: &str) -> Reachability {
    Reachability::Reachable {
        version: version.into(),
    }
}

fn incompatible() -> Reachability {
    Reachability::Incompatible(
        "gateway dc2 runs kubemaas 0.0.9 (protocols 0..0) and this console kubemaas 0.1.0 (protocols 1..1): they have no protocol in common; upgrade the gateway from this console with `kubemaas gateway upgrade dc2`".into(),
    )
}

/// A console on the Gateways screen listing local, an older dc1 and an incompatible dc2,
/// with dc1 selected.
fn on_gateways(size: (u16, u16)) -> State {
    let mut state = loaded(10, size);
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Gateways);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![
            local_gateway(),
            remote("dc1", runs(OLD)),
            remote("dc2", incompatible()),
        ])),
    );
    press(&mut state, KeyCode::Down);
    state.flash = None;
    state
}

/// `U` on dc1, its name typed, confirmed.
fn confirm_upgrade(state: &mut State) -> Vec<Cmd> {
    press(state, KeyCode::Char('U'));
    let dialog = state.confirm.as_ref().expect("the dialog opens");
    assert_eq!(
        dialog.action,
        ConfirmAction::UpgradeGateway {
            name: "dc1".into(),
            to: running_version(),
        }
    );
    press(state, KeyCode::Tab);
    type_text(state, "dc1");
    press(state, KeyCode::Enter);
    press(state, KeyCode::Enter)
}

#[test]
fn an_older_gateway_is_marked_and_its_notice_says_what_changes() {
    for size in SIZES {
        let state = on_gateways(size);
        snapshot("gateways_older_notice", &state);
        let text = screen_text(&state);
        assert!(
            text.contains(&format!("runs {OLD}, this console {}", running_version())),
            "{text}"
        );
        assert!(text.contains("press U to upgrade it"), "{text}");
        // What changed since: the changelog's lines for the releases in between.
        assert!(text.contains("pairing with one-time codes"), "{text}");
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let (x, y) = find(buf, &format!("{OLD} ↑")).expect("the version cell is marked");
        // The selected row wears the selection style; the mark is in the text.
        assert!(y > 0 && x > 0);
    }
}

#[test]
fn a_gateway_of_this_console_s_version_or_newer_has_no_notice() {
    let mut state = loaded(10, (120, 40));
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![
            local_gateway(),
            remote("dc1", runs(&running_version())),
            remote("dc3", runs("9.0.0")),
        ])),
    );
    for _ in 0..2 {
        press(&mut state, KeyCode::Down);
        let text = screen_text(&state);
        assert!(!text.contains("↑"), "{text}");
        assert!(!text.contains("to upgrade it"), "{text}");
    }
}

#[test]
fn an_incompatible_gateway_is_a_clear_error_state() {
    let mut state = on_gateways((120, 40));
    press(&mut state, KeyCode::Down);
    let text = screen_text(&state);
    assert!(text.contains("incompatible"), "{text}");
    assert!(text.contains("✗ gateway dc2 runs kubemaas 0.0.9"), "{text}");
    assert!(text.contains("kubemaas gateway upgrade dc2"), "{text}");

    // In use, the header says it loudly, and the screens count as stale.
    update(
        &mut state,
        Msg::GatewaySwitched {
            name: "dc2".into(),
            result: Ok(true),
        },
    );
    update(
        &mut state,
        Msg::GatewayChecked("dc2".into(), incompatible()),
    );
    assert!(state.gateways.stale());
    let terminal = draw(&state);
    let (_, y) = find(buffer(&terminal), "INCOMPATIBLE").expect("the header's mark");
    assert_eq!(y, 0);
}

#[test]
fn a_gateway_in_use_that_turns_incompatible_is_flashed() {
    let mut state = on_gateways((80, 24));
    update(
        &mut state,
        Msg::GatewaySwitched {
            name: "dc1".into(),
            result: Ok(true),
        },
    );
    update(&mut state, Msg::GatewayChecked("dc1".into(), runs(OLD)));
    assert!(!state.gateways.stale());
    update(
        &mut state,
        Msg::GatewayChecked("dc1".into(), incompatible()),
    );
    assert!(state.gateways.stale());
    let flash = state.flash.as_ref().expect("a flash says why");
    assert_eq!(flash.level, FlashLevel::Error);
    assert!(
        flash.text.contains("no protocol in common"),
        "{}",
        flash.text
    );
}

#[test]
fn the_header_marks_the_gateway_in_use_when_it_is_older() {
    for size in SIZES {
        let mut state = on_gateways(size);
        update(
            &mut state,
            Msg::GatewaySwitched {
                name: "dc1".into(),
                result: Ok(true),
            },
        );
        update(&mut state, Msg::GatewayChecked("dc1".into(), runs(OLD)));
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let (x, y) = find(buf, &format!("↑ runs {OLD}")).expect("the header's mark");
        assert_eq!(y, 0);
        assert_eq!(buf[(x, y)].fg, state.theme.warning.fg.unwrap());

        // Once it runs this console's version, the mark goes.
        update(
            &mut state,
            Msg::GatewayChecked("dc1".into(), runs(&running_version())),
        );
        assert!(!row_text(buffer(&draw(&state)), 0).contains('↑'));
    }
}

#[test]
fn upgrade_is_refused_read_only_and_for_local() {
    let mut state = on_gateways((80, 24));
    state.readonly = true;
    let footer = screen_text(&state)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        !footer.contains("upgrade"),
        "hidden in the footer: {footer}"
    );
    let cmds = press(&mut state, KeyCode::Char('U'));
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(state.confirm.is_none());
    assert!(state.flash.as_ref().unwrap().text.contains("read-only"));
    assert!(state.gateways.upgrade.is_none());

    state.readonly = false;
    state.flash = None;
    press(&mut state, KeyCode::Up);
    press(&mut state, KeyCode::Char('U'));
    assert!(state.confirm.is_none());
    assert!(state
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("embedded engine"));
}

#[test]
fn upgrade_asks_for_the_name_then_shows_its_steps_and_the_new_version() {
    let mut state = on_gateways((120, 40));
    // Esc leaves the dialog: nothing starts.
    press(&mut state, KeyCode::Char('U'));
    assert!(state.confirm.is_some());
    press(&mut state, KeyCode::Esc);
    assert!(state.confirm.is_none());
    assert!(state.gateways.upgrade.is_none());

    let cmds = confirm_upgrade(&mut state);
    assert_eq!(cmds, vec![Cmd::UpgradeGateway("dc1".into())]);
    assert_eq!(state.gateways.upgrade_in_flight(), Some("dc1"));

    // One at a time.
    press(&mut state, KeyCode::Char('U'));
    assert!(state.confirm.is_none());
    assert!(state
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("is being upgraded"));

    for step in [
        UpgradeProgress::Uploading {
            address: "dc1.example:8443".into(),
            bytes: 48_213_112,
        },
        UpgradeProgress::Restarting {
            address: "dc1.example:8443".into(),
            from: OLD.into(),
            to: running_version(),
        },
    ] {
        assert!(update(&mut state, Msg::UpgradeProgressed("dc1".into(), step)).is_empty());
    }
    // Steps of another gateway are not this panel's.
    update(
        &mut state,
        Msg::UpgradeProgressed(
            "dc9".into(),
            UpgradeProgress::Back {
                address: "dc9.example:8443".into(),
                version: "1.0.0".into(),
            },
        ),
    );
    let panel = state.gateways.upgrade.as_ref().unwrap();
    assert_eq!(panel.lines.len(), 2, "{:?}", panel.lines);
    assert!(panel.lines[0].contains("48.2 MB"), "{}", panel.lines[0]);
    assert!(panel.lines[1].contains(&format!("from kubemaas {OLD}")));

    // The console keeps working meanwhile: another screen opens, the header says it runs.
    type_text(&mut state, ":m");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Machines);
    assert!(row_text(buffer(&draw(&state)), 0).contains("upgrading dc1"));
    press(&mut state, KeyCode::Esc);
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![
            local_gateway(),
            remote("dc1", runs(OLD)),
            remote("dc2", incompatible()),
        ])),
    );

    update(
        &mut state,
        Msg::UpgradeProgressed(
            "dc1".into(),
            UpgradeProgress::Back {
                address: "dc1.example:8443".into(),
                version: "0.2.0".into(),
            },
        ),
    );
    let cmds = update(
        &mut state,
        Msg::GatewayUpgraded("dc1".into(), Ok("0.2.0".into())),
    );
    assert!(
        cmds.contains(&Cmd::LoadGateways),
        "its version is asked again: {cmds:?}"
    );
    assert_eq!(state.gateways.upgrade_in_flight(), None);
    let flash = state.flash.as_ref().unwrap();
    assert_eq!(flash.level, FlashLevel::Info);
    assert!(flash.text.contains("runs kubemaas 0.2.0"), "{}", flash.text);
    let text = screen_text(&state);
    assert!(text.contains("now runs kubemaas 0.2.0"), "{text}");
}

#[test]
fn a_failed_upgrade_says_why_and_another_can_start() {
    let mut state = on_gateways((80, 24));
    confirm_upgrade(&mut state);
    update(
        &mut state,
        Msg::GatewayUpgraded(
            "dc1".into(),
            Err(SourceError::new(
                "gateway node dc1.example:8443 did not come back running kubemaas 0.1.0",
            )),
        ),
    );
    let flash = state.flash.as_ref().unwrap();
    assert_eq!(flash.level, FlashLevel::Error);
    assert!(flash.text.contains("did not come back"), "{}", flash.text);
    assert!(screen_text(&state).contains("✗ gateway node dc1.example:8443"));
    // Finished: `U` asks again.
    press(&mut state, KeyCode::Char('U'));
    assert!(state.confirm.is_some());
}

#[test]
fn upgrade_panel_snapshots() {
    for size in SIZES {
        let mut state = on_gateways(size);
        confirm_upgrade(&mut state);
        update(
            &mut state,
            Msg::UpgradeProgressed(
                "dc1".into(),
                UpgradeProgress::Uploading {
                    address: "dc1.example:8443".into(),
                    bytes: 48_213_112,
                },
            ),
        );
        update(
            &mut state,
            Msg::UpgradeProgressed(
                "dc1".into(),
                UpgradeProgress::Restarting {
                    address: "dc1.example:8443".into(),
                    from: OLD.into(),
                    to: running_version(),
                },
            ),
        );
        state.flash = None;
        snapshot("gateways_upgrade_running", &state);
        update(
            &mut state,
            Msg::UpgradeProgressed(
                "dc1".into(),
                UpgradeProgress::Back {
                    address: "dc1.example:8443".into(),
                    version: running_version(),
                },
            ),
        );
        update(
            &mut state,
            Msg::GatewayUpgraded("dc1".into(), Ok(running_version())),
        );
        state.flash = None;
        snapshot("gateways_upgrade_done", &state);
    }
}
