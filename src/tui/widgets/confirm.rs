//! The confirm dialog for destructive actions (gitui's two-phase `Confirm(action)` →
//! `Confirmed(action)`, k9s's delete dialog): it opens with the focus on **Cancel**, so an
//! Enter typed out of habit does nothing; deletes ask for the target's name to be typed; and
//! under `--readonly` a dangerous action is refused before the dialog even opens.

use crate::tui::theme::Theme;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use tui_input::backend::crossterm::to_input_request;
use tui_input::Input;

/// What the dialog asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmAction {
    /// Leave a wizard, throwing away what was typed.
    DiscardWizard { what: String },
    /// Remove a cloud account from kubemaas (not from MAAS).
    DeleteAccount { name: String },
    /// Tear a cluster down: release its machines to MAAS.
    DeleteCluster { name: String },
    /// Stop building a cluster and release what it took.
    AbortCluster { name: String },
    /// Forget this console's pairing with a gateway (its record stays).
    UnpairGateway { name: String },
    /// Replace a gateway's executable with this console's and restart it.
    UpgradeGateway { name: String, to: String },
    /// Leave while this console runs the engine and clusters are mid-change.
    QuitWithWork { clusters: String },
}

impl ConfirmAction {
    /// Changes something outside the console: hidden and refused under `--readonly`.
    pub fn dangerous(&self) -> bool {
        match self {
            ConfirmAction::DiscardWizard { .. } | ConfirmAction::QuitWithWork { .. } => false,
            ConfirmAction::DeleteAccount { .. }
            | ConfirmAction::DeleteCluster { .. }
            | ConfirmAction::AbortCluster { .. }
            | ConfirmAction::UnpairGateway { .. }
            | ConfirmAction::UpgradeGateway { .. } => true,
        }
    }

    /// The name the operator must type to confirm, for deletes.
    pub fn typed_name(&self) -> Option<&str> {
        match self {
            ConfirmAction::DiscardWizard { .. }
            | ConfirmAction::AbortCluster { .. }
            | ConfirmAction::QuitWithWork { .. } => None,
            ConfirmAction::DeleteAccount { name }
            | ConfirmAction::DeleteCluster { name }
            | ConfirmAction::UnpairGateway { name }
            | ConfirmAction::UpgradeGateway { name, .. } => Some(name),
        }
    }

    pub fn title(&self) -> String {
        match self {
            ConfirmAction::DiscardWizard { what } => format!("Discard the {what}?"),
            ConfirmAction::DeleteAccount { name } => format!("Delete cloud account {name}?"),
            ConfirmAction::DeleteCluster { name } => format!("Delete cluster {name}?"),
            ConfirmAction::AbortCluster { name } => format!("Abort cluster {name}?"),
            ConfirmAction::UnpairGateway { name } => format!("Unpair gateway {name}?"),
            ConfirmAction::UpgradeGateway { name, to } => {
                format!("Upgrade gateway {name} to kubemaas {to}?")
            }
            ConfirmAction::QuitWithWork { .. } => "Quit while clusters are changing?".to_string(),
        }
    }

    fn message(&self) -> String {
        match self {
            ConfirmAction::DiscardWizard { .. } => {
                "Everything typed in this wizard is lost.".to_string()
            }
            ConfirmAction::DeleteAccount { .. } => {
                "kubemaas forgets this MAAS region and its API key. Clusters built on it can no longer be managed. MAAS itself is not changed.".to_string()
            }
            ConfirmAction::DeleteCluster { .. } => {
                "Kubernetes on it stops and every machine goes back to MAAS (Ready). This cannot be undone.".to_string()
            }
            ConfirmAction::AbortCluster { .. } => {
                "Building stops and the machines taken so far go back to MAAS.".to_string()
            }
            ConfirmAction::UnpairGateway { .. } => {
                "This console forgets the gateway's pinned CA and its own client certificate and key; it can no longer reach the gateway until paired again with a fresh code. The gateway and its clusters are not changed.".to_string()
            }
            ConfirmAction::UpgradeGateway { .. } => {
                "This console's own kubemaas executable is sent to the gateway, which drains and restarts into it. While it is away, cluster requests made here are queued and sent once it is back; the console keeps working meanwhile.".to_string()
            }
            ConfirmAction::QuitWithWork { clusters } => format!(
                "This console runs the engine. {clusters}: the work pauses until kubemaas runs again (the console, or `kubemaas cluster wait`), and then resumes where it stopped."
            ),
        }
    }

    fn confirm_label(&self) -> &'static str {
        match self {
            ConfirmAction::DiscardWizard { .. } => "Discard",
            ConfirmAction::DeleteAccount { .. } | ConfirmAction::DeleteCluster { .. } => "Delete",
            ConfirmAction::AbortCluster { .. } => "Abort",
            ConfirmAction::UnpairGateway { .. } => "Unpair",
            ConfirmAction::UpgradeGateway { .. } => "Upgrade",
            ConfirmAction::QuitWithWork { .. } => "Quit",
        }
    }
}

/// Why a dialog did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("read-only: {what} is refused because kubemaas was started with --readonly; restart it without --readonly to change anything")]
pub struct ReadOnlyRefusal {
    pub what: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmFocus {
    Cancel,
    Name,
    Confirm,
}

#[derive(Debug, Clone)]
pub struct ConfirmDialog {
    pub action: ConfirmAction,
    pub focus: ConfirmFocus,
    /// The name typed so far (deletes).
    pub typed: Input,
    /// Why the last Enter on the confirm button did nothing.
    pub error: Option<String>,
}

/// What a key did to the dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Open,
    Cancelled,
    Confirmed(ConfirmAction),
}

impl ConfirmDialog {
    /// Opens the dialog, or refuses a dangerous action in read-only mode.
    pub fn open(action: ConfirmAction, readonly: bool) -> Result<ConfirmDialog, ReadOnlyRefusal> {
        if readonly && action.dangerous() {
            return Err(ReadOnlyRefusal {
                what: action.title().trim_end_matches('?').to_lowercase(),
            });
        }
        Ok(ConfirmDialog {
            action,
            focus: ConfirmFocus::Cancel,
            typed: Input::default(),
            error: None,
        })
    }

    fn order(&self) -> &'static [ConfirmFocus] {
        if self.action.typed_name().is_some() {
            &[
                ConfirmFocus::Cancel,
                ConfirmFocus::Name,
                ConfirmFocus::Confirm,
            ]
        } else {
            &[ConfirmFocus::Cancel, ConfirmFocus::Confirm]
        }
    }

    fn cycle(&mut self, by: isize) {
        let order = self.order();
        let i = order.iter().position(|f| *f == self.focus).unwrap_or(0);
        let n = order.len() as isize;
        self.focus = order[((i as isize + by).rem_euclid(n)) as usize];
    }

    pub fn handle(&mut self, key: KeyEvent) -> ConfirmOutcome {
        if key.code == KeyCode::Esc
            || (key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL))
        {
            return ConfirmOutcome::Cancelled;
        }
        match (self.focus, key.code) {
            (_, KeyCode::Tab) => self.cycle(1),
            (_, KeyCode::BackTab) => self.cycle(-1),
            (ConfirmFocus::Cancel, KeyCode::Enter) => return ConfirmOutcome::Cancelled,
            (ConfirmFocus::Name, KeyCode::Enter) => self.focus = ConfirmFocus::Confirm,
            (ConfirmFocus::Confirm, KeyCode::Enter) => match self.action.typed_name() {
                Some(name) if self.typed.value() != name => {
                    self.error = Some(format!("type `{name}` exactly to confirm"));
                    self.focus = ConfirmFocus::Name;
                }
                _ => return ConfirmOutcome::Confirmed(self.action.clone()),
            },
            (ConfirmFocus::Name, _) => {
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    self.typed.handle(req);
                    self.error = None;
                }
            }
            (ConfirmFocus::Cancel | ConfirmFocus::Confirm, KeyCode::Left | KeyCode::Right) => {
                self.focus = if self.focus == ConfirmFocus::Cancel {
                    ConfirmFocus::Confirm
                } else {
                    ConfirmFocus::Cancel
                };
            }
            _ => {}
        }
        ConfirmOutcome::Open
    }
}

/// Draws the dialog centred over `area`.
pub fn render(dialog: &ConfirmDialog, t: &Theme, frame: &mut Frame, area: Rect) {
    let width = area.width.min(64);
    let inner_w = width.saturating_sub(4);
    let message = dialog.action.message();
    let msg_lines = (message.chars().count() as u16)
        .div_ceil(inner_w.max(1))
        .max(1);
    let name_lines = if dialog.action.typed_name().is_some() {
        3
    } else {
        0
    };
    let height = (2 + msg_lines + 1 + name_lines + 1 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.danger)
        .title(Line::styled(
            format!(" {} ", dialog.action.title()),
            t.danger,
        ));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let inner = Rect::new(
        inner.x + 1,
        inner.y + 1,
        inner.width.saturating_sub(2),
        inner.height.saturating_sub(1),
    );
    let mut lines = vec![Line::styled(message, t.text), Line::default()];
    let mut cursor = None;
    if let Some(name) = dialog.action.typed_name() {
        lines.push(Line::from(vec![
            Span::styled("Type ", t.text),
            Span::styled(name.to_string(), t.title),
            Span::styled(" to confirm:", t.text),
        ]));
        let field_style = if dialog.focus == ConfirmFocus::Name {
            t.selection
        } else {
            t.text
        };
        lines.push(Line::from(vec![
            Span::styled("› ", t.prompt),
            Span::styled(format!("{:<30}", dialog.typed.value()), field_style),
        ]));
        lines.push(match &dialog.error {
            Some(e) => Line::styled(format!("✗ {e}"), t.danger),
            None => Line::default(),
        });
        if dialog.focus == ConfirmFocus::Name {
            cursor = Some(dialog.typed.visual_cursor() as u16 + 2);
        }
    }
    let button = |label: &str, focus: ConfirmFocus, danger: bool| {
        let style = if dialog.focus == focus {
            if danger {
                t.danger.add_modifier(ratatui::style::Modifier::REVERSED)
            } else {
                t.selection
            }
        } else {
            t.muted
        };
        Span::styled(format!("[ {label} ]"), style)
    };
    lines.push(Line::from(vec![
        button("Cancel", ConfirmFocus::Cancel, false),
        Span::raw("   "),
        button(dialog.action.confirm_label(), ConfirmFocus::Confirm, true),
    ]));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
    if let Some(x) = cursor {
        // The name field sits under the wrapped message, its blank line and the "Type …" line.
        let y = inner.y + msg_lines + 2;
        frame.set_cursor_position(Position::new(
            inner.x + x,
            y.min(inner.bottom().saturating_sub(1)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn opens_on_cancel_and_delete_needs_the_name() {
        let action = ConfirmAction::DeleteAccount { name: "lab".into() };
        let mut d = ConfirmDialog::open(action.clone(), false).unwrap();
        assert_eq!(d.focus, ConfirmFocus::Cancel);
        assert_eq!(
            d.clone().handle(k(KeyCode::Enter)),
            ConfirmOutcome::Cancelled
        );
        d.handle(k(KeyCode::Tab));
        d.handle(k(KeyCode::Char('l')));
        d.handle(k(KeyCode::Tab));
        assert_eq!(d.handle(k(KeyCode::Enter)), ConfirmOutcome::Open);
        assert!(d.error.as_deref().unwrap().contains("`lab`"));
        assert_eq!(d.focus, ConfirmFocus::Name);
        d.handle(k(KeyCode::Char('a')));
        d.handle(k(KeyCode::Char('b')));
        d.handle(k(KeyCode::Enter));
        assert_eq!(
            d.handle(k(KeyCode::Enter)),
            ConfirmOutcome::Confirmed(action)
        );
    }

    #[test]
    fn readonly_refuses_dangerous_actions_only() {
        let err = ConfirmDialog::open(ConfirmAction::DeleteAccount { name: "lab".into() }, true)
            .unwrap_err();
        assert!(err.to_string().contains("--readonly"));
        assert!(ConfirmDialog::open(
            ConfirmAction::DiscardWizard {
                what: "wizard".into()
            },
            true
        )
        .is_ok());
    }
}
