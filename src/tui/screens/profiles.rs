//! The Profiles screen: the cluster profiles (name, version, OS, Kubernetes, CNI) and, with
//! enter, a read-only view of the selected one's layers and pack values, scrolled with ↑ / ↓.

use super::wizard::defaults_lines;
use crate::model::{ClusterProfile, LayerKind};
use crate::tui::app::lists::ListLoad;
use crate::tui::app::State;
use crate::tui::keymap::Action;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

fn layer(p: &ClusterProfile, kind: LayerKind) -> String {
    p.layer_of(kind)
        .map_or("-".to_string(), |l| format!("{} {}", l.name, l.version))
}

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let view = &state.profiles;
    if view.detail {
        if let Some(p) = view.selected_profile() {
            return detail(state, p, frame, area);
        }
    }
    let t = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(vec![
            Span::styled(" Cluster profiles ", t.title),
            Span::styled(format!("[{}] ", view.list.len()), t.muted),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if view.list.is_empty() {
        let line = match &view.load {
            ListLoad::Failed(e) => Line::styled(format!("✗ {e}"), t.danger),
            ListLoad::Loaded => Line::styled("No cluster profiles.", t.muted),
            _ => Line::styled("Loading profiles…", t.muted),
        };
        frame.render_widget(
            Paragraph::new(line)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let wide = inner.width >= 100;
    let header = Row::new(["NAME", "VERSION", "OS", "KUBERNETES", "CNI"]).style(t.header);
    let rows = view.list.iter().enumerate().map(|(i, p)| {
        let mut cells = vec![p.metadata.name.clone(), p.metadata.version.clone()];
        cells.push(layer(p, LayerKind::Os));
        cells.push(
            p.layer_of(LayerKind::Kubernetes)
                .map_or("-".into(), |l| l.version.clone()),
        );
        cells.push(layer(p, LayerKind::Network));
        let row = Row::new(cells);
        if i == view.selected {
            row.style(t.selection)
        } else {
            row.style(t.text)
        }
    });
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Min(30),
            Constraint::Length(8),
            Constraint::Length(16),
            Constraint::Length(11),
            Constraint::Length(16),
        ]
    } else {
        vec![
            Constraint::Min(28),
            Constraint::Length(7),
            Constraint::Length(13),
            Constraint::Length(10),
            Constraint::Length(14),
        ]
    };
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
    let _ = Action::Open;
}

fn detail(state: &State, p: &ClusterProfile, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(vec![
            Span::styled(format!(" {} ", p.metadata.name), t.title),
            Span::styled(
                format!(
                    "version {} · {} back · ↑↓ scroll ",
                    p.metadata.version,
                    state.keymap.label(Action::Back)
                ),
                t.muted,
            ),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    if !p.metadata.description.is_empty() {
        lines.push(Line::styled(p.metadata.description.clone(), t.text));
        lines.push(Line::default());
    }
    lines.push(Line::styled("Layers", t.header));
    for l in &p.spec.layers {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<11}", l.kind.as_str()), t.muted),
            Span::styled(format!("{} {}", l.name, l.version), t.text),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::styled("Pack values", t.header));
    lines.extend(defaults_lines(t, p));
    let max = (lines.len() as u16).saturating_sub(inner.height);
    frame.render_widget(
        Paragraph::new(lines).scroll((state.profiles.detail_scroll.min(max), 0)),
        inner,
    );
}
