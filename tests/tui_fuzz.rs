//! Any sequence of keys, resizes and data arrivals keeps the console consistent and drawable.

mod tui_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kubemaas::tui::app::{table_rows, update, Msg};
use kubemaas::tui::source::SourceError;
use proptest::prelude::*;
use tui_support::*;

fn msg() -> impl Strategy<Value = Msg> {
    let keys = prop::sample::select(vec![
        KeyCode::Char('j'),
        KeyCode::Char('k'),
        KeyCode::Char('g'),
        KeyCode::Char('G'),
        KeyCode::Char('s'),
        KeyCode::Char('S'),
        KeyCode::Char('/'),
        KeyCode::Char(':'),
        KeyCode::Char('?'),
        KeyCode::Char('!'),
        KeyCode::Char('m'),
        KeyCode::Char('c'),
        KeyCode::Char('1'),
        KeyCode::Char('q'),
        KeyCode::Esc,
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::Backspace,
        KeyCode::PageDown,
        KeyCode::PageUp,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Left,
    ]);
    prop_oneof![
        6 => keys.prop_map(|k| {
            let mods = match k {
                KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
                _ => KeyModifiers::NONE,
            };
            Msg::Key(KeyEvent::new(k, mods))
        }),
        1 => (0u16..200, 0u16..60).prop_map(|(w, h)| Msg::Resize(w, h)),
        1 => (0usize..80).prop_map(|n| Msg::MachinesLoaded(Ok(fleet(n)))),
        1 => Just(Msg::MachinesLoaded(Err(SourceError { message: "MAAS is down".into() }))),
        1 => Just(Msg::Tick),
        1 => (-5i8..5).prop_map(Msg::Scroll),
    ]
}

proptest! {
    // A fixed seed keeps the run deterministic; no failure file is written into the tree.
    #![proptest_config(ProptestConfig {
        cases: 300,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6b75_6265),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_console_stays_consistent(msgs in prop::collection::vec(msg(), 1..60)) {
        let mut state = loaded(40, (80, 24));
        for m in msgs {
            update(&mut state, m);
            if state.quit {
                break;
            }
            let t = &state.machines;
            if t.shown() == 0 {
                prop_assert_eq!(t.selected(), 0);
            } else {
                prop_assert!(t.selected() < t.shown());
            }
            prop_assert!(t.offset() <= t.selected());
            prop_assert!(t.selected() < t.offset() + table_rows(state.size).max(1));
            prop_assert!(t.shown() <= t.total());
            // Every state draws (no panic on any size, mode or data).
            draw(&state);
        }
    }
}
