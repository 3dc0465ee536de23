//! Forms: a list of typed fields with one focused, moved between with Tab / Shift-Tab / ↑ / ↓.
//!
//! A form knows how to edit its fields, not what they mean: the wizard that owns it reads the
//! values, builds its document (a [`crate::model::ClusterSpec`], a cloud account), runs the
//! model's validators and hands the problems back with [`Form::apply_problems`]. Each field is
//! addressed by the document path the validators report (`spec.network.podCIDR`), so the rules
//! live once, in `crate::model`, and every error lands beside the field it is about.

use super::secret::Secret;
use super::textarea::{AreaOutcome, TextArea};
use crate::model::Problem;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;
use tui_input::Input;

/// One entry of a choice list, with the number of MAAS machines it matches when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceItem {
    /// What goes into the document.
    pub value: String,
    /// What the operator sees.
    pub label: String,
    /// Matching machines (Ready ones), for zones, pools and tags.
    pub count: Option<usize>,
}

impl ChoiceItem {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        ChoiceItem {
            label: value.clone(),
            value,
            count: None,
        }
    }

    pub fn labelled(value: impl Into<String>, label: impl Into<String>) -> Self {
        ChoiceItem {
            value: value.into(),
            label: label.into(),
            count: None,
        }
    }

    pub fn counted(value: impl Into<String>, count: usize) -> Self {
        ChoiceItem {
            count: Some(count),
            ..ChoiceItem::new(value)
        }
    }

    /// "az-1 (12)".
    pub fn display(&self) -> String {
        match self.count {
            Some(n) => format!("{} ({n})", self.label),
            None => self.label.clone(),
        }
    }
}

/// What a field holds and how it is edited.
#[derive(Debug, Clone)]
pub enum FieldKind {
    Text(Input),
    /// Shown as one `•` per character, never the value (see [`Secret`]).
    Secret(Secret),
    /// Digits, with the unit drawn after them.
    Number {
        input: Input,
        unit: &'static str,
    },
    Toggle(bool),
    /// One of a list (← / → pick).
    Choice {
        items: Vec<ChoiceItem>,
        selected: usize,
    },
    /// Any of a list (← / → move, space ticks).
    Multi {
        items: Vec<ChoiceItem>,
        chosen: Vec<bool>,
        cursor: usize,
    },
    /// `key=value, key=value` (labels) or `key=value:Effect` (taints).
    Pairs(Input),
    /// Multi-line YAML.
    Yaml(TextArea),
}

#[derive(Debug, Clone)]
pub struct Field {
    /// How the owner finds the field.
    pub key: &'static str,
    pub label: &'static str,
    /// The document path whose problems this field shows (`metadata.name`); problems at
    /// deeper paths (`….labels.tier`) land here too.
    pub path: String,
    /// One line of help shown while the field has the focus.
    pub hint: &'static str,
    pub kind: FieldKind,
    /// The first problem reported for this field by the last validation.
    pub error: Option<String>,
    /// Errors show only once the operator typed into the field or left it: an untouched
    /// empty form is not a wall of red.
    pub touched: bool,
}

impl Field {
    fn new(key: &'static str, label: &'static str, path: &str, kind: FieldKind) -> Self {
        Field {
            key,
            label,
            path: path.to_string(),
            hint: "",
            kind,
            error: None,
            touched: false,
        }
    }

    pub fn text(key: &'static str, label: &'static str, path: &str, value: &str) -> Self {
        Field::new(
            key,
            label,
            path,
            FieldKind::Text(Input::new(value.to_string())),
        )
    }

    pub fn secret(key: &'static str, label: &'static str, path: &str) -> Self {
        Field::new(key, label, path, FieldKind::Secret(Secret::default()))
    }

    pub fn number(
        key: &'static str,
        label: &'static str,
        path: &str,
        value: u64,
        unit: &'static str,
    ) -> Self {
        Field::new(
            key,
            label,
            path,
            FieldKind::Number {
                input: Input::new(value.to_string()),
                unit,
            },
        )
    }

    pub fn toggle(key: &'static str, label: &'static str, path: &str, on: bool) -> Self {
        Field::new(key, label, path, FieldKind::Toggle(on))
    }

    pub fn choice(
        key: &'static str,
        label: &'static str,
        path: &str,
        items: Vec<ChoiceItem>,
        selected: usize,
    ) -> Self {
        Field::new(key, label, path, FieldKind::Choice { items, selected })
    }

    pub fn multi(
        key: &'static str,
        label: &'static str,
        path: &str,
        items: Vec<ChoiceItem>,
        chosen: &[String],
    ) -> Self {
        let flags = items.iter().map(|i| chosen.contains(&i.value)).collect();
        Field::new(
            key,
            label,
            path,
            FieldKind::Multi {
                items,
                chosen: flags,
                cursor: 0,
            },
        )
    }

    pub fn pairs(key: &'static str, label: &'static str, path: &str, value: &str) -> Self {
        Field::new(
            key,
            label,
            path,
            FieldKind::Pairs(Input::new(value.to_string())),
        )
    }

    pub fn yaml(key: &'static str, label: &'static str, path: &str, value: &str) -> Self {
        Field::new(key, label, path, FieldKind::Yaml(TextArea::new(value)))
    }

    pub fn with_hint(mut self, hint: &'static str) -> Self {
        self.hint = hint;
        self
    }

    /// The error to draw: only once touched.
    pub fn visible_error(&self) -> Option<&str> {
        self.error.as_deref().filter(|_| self.touched)
    }

    /// Whether a problem at `path` is about this field.
    pub fn claims(&self, path: &str) -> bool {
        !self.path.is_empty()
            && (path == self.path
                || path
                    .strip_prefix(self.path.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
    }

    /// Feeds a key to the field; `None` when the field has no use for it.
    fn edit(&mut self, key: KeyEvent) -> Option<FormEvent> {
        let plain_char = matches!(key.code, KeyCode::Char(_))
            && !key.modifiers.contains(KeyModifiers::CONTROL)
            && !key.modifiers.contains(KeyModifiers::ALT);
        match &mut self.kind {
            FieldKind::Text(input) | FieldKind::Pairs(input) | FieldKind::Number { input, .. } => {
                if matches!(key.code, KeyCode::Up | KeyCode::Down | KeyCode::Enter) {
                    return None;
                }
                let before = (input.value().to_string(), input.cursor());
                if let Some(req) = to_input_request(&Event::Key(key)) {
                    input.handle(req);
                }
                if before.0 != input.value() {
                    Some(FormEvent::Edited)
                } else if before.1 != input.cursor() {
                    Some(FormEvent::Moved)
                } else {
                    None
                }
            }
            FieldKind::Secret(secret) => match key.code {
                KeyCode::Char(c) if plain_char => {
                    secret.push(c);
                    Some(FormEvent::Edited)
                }
                KeyCode::Backspace if secret.pop() => Some(FormEvent::Edited),
                // ctrl-u clears, as in a shell: a wrong key is easier retyped than fixed blind.
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    secret.clear();
                    Some(FormEvent::Edited)
                }
                _ => None,
            },
            FieldKind::Toggle(on) => match key.code {
                KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right => {
                    *on = !*on;
                    Some(FormEvent::Edited)
                }
                _ => None,
            },
            FieldKind::Choice { items, selected } => {
                let n = items.len();
                if n == 0 {
                    return None;
                }
                let next = match key.code {
                    KeyCode::Right | KeyCode::Char(' ') => (*selected + 1) % n,
                    KeyCode::Left => (*selected + n - 1) % n,
                    KeyCode::Home => 0,
                    KeyCode::End => n - 1,
                    _ => return None,
                };
                if next == *selected {
                    return None;
                }
                *selected = next;
                Some(FormEvent::Edited)
            }
            FieldKind::Multi {
                items,
                chosen,
                cursor,
            } => {
                let n = items.len();
                if n == 0 {
                    return None;
                }
                match key.code {
                    KeyCode::Right if *cursor + 1 < n => *cursor += 1,
                    KeyCode::Left if *cursor > 0 => *cursor -= 1,
                    KeyCode::Char(' ') => {
                        chosen[*cursor] = !chosen[*cursor];
                        return Some(FormEvent::Edited);
                    }
                    _ => return None,
                }
                Some(FormEvent::Moved)
            }
            FieldKind::Yaml(area) => match area.handle(key) {
                AreaOutcome::Edited => Some(FormEvent::Edited),
                AreaOutcome::Moved => Some(FormEvent::Moved),
                AreaOutcome::LeftTop | AreaOutcome::LeftBottom | AreaOutcome::Ignored => None,
            },
        }
    }
}

/// What a key did to a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormEvent {
    /// A value changed: validate again.
    Edited,
    /// The focus or a cursor moved.
    Moved,
    /// Enter on the last field (outside a multi-line one): the owner decides (next step).
    /// Enter on any other field moves to the next one, like Tab.
    Submit,
    /// Not a form key.
    Unhandled,
}

#[derive(Debug, Clone, Default)]
pub struct Form {
    pub fields: Vec<Field>,
    pub focus: usize,
}

impl Form {
    pub fn new(fields: Vec<Field>) -> Self {
        Form { fields, focus: 0 }
    }

    pub fn focused(&self) -> Option<&Field> {
        self.fields.get(self.focus)
    }

    pub fn handle(&mut self, key: KeyEvent) -> FormEvent {
        let at_last = self.at_last_field();
        let Some(field) = self.fields.get_mut(self.focus) else {
            return FormEvent::Unhandled;
        };
        let in_area = matches!(field.kind, FieldKind::Yaml(_));
        match key.code {
            KeyCode::Tab => return self.move_focus(1),
            KeyCode::BackTab => return self.move_focus(-1),
            KeyCode::Enter if !in_area && at_last => return FormEvent::Submit,
            KeyCode::Enter if !in_area => return self.move_focus(1),
            _ => {}
        }
        if let Some(event) = field.edit(key) {
            if event == FormEvent::Edited {
                field.touched = true;
            }
            return event;
        }
        match key.code {
            KeyCode::Down => self.move_focus(1),
            KeyCode::Up => self.move_focus(-1),
            _ => FormEvent::Unhandled,
        }
    }

    /// Moves the focus by `by` fields (clamped), marking the field left as touched.
    pub fn move_focus(&mut self, by: isize) -> FormEvent {
        if self.fields.is_empty() {
            return FormEvent::Unhandled;
        }
        let last = self.fields.len() - 1;
        let next = self.focus.saturating_add_signed(by).min(last);
        if next == self.focus {
            return FormEvent::Unhandled;
        }
        self.fields[self.focus].touched = true;
        self.focus = next;
        FormEvent::Moved
    }

    pub fn at_last_field(&self) -> bool {
        self.focus + 1 >= self.fields.len()
    }

    /// Shows every field's errors (the operator tried to go on).
    pub fn touch_all(&mut self) {
        self.fields.iter_mut().for_each(|f| f.touched = true);
    }

    /// Hands each field the first problem about it; returns the problems no field claimed.
    pub fn apply_problems<'a>(&mut self, problems: &'a [Problem]) -> Vec<&'a Problem> {
        for f in &mut self.fields {
            f.error = None;
        }
        let mut unclaimed = Vec::new();
        for p in problems {
            match self.fields.iter_mut().find(|f| f.claims(&p.path)) {
                Some(f) => {
                    if f.error.is_none() {
                        f.error = Some(p.message.clone());
                    }
                }
                None => unclaimed.push(p),
            }
        }
        unclaimed
    }

    /// Whether any field has a problem (shown or not).
    pub fn has_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }

    /// Whether the operator typed anything.
    pub fn is_dirty(&self) -> bool {
        self.fields.iter().any(|f| f.touched)
    }

    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    pub fn field_mut(&mut self, key: &str) -> Option<&mut Field> {
        self.fields.iter_mut().find(|f| f.key == key)
    }

    /// The text of a text, pairs or number field (trimmed); empty when absent.
    pub fn text(&self, key: &str) -> String {
        match self.field(key).map(|f| &f.kind) {
            Some(FieldKind::Text(i) | FieldKind::Pairs(i) | FieldKind::Number { input: i, .. }) => {
                i.value().trim().to_string()
            }
            Some(FieldKind::Yaml(a)) => a.text(),
            _ => String::new(),
        }
    }

    /// The text of a field, `None` when blank.
    pub fn optional(&self, key: &str) -> Option<String> {
        Some(self.text(key)).filter(|t| !t.is_empty())
    }

    pub fn secret(&self, key: &str) -> Option<&Secret> {
        match self.field(key).map(|f| &f.kind) {
            Some(FieldKind::Secret(s)) => Some(s),
            _ => None,
        }
    }

    pub fn toggle(&self, key: &str) -> bool {
        matches!(
            self.field(key).map(|f| &f.kind),
            Some(FieldKind::Toggle(true))
        )
    }

    /// The chosen value of a choice field.
    pub fn choice(&self, key: &str) -> Option<String> {
        match self.field(key).map(|f| &f.kind) {
            Some(FieldKind::Choice { items, selected }) => {
                items.get(*selected).map(|i| i.value.clone())
            }
            _ => None,
        }
    }

    /// The ticked values of a multi-choice field, in list order.
    pub fn chosen(&self, key: &str) -> Vec<String> {
        match self.field(key).map(|f| &f.kind) {
            Some(FieldKind::Multi { items, chosen, .. }) => items
                .iter()
                .zip(chosen)
                .filter(|(_, c)| **c)
                .map(|(i, _)| i.value.clone())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Replaces a choice or multi-choice field's items (fresh from MAAS), keeping what was
    /// picked when it is still offered.
    pub fn set_items(&mut self, key: &str, new_items: Vec<ChoiceItem>) {
        let Some(field) = self.field_mut(key) else {
            return;
        };
        match &mut field.kind {
            FieldKind::Choice { items, selected } => {
                let current = items.get(*selected).map(|i| i.value.clone());
                *selected = current
                    .and_then(|v| new_items.iter().position(|i| i.value == v))
                    .unwrap_or(0);
                *items = new_items;
            }
            FieldKind::Multi {
                items,
                chosen,
                cursor,
            } => {
                let was: Vec<String> = items
                    .iter()
                    .zip(chosen.iter())
                    .filter(|(_, c)| **c)
                    .map(|(i, _)| i.value.clone())
                    .collect();
                // A value picked before that MAAS no longer lists stays, so the validator can
                // say it is gone instead of it silently disappearing.
                let mut merged = new_items;
                for v in &was {
                    if !merged.iter().any(|i| &i.value == v) {
                        merged.push(ChoiceItem::new(v.clone()));
                    }
                }
                *chosen = merged.iter().map(|i| was.contains(&i.value)).collect();
                *cursor = (*cursor).min(merged.len().saturating_sub(1));
                *items = merged;
            }
            _ => {}
        }
    }

    /// Picks the item whose value is `value` in a choice field, if listed.
    pub fn select(&mut self, key: &str, value: &str) {
        if let Some(Field {
            kind: FieldKind::Choice { items, selected },
            ..
        }) = self.field_mut(key)
        {
            if let Some(i) = items.iter().position(|i| i.value == value) {
                *selected = i;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn form() -> Form {
        Form::new(vec![
            Field::text("name", "Name", "metadata.name", ""),
            Field::choice(
                "mode",
                "Mode",
                "spec.mode",
                vec![ChoiceItem::new("vip"), ChoiceItem::new("dns")],
                0,
            ),
            Field::multi(
                "zones",
                "Zones",
                "spec.nodePools[0].zones",
                vec![
                    ChoiceItem::counted("az-1", 3),
                    ChoiceItem::counted("az-2", 0),
                ],
                &[],
            ),
            Field::secret("key", "Key", "spec.apiKey"),
        ])
    }

    #[test]
    fn enter_on_the_last_field_submits() {
        let mut f = form();
        let last = f.fields.len() - 1;
        f.move_focus(last as isize);
        assert!(f.at_last_field());
        assert_eq!(f.handle(k(KeyCode::Enter)), FormEvent::Submit);
    }

    #[test]
    fn keys_edit_and_move() {
        let mut f = form();
        assert_eq!(f.handle(k(KeyCode::Char('a'))), FormEvent::Edited);
        assert_eq!(f.text("name"), "a");
        // Enter before the last field moves on, like Tab.
        assert_eq!(f.handle(k(KeyCode::Enter)), FormEvent::Moved);
        assert!(f.fields[0].touched, "leaving a field touches it");
        f.handle(k(KeyCode::Right));
        assert_eq!(f.choice("mode").as_deref(), Some("dns"));
        f.handle(k(KeyCode::Down));
        f.handle(k(KeyCode::Right));
        f.handle(k(KeyCode::Char(' ')));
        assert_eq!(f.chosen("zones"), vec!["az-2".to_string()]);
        f.handle(k(KeyCode::Tab));
        for c in "s3cr:et".chars() {
            f.handle(k(KeyCode::Char(c)));
        }
        assert_eq!(f.secret("key").unwrap().expose(), "s3cr:et");
        assert!(
            !format!("{f:?}").contains("s3cr"),
            "Debug never shows the secret"
        );
        assert_eq!(f.handle(k(KeyCode::Tab)), FormEvent::Unhandled, "clamped");
        f.handle(k(KeyCode::BackTab));
        assert_eq!(f.focus, 2);
    }

    #[test]
    fn problems_land_on_their_fields() {
        let mut f = form();
        let problems = vec![
            Problem::new("metadata.name", "bad name"),
            Problem::new("metadata.name", "second, ignored"),
            Problem::new("spec.nodePools[0].zones[1]", "no such zone"),
            Problem::new("spec.modeX", "not ours"),
        ];
        let rest = f.apply_problems(&problems);
        assert_eq!(rest.len(), 1);
        assert_eq!(f.fields[0].error.as_deref(), Some("bad name"));
        assert_eq!(f.fields[0].visible_error(), None, "untouched");
        f.touch_all();
        assert_eq!(f.fields[2].visible_error(), Some("no such zone"));
    }

    #[test]
    fn fresh_items_keep_the_picks() {
        let mut f = form();
        f.fields[2].touched = true;
        f.focus = 2;
        f.handle(k(KeyCode::Char(' ')));
        f.set_items("zones", vec![ChoiceItem::counted("az-3", 1)]);
        assert_eq!(f.chosen("zones"), vec!["az-1".to_string()]);
        f.set_items("mode", vec![ChoiceItem::new("dns")]);
        assert_eq!(f.choice("mode").as_deref(), Some("dns"));
    }
}
