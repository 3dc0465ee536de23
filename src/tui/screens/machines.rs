//! The Machines screen: the MAAS inventory as a table. Only the rows in view are turned into
//! cells, so 5,000 machines draw as cheaply as 20.

use crate::tui::app::{table_rows, State};
use crate::tui::columns::{fit, ColumnSpec, COLUMN_SPACING};
use crate::tui::keymap::Action;
use crate::tui::machines::{visible_offset, LoadState, MachineColumn};
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let table = &state.machines;
    let mut title = vec![
        Span::styled(" Machines ", t.title),
        Span::styled(format!("[{}/{}] ", table.shown(), table.total()), t.muted),
    ];
    if !table.filter_text().is_empty() {
        title.push(Span::styled(format!("/{} ", table.filter_text()), t.prompt));
    }
    let sort = table.sort;
    title.push(Span::styled(
        format!(
            "sort:{}{} ",
            sort.column.spec().title.to_lowercase(),
            if sort.descending { "↓" } else { "↑" }
        ),
        t.muted,
    ));
    title.extend(super::stale_mark(state));
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(title));
    if let LoadState::Failed(message) = &table.load {
        if table.total() > 0 {
            block = block.title_bottom(Line::styled(
                format!(" ✗ refresh failed, showing the last inventory: {message} "),
                t.danger,
            ));
        }
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);

    if table.total() == 0 || table.shown() == 0 {
        empty(state, frame, inner);
        return;
    }

    let specs = MachineColumn::specs();
    let shown_cols = fit(&specs, inner.width);
    let widths: Vec<Constraint> = shown_cols
        .iter()
        .map(|&i| {
            if specs[i].flexible {
                Constraint::Min(specs[i].width)
            } else {
                Constraint::Length(specs[i].width)
            }
        })
        .collect();
    let header = Row::new(shown_cols.iter().map(|&i| {
        let spec = specs[i];
        let marker = if MachineColumn::ALL[i] == sort.column {
            "*"
        } else {
            ""
        };
        let text = format!("{}{marker}", spec.title);
        aligned(text, spec.right_aligned, cut_at(spec))
    }))
    .style(t.header);

    // The same window arithmetic update uses, so a resize never hides the selection.
    let rows_fit = table_rows(state.size).min(usize::from(inner.height.saturating_sub(1)));
    let offset = visible_offset(table.offset(), table.selected(), rows_fit);
    let rows = table.window(offset, rows_fit).map(|(pos, row)| {
        let selected = pos == table.selected();
        let cells = shown_cols.iter().map(|&i| {
            let col = MachineColumn::ALL[i];
            let spec = specs[i];
            let cell = aligned(col.text(row), spec.right_aligned, cut_at(spec));
            // The selected row is one solid bar: a status colour on the selection colour
            // can be unreadable (green on cyan), and the status text says it anyway.
            if col == MachineColumn::Status && !selected {
                cell.style(t.status(row.status))
            } else {
                cell
            }
        });
        let r = Row::new(cells);
        if selected {
            r.style(t.selection)
        } else {
            r.style(t.text)
        }
    });
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(COLUMN_SPACING),
        inner,
    );
}

/// Fixed columns cut at their width; a flexible column takes what the layout gives it.
fn cut_at(spec: ColumnSpec) -> u16 {
    if spec.flexible {
        u16::MAX
    } else {
        spec.width
    }
}

/// A cell whose text is cut to the column width with an ellipsis, numbers right-aligned.
fn aligned(text: String, right: bool, width: u16) -> Cell<'static> {
    let width = usize::from(width);
    let text = if text.chars().count() > width && width > 1 {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    };
    let line = Line::from(text);
    Cell::from(if right {
        line.alignment(Alignment::Right)
    } else {
        line
    })
}

fn empty(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let table = &state.machines;
    let line = match &table.load {
        LoadState::Loading => Line::styled("Loading machines from MAAS…", t.muted),
        LoadState::Failed(message) => Line::styled(format!("✗ {message}"), t.danger),
        LoadState::Loaded if table.total() == 0 => Line::styled(
            "This MAAS has no machines (or none this user may see).",
            t.muted,
        ),
        LoadState::Loaded => Line::styled(
            format!(
                "No machine matches /{} ({} clears the filter)",
                table.filter_text(),
                state.keymap.label(Action::Back)
            ),
            t.muted,
        ),
    };
    frame.render_widget(
        Paragraph::new(line)
            .wrap(Wrap { trim: true })
            .alignment(Alignment::Center),
        area,
    );
}
