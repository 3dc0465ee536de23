//! The header line: which MAAS (endpoint, version, user) and which gateway the console is on.

use crate::tui::app::{Connection, State};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let sep = || Span::styled(" │ ", t.muted);
    // Most useful first: on a narrow terminal the long endpoint URL is what gets cut.
    let mut spans = vec![
        Span::styled(" kubemaas", t.title),
        sep(),
        Span::styled("gateway ", t.muted),
        Span::styled("local", t.text),
        sep(),
    ];
    match &state.connection {
        Connection::NotConfigured => spans.push(Span::styled("no MAAS configured", t.warning)),
        Connection::Connecting => spans.push(Span::styled("connecting to MAAS…", t.muted)),
        Connection::Connected(id) => {
            spans.push(Span::styled("user ", t.muted));
            spans.push(Span::styled(id.user.clone(), t.text));
            spans.push(sep());
            spans.push(Span::styled(format!("MAAS {} ", id.version), t.muted));
            spans.push(Span::styled(id.endpoint.clone(), t.text));
        }
        Connection::Failed(_) => spans.push(Span::styled("✗ MAAS unreachable", t.danger)),
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
