//! Real MAAS responses (from ../shared/fixtures, present in CI beside the checkout) must parse.

use kubemaas::maas::{Machine, NodeStatus, PowerState};
use std::path::PathBuf;

/// A fixture's text. The project's shared/ sits beside the checkout (in CI too): a missing one
/// fails the test rather than letting it pass without running.
fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/maas")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): these tests need the project's shared/ beside the checkout",
            path.display()
        )
    })
}

#[test]
fn gomaasapi_machines_fixture_parses() {
    let text = fixture("gomaasapi-machines-2.0.json");
    let machines: Vec<Machine> = serde_json::from_str(&text).expect("fixture parses");
    assert_eq!(machines.len(), 3);
    let m = &machines[0];
    assert_eq!(m.system_id, "4y3ha3");
    assert_eq!(m.status, NodeStatus::Deployed);
    assert_eq!(m.status_name, "Deployed");
    assert_eq!(m.power_state, PowerState::On);
    assert_eq!(m.owner.as_deref(), Some("thumper"));
    assert!(m.pool.is_none(), "MAAS 2.0 has no pools");
    assert_eq!(m.pool_name(), "default");
    assert_eq!(m.address_on("192.168.100.0/24"), Some("192.168.100.4"));
    assert_eq!(m.disk_sizes_gb(), vec![8]);
    // Everything not modelled is kept, so printing it back loses nothing.
    assert!(m.extra.contains_key("macaddress_set"));
    let back = serde_json::to_value(m).unwrap();
    let orig: serde_json::Value =
        serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap()[0].clone();
    for key in orig.as_object().unwrap().keys() {
        assert!(back.get(key).is_some(), "field {key} lost on round trip");
    }
}
