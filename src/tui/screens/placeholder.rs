//! Screens whose data the engine will provide: a titled box with one line saying so.

use crate::tui::app::{ScreenId, State};
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

pub fn render(state: &State, screen: ScreenId, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::styled(format!(" {} ", screen.title()), t.title));
    let text = format!("{}: coming with the engine", screen.title());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let line = Rect::new(
        inner.x,
        inner.y + inner.height / 2,
        inner.width,
        inner.height.min(1),
    );
    frame.render_widget(
        Paragraph::new(Line::styled(text, t.muted)).alignment(Alignment::Center),
        line,
    );
}
