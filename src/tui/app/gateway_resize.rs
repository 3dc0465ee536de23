//! `r` on the Gateways screen: resize the selected paired 1-node gateway to 3 nodes. The
//! dialog ([`ResizeWizard`]) takes the etcd settings; the console then runs the same resize as
//! `kubemaas gateway resize NAME --nodes 3`, and its steps — checking etcd, switching, back
//! on etcd, the commands that start the other nodes — fill a panel like the upgrade's.
//! Refused under --readonly, for `local`, for an unpaired gateway and while an upgrade or
//! another resize runs.

use super::msg::Cmd;
use super::state::{FlashLevel, State};
use crate::gateway::resize::{EtcdSettings, ResizeProgress};
use crate::tui::source::{Reachability, SourceError};
use crate::tui::wizards::{ResizeWizard, Wizard};

/// A gateway resize as the Gateways screen's panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResizePanel {
    pub gateway: String,
    /// One line per step, oldest first.
    pub lines: Vec<String>,
    /// None while it runs; then what to do next (one line each), or why it did not finish.
    pub outcome: Option<Result<Vec<String>, String>>,
}

impl ResizePanel {
    fn step(&mut self, p: ResizeProgress) {
        let line = match p {
            ResizeProgress::Checking { address } => {
                format!("{address} checks etcd and the log under the prefix")
            }
            ResizeProgress::Switching { node, config, .. } => format!(
                "wrote the `etcd:` section into {config}; draining, then restarting as node {node}"
            ),
            ResizeProgress::Back { address } => {
                format!("{address} is back, keeping its state in etcd")
            }
            ResizeProgress::Waiting { have, want } => format!("{have} of {want} nodes"),
        };
        self.lines.push(line);
    }

    /// Whether it still runs.
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }
}

/// Opens the dialog for the selected gateway, or says why not.
pub fn open(state: &mut State) {
    state.dirty = true;
    let Some(g) = state.gateways.selected_row() else {
        return;
    };
    let refusal = if state.readonly {
        Some("read-only: resizing a gateway is refused because kubemaas was started with --readonly; restart without it to change anything".to_string())
    } else if let Some(busy) = state.gateways.upgrade_in_flight() {
        Some(format!(
            "gateway {busy} is being upgraded: wait for it to finish before resizing"
        ))
    } else if let Some(p) = state.gateways.resize.as_ref().filter(|p| p.running()) {
        Some(format!(
            "gateway {} is being resized: wait for it to finish (its panel shows how far it is)",
            p.gateway
        ))
    } else if g.reachability == Reachability::Embedded {
        Some("`local` is the embedded engine of this console: only a gateway is resized".into())
    } else if !g.unpairable() {
        Some(format!(
            "gateway {} is not paired with this console: pair it first (n), then resize it",
            g.name
        ))
    } else {
        None
    };
    match refusal {
        Some(text) => state.flash(FlashLevel::Warning, text),
        None => {
            let name = g.name.clone();
            state.wizard = Some(Wizard::Resize(Box::new(ResizeWizard::new(&name))));
        }
    }
}

/// The operator sent the dialog: the panel opens and the work starts.
pub fn started(state: &mut State, gateway: String, settings: EtcdSettings) -> Vec<Cmd> {
    state.gateways.resize = Some(ResizePanel {
        gateway: gateway.clone(),
        lines: Vec::new(),
        outcome: None,
    });
    state.flash(
        FlashLevel::Info,
        format!("resizing gateway {gateway}: cluster requests are queued while it restarts"),
    );
    state.dirty = true;
    vec![Cmd::ResizeGateway { gateway, settings }]
}

/// A step of the resize of `gateway`.
pub fn progressed(state: &mut State, gateway: String, step: ResizeProgress) {
    if let Some(panel) = state
        .gateways
        .resize
        .as_mut()
        .filter(|p| p.gateway == gateway)
    {
        panel.step(step);
        state.dirty = true;
    }
}

/// The resize of `gateway` finished (or failed).
pub fn finished(state: &mut State, gateway: String, result: Result<Vec<String>, SourceError>) {
    let Some(panel) = state
        .gateways
        .resize
        .as_mut()
        .filter(|p| p.gateway == gateway)
    else {
        return;
    };
    state.dirty = true;
    match result {
        Ok(next) => {
            panel.outcome = Some(Ok(next));
            state.flash(
                FlashLevel::Info,
                format!("gateway {gateway} keeps its state in etcd: start the other nodes as its panel shows"),
            );
        }
        Err(e) => {
            panel.outcome = Some(Err(e.message.clone()));
            state.flash(
                FlashLevel::Error,
                format!("resize of gateway {gateway} failed: {}", e.message),
            );
        }
    }
}
