//! `update` for the Clusters, cluster detail and Events screens: following the engine's
//! journal, the detail's actions (delete, abort, resize, kubeconfig) and their prompts, and
//! asking before leaving while this console runs clusters' work. Same rules as `update.rs`:
//! state changes only here, work goes out as [`Cmd`]s, `dirty` only when something visible
//! changed.

use super::msg::{Cmd, Msg};
use super::state::{FlashLevel, ScreenId, State};
use super::wizard_update::open_confirm;
use crate::tui::clusters::{Detail, EngineLink, Load, Poll, Prompt};
use crate::tui::keymap::Action;
use crate::tui::source::SourceError;
use crate::tui::widgets::confirm::ConfirmAction;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::Input;

/// The work to start with the console: the journal and the list, when an engine is attached.
pub fn init(state: &mut State) -> Vec<Cmd> {
    if state.clusters.link == EngineLink::Absent {
        return Vec::new();
    }
    state.clusters.poll_in_flight = true;
    state.clusters.list_in_flight = true;
    vec![
        Cmd::PollEvents(state.clusters.last_event),
        Cmd::LoadClusters,
    ]
}

/// Every tick: ask for the journal entries after the last one seen (one small query; nothing
/// else is re-read unless entries arrived).
pub fn on_tick(state: &mut State) -> Vec<Cmd> {
    let on_detail = state.screen == ScreenId::ClusterDetail;
    let ticks = state.ticks;
    let m = &mut state.clusters;
    if m.link == EngineLink::Absent {
        return Vec::new();
    }
    let mut cmds = Vec::new();
    if !m.poll_in_flight {
        m.poll_in_flight = true;
        cmds.push(Cmd::PollEvents(m.last_event));
    }
    // MAAS's status messages of deploying machines ("Installing OS", "Rebooting") change
    // without an engine event: the open detail re-reads them every few seconds meanwhile.
    if let Some(d) = m.detail.as_mut().filter(|_| on_detail) {
        let deploying = d
            .info
            .as_ref()
            .is_some_and(|i| i.machines.iter().any(|mc| mc.state == "deploying"));
        if deploying && ticks.is_multiple_of(STATUS_REFRESH_TICKS) && !d.load_in_flight {
            d.load_in_flight = true;
            cmds.push(Cmd::LoadCluster(d.key.clone()));
        }
    }
    cmds
}

/// Seconds between re-reads of the open cluster's machines while some are deploying.
const STATUS_REFRESH_TICKS: u64 = 5;

/// The answers to the cluster commands; `Err(msg)` for other messages.
pub fn on_msg(state: &mut State, msg: Msg) -> Result<Vec<Cmd>, Msg> {
    match msg {
        Msg::EventsPolled(result) => Ok(on_events(state, result)),
        Msg::ClustersLoaded(result) => {
            let m = &mut state.clusters;
            m.list_in_flight = false;
            match result {
                Ok(list) => {
                    state.dirty |= m.set_list(list);
                    greet(state);
                }
                Err(e) => {
                    let failed = Load::Failed(e.message);
                    state.dirty |= m.load != failed;
                    m.load = failed;
                }
            }
            Ok(reload_if_stale(state))
        }
        Msg::QueueLoaded(result) => {
            // A failed read is logged by the loop; the rows already shown stay.
            if let Ok(rows) = result {
                state.dirty |= state.clusters.set_queued(rows);
            }
            Ok(Vec::new())
        }
        Msg::ClusterLoaded(key, result) => {
            let Some(d) = state.clusters.detail.as_mut().filter(|d| d.key == key) else {
                // The operator left that cluster before the answer came.
                return Ok(Vec::new());
            };
            d.load_in_flight = false;
            match *result {
                Ok(info) => {
                    if d.info.as_ref() != Some(&info) || d.error.is_some() {
                        d.info = Some(info);
                        d.error = None;
                        state.dirty = true;
                    }
                }
                Err(e) => {
                    if d.error.as_deref() != Some(e.message.as_str()) {
                        d.error = Some(e.message);
                        state.dirty = true;
                    }
                }
            }
            Ok(reload_if_stale(state))
        }
        Msg::ClusterActionDone { done, result } => {
            match result {
                Ok(()) => state.flash(FlashLevel::Info, done),
                Err(e) => state.flash(FlashLevel::Error, e.message),
            }
            // The engine journals every accepted command: the next poll brings the change.
            Ok(Vec::new())
        }
        other => Err(other),
    }
}

fn on_events(state: &mut State, result: Result<Poll, SourceError>) -> Vec<Cmd> {
    let m = &mut state.clusters;
    m.poll_in_flight = false;
    let Poll {
        events,
        now,
        reconciling,
        streaming,
    } = match result {
        Ok(answer) => answer,
        // Logged by the loop; the next tick asks again. A flash every second would bury
        // everything else, so failures show only on the screens that depend on them.
        Err(e) => {
            if m.load != Load::Loaded {
                m.load = Load::Failed(e.message);
                state.dirty = true;
            }
            return Vec::new();
        }
    };
    // The process that ran the reconcilers exited and this console took them over: leaving
    // now stops the work, so `q` asks from here on.
    if reconciling && m.link == EngineLink::Watching {
        m.link = EngineLink::Reconciling;
        state.flash(
            FlashLevel::Info,
            "the other kubemaas process exited: this console runs the engine now",
        );
    }
    let m = &mut state.clusters;
    // Running steps show their elapsed time: redraw them as the engine's clock moves.
    let ticking = state.screen == ScreenId::ClusterDetail
        && m.detail
            .as_ref()
            .and_then(|d| d.info.as_ref())
            .is_some_and(|i| i.tasks.iter().any(|t| t.finished.is_none()));
    let second_changed = m.now.map(|t| t.timestamp()) != Some(now.timestamp());
    // Ages on the list are minutes at the finest once past the first hour; seconds before.
    let minute_changed = m.now.map(|t| t.timestamp() / 60) != Some(now.timestamp() / 60);
    m.now = Some(now);
    state.dirty |= ticking && second_changed;
    state.dirty |= state.screen == ScreenId::Clusters && !m.list.is_empty() && minute_changed;
    // A streaming source (a gateway) answers when events arrive: keep one read open so the
    // next ones show as they happen, not on the next tick.
    let mut cmds = Vec::new();
    if streaming {
        m.poll_in_flight = true;
        cmds.push(Cmd::PollEvents(m.last_event.max(last_of(&events))));
    }
    if events.is_empty() {
        return cmds;
    }
    let touched = m.append_events(events);
    if matches!(state.screen, ScreenId::Events | ScreenId::ClusterDetail) {
        state.dirty = true;
    }
    let m = &mut state.clusters;
    if touched.iter().any(Option::is_some) {
        if m.list_in_flight {
            m.list_stale = true;
        } else {
            m.list_in_flight = true;
            cmds.push(Cmd::LoadClusters);
        }
    }
    if let Some(d) = m.detail.as_mut() {
        let id = d.info.as_ref().map(|i| i.id.clone());
        if id.is_none() || touched.iter().any(|t| t.is_some() && *t == id) {
            if d.load_in_flight {
                d.stale = true;
            } else {
                d.load_in_flight = true;
                cmds.push(Cmd::LoadCluster(d.key.clone()));
            }
        }
    }
    cmds
}

/// The newest id among `events` (0 when none).
fn last_of(events: &[crate::tui::clusters::EventLine]) -> i64 {
    events.iter().map(|e| e.id).max().unwrap_or(0)
}

/// Reloads the list now (a cluster was just created), or once the load in flight answers.
pub fn reload_list(state: &mut State) -> Vec<Cmd> {
    let m = &mut state.clusters;
    if m.link == EngineLink::Absent {
        return Vec::new();
    }
    if m.list_in_flight {
        m.list_stale = true;
        return Vec::new();
    }
    m.list_in_flight = true;
    vec![Cmd::LoadClusters]
}

/// Loads again what changed while the previous load was in flight.
fn reload_if_stale(state: &mut State) -> Vec<Cmd> {
    let m = &mut state.clusters;
    let mut cmds = Vec::new();
    if m.list_stale && !m.list_in_flight {
        m.list_stale = false;
        m.list_in_flight = true;
        cmds.push(Cmd::LoadClusters);
    }
    if let Some(d) = m.detail.as_mut() {
        if d.stale && !d.load_in_flight {
            d.stale = false;
            d.load_in_flight = true;
            cmds.push(Cmd::LoadCluster(d.key.clone()));
        }
    }
    cmds
}

/// The first list after start: where things are (clusters mid-change open the Clusters screen).
fn greet(state: &mut State) {
    if state.clusters.greeted {
        return;
    }
    state.clusters.greeted = true;
    let busy: Vec<String> = state
        .clusters
        .list
        .iter()
        .filter(|c| c.phase.is_busy())
        .map(|c| format!("{} ({})", c.name, c.phase.label()))
        .collect();
    if busy.is_empty() {
        return;
    }
    let resumes = match state.clusters.link {
        EngineLink::Reconciling => "the engine resumes them",
        _ => "another kubemaas process runs them",
    };
    state.flash(
        FlashLevel::Info,
        format!("in progress: {} — {resumes}", busy.join(", ")),
    );
    if state.screen == ScreenId::Machines && state.wizard.is_none() {
        state.history.push(state.screen);
        state.screen = ScreenId::Clusters;
    }
    state.dirty = true;
}

/// The loads Clusters and Events need when opened.
pub fn on_screen_opened(state: &mut State) -> Vec<Cmd> {
    let m = &mut state.clusters;
    let wants = matches!(state.screen, ScreenId::Clusters | ScreenId::Events);
    if !wants || m.link == EngineLink::Absent || m.list_in_flight || m.load == Load::Loaded {
        return Vec::new();
    }
    m.list_in_flight = true;
    vec![Cmd::LoadClusters]
}

/// Whether `/` filters a table of these screens.
pub fn filter_screen(state: &State) -> bool {
    matches!(state.screen, ScreenId::Clusters | ScreenId::Events)
}

/// The current `/` text of these screens.
pub fn filter_text(state: &State) -> String {
    match state.screen {
        ScreenId::Events => state.clusters.events_filter.clone(),
        _ => state.clusters.filter.clone(),
    }
}

/// Applies a `/` text typed on these screens.
pub fn set_filter(state: &mut State, text: &str) {
    let m = &mut state.clusters;
    match state.screen {
        ScreenId::Events => {
            if m.events_filter != text {
                m.events_filter = text.to_string();
                m.events_back = 0;
                state.dirty = true;
            }
        }
        _ => {
            if m.filter != text {
                m.filter = text.to_string();
                m.selected = 0;
                state.dirty = true;
            }
        }
    }
}

/// A refusal under `--readonly` (the keys are also hidden there).
fn refuse(state: &mut State, what: &str) -> Vec<Cmd> {
    state.flash(
        FlashLevel::Error,
        format!("read-only: {what} is refused because kubemaas was started with --readonly; restart without it to change anything"),
    );
    Vec::new()
}

/// Quitting: asks first when this console runs the engine and clusters are mid-change.
pub fn on_quit(state: &mut State) -> Vec<Cmd> {
    let busy: Vec<String> = state
        .clusters
        .busy()
        .iter()
        .map(|c| format!("{} is {}", c.name, c.phase.label()))
        .collect();
    if busy.is_empty() {
        state.quit = true;
    } else {
        open_confirm(
            state,
            ConfirmAction::QuitWithWork {
                clusters: busy.join(", "),
            },
        );
    }
    Vec::new()
}

/// What a confirmed dialog of these screens does.
pub fn confirmed(state: &mut State, action: ConfirmAction) -> Vec<Cmd> {
    match action {
        ConfirmAction::DeleteCluster { name } => vec![Cmd::DeleteCluster(name)],
        ConfirmAction::AbortCluster { name } => vec![Cmd::AbortCluster(name)],
        ConfirmAction::QuitWithWork { .. } => {
            state.quit = true;
            Vec::new()
        }
        ConfirmAction::UnpairGateway { name } => vec![Cmd::UnpairGateway(name)],
        ConfirmAction::UpgradeGateway { name, to } => {
            super::gateways::upgrade_started(state, name, to)
        }
        ConfirmAction::DiscardWizard { .. } | ConfirmAction::DeleteAccount { .. } => Vec::new(),
    }
}

/// Keys of the Clusters, detail and Events screens; `None` when not theirs.
pub fn on_action(state: &mut State, action: Action) -> Option<Vec<Cmd>> {
    if action == Action::Quit {
        return Some(on_quit(state));
    }
    match state.screen {
        ScreenId::Clusters => on_list_action(state, action),
        ScreenId::ClusterDetail => on_detail_action(state, action),
        ScreenId::Events => on_events_action(state, action),
        _ => None,
    }
}

fn step_of(action: Action) -> isize {
    match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -10,
        Action::PageDown => 10,
        Action::Top => -isize::MAX,
        Action::Bottom => isize::MAX,
        _ => 0,
    }
}

fn on_list_action(state: &mut State, action: Action) -> Option<Vec<Cmd>> {
    let step = step_of(action);
    if step != 0 {
        state.dirty |= state.clusters.move_by(step);
        return Some(Vec::new());
    }
    match action {
        Action::Open => {
            let Some(c) = state.clusters.selected_cluster() else {
                return Some(Vec::new());
            };
            // A queued request is opened by its name: once the gateway takes it, the same key
            // finds the cluster it became.
            let key = if c.is_request() {
                c.name.clone()
            } else {
                c.id.clone()
            };
            let info = c.clone();
            state.clusters.detail = Some(Detail {
                key: key.clone(),
                info: Some(info),
                error: None,
                log_back: 0,
                load_in_flight: true,
                stale: false,
            });
            state.history.push(state.screen);
            state.screen = ScreenId::ClusterDetail;
            state.dirty = true;
            Some(vec![Cmd::LoadCluster(key)])
        }
        Action::Back if !state.clusters.filter.is_empty() => {
            set_filter(state, "");
            Some(Vec::new())
        }
        Action::Refresh if state.clusters.link != EngineLink::Absent => {
            state.clusters.list_in_flight = true;
            Some(vec![Cmd::LoadClusters])
        }
        _ => None,
    }
}

fn on_events_action(state: &mut State, action: Action) -> Option<Vec<Cmd>> {
    let step = step_of(action);
    if step != 0 {
        // Up goes back in time: the newest entry is at the bottom.
        let m = &mut state.clusters;
        let max = m.shown_events().len().saturating_sub(1) as isize;
        let next = (m.events_back as isize - step).clamp(0, max.max(0)) as usize;
        state.dirty |= next != m.events_back;
        m.events_back = next;
        return Some(Vec::new());
    }
    match action {
        Action::Back if !state.clusters.events_filter.is_empty() => {
            set_filter(state, "");
            Some(Vec::new())
        }
        _ => None,
    }
}

fn on_detail_action(state: &mut State, action: Action) -> Option<Vec<Cmd>> {
    let step = step_of(action);
    if step != 0 {
        let events = state.clusters.detail_events().len();
        let d = state.clusters.detail.as_mut()?;
        let max = events.saturating_sub(1) as isize;
        let next = (d.log_back as isize - step).clamp(0, max.max(0)) as usize;
        state.dirty |= next != d.log_back;
        d.log_back = next;
        return Some(Vec::new());
    }
    let info = state.clusters.detail.as_ref()?.info.clone();
    let name = info.as_ref().map(|i| i.name.clone());
    let phase = info.as_ref().map(|i| i.phase);
    match action {
        Action::Back => {
            state.clusters.detail = None;
            state.clusters.prompt = None;
            state.screen = state.history.pop().unwrap_or(ScreenId::Clusters);
            state.dirty = true;
            Some(Vec::new())
        }
        Action::DeleteCluster => Some(match (state.readonly, name, phase) {
            (true, ..) => refuse(state, "deleting a cluster"),
            (false, Some(name), Some(p)) if p.is_provisioned() => {
                open_confirm(state, ConfirmAction::DeleteCluster { name });
                Vec::new()
            }
            (false, Some(name), Some(p)) => {
                state.flash(
                    FlashLevel::Error,
                    format!("cluster {name} is {}: delete applies once it is provisioned (Running, Failed or Aborted); to stop a build use abort ({})", p.label(), state.keymap.label(Action::Abort)),
                );
                Vec::new()
            }
            _ => Vec::new(),
        }),
        Action::Abort => Some(match (state.readonly, name, phase) {
            (true, ..) => refuse(state, "aborting a cluster"),
            (false, Some(name), Some(p)) if p.is_provisioning() => {
                open_confirm(state, ConfirmAction::AbortCluster { name });
                Vec::new()
            }
            (false, Some(name), Some(p)) => {
                state.flash(
                    FlashLevel::Error,
                    format!("cluster {name} is {}: abort applies only while it is being built; delete it instead ({})", p.label(), state.keymap.label(Action::DeleteCluster)),
                );
                Vec::new()
            }
            _ => Vec::new(),
        }),
        Action::Resize => Some(match (state.readonly, info) {
            (true, _) => refuse(state, "resizing a pool"),
            (false, Some(i)) if i.phase.is_resizable() && !i.pools.is_empty() => {
                state.clusters.prompt = Some(Prompt::Resize {
                    cluster: i.name.clone(),
                    pools: i
                        .pools
                        .iter()
                        .map(|p| (p.pool.clone(), p.desired))
                        .collect(),
                    selected: 0,
                    size: Input::default(),
                    typing: false,
                    error: None,
                });
                state.dirty = true;
                Vec::new()
            }
            (false, Some(i)) => {
                state.flash(
                    FlashLevel::Error,
                    format!(
                        "cluster {} is {}: its pools cannot be resized now",
                        i.name,
                        i.phase.label()
                    ),
                );
                Vec::new()
            }
            _ => Vec::new(),
        }),
        Action::Kubeconfig => Some(match (state.readonly, name) {
            (true, _) => refuse(state, "writing a kubeconfig"),
            (false, Some(name)) => {
                state.clusters.prompt = Some(Prompt::Kubeconfig {
                    path: Input::new(format!("./{name}.kubeconfig")),
                    cluster: name,
                    error: None,
                });
                state.dirty = true;
                Vec::new()
            }
            _ => Vec::new(),
        }),
        _ => None,
    }
}

/// Feeds a key to a text input; whether it changed.
fn edit(input: &mut Input, key: KeyEvent) -> bool {
    let before = (input.value().to_string(), input.cursor());
    if let Some(req) = to_input_request(&Event::Key(key)) {
        input.handle(req);
    }
    before.0 != input.value() || before.1 != input.cursor()
}

/// Keys while a prompt is open (it takes them all); `None` when none is.
pub fn on_prompt_key(state: &mut State, key: KeyEvent) -> Option<Vec<Cmd>> {
    let prompt = state.clusters.prompt.take()?;
    let cancel = key.code == KeyCode::Esc
        || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL));
    if cancel {
        state.dirty = true;
        return Some(Vec::new());
    }
    let (next, cmds) = match prompt {
        Prompt::Resize {
            cluster,
            pools,
            mut selected,
            mut size,
            mut typing,
            mut error,
        } => {
            let mut cmds = Vec::new();
            let mut done = false;
            match (typing, key.code) {
                (false, KeyCode::Up | KeyCode::Char('k')) => selected = selected.saturating_sub(1),
                (false, KeyCode::Down | KeyCode::Char('j')) => {
                    selected = (selected + 1).min(pools.len().saturating_sub(1))
                }
                (false, KeyCode::Enter) => {
                    typing = true;
                    let current = pools.get(selected).map(|p| p.1).unwrap_or_default();
                    size = Input::new(current.to_string());
                }
                (true, KeyCode::Enter) => match parse_size(size.value()) {
                    Ok(n) => {
                        let pool = pools.get(selected).map(|p| p.0.clone()).unwrap_or_default();
                        cmds.push(Cmd::ScalePool {
                            cluster: cluster.clone(),
                            pool,
                            size: n,
                        });
                        done = true;
                    }
                    Err(e) => error = Some(e),
                },
                (true, _) => {
                    // A new size clears the complaint about the old one.
                    let changed = edit(&mut size, key);
                    error = error.filter(|_| !changed);
                }
                _ => {}
            }
            let next = (!done).then_some(Prompt::Resize {
                cluster,
                pools,
                selected,
                size,
                typing,
                error,
            });
            (next, cmds)
        }
        Prompt::Kubeconfig {
            cluster,
            mut path,
            mut error,
        } => {
            if key.code == KeyCode::Enter {
                let text = path.value().trim().to_string();
                if text.is_empty() {
                    error = Some("type a file path, e.g. ./cluster.kubeconfig".into());
                    (
                        Some(Prompt::Kubeconfig {
                            cluster,
                            path,
                            error,
                        }),
                        Vec::new(),
                    )
                } else {
                    let cmds = vec![Cmd::WriteKubeconfig {
                        cluster,
                        path: std::path::PathBuf::from(text),
                    }];
                    (None, cmds)
                }
            } else {
                if edit(&mut path, key) {
                    error = None;
                }
                (
                    Some(Prompt::Kubeconfig {
                        cluster,
                        path,
                        error,
                    }),
                    Vec::new(),
                )
            }
        }
    };
    state.clusters.prompt = next;
    state.dirty = true;
    Some(cmds)
}

/// A pool size as typed: a whole number of machines.
pub fn parse_size(text: &str) -> Result<u32, String> {
    let t = text.trim();
    match t.parse::<u32>() {
        Ok(n) if n <= 1000 => Ok(n),
        Ok(_) => Err(format!(
            "{t} machines is more than a pool can hold here (at most 1000)"
        )),
        Err(_) => Err(format!(
            "`{t}` is not a number of machines: type a whole number such as 3"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size(" 3 "), Ok(3));
        assert!(parse_size("three").unwrap_err().contains("whole number"));
        assert!(parse_size("-1").is_err());
        assert!(parse_size("5000").unwrap_err().contains("at most"));
    }
}
