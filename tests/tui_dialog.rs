//! The cloud-account wizard (masked key, live check against the simulated MAAS, what failed
//! shown beside the field), the accounts list, the confirm dialog, and read-only refusals.

mod tui_support;
mod tui_wizard_support;

use crossterm::event::KeyCode;
use kubemaas::maas::{ApiKey, MaasClient, MaasConfig};
use kubemaas::model::{Problem, Problems};
use kubemaas::sim::{self, SimConfig};
use kubemaas::tui::account_check::{validate_live, AccountCheck, AccountDraft};
use kubemaas::tui::app::{update, Cmd, Msg, ScreenId, State};
use kubemaas::tui::source::{ConsoleSource, MaasSource, SourceError};
use kubemaas::tui::widgets::confirm::ConfirmFocus;
use kubemaas::tui::widgets::secret::Secret;
use kubemaas::tui::wizards::{AccountStep, CheckState, Wizard};
use ratatui::buffer::Buffer;
use tui_support::{draw, loaded};
use tui_wizard_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];
/// Looks like a MAAS key; never a real one.
const KEY: &str = "Zq9CkVh3Xw7Lp2RtYd:Mn4Bv8Gs1Fj6Hk0Lqw:Pz5Wx2Cv7Bn3Mq8Lk1Jh6Gf4Ds9Ap0Ty";

fn snap(name: &str, state: &State) {
    let (w, h) = state.size;
    let terminal = draw(state);
    assert_no_key(terminal.backend().buffer());
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
}

fn screen_text(buf: &Buffer) -> String {
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// No part of the key (any of its three parts) is on screen.
fn assert_no_key(buf: &Buffer) {
    let text = screen_text(buf);
    for part in KEY.split(':') {
        assert!(!text.contains(&part[..8]), "key part on screen:\n{text}");
    }
}

fn aw(state: &State) -> &kubemaas::tui::wizards::AccountWizard {
    match &state.wizard {
        Some(Wizard::Account(w)) => w,
        _ => panic!("the account wizard is not open"),
    }
}

/// The account wizard with name, endpoint and key typed.
fn filled(size: (u16, u16), endpoint: &str) -> State {
    let mut state = loaded(0, size);
    command(&mut state, "accounts");
    update(&mut state, Msg::AccountsLoaded(Ok(accounts())));
    k(&mut state, KeyCode::Char('n'));
    typed(&mut state, "lab2");
    k(&mut state, KeyCode::Tab);
    k(&mut state, KeyCode::Tab);
    typed(&mut state, endpoint);
    k(&mut state, KeyCode::Tab);
    typed(&mut state, KEY);
    state
}

#[test]
fn account_form_masks_the_key_everywhere() {
    for size in SIZES {
        let state = filled(size, "http://10.0.0.9:5240/MAAS");
        let w = aw(&state);
        assert_eq!(w.form.secret("api_key").unwrap().expose(), KEY);
        snap("account_form", &state);
        let debug = format!("{state:?}");
        for part in KEY.split(':') {
            assert!(!debug.contains(part), "Debug of the state leaks the key");
        }
    }
    // What goes to the source carries it, but never in Debug.
    for size in SIZES {
        let mut state = filled(size, "http://10.0.0.9:5240/MAAS");
        k(&mut state, KeyCode::PageDown);
        snap("account_checking", &state);
    }
    let mut state = filled((80, 24), "http://10.0.0.9:5240/MAAS");
    let cmds = k(&mut state, KeyCode::PageDown);
    let [Cmd::ValidateAccount(draft)] = cmds.as_slice() else {
        panic!("expected a validation, got {cmds:?}");
    };
    assert_eq!(draft.api_key.expose(), KEY);
    assert!(!format!("{cmds:?}").contains(&KEY[..10]));
    assert_eq!(aw(&state).step, AccountStep::Check);
}

#[test]
fn account_errors_as_typed() {
    for size in SIZES {
        let mut state = loaded(0, size);
        command(&mut state, "new-account");
        typed(&mut state, "Lab 2");
        k(&mut state, KeyCode::Tab);
        k(&mut state, KeyCode::Tab);
        typed(&mut state, "maas.example:5240");
        k(&mut state, KeyCode::Tab);
        typed(&mut state, "only:two");
        k(&mut state, KeyCode::PageDown);
        assert_eq!(aw(&state).step, AccountStep::Details, "refused with errors");
        let errors: Vec<_> = aw(&state)
            .form
            .fields
            .iter()
            .filter_map(|f| f.visible_error())
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        snap("account_errors", &state);
    }
}

#[test]
fn wrong_api_key_shows_beside_the_key() {
    for size in SIZES {
        let mut state = filled(size, "http://10.0.0.9:5240/MAAS");
        k(&mut state, KeyCode::PageDown);
        let problem = Problem::new(
            "spec.apiKey",
            "MAAS at http://10.0.0.9:5240/MAAS/ refused the API key (HTTP 401): it is wrong or was revoked; copy a current key from the MAAS UI (your user > API keys)",
        );
        update(
            &mut state,
            Msg::AccountValidated(Err(Problems(vec![problem]))),
        );
        assert!(matches!(aw(&state).check, CheckState::Failed(_)));
        snap("account_wrong_key", &state);
        k(&mut state, KeyCode::PageUp);
        let key_field = aw(&state).form.field("api_key").unwrap();
        assert!(key_field.visible_error().unwrap().contains("401"));
        snap("account_wrong_key_field", &state);
    }
}

#[test]
fn passed_check_then_save_needs_the_engine() {
    for size in SIZES {
        passed_then_save(size);
    }
}

fn passed_then_save(size: (u16, u16)) {
    let mut state = filled(size, "http://10.0.0.9:5240/MAAS");
    k(&mut state, KeyCode::PageDown);
    update(
        &mut state,
        Msg::AccountValidated(Ok(AccountCheck {
            version: "3.5.4".into(),
            user: "admin".into(),
        })),
    );
    snap("account_passed", &state);
    let cmds = k(&mut state, KeyCode::Enter);
    assert!(matches!(cmds.as_slice(), [Cmd::SaveAccount(_)]));
    update(
        &mut state,
        Msg::AccountSaved(Err(SourceError::needs_engine("saving a cloud account"))),
    );
    snap("account_save_failed", &state);
    // Saved (by a source that can): the wizard closes and the list reloads.
    k(&mut state, KeyCode::Enter);
    update(
        &mut state,
        Msg::AccountValidated(Ok(AccountCheck {
            version: "3.5.4".into(),
            user: "admin".into(),
        })),
    );
    k(&mut state, KeyCode::Enter);
    assert_eq!(
        update(&mut state, Msg::AccountSaved(Ok(()))),
        vec![Cmd::LoadAccounts]
    );
    assert!(state.wizard.is_none());
}

#[test]
fn accounts_list_and_delete_confirm() {
    for size in SIZES {
        let mut state = loaded(0, size);
        assert_eq!(command(&mut state, "accounts"), vec![Cmd::LoadAccounts]);
        snap("accounts_loading", &state);
        update(&mut state, Msg::AccountsLoaded(Ok(accounts())));
        k(&mut state, KeyCode::Down);
        snap("accounts_list", &state);
        ctrl_key(&mut state, 'd');
        let dialog = state.confirm.as_ref().expect("dialog open");
        assert_eq!(dialog.focus, ConfirmFocus::Cancel);
        snap("confirm_delete", &state);
        // Colours: the dialog is drawn in the danger token, the focused Cancel as selected.
        let terminal = draw(&state);
        let buf = terminal.backend().buffer();
        let (x, y) = tui_support::find(buf, "Delete cloud account").expect("title");
        assert_eq!(buf[(x, y)].fg, state.theme.danger.fg.unwrap());
        assert_eq!(buf[(x - 2, y)].fg, state.theme.danger.fg.unwrap(), "border");
        let (x, y) = tui_support::find(buf, "[ Cancel ]").expect("cancel");
        assert_eq!(buf[(x, y)].bg, state.theme.selection.bg.unwrap());
        let (x, y) = tui_support::find(buf, "[ Delete ]").expect("delete");
        assert_ne!(buf[(x, y)].bg, state.theme.selection.bg.unwrap());
        k(&mut state, KeyCode::Tab);
        typed(&mut state, "dc2");
        k(&mut state, KeyCode::Tab);
        k(&mut state, KeyCode::Enter);
        assert!(state.confirm.is_some(), "the name is not complete");
        snap("confirm_delete_wrong_name", &state);
        typed(&mut state, "-prod");
        k(&mut state, KeyCode::Enter);
        let cmds = k(&mut state, KeyCode::Enter);
        assert_eq!(cmds, vec![Cmd::DeleteAccount("dc2-prod".into())]);
        assert!(state.confirm.is_none());
    }
    let mut state = loaded(0, (80, 24));
    command(&mut state, "accounts");
    update(&mut state, Msg::AccountsLoaded(Ok(Vec::new())));
    snap("accounts_empty", &state);
}

#[test]
fn readonly_refuses_delete_and_new_account_and_says_why() {
    let mut opts = tui_support::options((80, 24));
    opts.readonly = true;
    let mut state = State::new(opts);
    update(&mut state, Msg::Identified(Ok(tui_support::identity())));
    command(&mut state, "accounts");
    update(&mut state, Msg::AccountsLoaded(Ok(accounts())));
    ctrl_key(&mut state, 'd');
    assert!(state.confirm.is_none());
    let flash = state.flash.clone().expect("told why").text;
    assert!(flash.contains("--readonly"), "{flash}");
    snap("accounts_readonly_refused", &state);
    k(&mut state, KeyCode::Char('n'));
    assert!(state.wizard.is_none());
    assert!(command(&mut state, "new-account").is_empty());
    assert!(state.wizard.is_none());
    assert_eq!(state.screen, ScreenId::Accounts);
}

fn draft(endpoint: String, key: &str) -> AccountDraft {
    AccountDraft {
        name: "sim".into(),
        gateway: "local".into(),
        endpoint,
        api_key: Secret::new(key),
        ca_file: None,
    }
}

#[tokio::test]
async fn live_check_against_the_simulator() {
    let handle = sim::start(SimConfig::generated(12, 3).speed(0.0))
        .await
        .expect("simulator starts");
    let endpoint = handle.endpoint().to_string();
    let good = handle.api_key().expose();
    let ok = validate_live(&draft(endpoint.clone(), &good))
        .await
        .unwrap();
    assert!(!ok.version.is_empty());

    // A well-formed key MAAS does not know: refused, at the key's field, without the key.
    let wrong = draft(endpoint.clone(), KEY);
    let problems = validate_live(&wrong).await.unwrap_err();
    assert_eq!(problems.0.len(), 1);
    assert_eq!(problems.0[0].path, "spec.apiKey");
    assert!(problems.0[0].message.contains("401"), "{problems}");
    assert!(!problems.to_string().contains(&KEY[..10]));

    // Nothing listens: unreachable, at the endpoint.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let problems = validate_live(&draft(format!("http://127.0.0.1:{closed}/MAAS"), &good))
        .await
        .unwrap_err();
    assert_eq!(problems.0[0].path, "spec.endpoint");
    assert!(problems.0[0].message.contains("cannot reach"), "{problems}");

    // A CA file that is not there.
    let mut bad_ca = draft(endpoint.clone(), &good);
    bad_ca.ca_file = Some("/nonexistent/ca.pem".into());
    let problems = validate_live(&bad_ca).await.unwrap_err();
    assert!(problems.0.iter().any(|p| p.path == "spec.caCert"));

    // The source's lookups: counts of Ready machines per zone, pool, tag.
    let mut config = MaasConfig::new(handle.endpoint(), handle.api_key());
    config.retry = kubemaas::maas::RetryPolicy::immediate(2);
    let source = MaasSource::new(MaasClient::new(config).unwrap());
    let choices = source.placement_choices().await.unwrap();
    let ready = choices
        .snapshot
        .machines
        .iter()
        .filter(|m| m.status == kubemaas::maas::NodeStatus::Ready && !m.locked)
        .count();
    assert_eq!(
        choices.zones.iter().map(|z| z.available).sum::<usize>(),
        ready
    );
    assert_eq!(
        choices.pools.iter().map(|z| z.available).sum::<usize>(),
        ready
    );
    assert!(!choices.domains.is_empty());
    let accounts = source.accounts().await.unwrap();
    assert_eq!(
        accounts[0].maas_version.as_deref(),
        ok.version.as_str().into()
    );
    let err = source
        .create_cluster(kubemaas::model::ClusterSpec::with_defaults("a", "b", 1, 1))
        .await
        .unwrap_err();
    assert!(err.message.contains("needs the kubemaas engine"));
    let _: ApiKey = handle.api_key();
}
