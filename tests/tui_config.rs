//! Themes and keymaps loaded from the config dir: good files apply, bad ones are reported
//! with the file and the fix, and never take the console down.

use kubemaas::tui::keymap::{Action, Keymap, KeymapWarning};
use kubemaas::tui::theme::{Theme, ThemeError, TOKEN_NAMES};
use ratatui::style::{Color, Modifier};
use std::fs;

fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("themes")).unwrap();
    dir
}

#[test]
fn builtin_themes_load_by_name() {
    for name in ["dark", "light", "high-contrast"] {
        let theme = Theme::load(name, None).unwrap();
        assert_eq!(theme.name, name);
    }
    assert_eq!(Theme::builtin_names().len(), 3);
    assert_ne!(
        Theme::load("dark", None).unwrap(),
        Theme::load("light", None).unwrap()
    );
    assert!(TOKEN_NAMES.contains(&"status_failed"));
}

#[test]
fn a_user_file_patches_the_builtin_theme_token_by_token() {
    let dir = config_dir();
    fs::write(
        dir.path().join("themes/dark.yaml"),
        "tokens:\n  danger: { fg: \"#ff8800\", modifiers: [underlined] }\n  selection: { fg: black, bg: 214 }\n",
    )
    .unwrap();
    let theme = Theme::load("dark", Some(dir.path())).unwrap();
    assert_eq!(theme.danger.fg, Some(Color::Rgb(0xff, 0x88, 0x00)));
    assert!(theme.danger.add_modifier.contains(Modifier::UNDERLINED));
    assert_eq!(theme.selection.bg, Some(Color::Indexed(214)));
    // Untouched tokens keep the built-in values.
    assert_eq!(theme.ok, Theme::builtin("dark").unwrap().ok);
}

#[test]
fn a_new_theme_name_starts_from_dark() {
    let dir = config_dir();
    fs::write(
        dir.path().join("themes/prod.yaml"),
        "name: prod\ntokens:\n  title: { fg: white, bg: red, modifiers: [bold] }\n",
    )
    .unwrap();
    let theme = Theme::load("prod", Some(dir.path())).unwrap();
    assert_eq!(theme.name, "prod");
    assert_eq!(theme.title.bg, Some(Color::Red));
    assert_eq!(
        theme.status_ready,
        Theme::builtin("dark").unwrap().status_ready
    );
}

#[test]
fn bad_theme_files_say_what_and_where() {
    let dir = config_dir();
    let cases = [
        (
            "tokens:\n  dangerr: { fg: red }\n",
            "unknown token `dangerr`",
        ),
        (
            "tokens:\n  danger: { fg: crimson }\n",
            "unknown colour `crimson`",
        ),
        ("tokens:\n  danger: { fg: \"#12\" }\n", "not #rrggbb"),
        (
            "tokens:\n  danger: { fg: red, modifiers: [blink] }\n",
            "unknown modifier `blink`",
        ),
        ("tokens:\n  danger: { colour: red }\n", "unknown field"),
        ("tokens: [", "expected a map"),
        ("tokens:\n  danger: { fg: red\n", "line"),
    ];
    for (text, expected) in cases {
        fs::write(dir.path().join("themes/dark.yaml"), text).unwrap();
        let err = Theme::load("dark", Some(dir.path())).unwrap_err();
        assert!(matches!(err, ThemeError::Invalid { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(expected), "{text:?}: {msg}");
        assert!(msg.contains("themes/dark.yaml"), "{msg}");
        assert!(msg.contains("delete it"), "the fix is named: {msg}");
    }
}

#[test]
fn unknown_theme_names_list_the_choices() {
    let dir = config_dir();
    let err = Theme::load("solarized", Some(dir.path())).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ThemeError::Unknown { .. }));
    assert!(msg.contains("dark, light, high-contrast"), "{msg}");
    assert!(msg.contains("themes/solarized.yaml"), "{msg}");
}

#[test]
fn keymap_file_rebinds_actions() {
    let dir = config_dir();
    fs::write(
        dir.path().join("keymap.yaml"),
        "# mine\nquit: [Q, ctrl-q]\nrefresh: f5\nsort_next: shift-o\n",
    )
    .unwrap();
    let (keymap, warnings) = Keymap::load(Some(dir.path()));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(keymap.label(Action::Quit), "Q/ctrl-q");
    assert_eq!(keymap.label(Action::Refresh), "f5");
    assert_eq!(keymap.label(Action::SortNext), "O");
    // Others keep their defaults.
    assert_eq!(keymap.label(Action::Help), "?");
}

#[test]
fn missing_or_empty_keymap_files_are_defaults() {
    let dir = config_dir();
    let (keymap, warnings) = Keymap::load(Some(dir.path()));
    assert!(warnings.is_empty());
    assert_eq!(keymap, Keymap::default());
    fs::write(dir.path().join("keymap.yaml"), "# nothing yet\n").unwrap();
    let (keymap, warnings) = Keymap::load(Some(dir.path()));
    assert!(warnings.is_empty());
    assert_eq!(keymap, Keymap::default());
}

#[test]
fn bad_keymap_entries_are_reported_and_skipped() {
    let dir = config_dir();
    fs::write(
        dir.path().join("keymap.yaml"),
        "launch_missiles: x\ndown: [n, hyper-k]\nup: []\nhelp: { a: b }\ntop: [t]\nbottom: [t]\n",
    )
    .unwrap();
    let (keymap, warnings) = Keymap::load(Some(dir.path()));
    let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, KeymapWarning::UnknownAction { action, .. } if action == "launch_missiles")),
        "{texts:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, KeymapWarning::BadKey { action, .. } if action == "down")),
        "{texts:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, KeymapWarning::Unbound { action, .. } if action == "up")),
        "{texts:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, KeymapWarning::BadKey { action, .. } if action == "help")),
        "{texts:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| matches!(w, KeymapWarning::Conflict { first, second, .. } if first == "top" && second == "bottom")),
        "{texts:?}"
    );
    // The good parts still apply, the bad ones leave the defaults.
    assert_eq!(keymap.label(Action::Down), "n");
    assert_eq!(keymap.label(Action::Up), "↑/k");
    assert_eq!(keymap.label(Action::Help), "?");
    assert_eq!(keymap.label(Action::Bottom), "t");
    assert_eq!(keymap.label(Action::Top), "", "top lost t to bottom");
    for t in &texts {
        assert!(t.contains("keymap.yaml"), "the file is named: {t}");
    }
}

#[test]
fn a_keymap_that_is_not_yaml_is_one_warning() {
    let dir = config_dir();
    fs::write(dir.path().join("keymap.yaml"), "quit: [q\n").unwrap();
    let (keymap, warnings) = Keymap::load(Some(dir.path()));
    assert_eq!(keymap, Keymap::default());
    assert_eq!(warnings.len(), 1);
    assert!(matches!(warnings[0], KeymapWarning::Unreadable { .. }));
    assert!(warnings[0].to_string().contains("quit: [q, ctrl-c]"));
}

#[test]
fn theme_names_cannot_point_outside_the_themes_dir() {
    let dir = config_dir();
    fs::write(dir.path().join("evil.yaml"), "tokens: {}\n").unwrap();
    for name in ["../evil", "", "a/b", "dark.yaml"] {
        let err = Theme::load(name, Some(dir.path())).unwrap_err();
        assert!(matches!(err, ThemeError::BadName(_)), "{name}: {err}");
    }
}
