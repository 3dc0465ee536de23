//! Machines moving through MAAS's states on the virtual clock, with the texts MAAS gives when
//! an operation does not fit the state.

mod sim_common;

use base64::Engine;
use kubemaas::maas::NodeStatus;
use serde_json::Value;
use sim_common::*;

async fn allocated(maas: &Maas) -> String {
    maas.allocate(&[]).await["system_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn event_types(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn deploy_goes_through_every_phase_then_deployed() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let id = allocated(&maas).await;
    let user_data = base64::engine::general_purpose::STANDARD.encode("#cloud-config\n{}\n");
    let m = maas
        .op(
            &format!("machines/{id}/"),
            "deploy",
            &[("distro_series", "jammy"), ("user_data", &user_data)],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(m["status"], 9);
    assert_eq!(m["status_message"], "Deploying");
    assert_eq!(m["osystem"], "ubuntu");
    assert_eq!(m["distro_series"], "jammy");
    assert_eq!(
        sim.machine(&id).unwrap().user_data.as_deref(),
        Some(&b"#cloud-config\n{}\n"[..])
    );
    let mut seen = vec!["Deploying".to_string()];
    for _ in 0..40 {
        advance(&sim, 20.0).await;
        let m = maas.machine(&id).await;
        let msg = m["status_message"].as_str().unwrap_or_default().to_string();
        if seen.last() != Some(&msg) {
            seen.push(msg);
        }
        if status(&m) == 6 {
            assert_eq!(m["power_state"], "on");
            assert!(!m["ip_addresses"].as_array().unwrap().is_empty());
            break;
        }
        assert_eq!(status(&m), 9, "only Deploying until Deployed");
    }
    assert_eq!(
        seen,
        [
            "Deploying",
            "Performing PXE boot",
            "Loading ephemeral",
            "Configuring storage",
            "Installing OS",
            "Configuring OS",
            "Rebooting",
            "Deployed"
        ]
    );
    let page = maas
        .get("events/", &[("op", "query"), ("id", &id)])
        .await
        .expect(200)
        .json();
    let types = event_types(&page);
    assert_eq!(
        types.first().map(String::as_str),
        Some("Deployed"),
        "newest first"
    );
    assert!(types.contains(&"Installing OS".to_string()));
    assert_eq!(page["count"], types.len());
}

#[tokio::test]
async fn deploy_straight_from_ready_allocates_in_the_same_call() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let id = sim.machines()[0].system_id.clone();
    let m = maas
        .op(
            &format!("machines/{id}/"),
            "deploy",
            &[("agent_name", "c1")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(m["status"], 9);
    assert_eq!(m["owner"], "admin");
    assert_eq!(m["distro_series"], "jammy", "the default series");
    assert_eq!(sim.machine(&id).unwrap().agent_name, "c1");
}

#[tokio::test]
async fn deploy_validates_series_and_state() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let id = allocated(&maas).await;
    let r = maas
        .op(
            &format!("machines/{id}/"),
            "deploy",
            &[("distro_series", "warty")],
        )
        .await
        .expect(400);
    assert!(r.json()["distro_series"][0]
        .as_str()
        .unwrap()
        .starts_with("'warty' is not a valid distro_series."));
    maas.op(
        &format!("machines/{id}/"),
        "deploy",
        &[("distro_series", "ubuntu/22.04")],
    )
    .await
    .expect(200);
    let r = maas
        .op(&format!("machines/{id}/"), "deploy", &[])
        .await
        .expect(409);
    assert_eq!(
        r.text,
        "Can't deploy a machine that is in the 'Deploying' state"
    );
    // Another user's machine.
    let other = sim.machines()[1].system_id.clone();
    let user = Maas::with_key(&sim, sim.user_api_key());
    user.allocate(&[("system_id", &other)]).await;
    let r = maas
        .op(&format!("machines/{other}/"), "deploy", &[])
        .await
        .expect(409);
    assert_eq!(
        r.text,
        "Can't allocate a machine belonging to another user."
    );
}

#[tokio::test]
async fn release_takes_a_minute_and_clears_ownership() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let id = allocated(&maas).await;
    maas.op(
        &format!("machines/{id}/"),
        "set_owner_data",
        &[("cluster", "c1")],
    )
    .await
    .expect(200);
    maas.op(&format!("machines/{id}/"), "deploy", &[])
        .await
        .expect(200);
    advance(&sim, 3600.0).await;
    assert_eq!(status(&maas.machine(&id).await), 6);
    let m = maas
        .op(&format!("machines/{id}/"), "release", &[("comment", "bye")])
        .await
        .expect(200)
        .json();
    assert_eq!(m["status"], 12);
    assert_eq!(m["owner"], Value::Null);
    assert_eq!(m["owner_data"], serde_json::json!({}));
    assert_eq!(m["osystem"], "");
    assert_eq!(m["distro_series"], "");
    // Releasing again while releasing is fine.
    maas.op(&format!("machines/{id}/"), "release", &[])
        .await
        .expect(200);
    advance(&sim, 30.0).await;
    assert_eq!(status(&maas.machine(&id).await), 12);
    advance(&sim, 40.0).await;
    let m = maas.machine(&id).await;
    assert_eq!((status(&m), m["power_state"].as_str().unwrap()), (4, "off"));
    assert!(sim.machine(&id).unwrap().agent_name.is_empty());
    // And once Ready.
    maas.op(&format!("machines/{id}/"), "release", &[])
        .await
        .expect(200);
}

#[tokio::test]
async fn erasing_release_goes_through_disk_erasing() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let quick = allocated(&maas).await;
    let full = allocated(&maas).await;
    let m = maas
        .op(
            &format!("machines/{quick}/"),
            "release",
            &[("erase", "true"), ("quick_erase", "true")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(m["status_name"], "Disk erasing");
    let m = maas
        .op(
            &format!("machines/{full}/"),
            "release",
            &[("secure_erase", "1")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(m["status"], 14);
    advance(&sim, 150.0).await;
    assert_eq!(status(&maas.machine(&quick).await), 4);
    assert_eq!(
        status(&maas.machine(&full).await),
        14,
        "a full erase takes longer"
    );
    advance(&sim, 900.0).await;
    assert_eq!(status(&maas.machine(&full).await), 4);
}

#[tokio::test]
async fn release_is_refused_where_maas_refuses_it() {
    let mut inv = ready_fleet(1);
    inv.machines[0].status = NodeStatus::Commissioning;
    let id = inv.machines[0].system_id.clone();
    let sim = start(inv).await;
    let maas = Maas::new(&sim);
    let r = maas
        .op(&format!("machines/{id}/"), "release", &[])
        .await
        .expect(409);
    assert_eq!(
        r.text,
        "Machine cannot be released in its current state ('Commissioning')."
    );
    let r = maas
        .op("machines/", "release", &[("machines", &id)])
        .await
        .expect(409);
    assert_eq!(
        r.text,
        format!("Machine(s) cannot be released in their current state: {id} ('Commissioning').")
    );
    let r = maas
        .op("machines/", "release", &[("machines", "nope")])
        .await
        .expect(400);
    assert_eq!(r.text, "Unknown machine(s): nope.");
}

#[tokio::test]
async fn bulk_release_returns_the_released_ids() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim);
    let a = allocated(&maas).await;
    let b = allocated(&maas).await;
    let r = maas
        .op(
            "machines/",
            "release",
            &[("machines", &a), ("machines", &b), ("comment", "done")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(r, serde_json::json!([a, b]));
    assert_eq!(
        status(&maas.machine(&a).await),
        4,
        "powered-off machines release at once"
    );
}

#[tokio::test]
async fn abort_stops_deployment_and_erasing() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let id = allocated(&maas).await;
    let r = maas
        .op(&format!("machines/{id}/"), "abort", &[])
        .await
        .expect(409);
    assert_eq!(
        r.text,
        format!("Cannot abort in current state: node {id} is in state Allocated.")
    );
    maas.op(&format!("machines/{id}/"), "deploy", &[])
        .await
        .expect(200);
    advance(&sim, 100.0).await;
    let m = maas
        .op(&format!("machines/{id}/"), "abort", &[("comment", "stop")])
        .await
        .expect(200)
        .json();
    assert_eq!(
        (status(&m), m["power_state"].as_str().unwrap()),
        (10, "off")
    );
    advance(&sim, 3600.0).await;
    assert_eq!(
        status(&maas.machine(&id).await),
        10,
        "an aborted deployment stays aborted"
    );
    let other = allocated(&maas).await;
    maas.op(
        &format!("machines/{other}/"),
        "release",
        &[("erase", "true")],
    )
    .await
    .expect(200);
    let m = maas
        .op(&format!("machines/{other}/"), "abort", &[])
        .await
        .expect(200)
        .json();
    assert_eq!(m["status_name"], "Failed disk erasing");
}

#[tokio::test]
async fn power_owner_data_lock_broken_and_fixed() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let ready = sim.machines()[1].system_id.clone();
    let r = maas
        .op(&format!("machines/{ready}/"), "power_on", &[])
        .await
        .expect(409);
    assert_eq!(r.text, "Can't start node: it hasn't been allocated.");
    let r = maas
        .op(
            &format!("machines/{ready}/"),
            "set_owner_data",
            &[("a", "b")],
        )
        .await
        .expect(409);
    assert_eq!(
        r.text,
        "Cannot set workload annotation: it hasn't been acquired."
    );
    let id = allocated(&maas).await;
    let path = format!("machines/{id}/");
    assert_eq!(
        maas.op(&path, "power_on", &[]).await.expect(200).json()["power_state"],
        "on"
    );
    let q = maas
        .get(&path, &[("op", "query_power_state")])
        .await
        .expect(200)
        .json();
    assert_eq!(q, serde_json::json!({"state": "on"}));
    assert_eq!(
        maas.op(&path, "power_off", &[]).await.expect(200).json()["power_state"],
        "off"
    );
    let m = maas
        .op(
            &path,
            "set_owner_data",
            &[("cluster", "c1"), ("role", "cp")],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(
        m["owner_data"],
        serde_json::json!({"cluster": "c1", "role": "cp"})
    );
    let m = maas
        .op(&path, "set_workload_annotations", &[("role", "")])
        .await
        .expect(200)
        .json();
    assert_eq!(m["owner_data"], serde_json::json!({"cluster": "c1"}));
    let r = maas.op(&path, "lock", &[]).await.expect(409);
    assert!(
        r.text.contains("only deployed machines can be locked"),
        "{}",
        r.text
    );
    maas.op(&path, "deploy", &[]).await.expect(200);
    advance(&sim, 3600.0).await;
    assert_eq!(
        maas.op(&path, "lock", &[]).await.expect(200).json()["locked"],
        true
    );
    maas.op(&path, "release", &[]).await.expect(403);
    maas.op(&path, "unlock", &[]).await.expect(200);
    let m = maas
        .op(&path, "mark_broken", &[("comment", "disk smoke")])
        .await
        .expect(200)
        .json();
    assert_eq!(m["status_name"], "Broken");
    assert_eq!(m["error_description"], "disk smoke");
    let r = maas
        .op(&format!("machines/{ready}/"), "mark_fixed", &[])
        .await
        .expect(409);
    assert_eq!(r.text, "Can't mark a non-broken node as 'Ready'.");
    let m = maas.op(&path, "mark_fixed", &[]).await.expect(200).json();
    assert_eq!(
        m["status_name"], "Deployed",
        "a deployed machine goes back to Deployed"
    );
    // An Allocated machine marked broken is released and comes back Ready.
    let other = allocated(&maas).await;
    maas.op(&format!("machines/{other}/"), "mark_broken", &[])
        .await
        .expect(200);
    let m = maas
        .op(&format!("machines/{other}/"), "mark_fixed", &[])
        .await
        .expect(200)
        .json();
    assert_eq!((status(&m), m["owner"].clone()), (4, Value::Null));
}

#[tokio::test]
async fn listing_filters_by_status_owner_and_rejects_unknown_values() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim);
    let id = allocated(&maas).await;
    let list = maas
        .get("machines/", &[("status", "allocated")])
        .await
        .expect(200)
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["system_id"], id.as_str());
    let list = maas
        .get("machines/", &[("status", "ready"), ("owner", "admin")])
        .await
        .expect(200)
        .json();
    assert!(list.as_array().unwrap().is_empty());
    let r = maas
        .get("machines/", &[("status", "sleepy")])
        .await
        .expect(400);
    assert!(r.json()["status"].is_array());
    // A non-admin sees unowned machines and its own, not the admin's.
    let user = Maas::with_key(&sim, sim.user_api_key());
    assert_eq!(
        user.get("machines/", &[])
            .await
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn events_query_pages_and_limits() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim);
    for _ in 0..3 {
        let id = allocated(&maas).await;
        maas.op(&format!("machines/{id}/"), "deploy", &[])
            .await
            .expect(200);
    }
    advance(&sim, 3600.0).await;
    let all = maas
        .get("events/", &[("op", "query"), ("limit", "1000")])
        .await
        .expect(200)
        .json();
    let ids: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(ids.len() >= 27);
    let created = all["events"][0]["created"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(created, "%a, %d %b. %Y %H:%M:%S").is_ok(),
        "{created}"
    );
    let page = maas
        .get("events/", &[("op", "query"), ("limit", "5")])
        .await
        .expect(200)
        .json();
    assert_eq!(page["count"], 5);
    let oldest = page["events"][4]["id"].as_i64().unwrap();
    let next = maas
        .get(
            "events/",
            &[
                ("op", "query"),
                ("limit", "5"),
                ("before", &oldest.to_string()),
            ],
        )
        .await
        .expect(200)
        .json();
    assert!(next["events"][0]["id"].as_i64().unwrap() < oldest);
    let after = maas
        .get(
            "events/",
            &[("op", "query"), ("after", &ids[3].to_string())],
        )
        .await
        .expect(200)
        .json();
    assert_eq!(after["count"], 3);
    let r = maas
        .get("events/", &[("op", "query"), ("limit", "1001")])
        .await
        .expect(400);
    assert_eq!(
        r.text,
        "Requested number of events 1001 is greater than limit: 1000"
    );
}

#[tokio::test]
async fn delete_removes_a_machine() {
    let sim = start(ready_fleet(2)).await;
    let maas = Maas::new(&sim);
    let id = sim.machines()[0].system_id.clone();
    Maas::with_key(&sim, sim.user_api_key())
        .delete(&format!("machines/{id}/"))
        .await
        .expect(403);
    maas.delete(&format!("machines/{id}/")).await.expect(204);
    maas.get(&format!("machines/{id}/"), &[]).await.expect(404);
}

#[tokio::test]
async fn machines_caught_mid_operation_finish_it() {
    let mut inv = ready_fleet(3);
    inv.machines[0].status = NodeStatus::Commissioning;
    inv.machines[1].status = NodeStatus::Deploying;
    inv.machines[1].owner = Some("admin".into());
    inv.machines[2].status = NodeStatus::DiskErasing;
    let ids: Vec<String> = inv.machines.iter().map(|m| m.system_id.clone()).collect();
    let sim = start(inv).await;
    let maas = Maas::new(&sim);
    assert_eq!(status(&maas.machine(&ids[0]).await), 1);
    advance(&sim, 3600.0).await;
    assert_eq!(status(&maas.machine(&ids[0]).await), 4);
    assert_eq!(status(&maas.machine(&ids[1]).await), 6);
    assert_eq!(status(&maas.machine(&ids[2]).await), 4);
}
