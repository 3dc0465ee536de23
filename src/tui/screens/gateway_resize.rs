//! The gateway resize's panel on the Gateways screen (the steps so far, then the commands that
//! start the other nodes, or why it failed) and its dialog (the etcd settings form).

use crate::tui::app::gateway_resize::ResizePanel;
use crate::tui::app::State;
use crate::tui::theme::Theme;
use crate::tui::widgets::form_view;
use crate::tui::wizards::ResizeWizard;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

/// Draws `panel` at the bottom of `inner` (the table stays usable above); returns what is left.
pub fn panel(t: &Theme, panel: &ResizePanel, frame: &mut Frame, inner: Rect) -> Rect {
    let mut lines: Vec<Line> = panel
        .lines
        .iter()
        .map(|l| Line::styled(format!("· {l}"), t.text))
        .collect();
    match &panel.outcome {
        None => lines.push(Line::styled(
            "… in progress: new cluster requests are queued while the gateway restarts",
            t.muted,
        )),
        Some(Ok(next)) => {
            lines.push(Line::styled(
                format!("✓ gateway {} keeps its state in etcd", panel.gateway),
                t.ok,
            ));
            lines.extend(next.iter().map(|l| Line::styled(format!("  {l}"), t.text)));
        }
        Some(Err(why)) => lines.push(Line::styled(format!("✗ {why}"), t.danger)),
    }
    let width = usize::from(inner.width.saturating_sub(2).max(1));
    let rows_of = |l: &Line| l.width().max(1).div_ceil(width);
    let rows: usize = lines.iter().map(rows_of).sum();
    // Up to two thirds of the screen: the commands at the end matter more than the table.
    let most = (inner.height * 2 / 3).max(4);
    let height = (rows as u16 + 2).clamp(4, most);
    let [rest, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(height)]).areas(inner);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.muted)
        .title(Span::styled(
            format!(" Resize of {} to 3 nodes ", panel.gateway),
            t.title,
        ));
    let body = block.inner(bottom);
    frame.render_widget(block, bottom);
    // The newest lines when they do not all fit (counting the rows each wraps onto).
    let room = usize::from(body.height);
    let mut total = rows;
    let mut skip = 0;
    while total > room && skip < lines.len() {
        total -= rows_of(&lines[skip]);
        skip += 1;
    }
    let shown: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(shown).wrap(Wrap { trim: true }), body);
    rest
}

/// The dialog: a box with the form, the focused field's help and a problem line.
pub fn dialog(state: &State, w: &ResizeWizard, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::styled(
            format!(" Resize gateway {} to 3 nodes ", w.gateway),
            t.title,
        ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [intro, form, help, message] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(2),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(Line::styled(
            "The gateway moves its state onto etcd and restarts as the first of 3 nodes; clusters being provisioned carry on. Paths are on the gateway host.",
            t.muted,
        ))
        .wrap(Wrap { trim: true }),
        intro,
    );
    form_view::render(&w.form, t, frame, form, true);
    let hint = w.form.focused().map_or("", |f| f.hint);
    frame.render_widget(
        Paragraph::new(Line::styled(hint.to_string(), t.muted)).wrap(Wrap { trim: true }),
        help,
    );
    if let Some(m) = &w.message {
        frame.render_widget(
            Paragraph::new(Line::styled(format!("✗ {m}"), t.danger)),
            message,
        );
    }
}
