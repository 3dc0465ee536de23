//! Injected faults: failed deployments, random 503s, one-shot 503/409/504 injections, machines
//! that vanish, lose power, break or go missing — all seeded and reproducible.

mod sim_common;

use kubemaas::maas::NodeStatus;
use kubemaas::sim::{Injection, SimConfig, TransientKind};
use sim_common::*;

#[tokio::test]
async fn every_deployment_fails_at_rate_one_with_a_message() {
    let sim = start_with(
        SimConfig::with_inventory(ready_fleet(4))
            .speed(0.0)
            .fail_deploy_rate(1.0),
    )
    .await;
    let maas = Maas::new(&sim);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let id = maas.allocate(&[]).await["system_id"]
            .as_str()
            .unwrap()
            .to_string();
        maas.op(&format!("machines/{id}/"), "deploy", &[])
            .await
            .expect(200);
        ids.push(id);
    }
    advance(&sim, 2000.0).await;
    for id in &ids {
        let m = maas.machine(id).await;
        assert_eq!(m["status_name"], "Failed deployment", "{m}");
        let msg = m["status_message"].as_str().unwrap();
        assert!(msg.starts_with("Failed deployment - "), "{msg}");
        assert!(!m["error_description"].as_str().unwrap().is_empty());
    }
    let errors = maas
        .get("events/", &[("op", "query"), ("level", "ERROR")])
        .await
        .expect(200)
        .json();
    assert_eq!(errors["count"], 4);
    // A failed deployment cannot be retried in place: release it, then it is reusable.
    let r = maas
        .op(&format!("machines/{}/", ids[0]), "deploy", &[])
        .await
        .expect(409);
    assert_eq!(
        r.text,
        "Can't deploy a machine that is in the 'Failed deployment' state"
    );
    maas.op(&format!("machines/{}/", ids[0]), "release", &[])
        .await
        .expect(200);
    advance(&sim, 120.0).await;
    assert_eq!(maas.machine(&ids[0]).await["status_name"], "Ready");
}

#[tokio::test]
async fn deploy_outcomes_are_reproducible_for_a_seed() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let sim = start_with(
            SimConfig::with_inventory(ready_fleet(6))
                .seed(seed)
                .speed(0.0)
                .fail_deploy_rate(0.5),
        )
        .await;
        let maas = Maas::new(&sim);
        let ids: Vec<String> = sim.machines().iter().map(|m| m.system_id.clone()).collect();
        for id in &ids {
            maas.op(&format!("machines/{id}/"), "deploy", &[])
                .await
                .expect(200);
        }
        advance(&sim, 2000.0).await;
        let mut out = Vec::new();
        for id in &ids {
            out.push(
                maas.machine(id).await["status_message"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        out
    }
    let a = outcomes(11).await;
    assert_eq!(a, outcomes(11).await);
    assert!(a.iter().any(|s| s == "Deployed") || a.iter().any(|s| s.starts_with("Failed")));
}

#[tokio::test]
async fn random_503s_carry_retry_after_but_spare_describe_and_version() {
    let sim = start_with(
        SimConfig::with_inventory(ready_fleet(1))
            .speed(0.0)
            .http_error_rate(1.0),
    )
    .await;
    let maas = Maas::new(&sim);
    let r = maas.get("machines/", &[]).await.expect(503);
    assert_eq!(r.header("retry-after").as_deref(), Some("10"));
    maas.get("version/", &[]).await.expect(200);
    maas.raw("GET", "describe/", &[], Body::None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn injected_failures_hit_exactly_the_next_n_matching_requests() {
    let sim = start(ready_fleet(3)).await;
    let maas = Maas::new(&sim);
    sim.inject(Injection {
        endpoint: "machines/".into(),
        method: Some("POST".into()),
        op: Some("allocate".into()),
        kind: TransientKind::RetryConflict,
        remaining: 2,
        retry_after: None,
    });
    maas.get("machines/", &[]).await.expect(200);
    for _ in 0..2 {
        let r = maas.op("machines/", "allocate", &[]).await.expect(409);
        assert_eq!(r.header("retry-after").as_deref(), Some("5"));
    }
    maas.op("machines/", "allocate", &[]).await.expect(200);
    assert_eq!(
        sim.machines().iter().filter(|m| m.owner.is_some()).count(),
        1,
        "failed attempts changed nothing"
    );

    sim.fail_next("machines/{system_id}/", TransientKind::GatewayTimeout, 1);
    let id = sim.machines()[0].system_id.clone();
    maas.get(&format!("machines/{id}/"), &[]).await.expect(504);
    maas.get(&format!("machines/{id}/"), &[]).await.expect(200);

    // Over HTTP, with a custom Retry-After.
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}faults/inject?endpoint=zones/&status=503&count=1&retry_after=1",
            sim.control_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = maas.get("zones/", &[]).await.expect(503);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    maas.get("zones/", &[]).await.expect(200);
}

#[tokio::test]
async fn machines_can_vanish_lose_power_break_or_go_missing() {
    let sim = start(ready_fleet(4)).await;
    let maas = Maas::new(&sim);
    let ids: Vec<String> = sim.machines().iter().map(|m| m.system_id.clone()).collect();
    for id in &ids {
        maas.op(&format!("machines/{id}/"), "deploy", &[])
            .await
            .expect(200);
    }
    advance(&sim, 3600.0).await;
    assert!(sim.vanish(&ids[0]));
    let r = maas
        .get(&format!("machines/{}/", ids[0]), &[])
        .await
        .expect(404);
    assert_eq!(r.text, "No Machine matches the given query.");
    assert!(sim.power_loss(&ids[1]));
    let m = maas.machine(&ids[1]).await;
    assert_eq!(
        (
            m["status_name"].as_str().unwrap(),
            m["power_state"].as_str().unwrap()
        ),
        ("Deployed", "off")
    );
    assert!(sim.force_status(&ids[2], NodeStatus::Broken, "PSU failed"));
    assert_eq!(maas.machine(&ids[2]).await["status_name"], "Broken");
    // Over HTTP.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}machines/{}/missing", sim.control_url(), ids[3]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(maas.machine(&ids[3]).await["status_name"], "Missing");
    let r = http
        .post(format!("{}machines/nope/vanish", sim.control_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn latency_is_applied_without_breaking_requests() {
    let sim = start_with(
        SimConfig::with_inventory(ready_fleet(1))
            .speed(0.0)
            .latency_ms(1),
    )
    .await;
    Maas::new(&sim).get("zones/", &[]).await.expect(200);
}

#[tokio::test]
async fn any_status_and_power_state_can_be_forced_over_http() {
    let sim = start(ready_fleet(1)).await;
    let maas = Maas::new(&sim);
    let id = sim.machines()[0].system_id.clone();
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}machines/{id}/status?status=failed_releasing&reason=BMC+timeout",
            sim.control_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let m = maas.machine(&id).await;
    assert_eq!(m["status_name"], "Releasing failed");
    assert_eq!(m["status_message"], "Releasing failed - BMC timeout");
    let r = http
        .post(format!(
            "{}machines/{id}/power?state=error",
            sim.control_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let q = maas
        .get(&format!("machines/{id}/"), &[("op", "query_power_state")])
        .await
        .expect(200)
        .json();
    assert_eq!(q["state"], "error");
    let r = http
        .post(format!(
            "{}machines/{id}/status?status=sleepy",
            sim.control_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
