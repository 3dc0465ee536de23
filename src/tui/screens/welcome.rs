//! No MAAS configured yet: how to start, instead of an error.

use crate::tui::app::State;
use crate::tui::keymap::Action;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let cmd = |s: &'static str| Span::styled(s, t.hint_key);
    let lines = vec![
        Line::styled("No MAAS is configured yet.", t.title),
        Line::default(),
        Line::from(vec![
            Span::styled("Try the console on a simulated MAAS:  ", t.text),
            cmd("kubemaas --demo"),
        ]),
        Line::default(),
        Line::styled("Or point it at your MAAS region:", t.text),
        Line::from(vec![
            Span::raw("  "),
            cmd("export MAAS_URL=http://maas.example:5240/MAAS"),
        ]),
        Line::from(vec![
            Span::raw("  "),
            cmd("export MAAS_API_KEY=<consumer:token:secret>"),
        ]),
        Line::from(vec![Span::raw("  "), cmd("kubemaas")]),
        Line::styled(
            "The API key is in the MAAS UI under your user > API keys.",
            t.muted,
        ),
        Line::default(),
        Line::styled(
            "Or save it once as a cloud account; the console then opens on it:",
            t.text,
        ),
        Line::from(vec![
            Span::raw("  "),
            cmd("kubemaas account add NAME --endpoint URL"),
        ]),
        Line::from(vec![
            Span::styled("Or work through a gateway: ", t.text),
            cmd(":gw"),
            Span::styled(", n pairs one, enter uses it", t.text),
        ]),
        Line::default(),
        Line::styled(
            format!(
                "Press {} to quit, {} for help.",
                state.keymap.label(Action::Quit),
                state.keymap.label(Action::Help)
            ),
            t.muted,
        ),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::styled(" Welcome ", t.title));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}
