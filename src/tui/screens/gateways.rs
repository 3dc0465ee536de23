//! The Gateways screen: `local` (the embedded engine, the default) first, then every gateway
//! this console knows, with its address, the pinned CA's fingerprint (short), whether it
//! answered the last `info` call, and the kubemaas version it runs. Why one is unreachable
//! is shown under the table for the selected row (it does not fit a cell).

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

const COLUMNS: [ColumnSpec; 5] = [
    col("NAME", 14, 0, false),
    col("ADDRESS", 22, 0, true),
    col("STATE", 12, 0, false),
    col("CA FINGERPRINT", 14, 1, false),
    col("VERSION", 10, 2, false),
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

/// The state cell's words and style.
fn state_cell(t: &Theme, g: &GatewaySummary) -> (String, Style) {
    match &g.reachability {
        Reachability::Embedded => ("embedded".into(), t.ok),
        Reachability::NotPaired => ("not paired".into(), t.muted),
        Reachability::Reachable { .. } => ("reachable".into(), t.ok),
        Reachability::Unreachable(_) => ("unreachable".into(), t.danger),
    }
}

fn version(g: &GatewaySummary) -> String {
    match &g.reachability {
        Reachability::Embedded => env!("CARGO_PKG_VERSION").to_string(),
        Reachability::Reachable { version } => version.clone(),
        _ => "-".into(),
    }
}

fn cell_text(g: &GatewaySummary, column: usize, in_use: &str) -> String {
    match column {
        0 if g.name == in_use => format!("{} *", g.name),
        0 => g.name.clone(),
        1 => g.address.clone(),
        3 => g.short_fingerprint(),
        _ => version(g),
    }
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
    let inner = block.inner(area);
    frame.render_widget(block, area);
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
    // The table, then a few lines for the selected gateway's problem and the load error.
    let [table_area, note_area] =
        Layout::vertical([Constraint::Min(2), Constraint::Length(3)]).areas(inner);
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
            if i == 2 {
                let (text, style) = state_cell(t, g);
                Cell::from(text).style(if selected { t.selection } else { style })
            } else {
                Cell::from(cell_text(g, i, &view.in_use))
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
        (_, Some(Reachability::Unreachable(why))) => Line::styled(format!("✗ {why}"), t.danger),
        (_, Some(Reachability::NotPaired)) => Line::styled(
            "Not paired: pair it with `kubemaas gateway pair --address HOST:PORT --code CODE`.",
            t.muted,
        ),
        _ => Line::styled("* = the gateway this console works through", t.muted),
    };
    frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), note_area);
}
