//! The Events screen: the engine's journal across clusters, newest last, filterable with `/`.

use super::cluster_detail::level_style;
use crate::tui::app::State;
use crate::tui::clusters::EngineLink;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let m = &state.clusters;
    let shown = m.shown_events();
    let mut title = vec![
        Span::styled(" Events ", t.title),
        Span::styled(format!("[{}/{}] ", shown.len(), m.journal.len()), t.muted),
    ];
    if !m.events_filter.is_empty() {
        title.push(Span::styled(format!("/{} ", m.events_filter), t.prompt));
    }
    if m.events_back > 0 {
        title.push(Span::styled(
            format!("−{} (↓ to follow) ", m.events_back),
            t.muted,
        ));
    }
    title.extend(super::stale_mark(state));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if shown.is_empty() {
        let text = match m.link {
            EngineLink::Absent => "No engine: no journal to show.",
            _ if m.journal.is_empty() => "The journal is empty: nothing has happened yet.",
            _ => "No entry matches the filter (esc clears it).",
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, t.muted)).wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let rows = usize::from(inner.height);
    let end = shown.len().saturating_sub(m.events_back);
    let start = end.saturating_sub(rows);
    // Narrow terminals drop the source column, then the date.
    let wide = inner.width >= 100;
    let lines: Vec<Line> = shown[start..end]
        .iter()
        .map(|e| {
            let time = if wide {
                e.time.format("%m-%d %H:%M:%S").to_string()
            } else {
                e.time.format("%H:%M:%S").to_string()
            };
            let mut spans = vec![
                Span::styled(format!("{time} "), t.muted),
                Span::styled(format!("{:<5} ", e.level.label()), level_style(t, e.level)),
                Span::styled(format!("{:<12.12} ", m.cluster_name(e)), t.info),
            ];
            if wide {
                spans.push(Span::styled(format!("{:<10.10} ", e.source), t.muted));
            }
            if let Some(machine) = &e.machine {
                spans.push(Span::styled(format!("{machine} "), t.text));
            }
            spans.push(Span::styled(e.message.clone(), level_style(t, e.level)));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
