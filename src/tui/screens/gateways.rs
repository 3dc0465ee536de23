//! The Gateways screen: `local` (the embedded engine, the default) first, then every gateway
//! this console knows, with its address, the pinned CA's fingerprint (short), whether it
//! answered the last `info` call, and the kubemaas version it runs. Why one is unreachable
//! is shown under the table for the selected row (it does not fit a cell).
//!
//! A replicated gateway's nodes (as its last `info` answer listed them) are counted in the
//! NODES column, which narrow terminals drop first, and listed for the selected gateway under
//! the table: one line per node when there is room, else one wrapped line.

use crate::gateway::upgrade_version;
use crate::store::KnownNode;
use crate::tui::app::gateways::GatewaysView;
use crate::tui::app::gateways::UpgradePanel;
use crate::tui::app::lists::ListLoad;
use crate::tui::app::State;
use crate::tui::columns::{fit, ColumnSpec, COLUMN_SPACING};
use crate::tui::source::{GatewaySummary, Reachability};
use crate::tui::theme::Theme;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// NODES drops first: the selected gateway's nodes are listed under the table anyway.
const COLUMNS: [ColumnSpec; 6] = [
    col("NAME", 14, 0, false),
    col("ADDRESS", 22, 0, true),
    col("STATE", 12, 0, false),
    col("CA FINGERPRINT", 14, 1, false),
    col("VERSION", 10, 2, false),
    col("NODES", 5, 3, false),
];
const NODES_COLUMN: usize = 5;

const fn col(title: &'static str, width: u16, priority: u8, flexible: bool) -> ColumnSpec {
    ColumnSpec {
        title,
        width,
        priority,
        flexible,
        right_aligned: false,
    }
}

/// The state cell's words and style.
fn state_cell(t: &Theme, g: &GatewaySummary) -> (String, Style) {
    match &g.reachability {
        Reachability::Embedded => ("embedded".into(), t.ok),
        Reachability::NotPaired => ("not paired".into(), t.muted),
        Reachability::Reachable { .. } => ("reachable".into(), t.ok),
        Reachability::Unreachable(_) => ("unreachable".into(), t.danger),
        Reachability::Incompatible(_) => ("incompatible".into(), t.danger),
    }
}

/// The version cell's words and style: an older gateway than this console is marked.
fn version_cell(t: &Theme, g: &GatewaySummary) -> (String, Style) {
    match g.reachability.notice(&g.name) {
        Some(_) => (format!("{} ↑", version(g)), t.warning),
        None => (version(g), t.text),
    }
}

fn version(g: &GatewaySummary) -> String {
    match &g.reachability {
        Reachability::Embedded => upgrade_version::running_version(),
        Reachability::Reachable { version } => version.clone(),
        _ => "-".into(),
    }
}

/// How many nodes the gateway has: those it listed, 1 when it answered without a list (a
/// 1-node gateway), `-` when unknown (`local`, unpaired, or not answering and never listed).
fn node_count(g: &GatewaySummary, nodes: Option<&Vec<KnownNode>>) -> String {
    match (nodes.filter(|n| !n.is_empty()), &g.reachability) {
        (Some(n), _) => n.len().to_string(),
        (None, Reachability::Reachable { .. }) => "1".into(),
        (None, _) => "-".into(),
    }
}

fn cell_text(g: &GatewaySummary, column: usize, view: &GatewaysView) -> String {
    match column {
        0 if g.name == view.in_use => format!("{} *", g.name),
        0 => g.name.clone(),
        1 => g.address.clone(),
        3 => g.short_fingerprint(),
        NODES_COLUMN => node_count(g, view.nodes.get(&g.name)),
        _ => version(g),
    }
}

/// The leader mark beside a node.
const LEADER: &str = "leader";

/// The selected gateway's nodes in at most `room` lines: a title and one line per node when
/// they fit, else everything on one line that wraps (cut to `room`).
fn node_lines(t: &Theme, gateway: &str, nodes: &[KnownNode], room: u16) -> Vec<Line<'static>> {
    if room == 0 || nodes.is_empty() {
        return Vec::new();
    }
    if usize::from(room) > nodes.len() {
        let name_width = nodes
            .iter()
            .map(|n| n.node.chars().count())
            .max()
            .unwrap_or(0);
        let address_width = nodes
            .iter()
            .map(|n| n.address.chars().count())
            .max()
            .unwrap_or(0);
        let mut lines = vec![Line::styled(
            format!("{} of {gateway}:", count(nodes.len())),
            t.muted,
        )];
        lines.extend(nodes.iter().map(|n| {
            let mut spans = vec![Span::styled(
                format!("  {:<name_width$}  {:<address_width$}", n.node, n.address),
                t.text,
            )];
            if n.leader {
                spans.push(Span::styled(format!("  {LEADER}"), t.ok));
            }
            Line::from(spans)
        }));
        return lines;
    }
    let listed: Vec<String> = nodes
        .iter()
        .map(|n| {
            if n.leader {
                format!("{} {} ({LEADER})", n.node, n.address)
            } else {
                format!("{} {}", n.node, n.address)
            }
        })
        .collect();
    let text = format!("{}: {}", count(nodes.len()), listed.join(", "));
    vec![Line::styled(text, t.text)]
}

/// `3 nodes`, `1 node`.
fn count(n: usize) -> String {
    if n == 1 {
        "1 node".into()
    } else {
        format!("{n} nodes")
    }
}

/// The rows `lines` take when wrapped at `width` cells (a close upper bound: wrapping at word
/// boundaries may need one more line, which the area then cuts).
fn wrapped_height(lines: &[Line<'_>], width: u16) -> u16 {
    let width = usize::from(width.max(1));
    lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(width) as u16)
        .sum()
}

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let view = &state.gateways;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(vec![
            Span::styled(" Gateways ", t.title),
            Span::styled(format!("[{}] ", view.rows.len()), t.muted),
        ]));
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(panel) = &view.upgrade {
        // The upgrade's panel takes the bottom of the screen; the table stays usable above.
        // Each step may wrap; the borders and the status line take three rows.
        let width = usize::from(inner.width.saturating_sub(2).max(1));
        let rows: usize = panel
            .lines
            .iter()
            .map(|l| (l.chars().count() + 2).div_ceil(width))
            .sum();
        let height = (rows as u16 + 3).clamp(5, (inner.height / 2).max(5));
        let [rest, bottom] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(height)]).areas(inner);
        upgrade_panel(t, panel, frame, bottom);
        inner = rest;
    }
    if let Some(panel) = &view.resize {
        inner = super::gateway_resize::panel(t, panel, frame, inner);
    }
    if view.rows.is_empty() {
        let line = match &view.load {
            ListLoad::Failed(e) => Line::styled(format!("✗ {e}"), t.danger),
            _ => Line::styled("Asking the gateways how they are…", t.muted),
        };
        frame.render_widget(
            Paragraph::new(line)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    // The table, then a few lines for the selected gateway's problem, its version notice
    // (with what changes) and the load error.
    let notice = view
        .selected_row()
        .and_then(|g| g.reachability.notice(&g.name));
    let note_height = match &notice {
        // The notice's first line and one per change, within what the screen can spare.
        Some(n) => (n.changes.len() as u16 + 2).min(inner.height.saturating_sub(4).max(3)),
        None => 3,
    };
    // The selected gateway's nodes, between the table and the note, in what the table (its
    // header and rows) and the note leave.
    let selected_nodes = view
        .selected_row()
        .and_then(|g| view.nodes.get(&g.name).map(|n| (g.name.as_str(), n)));
    let room = inner
        .height
        .saturating_sub(note_height)
        .saturating_sub(u16::try_from(view.rows.len()).unwrap_or(u16::MAX))
        .saturating_sub(1);
    let nodes = selected_nodes
        .map(|(name, n)| node_lines(t, name, n, room))
        .unwrap_or_default();
    let nodes_height = wrapped_height(&nodes, inner.width).min(room);
    let [table_area, nodes_area, note_area] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(nodes_height),
        Constraint::Length(note_height),
    ])
    .areas(inner);
    if !nodes.is_empty() {
        frame.render_widget(Paragraph::new(nodes).wrap(Wrap { trim: false }), nodes_area);
    }
    let cols = fit(&COLUMNS, table_area.width);
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&i| {
            if COLUMNS[i].flexible {
                Constraint::Min(COLUMNS[i].width)
            } else {
                Constraint::Length(COLUMNS[i].width)
            }
        })
        .collect();
    let header = Row::new(cols.iter().map(|&i| COLUMNS[i].title)).style(t.header);
    let rows = view.rows.iter().enumerate().map(|(n, g)| {
        let selected = n == view.selected;
        let cells = cols.iter().map(|&i| {
            if i == 2 || i == 4 {
                let (text, style) = if i == 2 {
                    state_cell(t, g)
                } else {
                    version_cell(t, g)
                };
                Cell::from(text).style(if selected { t.selection } else { style })
            } else {
                Cell::from(cell_text(g, i, view))
            }
        });
        Row::new(cells).style(if selected { t.selection } else { t.text })
    });
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(COLUMN_SPACING),
        table_area,
    );
    let note = match (&view.load, view.selected_row().map(|g| &g.reachability)) {
        (ListLoad::Failed(e), _) => Line::styled(format!("✗ reload failed: {e}"), t.danger),
        (_, Some(Reachability::Unreachable(why) | Reachability::Incompatible(why))) => {
            Line::styled(format!("✗ {why}"), t.danger)
        }
        (_, Some(Reachability::NotPaired)) => Line::styled(
            "Not paired: pair it with `kubemaas gateway pair --address HOST:PORT --code CODE`.",
            t.muted,
        ),
        _ => Line::styled("* = the gateway this console works through", t.muted),
    };
    let mut lines = vec![note];
    if let Some(n) = notice
        .as_ref()
        .filter(|_| !matches!(view.load, ListLoad::Failed(_)))
    {
        lines = vec![Line::styled(
            format!(
                "↑ gateway {} runs {}, this console {}: press {} to upgrade it",
                n.gateway,
                n.gateway_version,
                n.console_version,
                state.keymap.label(crate::tui::keymap::Action::Upgrade)
            ),
            t.warning,
        )];
        lines.extend(
            n.changes
                .iter()
                .map(|c| Line::styled(format!("  · {c}"), t.text)),
        );
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), note_area);
}

/// The steps of the running (or last) upgrade, newest at the bottom, and how it ended.
fn upgrade_panel(t: &Theme, panel: &UpgradePanel, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.muted)
        .title(Span::styled(
            format!(" Upgrade of {} to kubemaas {} ", panel.gateway, panel.to),
            t.title,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let status = match &panel.outcome {
        None => Line::styled(
            "… in progress: new cluster requests are queued until it is back",
            t.muted,
        ),
        Some(Ok(version)) => Line::styled(
            format!("✓ gateway {} now runs kubemaas {version}", panel.gateway),
            t.ok,
        ),
        Some(Err(why)) => Line::styled(format!("✗ {why}"), t.danger),
    };
    // Only the newest steps when they do not all fit, then the status.
    let room = usize::from(inner.height.saturating_sub(1));
    let skip = panel.lines.len().saturating_sub(room);
    let mut lines: Vec<Line> = panel
        .lines
        .iter()
        .skip(skip)
        .map(|l| Line::styled(format!("· {l}"), t.text))
        .collect();
    lines.push(status);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}
