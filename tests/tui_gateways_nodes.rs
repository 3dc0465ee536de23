//! The Gateways screen shows a replicated gateway's nodes: a NODES column (dropped first on a
//! narrow terminal) and, for the selected gateway, its nodes with their addresses and the
//! leader, one per line when there is room, else on one wrapped line. The nodes come from the
//! console's store, loaded right after the gateways were asked how they are.

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::engine::{EmbeddedEngine, EngineConfig};
use kubemaas::store::{GatewayKind, KnownNode, NewGateway, Store};
use kubemaas::tui::app::lists::ListLoad;
use kubemaas::tui::app::{update, Cmd, Msg, ScreenId, State};
use kubemaas::tui::engine_source::EngineSource;
use kubemaas::tui::source::{
    ConsoleSource, GatewayNodes, GatewaySummary, Reachability, SourceError,
};
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

fn reachable() -> Reachability {
    Reachability::Reachable {
        version: "0.1.0".into(),
    }
}

fn node(name: &str, address: &str, leader: bool) -> KnownNode {
    KnownNode {
        node: name.into(),
        address: address.into(),
        leader,
    }
}

fn three_nodes() -> Vec<KnownNode> {
    vec![
        node("gw1", "10.0.0.1:8443", false),
        node("gw2", "10.0.0.2:8443", true),
        node("gw3", "10.0.0.3:8443", false),
    ]
}

/// A console on the Gateways screen with `rows` loaded, then `nodes` (as the event loop does:
/// the rows' answer asks for the nodes).
fn on_gateways(size: (u16, u16), rows: Vec<GatewaySummary>, nodes: GatewayNodes) -> State {
    let mut state = loaded(10, size);
    type_text(&mut state, ":gw");
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(state.screen, ScreenId::Gateways);
    assert_eq!(cmds, vec![Cmd::LoadGateways]);
    let cmds = update(&mut state, Msg::GatewaysLoaded(Ok(rows)));
    assert_eq!(
        cmds,
        vec![Cmd::LoadGatewayNodes],
        "the gateways' answers are followed by their nodes"
    );
    assert!(update(&mut state, Msg::GatewayNodesLoaded(Ok(nodes))).is_empty());
    state
}

fn dc1_with_three_nodes() -> (Vec<GatewaySummary>, GatewayNodes) {
    let rows = vec![
        local_gateway(),
        remote("dc1", reachable()),
        remote("dc2", reachable()),
    ];
    let nodes = GatewayNodes::from([("dc1".to_string(), three_nodes())]);
    (rows, nodes)
}

#[test]
fn the_selected_gateways_nodes_are_listed_with_the_leader() {
    for size in SIZES {
        let (rows, nodes) = dc1_with_three_nodes();
        let mut state = on_gateways(size, rows, nodes);
        press(&mut state, KeyCode::Down);
        snapshot("gateways_nodes", &state);
        let text = screen_text(&state);
        assert!(text.contains("3 nodes of dc1:"), "{text}");
        let leader_line = text
            .lines()
            .find(|l| l.contains("gw2"))
            .unwrap_or_else(|| panic!("gw2 is listed: {text}"));
        assert!(leader_line.contains("10.0.0.2:8443"), "{text}");
        assert!(leader_line.contains("leader"), "{text}");
        for other in ["gw1", "gw3"] {
            let line = text.lines().find(|l| l.contains(other)).unwrap();
            assert!(!line.contains("leader"), "only gw2 leads: {text}");
        }
    }
}

#[test]
fn the_nodes_column_counts_them_where_it_fits() {
    let (rows, nodes) = dc1_with_three_nodes();
    let state = on_gateways((120, 40), rows, nodes);
    let text = screen_text(&state);
    let header = text.lines().find(|l| l.contains("NAME")).unwrap();
    assert!(header.contains("NODES"), "{text}");
    let dc1 = text.lines().find(|l| l.contains("dc1.example")).unwrap();
    assert!(dc1.trim_end_matches('│').trim_end().ends_with('3'), "{dc1}");
    // A gateway that answered without listing nodes has one.
    let dc2 = text.lines().find(|l| l.contains("dc2.example")).unwrap();
    assert!(dc2.trim_end_matches('│').trim_end().ends_with('1'), "{dc2}");
    // `local` is selected: no node list under the table.
    assert!(!text.contains("nodes of"), "{text}");

    // 80 columns: the column goes (the selected gateway's list says it all).
    let (rows, nodes) = dc1_with_three_nodes();
    let state = on_gateways((80, 24), rows, nodes);
    let text = screen_text(&state);
    let header = text.lines().find(|l| l.contains("NAME")).unwrap();
    assert!(!header.contains("NODES"), "{text}");
    assert!(header.contains("VERSION"), "the other columns stay: {text}");
}

#[test]
fn without_room_for_a_line_each_the_nodes_share_one() {
    // Enough gateways to leave three lines between the table and the note at 80x24: too few
    // for a title and five nodes.
    let mut rows = vec![local_gateway(), remote("dc1", reachable())];
    rows.extend((2..14).map(|i| remote(&format!("dc{i}"), reachable())));
    let five: Vec<KnownNode> = (1..=5)
        .map(|i| node(&format!("gw{i}"), &format!("10.0.0.{i}:8443"), i == 4))
        .collect();
    let nodes = GatewayNodes::from([("dc1".to_string(), five)]);
    let mut state = on_gateways((80, 24), rows, nodes);
    press(&mut state, KeyCode::Down);
    snapshot("gateways_nodes_crowded", &state);
    let text = screen_text(&state);
    assert!(text.contains("5 nodes: gw1 10.0.0.1:8443, gw2"), "{text}");
    assert!(text.contains("10.0.0.4:8443 (leader)"), "{text}");
    // Every gateway row is still shown.
    assert!(text.contains("dc13.example:8443"), "{text}");
    assert!(
        text.contains("* = the gateway this console works through"),
        "{text}"
    );
}

#[test]
fn a_failed_node_load_is_said_and_shows_no_stale_nodes() {
    let (rows, nodes) = dc1_with_three_nodes();
    let mut state = on_gateways((80, 24), rows, nodes);
    press(&mut state, KeyCode::Down);
    update(
        &mut state,
        Msg::GatewayNodesLoaded(Err(SourceError::new("the store is locked: retry"))),
    );
    assert!(state.gateways.nodes.is_empty());
    assert!(matches!(state.gateways.load, ListLoad::Failed(_)));
    let text = screen_text(&state);
    assert!(
        text.contains("cannot read the gateways' nodes: the store is locked"),
        "{text}"
    );
    assert!(!text.contains("10.0.0.2:8443"), "{text}");
}

#[tokio::test]
async fn the_console_source_reads_the_recorded_nodes_of_each_paired_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("console");
    let store = Store::open(&state_dir).unwrap();
    store
        .tx(|tx| {
            for name in ["dc1", "dc2"] {
                tx.insert_gateway(&NewGateway {
                    name: name.into(),
                    address: format!("{name}.example:8443"),
                    fingerprint: Some(FP.into()),
                    client_cert_path: None,
                    client_key_path: None,
                    kind: GatewayKind::Remote,
                })?;
            }
            tx.set_gateway_nodes("dc1", &three_nodes())
        })
        .unwrap();
    let engine = EmbeddedEngine::watcher(store, EngineConfig::new(&state_dir));
    let source = EngineSource::new(engine, state_dir, None).unwrap();
    let nodes = source.gateway_nodes().await.unwrap();
    // dc2 listed none (a 1-node gateway): absent. Nodes come sorted by name.
    assert_eq!(
        nodes,
        GatewayNodes::from([("dc1".to_string(), three_nodes())])
    );
}
