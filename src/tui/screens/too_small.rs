//! A terminal smaller than the console can use: one centred line saying what is needed.
//! The console keeps running and draws normally again once the window grows.

use crate::tui::app::{State, MIN_HEIGHT, MIN_WIDTH};
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let text = format!(
        "Terminal {}x{}: kubemaas needs {MIN_WIDTH}x{MIN_HEIGHT}",
        area.width, area.height
    );
    let y = area.y + area.height / 2;
    let line = Rect::new(area.x, y, area.width, 1.min(area.height));
    frame.render_widget(
        Paragraph::new(Line::styled(text, state.theme.warning)).alignment(Alignment::Center),
        line,
    );
}
