//! Resizing a gateway from the console, driven through `update` like the real loop: `r` on a
//! paired gateway opens the resize dialog (refused under --readonly, for `local` and for an
//! unpaired gateway), a bad endpoint is shown beside its field and nothing is sent, good
//! settings send [`Cmd::ResizeGateway`], and the steps fill a panel that ends with the
//! commands that start the other nodes. Snapshots of the dialog and the panel at 80x24 and
//! 120x40.

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::gateway::resize::ResizeProgress;
use kubemaas::tui::app::{update, Cmd, FlashLevel, Msg, ScreenId, State};
use kubemaas::tui::source::{GatewaySummary, Reachability};
use kubemaas::tui::wizards::Wizard;
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn snapshot(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

fn row(name: &str, reachability: Reachability) -> GatewaySummary {
    GatewaySummary {
        name: name.into(),
        address: if name == "local" {
            "embedded".into()
        } else {
            format!("{name}.example:8443")
        },
        ca_fingerprint: (name != "local").then(|| "SHA256:3F:A1:09:C4:77:10".into()),
        reachability,
    }
}

/// The Gateways screen listing local, a paired dc1 and an unpaired dc2, `local` selected.
fn on_gateways(mut state: State) -> State {
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Gateways);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![
            row("local", Reachability::Embedded),
            row(
                "dc1",
                Reachability::Reachable {
                    version: kubemaas::gateway::upgrade_version::running_version(),
                },
            ),
            row("dc2", Reachability::NotPaired),
        ])),
    );
    state.flash = None;
    state
}

fn flash_text(state: &State) -> String {
    state
        .flash
        .as_ref()
        .map(|f| f.text.clone())
        .unwrap_or_default()
}

#[test]
fn r_is_refused_for_local_an_unpaired_gateway_and_under_readonly() {
    let mut state = on_gateways(loaded(10, (120, 40)));
    press(&mut state, KeyCode::Char('r'));
    assert!(state.wizard.is_none());
    assert!(
        flash_text(&state).contains("embedded engine"),
        "{}",
        flash_text(&state)
    );
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Char('r'));
    assert!(state.wizard.is_none());
    assert!(
        flash_text(&state).contains("not paired"),
        "{}",
        flash_text(&state)
    );

    let mut opts = options((120, 40));
    opts.readonly = true;
    let mut ro = State::new(opts);
    update(&mut ro, Msg::Identified(Ok(identity())));
    let mut ro = on_gateways(ro);
    press(&mut ro, KeyCode::Down);
    press(&mut ro, KeyCode::Char('r'));
    assert!(ro.wizard.is_none());
    let flash = ro.flash.as_ref().expect("a flash says why");
    assert_eq!(flash.level, FlashLevel::Warning);
    assert!(flash.text.contains("read-only"), "{}", flash.text);
}

#[test]
fn the_dialog_sends_nothing_until_its_settings_read_then_the_panel_follows_the_resize() {
    for size in SIZES {
        let mut state = on_gateways(loaded(10, size));
        press(&mut state, KeyCode::Down);
        press(&mut state, KeyCode::Char('r'));
        assert!(matches!(state.wizard, Some(Wizard::Resize(_))));
        snapshot("gateway_resize_dialog", &state);

        type_text(&mut state, "10.0.0.1");
        let cmds = press(&mut state, KeyCode::PageDown);
        assert!(cmds.is_empty(), "{cmds:?}");
        assert!(screen_text(&state).contains("fix the fields marked"));

        for _ in 0.."10.0.0.1".len() {
            press(&mut state, KeyCode::Backspace);
        }
        type_text(&mut state, "https://10.0.0.1:2379, https://10.0.0.2:2379");
        let cmds = press(&mut state, KeyCode::PageDown);
        let [Cmd::ResizeGateway { gateway, settings }] = cmds.as_slice() else {
            panic!("{cmds:?}");
        };
        assert_eq!(gateway, "dc1");
        assert_eq!(settings.endpoints.len(), 2);
        assert_eq!(settings.prefix.as_deref(), Some("/kubemaas/dc1"));
        assert!(state.wizard.is_none());

        for step in [
            ResizeProgress::Checking {
                address: "dc1.example:8443".into(),
            },
            ResizeProgress::Switching {
                address: "dc1.example:8443".into(),
                node: "gw1".into(),
                config: "/etc/kubemaas/gateway.yaml".into(),
            },
            ResizeProgress::Back {
                address: "dc1.example:8443".into(),
            },
        ] {
            update(&mut state, Msg::ResizeProgressed("dc1".into(), step));
        }
        let text = screen_text(&state);
        assert!(text.contains("Resize of dc1"), "{text}");
        assert!(text.contains("in progress"), "{text}");
        // Another resize waits for this one.
        press(&mut state, KeyCode::Char('r'));
        assert!(state.wizard.is_none());
        assert!(flash_text(&state).contains("being resized"));

        update(
            &mut state,
            Msg::GatewayResized(
                "dc1".into(),
                Ok(vec![
                    "copy /etc/kubemaas/gateway.yaml to each new host, then run there:".into(),
                    "kubemaas gateway run -c /etc/kubemaas/gateway.yaml --node gw2 --listen HOST:8443".into(),
                    "kubemaas gateway run -c /etc/kubemaas/gateway.yaml --node gw3 --listen HOST:8443".into(),
                    "nodes now: gw1 (10.0.0.1:8443)".into(),
                ]),
            ),
        );
        state.flash = None;
        snapshot("gateway_resize_panel", &state);
        let text = screen_text(&state);
        assert!(text.contains("keeps its state in etcd"), "{text}");
    }
}
