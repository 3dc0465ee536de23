//! Pairing for real from the console: the wizard driven through `update`, its commands run by
//! the `EngineSource` against an in-process gateway on 127.0.0.1 (the same pairing function
//! as `kubemaas gateway pair`), then the Gateways list asks the paired gateway how it is.

mod gateway_support;
mod tui_support;

use crossterm::event::KeyCode;
use gateway_support::InProcGateway;
use kubemaas::engine::{EmbeddedEngine, EngineConfig};
use kubemaas::gateway::pairing::PairingCode;
use kubemaas::gateway::pki::fingerprint_text;
use kubemaas::store::Store;
use kubemaas::tui::app::{update, Cmd, Msg, State};
use kubemaas::tui::engine_source::EngineSource;
use kubemaas::tui::source::{ConsoleSource, PairFailure, Reachability};
use kubemaas::tui::widgets::secret::Secret;
use kubemaas::tui::wizards::{GatewayStep, PairState, Wizard};
use std::time::Duration;
use tui_support::*;

fn console_source(dir: &std::path::Path) -> EngineSource {
    let state = dir.join("console");
    let store = Store::open(&state).unwrap();
    let engine = EmbeddedEngine::watcher(store, EngineConfig::new(&state));
    EngineSource::new(engine, state, None).unwrap()
}

/// Runs the commands the way the event loop would and feeds their answers back.
async fn run(state: &mut State, source: &EngineSource, cmds: Vec<Cmd>) {
    let mut queue = cmds;
    while let Some(cmd) = queue.pop() {
        let msg = match cmd {
            Cmd::PairGateway { address, code } => {
                Msg::GatewayPaired(source.pair_gateway(address, code).await)
            }
            Cmd::ConfirmPairing(address) => {
                Msg::PairingSaved(source.confirm_pairing(address).await)
            }
            Cmd::LoadGateways => Msg::GatewaysLoaded(source.gateways().await),
            Cmd::UnpairGateway(name) => {
                let r = source.unpair_gateway(name.clone()).await;
                Msg::GatewayUnpaired(name, r)
            }
            // Other screens' loads are not what this test is about.
            _ => continue,
        };
        queue.extend(update(state, msg));
    }
}

fn gateway_wizard(state: &State) -> &kubemaas::tui::wizards::GatewayWizard {
    match &state.wizard {
        Some(Wizard::Gateway(w)) => w,
        other => panic!("the gateway wizard is not open: {other:?}"),
    }
}

#[tokio::test]
async fn the_wizard_pairs_with_a_real_gateway_and_the_list_shows_it_reachable() {
    let gw = InProcGateway::start(Duration::from_secs(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let source = console_source(dir.path());
    let mut state = loaded(5, (120, 40));

    type_text(&mut state, ":gw");
    let cmds = press(&mut state, KeyCode::Enter);
    run(&mut state, &source, cmds).await;
    let names: Vec<&str> = state
        .gateways
        .rows
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert_eq!(names, ["local"]);

    // A wrong code: refused by the gateway, shown beside the code field.
    press(&mut state, KeyCode::Char('n'));
    type_text(&mut state, &gw.addr);
    press(&mut state, KeyCode::Tab);
    let wrong = loop {
        let c = PairingCode::generate(&mut rand::rng());
        if c != gw.issue_code() {
            break c;
        }
    };
    type_text(&mut state, &wrong.reveal());
    let cmds = press(&mut state, KeyCode::Enter);
    assert!(matches!(cmds.as_slice(), [Cmd::PairGateway { .. }]));
    run(&mut state, &source, cmds).await;
    let w = gateway_wizard(&state);
    assert_eq!(w.step, GatewayStep::Details);
    let code_error = w
        .form
        .field("code")
        .unwrap()
        .error
        .clone()
        .unwrap_or_default();
    assert!(code_error.contains("wrong"), "{code_error}");

    // The right code: the gateway's name and CA fingerprint are shown before anything is kept.
    let code = gw.issue_code();
    for _ in 0..40 {
        press(&mut state, KeyCode::Backspace);
    }
    type_text(&mut state, &code.reveal());
    let cmds = press(&mut state, KeyCode::Enter);
    run(&mut state, &source, cmds).await;
    let w = gateway_wizard(&state);
    assert_eq!(w.step, GatewayStep::Confirm);
    let PairState::Offered(offer) = &w.pairing else {
        panic!("no offer: {:?}", w.pairing);
    };
    assert_eq!(offer.gateway, "gw");
    assert_eq!(
        offer.ca_fingerprint,
        fingerprint_text(&gw.pki.ca_fingerprint())
    );
    let before = source.gateways().await.unwrap();
    assert_eq!(
        before.len(),
        1,
        "nothing is stored before the operator confirms"
    );

    let cmds = press(&mut state, KeyCode::Enter);
    run(&mut state, &source, cmds).await;
    assert!(state.wizard.is_none(), "saved: the wizard closes");
    let gw_row = state
        .gateways
        .rows
        .iter()
        .find(|g| g.name == "gw")
        .expect("the paired gateway is listed");
    assert_eq!(
        gw_row.reachability,
        Reachability::Reachable {
            version: "test".into()
        }
    );
    assert_eq!(state.gateways.rows[0].name, "local", "local stays first");

    // Pairing it again is refused before the code is spent: the name is taken.
    let again = source
        .pair_gateway(gw.addr.clone(), Secret::new(gw.issue_code().reveal()))
        .await;
    match again {
        Err(PairFailure::Other(m)) => assert!(m.contains("already paired"), "{m}"),
        other => panic!("expected already paired: {other:?}"),
    }

    // Unpair: the record stays, not paired any more.
    source.unpair_gateway("gw".into()).await.unwrap();
    let after = source.gateways().await.unwrap();
    let row = after.iter().find(|g| g.name == "gw").unwrap();
    assert_eq!(row.reachability, Reachability::NotPaired);
}

#[tokio::test]
async fn a_used_code_and_a_closed_port_land_beside_their_fields() {
    let gw = InProcGateway::start(Duration::from_secs(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let source = console_source(dir.path());
    let code = gw.issue_code();
    // Spend the code from another console.
    kubemaas::gateway::client::pair(&gw.addr, &code, "other")
        .await
        .unwrap();
    let used = source
        .pair_gateway(gw.addr.clone(), Secret::new(code.reveal()))
        .await;
    match used {
        Err(PairFailure::Code(m)) => assert!(m.contains("already used"), "{m}"),
        other => panic!("expected a code failure: {other:?}"),
    }
    // A closed port on loopback: nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let unreachable = source
        .pair_gateway(closed, Secret::new(gw.issue_code().reveal()))
        .await;
    assert!(
        matches!(unreachable, Err(PairFailure::Address(_))),
        "{unreachable:?}"
    );
    // A malformed code never leaves the console.
    let malformed = source
        .pair_gateway(gw.addr.clone(), Secret::new("!!"))
        .await;
    assert!(
        matches!(malformed, Err(PairFailure::Code(_))),
        "{malformed:?}"
    );
}
