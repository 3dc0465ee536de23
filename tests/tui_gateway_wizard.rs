//! The gateway pairing wizard, driven through `update`: snapshots of each step and its error
//! states at 80x24 and 120x40, and the logic (what it asks for, what it refuses, the code never
//! shown).

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::tui::app::{update, Cmd, Msg, ScreenId, State};
use kubemaas::tui::source::{PairFailure, PairOffer, SourceError};
use kubemaas::tui::wizards::{GatewayStep, PairState, Wizard};
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
const CODE: &str = "ABCDE-FGHJK-MNPQR-STVWX";
const FP: &str = "SHA256:3F:A1:09:C4:77:10:BE:EF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01:02:03:04:05:06:07:08";

fn snapshot(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

/// The wizard opened with `n` on the Gateways screen.
fn opened(size: (u16, u16)) -> State {
    let mut state = loaded(5, size);
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    update(&mut state, Msg::GatewaysLoaded(Ok(vec![local_gateway()])));
    assert_eq!(state.screen, ScreenId::Gateways);
    press(&mut state, KeyCode::Char('n'));
    assert!(matches!(state.wizard, Some(Wizard::Gateway(_))));
    state
}

/// Address and code typed, Enter pressed: the pairing command it asked for.
fn submitted(size: (u16, u16)) -> (State, Vec<Cmd>) {
    let mut state = opened(size);
    type_text(&mut state, "dc1.example:8443");
    press(&mut state, KeyCode::Tab);
    type_text(&mut state, CODE);
    let cmds = press(&mut state, KeyCode::Enter);
    (state, cmds)
}

fn offer() -> PairOffer {
    PairOffer {
        address: "dc1.example:8443".into(),
        gateway: "dc1".into(),
        ca_fingerprint: FP.into(),
    }
}

fn wizard(state: &State) -> &kubemaas::tui::wizards::GatewayWizard {
    match &state.wizard {
        Some(Wizard::Gateway(w)) => w,
        other => panic!("the gateway wizard is not open: {other:?}"),
    }
}

#[test]
fn empty_form() {
    for size in SIZES {
        snapshot("gw_wizard_empty", &opened(size));
    }
}

#[test]
fn bad_fields_are_refused_before_connecting() {
    for size in SIZES {
        let mut state = opened(size);
        type_text(&mut state, "dc1.example");
        press(&mut state, KeyCode::Tab);
        type_text(&mut state, "AB!");
        let cmds = press(&mut state, KeyCode::Enter);
        assert!(cmds.is_empty(), "nothing is sent: {cmds:?}");
        snapshot("gw_wizard_invalid", &state);
        let w = wizard(&state);
        assert!(w.form.field("address").unwrap().error.is_some());
        assert!(w.form.field("code").unwrap().error.is_some());
    }
}

#[test]
fn the_code_is_masked_and_sent_once() {
    for size in SIZES {
        let (state, cmds) = submitted(size);
        match cmds.as_slice() {
            [Cmd::PairGateway { address, code }] => {
                assert_eq!(address, "dc1.example:8443");
                assert_eq!(code.expose(), CODE);
            }
            other => panic!("expected one pairing: {other:?}"),
        }
        let text = screen_text(&state);
        assert!(!text.contains("ABCDE"), "the code is never drawn: {text}");
        assert!(!format!("{state:?}").contains("ABCDE"), "nor in Debug");
        snapshot("gw_wizard_pairing", &state);
        assert!(text.contains("proving the pairing code"), "{text}");
    }
    // While pairing, Enter does not pair twice.
    let (mut state, _) = submitted((80, 24));
    assert!(press(&mut state, KeyCode::Enter).is_empty());
}

#[test]
fn code_errors_show_beside_the_code_field() {
    for (name, message) in [
        ("gw_wizard_wrong_code", "the pairing code is wrong (or this is not the gateway that printed it): check the code and the address"),
        ("gw_wizard_expired_code", "this pairing code expired (codes last 10 minutes): get a new one with `kubemaas gateway pairing-code` on the gateway"),
        ("gw_wizard_reused_code", "this pairing code was already used: every code pairs one console"),
    ] {
        for size in SIZES {
            let (mut state, _) = submitted(size);
            update(
                &mut state,
                Msg::GatewayPaired(Err(PairFailure::Code(message.into()))),
            );
            let w = wizard(&state);
            assert_eq!(w.step, GatewayStep::Details);
            assert_eq!(w.form.field("code").unwrap().error.as_deref(), Some(message));
            assert!(w.form.field("address").unwrap().error.is_none());
            snapshot(name, &state);
        }
    }
}

#[test]
fn an_unreachable_address_shows_beside_the_address() {
    for size in SIZES {
        let (mut state, _) = submitted(size);
        let message = "cannot reach the gateway at dc1.example:8443 (connection refused): check the address and port";
        update(
            &mut state,
            Msg::GatewayPaired(Err(PairFailure::Address(message.into()))),
        );
        let w = wizard(&state);
        assert_eq!(
            w.form.field("address").unwrap().error.as_deref(),
            Some(message)
        );
        snapshot("gw_wizard_unreachable", &state);
    }
}

#[test]
fn an_impersonator_is_loud() {
    for size in SIZES {
        let (mut state, _) = submitted(size);
        let message = "PAIRING REFUSED: the gateway at dc1.example:8443 could not prove it knows the pairing code for the certificate it showed (its proof does not match)";
        update(
            &mut state,
            Msg::GatewayPaired(Err(PairFailure::Impersonator(message.into()))),
        );
        assert_eq!(
            wizard(&state).pairing,
            PairState::Impersonator(message.into())
        );
        let text = screen_text(&state);
        assert!(text.contains("POSSIBLE IMPERSONATOR"), "{text}");
        snapshot("gw_wizard_impersonator", &state);
    }
}

#[test]
fn the_operator_confirms_the_fingerprint_before_saving() {
    for size in SIZES {
        let (mut state, _) = submitted(size);
        update(&mut state, Msg::GatewayPaired(Ok(offer())));
        assert_eq!(wizard(&state).step, GatewayStep::Confirm);
        snapshot("gw_wizard_confirm", &state);
        let text = screen_text(&state);
        assert!(text.contains("dc1"), "{text}");
        assert!(text.contains("3F:A1:09:C4"), "{text}");
        let cmds = press(&mut state, KeyCode::Enter);
        assert_eq!(cmds, vec![Cmd::ConfirmPairing("dc1.example:8443".into())]);
        // Saving: Enter again does nothing.
        assert!(press(&mut state, KeyCode::Enter).is_empty());
        let cmds = update(&mut state, Msg::PairingSaved(Ok("dc1".into())));
        assert!(state.wizard.is_none());
        assert_eq!(cmds, vec![Cmd::LoadGateways], "the list is re-read");
        assert!(state
            .flash
            .as_ref()
            .unwrap()
            .text
            .contains("paired with gateway dc1"));
    }
}

#[test]
fn a_failed_save_says_so_and_pgup_goes_back() {
    for size in SIZES {
        let (mut state, _) = submitted(size);
        update(&mut state, Msg::GatewayPaired(Ok(offer())));
        press(&mut state, KeyCode::Enter);
        update(
            &mut state,
            Msg::PairingSaved(Err(SourceError::new(
                "gateway `dc1` is already paired with this console: to pair again, first run `kubemaas gateway unpair dc1`",
            ))),
        );
        snapshot("gw_wizard_save_failed", &state);
        press(&mut state, KeyCode::PageUp);
        assert_eq!(wizard(&state).step, GatewayStep::Details);
        assert_eq!(wizard(&state).pairing, PairState::NotRun);
    }
}

#[test]
fn esc_leaves_without_storing_and_readonly_cannot_open_it() {
    let (mut state, _) = submitted((80, 24));
    update(&mut state, Msg::GatewayPaired(Ok(offer())));
    press(&mut state, KeyCode::Esc);
    // Something was typed: the discard dialog asks first.
    assert!(state.confirm.is_some());
    let mut state = loaded(5, (80, 24));
    state.readonly = true;
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    press(&mut state, KeyCode::Char('n'));
    assert!(state.wizard.is_none());
    assert!(state.flash.as_ref().unwrap().text.contains("read-only"));
}
