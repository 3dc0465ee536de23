//! The cluster detail: the live provisioning pane. A summary line, the engine's steps with
//! their state and elapsed time, a gauge per node pool, every machine with its MAAS status and
//! message, and the cluster's journal. Wide terminals put steps and pools beside the machines;
//! narrow ones stack the panes.

use super::clusters::{health_style, phase_style};
use crate::engine::PoolProgress;
use crate::tui::app::State;
use crate::tui::clusters::{ClusterInfo, EventLine, Level, MachineLine, Prompt, TaskLine};
use crate::tui::columns::{fit, ColumnSpec, COLUMN_SPACING};
use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// At or above this width, steps and pools sit left of the machines.
const SIDE_BY_SIDE: u16 = 110;

pub fn render(state: &State, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let Some(detail) = &state.clusters.detail else {
        return;
    };
    let title = match &detail.info {
        Some(i) => format!(" Cluster {} ", i.name),
        None => format!(" Cluster {} ", detail.key),
    };
    let mut title = vec![Span::styled(title, t.title)];
    title.extend(super::stale_mark(state));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(info) = &detail.info else {
        let text = match &detail.error {
            Some(e) => Line::styled(format!("✗ {e}"), t.danger),
            None => Line::styled("Loading…", t.muted),
        };
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    };
    let events = state.clusters.detail_events();
    let steps_h = info.tasks.len().clamp(1, 5) as u16 + 1;
    let pools_h = info.pools.len().max(1) as u16 + 1;
    if inner.width >= SIDE_BY_SIDE {
        // The panes take what they need (machines up to half the height); the log the rest.
        let machines_h = info.machines.len().max(1) as u16 + 2;
        let middle_h = (steps_h + pools_h)
            .max(machines_h)
            .min(inner.height.saturating_sub(2) / 2 + 1);
        let [summary, middle, log] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(middle_h),
            Constraint::Min(3),
        ])
        .areas(inner);
        let [left, _, right] = Layout::horizontal([
            Constraint::Length(52),
            Constraint::Length(1),
            Constraint::Min(20),
        ])
        .areas(middle);
        let [steps, pools] =
            Layout::vertical([Constraint::Length(steps_h), Constraint::Min(pools_h)]).areas(left);
        render_summary(state, info, detail.error.as_deref(), frame, summary);
        render_steps(state, info, frame, steps);
        render_pools(t, &info.pools, frame, pools);
        render_machines(t, &info.machines, frame, right);
        render_log(state, &events, detail.log_back, frame, log);
    } else {
        // Stacked: the machines take what they need while the log keeps at least 4 rows (5
        // with its title), and the log takes whatever is left.
        let steps_h = steps_h.min(4);
        let free = inner.height.saturating_sub(2 + steps_h + pools_h);
        let machines_h = (info.machines.len().max(1) as u16 + 2).min(free.saturating_sub(5).max(3));
        let [summary, steps, pools, machines, log] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(steps_h),
            Constraint::Length(pools_h),
            Constraint::Length(machines_h),
            Constraint::Min(3),
        ])
        .areas(inner);
        render_summary(state, info, detail.error.as_deref(), frame, summary);
        render_steps(state, info, frame, steps);
        render_pools(t, &info.pools, frame, pools);
        render_machines(t, &info.machines, frame, machines);
        render_log(state, &events, detail.log_back, frame, log);
    }
    if let Some(p) = &state.clusters.prompt {
        render_prompt(t, p, frame, area);
    }
}

fn section(t: &Theme, title: &str) -> Block<'static> {
    Block::default()
        .borders(Borders::TOP)
        .border_style(t.border)
        .title(Line::styled(format!(" {title} "), t.header))
}

fn render_summary(
    state: &State,
    info: &ClusterInfo,
    error: Option<&str>,
    frame: &mut Frame,
    area: Rect,
) {
    let t = &state.theme;
    let health = info.health();
    let first = Line::from(vec![
        Span::styled(
            format!(" {} ", info.phase.label()),
            phase_style(t, info.phase),
        ),
        Span::styled(" health ", t.muted),
        Span::styled(health.label(), health_style(t, health)),
        Span::styled("  account ", t.muted),
        Span::styled(info.account.clone(), t.text),
        Span::styled("  endpoint ", t.muted),
        Span::styled(info.endpoint.clone().unwrap_or_else(|| "-".into()), t.text),
        Span::styled(
            format!(
                "  gen {}/{}",
                info.observed_generation, info.spec_generation
            ),
            t.muted,
        ),
    ]);
    // The second line says why: a refresh error, the failure reason, or what it waits for.
    let second = match (error, &info.reason, &info.waiting) {
        (Some(e), _, _) => Line::styled(format!(" ✗ refresh failed: {e}"), t.danger),
        (_, Some(r), _) => Line::styled(format!(" {r}"), t.danger),
        (_, _, Some(w)) => Line::styled(format!(" waiting: {w}"), t.warning),
        _ => Line::default(),
    };
    frame.render_widget(Paragraph::new(vec![first, second]), area);
}

fn task_style(t: &Theme, task: &TaskLine) -> Style {
    match task.state.as_str() {
        "succeeded" => t.ok,
        "failed" | "interrupted" => t.danger,
        "cancelled" => t.muted,
        _ => t.status_busy,
    }
}

fn render_steps(state: &State, info: &ClusterInfo, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let block = section(t, "Steps");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let skip = info.tasks.len().saturating_sub(rows);
    let lines: Vec<Line> = info
        .tasks
        .iter()
        .skip(skip)
        .map(|task| {
            let elapsed = match state.clusters.now {
                Some(now) => task.elapsed(now),
                None => "-".into(),
            };
            Line::from(vec![
                Span::styled(format!(" {:<10}", task.state), task_style(t, task)),
                Span::styled(format!("{:<10}", task.kind), t.text),
                Span::styled(format!("{elapsed:>7} "), t.muted),
                Span::styled(task.message.clone(), t.muted),
            ])
        })
        .collect();
    if lines.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(" no steps yet", t.muted)),
            inner,
        );
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// `███▓▓▒▒░░░`: ready, deployed, deploying, allocated, missing, in `width` cells.
fn gauge(t: &Theme, p: &PoolProgress, width: usize) -> Vec<Span<'static>> {
    let desired = p.desired.max(1) as usize;
    let cells = |n: u32| (n as usize * width).div_ceil(desired).min(width);
    let ready = cells(p.ready);
    let deployed = cells(p.deployed).max(ready);
    let deploying = cells(p.deployed + p.deploying).max(deployed);
    let allocated = cells(p.allocated).max(deploying);
    vec![
        Span::styled("█".repeat(ready), t.status_deployed),
        Span::styled("▓".repeat(deployed - ready), t.status_ready),
        Span::styled("▒".repeat(deploying - deployed), t.status_busy),
        Span::styled("░".repeat(allocated - deploying), t.status_allocated),
        Span::styled("·".repeat(width - allocated), t.muted),
    ]
}

fn render_pools(t: &Theme, pools: &[PoolProgress], frame: &mut Frame, area: Rect) {
    let block = section(t, "Node pools");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let bar = usize::from(inner.width.saturating_sub(44)).clamp(6, 20);
    let lines: Vec<Line> = pools
        .iter()
        .map(|p| {
            let mut spans = vec![Span::styled(format!(" {:<13.13} ", p.pool), t.text)];
            spans.extend(gauge(t, p, bar));
            spans.push(Span::styled(
                format!(
                    " {}/{} ready  {} alloc {} depl'g {} depl'd",
                    p.ready, p.desired, p.allocated, p.deploying, p.deployed
                ),
                t.muted,
            ));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

const MACHINE_COLUMNS: [ColumnSpec; 6] = [
    mcol("HOSTNAME", 14, 0, false),
    mcol("SYSTEM ID", 9, 2, false),
    mcol("POOL", 13, 3, false),
    mcol("STATE", 9, 0, false),
    mcol("MAAS", 17, 1, false),
    mcol("MESSAGE", 12, 1, true),
];

const fn mcol(title: &'static str, width: u16, priority: u8, flexible: bool) -> ColumnSpec {
    ColumnSpec {
        title,
        width,
        priority,
        flexible,
        right_aligned: false,
    }
}

fn machine_style(t: &Theme, m: &MachineLine) -> Style {
    match m.state.as_str() {
        "deployed" => t.status_deployed,
        "deploying" => t.status_busy,
        "allocated" => t.status_allocated,
        "failed" => t.status_failed,
        _ => t.status_offline,
    }
}

fn render_machines(t: &Theme, machines: &[MachineLine], frame: &mut Frame, area: Rect) {
    let block = section(t, &format!("Machines ({})", machines.len()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if machines.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(" no machines taken yet", t.muted)),
            inner,
        );
        return;
    }
    let cols = fit(&MACHINE_COLUMNS, inner.width);
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&i| {
            let c = MACHINE_COLUMNS[i];
            if c.flexible {
                Constraint::Min(c.width)
            } else {
                Constraint::Length(c.width)
            }
        })
        .collect();
    let header =
        Row::new(cols.iter().map(|&i| Cell::from(MACHINE_COLUMNS[i].title))).style(t.header);
    let rows = machines.iter().map(|m| {
        Row::new(cols.iter().map(|&i| match i {
            0 => Cell::from(if m.hostname.is_empty() {
                "-".to_string()
            } else {
                m.hostname.clone()
            }),
            1 => Cell::from(m.system_id.clone()),
            2 => Cell::from(m.pool.clone()),
            3 => Cell::from(Span::styled(m.state.clone(), machine_style(t, m))),
            4 => Cell::from(m.maas_status.clone()),
            _ => Cell::from(Span::styled(m.message.clone(), t.muted)),
        }))
    });
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(COLUMN_SPACING),
        inner,
    );
}

pub fn level_style(t: &Theme, level: Level) -> Style {
    match level {
        Level::Debug => t.muted,
        Level::Info => t.text,
        Level::Warn => t.warning,
        Level::Error => t.danger,
    }
}

fn render_log(state: &State, events: &[&EventLine], back: usize, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let title = if back > 0 {
        format!("Events (−{back}, ↓ to follow)")
    } else {
        "Events".to_string()
    };
    let block = section(t, &title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let end = events.len().saturating_sub(back);
    let start = end.saturating_sub(rows);
    let lines: Vec<Line> = events[start..end]
        .iter()
        .map(|e| {
            Line::from(vec![
                Span::styled(format!(" {} ", e.time.format("%H:%M:%S")), t.muted),
                Span::styled(format!("{:<5} ", e.level.label()), level_style(t, e.level)),
                Span::styled(
                    e.machine
                        .as_ref()
                        .map(|m| format!("{m} "))
                        .unwrap_or_default(),
                    t.info,
                ),
                Span::styled(e.message.clone(), level_style(t, e.level)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A prompt's title, lines, error and cursor (column, line).
type PromptParts<'a> = (
    String,
    Vec<Line<'a>>,
    Option<&'a String>,
    Option<(u16, usize)>,
);

fn render_prompt(t: &Theme, p: &Prompt, frame: &mut Frame, area: Rect) {
    let (title, mut lines, error, cursor_line): PromptParts = match p {
        Prompt::Resize {
            cluster,
            pools,
            selected,
            size,
            typing,
            error,
        } => {
            let mut lines: Vec<Line> = vec![Line::styled(
                if *typing {
                    "New size (machines), enter to apply:"
                } else {
                    "Pick a pool (↑/↓), enter:"
                },
                t.text,
            )];
            for (i, (pool, desired)) in pools.iter().enumerate() {
                let style = if i == *selected { t.selection } else { t.text };
                lines.push(Line::styled(format!("  {pool:<20} {desired:>4}"), style));
            }
            let cursor = if *typing {
                lines.push(Line::from(vec![
                    Span::styled("› ", t.prompt),
                    Span::styled(format!("{:<12}", size.value()), t.selection),
                ]));
                Some((size.visual_cursor() as u16 + 2, lines.len() - 1))
            } else {
                None
            };
            (
                format!("Resize a pool of {cluster}"),
                lines,
                error.as_ref(),
                cursor,
            )
        }
        Prompt::Kubeconfig {
            cluster,
            path,
            error,
        } => {
            let lines = vec![
                Line::styled("Write the admin kubeconfig (0600) to:", t.text),
                Line::from(vec![
                    Span::styled("› ", t.prompt),
                    Span::styled(path.value().to_string(), t.selection),
                ]),
            ];
            (
                format!("Kubeconfig of {cluster}"),
                lines,
                error.as_ref(),
                Some((path.visual_cursor() as u16 + 2, 1)),
            )
        }
    };
    if let Some(e) = error {
        lines.push(Line::styled(format!("✗ {e}"), t.danger));
    }
    lines.push(Line::styled("enter apply · esc cancel", t.muted));
    let width = area.width.min(60);
    let height = (lines.len() as u16 + 2).min(area.height);
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
        .title(Line::styled(format!(" {title} "), t.title));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some((x, line)) = cursor_line {
        let y = inner.y + line as u16;
        if y < inner.bottom() {
            frame.set_cursor_position(Position::new(
                (inner.x + x).min(inner.right().saturating_sub(1)),
                y,
            ));
        }
    }
}
