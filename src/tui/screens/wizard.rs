//! The wizards: a step header showing where the operator is, the step's form (errors beside
//! their fields), problems no single field owns listed under it, and a help line for the
//! focused field. The footer shows the wizard's keys ([`hints`]).

use crate::model::ClusterProfile;
use crate::tui::app::State;
use crate::tui::theme::Theme;
use crate::tui::widgets::form_view;
use crate::tui::wizards::{
    AccountStep, AccountWizard, CheckState, ChoicesState, ClusterStep, ClusterWizard, DeployState,
    GatewayStep, GatewayWizard, PairState, StepStatus, Wizard,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

pub fn render(state: &State, wizard: &Wizard, frame: &mut Frame, area: Rect) {
    match wizard {
        Wizard::Cluster(w) => cluster(state, w, frame, area),
        Wizard::Account(w) => account(state, w, frame, area),
        Wizard::Gateway(w) => gateway(state, w, frame, area),
        Wizard::Resize(w) => super::gateway_resize::dialog(state, w, frame, area),
    }
}

/// The wizard keys for the footer.
pub fn hints(state: &State) -> Line<'static> {
    let t = &state.theme;
    let mut keys: Vec<(&str, &str)> = Vec::new();
    if state.confirm.is_some() {
        keys.extend([("tab", "move"), ("enter", "choose"), ("esc", "cancel")]);
    } else {
        match &state.wizard {
            Some(Wizard::Cluster(w)) => match w.step {
                ClusterStep::Review => {
                    keys.extend([("↑↓", "scroll"), ("enter/pgdn", "next"), ("pgup", "back")])
                }
                ClusterStep::Deploy => keys.extend([("enter", "deploy"), ("pgup", "back")]),
                ClusterStep::Pools => keys.extend([
                    ("tab", "field"),
                    ("pgdn", "next"),
                    ("pgup", "back"),
                    ("ctrl-a", "add pool"),
                    ("ctrl-x", "remove"),
                ]),
                _ => keys.extend([
                    ("tab/↑↓", "field"),
                    ("←→/space", "pick"),
                    ("pgdn", "next"),
                    ("pgup", "back"),
                ]),
            },
            Some(Wizard::Account(w)) => match w.step {
                AccountStep::Details => keys.extend([("tab/↑↓", "field"), ("enter/pgdn", "check")]),
                AccountStep::Check => keys.extend([("enter", "save/retry"), ("pgup", "back")]),
            },
            Some(Wizard::Gateway(w)) => match w.step {
                GatewayStep::Details => keys.extend([("tab/↑↓", "field"), ("enter/pgdn", "pair")]),
                GatewayStep::Confirm => keys.extend([("enter", "trust & save"), ("pgup", "back")]),
            },
            Some(Wizard::Resize(_)) => keys.extend([("tab/↑↓", "field"), ("enter/pgdn", "resize")]),
            None => {}
        }
        keys.push(("esc", "cancel"));
    }
    let mut spans = Vec::new();
    for (k, d) in keys {
        spans.push(Span::styled(format!(" {k}"), t.hint_key));
        spans.push(Span::styled(format!(" {d} "), t.hint_text));
    }
    Line::from(spans)
}

/// "✓ Basics › ✗ Profile › [3 Pack values] › 4 › 5": full names when they fit, else numbers
/// with only the current step named.
fn step_header(t: &Theme, steps: &[(&'static str, StepStatus)], width: u16) -> Line<'static> {
    let render = |full: bool| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, (title, status)) in steps.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(if full { " › " } else { " " }, t.muted));
            }
            let n = i + 1;
            let (text, style) = match status {
                StepStatus::Current => (format!("[{n} {title}]"), t.title),
                StepStatus::Done if full => (format!("✓ {title}"), t.ok),
                StepStatus::Done => (format!("✓{n}"), t.ok),
                StepStatus::Problem if full => (format!("✗ {title}"), t.danger),
                StepStatus::Problem => (format!("✗{n}"), t.danger),
                StepStatus::Ahead if full => (title.to_string(), t.muted),
                StepStatus::Ahead => (n.to_string(), t.muted),
            };
            spans.push(Span::styled(text, style));
        }
        spans
    };
    let full = render(true);
    let w: usize = full.iter().map(|s| s.content.chars().count()).sum();
    if w <= usize::from(width) {
        Line::from(full)
    } else {
        Line::from(render(false))
    }
}

/// The frame every wizard step shares: box, step header, content, help line, message line.
/// Returns the content area.
fn chrome(
    t: &Theme,
    frame: &mut Frame,
    area: Rect,
    title: &str,
    steps: &[(&'static str, StepStatus)],
    hint: &str,
    message: Option<&str>,
) -> Rect {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(Line::styled(format!(" {title} "), t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [header, gap, content, help, msg] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let _ = gap;
    frame.render_widget(Paragraph::new(step_header(t, steps, header.width)), header);
    frame.render_widget(
        Paragraph::new(Line::styled(hint.to_string(), t.muted)),
        help,
    );
    if let Some(m) = message {
        frame.render_widget(
            Paragraph::new(Line::styled(format!("✗ {m}"), t.danger)),
            msg,
        );
    }
    content
}

fn cluster(state: &State, w: &ClusterWizard, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let steps: Vec<(&'static str, StepStatus)> = ClusterStep::ALL
        .iter()
        .map(|s| (s.title(), w.step_status(*s)))
        .collect();
    let hint = w
        .current_form()
        .and_then(|f| f.focused())
        .map_or("", |f| f.hint);
    let title = format!(
        "New cluster — step {}/{}: {}",
        w.step.index() + 1,
        ClusterStep::ALL.len(),
        w.step.title()
    );
    let content = chrome(t, frame, area, &title, &steps, hint, w.message.as_deref());
    match w.step {
        ClusterStep::Review => review(t, w, frame, content),
        ClusterStep::Deploy => deploy(t, w, frame, content),
        ClusterStep::Profile => {
            let [form, detail] =
                Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(content);
            form_view::render(&w.profile, t, frame, form, true);
            if let Some(p) = w.selected_profile() {
                frame.render_widget(
                    Paragraph::new(profile_summary(t, p)).wrap(Wrap { trim: false }),
                    detail,
                );
            }
        }
        ClusterStep::PackValues => {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .spacing(1)
                    .areas(content);
            let [form, notes] = notes_split(t, w, ClusterStep::PackValues, left);
            form_view::render(&w.values, t, frame, form, true);
            draw_notes(t, w, ClusterStep::PackValues, frame, notes);
            let block = Block::default()
                .borders(Borders::LEFT)
                .border_style(t.border)
                .title(Line::styled("profile defaults", t.header));
            let inner = block.inner(right);
            frame.render_widget(block, right);
            let lines = w
                .selected_profile()
                .map(|p| defaults_lines(t, p))
                .unwrap_or_default();
            frame.render_widget(Paragraph::new(lines), inner);
        }
        step => {
            let form = match w.current_form() {
                Some(f) => f,
                None => return,
            };
            let [top, notes] = notes_split(t, w, step, content);
            let top = if step == ClusterStep::Pools || step == ClusterStep::Placement {
                let [status, rest] =
                    Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(top);
                frame.render_widget(Paragraph::new(choices_line(t, w)), status);
                rest
            } else {
                top
            };
            // Wide terminals show every pool beside the one being edited.
            let top = if step == ClusterStep::Pools && top.width >= 100 {
                let [left, right] =
                    Layout::horizontal([Constraint::Min(60), Constraint::Length(42)])
                        .spacing(1)
                        .areas(top);
                frame.render_widget(Paragraph::new(pools_summary(t, w)), right);
                left
            } else {
                top
            };
            form_view::render(form, t, frame, top, true);
            draw_notes(t, w, step, frame, notes);
        }
    }
}

/// One line per pool: the selected one marked, its size and what it asks of a machine.
fn pools_summary(t: &Theme, w: &ClusterWizard) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled("All pools", t.header)];
    for (i, p) in w.spec.spec.node_pools.iter().enumerate() {
        let style = if i == w.pool_index { t.title } else { t.text };
        let mark = if i == w.pool_index { "›" } else { " " };
        lines.push(Line::styled(
            format!("{mark} {} ×{}", p.name, p.size),
            style,
        ));
        let zones = if p.zones.is_empty() {
            "any zone".to_string()
        } else {
            p.zones.join(",")
        };
        lines.push(Line::styled(
            format!(
                "    ≥{}c ≥{}G ≥{}GB · {} · {zones}",
                p.min_cpu,
                p.min_memory_mib / 1024,
                p.min_disk_gb,
                p.resource_pool
            ),
            t.muted,
        ));
    }
    let total: u32 = w.spec.spec.node_pools.iter().map(|p| p.size).sum();
    lines.push(Line::default());
    lines.push(Line::styled(format!("{total} machine(s) in all"), t.text));
    lines
}

/// Where the MAAS lookups are, above the steps that pick from them.
fn choices_line(t: &Theme, w: &ClusterWizard) -> Line<'static> {
    match &w.choices {
        ChoicesState::Loading => Line::styled("Loading zones, pools and tags from MAAS…", t.muted),
        ChoicesState::Loaded(c) => Line::styled(
            format!(
                "(n) = Ready machines · MAAS: {} zones, {} pools, {} tags, {} machines",
                c.zones.len(),
                c.pools.len(),
                c.tags.len(),
                c.snapshot.machines.len()
            ),
            t.muted,
        ),
        ChoicesState::Failed(e) => Line::styled(
            format!("✗ MAAS lists unavailable ({e}); capacity not checked"),
            t.warning,
        ),
    }
}

fn notes_split(t: &Theme, w: &ClusterWizard, step: ClusterStep, area: Rect) -> [Rect; 2] {
    let _ = t;
    let n = w.step_notes(step).len() as u16;
    let h = if n == 0 {
        0
    } else {
        (n * 2).min(area.height / 3).max(1)
    };
    Layout::vertical([Constraint::Min(1), Constraint::Length(h)]).areas(area)
}

fn draw_notes(t: &Theme, w: &ClusterWizard, step: ClusterStep, frame: &mut Frame, area: Rect) {
    if area.height == 0 {
        return;
    }
    let lines: Vec<Line> = w
        .step_notes(step)
        .into_iter()
        .map(|p| Line::styled(format!("✗ {}: {}", p.path, p.message), t.danger))
        .collect();
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

fn profile_summary(t: &Theme, p: &ClusterProfile) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} ", p.metadata.name), t.title),
        Span::styled(format!("version {}", p.metadata.version), t.muted),
    ])];
    if !p.metadata.description.is_empty() {
        lines.push(Line::styled(p.metadata.description.clone(), t.text));
    }
    lines.push(Line::default());
    for layer in &p.spec.layers {
        lines.push(Line::from(vec![
            Span::styled(format!("{:<11}", layer.kind.as_str()), t.header),
            Span::styled(format!("{} {}", layer.name, layer.version), t.text),
        ]));
    }
    lines
}

/// Each pack's default values, as YAML under its name.
pub fn defaults_lines(t: &Theme, p: &ClusterProfile) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for layer in &p.spec.layers {
        lines.push(Line::styled(
            format!("# {} {} {}", layer.kind, layer.name, layer.version),
            t.muted,
        ));
        lines.push(Line::styled(format!("{}:", layer.name), t.header));
        if !layer.values.is_null() {
            let yaml = serde_yaml::to_string(&layer.values).unwrap_or_default();
            for l in yaml.lines() {
                lines.push(Line::styled(format!("  {l}"), t.text));
            }
        }
    }
    lines
}

fn review(t: &Theme, w: &ClusterWizard, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    lines.push(choices_line(t, w));
    if w.problems.is_empty() {
        lines.push(Line::styled(
            "✓ No problems: the spec passes every check (enter to continue)",
            t.ok,
        ));
    } else {
        lines.push(Line::styled(
            format!("✗ {} problem(s) to fix before deploying:", w.problems.len()),
            t.danger,
        ));
        for p in &w.problems {
            lines.push(Line::styled(
                format!("  {}: {}", p.path, p.message),
                t.danger,
            ));
        }
    }
    lines.push(Line::default());
    lines.push(Line::styled("The cluster spec:", t.header));
    for l in w.spec.to_yaml().lines() {
        lines.push(Line::styled(l.to_string(), t.text));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((w.review_scroll, 0)),
        area,
    );
}

fn deploy(t: &Theme, w: &ClusterWizard, frame: &mut Frame, area: Rect) {
    let spec = &w.spec;
    let workers: u32 = spec.worker_pools().map(|p| p.size).sum();
    let cp = spec.control_plane().map_or(0, |p| p.size);
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Cluster ", t.text),
            Span::styled(spec.metadata.name.clone(), t.title),
            Span::styled(" on cloud account ", t.text),
            Span::styled(spec.spec.cloud_account.clone(), t.title),
        ]),
        Line::styled(format!("profile {}", spec.spec.profile.name), t.text),
        Line::styled(
            format!(
                "{cp} control-plane node(s), {workers} worker node(s) in {} pool(s): {} MAAS machine(s) will be taken",
                spec.worker_pools().count(),
                cp + workers
            ),
            t.text,
        ),
        Line::default(),
    ];
    lines.push(match &w.deploy {
        DeployState::NotStarted if w.problems.is_empty() => {
            Line::styled("Press enter to deploy.", t.ok)
        }
        DeployState::NotStarted => Line::styled(
            format!(
                "✗ {} problem(s) left: go back to the review (pgup).",
                w.problems.len()
            ),
            t.danger,
        ),
        DeployState::Running => Line::styled("Deploying: handing the spec to the engine…", t.info),
        DeployState::Failed(e) => Line::styled(format!("✗ Deploy failed: {e}"), t.danger),
    });
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn account(state: &State, w: &AccountWizard, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let steps: Vec<(&'static str, StepStatus)> = AccountStep::ALL
        .iter()
        .map(|s| (s.title(), w.step_status(*s)))
        .collect();
    let hint = match w.step {
        AccountStep::Details => w.form.focused().map_or("", |f| f.hint),
        AccountStep::Check => "",
    };
    let title = format!(
        "New cloud account — step {}/2: {}",
        if w.step == AccountStep::Details { 1 } else { 2 },
        w.step.title()
    );
    let content = chrome(t, frame, area, &title, &steps, hint, w.message.as_deref());
    match w.step {
        AccountStep::Details => form_view::render(&w.form, t, frame, content, true),
        AccountStep::Check => {
            let d = w.draft();
            let mut lines = vec![Line::from(vec![
                Span::styled("Account ", t.text),
                Span::styled(d.name.clone(), t.title),
                Span::styled(format!(" · gateway {} · {}", d.gateway, d.endpoint), t.text),
            ])];
            lines.push(Line::default());
            match &w.check {
                CheckState::NotRun | CheckState::Running => lines.push(Line::styled(
                    format!("Checking MAAS at {}…", d.endpoint),
                    t.info,
                )),
                CheckState::Passed(c) => {
                    lines.push(Line::styled(
                        format!(
                            "✓ MAAS {} answered and accepted the API key (user {}).",
                            c.version, c.user
                        ),
                        t.ok,
                    ));
                    lines.push(Line::styled("Press enter to save the account.", t.text));
                }
                CheckState::Saving(_) => lines.push(Line::styled("Saving…", t.info)),
                CheckState::Failed(problems) => {
                    lines.push(Line::styled("✗ The check failed:", t.danger));
                    for p in problems {
                        let field = w
                            .form
                            .fields
                            .iter()
                            .find(|f| f.claims(&p.path))
                            .map_or(p.path.as_str(), |f| f.label);
                        lines.push(Line::styled(format!("  {field}: {}", p.message), t.danger));
                    }
                    lines.push(Line::default());
                    lines.push(Line::styled(
                        "pgup goes back to fix it; enter checks again.",
                        t.muted,
                    ));
                }
                CheckState::SaveFailed(e) => {
                    lines.push(Line::styled(format!("✗ Not saved: {e}"), t.danger));
                    lines.push(Line::styled("enter checks and tries again.", t.muted));
                }
            }
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), content);
        }
    }
}

fn gateway(state: &State, w: &GatewayWizard, frame: &mut Frame, area: Rect) {
    let t = &state.theme;
    let steps: Vec<(&'static str, StepStatus)> = GatewayStep::ALL
        .iter()
        .map(|s| (s.title(), w.step_status(*s)))
        .collect();
    let hint = match w.step {
        GatewayStep::Details => w.form.focused().map_or("", |f| f.hint),
        GatewayStep::Confirm => "",
    };
    let title = format!(
        "Pair a gateway — step {}/2: {}",
        if w.step == GatewayStep::Details { 1 } else { 2 },
        w.step.title()
    );
    let content = chrome(t, frame, area, &title, &steps, hint, w.message.as_deref());
    match w.step {
        GatewayStep::Details => {
            let [form, status] =
                Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(content);
            form_view::render(&w.form, t, frame, form, true);
            let lines = match &w.pairing {
                PairState::Pairing => vec![Line::styled(
                    format!(
                        "Connecting to {} and proving the pairing code…",
                        w.address()
                    ),
                    t.info,
                )],
                // Loud on purpose: someone may be between this console and the gateway.
                PairState::Impersonator(why) => vec![
                    Line::styled("⚠ NOT PAIRED: POSSIBLE IMPERSONATOR", t.danger),
                    Line::styled(why.clone(), t.danger),
                ],
                _ => Vec::new(),
            };
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), status);
        }
        GatewayStep::Confirm => {
            let mut lines = Vec::new();
            match &w.pairing {
                PairState::Offered(o) | PairState::Saving(o) => {
                    lines.push(Line::from(vec![
                        Span::styled("Gateway ", t.text),
                        Span::styled(o.gateway.clone(), t.title),
                        Span::styled(format!(" at {}", o.address), t.text),
                    ]));
                    lines.push(Line::styled(
                        "proved it knows the pairing code. Its CA certificate fingerprint:",
                        t.text,
                    ));
                    lines.push(Line::styled(format!("  {}", o.ca_fingerprint), t.title));
                    lines.push(Line::default());
                    if matches!(w.pairing, PairState::Saving(_)) {
                        lines.push(Line::styled("Saving…", t.info));
                    } else {
                        lines.push(Line::styled(
                            "Compare it with the `CA fingerprint` line `kubemaas gateway run` printed on the gateway host: enter trusts and saves it, esc leaves without storing anything.",
                            t.muted,
                        ));
                    }
                }
                PairState::Failed(e) => {
                    lines.push(Line::styled(format!("✗ Not saved: {e}"), t.danger));
                    lines.push(Line::styled(
                        "pgup goes back: pair again with a fresh code.",
                        t.muted,
                    ));
                }
                _ => {}
            }
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), content);
        }
    }
}
