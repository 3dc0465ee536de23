//! The Cloud accounts screen: name, gateway, endpoint, MAAS version, last validated.

use crate::tui::app::lists::ListLoad;
use crate::tui::app::State;
use crate::tui::keymap::Action;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let view = &state.accounts;
    let mut title = vec![
        Span::styled(" Cloud accounts ", t.title),
        Span::styled(format!("[{}] ", view.rows.len()), t.muted),
    ];
    title.extend(super::stale_mark(state));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if view.rows.is_empty() {
        let line = match &view.load {
            ListLoad::Failed(e) => Line::styled(format!("✗ {e}"), t.danger),
            ListLoad::Loaded if state.readonly => Line::styled(
                "No cloud accounts yet (read-only: none can be added).",
                t.muted,
            ),
            ListLoad::Loaded => Line::styled(
                format!(
                    "No cloud accounts yet: press {} to add one.",
                    state.keymap.label(Action::New)
                ),
                t.muted,
            ),
            _ => Line::styled("Loading cloud accounts…", t.muted),
        };
        frame.render_widget(
            Paragraph::new(line)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let header =
        Row::new(["NAME", "GATEWAY", "ENDPOINT", "MAAS", "LAST VALIDATED"]).style(t.header);
    let rows = view.rows.iter().enumerate().map(|(i, a)| {
        let row = Row::new(vec![
            a.name.clone(),
            a.gateway.clone(),
            a.endpoint.clone(),
            a.maas_version.clone().unwrap_or_else(|| "-".into()),
            a.last_validated.clone().unwrap_or_else(|| "never".into()),
        ]);
        if i == view.selected {
            row.style(t.selection)
        } else {
            row.style(t.text)
        }
    });
    let widths = [
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Min(20),
        Constraint::Length(8),
        Constraint::Length(20),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}
