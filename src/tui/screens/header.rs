//! The header line: which MAAS (endpoint, version, user) and which gateway the console is on.

use crate::tui::app::{Connection, State};
use crate::tui::source::Reachability;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
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
        Span::styled(state.gateways.in_use.clone(), t.text),
    ];
    // A paired gateway says whether it answers (asked on a timer, never here); the embedded
    // engine always does. Unreachable is loud: everything below is its last data.
    let loud = t.danger.add_modifier(Modifier::BOLD | Modifier::REVERSED);
    match state.gateways.in_use_reachability() {
        Some(r @ Reachability::Reachable { version }) => {
            spans.push(Span::styled(" ✓", t.ok));
            // Older than this console: a short mark; the Gateways screen says what changes.
            if r.notice(&state.gateways.in_use).is_some() {
                spans.push(Span::styled(format!(" ↑ runs {version}"), t.warning));
            }
        }
        Some(Reachability::Incompatible(_)) => {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(" ✗ INCOMPATIBLE · upgrade ", loud));
        }
        Some(Reachability::Unreachable(_)) => {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(" ✗ UNREACHABLE · stale ", loud));
        }
        Some(Reachability::NotPaired) => spans.push(Span::styled(" ✗ not paired", t.danger)),
        None => spans.push(Span::styled(" checking…", t.muted)),
        Some(Reachability::Embedded) => {}
    }
    if let Some(name) = state.gateways.upgrade_in_flight() {
        spans.push(Span::styled(format!(" ⟳ upgrading {name}"), t.warning));
    }
    if let Some(next) = &state.gateways.switching {
        spans.push(Span::styled(format!(" → {next}…"), t.muted));
    }
    spans.push(sep());
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
