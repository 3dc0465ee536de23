//! The `?` overlay, generated from the live keymap and the command table.

use crate::tui::app::{ScreenId, State};
use crate::tui::keymap::Action;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let labels: Vec<(Action, String)> = state
        .keymap
        .entries()
        .map(|(action, _)| {
            let keys = state.keymap.label(action);
            (
                action,
                if keys.is_empty() {
                    "(unbound)".to_string()
                } else {
                    keys
                },
            )
        })
        .collect();
    let key_width = labels
        .iter()
        .map(|(_, k)| k.chars().count())
        .max()
        .unwrap_or(0);
    let key_lines: Vec<Line> = labels
        .into_iter()
        .map(|(action, keys)| {
            Line::from(vec![
                Span::styled(format!("{keys:>key_width$} "), t.hint_key),
                Span::styled(action.description(), t.hint_text),
            ])
        })
        .collect();
    let mut cmd_lines: Vec<Line> = vec![Line::styled("Commands (type : then Enter)", t.header)];
    for screen in ScreenId::ALL {
        let aliases = screen.aliases(); // [canonical, singular, short, letter]
        cmd_lines.push(Line::from(vec![
            Span::styled(format!(":{:<10}", aliases[0]), t.hint_key),
            Span::styled(format!(":{:<4}", aliases[2]), t.hint_key),
            Span::styled(screen.title(), t.hint_text),
        ]));
    }
    for (name, short, what) in [
        ("new-cluster", "nc", "Cluster wizard"),
        ("new-account", "na", "Account wizard"),
    ] {
        cmd_lines.push(Line::from(vec![
            Span::styled(format!(":{name:<10} "), t.hint_key),
            Span::styled(format!(":{short:<4}"), t.hint_key),
            Span::styled(what, t.hint_text),
        ]));
    }
    cmd_lines.push(Line::from(vec![
        Span::styled(format!(":{:<10}", "quit"), t.hint_key),
        Span::styled(format!(":{:<4}", "q"), t.hint_key),
        Span::styled("Quit", t.hint_text),
    ]));
    cmd_lines.push(Line::default());
    cmd_lines.push(Line::styled("In the : and / prompts", t.header));
    for (k, d) in [
        ("enter", "run / keep the filter"),
        ("esc", "cancel / clear the filter"),
        ("tab", "complete a command"),
        ("↑ ↓", "earlier commands"),
    ] {
        cmd_lines.push(Line::from(vec![
            Span::styled(format!("{k:>6} "), t.hint_key),
            Span::styled(d, t.hint_text),
        ]));
    }

    let wide = area.width >= 76;
    let inner_height = if wide {
        key_lines.len().max(cmd_lines.len())
    } else {
        key_lines.len() + 1 + cmd_lines.len()
    } as u16;
    let width = if wide {
        area.width.min(96)
    } else {
        area.width.min(60)
    };
    let height = (inner_height + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::styled(" Help — esc closes ", t.title));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    if wide {
        let [l, r] = Layout::horizontal([Constraint::Percentage(52), Constraint::Percentage(48)])
            .spacing(1)
            .areas(inner);
        frame.render_widget(Paragraph::new(key_lines), l);
        frame.render_widget(Paragraph::new(cmd_lines), r);
    } else {
        let mut all = key_lines;
        all.push(Line::default());
        all.extend(cmd_lines);
        frame.render_widget(Paragraph::new(all), inner);
    }
}
