//! The Clusters screen until the engine lists clusters: how to create one.

use crate::tui::app::State;
use crate::tui::keymap::Action;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::styled(" Clusters ", t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let text = if state.readonly {
        "The cluster list comes with the engine (read-only: no cluster can be created).".to_string()
    } else {
        format!(
            "The cluster list comes with the engine. Press {} (or :new-cluster) to create a cluster.",
            state.keymap.label(Action::New)
        )
    };
    let y = inner.y + inner.height / 2;
    frame.render_widget(
        Paragraph::new(Line::styled(text, t.muted))
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        Rect::new(
            inner.x,
            y,
            inner.width,
            inner.height.saturating_sub(inner.height / 2),
        ),
    );
}
