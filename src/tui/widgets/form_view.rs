//! Draws a [`Form`]: a label column, the value, and under a field with a problem the problem
//! itself (`✗ …`) so the operator never has to look elsewhere. The form scrolls to keep the
//! focused field on screen; a YAML field takes the height that is left.

use super::form::{ChoiceItem, Field, FieldKind, Form};
use crate::tui::theme::Theme;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// Lines a YAML field gets at least.
const MIN_AREA_LINES: u16 = 3;

/// Lines an error may take under its field: the focused field's error whole (up to a
/// screenful's share), the others cut so one long message cannot push the form away.
const MAX_ERROR_LINES: u16 = 2;
const MAX_FOCUSED_ERROR_LINES: u16 = 6;

/// Lines the error of a field takes when wrapped at `width` columns.
fn error_lines(field: &Field, width: u16, focused: bool) -> u16 {
    let max = if focused {
        MAX_FOCUSED_ERROR_LINES
    } else {
        MAX_ERROR_LINES
    };
    match field.visible_error() {
        None => 0,
        Some(e) => {
            // Word wrapping leaves ragged line ends: count a little slack per line.
            let chars = e.chars().count() as u16 + 2;
            chars.div_ceil(width.saturating_sub(6).max(1)).clamp(1, max)
        }
    }
}

/// Lines a field takes (its value line(s) plus its wrapped error), values `width` wide.
fn field_height(field: &Field, area_height: u16, width: u16, focused: bool) -> u16 {
    let value = match field.kind {
        FieldKind::Yaml(_) => area_height.max(MIN_AREA_LINES),
        _ => 1,
    };
    value + error_lines(field, width, focused)
}

pub fn render(form: &Form, theme: &Theme, frame: &mut Frame, area: Rect, active: bool) {
    if area.height == 0 || area.width < 10 {
        return;
    }
    let label_w = form
        .fields
        .iter()
        .map(|f| f.label.chars().count() as u16 + 3)
        .max()
        .unwrap_or(0)
        .min(area.width / 3);
    let value_w = area.width.saturating_sub(label_w);
    // A YAML field gets what the single-line fields leave.
    let focused = |i: usize| active && i == form.focus;
    let fixed: u16 = form
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| match f.kind {
            FieldKind::Yaml(_) => error_lines(f, value_w, focused(i)),
            _ => field_height(f, 0, value_w, focused(i)),
        })
        .sum();
    let area_lines = area.height.saturating_sub(fixed);
    let heights: Vec<u16> = form
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| field_height(f, area_lines, value_w, focused(i)))
        .collect();
    // Scroll: the first field drawn is the one that lets the focused field fit.
    let mut first = 0;
    while first < form.focus {
        let used: u16 = heights[first..=form.focus].iter().sum();
        if used <= area.height {
            break;
        }
        first += 1;
    }
    let mut y = area.y;
    for (i, field) in form.fields.iter().enumerate().skip(first) {
        if y >= area.bottom() {
            break;
        }
        let h = heights[i].min(area.bottom() - y);
        let rect = Rect::new(area.x, y, area.width, h);
        draw_field(
            field,
            theme,
            frame,
            rect,
            label_w,
            active && i == form.focus,
        );
        y += h;
    }
}

fn draw_field(
    field: &Field,
    t: &Theme,
    frame: &mut Frame,
    rect: Rect,
    label_w: u16,
    focused: bool,
) {
    let marker = if focused { "› " } else { "  " };
    let label_style = if focused { t.title } else { t.text };
    let label: String = format!("{marker}{}", field.label)
        .chars()
        .take(usize::from(label_w.saturating_sub(1)))
        .collect();
    frame.render_widget(
        Paragraph::new(Line::styled(label, label_style)),
        Rect::new(rect.x, rect.y, label_w, 1),
    );
    let vx = rect.x + label_w;
    let vw = rect.width.saturating_sub(label_w);
    let err_h = error_lines(field, vw, focused).min(rect.height.saturating_sub(1));
    let value_rect = Rect::new(vx, rect.y, vw, rect.height.saturating_sub(err_h).max(1));
    draw_value(field, t, frame, value_rect, focused);
    if let Some(err) = field.visible_error() {
        if err_h > 0 {
            frame.render_widget(
                Paragraph::new(Line::styled(format!("✗ {err}"), t.danger))
                    .wrap(Wrap { trim: true }),
                Rect::new(vx, rect.bottom() - err_h, vw, err_h),
            );
        }
    }
}

fn draw_value(field: &Field, t: &Theme, frame: &mut Frame, rect: Rect, focused: bool) {
    let width = usize::from(rect.width);
    match &field.kind {
        FieldKind::Text(input) | FieldKind::Pairs(input) => {
            draw_input(input, None, t, frame, rect, focused);
        }
        FieldKind::Number { input, unit } => {
            draw_input(input, Some(unit), t, frame, rect, focused);
        }
        FieldKind::Secret(secret) => {
            let mask: String = secret
                .mask()
                .chars()
                .take(width.saturating_sub(1))
                .collect();
            let n = mask.chars().count() as u16;
            let line = if secret.is_empty() && !focused {
                Line::styled("(not set)", t.muted)
            } else {
                Line::styled(mask, t.text)
            };
            frame.render_widget(Paragraph::new(line), rect);
            if focused {
                frame.set_cursor_position(Position::new(rect.x + n, rect.y));
            }
        }
        FieldKind::Toggle(on) => {
            let text = if *on { "[x] yes" } else { "[ ] no" };
            let style = if focused { t.selection } else { t.text };
            frame.render_widget(Paragraph::new(Span::styled(text, style)), rect);
        }
        FieldKind::Choice { items, selected } => {
            if items.is_empty() {
                frame.render_widget(
                    Paragraph::new(Line::styled("(nothing to choose from)", t.muted)),
                    rect,
                );
                return;
            }
            let spans = window(items, *selected, width, |i, item| {
                let style = if i == *selected {
                    if focused {
                        t.selection
                    } else {
                        t.text.add_modifier(Modifier::BOLD)
                    }
                } else {
                    t.muted
                };
                let text = if i == *selected {
                    format!("‹{}›", item.display())
                } else {
                    format!(" {} ", item.display())
                };
                (text, style)
            });
            frame.render_widget(Paragraph::new(Line::from(spans)), rect);
        }
        FieldKind::Multi {
            items,
            chosen,
            cursor,
        } => {
            if items.is_empty() {
                frame.render_widget(Paragraph::new(Line::styled("(none listed)", t.muted)), rect);
                return;
            }
            let spans = window(items, *cursor, width, |i, item| {
                let mark = if chosen[i] { "[x]" } else { "[ ]" };
                let style = if focused && i == *cursor {
                    t.selection
                } else if chosen[i] {
                    t.text
                } else {
                    t.muted
                };
                (format!("{mark} {} ", item.display()), style)
            });
            frame.render_widget(Paragraph::new(Line::from(spans)), rect);
        }
        FieldKind::Yaml(area) => {
            let height = usize::from(rect.height);
            let top = if focused { area.scroll_for(height) } else { 0 };
            let lines: Vec<Line> = area
                .lines()
                .iter()
                .skip(top)
                .take(height)
                .map(|l| Line::styled(l.clone(), t.text))
                .collect();
            frame.render_widget(Paragraph::new(lines), rect);
            if focused {
                let (row, col) = area.cursor();
                let x = rect.x + (col as u16).min(rect.width.saturating_sub(1));
                let y = rect.y + (row - top) as u16;
                frame.set_cursor_position(Position::new(x, y));
            }
        }
    }
}

fn draw_input(
    input: &tui_input::Input,
    unit: Option<&&'static str>,
    t: &Theme,
    frame: &mut Frame,
    rect: Rect,
    focused: bool,
) {
    let unit_w = unit.map_or(0, |u| u.chars().count() + 1);
    let width = usize::from(rect.width).saturating_sub(unit_w + 1).max(1);
    let scroll = input.visual_scroll(width);
    let shown: String = input.value().chars().skip(scroll).take(width).collect();
    let shown_w = shown.chars().count();
    let mut spans = vec![Span::styled(shown, t.text)];
    if let Some(u) = unit {
        spans.push(Span::styled(format!(" {u}"), t.muted));
    }
    let style = if focused {
        Style::default().add_modifier(Modifier::UNDERLINED)
    } else {
        Style::default()
    };
    frame.render_widget(Paragraph::new(Line::from(spans)).style(style), rect);
    if focused {
        let x =
            rect.x + (input.visual_cursor().saturating_sub(scroll)).min(shown_w.max(width)) as u16;
        frame.set_cursor_position(Position::new(x.min(rect.right().saturating_sub(1)), rect.y));
    }
}

/// The items around `current` that fit in `width` columns, `…` marking what is cut off.
fn window<'a>(
    items: &'a [ChoiceItem],
    current: usize,
    width: usize,
    mut draw: impl FnMut(usize, &'a ChoiceItem) -> (String, Style),
) -> Vec<Span<'static>> {
    let drawn: Vec<(String, Style)> = items
        .iter()
        .enumerate()
        .map(|(i, it)| draw(i, it))
        .collect();
    let w = |i: usize| drawn[i].0.chars().count();
    let (mut lo, mut hi) = (current, current + 1);
    let mut used = w(current);
    // Grow right first, then left, while there is room (1 column kept per side for `…`).
    loop {
        let mut grew = false;
        if hi < drawn.len() && used + w(hi) + 2 <= width {
            used += w(hi);
            hi += 1;
            grew = true;
        }
        if lo > 0 && used + w(lo - 1) + 2 <= width {
            lo -= 1;
            used += w(lo);
            grew = true;
        }
        if !grew {
            break;
        }
    }
    let mut spans = Vec::new();
    if lo > 0 {
        spans.push(Span::raw("…"));
    }
    for (text, style) in &drawn[lo..hi] {
        spans.push(Span::styled(text.clone(), *style));
    }
    if hi < drawn.len() {
        spans.push(Span::raw("…"));
    }
    spans
}

/// Wrapped help or status text, used under forms.
pub fn paragraph(lines: Vec<Line<'static>>) -> Paragraph<'static> {
    Paragraph::new(lines).wrap(Wrap { trim: false })
}
