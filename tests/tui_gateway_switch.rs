//! Working through a paired gateway, driven through `update` like the real loop: Enter on the
//! Gateways screen and `:gateway NAME` switch every screen (and `local` switches back), the
//! screens start over from the new gateway's data, the gateway in use is asked on a timer
//! whether it answers, and while it does not the header says so loudly and the screens keep
//! their last data marked stale. Snapshots of the header (whole screen) at 80x24 and 120x40
//! with a reachable and an unreachable gateway.

mod tui_support;

use chrono::{DateTime, Utc};
use crossterm::event::KeyCode;
use kubemaas::tui::app::{update, Cmd, Connection, FlashLevel, Msg, State};
use kubemaas::tui::clusters::{EngineLink, EventLine, Level, Load, Poll};
use kubemaas::tui::machines::LoadState;
use kubemaas::tui::source::{GatewaySummary, Reachability, SourceError};
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn remote(name: &str, reachability: Reachability) -> GatewaySummary {
    remote_gateway(name, reachability, "SHA256:3F:A1:09:C4:77:10")
}

fn reachable() -> Reachability {
    Reachability::Reachable {
        version: "0.9.1".into(),
    }
}

fn unreachable() -> Reachability {
    Reachability::Unreachable(
        "cannot reach the gateway at dc1.example:8443 (connection refused): check it runs".into(),
    )
}

/// A console on this host's engine (reconciling), with `n` machines, on the Gateways screen
/// listing local, a paired `dc1` and an unpaired `dc9`.
fn console(size: (u16, u16)) -> State {
    let mut state = loaded(12, size);
    state.gateways.local_link = EngineLink::Reconciling;
    state.gateways.local_maas = true;
    state.clusters.link = EngineLink::Reconciling;
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![
            local_gateway(),
            remote("dc1", reachable()),
            remote("dc9", Reachability::NotPaired),
        ])),
    );
    state
}

/// The console after the loop swapped in gateway `name`'s source.
fn switched_to(state: &mut State, name: &str, shows_maas: bool) -> Vec<Cmd> {
    update(
        state,
        Msg::GatewaySwitched {
            name: name.into(),
            result: Ok(shows_maas),
        },
    )
}

fn header(state: &State) -> String {
    let terminal = draw(state);
    row_text(buffer(&terminal), 0)
}

fn flash(state: &State) -> (FlashLevel, String) {
    let f = state.flash.as_ref().expect("a flash");
    (f.level, f.text.clone())
}

fn event(id: i64) -> EventLine {
    EventLine {
        id,
        cluster: Some("c1".into()),
        time: DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap(),
        level: Level::Info,
        source: "engine".into(),
        machine: None,
        message: format!("step {id}"),
    }
}

#[test]
fn enter_on_a_paired_gateway_switches_every_screen_to_it() {
    let mut state = console((80, 24));
    // Some of this host's clusters' journal is on screen before the switch.
    update(
        &mut state,
        Msg::EventsPolled(Ok(Poll {
            events: vec![event(1), event(2)],
            now: Utc::now(),
            reconciling: true,
            streaming: false,
        })),
    );
    assert_eq!(state.clusters.last_event, 2);

    press(&mut state, KeyCode::Down);
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::UseGateway("dc1".into())]);
    assert_eq!(state.gateways.switching.as_deref(), Some("dc1"));
    assert!(header(&state).contains("→ dc1…"), "{}", header(&state));
    // Nothing changes until the loop says the source is swapped.
    assert_eq!(state.gateways.in_use, "local");

    let cmds = switched_to(&mut state, "dc1", true);
    assert_eq!(state.gateways.in_use, "dc1");
    assert_eq!(state.gateways.switching, None);
    // Every screen starts over from the gateway's data: nothing of this host's stays.
    assert_eq!(state.clusters.last_event, 0);
    assert!(state.clusters.journal.is_empty());
    assert_eq!(state.machines.total(), 0);
    assert_eq!(state.connection, Connection::Connecting);
    // The gateway reconciles by itself: leaving the console stops nothing there.
    assert_eq!(state.clusters.link, EngineLink::Watching);
    for wanted in [
        Cmd::Identify,
        Cmd::LoadMachines,
        Cmd::PollEvents(0),
        Cmd::LoadClusters,
        Cmd::LoadGateways,
        Cmd::CheckGateway("dc1".into()),
    ] {
        assert!(cmds.contains(&wanted), "{wanted:?} missing from {cmds:?}");
    }
    assert!(flash(&state).1.contains("gateway dc1"), "{:?}", state.flash);
    // Until its own check answers, the header goes by the Gateways list's last answer.
    assert!(
        header(&state).contains("gateway dc1 ✓"),
        "{}",
        header(&state)
    );
    state.gateways.rows.clear();
    assert!(
        header(&state).contains("gateway dc1 checking…"),
        "{}",
        header(&state)
    );
}

#[test]
fn the_command_switches_by_name_and_local_switches_back() {
    let mut state = console((80, 24));
    type_text(&mut state, ":gateway dc1");
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::UseGateway("dc1".into())]);
    switched_to(&mut state, "dc1", true);
    assert_eq!(state.gateways.in_use, "dc1");

    // The short alias too; back on this host's engine its link and MAAS come back.
    type_text(&mut state, ":gw local");
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::UseGateway("local".into())]);
    let cmds = switched_to(&mut state, "local", true);
    assert_eq!(state.gateways.in_use, "local");
    assert_eq!(state.clusters.link, EngineLink::Reconciling);
    assert!(
        !cmds.iter().any(|c| matches!(c, Cmd::CheckGateway(_))),
        "the embedded engine is not probed: {cmds:?}"
    );
    assert!(header(&state).contains("gateway local │"));

    // A local engine without MAAS shows the welcome screen again, not a stale inventory.
    switched_to(&mut state, "dc1", true);
    switched_to(&mut state, "local", false);
    assert_eq!(state.connection, Connection::NotConfigured);
}

#[test]
fn switching_is_refused_when_it_cannot_work() {
    let mut state = console((80, 24));
    // The unpaired gateway: pair it first.
    press(&mut state, KeyCode::End);
    assert_eq!(state.gateways.selected_row().unwrap().name, "dc9");
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    let (level, text) = flash(&state);
    assert_eq!(level, FlashLevel::Error);
    assert!(
        text.contains("not paired") && text.contains("pair it first"),
        "{text}"
    );
    // The one in use: nothing to do.
    press(&mut state, KeyCode::Home);
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert!(flash(&state).1.contains("already works through"));
    // The gateway did not answer the switch: the console stays where it was, saying why.
    press(&mut state, KeyCode::Down);
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaySwitched {
            name: "dc1".into(),
            result: Err(SourceError::new(
                "gateway dc1 does not answer: connection refused; the console stays where it was",
            )),
        },
    );
    assert_eq!(state.gateways.in_use, "local");
    assert_eq!(state.gateways.switching, None);
    assert_eq!(state.machines.total(), 12, "this host's data stays");
    assert!(flash(&state).1.contains("stays where it was"));
}

#[test]
fn the_gateway_in_use_is_checked_on_a_timer_and_never_twice_at_once() {
    let mut state = console((80, 24));
    // On the embedded engine nothing is probed.
    for _ in 0..20 {
        let cmds = update(&mut state, Msg::Tick);
        assert!(!cmds.iter().any(|c| matches!(c, Cmd::CheckGateway(_))));
    }
    switched_to(&mut state, "dc1", true);
    let mut checks = 0;
    for _ in 0..30 {
        let cmds = update(&mut state, Msg::Tick);
        checks += cmds
            .iter()
            .filter(|c| **c == Cmd::CheckGateway("dc1".into()))
            .count();
    }
    // The check asked at the switch is still unanswered: none more.
    assert_eq!(checks, 0);
    update(&mut state, Msg::GatewayChecked("dc1".into(), reachable()));
    let mut checks = 0;
    for _ in 0..20 {
        let cmds = update(&mut state, Msg::Tick);
        if cmds.contains(&Cmd::CheckGateway("dc1".into())) {
            checks += 1;
            update(&mut state, Msg::GatewayChecked("dc1".into(), reachable()));
        }
    }
    assert_eq!(checks, 4, "one check every 5 seconds");
    // A late answer about another gateway changes nothing.
    update(&mut state, Msg::GatewayChecked("dc2".into(), unreachable()));
    assert!(!state.gateways.stale());
}

#[test]
fn an_unreachable_gateway_keeps_the_last_data_marked_stale_until_it_answers() {
    let mut state = console((80, 24));
    switched_to(&mut state, "dc1", true);
    update(&mut state, Msg::Identified(Ok(identity())));
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(7))));
    update(&mut state, Msg::ClustersLoaded(Ok(Vec::new())));
    update(&mut state, Msg::GatewayChecked("dc1".into(), reachable()));
    assert!(!state.gateways.stale());
    assert!(
        header(&state).contains("gateway dc1 ✓"),
        "{}",
        header(&state)
    );

    update(&mut state, Msg::GatewayChecked("dc1".into(), unreachable()));
    assert!(state.gateways.stale());
    let (level, text) = flash(&state);
    assert_eq!(level, FlashLevel::Error);
    assert!(
        text.contains("connection refused") && text.contains("stale"),
        "{text}"
    );
    // Loads fail while it is away: the data stays, the failure is beside it.
    update(
        &mut state,
        Msg::MachinesLoaded(Err(SourceError::new("cannot reach gateway dc1"))),
    );
    update(
        &mut state,
        Msg::ClustersLoaded(Err(SourceError::new("cannot reach gateway dc1"))),
    );
    assert_eq!(state.machines.total(), 7);
    assert!(matches!(state.machines.load, LoadState::Failed(_)));
    type_text(&mut state, ":m");
    press(&mut state, KeyCode::Enter);
    let text = screen_text(&state);
    assert!(text.contains("UNREACHABLE · stale"), "{text}");
    assert!(
        text.contains("Machines [7/7] sort:hostname↑ stale"),
        "{text}"
    );
    assert!(
        text.contains("node-0006"),
        "the last inventory is shown: {text}"
    );
    type_text(&mut state, ":clusters");
    // The failed list is asked again on opening; it fails again while the gateway is away.
    assert_eq!(press(&mut state, KeyCode::Enter), vec![Cmd::LoadClusters]);
    update(
        &mut state,
        Msg::ClustersLoaded(Err(SourceError::new("cannot reach gateway dc1"))),
    );
    assert!(screen_text(&state).contains("Clusters [0/0] stale"));
    // A second identical answer neither flashes again nor redraws.
    state.flash = None;
    state.dirty = false;
    update(&mut state, Msg::GatewayChecked("dc1".into(), unreachable()));
    assert!(state.flash.is_none() && !state.dirty);

    // Back: the mark goes, and what failed is read again at once.
    let cmds = update(&mut state, Msg::GatewayChecked("dc1".into(), reachable()));
    assert!(!state.gateways.stale());
    assert!(flash(&state).1.contains("answers again"));
    assert!(cmds.contains(&Cmd::LoadMachines), "{cmds:?}");
    assert!(cmds.contains(&Cmd::LoadClusters), "{cmds:?}");
    assert!(!screen_text(&state).contains("stale"));
    assert_ne!(state.clusters.load, Load::NotLoaded);
}

#[test]
fn a_streaming_source_is_asked_again_as_soon_as_it_answers() {
    let mut state = console((80, 24));
    switched_to(&mut state, "dc1", true);
    let cmds = update(
        &mut state,
        Msg::EventsPolled(Ok(Poll {
            events: vec![event(5), event(6)],
            now: Utc::now(),
            reconciling: false,
            streaming: true,
        })),
    );
    assert!(cmds.contains(&Cmd::PollEvents(6)), "{cmds:?}");
    assert!(state.clusters.poll_in_flight);
    // An empty answer (the gateway was quiet) keeps the read open too.
    let cmds = update(
        &mut state,
        Msg::EventsPolled(Ok(Poll {
            events: Vec::new(),
            now: Utc::now(),
            reconciling: false,
            streaming: true,
        })),
    );
    assert_eq!(cmds, vec![Cmd::PollEvents(6)]);
    // The tick does not ask a second time while the read is open.
    let cmds = update(&mut state, Msg::Tick);
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::PollEvents(_))));
    // This host's engine is polled on the tick instead.
    let mut local = console((80, 24));
    let cmds = update(
        &mut local,
        Msg::EventsPolled(Ok(Poll {
            events: vec![event(1)],
            now: Utc::now(),
            reconciling: true,
            streaming: false,
        })),
    );
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::PollEvents(_))));
}

/// The console on gateway dc1's Machines screen, its inventory loaded, then how dc1 answered.
fn on_dc1(size: (u16, u16), reachability: Reachability) -> State {
    let mut state = console(size);
    switched_to(&mut state, "dc1", true);
    update(&mut state, Msg::Identified(Ok(identity())));
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(12))));
    update(&mut state, Msg::GatewayChecked("dc1".into(), reachability));
    type_text(&mut state, ":m");
    press(&mut state, KeyCode::Enter);
    // The flash of the switch or the check is not what these pictures are about.
    state.flash = None;
    state
}

#[test]
fn header_snapshots_with_a_reachable_and_an_unreachable_gateway() {
    for size in SIZES {
        let (w, h) = size;
        let state = on_dc1(size, reachable());
        let terminal = draw(&state);
        insta::assert_snapshot!(
            format!("gateway_in_use_reachable_{w}x{h}"),
            terminal.backend()
        );
        let buf = buffer(&terminal);
        let (x, y) = find(buf, "✓").expect("the reachable mark");
        assert_eq!(y, 0);
        assert_eq!(buf[(x, y)].fg, state.theme.ok.fg.unwrap());

        let state = on_dc1(size, unreachable());
        let terminal = draw(&state);
        insta::assert_snapshot!(
            format!("gateway_in_use_unreachable_{w}x{h}"),
            terminal.backend()
        );
        let buf = buffer(&terminal);
        let (x, y) = find(buf, "✗ UNREACHABLE").expect("the loud mark");
        assert_eq!(y, 0);
        let cell = &buf[(x, y)];
        assert_eq!(cell.fg, state.theme.danger.fg.unwrap());
        assert!(
            cell.modifier
                .contains(ratatui::style::Modifier::REVERSED | ratatui::style::Modifier::BOLD),
            "unreachable is loud: {:?}",
            cell.modifier
        );
        let (x, y) = find(buf, "stale")
            .map(|_| ())
            .and_then(|_| {
                // The title's mark, on the table's top border (row 1).
                let line = row_text(buf, 1);
                line.find("stale")
                    .map(|b| (line[..b].chars().count() as u16, 1))
            })
            .expect("the table's stale mark");
        assert_eq!(buf[(x, y)].fg, state.theme.danger.fg.unwrap());
    }
}

#[test]
fn a_new_account_goes_to_the_gateway_in_use() {
    use kubemaas::tui::wizards::Wizard;
    let mut state = console((80, 24));
    let gateway_of = |state: &State| match &state.wizard {
        Some(Wizard::Account(w)) => w.draft().gateway,
        other => panic!("the account wizard is not open: {other:?}"),
    };
    type_text(&mut state, ":new-account");
    press(&mut state, KeyCode::Enter);
    assert_eq!(gateway_of(&state), "local");
    state.wizard = None;

    switched_to(&mut state, "dc1", true);
    type_text(&mut state, ":new-account");
    press(&mut state, KeyCode::Enter);
    assert_eq!(
        gateway_of(&state),
        "dc1",
        "kept on the gateway it will be used from"
    );
}

#[test]
fn unpairing_the_gateway_in_use_goes_back_to_local() {
    let mut state = console((80, 24));
    switched_to(&mut state, "dc1", true);
    let cmds = update(&mut state, Msg::GatewayUnpaired("dc1".into(), Ok(())));
    assert!(cmds.contains(&Cmd::UseGateway("local".into())), "{cmds:?}");
    // Another gateway's unpairing leaves the one in use alone.
    let mut state = console((80, 24));
    switched_to(&mut state, "dc1", true);
    let cmds = update(&mut state, Msg::GatewayUnpaired("dc2".into(), Ok(())));
    assert!(!cmds.iter().any(|c| matches!(c, Cmd::UseGateway(_))));
}
