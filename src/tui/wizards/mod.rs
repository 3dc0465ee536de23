//! The console's wizards: their state and how keys move through them. Pure: a wizard asks the
//! app for work (deploy, validate, save) through a [`WizardOutcome`]; drawing is in
//! `screens::wizard`.

pub mod account;
pub mod cluster;
pub mod cluster_forms;
pub mod gateway;
pub mod resize;

pub use account::{AccountStep, AccountWizard, CheckState};
pub use cluster::{ChoicesState, ClusterStep, ClusterWizard, DeployState};
pub use gateway::{GatewayStep, GatewayWizard, PairState};
pub use resize::ResizeWizard;

use crate::model::ClusterSpec;
use crate::tui::account_check::AccountDraft;
use crate::tui::widgets::secret::Secret;

/// An open wizard.
#[derive(Debug, Clone)]
pub enum Wizard {
    Cluster(Box<ClusterWizard>),
    Account(Box<AccountWizard>),
    Gateway(Box<GatewayWizard>),
    Resize(Box<ResizeWizard>),
}

impl Wizard {
    pub fn title(&self) -> &'static str {
        match self {
            Wizard::Cluster(_) => "new cluster",
            Wizard::Account(_) => "new cloud account",
            Wizard::Gateway(_) => "gateway pairing",
            Wizard::Resize(_) => "gateway resize",
        }
    }

    pub fn is_dirty(&self) -> bool {
        match self {
            Wizard::Cluster(w) => w.is_dirty(),
            Wizard::Account(w) => w.form.is_dirty(),
            Wizard::Gateway(w) => w.form.is_dirty(),
            Wizard::Resize(w) => w.form.is_dirty(),
        }
    }
}

/// What a key in a wizard asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum WizardOutcome {
    /// Nothing visible changed.
    Nothing,
    /// Redraw.
    Changed,
    /// Esc: leave (after asking, when something was typed).
    Cancel,
    /// Build this cluster.
    Deploy(Box<ClusterSpec>),
    /// Check this account against MAAS.
    Validate(AccountDraft),
    /// Save this (validated) account.
    Save(AccountDraft),
    /// Pair with the gateway at `address` using `code`.
    Pair { address: String, code: Secret },
    /// Keep the pairing made with the gateway at this address.
    ConfirmPairing(String),
    /// Move this gateway onto etcd (`kubemaas gateway resize NAME --nodes 3`).
    Resize {
        gateway: String,
        settings: crate::gateway::resize::EtcdSettings,
    },
}

/// How a step looks in the step header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Done,
    /// Visited, and something there needs fixing.
    Problem,
    Current,
    Ahead,
}
