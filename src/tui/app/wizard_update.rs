//! `update` for the wizards, the confirm dialog and the Profiles / Cloud accounts screens.
//! Kept apart from the table-and-prompt logic in `update.rs`; the same rules hold: only here
//! does state change, work goes out as [`Cmd`]s, `dirty` only when something visible changed.

use super::lists::ListLoad;
use super::msg::{Cmd, Msg};
use super::state::{Connection, FlashLevel, ScreenId, State};
use crate::tui::keymap::Action;
use crate::tui::widgets::confirm::{ConfirmAction, ConfirmDialog, ConfirmOutcome};
use crate::tui::wizards::{ClusterWizard, Wizard, WizardOutcome};
use crossterm::event::KeyEvent;

/// Keys for an open dialog or wizard; `None` when neither is open.
pub fn on_modal_key(state: &mut State, key: KeyEvent) -> Option<Vec<Cmd>> {
    if let Some(dialog) = state.confirm.as_mut() {
        let outcome = dialog.handle(key);
        state.dirty = true;
        return Some(match outcome {
            ConfirmOutcome::Open => Vec::new(),
            ConfirmOutcome::Cancelled => {
                state.confirm = None;
                Vec::new()
            }
            ConfirmOutcome::Confirmed(action) => {
                state.confirm = None;
                confirmed(state, action)
            }
        });
    }
    let wizard = state.wizard.as_mut()?;
    let outcome = match wizard {
        Wizard::Cluster(w) => w.handle(key),
        Wizard::Account(w) => w.handle(key),
        Wizard::Gateway(w) => w.handle(key),
        Wizard::Resize(w) => w.handle(key),
    };
    Some(match outcome {
        WizardOutcome::Nothing => Vec::new(),
        WizardOutcome::Changed => {
            state.dirty = true;
            Vec::new()
        }
        WizardOutcome::Cancel => {
            let dirty = wizard.is_dirty();
            let what = wizard.title().to_string();
            if dirty {
                open_confirm(state, ConfirmAction::DiscardWizard { what });
            } else {
                state.wizard = None;
            }
            state.dirty = true;
            Vec::new()
        }
        WizardOutcome::Deploy(spec) => {
            state.dirty = true;
            if state.readonly {
                return Some(refuse(state, "deploying a cluster"));
            }
            vec![Cmd::CreateCluster(spec)]
        }
        WizardOutcome::Validate(draft) => {
            state.dirty = true;
            vec![Cmd::ValidateAccount(draft)]
        }
        WizardOutcome::Save(draft) => {
            state.dirty = true;
            if state.readonly {
                return Some(refuse(state, "saving a cloud account"));
            }
            vec![Cmd::SaveAccount(draft)]
        }
        WizardOutcome::Pair { address, code } => {
            state.dirty = true;
            vec![Cmd::PairGateway { address, code }]
        }
        WizardOutcome::ConfirmPairing(address) => {
            state.dirty = true;
            vec![Cmd::ConfirmPairing(address)]
        }
        WizardOutcome::Resize { gateway, settings } => {
            state.dirty = true;
            if state.readonly {
                return Some(refuse(state, "resizing a gateway"));
            }
            state.wizard = None;
            super::gateway_resize::started(state, gateway, settings)
        }
    })
}

/// A flash saying why read-only mode refuses `what`.
fn refuse(state: &mut State, what: &str) -> Vec<Cmd> {
    state.flash(
        FlashLevel::Error,
        format!("read-only: {what} is refused because kubemaas was started with --readonly; restart without it to change anything"),
    );
    Vec::new()
}

/// Wizards need a MAAS to pick from and check against; the welcome screen says how to get one.
fn not_configured(state: &mut State) -> Vec<Cmd> {
    state.flash(
        FlashLevel::Error,
        "no MAAS configured: start with `kubemaas --demo`, or set MAAS_URL and MAAS_API_KEY",
    );
    Vec::new()
}

/// Opens a confirm dialog, or says why read-only mode refuses it.
pub fn open_confirm(state: &mut State, action: ConfirmAction) {
    match ConfirmDialog::open(action, state.readonly) {
        Ok(d) => state.confirm = Some(d),
        Err(refusal) => state.flash(FlashLevel::Error, refusal.to_string()),
    }
    state.dirty = true;
}

fn confirmed(state: &mut State, action: ConfirmAction) -> Vec<Cmd> {
    match action {
        ConfirmAction::DiscardWizard { .. } => {
            state.wizard = None;
            Vec::new()
        }
        ConfirmAction::DeleteAccount { name } => vec![Cmd::DeleteAccount(name)],
        other => super::cluster_update::confirmed(state, other),
    }
}

/// `n` on Clusters, `:new-cluster`.
pub fn open_cluster_wizard(state: &mut State) -> Vec<Cmd> {
    if state.readonly {
        return refuse(state, "creating a cluster");
    }
    if state.connection == Connection::NotConfigured {
        return not_configured(state);
    }
    let profiles = if state.profiles.list.is_empty() {
        crate::model::shipped_profiles()
    } else {
        state.profiles.list.clone()
    };
    let wizard = ClusterWizard::new(profiles, &state.accounts.names());
    state.wizard = Some(Wizard::Cluster(Box::new(wizard)));
    state.dirty = true;
    // Fresh lists every time: MAAS and the store change between wizards.
    vec![Cmd::LoadProfiles, Cmd::LoadAccounts, Cmd::LoadChoices]
}

/// `n` on Cloud accounts, `:new-account`.
pub fn open_account_wizard(state: &mut State) -> Vec<Cmd> {
    if state.readonly {
        return refuse(state, "adding a cloud account");
    }
    if state.connection == Connection::NotConfigured {
        return not_configured(state);
    }
    state.wizard = Some(Wizard::Account(Box::new(
        crate::tui::wizards::account::AccountWizard::on_gateway(&state.gateways.in_use),
    )));
    state.dirty = true;
    Vec::new()
}

/// The loads a screen needs when it is opened.
pub fn on_screen_opened(state: &mut State) -> Vec<Cmd> {
    match state.screen {
        ScreenId::Profiles if state.profiles.load != ListLoad::Loading => {
            state.profiles.load = ListLoad::Loading;
            vec![Cmd::LoadProfiles]
        }
        ScreenId::Accounts if state.accounts.load != ListLoad::Loading => {
            state.accounts.load = ListLoad::Loading;
            vec![Cmd::LoadAccounts]
        }
        _ => Vec::new(),
    }
}

/// Keys of the Profiles, Accounts and Clusters screens; `None` when not theirs.
pub fn on_screen_action(state: &mut State, action: Action) -> Option<Vec<Cmd>> {
    let step = match action {
        Action::Up => -1,
        Action::Down => 1,
        Action::PageUp => -10,
        Action::PageDown => 10,
        Action::Top => -isize::MAX,
        Action::Bottom => isize::MAX,
        _ => 0,
    };
    match (state.screen, action) {
        (ScreenId::Clusters | ScreenId::Accounts, Action::New) => Some(match state.screen {
            ScreenId::Clusters => open_cluster_wizard(state),
            _ => open_account_wizard(state),
        }),
        (ScreenId::Profiles, Action::Open) if !state.profiles.detail => {
            if state.profiles.selected_profile().is_some() {
                state.profiles.detail = true;
                state.profiles.detail_scroll = 0;
                state.dirty = true;
            }
            Some(Vec::new())
        }
        (ScreenId::Profiles, Action::Back) if state.profiles.detail => {
            state.profiles.detail = false;
            state.dirty = true;
            Some(Vec::new())
        }
        // ctrl-r reloads the list on screen, not the inventory behind it.
        (ScreenId::Profiles, Action::Refresh) => {
            state.profiles.load = ListLoad::Loading;
            state.flash(FlashLevel::Info, "Reloading profiles…");
            Some(vec![Cmd::LoadProfiles])
        }
        (ScreenId::Accounts, Action::Refresh) => {
            state.accounts.load = ListLoad::Loading;
            state.flash(FlashLevel::Info, "Reloading cloud accounts…");
            Some(vec![Cmd::LoadAccounts])
        }
        (ScreenId::Profiles, _) if step != 0 => {
            state.dirty |= state.profiles.move_by(step);
            Some(Vec::new())
        }
        (ScreenId::Accounts, _) if step != 0 => {
            state.dirty |= state.accounts.move_by(step);
            Some(Vec::new())
        }
        (ScreenId::Accounts, Action::Delete) => {
            if let Some(row) = state.accounts.selected_row() {
                let name = row.name.clone();
                open_confirm(state, ConfirmAction::DeleteAccount { name });
            }
            Some(Vec::new())
        }
        _ => None,
    }
}

/// The answers to the wizards' and lists' commands; `None` for other messages.
pub fn on_msg(state: &mut State, msg: Msg) -> Result<Vec<Cmd>, Msg> {
    match msg {
        Msg::ProfilesLoaded(result) => {
            match result {
                Ok(list) => {
                    state.profiles.selected =
                        state.profiles.selected.min(list.len().saturating_sub(1));
                    if let Some(Wizard::Cluster(w)) = state.wizard.as_mut() {
                        w.set_profiles(list.clone());
                    }
                    state.profiles.list = list;
                    state.profiles.load = ListLoad::Loaded;
                }
                Err(e) => state.profiles.load = ListLoad::Failed(e.message),
            }
            state.dirty = true;
        }
        Msg::AccountsLoaded(result) => {
            match result {
                Ok(rows) => {
                    state.accounts.selected =
                        state.accounts.selected.min(rows.len().saturating_sub(1));
                    state.accounts.rows = rows;
                    state.accounts.load = ListLoad::Loaded;
                    if let Some(Wizard::Cluster(w)) = state.wizard.as_mut() {
                        w.set_accounts(&state.accounts.names());
                    }
                }
                Err(e) => state.accounts.load = ListLoad::Failed(e.message),
            }
            state.dirty = true;
        }
        Msg::ChoicesLoaded(result) => {
            if let Some(Wizard::Cluster(w)) = state.wizard.as_mut() {
                w.set_choices((*result).map_err(|e| e.message));
                state.dirty = true;
            }
        }
        Msg::AccountValidated(result) => {
            if let Some(Wizard::Account(w)) = state.wizard.as_mut() {
                w.checked(result);
                state.dirty = true;
            }
        }
        Msg::AccountSaved(result) => {
            if let Some(Wizard::Account(w)) = state.wizard.as_mut() {
                match result {
                    Ok(()) => {
                        let name = w.draft().name;
                        state.wizard = None;
                        state.flash(FlashLevel::Info, format!("cloud account {name} saved"));
                        state.accounts.load = ListLoad::Loading;
                        return Ok(vec![Cmd::LoadAccounts]);
                    }
                    Err(e) => w.save_failed(e.message),
                }
                state.dirty = true;
            }
        }
        Msg::AccountDeleted(result) => match result {
            Ok(()) => {
                state.flash(FlashLevel::Info, "cloud account deleted");
                state.accounts.load = ListLoad::Loading;
                return Ok(vec![Cmd::LoadAccounts]);
            }
            Err(e) => state.flash(FlashLevel::Error, e.message),
        },
        Msg::ClusterQueued { name, reason } => {
            if let Some(Wizard::Cluster(_)) = state.wizard.as_ref() {
                state.wizard = None;
                if state.screen != ScreenId::Clusters {
                    state.history.push(state.screen);
                    state.screen = ScreenId::Clusters;
                }
                state.flash(
                    FlashLevel::Warning,
                    format!("cluster {name} queued: the gateway is away ({reason}); it is sent as soon as the gateway answers"),
                );
                state.dirty = true;
                return Ok(super::cluster_update::reload_list(state));
            }
        }
        Msg::ClusterCreated(result) => {
            if let Some(Wizard::Cluster(w)) = state.wizard.as_mut() {
                match result {
                    Ok(name) => {
                        state.wizard = None;
                        if state.screen != ScreenId::Clusters {
                            state.history.push(state.screen);
                            state.screen = ScreenId::Clusters;
                        }
                        state.flash(FlashLevel::Info, format!("cluster {name} is being built"));
                        state.dirty = true;
                        return Ok(super::cluster_update::reload_list(state));
                    }
                    Err(e) => w.deploy_failed(e.message),
                }
                state.dirty = true;
            }
        }
        other => return Err(other),
    }
    Ok(Vec::new())
}
