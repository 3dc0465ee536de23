//! A simulator serving a real MAAS dump (`kubemaas sim --inventory FILE`): the machines come
//! back as they were loaded, and the loaded Ready machines can be allocated and deployed.

mod sim_common;

use kubemaas::sim::inventory;
use sim_common::*;
use std::path::PathBuf;

#[tokio::test]
async fn a_real_dump_is_served_and_usable() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/maas/gomaasapi-machines-2.0.json");
    assert!(
        path.exists(),
        "{} is missing: this test needs the project's shared/ beside the checkout",
        path.display()
    );
    let inv = inventory::load_file(&path).expect("the fixture loads");
    let loaded: Vec<String> = inv.machines.iter().map(|m| m.system_id.clone()).collect();
    let sim = start(inv).await;
    let maas = Maas::new(&sim);
    let list = maas.get("machines/", &[]).await.expect(200).json();
    let served: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["system_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(served, loaded);
    let m = maas.allocate(&[("cpu_count", "1")]).await;
    let id = m["system_id"].as_str().unwrap().to_string();
    assert_eq!(m["status_name"], "Allocated");
    maas.op(&format!("machines/{id}/"), "deploy", &[])
        .await
        .expect(200);
    advance(&sim, 3600.0).await;
    let m = maas.machine(&id).await;
    assert_eq!(m["status_name"], "Deployed");
}
