//! Snapshots of the console's screens at 80x24 and 120x40, driven through `update` like the
//! real loop, with the colours of key cells checked (text snapshots ignore colour).

mod tui_support;

use crossterm::event::KeyCode;
use kubemaas::maas::NodeStatus;
use kubemaas::tui::app::{update, Connection, Msg, State};
use kubemaas::tui::source::SourceError;
use kubemaas::tui::theme::{ColorSupport, Theme};
use ratatui::style::{Color, Modifier};
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn snapshot(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

#[test]
fn machines_screen() {
    for size in SIZES {
        let state = loaded(60, size);
        snapshot("machines", &state);
    }
}

#[test]
fn machines_screen_colours() {
    let state = loaded(60, (120, 40));
    let theme = &state.theme;
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    // node-0003 is in Failed deployment: the status cell carries the status_failed token.
    let (x, y) = find(buf, "Failed deployment").expect("a failed machine is listed");
    assert_eq!(buf[(x, y)].fg, theme.status_failed.fg.unwrap());
    assert!(buf[(x, y)].modifier.contains(Modifier::BOLD));
    assert_eq!(
        theme.status(NodeStatus::FailedDeployment),
        theme.status_failed
    );
    // A Ready machine is green, a Deploying one is the busy colour.
    let (_, y) = find(buf, "node-0009").unwrap();
    let x = row_text(buf, y).chars().position(|c| c == 'R').unwrap() as u16;
    assert_eq!(buf[(x, y)].fg, Color::Green);
    let (x, y) = find(buf, "Deploying").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.status_busy.fg.unwrap());
    // The selected (first) row is one bar in the selection style, its status included.
    let (x, y) = find(buf, "node-0000").unwrap();
    assert_eq!(buf[(x, y)].bg, theme.selection.bg.unwrap());
    let status_x = row_text(buf, y).chars().position(|c| c == 'R').unwrap() as u16;
    assert_eq!(buf[(status_x, y)].fg, theme.selection.fg.unwrap());
    assert_eq!(buf[(status_x, y)].bg, theme.selection.bg.unwrap());
    let (x2, y2) = find(buf, "node-0001").unwrap();
    assert_ne!(buf[(x2, y2)].bg, theme.selection.bg.unwrap());
    // Column headers use the header token.
    let (x, y) = find(buf, "HOSTNAME").unwrap();
    assert_eq!(buf[(x, y)].fg, theme.header.fg.unwrap());
}

#[test]
fn machines_screen_scrolled_to_the_end_of_5000_rows() {
    let mut state = loaded(5000, (120, 40));
    press(&mut state, KeyCode::End);
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    assert!(find(buf, "[5000/5000]").is_some());
    let (_, y) = find(buf, "node-4999").expect("the last row is visible");
    // The last machine is on the last table row, just above the bottom border and footer.
    assert_eq!(y, 40 - 3);
    assert_eq!(buf[(1, y)].bg, state.theme.selection.bg.unwrap());
    assert!(find(buf, "node-4965").is_some());
    assert!(
        find(buf, "node-4964").is_none(),
        "only the visible window is drawn"
    );
}

#[test]
fn help_overlay() {
    for size in SIZES {
        let mut state = loaded(60, size);
        type_text(&mut state, "?");
        assert!(state.help_open);
        snapshot("help", &state);
    }
}

#[test]
fn command_mode() {
    for size in SIZES {
        let mut state = loaded(60, size);
        type_text(&mut state, ":clu");
        snapshot("command", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let (x, y) = find(buf, ":clu").unwrap();
        assert_eq!(y, size.1 - 1, "the prompt is in the footer");
        assert_eq!(buf[(x, y)].fg, state.theme.prompt.fg.unwrap());
    }
}

#[test]
fn filter_mode() {
    for size in SIZES {
        let mut state = loaded(60, size);
        type_text(&mut state, "/gpu");
        snapshot("filter", &state);
        let expected = fleet(60)
            .iter()
            .filter(|r| r.pool == "gpu" || r.tags.iter().any(|t| t == "gpu"))
            .count();
        assert_eq!(state.machines.shown(), expected);
    }
}

#[test]
fn filter_without_matches_says_so() {
    let mut state = loaded(60, (80, 24));
    type_text(&mut state, "/zzz");
    press(&mut state, KeyCode::Enter);
    let terminal = draw(&state);
    assert!(find(buffer(&terminal), "No machine matches /zzz").is_some());
}

#[test]
fn too_small_terminal() {
    for size in [(50, 10), (79, 11)] {
        let state = loaded(60, size);
        snapshot("too_small", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let (_, y) = find(buf, "kubemaas needs 60x12").expect("the size needed is shown");
        assert_eq!(y, size.1 / 2, "the line is centred");
        assert_eq!(buf[(0, 0)].symbol(), " ");
    }
}

#[test]
fn no_maas_screen() {
    for size in SIZES {
        let mut opts = options(size);
        opts.connection = Connection::NotConfigured;
        let state = State::new(opts);
        snapshot("no_maas", &state);
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        assert!(find(buf, "kubemaas --demo").is_some());
        assert!(find(buf, "MAAS_API_KEY").is_some());
    }
}

#[test]
fn loading_and_failure_states() {
    let state = State::new(options((80, 24)));
    snapshot("loading", &state);
    let mut state = State::new(options((80, 24)));
    update(
        &mut state,
        Msg::Identified(Err(SourceError {
            message: "cannot reach MAAS at http://127.0.0.1:9/MAAS/ (connection refused)".into(),
        })),
    );
    update(
        &mut state,
        Msg::MachinesLoaded(Err(SourceError {
            message: "cannot reach MAAS at http://127.0.0.1:9/MAAS/ (connection refused)".into(),
        })),
    );
    snapshot("unreachable", &state);
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    let (x, y) = find(buf, "MAAS unreachable").unwrap();
    assert_eq!(buf[(x, y)].fg, state.theme.danger.fg.unwrap());
}

#[test]
fn readonly_badge() {
    let mut opts = options((80, 24));
    opts.readonly = true;
    let mut state = State::new(opts);
    update(&mut state, Msg::Identified(Ok(identity())));
    update(&mut state, Msg::MachinesLoaded(Ok(fleet(10))));
    snapshot("readonly", &state);
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    let (x, y) = find(buf, "READ-ONLY").unwrap();
    assert_eq!(y, 23);
    assert_eq!(buf[(x, y)].bg, state.theme.readonly_badge.bg.unwrap());
}

#[test]
fn no_color_draws_without_colour() {
    let mut state = loaded(60, (120, 40));
    state.theme = Theme::builtin("dark")
        .unwrap()
        .for_terminal(ColorSupport::NoColor);
    let terminal = draw(&state);
    let buf = buffer(&terminal);
    for cell in buf.content() {
        assert_eq!(cell.fg, Color::Reset, "a colour under NO_COLOR");
        assert_eq!(cell.bg, Color::Reset, "a colour under NO_COLOR");
    }
    // Meaning survives: the selection is reversed, failures are bold and underlined.
    let (x, y) = find(buf, "node-0000").unwrap();
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    let (x, y) = find(buf, "Failed deployment").unwrap();
    assert!(buf[(x, y)]
        .modifier
        .contains(Modifier::BOLD | Modifier::UNDERLINED));
}

#[test]
fn sixteen_colour_terminals_get_ansi_colours_only() {
    let mut theme = Theme::builtin("dark").unwrap();
    theme.selection = theme.selection.bg(Color::Rgb(30, 30, 200));
    let theme = theme.for_terminal(ColorSupport::Ansi16);
    assert_eq!(theme.selection.bg, Some(Color::Blue));
    let mut state = loaded(20, (80, 24));
    state.theme = theme;
    let terminal = draw(&state);
    for cell in buffer(&terminal).content() {
        for c in [cell.fg, cell.bg] {
            assert!(
                !matches!(c, Color::Rgb(..) | Color::Indexed(_)),
                "{c:?} on a 16-colour terminal"
            );
        }
    }
}

#[test]
fn every_builtin_theme_draws_statuses_distinctly() {
    for name in Theme::builtin_names() {
        let mut state = loaded(20, (120, 40));
        state.theme = Theme::builtin(name).unwrap();
        let terminal = draw(&state);
        let buf = buffer(&terminal);
        let style_of = |text: &str| {
            let (x, y) = find(buf, text).unwrap_or_else(|| panic!("{name}: no {text}"));
            (buf[(x, y)].fg, buf[(x, y)].modifier)
        };
        // Row 9 is Ready and not selected (row 0 is, and is drawn as the selection bar).
        let (_, y9) = find(buf, "node-0009").unwrap();
        let x9 = row_text(buf, y9).chars().position(|c| c == 'R').unwrap() as u16;
        let ready = (buf[(x9, y9)].fg, buf[(x9, y9)].modifier);
        let failed = style_of("Failed deployment");
        let busy = style_of("Deploying");
        assert_ne!(ready, failed, "{name}: ready and failed look the same");
        assert_ne!(busy, failed, "{name}: busy and failed look the same");
        assert_eq!(failed.0, state.theme.status_failed.fg.unwrap(), "{name}");
    }
}
