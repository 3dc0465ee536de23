//! Shared helpers of the console tests: a deterministic fleet, states, key presses, drawing.
#![allow(dead_code)] // each test crate uses a different part

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use kubemaas::maas::NodeStatus;
use kubemaas::tui::app::{update, view, Cmd, Connection, Msg, State, StateOptions};
use kubemaas::tui::keymap::Keymap;
use kubemaas::tui::source::{MaasIdentity, MachineRow};
use kubemaas::tui::theme::Theme;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

const STATUSES: [NodeStatus; 9] = [
    NodeStatus::Ready,
    NodeStatus::Deployed,
    NodeStatus::Deploying,
    NodeStatus::FailedDeployment,
    NodeStatus::Allocated,
    NodeStatus::New,
    NodeStatus::Commissioning,
    NodeStatus::Broken,
    NodeStatus::Missing,
];

/// `n` machines, the same every time: statuses, zones, pools and sizes cycle.
pub fn fleet(n: usize) -> Vec<MachineRow> {
    (0..n)
        .map(|i| {
            let status = STATUSES[i % STATUSES.len()];
            MachineRow {
                system_id: format!("sys{i:05}"),
                hostname: format!("node-{i:04}"),
                status,
                zone: ["az-1", "az-2", "az-3"][i % 3].to_string(),
                pool: ["default", "compute", "gpu", "storage"][i % 4].to_string(),
                cores: 4 << (i % 4),
                memory_mib: 8192 * (1 + (i % 8) as u64),
                disks_gb: if i % 2 == 0 {
                    vec![960, 960]
                } else {
                    vec![1920, 480]
                },
                tags: match i % 3 {
                    0 => vec!["physical".into(), "nvme".into()],
                    1 => vec!["gpu".into()],
                    _ => vec![],
                },
                owner: status.is_owned().then(|| "ml-team".to_string()),
                cluster: None,
            }
        })
        .collect()
}

pub fn identity() -> MaasIdentity {
    MaasIdentity {
        endpoint: "http://10.0.0.2:5240/MAAS/".into(),
        version: "3.5.4".into(),
        user: "admin".into(),
    }
}

pub fn options(size: (u16, u16)) -> StateOptions {
    StateOptions {
        theme: Theme::builtin("dark").expect("the dark theme is built in"),
        keymap: Keymap::default(),
        readonly: false,
        connection: Connection::Connecting,
        refresh_secs: 5,
        size,
    }
}

/// A connected console with `n` machines loaded, driven through `update` like the real loop.
pub fn loaded(n: usize, size: (u16, u16)) -> State {
    let mut state = State::new(options(size));
    update(&mut state, Msg::Identified(Ok(identity())));
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(n))));
    state
}

pub fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Presses each character of `text` (shifted letters as the terminal sends them).
pub fn type_text(state: &mut State, text: &str) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    for c in text.chars() {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        cmds.extend(update(
            state,
            Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)),
        ));
    }
    cmds
}

pub fn press(state: &mut State, code: KeyCode) -> Vec<Cmd> {
    update(state, key(code))
}

pub fn release(code: KeyCode) -> Msg {
    let mut k = KeyEvent::new(code, KeyModifiers::NONE);
    k.kind = KeyEventKind::Release;
    Msg::Key(k)
}

/// Draws the state on a test terminal of the state's size.
pub fn draw(state: &State) -> Terminal<TestBackend> {
    let (w, h) = state.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal.draw(|f| view(state, f)).expect("draw");
    terminal
}

pub fn buffer(terminal: &Terminal<TestBackend>) -> &Buffer {
    terminal.backend().buffer()
}

/// The text of row `y`.
pub fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

/// The position of the first cell of `needle` on screen.
pub fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    (0..buf.area.height).find_map(|y| {
        let line = row_text(buf, y);
        line.find(needle).map(|byte| {
            // Columns are characters, not bytes (borders are multi-byte).
            let x = line[..byte].chars().count() as u16;
            (x, y)
        })
    })
}

/// The whole screen as text, a line per row.
pub fn screen_text(state: &State) -> String {
    let terminal = draw(state);
    let buf = buffer(&terminal);
    (0..buf.area.height)
        .map(|y| row_text(buf, y))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The embedded engine's row of the Gateways screen.
pub fn local_gateway() -> kubemaas::tui::source::GatewaySummary {
    kubemaas::tui::source::GatewaySummary {
        name: "local".into(),
        address: "embedded".into(),
        ca_fingerprint: None,
        reachability: kubemaas::tui::source::Reachability::Embedded,
    }
}

/// A paired gateway `name` at `name.example:8443` whose CA has fingerprint `fp`.
pub fn remote_gateway(
    name: &str,
    reachability: kubemaas::tui::source::Reachability,
    fp: &str,
) -> kubemaas::tui::source::GatewaySummary {
    kubemaas::tui::source::GatewaySummary {
        name: name.into(),
        address: format!("{name}.example:8443"),
        ca_fingerprint: Some(fp.into()),
        reachability,
    }
}
