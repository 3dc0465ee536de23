//! The gateway pairing wizard: the gateway's address (HOST:PORT) and the pairing code it
//! printed (masked like the API key); then the console pairs (the same function as
//! `kubemaas gateway pair`) and shows the gateway's name and CA fingerprint for the operator
//! to confirm before anything is stored. A refused code is shown beside the code field, an
//! unreachable address beside the address, and a gateway that cannot prove it knows the
//! code as a loud warning of a possible impersonator.

use super::{StepStatus, WizardOutcome};
use crate::gateway::pairing::PairingCode;
use crate::model::Problem;
use crate::tui::source::{PairFailure, PairOffer};
use crate::tui::widgets::form::{Field, Form, FormEvent};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The form paths (the wizard's own: no model document stands behind them).
const ADDRESS: &str = "address";
const CODE: &str = "code";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayStep {
    Details,
    Confirm,
}

impl GatewayStep {
    pub const ALL: [GatewayStep; 2] = [GatewayStep::Details, GatewayStep::Confirm];

    pub fn title(self) -> &'static str {
        match self {
            GatewayStep::Details => "Address & code",
            GatewayStep::Confirm => "Confirm & save",
        }
    }
}

/// Where the pairing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairState {
    NotRun,
    /// Connecting and proving the code.
    Pairing,
    /// Paired, waiting for the operator to confirm what the gateway showed.
    Offered(PairOffer),
    Saving(PairOffer),
    /// The gateway could not prove it knows the code: nothing was stored.
    Impersonator(String),
    /// Saving (or pairing, for reasons no field owns) failed.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct GatewayWizard {
    pub step: GatewayStep,
    pub form: Form,
    pub pairing: PairState,
    pub message: Option<String>,
}

impl Default for GatewayWizard {
    fn default() -> Self {
        GatewayWizard::new()
    }
}

/// What is wrong with a typed address, before any connection is tried.
fn address_problem(address: &str) -> Option<&'static str> {
    let (host, port) = address.rsplit_once(':')?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    if host.is_empty() || !port_ok || address.contains('/') || address.contains('@') {
        return Some("give HOST:PORT, like gw1.example:8443 or 10.0.0.5:8443");
    }
    None
}

impl GatewayWizard {
    pub fn new() -> GatewayWizard {
        let form = Form::new(vec![
            Field::text("address", "Address", ADDRESS, "")
                .with_hint("the gateway's HOST:PORT, as `kubemaas gateway run` printed it"),
            Field::secret("code", "Pairing code", CODE).with_hint(
                "from `kubemaas gateway pairing-code` on the gateway; shown as • only · ctrl-u clears",
            ),
        ]);
        let mut w = GatewayWizard {
            step: GatewayStep::Details,
            form,
            pairing: PairState::NotRun,
            message: None,
        };
        w.revalidate();
        w
    }

    pub fn address(&self) -> String {
        self.form.text("address")
    }

    fn revalidate(&mut self) {
        let mut problems = Vec::new();
        let address = self.address();
        if address.is_empty() {
            problems.push(Problem::new(ADDRESS, "required: the gateway's HOST:PORT"));
        } else if let Some(p) = address_problem(&address)
            .or_else(|| (!address.contains(':')).then_some("give HOST:PORT: the port is missing"))
        {
            problems.push(Problem::new(ADDRESS, p));
        }
        let code = self.form.secret("code").map(|s| s.expose().to_string());
        match code.as_deref() {
            None | Some("") => problems.push(Problem::new(
                CODE,
                "required: run `kubemaas gateway pairing-code` on the gateway",
            )),
            Some(c) => {
                if let Err(e) = PairingCode::parse(c) {
                    problems.push(Problem::new(CODE, e.to_string()));
                }
            }
        }
        self.form.apply_problems(&problems);
    }

    pub fn step_status(&self, step: GatewayStep) -> StepStatus {
        match (step, self.step) {
            (a, b) if a == b => StepStatus::Current,
            (GatewayStep::Details, GatewayStep::Confirm) => StepStatus::Done,
            _ => StepStatus::Ahead,
        }
    }

    pub fn handle(&mut self, key: KeyEvent) -> WizardOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return WizardOutcome::Cancel,
            KeyCode::Char('c') if ctrl => return WizardOutcome::Cancel,
            KeyCode::PageDown if self.step == GatewayStep::Details => return self.pair(),
            KeyCode::PageUp => return self.back(),
            _ => {}
        }
        if self.step == GatewayStep::Confirm {
            return match (key.code, &self.pairing) {
                (KeyCode::Enter, PairState::Offered(offer)) => {
                    let offer = offer.clone();
                    let address = offer.address.clone();
                    self.pairing = PairState::Saving(offer);
                    WizardOutcome::ConfirmPairing(address)
                }
                _ => WizardOutcome::Nothing,
            };
        }
        match self.form.handle(key) {
            FormEvent::Edited => {
                self.message = None;
                self.pairing = PairState::NotRun;
                self.revalidate();
                WizardOutcome::Changed
            }
            FormEvent::Moved => WizardOutcome::Changed,
            FormEvent::Submit => self.pair(),
            FormEvent::Unhandled => WizardOutcome::Nothing,
        }
    }

    /// Leaves the details for the gateway: pairs (the code is spent by the gateway).
    fn pair(&mut self) -> WizardOutcome {
        if self.pairing == PairState::Pairing {
            return WizardOutcome::Nothing;
        }
        self.form.touch_all();
        self.revalidate();
        if self.form.has_errors() {
            self.message = Some("fix the fields marked ✗ first".into());
            return WizardOutcome::Changed;
        }
        self.message = None;
        self.pairing = PairState::Pairing;
        WizardOutcome::Pair {
            address: self.address(),
            code: self.form.secret("code").cloned().unwrap_or_default(),
        }
    }

    fn back(&mut self) -> WizardOutcome {
        if self.step == GatewayStep::Details || matches!(self.pairing, PairState::Saving(_)) {
            return WizardOutcome::Nothing;
        }
        // What the gateway showed is not kept: a new pairing needs a fresh code anyway.
        self.step = GatewayStep::Details;
        self.pairing = PairState::NotRun;
        WizardOutcome::Changed
    }

    /// The pairing's answer: an offer to confirm, or the failure beside its field.
    pub fn paired(&mut self, result: Result<PairOffer, PairFailure>) {
        match result {
            Ok(offer) => {
                self.step = GatewayStep::Confirm;
                self.pairing = PairState::Offered(offer);
            }
            Err(failure) => {
                self.pairing = PairState::NotRun;
                self.revalidate();
                let mut extra = Vec::new();
                match &failure {
                    PairFailure::Address(m) => extra.push(Problem::new(ADDRESS, m.clone())),
                    PairFailure::Code(m) => extra.push(Problem::new(CODE, m.clone())),
                    PairFailure::Impersonator(m) => {
                        self.pairing = PairState::Impersonator(m.clone())
                    }
                    PairFailure::Other(m) => self.message = Some(m.clone()),
                }
                if !extra.is_empty() {
                    self.form.apply_problems(&extra);
                    self.form.touch_all();
                }
            }
        }
    }

    /// The save's answer when it failed (success closes the wizard).
    pub fn save_failed(&mut self, message: String) {
        self.pairing = PairState::Failed(message);
    }
}
