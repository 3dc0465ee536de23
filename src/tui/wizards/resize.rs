//! The gateway resize dialog (`r` on a paired 1-node gateway): the etcd members the gateway
//! moves its state onto, the key prefix, and optionally the etcd TLS files — paths on the
//! gateway host, which it writes into its gateway.yaml. Each problem is shown beside its field
//! before anything is sent; then the console runs the same resize as `kubemaas gateway resize
//! NAME --nodes 3` and its steps appear in the Gateways screen's panel.

use super::WizardOutcome;
use crate::gateway::resize::{self, EtcdSettings, HA_NODES};
use crate::ha::EtcdConfig;
use crate::model::Problem;
use crate::tui::widgets::form::{Field, Form, FormEvent};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::PathBuf;

const ENDPOINTS: &str = "endpoints";
const PREFIX: &str = "prefix";
const CA: &str = "ca";
const CERT: &str = "cert";
const KEY: &str = "key";

#[derive(Debug, Clone)]
pub struct ResizeWizard {
    /// The paired gateway being resized.
    pub gateway: String,
    pub form: Form,
    /// A problem no single field owns.
    pub message: Option<String>,
}

/// The endpoints typed as one line: separated by commas or spaces.
fn endpoints_of(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

fn path_of(text: String) -> Option<PathBuf> {
    (!text.is_empty()).then(|| PathBuf::from(text))
}

impl ResizeWizard {
    pub fn new(gateway: &str) -> ResizeWizard {
        let form = Form::new(vec![
            Field::text("endpoints", "etcd endpoints", ENDPOINTS, "").with_hint(
                "the etcd members' client URLs as the gateway host reaches them, comma-separated: https://10.0.0.1:2379, …",
            ),
            Field::text("prefix", "Key prefix", PREFIX, &format!("/kubemaas/{gateway}"))
                .with_hint("where this gateway keeps its state in etcd: a prefix no other gateway uses"),
            Field::text("ca", "etcd CA file", CA, "")
                .with_hint("optional: the CA of the members' certificates (a path on the gateway host)"),
            Field::text("cert", "Client certificate", CERT, "")
                .with_hint("optional: the gateway's etcd client certificate (a path on the gateway host)"),
            Field::text("key", "Client key", KEY, "")
                .with_hint("optional, with the certificate: its private key (a path on the gateway host)"),
        ]);
        let mut w = ResizeWizard {
            gateway: gateway.to_string(),
            form,
            message: None,
        };
        w.revalidate();
        w
    }

    /// The settings as typed, or the problems beside their fields.
    fn settings(&self) -> Result<EtcdSettings, Vec<Problem>> {
        let mut problems = Vec::new();
        let endpoints = endpoints_of(&self.form.text("endpoints"));
        if endpoints.is_empty() {
            problems.push(Problem::new(
                ENDPOINTS,
                "required: at least one etcd member, like https://10.0.0.1:2379",
            ));
        }
        for e in &endpoints {
            if let Err(err) = EtcdConfig::new(vec![e.clone()]).validate() {
                problems.push(Problem::new(ENDPOINTS, err.to_string()));
                break;
            }
        }
        let prefix = self.form.text("prefix");
        if !(prefix.starts_with('/') && prefix.len() > 1 && !prefix.contains(char::is_whitespace)) {
            problems.push(Problem::new(
                PREFIX,
                "a key path starting with / and without spaces, like /kubemaas/dc1",
            ));
        }
        let (ca, cert, key) = (
            path_of(self.form.text("ca")),
            path_of(self.form.text("cert")),
            path_of(self.form.text("key")),
        );
        if cert.is_some() != key.is_some() {
            let missing = if cert.is_none() { CERT } else { KEY };
            problems.push(Problem::new(
                missing,
                "the client certificate and its key go together: give both, or neither",
            ));
        } else if cert.is_some() && ca.is_none() {
            problems.push(Problem::new(
                CA,
                "a client certificate needs the members' CA too",
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        resize::settings(u64::from(HA_NODES), endpoints, Some(prefix), ca, cert, key)
            .map(|(_, s)| s)
            .map_err(|e| vec![Problem::new(ENDPOINTS, e.to_string())])
    }

    fn revalidate(&mut self) {
        let problems = self.settings().err().unwrap_or_default();
        self.form.apply_problems(&problems);
    }

    pub fn handle(&mut self, key: KeyEvent) -> WizardOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return WizardOutcome::Cancel,
            KeyCode::Char('c') if ctrl => return WizardOutcome::Cancel,
            KeyCode::PageDown => return self.submit(),
            _ => {}
        }
        match self.form.handle(key) {
            FormEvent::Edited => {
                self.message = None;
                self.revalidate();
                WizardOutcome::Changed
            }
            FormEvent::Moved => WizardOutcome::Changed,
            FormEvent::Submit => self.submit(),
            FormEvent::Unhandled => WizardOutcome::Nothing,
        }
    }

    fn submit(&mut self) -> WizardOutcome {
        self.form.touch_all();
        match self.settings() {
            Ok(settings) => WizardOutcome::Resize {
                gateway: self.gateway.clone(),
                settings,
            },
            Err(problems) => {
                self.form.apply_problems(&problems);
                self.message = Some("fix the fields marked ✗ first".into());
                WizardOutcome::Changed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventKind;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: crossterm::event::KeyEventState::NONE,
        }
    }

    fn type_text(w: &mut ResizeWizard, text: &str) {
        for c in text.chars() {
            w.handle(key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn nothing_is_sent_until_the_endpoints_read_and_then_the_settings_are_sent() {
        let mut w = ResizeWizard::new("dc1");
        assert_eq!(w.handle(key(KeyCode::PageDown)), WizardOutcome::Changed);
        assert!(w.form.has_errors());
        assert!(w.message.is_some());
        type_text(&mut w, "http://127.0.0.1:2379, http://127.0.0.1:2380");
        match w.handle(key(KeyCode::PageDown)) {
            WizardOutcome::Resize { gateway, settings } => {
                assert_eq!(gateway, "dc1");
                assert_eq!(settings.endpoints.len(), 2);
                assert_eq!(settings.prefix.as_deref(), Some("/kubemaas/dc1"));
                assert!(settings.tls.is_none());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_endpoint_or_half_a_client_identity_is_refused_beside_its_field() {
        let mut w = ResizeWizard::new("dc1");
        type_text(&mut w, "10.0.0.1");
        assert_eq!(w.handle(key(KeyCode::PageDown)), WizardOutcome::Changed);
        assert!(w.form.field("endpoints").unwrap().visible_error().is_some());
        let mut w = ResizeWizard::new("dc1");
        type_text(&mut w, "http://127.0.0.1:2379");
        // To the certificate field (endpoints → prefix → ca → cert).
        for _ in 0..3 {
            w.handle(key(KeyCode::Tab));
        }
        type_text(&mut w, "/etc/kubemaas/gw.pem");
        assert_eq!(w.handle(key(KeyCode::PageDown)), WizardOutcome::Changed);
        assert!(w.form.field("key").unwrap().visible_error().is_some());
    }
}
