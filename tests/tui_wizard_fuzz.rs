//! Any keys, resizes and late answers in the wizards and dialogs: nothing panics, every state
//! draws, the API key typed never reaches the screen, and the cluster wizard's spec always
//! matches its forms' problems (no problem is lost between validation and fields).

mod tui_support;
mod tui_wizard_support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kubemaas::model::{Problem, Problems};
use kubemaas::tui::account_check::AccountCheck;
use kubemaas::tui::app::{update, Msg};
use kubemaas::tui::source::SourceError;
use kubemaas::tui::wizards::Wizard;
use proptest::prelude::*;
use tui_support::{draw, loaded};
use tui_wizard_support::*;

fn msg() -> impl Strategy<Value = Msg> {
    let keys = prop::sample::select(vec![
        KeyCode::Char('a'),
        KeyCode::Char('1'),
        KeyCode::Char('-'),
        KeyCode::Char('/'),
        KeyCode::Char(':'),
        KeyCode::Char('='),
        KeyCode::Char(' '),
        KeyCode::Char('n'),
        KeyCode::Char('Z'),
        KeyCode::Esc,
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
        KeyCode::Delete,
        KeyCode::PageDown,
        KeyCode::PageUp,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Up,
        KeyCode::Down,
    ]);
    let ctrl = prop::sample::select(vec!['a', 'x', 'd', 'u', 'c']);
    prop_oneof![
        12 => keys.prop_map(|k| Msg::Key(KeyEvent::new(k, KeyModifiers::NONE))),
        2 => ctrl.prop_map(|c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))),
        1 => (60u16..140, 12u16..50).prop_map(|(w, h)| Msg::Resize(w, h)),
        1 => (0usize..8).prop_map(|n| Msg::ChoicesLoaded(Box::new(Ok(choices(n))))),
        1 => Just(Msg::ChoicesLoaded(Box::new(Err(SourceError::new("down"))))),
        1 => Just(Msg::AccountsLoaded(Ok(accounts()))),
        1 => Just(Msg::AccountValidated(Err(Problems(vec![Problem::new("spec.apiKey", "refused")])))),
        1 => Just(Msg::AccountValidated(Ok(AccountCheck { version: "3.5.4".into(), user: "u".into() }))),
        1 => Just(Msg::ClusterCreated(Err(SourceError::new("no engine")))),
        1 => Just(Msg::AccountSaved(Err(SourceError::new("no engine")))),
    ]
}

const SECRET: &str = "SeCrEtKeYpArT";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn wizards_survive_anything(start in 0usize..3, msgs in prop::collection::vec(msg(), 1..120)) {
        let mut state = loaded(0, (80, 24));
        match start {
            0 => { command(&mut state, "new-cluster"); }
            1 => {
                command(&mut state, "new-account");
                k(&mut state, KeyCode::Tab);
                k(&mut state, KeyCode::Tab);
                k(&mut state, KeyCode::Tab);
                typed(&mut state, SECRET);
            }
            _ => {
                command(&mut state, "accounts");
                update(&mut state, Msg::AccountsLoaded(Ok(accounts())));
            }
        }
        for m in msgs {
            update(&mut state, m);
            let terminal = draw(&state);
            let buf = terminal.backend().buffer();
            let text: String = buf.content().iter().map(|c| c.symbol()).collect();
            prop_assert!(!text.contains(SECRET));
            let debug = format!("{:?}", state);
            prop_assert!(!debug.contains(SECRET));
            if let Some(Wizard::Cluster(w)) = &state.wizard {
                prop_assert!(w.pool_index < w.pools.len());
                prop_assert_eq!(w.pools.len(), w.spec.spec.node_pools.len());
                // Every problem is shown by a field or listed under its step or the review.
                let shown = w.problems.iter().all(|p| {
                    w.basics.fields.iter().chain(w.network.fields.iter())
                        .chain(w.placement.fields.iter()).chain(w.policies.fields.iter())
                        .chain(w.profile.fields.iter()).chain(w.values.fields.iter())
                        .chain(w.pools.iter().flat_map(|f| f.fields.iter()))
                        .any(|f| f.claims(&p.path))
                        || kubemaas::tui::wizards::ClusterStep::ALL.iter().any(|s| w.step_notes(*s).contains(&p))
                        || p.path == "apiVersion" || p.path == "kind"
                });
                prop_assert!(shown, "{:?}", w.problems);
            }
        }
    }
}
