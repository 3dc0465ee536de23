//! Helpers of the wizard tests: a small MAAS (as the engine would fetch it), accounts, and
//! driving the console to a wizard step.
#![allow(dead_code)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use kubemaas::maas::Machine;
use kubemaas::model::MaasSnapshot;
use kubemaas::tui::account_check::AccountSummary;
use kubemaas::tui::app::{update, Cmd, Msg, State};
use kubemaas::tui::lookups::PlacementChoices;
use serde_json::json;

const MACHINES_JSON: &str = include_str!("../data/maas-3.5-machines.json");

/// `ready` Ready machines (48 cores, 384 GiB, 960 GB boot disk) spread over az-1/az-2 and the
/// default / gpu pools, plus one Deployed machine; zones, pools, tags, a domain and images.
pub fn snapshot(ready: usize) -> MaasSnapshot {
    let all: Vec<serde_json::Value> = serde_json::from_str(MACHINES_JSON).expect("fixture");
    let template = all
        .iter()
        .find(|m| m["status_name"] == "Ready")
        .expect("a Ready machine in the fixture")
        .clone();
    let deployed = all
        .iter()
        .find(|m| m["status_name"] == "Deployed")
        .expect("a Deployed machine")
        .clone();
    let mut machines: Vec<Machine> = (0..ready)
        .map(|i| {
            let mut m = template.clone();
            m["system_id"] = json!(format!("r{i:04}"));
            m["hostname"] = json!(format!("node-{i:02}"));
            m["zone"]["name"] = json!(["az-1", "az-2"][i % 2]);
            m["pool"]["name"] = json!(if i % 3 == 2 { "gpu" } else { "default" });
            m["tag_names"] = if i % 3 == 2 {
                json!(["physical", "gpu"])
            } else {
                json!(["physical", "nvme"])
            };
            m["domain"]["name"] = json!("lab");
            serde_json::from_value(m).expect("a machine")
        })
        .collect();
    let mut d = deployed;
    d["zone"]["name"] = json!("az-1");
    d["domain"]["name"] = json!("lab");
    machines.push(serde_json::from_value(d).expect("a machine"));
    let named = |names: &[&str]| -> Vec<serde_json::Value> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": i, "name": n, "description": ""}))
            .collect()
    };
    serde_json::from_value(json!({
        "version": {"version": "3.5.4", "subversion": "", "capabilities": []},
        "zones": named(&["az-1", "az-2"]),
        "pools": named(&["default", "gpu"]),
        "tags": [{"name": "physical"}, {"name": "nvme"}, {"name": "gpu"}],
        "domains": [{"id": 0, "name": "maas"}, {"id": 1, "name": "lab", "is_default": true}],
        "subnets": [],
        "boot_resources": [
            {"id": 1, "type": "Synced", "name": "ubuntu/jammy", "architecture": "amd64/generic"},
            {"id": 2, "type": "Synced", "name": "ubuntu/noble", "architecture": "amd64/generic"}
        ],
        "machines": serde_json::to_value(&machines).expect("machines"),
    }))
    .expect("a snapshot")
}

pub fn choices(ready: usize) -> PlacementChoices {
    PlacementChoices::from_snapshot(snapshot(ready))
}

pub fn accounts() -> Vec<AccountSummary> {
    vec![
        AccountSummary {
            name: "lab".into(),
            gateway: "local".into(),
            endpoint: "http://10.0.0.2:5240/MAAS/".into(),
            maas_version: Some("3.5.4".into()),
            last_validated: Some("2026-11-25T08:00:00Z".into()),
        },
        AccountSummary {
            name: "dc2-prod".into(),
            gateway: "local".into(),
            endpoint: "https://maas.dc2.example:5443/MAAS/".into(),
            maas_version: Some("3.4.2".into()),
            last_validated: None,
        },
    ]
}

pub fn k(state: &mut State, code: KeyCode) -> Vec<Cmd> {
    update(state, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

pub fn ctrl_key(state: &mut State, c: char) -> Vec<Cmd> {
    update(
        state,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

/// Types `text` into the focused field.
pub fn typed(state: &mut State, text: &str) {
    for c in text.chars() {
        let mods = if c.is_ascii_uppercase() {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        update(state, Msg::Key(KeyEvent::new(KeyCode::Char(c), mods)));
    }
}

/// Clears the focused single-line field (end, then backspace over it).
pub fn clear(state: &mut State, len: usize) {
    k(state, KeyCode::End);
    for _ in 0..len {
        k(state, KeyCode::Backspace);
    }
}

/// Runs a `:` command.
pub fn command(state: &mut State, text: &str) -> Vec<Cmd> {
    k(state, KeyCode::Char(':'));
    typed(state, text);
    k(state, KeyCode::Enter)
}
