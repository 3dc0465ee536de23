//! Failures against the simulator: failed deployments replaced (never by the same machine),
//! the retry budget, MAAS 503/504s, not enough machines.

mod engine_support;

use engine_support::*;
use kubemaas::engine::ClusterStatus;
use kubemaas::maas::NodeStatus;
use kubemaas::sim::{Injection, TransientKind};
use kubemaas::store::{ClusterPhase, EventId};

/// Passes until some machine of the cluster is Deploying in MAAS; returns it.
async fn first_deploying(
    h: &Harness,
    engine: &kubemaas::engine::Engine,
    id: &kubemaas::store::ClusterId,
) -> String {
    for _ in 0..10 {
        engine.step().await.unwrap();
        if let Some(m) = h
            .tagged(id)
            .into_iter()
            .find(|m| m.status == NodeStatus::Deploying)
        {
            return m.system_id;
        }
        h.sim.advance(30.0);
    }
    panic!("nothing deploying");
}

#[tokio::test]
async fn a_failed_deployment_is_replaced_by_another_machine() {
    let h = Harness::new(10, 21).await;
    let engine = h.engine();
    let id = create(&h, spec("fail1", 1, &[("workers", 2)])).await;
    let victim = first_deploying(&h, &engine, &id).await;
    assert!(h
        .sim
        .force_status(&victim, NodeStatus::FailedDeployment, "curtin failed"));
    let c = h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let status: ClusterStatus = c.status_as().unwrap();
    assert_eq!(status.excluded, vec![victim.clone()]);
    let held: Vec<String> = h
        .store
        .read(|r| r.machines(&id, false))
        .unwrap()
        .into_iter()
        .map(|m| m.system_id)
        .collect();
    assert_eq!(held.len(), 3);
    assert!(!held.contains(&victim), "the failed machine is used again");
    // The failed machine went back to MAAS once its replacement was taken.
    let m = h.sim.machine(&victim).unwrap();
    assert!(
        m.owner.is_none(),
        "failed machine still held: {}",
        m.status.label()
    );
    let events = h.store.events_after(Some(&id), EventId(0), 1000).unwrap();
    assert!(events
        .iter()
        .any(|e| e.message.contains("replacing it with another machine")));
    h.assert_no_leak();
}

#[tokio::test]
async fn the_same_machine_is_never_taken_again_even_when_it_is_the_only_one() {
    // Exactly enough machines: after the failure only the failed one (Ready again) is left, so
    // the cluster must wait rather than take it back.
    let h = Harness::new(2, 22).await;
    let engine = h.engine();
    let id = create(&h, spec("fail2", 1, &[("workers", 1)])).await;
    let victim = first_deploying(&h, &engine, &id).await;
    h.sim
        .force_status(&victim, NodeStatus::FailedDeployment, "disk error");
    for _ in 0..8 {
        engine.step().await.unwrap();
        h.sim.advance(60.0);
    }
    let c = h.cluster("fail2");
    assert_eq!(c.phase, ClusterPhase::Provisioning);
    let reason = c.reason.expect("a waiting reason");
    assert!(reason.contains("waiting for machines"), "{reason}");
    let held = h.store.read(|r| r.machines(&id, false)).unwrap();
    assert!(held
        .iter()
        .all(|m| m.system_id != victim || m.state == "failed" || m.state == "rejected"));
    h.assert_no_leak();
}

#[tokio::test]
async fn the_retry_budget_bounds_replacements() {
    let h = Harness::new(12, 23).await;
    let mut config = h.config();
    config.replace_budget = 1;
    let engine = kubemaas::engine::Engine::start(h.store.clone(), config).unwrap();
    let id = create(&h, spec("fail3", 1, &[("workers", 1)])).await;
    let mut failed = Vec::new();
    for _ in 0..40 {
        engine.step().await.unwrap();
        if h.cluster("fail3").phase == ClusterPhase::Failed {
            break;
        }
        for m in h.tagged(&id) {
            if m.status == NodeStatus::Deploying && !failed.contains(&m.system_id) {
                h.sim
                    .force_status(&m.system_id, NodeStatus::FailedDeployment, "bad NIC");
                failed.push(m.system_id);
            }
        }
        h.sim.advance(60.0);
    }
    let c = h.cluster("fail3");
    assert_eq!(c.phase, ClusterPhase::Failed);
    assert!(c.reason.unwrap().contains("replacements allowed"));
    // Delete still cleans up a failed cluster.
    let api = h.api();
    kubemaas::engine::EngineApi::delete_cluster(&api, "fail3", false)
        .await
        .unwrap();
    h.drive(&engine, &id, 20, |c| c.is_deleted()).await;
    assert!(h.tagged(&id).is_empty());
    h.assert_no_leak();
}

#[tokio::test]
async fn random_deployment_failures_are_absorbed() {
    let mut inv = fleet(24, 24, false);
    inv.machines.truncate(24);
    let h = Harness::with_fleet(inv, 24).await;
    h.sim.with_region(|r| r.faults.fail_deploy_rate = 0.5);
    let mut config = h.config();
    config.replace_budget = 20;
    let engine = kubemaas::engine::Engine::start(h.store.clone(), config).unwrap();
    let id = create(&h, spec("flaky", 1, &[("workers", 5)])).await;
    let c = h
        .drive(&engine, &id, 150, |c| c.phase == ClusterPhase::Running)
        .await;
    let status: ClusterStatus = c.status_as().unwrap();
    let replaced: u32 = status.replacements.values().sum();
    assert!(replaced > 0, "the seeded fault stream failed no deployment");
    assert_eq!(status.excluded.len() as u32, replaced);
    h.assert_no_leak();
}

#[tokio::test]
async fn maas_503s_and_504s_are_retried_without_leaking() {
    let h = Harness::new(10, 25).await;
    let engine = h.engine();
    let id = create(&h, spec("busy", 1, &[("workers", 2)])).await;
    // 503 + Retry-After on allocate: MAAS rolled it back, the client sends it again.
    h.sim.inject(Injection {
        endpoint: "machines/".into(),
        method: Some("POST".into()),
        op: Some("allocate".into()),
        kind: TransientKind::Unavailable,
        remaining: 2,
        retry_after: Some(1),
    });
    // 504 on deploy: no Retry-After, so the outcome is unknown: the intent stays open and the
    // next pass looks at MAAS.
    h.sim.inject(Injection {
        endpoint: "machines/{system_id}/".into(),
        method: Some("POST".into()),
        op: Some("deploy".into()),
        kind: TransientKind::GatewayTimeout,
        remaining: 1,
        retry_after: None,
    });
    // Reads fail too, more times than the client retries: the pass fails, the cluster waits.
    h.sim
        .fail_next("machines/", TransientKind::GatewayTimeout, 4);
    let mut transient = 0;
    for _ in 0..40 {
        let report = engine.step().await.unwrap();
        transient += report.transient_errors;
        if h.cluster("busy").phase == ClusterPhase::Running {
            break;
        }
        h.sim.advance(60.0);
    }
    assert_eq!(h.cluster("busy").phase, ClusterPhase::Running);
    assert!(transient > 0, "no pass met a transient failure");
    assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
    h.assert_no_leak();
}

#[tokio::test]
async fn not_enough_machines_leaves_the_cluster_waiting_not_failed() {
    let mut inv = fleet(4, 26, false);
    for m in inv.machines.iter_mut().skip(2) {
        m.status = NodeStatus::Broken;
    }
    let broken: Vec<String> = inv
        .machines
        .iter()
        .skip(2)
        .map(|m| m.system_id.clone())
        .collect();
    let h = Harness::with_fleet(inv, 26).await;
    let engine = h.engine();
    let id = create(&h, spec("short", 1, &[("workers", 3)])).await;
    for _ in 0..5 {
        engine.step().await.unwrap();
        h.sim.advance(60.0);
    }
    let c = h.cluster("short");
    assert_eq!(c.phase, ClusterPhase::Provisioning);
    let reason = c.reason.unwrap();
    assert!(
        reason.contains("pool workers") && reason.contains("matches"),
        "{reason}"
    );
    let events = h.store.events_after(Some(&id), EventId(0), 1000).unwrap();
    assert!(events
        .iter()
        .any(|e| e.message.contains("not enough machines yet")));
    // Machines come back: the cluster carries on.
    for sid in &broken {
        h.sim.force_status(sid, NodeStatus::Ready, "fixed");
    }
    let c = h.until_phase(&engine, &id, ClusterPhase::Running).await;
    assert_eq!(c.reason, None);
    h.assert_no_leak();
}

#[tokio::test]
async fn a_vip_off_the_node_subnet_fails_the_cluster_with_the_reason() {
    let h = Harness::new(6, 27).await;
    let engine = h.engine();
    let mut s = spec("offnet", 1, &[("workers", 1)]);
    s.spec.network.control_plane_endpoint.vip = Some("172.31.0.10".into());
    let id = create(&h, s).await;
    let c = h
        .drive(&engine, &id, 10, |c| c.phase == ClusterPhase::Failed)
        .await;
    let reason = c.reason.unwrap();
    assert!(reason.contains("172.31.0.10"), "{reason}");
    // Whatever was taken before the failure goes back with delete.
    kubemaas::engine::EngineApi::delete_cluster(&h.api(), "offnet", false)
        .await
        .unwrap();
    h.drive(&engine, &id, 10, |c| c.is_deleted()).await;
    assert!(h.tagged(&id).is_empty());
}

#[tokio::test]
async fn a_pool_no_machine_in_maas_could_fill_fails_before_anything_is_allocated() {
    // Six machines in all, twenty workers wanted: no wait can help, so the cluster must not
    // take its control-plane machine and hold it while waiting for the workers.
    let h = Harness::new(6, 28).await;
    let engine = h.engine();
    let id = create(&h, spec("never", 1, &[("workers", 20)])).await;
    let c = h
        .drive(&engine, &id, 10, |c| c.phase == ClusterPhase::Failed)
        .await;
    let reason = c.reason.unwrap();
    assert!(
        reason.contains("spec.nodePools[1].size: pool workers needs 20 machines")
            && reason.contains("of the 6 machine(s) in MAAS, whatever their status, 6 could ever match, 1 needed by pool control-plane (15 more needed)"),
        "{reason}"
    );
    assert!(h.tagged(&id).is_empty(), "a machine was allocated");
}

#[tokio::test]
async fn thousands_of_unknown_tags_make_a_short_reason() {
    let h = Harness::new(6, 29).await;
    let engine = h.engine();
    let mut s = spec("tags", 1, &[("workers", 1)]);
    s.spec.node_pools[1].maas_tags = (0..2000).map(|i| format!("no-such-tag-{i}")).collect();
    let id = create(&h, s).await;
    let c = h
        .drive(&engine, &id, 10, |c| c.phase == ClusterPhase::Failed)
        .await;
    let reason = c.reason.unwrap();
    assert!(reason.lines().count() <= 13, "{reason}");
    assert!(reason.contains("2000 problems:"), "{reason}");
    assert!(reason.contains("  ... and 1990 more"), "{reason}");
}
