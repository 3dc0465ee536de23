//! The Clusters screen: every live cluster with its phase (coloured), Kubernetes health, ready
//! over desired nodes per pool, account, endpoint and age. Narrow terminals drop columns by
//! priority.

use crate::tui::app::State;
use crate::tui::clusters::{age_label, ClusterInfo, EngineLink, Health, Load, Phase};
use crate::tui::columns::{fit, ColumnSpec, COLUMN_SPACING};
use crate::tui::keymap::Action;
use crate::tui::theme::Theme;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

const COLUMNS: [ColumnSpec; 7] = [
    col("NAME", 16, 0, false),
    col("STATUS", 12, 0, false),
    col("HEALTH", 10, 2, false),
    col("NODES", 16, 1, true),
    col("ACCOUNT", 10, 3, false),
    col("ENDPOINT", 26, 4, false),
    col("AGE", 6, 2, false),
];

const fn col(title: &'static str, width: u16, priority: u8, flexible: bool) -> ColumnSpec {
    ColumnSpec {
        title,
        width,
        priority,
        flexible,
        right_aligned: false,
    }
}

/// The style of a cluster phase: green when it runs, red when failed, amber while changing.
pub fn phase_style(t: &Theme, phase: Phase) -> Style {
    match phase {
        Phase::Running => t.status_deployed,
        Phase::Failed => t.status_failed,
        Phase::Aborted | Phase::Deleted => t.status_offline,
        Phase::Pending => t.status_new,
        Phase::Provisioning | Phase::Updating | Phase::Deleting | Phase::Aborting => t.status_busy,
        // Not the engine's: a request waiting on this console, dimmed and in italics.
        Phase::Queued => t.muted.add_modifier(ratatui::style::Modifier::ITALIC),
        Phase::Refused => t.danger,
    }
}

pub fn health_style(t: &Theme, h: Health) -> Style {
    match h {
        Health::Healthy => t.ok,
        Health::Degraded { .. } => t.warning,
        Health::Down => t.danger,
        Health::Unknown => t.muted,
    }
}

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let m = &state.clusters;
    let shown = m.shown();
    let mut title = vec![
        Span::styled(" Clusters ", t.title),
        Span::styled(
            format!("[{}/{}] ", shown.len(), m.list.len() + m.queued.len()),
            t.muted,
        ),
    ];
    let waiting = m.queued.iter().filter(|q| q.phase == Phase::Queued).count();
    if waiting > 0 {
        title.push(Span::styled(format!("{waiting} queued "), t.warning));
    }
    if !m.filter.is_empty() {
        title.push(Span::styled(format!("/{} ", m.filter), t.prompt));
    }
    title.extend(super::stale_mark(state));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if shown.is_empty() {
        empty(state, frame, inner);
        return;
    }
    let cols = fit(&COLUMNS, inner.width);
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
    let header = Row::new(cols.iter().map(|&i| Cell::from(COLUMNS[i].title))).style(t.header);
    let rows_fit = usize::from(inner.height.saturating_sub(1)).max(1);
    let offset = m.selected.saturating_sub(rows_fit - 1);
    let rows = shown
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_fit)
        .map(|(i, c)| {
            let row = Row::new(cols.iter().map(|&col| cell(state, c, col)));
            if i == m.selected {
                row.style(t.selection)
            } else {
                row
            }
        });
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(COLUMN_SPACING),
        inner,
    );
}

fn cell<'a>(state: &State, c: &'a ClusterInfo, col: usize) -> Cell<'a> {
    let t = &state.theme;
    match col {
        0 if c.is_request() => Cell::from(Span::styled(
            c.name.as_str(),
            t.muted.add_modifier(ratatui::style::Modifier::ITALIC),
        )),
        0 => Cell::from(c.name.as_str()),
        1 => Cell::from(Span::styled(c.phase.label(), phase_style(t, c.phase))),
        2 => {
            let h = c.health();
            Cell::from(Span::styled(h.label(), health_style(t, h)))
        }
        3 => Cell::from(c.nodes_label()),
        4 => Cell::from(c.account.as_str()),
        // A request has no endpoint yet: the column says what it waits for instead.
        5 if c.is_request() => Cell::from(Span::styled(
            if c.phase == Phase::Queued {
                "sent once gateway answers"
            } else {
                "refused: see detail"
            },
            phase_style(t, c.phase),
        )),
        5 => Cell::from(c.endpoint.as_deref().unwrap_or("-")),
        _ => Cell::from(match state.clusters.now {
            Some(now) => age_label((now - c.created).num_seconds()),
            None => "-".into(),
        }),
    }
}

fn empty(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let m = &state.clusters;
    let (text, style) = match (&m.link, &m.load) {
        (EngineLink::Absent, _) => (
            "No engine: this console was started on MAAS_URL / MAAS_API_KEY only. Start it without them to manage clusters from the state dir.".to_string(),
            t.muted,
        ),
        (_, Load::Failed(e)) => (format!("✗ cannot list clusters: {e}"), t.danger),
        (_, Load::NotLoaded) => ("Loading clusters…".to_string(), t.muted),
        (_, Load::Loaded) if !m.list.is_empty() => (
            format!("No cluster matches /{} (esc clears the filter)", m.filter),
            t.muted,
        ),
        (_, Load::Loaded) if state.readonly => ("No clusters yet.".to_string(), t.muted),
        (_, Load::Loaded) => (
            format!(
                "No clusters yet. Press {} (or :new-cluster) to create one.",
                state.keymap.label(Action::New)
            ),
            t.muted,
        ),
    };
    let y = area.y + area.height / 2;
    frame.render_widget(
        Paragraph::new(Line::styled(text, style))
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        Rect::new(
            area.x,
            y,
            area.width,
            area.height.saturating_sub(area.height / 2),
        ),
    );
}
