//! The cluster screens driven through `update` like the real loop: snapshots of the Clusters
//! list, the detail mid-provisioning (machines deploying, a failed deployment replaced),
//! Running and Deleting, the resize prompt and the Events screen at 80x24 and 120x40, with the
//! colours of statuses checked; and the update logic: the journal drives reloads, the detail's
//! actions go through the confirm dialog and prompts, read-only refuses them, quitting asks.

mod tui_support;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyCode;
use kubemaas::engine::{KubeSummary, PoolProgress};
use kubemaas::tui::app::{update, Cmd, Msg, ScreenId, State};
use kubemaas::tui::clusters::{
    ClusterInfo, EngineLink, EventLine, Level, MachineLine, Phase, Poll, Prompt, TaskLine,
};
use kubemaas::tui::source::SourceError;
use kubemaas::tui::widgets::confirm::ConfirmAction;
use ratatui::buffer::Buffer;
use tui_support::{buffer, draw, find, loaded, press, type_text};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn machine(host: &str, id: &str, pool: &str, state: &str, maas: &str, msg: &str) -> MachineLine {
    MachineLine {
        system_id: id.into(),
        hostname: host.into(),
        pool: pool.into(),
        role: if pool == "control-plane" {
            "control-plane".into()
        } else {
            "worker".into()
        },
        state: state.into(),
        maas_status: maas.into(),
        message: msg.into(),
        ip: String::new(),
    }
}

fn task(kind: &str, state: &str, msg: &str, start: i64, end: Option<i64>) -> TaskLine {
    TaskLine {
        kind: kind.into(),
        state: state.into(),
        message: msg.into(),
        started: at(start),
        finished: end.map(at),
    }
}

fn pool(
    name: &str,
    desired: u32,
    allocated: u32,
    deploying: u32,
    deployed: u32,
    ready: u32,
) -> PoolProgress {
    PoolProgress {
        pool: name.into(),
        desired,
        allocated,
        deploying,
        deployed,
        ready,
        draining: 0,
    }
}

/// `web`: one control-plane node deployed, two workers deploying, one worker whose deployment
/// failed (held until its replacement is taken) and the replacement just allocated.
fn provisioning() -> ClusterInfo {
    ClusterInfo {
        id: "a1b2c3d4".into(),
        name: "web".into(),
        account: "lab".into(),
        phase: Phase::Provisioning,
        reason: None,
        endpoint: Some("https://10.0.0.50:6443".into()),
        waiting: None,
        kubernetes: Some(KubeSummary {
            api_server_ready: false,
            nodes_ready: 0,
            nodes_expected: 4,
        }),
        pools: vec![
            pool("control-plane", 1, 1, 0, 1, 0),
            pool("workers", 3, 3, 2, 0, 0),
        ],
        machines: vec![
            machine(
                "node-a",
                "kx7p2q",
                "control-plane",
                "deployed",
                "Deployed",
                "Deployed",
            ),
            machine(
                "node-b",
                "m3n8vd",
                "workers",
                "deploying",
                "Deploying",
                "Installing OS",
            ),
            machine(
                "node-c",
                "q9w2er",
                "workers",
                "deploying",
                "Deploying",
                "Rebooting",
            ),
            machine(
                "node-d",
                "z5t6yu",
                "workers",
                "failed",
                "Failed deployment",
                "Failed deployment: curtin exited 3",
            ),
            machine("node-e", "p0o9iu", "workers", "allocated", "Allocated", ""),
        ],
        tasks: vec![task(
            "create",
            "running",
            "deploying 3 of 4 machines",
            0,
            None,
        )],
        created: at(0),
        spec_generation: 1,
        observed_generation: 0,
    }
}

fn running() -> ClusterInfo {
    ClusterInfo {
        id: "e5f6a7b8".into(),
        name: "prod-1".into(),
        account: "lab".into(),
        phase: Phase::Running,
        reason: None,
        endpoint: Some("https://10.0.0.60:6443".into()),
        waiting: None,
        kubernetes: Some(KubeSummary {
            api_server_ready: true,
            nodes_ready: 3,
            nodes_expected: 3,
        }),
        pools: vec![
            pool("control-plane", 1, 1, 0, 1, 1),
            pool("workers", 2, 2, 0, 2, 2),
        ],
        machines: vec![
            machine(
                "node-f",
                "aa11bb",
                "control-plane",
                "deployed",
                "Deployed",
                "Deployed",
            ),
            machine(
                "node-g", "cc22dd", "workers", "deployed", "Deployed", "Deployed",
            ),
            machine(
                "node-h", "ee33ff", "workers", "deployed", "Deployed", "Deployed",
            ),
        ],
        tasks: vec![
            task(
                "create",
                "succeeded",
                "running: 3 node(s) Ready",
                -3600,
                Some(-3000),
            ),
            task(
                "update",
                "succeeded",
                "running: 3 node(s) Ready",
                -600,
                Some(-480),
            ),
        ],
        created: at(-3600),
        spec_generation: 2,
        observed_generation: 2,
    }
}

fn deleting() -> ClusterInfo {
    ClusterInfo {
        id: "c9d0e1f2".into(),
        name: "old".into(),
        phase: Phase::Deleting,
        kubernetes: None,
        pools: vec![
            pool("control-plane", 1, 0, 0, 0, 0),
            pool("workers", 2, 0, 0, 0, 0),
        ],
        machines: vec![
            machine(
                "node-i",
                "gg44hh",
                "control-plane",
                "retiring",
                "Releasing",
                "Releasing",
            ),
            machine(
                "node-j", "ii55jj", "workers", "retiring", "Deployed", "Deployed",
            ),
        ],
        tasks: vec![
            task(
                "create",
                "succeeded",
                "running: 3 node(s) Ready",
                -86_400,
                Some(-86_000),
            ),
            task("delete", "running", "releasing 2 machine(s)", -20, None),
        ],
        created: at(-86_400),
        endpoint: None,
        ..running()
    }
}

fn failed() -> ClusterInfo {
    ClusterInfo {
        id: "f0f0f0f0".into(),
        name: "gpu".into(),
        phase: Phase::Failed,
        reason: Some("pool workers: 3 failed deployments used the replacement budget".into()),
        kubernetes: Some(KubeSummary {
            api_server_ready: true,
            nodes_ready: 1,
            nodes_expected: 3,
        }),
        created: at(-7200),
        ..running()
    }
}

fn event(
    id: i64,
    cluster: &str,
    secs: i64,
    level: Level,
    machine: Option<&str>,
    msg: &str,
) -> EventLine {
    EventLine {
        id,
        cluster: Some(cluster.into()),
        time: at(secs),
        level,
        source: "engine".into(),
        machine: machine.map(String::from),
        message: msg.into(),
    }
}

fn journal() -> Vec<EventLine> {
    vec![
        event(
            1,
            "e5f6a7b8",
            -600,
            Level::Info,
            None,
            "pool workers scaled from 1 to 2 (spec generation 2)",
        ),
        event(2, "a1b2c3d4", 0, Level::Info, None, "cluster web submitted"),
        event(
            3,
            "a1b2c3d4",
            5,
            Level::Info,
            Some("kx7p2q"),
            "allocated kx7p2q (node-a) in zone az-1 for pool control-plane",
        ),
        event(
            4,
            "a1b2c3d4",
            9,
            Level::Info,
            Some("z5t6yu"),
            "deploying z5t6yu (node-d) with jammy as worker",
        ),
        event(
            5,
            "a1b2c3d4",
            200,
            Level::Warn,
            Some("z5t6yu"),
            "deployment of z5t6yu failed (Failed deployment: curtin exited 3): replacing it",
        ),
        event(
            6,
            "a1b2c3d4",
            201,
            Level::Info,
            Some("p0o9iu"),
            "allocated p0o9iu (node-e) in zone az-2 for pool workers",
        ),
        event(
            7,
            "c9d0e1f2",
            430,
            Level::Info,
            None,
            "delete requested (command 7)",
        ),
        event(
            8,
            "f0f0f0f0",
            440,
            Level::Error,
            None,
            "cluster failed: pool workers: 3 failed deployments used the replacement budget",
        ),
    ]
}

/// A poll answer of this (reconciling) process at `secs`.
fn poll(events: Vec<EventLine>, secs: i64) -> Poll {
    Poll {
        events,
        now: at(secs),
        reconciling: true,
        streaming: false,
    }
}

/// A console attached to an engine (this process reconciling), the list and journal loaded.
fn console(size: (u16, u16)) -> State {
    let mut state = loaded(0, size);
    state.clusters.link = EngineLink::Reconciling;
    state.clusters.greeted = true;
    update(
        &mut state,
        Msg::ClustersLoaded(Ok(vec![running(), provisioning(), deleting(), failed()])),
    );
    update(&mut state, Msg::EventsPolled(Ok(poll(journal(), 450))));
    // The reload the journal asked for.
    update(
        &mut state,
        Msg::ClustersLoaded(Ok(vec![running(), provisioning(), deleting(), failed()])),
    );
    state
}

fn command(state: &mut State, text: &str) -> Vec<Cmd> {
    press(state, KeyCode::Char(':'));
    type_text(state, text);
    press(state, KeyCode::Enter)
}

fn open_detail(size: (u16, u16), info: ClusterInfo) -> State {
    let mut state = console(size);
    command(&mut state, "clusters");
    let i = state
        .clusters
        .shown()
        .iter()
        .position(|c| c.id == info.id)
        .expect("the cluster is listed");
    for _ in 0..i {
        press(&mut state, KeyCode::Down);
    }
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::LoadCluster(info.id.clone())]);
    assert_eq!(state.screen, ScreenId::ClusterDetail);
    let id = info.id.clone();
    update(&mut state, Msg::ClusterLoaded(id, Box::new(Ok(info))));
    state
}

fn snap(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

fn fg_at(buf: &Buffer, needle: &str) -> ratatui::style::Color {
    let (x, y) = find(buf, needle).unwrap_or_else(|| panic!("`{needle}` is not on screen"));
    buf[(x, y)].fg
}

#[test]
fn clusters_list() {
    for size in SIZES {
        let mut state = console(size);
        command(&mut state, "cl");
        assert_eq!(state.screen, ScreenId::Clusters);
        // Leave the selection off the rows whose colours are checked.
        press(&mut state, KeyCode::Char('G'));
        snap("clusters_list", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let t = &state.theme;
        assert_eq!(fg_at(buf, "Running"), t.status_deployed.fg.unwrap());
        assert_eq!(fg_at(buf, "Provisioning"), t.status_busy.fg.unwrap());
        assert_eq!(fg_at(buf, "Deleting"), t.status_busy.fg.unwrap());
        assert_eq!(fg_at(buf, "healthy"), t.ok.fg.unwrap());
        assert_eq!(fg_at(buf, "1/3 nodes"), t.warning.fg.unwrap());
    }
}

#[test]
fn clusters_list_filter() {
    let mut state = console((80, 24));
    command(&mut state, "clusters");
    press(&mut state, KeyCode::Char('/'));
    type_text(&mut state, "prov");
    assert_eq!(state.clusters.shown().len(), 1);
    press(&mut state, KeyCode::Enter);
    snap("clusters_filtered", &state);
    // Esc clears the filter first, then goes back.
    press(&mut state, KeyCode::Esc);
    assert_eq!(state.clusters.shown().len(), 4);
    assert_eq!(state.screen, ScreenId::Clusters);
}

#[test]
fn detail_mid_provisioning() {
    for size in SIZES {
        let state = open_detail(size, provisioning());
        snap("detail_provisioning", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let t = &state.theme;
        assert_eq!(fg_at(buf, "Provisioning"), t.status_busy.fg.unwrap());
        assert_eq!(fg_at(buf, "failed "), t.status_failed.fg.unwrap());
        assert_eq!(fg_at(buf, "deploying Deploying"), t.status_busy.fg.unwrap());
        // The journal's warning about the replaced machine is in the log, in warning colour.
        assert_eq!(fg_at(buf, "warn"), t.warning.fg.unwrap());
    }
}

#[test]
fn detail_running_and_deleting() {
    for size in SIZES {
        let state = open_detail(size, running());
        snap("detail_running", &state);
        let terminal = draw(&state);
        assert_eq!(
            fg_at(buffer(&terminal), "Running"),
            state.theme.status_deployed.fg.unwrap()
        );
        let state = open_detail(size, deleting());
        snap("detail_deleting", &state);
    }
}

#[test]
fn resize_prompt() {
    for size in SIZES {
        let mut state = open_detail(size, running());
        assert!(press(&mut state, KeyCode::Char('r')).is_empty());
        press(&mut state, KeyCode::Down);
        press(&mut state, KeyCode::Enter);
        press(&mut state, KeyCode::Backspace);
        type_text(&mut state, "x");
        assert!(press(&mut state, KeyCode::Enter).is_empty(), "not a number");
        snap("resize_prompt_error", &state);
        press(&mut state, KeyCode::Backspace);
        type_text(&mut state, "5");
        snap("resize_prompt", &state);
        let cmds = press(&mut state, KeyCode::Enter);
        assert_eq!(
            cmds,
            vec![Cmd::ScalePool {
                cluster: "prod-1".into(),
                pool: "workers".into(),
                size: 5
            }]
        );
        assert!(state.clusters.prompt.is_none());
    }
}

#[test]
fn events_screen() {
    for size in SIZES {
        let mut state = console(size);
        command(&mut state, "events");
        assert_eq!(state.screen, ScreenId::Events);
        snap("events", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        assert_eq!(fg_at(buf, "error"), state.theme.danger.fg.unwrap());
        press(&mut state, KeyCode::Char('/'));
        type_text(&mut state, "z5t6yu");
        press(&mut state, KeyCode::Enter);
        assert_eq!(state.clusters.shown_events().len(), 2);
        snap("events_filtered", &state);
    }
}

#[test]
fn the_journal_drives_reloads() {
    let mut state = loaded(0, (80, 24));
    state.clusters.link = EngineLink::Reconciling;
    let cmds = kubemaas_init(&mut state);
    assert!(cmds.contains(&Cmd::PollEvents(0)));
    assert!(cmds.contains(&Cmd::LoadClusters));
    // A tick while the poll is out asks for nothing more.
    assert!(!update(&mut state, Msg::Tick).contains(&Cmd::PollEvents(0)));
    // Nothing new: nothing reloaded, nothing drawn.
    state.dirty = false;
    assert!(update(&mut state, Msg::EventsPolled(Ok(poll(vec![], 1)))).is_empty());
    assert!(!state.dirty);
    // New entries while the list load is in flight: one reload once it answers.
    let cmds = update(&mut state, Msg::EventsPolled(Ok(poll(journal(), 2))));
    assert!(
        cmds.is_empty(),
        "the first list load is still out: {cmds:?}"
    );
    let cmds = update(&mut state, Msg::ClustersLoaded(Ok(vec![running()])));
    assert_eq!(cmds, vec![Cmd::LoadClusters]);
    update(
        &mut state,
        Msg::ClustersLoaded(Ok(vec![running(), provisioning()])),
    );
    // The next tick asks only for what follows the last entry seen.
    assert!(update(&mut state, Msg::Tick).contains(&Cmd::PollEvents(8)));
    // Entries of the open cluster reload it; others only the list.
    let mut state = open_detail((80, 24), provisioning());
    state.clusters.list_in_flight = false;
    state.clusters.poll_in_flight = true;
    let cmds = update(
        &mut state,
        Msg::EventsPolled(Ok(poll(
            vec![event(
                9,
                "a1b2c3d4",
                460,
                Level::Info,
                Some("m3n8vd"),
                "MAAS deployed m3n8vd",
            )],
            460,
        ))),
    );
    assert_eq!(
        cmds,
        vec![Cmd::LoadClusters, Cmd::LoadCluster("a1b2c3d4".into())]
    );
    update(
        &mut state,
        Msg::ClustersLoaded(Ok(vec![running(), provisioning()])),
    );
    let cmds = update(
        &mut state,
        Msg::EventsPolled(Ok(poll(
            vec![event(
                10,
                "e5f6a7b8",
                461,
                Level::Info,
                None,
                "something else",
            )],
            461,
        ))),
    );
    assert_eq!(cmds, vec![Cmd::LoadClusters]);
}

fn kubemaas_init(state: &mut State) -> Vec<Cmd> {
    kubemaas::tui::app::init(state)
}

#[test]
fn delete_asks_for_the_name_and_only_when_provisioned() {
    let mut state = open_detail((80, 24), provisioning());
    assert!(press(&mut state, KeyCode::Char('d')).is_empty());
    assert!(state.confirm.is_none());
    assert!(state.flash.as_ref().unwrap().text.contains("abort"));
    let mut state = open_detail((80, 24), running());
    press(&mut state, KeyCode::Char('d'));
    assert_eq!(
        state.confirm.as_ref().map(|d| d.action.clone()),
        Some(ConfirmAction::DeleteCluster {
            name: "prod-1".into()
        })
    );
    snap("delete_confirm", &state);
    // Focus starts on Cancel: a habitual Enter does nothing.
    assert!(press(&mut state, KeyCode::Enter).is_empty());
    assert!(state.confirm.is_none());
    press(&mut state, KeyCode::Char('d'));
    press(&mut state, KeyCode::Tab);
    type_text(&mut state, "prod-1");
    press(&mut state, KeyCode::Tab);
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::DeleteCluster("prod-1".into())]);
    // The engine's refusal shows in the flash line.
    update(
        &mut state,
        Msg::ClusterActionDone {
            done: "deletion of cluster prod-1 requested".into(),
            result: Err(SourceError::new(
                "cluster prod-1 is Deleting: nothing to do",
            )),
        },
    );
    assert!(state.flash.as_ref().unwrap().text.contains("nothing to do"));
}

#[test]
fn abort_only_while_provisioning() {
    let mut state = open_detail((80, 24), running());
    press(&mut state, KeyCode::Char('a'));
    assert!(state.confirm.is_none());
    let mut state = open_detail((80, 24), provisioning());
    press(&mut state, KeyCode::Char('a'));
    press(&mut state, KeyCode::Tab);
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(cmds, vec![Cmd::AbortCluster("web".into())]);
}

#[test]
fn kubeconfig_prompt() {
    let mut state = open_detail((80, 24), running());
    press(&mut state, KeyCode::Char('K'));
    assert!(matches!(
        state.clusters.prompt,
        Some(Prompt::Kubeconfig { .. })
    ));
    let cmds = press(&mut state, KeyCode::Enter);
    assert_eq!(
        cmds,
        vec![Cmd::WriteKubeconfig {
            cluster: "prod-1".into(),
            path: "./prod-1.kubeconfig".into()
        }]
    );
}

#[test]
fn readonly_hides_and_refuses_every_change() {
    for (key, info) in [
        ('d', running()),
        ('a', provisioning()),
        ('r', running()),
        ('K', running()),
    ] {
        let mut state = open_detail((120, 40), info);
        state.readonly = true;
        let terminal = draw(&state);
        let footer = tui_support::row_text(buffer(&terminal), 39);
        for word in ["delete", "abort", "resize", "kubeconfig"] {
            assert!(
                !footer.contains(word),
                "`{word}` in the read-only footer: {footer}"
            );
        }
        assert!(press(&mut state, KeyCode::Char(key)).is_empty());
        assert!(state.confirm.is_none() && state.clusters.prompt.is_none());
        assert!(state.flash.as_ref().unwrap().text.contains("--readonly"));
    }
    let state = open_detail((120, 40), running());
    let terminal = draw(&state);
    let footer = tui_support::row_text(buffer(&terminal), 39);
    assert!(
        footer.contains("delete") && footer.contains("resize"),
        "{footer}"
    );
}

#[test]
fn quitting_asks_while_this_console_runs_work() {
    let mut state = console((80, 24));
    press(&mut state, KeyCode::Char('q'));
    assert!(!state.quit);
    assert!(matches!(
        state.confirm.as_ref().map(|d| &d.action),
        Some(ConfirmAction::QuitWithWork { .. })
    ));
    snap("quit_confirm", &state);
    press(&mut state, KeyCode::Esc);
    assert!(!state.quit);
    press(&mut state, KeyCode::Char('q'));
    press(&mut state, KeyCode::Tab);
    press(&mut state, KeyCode::Enter);
    assert!(state.quit);
    // `:q!` leaves at once; a console that only watches leaves at once too.
    let mut state = console((80, 24));
    command(&mut state, "q!");
    assert!(state.quit);
    let mut state = console((80, 24));
    state.clusters.link = EngineLink::Watching;
    press(&mut state, KeyCode::Char('q'));
    assert!(state.quit);
}

#[test]
fn the_next_start_shows_where_things_are() {
    let mut state = loaded(0, (80, 24));
    state.clusters.link = EngineLink::Reconciling;
    update(
        &mut state,
        Msg::ClustersLoaded(Ok(vec![running(), provisioning()])),
    );
    assert_eq!(state.screen, ScreenId::Clusters);
    let flash = &state.flash.as_ref().unwrap().text;
    assert!(flash.contains("web (Provisioning)"), "{flash}");
    assert!(flash.contains("resumes"), "{flash}");
}

#[test]
fn a_watching_console_that_takes_the_engine_over_asks_before_quitting() {
    let mut state = console((80, 24));
    state.clusters.link = EngineLink::Watching;
    let mut answer = poll(vec![], 470);
    answer.reconciling = false;
    update(&mut state, Msg::EventsPolled(Ok(answer)));
    assert_eq!(state.clusters.link, EngineLink::Watching);
    update(&mut state, Msg::EventsPolled(Ok(poll(vec![], 471))));
    assert_eq!(state.clusters.link, EngineLink::Reconciling);
    assert!(state
        .flash
        .as_ref()
        .unwrap()
        .text
        .contains("runs the engine now"));
    press(&mut state, KeyCode::Char('q'));
    assert!(!state.quit, "web is still provisioning");
}

#[test]
fn idle_polls_draw_nothing_but_the_list_ages_each_minute() {
    let mut state = console((80, 24));
    command(&mut state, "clusters");
    state.dirty = false;
    // The console's clock is at 450 s (7m30s): the same minute draws nothing.
    update(&mut state, Msg::EventsPolled(Ok(poll(vec![], 455))));
    assert!(!state.dirty);
    update(&mut state, Msg::EventsPolled(Ok(poll(vec![], 480))));
    assert!(state.dirty, "the ages moved to the next minute");
    // On the Events screen nothing depends on the clock.
    command(&mut state, "events");
    state.dirty = false;
    update(&mut state, Msg::EventsPolled(Ok(poll(vec![], 600))));
    assert!(!state.dirty);
}

#[test]
fn deploying_machines_refresh_their_status_messages() {
    let mut state = open_detail((80, 24), provisioning());
    update(
        &mut state,
        Msg::ClusterLoaded("a1b2c3d4".into(), Box::new(Ok(provisioning()))),
    );
    state.clusters.poll_in_flight = true;
    let mut loads = 0;
    for _ in 0..10 {
        for cmd in update(&mut state, Msg::Tick) {
            if cmd == Cmd::LoadCluster("a1b2c3d4".into()) {
                loads += 1;
                update(
                    &mut state,
                    Msg::ClusterLoaded("a1b2c3d4".into(), Box::new(Ok(provisioning()))),
                );
            }
        }
    }
    assert_eq!(loads, 2, "every five seconds while machines deploy");
    // A settled cluster is re-read only when the journal says something changed.
    let mut state = open_detail((80, 24), running());
    state.clusters.poll_in_flight = true;
    for _ in 0..10 {
        let cmds = update(&mut state, Msg::Tick);
        assert!(
            !cmds.iter().any(|c| matches!(c, Cmd::LoadCluster(_))),
            "{cmds:?}"
        );
    }
}
