//! The cloud-account wizard: name, gateway, API endpoint, API key (masked as typed) and an
//! optional CA file; then a live check against MAAS that shows exactly what failed, beside
//! the field to fix; then save. The model's rules run as the fields are typed.

use super::{StepStatus, WizardOutcome};
use crate::model::account::LOCAL_GATEWAY;
use crate::model::{CloudAccount, Problem, Problems};
use crate::tui::account_check::{AccountCheck, AccountDraft};
use crate::tui::widgets::form::{ChoiceItem, Field, Form, FormEvent};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStep {
    Details,
    Check,
}

impl AccountStep {
    pub const ALL: [AccountStep; 2] = [AccountStep::Details, AccountStep::Check];

    pub fn title(self) -> &'static str {
        match self {
            AccountStep::Details => "Account",
            AccountStep::Check => "Validate & save",
        }
    }
}

/// Where the live check and the save are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckState {
    NotRun,
    Running,
    Passed(AccountCheck),
    Failed(Vec<Problem>),
    Saving(AccountCheck),
    SaveFailed(String),
}

#[derive(Debug, Clone)]
pub struct AccountWizard {
    pub step: AccountStep,
    pub form: Form,
    pub check: CheckState,
    pub message: Option<String>,
}

impl Default for AccountWizard {
    fn default() -> Self {
        AccountWizard::new()
    }
}

impl AccountWizard {
    pub fn new() -> AccountWizard {
        AccountWizard::on_gateway(LOCAL_GATEWAY)
    }

    /// The wizard of a console working through gateway `in_use`: a paired gateway is offered
    /// (and chosen) beside `local`, so the account is kept where it will be used.
    pub fn on_gateway(in_use: &str) -> AccountWizard {
        let mut gateways = vec![ChoiceItem::labelled(
            LOCAL_GATEWAY,
            "local (embedded engine)",
        )];
        if in_use != LOCAL_GATEWAY {
            gateways.push(ChoiceItem::labelled(
                in_use,
                format!("{in_use} (the gateway in use)"),
            ));
        }
        let chosen = gateways.len() - 1;
        let form = Form::new(vec![
            Field::text("name", "Name", "metadata.name", "")
                .with_hint("lowercase letters, digits and '-', e.g. lab or dc2-prod"),
            Field::choice("gateway", "Gateway", "spec.gateway", gateways, chosen),
            Field::text("endpoint", "API endpoint", "spec.endpoint", "")
                .with_hint("the region URL, like http://maas.example:5240/MAAS"),
            Field::secret("api_key", "API key", "spec.apiKey")
                .with_hint("MAAS UI > your user > API keys; shown as • only · ctrl-u clears"),
            Field::text("ca_file", "CA file", "spec.caCert", "")
                .with_hint("optional: PEM file of the CA of an https MAAS"),
        ]);
        let mut w = AccountWizard {
            step: AccountStep::Details,
            form,
            check: CheckState::NotRun,
            message: None,
        };
        w.revalidate();
        w
    }

    /// What was typed, for the source.
    pub fn draft(&self) -> AccountDraft {
        AccountDraft {
            name: self.form.text("name"),
            gateway: self
                .form
                .choice("gateway")
                .unwrap_or_else(|| LOCAL_GATEWAY.to_string()),
            endpoint: self.form.text("endpoint"),
            api_key: self.form.secret("api_key").cloned().unwrap_or_default(),
            ca_file: self.form.optional("ca_file").map(PathBuf::from),
        }
    }

    /// The model's rules on what is typed (the CA file is read only by the live check).
    fn revalidate(&mut self) {
        let d = self.draft();
        let problems = match CloudAccount::from_parts(
            &d.name,
            "",
            &d.gateway,
            &d.endpoint,
            d.api_key.expose(),
            None,
        ) {
            Ok(_) => Problems::new(),
            Err(p) => p,
        };
        self.form.apply_problems(&problems.0);
    }

    pub fn step_status(&self, step: AccountStep) -> StepStatus {
        match (step, self.step) {
            (a, b) if a == b => StepStatus::Current,
            (AccountStep::Details, AccountStep::Check) => StepStatus::Done,
            _ => StepStatus::Ahead,
        }
    }

    pub fn handle(&mut self, key: KeyEvent) -> WizardOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return WizardOutcome::Cancel,
            KeyCode::Char('c') if ctrl => return WizardOutcome::Cancel,
            KeyCode::PageDown => return self.next_step(),
            KeyCode::PageUp => return self.previous_step(),
            _ => {}
        }
        if self.step == AccountStep::Check {
            return match key.code {
                KeyCode::Enter => self.on_check_enter(),
                _ => WizardOutcome::Nothing,
            };
        }
        let event = self.form.handle(key);
        match event {
            FormEvent::Edited => {
                self.message = None;
                // What was checked is no longer what is typed.
                self.check = CheckState::NotRun;
                self.revalidate();
                WizardOutcome::Changed
            }
            FormEvent::Moved => WizardOutcome::Changed,
            FormEvent::Submit => self.next_step(),
            FormEvent::Unhandled => WizardOutcome::Nothing,
        }
    }

    fn next_step(&mut self) -> WizardOutcome {
        if self.step == AccountStep::Check {
            return WizardOutcome::Nothing;
        }
        self.form.touch_all();
        self.revalidate();
        if self.form.has_errors() {
            self.message = Some("fix the fields marked ✗ first".into());
            return WizardOutcome::Changed;
        }
        self.message = None;
        self.step = AccountStep::Check;
        self.check = CheckState::Running;
        WizardOutcome::Validate(self.draft())
    }

    fn previous_step(&mut self) -> WizardOutcome {
        if self.step == AccountStep::Details {
            return WizardOutcome::Nothing;
        }
        self.step = AccountStep::Details;
        WizardOutcome::Changed
    }

    fn on_check_enter(&mut self) -> WizardOutcome {
        match &self.check {
            CheckState::Passed(check) => {
                self.check = CheckState::Saving(check.clone());
                WizardOutcome::Save(self.draft())
            }
            // Enter retries: after fixing MAAS (or its network), nothing needs retyping.
            CheckState::Failed(_) | CheckState::SaveFailed(_) | CheckState::NotRun => {
                self.check = CheckState::Running;
                WizardOutcome::Validate(self.draft())
            }
            CheckState::Running | CheckState::Saving(_) => WizardOutcome::Nothing,
        }
    }

    /// The live check's answer. Failures land on their fields too (a refused key beside the
    /// API key), so going back shows what to fix.
    pub fn checked(&mut self, result: Result<AccountCheck, Problems>) {
        match result {
            Ok(check) => self.check = CheckState::Passed(check),
            Err(problems) => {
                self.form.apply_problems(&problems.0);
                self.form.touch_all();
                self.check = CheckState::Failed(problems.0);
            }
        }
    }

    pub fn save_failed(&mut self, message: String) {
        self.check = CheckState::SaveFailed(message);
    }
}
