//! The footer: the prompt while typing `:` or `/`, otherwise a flash message or the hint bar
//! generated from the keymap, with the READ-ONLY badge at the right.

use crate::tui::app::{Connection, FlashLevel, Mode, ScreenId, State};
use crate::tui::keymap::Action;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

const READONLY_BADGE: &str = " ! READ-ONLY ";

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let badge_width = if state.readonly {
        READONLY_BADGE.chars().count() as u16
    } else {
        0
    };
    let [left, right] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(badge_width)]).areas(area);
    if state.readonly {
        frame.render_widget(
            Paragraph::new(Span::styled(READONLY_BADGE, state.theme.readonly_badge)),
            right,
        );
    }
    match &state.mode {
        Mode::Command(input, _) => prompt(
            state,
            frame,
            left,
            ':',
            input,
            "enter run · tab complete · esc cancel",
        ),
        Mode::Filter(input) => prompt(
            state,
            frame,
            left,
            '/',
            input,
            "enter keep · esc clear · !text hides",
        ),
        Mode::Normal => match &state.flash {
            Some(flash) => {
                let style = match flash.level {
                    FlashLevel::Info => state.theme.info,
                    FlashLevel::Warning => state.theme.warning,
                    FlashLevel::Error => state.theme.danger,
                };
                frame.render_widget(
                    Paragraph::new(Line::styled(format!(" {}", flash.text), style)),
                    left,
                );
            }
            None if state.wizard.is_some() || state.confirm.is_some() => {
                frame.render_widget(Paragraph::new(super::wizard::hints(state)), left)
            }
            None => frame.render_widget(Paragraph::new(hints(state, left.width)), left),
        },
    }
}

/// The hint bar: the actions that have a footer label and a key, in keymap order, as many as
/// fit in `width` whole (a hint is never cut in half; `?` help lists the rest).
pub fn hints(state: &State, width: u16) -> Line<'static> {
    let t = &state.theme;
    let mut spans = Vec::new();
    let mut used = 0usize;
    for (action, keys) in state.keymap.entries() {
        let (Some(label), Some(key)) = (action.footer_label(), keys.first()) else {
            continue;
        };
        let applies = match action {
            Action::Filter => {
                state.table_active()
                    || matches!(state.screen, ScreenId::Clusters | ScreenId::Events)
            }
            Action::SortNext | Action::SortReverse => state.table_active(),
            Action::Refresh => state.connection != Connection::NotConfigured,
            Action::Back => !state.history.is_empty() || state.table_active(),
            // Changes are hidden in read-only mode, not merely refused.
            Action::New => {
                !state.readonly
                    && matches!(
                        state.screen,
                        ScreenId::Clusters | ScreenId::Accounts | ScreenId::Gateways
                    )
            }
            Action::Delete => !state.readonly && state.screen == ScreenId::Accounts,
            Action::Unpair => {
                !state.readonly
                    && state.screen == ScreenId::Gateways
                    && state
                        .gateways
                        .selected_row()
                        .is_some_and(|g| g.unpairable())
            }
            Action::Upgrade => {
                !state.readonly
                    && state.screen == ScreenId::Gateways
                    && state.gateways.upgrade_in_flight().is_none()
                    && state
                        .gateways
                        .selected_row()
                        .is_some_and(|g| g.unpairable())
            }
            Action::Open => {
                (state.screen == ScreenId::Profiles && !state.profiles.detail)
                    || (state.screen == ScreenId::Clusters && !state.clusters.list.is_empty())
                    || (state.screen == ScreenId::Gateways
                        && state
                            .gateways
                            .selected_row()
                            .is_some_and(|g| g.usable() && g.name != state.gateways.in_use))
            }
            Action::DeleteCluster | Action::Abort | Action::Resize | Action::Kubeconfig => {
                cluster_action_applies(state, action)
            }
            _ => true,
        };
        if !applies {
            continue;
        }
        let key = format!(" {key}");
        let label = format!(" {label} ");
        let w = key.chars().count() + label.chars().count();
        if used + w > usize::from(width) {
            break;
        }
        used += w;
        spans.push(Span::styled(key, t.hint_key));
        spans.push(Span::styled(label, t.hint_text));
    }
    Line::from(spans)
}

fn prompt(
    state: &State,
    frame: &mut Frame,
    area: Rect,
    sigil: char,
    input: &tui_input::Input,
    help: &'static str,
) {
    let t = &state.theme;
    // The key help shows only whole and only beside a field of 20+ cells; the text scrolls
    // when longer than the field.
    let wanted = help.chars().count() as u16 + 1;
    let help_width = if area.width >= wanted + 20 { wanted } else { 0 };
    let [field, hint] =
        Layout::horizontal([Constraint::Min(4), Constraint::Length(help_width)]).areas(area);
    let width = usize::from(field.width.saturating_sub(2));
    let scroll = input.visual_scroll(width);
    let shown: String = input.value().chars().skip(scroll).take(width).collect();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(sigil.to_string(), t.prompt),
            Span::styled(shown, t.text),
        ])),
        field,
    );
    frame.render_widget(Paragraph::new(Line::styled(help, t.muted)), hint);
    let x = field.x + 1 + (input.visual_cursor().saturating_sub(scroll)) as u16;
    frame.set_cursor_position(Position::new(
        x.min(field.right().saturating_sub(1)),
        field.y,
    ));
}

/// The detail's actions show only where they apply (and never under `--readonly`).
fn cluster_action_applies(state: &State, action: Action) -> bool {
    if state.readonly || state.screen != ScreenId::ClusterDetail {
        return false;
    }
    let Some(info) = state.clusters.detail.as_ref().and_then(|d| d.info.as_ref()) else {
        return false;
    };
    match action {
        Action::DeleteCluster => info.phase.is_provisioned(),
        Action::Abort => info.phase.is_provisioning(),
        Action::Resize => info.phase.is_resizable(),
        Action::Kubeconfig => info.endpoint.is_some(),
        _ => false,
    }
}
