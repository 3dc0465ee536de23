//! Key bindings as data: every action has a name, a description and its keys. Defaults live
//! here; `<config_dir>/keymap.yaml` rebinds actions by name. The help overlay and the footer hint
//! bar are generated from the same table, so they can never disagree with what the keys do.
//!
//! ```yaml
//! # keymap.yaml: an action name, then one key or a list of keys (replacing the defaults)
//! quit: [q, ctrl-c]
//! down: [j, down, ctrl-n]
//! sort_next: s
//! ```
//!
//! A bad entry (unknown action, unreadable key) is reported and skipped; the rest still applies.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;
use std::path::Path;

macro_rules! actions {
    ($($variant:ident = $name:literal, $footer:expr, $desc:literal, [$($key:literal),*];)*) => {
        /// Something a key can do in the normal (table) mode.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action { $($variant),* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The name used in keymap.yaml.
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => $name),* }
            }

            /// The short label in the footer hint bar, if the action is shown there.
            pub fn footer_label(self) -> Option<&'static str> {
                match self { $(Action::$variant => $footer),* }
            }

            /// What the action does, for the help overlay.
            pub fn description(self) -> &'static str {
                match self { $(Action::$variant => $desc),* }
            }

            fn default_keys(self) -> &'static [&'static str] {
                match self { $(Action::$variant => &[$($key),*]),* }
            }
        }
    };
}

actions! {
    Help = "help", Some("help"), "Show this help", ["?"];
    Command = "command", Some("cmd"), "Command line (:m, :q …)", [":"];
    Filter = "filter", Some("filter"), "Filter (!text excludes)", ["/"];
    Back = "back", Some("back"), "Back / clear the filter", ["esc"];
    Quit = "quit", Some("quit"), "Quit kubemaas", ["q", "ctrl-c"];
    Up = "up", None, "Move up", ["up", "k"];
    Down = "down", None, "Move down", ["down", "j"];
    PageUp = "page_up", None, "Page up", ["pageup", "ctrl-b"];
    PageDown = "page_down", None, "Page down", ["pagedown", "ctrl-f"];
    Top = "top", None, "First row", ["home", "g"];
    Bottom = "bottom", None, "Last row", ["end", "G"];
    SortNext = "sort_next", Some("sort"), "Sort by the next column", ["s"];
    SortReverse = "sort_reverse", Some("reverse"), "Reverse the sort order", ["S"];
    Refresh = "refresh", Some("refresh"), "Reload from MAAS now", ["ctrl-r"];
    Redraw = "redraw", None, "Repaint the whole screen", ["ctrl-l"];
    New = "new", Some("new"), "New cluster / cloud account / gateway pairing", ["n"];
    Open = "open", Some("open"), "Open the selected row", ["enter"];
    Delete = "delete", Some("delete"), "Delete the account (asks)", ["ctrl-d"];
    DeleteCluster = "delete_cluster", Some("delete"), "Delete the cluster (asks)", ["d"];
    Abort = "abort", Some("abort"), "Abort a cluster being built", ["a"];
    Resize = "resize", Some("resize"), "Resize a node pool", ["r"];
    Kubeconfig = "kubeconfig", Some("kubeconfig"), "Write the kubeconfig to a file", ["K"];
    Unpair = "unpair", Some("unpair"), "Unpair the gateway (asks)", ["u"];
    Upgrade = "upgrade", Some("upgrade"), "Upgrade the gateway (asks)", ["U"];
}

/// One key with its modifiers, as written in keymap.yaml (`q`, `G`, `ctrl-r`, `pagedown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    code: KeyCode,
    ctrl: bool,
    alt: bool,
}

impl KeyChord {
    /// Parses `ctrl-x`, `alt-x`, `shift-x` (= `X`), named keys and single characters.
    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let raw = text.trim();
        if raw.is_empty() {
            return Err("an empty key".into());
        }
        let (mut ctrl, mut alt, mut shift) = (false, false, false);
        let mut rest = raw;
        // A lone "-" is the minus key, not a separator.
        while let Some((prefix, tail)) = rest.split_once('-').filter(|(_, t)| !t.is_empty()) {
            match prefix.to_ascii_lowercase().as_str() {
                "ctrl" | "c" => ctrl = true,
                "alt" | "a" | "meta" | "m" => alt = true,
                "shift" | "s" => shift = true,
                other => {
                    return Err(format!(
                        "`{raw}`: unknown modifier `{other}` (use ctrl-, alt- or shift-)"
                    ))
                }
            }
            rest = tail;
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "esc" | "escape" => KeyCode::Esc,
            "enter" | "return" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            lower => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(if shift { c.to_ascii_uppercase() } else { c }),
                    _ => match lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                        Some(n) if (1..=12).contains(&n) => KeyCode::F(n),
                        _ => {
                            return Err(format!(
                                "`{raw}` is not a key (use a character, ctrl-x, alt-x, f1..f12, esc, enter, tab, up, down, left, right, home, end, pageup, pagedown, space)"
                            ))
                        }
                    },
                }
            }
        };
        // ctrl-letters arrive lowercase whatever shift says.
        let code = match code {
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            c => c,
        };
        Ok(KeyChord { code, ctrl, alt })
    }

    /// The chord a terminal key event is, with shift folded into the character.
    pub fn from_event(key: &KeyEvent) -> KeyChord {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let code = match key.code {
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            c => c,
        };
        KeyChord {
            code,
            ctrl,
            alt: key.modifiers.contains(KeyModifiers::ALT),
        }
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::Insert => f.write_str("insert"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A keymap.yaml problem: reported to the operator, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeymapWarning {
    #[error("{path}: not a keymap ({detail}); using the default keys. Write `action: [key, …]` lines, e.g. `quit: [q, ctrl-c]`")]
    Unreadable { path: String, detail: String },
    #[error("{path}: unknown action `{action}` skipped (actions: {known})")]
    UnknownAction {
        path: String,
        action: String,
        known: String,
    },
    #[error("{path}: {action}: {detail}; that key is skipped")]
    BadKey {
        path: String,
        action: String,
        detail: String,
    },
    #[error("{path}: `{key}` is bound to both {first} and {second}; {second} keeps it")]
    Conflict {
        path: String,
        key: String,
        first: String,
        second: String,
    },
    #[error("{path}: {action} would have no key left; its default keys are kept")]
    Unbound { path: String, action: String },
}

/// Actions and their keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<(Action, Vec<KeyChord>)>,
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = Action::ALL
            .iter()
            .map(|a| {
                // The default key texts are ours and all parse (tested).
                let keys = a
                    .default_keys()
                    .iter()
                    .filter_map(|k| KeyChord::parse(k).ok())
                    .collect();
                (*a, keys)
            })
            .collect();
        Keymap { bindings }
    }
}

impl Keymap {
    /// The action bound to a key event, if any.
    pub fn action_for(&self, key: &KeyEvent) -> Option<Action> {
        let chord = KeyChord::from_event(key);
        self.bindings
            .iter()
            .find(|(_, keys)| keys.contains(&chord))
            .map(|(a, _)| *a)
    }

    /// The keys of an action (empty if the user unbound it).
    pub fn keys(&self, action: Action) -> &[KeyChord] {
        self.bindings
            .iter()
            .find(|(a, _)| *a == action)
            .map_or(&[], |(_, k)| k.as_slice())
    }

    /// Every action with its keys, in help order.
    pub fn entries(&self) -> impl Iterator<Item = (Action, &[KeyChord])> {
        self.bindings.iter().map(|(a, k)| (*a, k.as_slice()))
    }

    /// The keys of an action as a label, e.g. "q/ctrl-c".
    pub fn label(&self, action: Action) -> String {
        self.keys(action)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Defaults patched with `<config_dir>/keymap.yaml` when it exists.
    pub fn load(config_dir: Option<&Path>) -> (Keymap, Vec<KeymapWarning>) {
        let Some(path) = config_dir.map(|d| d.join("keymap.yaml")) else {
            return (Keymap::default(), Vec::new());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Keymap::default().patched(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Keymap::default(), Vec::new()),
            Err(e) => (
                Keymap::default(),
                vec![KeymapWarning::Unreadable {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                }],
            ),
        }
    }

    /// This keymap with the bindings of a keymap.yaml text applied; `path` names it in warnings.
    pub fn patched(mut self, text: &str, path: &Path) -> (Keymap, Vec<KeymapWarning>) {
        let path_s = path.display().to_string();
        let mut warnings = Vec::new();
        let parsed: Result<Option<serde_yaml::Mapping>, _> = serde_yaml::from_str(text);
        let map = match parsed {
            Ok(Some(m)) => m,
            Ok(None) => return (self, warnings), // an empty file changes nothing
            Err(e) => {
                warnings.push(KeymapWarning::Unreadable {
                    path: path_s,
                    detail: e.to_string(),
                });
                return (self, warnings);
            }
        };
        let known = || {
            Action::ALL
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut changed: Vec<Action> = Vec::new();
        for (k, v) in map {
            let Some(name) = k.as_str() else {
                warnings.push(KeymapWarning::UnknownAction {
                    path: path_s.clone(),
                    action: format!("{k:?}"),
                    known: known(),
                });
                continue;
            };
            let Some(action) = Action::ALL.iter().copied().find(|a| a.name() == name) else {
                warnings.push(KeymapWarning::UnknownAction {
                    path: path_s.clone(),
                    action: name.to_string(),
                    known: known(),
                });
                continue;
            };
            let texts: Vec<String> = match v {
                serde_yaml::Value::String(s) => vec![s],
                serde_yaml::Value::Sequence(seq) => seq
                    .into_iter()
                    .filter_map(|item| match item {
                        serde_yaml::Value::String(s) => Some(s),
                        serde_yaml::Value::Number(n) => Some(n.to_string()),
                        other => {
                            warnings.push(KeymapWarning::BadKey {
                                path: path_s.clone(),
                                action: name.to_string(),
                                detail: format!("{other:?} is not a key"),
                            });
                            None
                        }
                    })
                    .collect(),
                serde_yaml::Value::Number(n) => vec![n.to_string()],
                other => {
                    warnings.push(KeymapWarning::BadKey {
                        path: path_s.clone(),
                        action: name.to_string(),
                        detail: format!("{other:?} is not a key or a list of keys"),
                    });
                    continue;
                }
            };
            let mut keys = Vec::new();
            for t in texts {
                match KeyChord::parse(&t) {
                    Ok(c) if !keys.contains(&c) => keys.push(c),
                    Ok(_) => {}
                    Err(detail) => warnings.push(KeymapWarning::BadKey {
                        path: path_s.clone(),
                        action: name.to_string(),
                        detail,
                    }),
                }
            }
            if keys.is_empty() {
                warnings.push(KeymapWarning::Unbound {
                    path: path_s.clone(),
                    action: name.to_string(),
                });
                continue;
            }
            // A key the user gives to this action leaves whichever action had it before.
            for (other, other_keys) in &mut self.bindings {
                if *other == action {
                    continue;
                }
                let before = other_keys.len();
                other_keys.retain(|c| !keys.contains(c));
                if other_keys.len() != before && changed.contains(other) {
                    warnings.push(KeymapWarning::Conflict {
                        path: path_s.clone(),
                        key: keys
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("/"),
                        first: other.name().to_string(),
                        second: name.to_string(),
                    });
                }
            }
            if let Some((_, slot)) = self.bindings.iter_mut().find(|(a, _)| *a == action) {
                *slot = keys;
            }
            changed.push(action);
        }
        (self, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_key_parses_and_none_is_shared() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            for k in a.default_keys() {
                let c = KeyChord::parse(k).unwrap_or_else(|e| panic!("{k}: {e}"));
                assert!(seen.insert(c), "{k} bound twice");
            }
        }
    }

    #[test]
    fn chords_parse_and_print() {
        let c = KeyChord::parse("ctrl-R").unwrap();
        assert_eq!(c.to_string(), "ctrl-r");
        assert_eq!(
            KeyChord::parse("shift-g").unwrap(),
            KeyChord::parse("G").unwrap()
        );
        assert_eq!(KeyChord::parse("-").unwrap().to_string(), "-");
        assert_eq!(KeyChord::parse("f5").unwrap().to_string(), "f5");
        assert!(KeyChord::parse("hyper-x").is_err());
        assert!(KeyChord::parse("banana").is_err());
        assert!(KeyChord::parse("").is_err());
    }
}
