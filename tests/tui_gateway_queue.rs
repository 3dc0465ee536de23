//! Cluster requests queued while the gateway in use is away, driven through `update` like the
//! real loop: the wizard's deploy answered "queued" lands on the Clusters list as a Queued row
//! (its own style, its detail saying why it waits), a check that finds the gateway answering
//! again reads the list anew so the row becomes the cluster, and a request the gateway refused
//! shows as Refused with its reason. Snapshots of the Clusters list with a Queued and a Refused
//! row at 80x24 and 120x40.

mod tui_support;
mod tui_wizard_support;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::KeyCode;
use kubemaas::tui::app::{update, Cmd, FlashLevel, Msg, ScreenId, State};
use kubemaas::tui::clusters::{ClusterInfo, EngineLink, Phase, Poll, QUEUED_ID_PREFIX};
use kubemaas::tui::source::{GatewaySummary, Reachability};
use tui_support::{buffer, draw, find, loaded, press, row_text, type_text};
use tui_wizard_support::{accounts, choices, command, k};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

fn request(id: i64, name: &str, phase: Phase, reason: &str) -> ClusterInfo {
    ClusterInfo {
        id: format!("{QUEUED_ID_PREFIX}{id}"),
        name: name.into(),
        account: "dc1-maas".into(),
        phase,
        reason: Some(reason.into()),
        endpoint: None,
        waiting: (phase == Phase::Queued).then(|| reason.into()),
        kubernetes: None,
        pools: Vec::new(),
        machines: Vec::new(),
        tasks: Vec::new(),
        created: t0(),
        spec_generation: 0,
        observed_generation: 0,
    }
}

fn waiting(name: &str) -> ClusterInfo {
    request(
        1,
        name,
        Phase::Queued,
        "waiting for gateway dc1 (cannot reach the gateway at 127.0.0.1:9 (connection refused)); this console sends it as soon as the gateway answers (attempts so far: 1)",
    )
}

fn refused(name: &str) -> ClusterInfo {
    request(
        2,
        name,
        Phase::Refused,
        "gateway dc1 refused this queued request: a cluster named web already exists; fix the spec and create the cluster again",
    )
}

/// What the gateway lists once it took the request.
fn live(name: &str) -> ClusterInfo {
    ClusterInfo {
        id: "9f8e7d6c-0000-4000-8000-000000000001".into(),
        phase: Phase::Pending,
        reason: None,
        waiting: None,
        created: t0(),
        ..request(0, name, Phase::Pending, "")
    }
}

fn gateway(name: &str, reachability: Reachability) -> GatewaySummary {
    GatewaySummary {
        name: name.into(),
        address: format!("{name}.example:8443"),
        ca_fingerprint: Some("SHA256:3F:A1:09:C4:77:10".into()),
        reachability,
    }
}

fn reachable() -> Reachability {
    Reachability::Reachable {
        version: "0.1.0".into(),
    }
}

fn away() -> Reachability {
    Reachability::Unreachable(
        "cannot reach the gateway at 127.0.0.1:9 (connection refused): check it runs".into(),
    )
}

/// A console working through gateway dc1, on the Clusters screen with nothing listed yet.
fn on_dc1(size: (u16, u16)) -> State {
    let mut state = loaded(0, size);
    state.clusters.link = EngineLink::Reconciling;
    type_text(&mut state, ":gw");
    press(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::GatewaysLoaded(Ok(vec![gateway("dc1", reachable())])),
    );
    update(
        &mut state,
        Msg::GatewaySwitched {
            name: "dc1".into(),
            result: Ok(true),
        },
    );
    command(&mut state, "clusters");
    assert_eq!(state.screen, ScreenId::Clusters);
    update(
        &mut state,
        Msg::EventsPolled(Ok(Poll {
            events: Vec::new(),
            now: t0() + chrono::Duration::seconds(90),
            reconciling: false,
            streaming: true,
        })),
    );
    state.clusters.list_in_flight = false;
    update(&mut state, Msg::ClustersLoaded(Ok(Vec::new())));
    state.flash = None;
    state
}

fn shown_names(state: &State) -> Vec<(String, Phase)> {
    state
        .clusters
        .shown()
        .iter()
        .map(|c| (c.name.clone(), c.phase))
        .collect()
}

#[test]
fn a_deploy_answered_queued_closes_the_wizard_and_lists_a_queued_row() {
    let mut state = on_dc1((120, 40));
    let cmds = k(&mut state, KeyCode::Char('n'));
    assert!(cmds.contains(&Cmd::LoadChoices), "{cmds:?}");
    update(&mut state, Msg::AccountsLoaded(Ok(accounts())));
    update(&mut state, Msg::ChoicesLoaded(Box::new(Ok(choices(6)))));
    assert!(state.wizard.is_some());

    let cmds = update(
        &mut state,
        Msg::ClusterQueued {
            name: "web".into(),
            reason: "cannot reach the gateway at 127.0.0.1:9 (connection refused)".into(),
        },
    );
    assert!(state.wizard.is_none(), "the wizard's work is done");
    assert_eq!(state.screen, ScreenId::Clusters);
    assert_eq!(cmds, vec![Cmd::LoadClusters], "the list is read again");
    let flash = state.flash.as_ref().expect("a flash says it was queued");
    assert_eq!(flash.level, FlashLevel::Warning);
    assert!(flash.text.contains("cluster web queued"), "{}", flash.text);
    assert!(flash.text.contains("connection refused"), "{}", flash.text);

    // The loop answers a list read with the console's queue first, then the gateway's list
    // (which fails: the gateway is away). The request shows anyway.
    update(&mut state, Msg::QueueLoaded(Ok(vec![waiting("web")])));
    update(
        &mut state,
        Msg::ClustersLoaded(Err(kubemaas::tui::source::SourceError::new(
            "gateway dc1 does not answer",
        ))),
    );
    assert_eq!(shown_names(&state), vec![("web".into(), Phase::Queued)]);
    assert!(state.clusters.has_waiting());
    assert!(state.clusters.selected_cluster().unwrap().is_request());
}

#[test]
fn the_gateway_answering_again_reads_the_list_and_the_row_becomes_the_cluster() {
    let mut state = on_dc1((80, 24));
    update(&mut state, Msg::QueueLoaded(Ok(vec![waiting("web")])));
    update(&mut state, Msg::GatewayChecked("dc1".into(), away()));
    assert_eq!(shown_names(&state), vec![("web".into(), Phase::Queued)]);

    // Still away: nothing to read again.
    state.clusters.list_in_flight = false;
    let cmds = update(&mut state, Msg::GatewayChecked("dc1".into(), away()));
    assert!(cmds.is_empty(), "{cmds:?}");

    // It answers: the check sent the queue (EngineSource::check_gateway flushes), so the
    // list is read again — the queue with it.
    let cmds = update(&mut state, Msg::GatewayChecked("dc1".into(), reachable()));
    assert!(cmds.contains(&Cmd::LoadClusters), "{cmds:?}");

    // The queue no longer holds it; the gateway lists the cluster.
    update(&mut state, Msg::QueueLoaded(Ok(Vec::new())));
    update(&mut state, Msg::ClustersLoaded(Ok(vec![live("web")])));
    assert_eq!(shown_names(&state), vec![("web".into(), Phase::Pending)]);
    assert!(!state.clusters.has_waiting());

    // And with nothing queued, a check of a gateway that answers reads nothing.
    state.clusters.list_in_flight = false;
    let cmds = update(&mut state, Msg::GatewayChecked("dc1".into(), reachable()));
    assert!(cmds.is_empty(), "{cmds:?}");
}

#[test]
fn a_request_taken_between_two_reads_is_not_listed_twice() {
    let mut state = on_dc1((80, 24));
    update(&mut state, Msg::QueueLoaded(Ok(vec![waiting("web")])));
    // The gateway's list already has it, the queue read was older.
    update(&mut state, Msg::ClustersLoaded(Ok(vec![live("web")])));
    assert_eq!(shown_names(&state), vec![("web".into(), Phase::Pending)]);
}

#[test]
fn a_refused_request_shows_its_reason_and_keeps_the_real_cluster_of_that_name() {
    let mut state = on_dc1((80, 24));
    update(
        &mut state,
        Msg::QueueLoaded(Ok(vec![waiting("db"), refused("web")])),
    );
    update(&mut state, Msg::ClustersLoaded(Ok(vec![live("web")])));
    assert_eq!(
        shown_names(&state),
        vec![
            ("web".into(), Phase::Pending),
            ("db".into(), Phase::Queued),
            ("web".into(), Phase::Refused),
        ]
    );
    let refused_row = state.clusters.shown()[2].clone();
    assert!(refused_row
        .reason
        .as_deref()
        .unwrap()
        .contains("already exists"));
    // The filter finds it by its reason, like any cluster.
    type_text(&mut state, "/already");
    press(&mut state, KeyCode::Enter);
    assert_eq!(shown_names(&state), vec![("web".into(), Phase::Refused)]);
}

#[test]
fn the_detail_of_a_queued_request_says_why_it_waits() {
    let mut state = on_dc1((120, 40));
    update(&mut state, Msg::QueueLoaded(Ok(vec![waiting("web")])));
    let cmds = press(&mut state, KeyCode::Enter);
    // Opened by its name (the source finds it in the console's queue while it waits, and
    // the gateway's cluster of that name once taken).
    assert_eq!(cmds, vec![Cmd::LoadCluster("web".into())]);
    update(
        &mut state,
        Msg::ClusterLoaded("web".into(), Box::new(Ok(waiting("web")))),
    );
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    assert!(find(buf, "Queued").is_some());
    assert!(
        find(buf, "waiting for gateway dc1").is_some(),
        "{}",
        (0..buf.area.height)
            .map(|y| row_text(buf, y))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The gateway took it: the same key now answers the cluster.
    update(
        &mut state,
        Msg::ClusterLoaded("web".into(), Box::new(Ok(live("web")))),
    );
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    assert!(find(buf, "Pending").is_some());
    assert!(find(buf, "waiting for gateway dc1").is_none());
}

#[test]
fn clusters_with_a_queued_and_a_refused_request_snapshots() {
    for size in SIZES {
        let (w, h) = size;
        let mut state = on_dc1(size);
        update(
            &mut state,
            Msg::QueueLoaded(Ok(vec![waiting("web"), refused("db")])),
        );
        update(&mut state, Msg::ClustersLoaded(Ok(vec![live("api")])));
        state.flash = None;
        let terminal = draw(&state);
        insta::assert_snapshot!(format!("clusters_queued_{w}x{h}"), terminal.backend());
        let buf = buffer(&terminal);
        let (x, y) = find(buf, "Queued").expect("the Queued row");
        let cell = &buf[(x, y)];
        assert!(
            cell.modifier.contains(ratatui::style::Modifier::ITALIC),
            "a Queued row has its own style"
        );
        let (x, y) = find(buf, "Refused").expect("the Refused row");
        assert_eq!(buf[(x, y)].fg, state.theme.danger.fg.unwrap());
        assert!(find(buf, "1 queued").is_some(), "the title counts them");
    }
}
