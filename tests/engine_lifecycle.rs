//! Cluster lifecycle against the in-process simulator (frozen clock, advanced between passes):
//! create to Running, delete, abort, scale.

mod engine_support;

use engine_support::*;
use kubemaas::engine::{ClusterStatus, EngineApi};
use kubemaas::store::{ClusterPhase, EventId};
use std::collections::BTreeMap;

#[tokio::test]
async fn one_control_plane_and_a_worker_reach_running() {
    let h = Harness::new(12, 1).await;
    let engine = h.engine();
    let id = create(&h, spec("alpha", 1, &[("workers", 1)])).await;
    h.sim.counters().reset();
    let c = h.until_phase(&engine, &id, ClusterPhase::Running).await;
    assert_eq!(c.reason, None);
    assert_eq!(c.observed_generation, c.spec_generation);

    let machines = h.store.read(|r| r.machines(&id, false)).unwrap();
    assert_eq!(machines.len(), 2);
    let roles: Vec<&str> = machines.iter().map(|m| m.role.as_str()).collect();
    assert!(
        roles.contains(&"init_control_plane") && roles.contains(&"worker"),
        "{roles:?}"
    );
    for m in &machines {
        assert_eq!(m.state, "deployed");
        let sm = h.sim.machine(&m.system_id).unwrap();
        assert_eq!(sm.agent_name, format!("kubemaas:{id}"));
        assert_eq!(sm.owner_data.get("kubemaas-cluster"), Some(&id.to_string()));
        assert_eq!(sm.owner_data.get("kubemaas-pool"), Some(&m.pool));
        assert_eq!(sm.status, kubemaas::maas::NodeStatus::Deployed);
    }
    let status: ClusterStatus = c.status_as().unwrap();
    let vip = status.vip.clone().expect("a VIP was reserved");
    assert!(vip.starts_with("10.10."), "{vip}");
    assert!(status.initialized);
    // Every MAAS action is an event; the journal tells the story in order.
    let events = h.store.events_after(Some(&id), EventId(0), 1000).unwrap();
    let text: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    for needle in [
        "allocated",
        "reserved",
        "deploying",
        "MAAS deployed",
        "is Ready",
        "cluster is running",
    ] {
        assert!(
            text.iter().any(|t| t.contains(needle)),
            "no `{needle}` event in {text:#?}"
        );
    }
    // No intent left open, no leak.
    assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
    h.assert_no_leak();
    assert!(engine.leak_check().await.unwrap().is_clean());
    // The admin kubeconfig points at the VIP.
    let kubeconfig = h.api().kubeconfig("alpha").await.unwrap();
    assert!(kubeconfig.contains(&format!("https://{vip}:6443")));
    // Secrets stay out of the status and the view.
    let view = serde_json::to_string(&h.api().cluster("alpha").await.unwrap()).unwrap();
    assert!(!view.contains("PRIVATE KEY"));
}

#[tokio::test]
async fn three_control_planes_and_two_worker_pools_spread_over_zones() {
    let h = Harness::new(24, 2).await;
    let engine = h.engine();
    let id = create(&h, spec("beta", 3, &[("general", 3), ("edge", 2)])).await;
    h.sim.counters().reset();
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let machines = h.store.read(|r| r.machines(&id, false)).unwrap();
    assert_eq!(machines.len(), 8);
    let inits = machines
        .iter()
        .filter(|m| m.role == "init_control_plane")
        .count();
    let joins = machines
        .iter()
        .filter(|m| m.role == "join_control_plane")
        .count();
    assert_eq!((inits, joins), (1, 2));
    // Each pool is spread over its zones: at most one machine more in any zone than another.
    for pool in ["control-plane", "general", "edge"] {
        let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
        for m in machines.iter().filter(|m| m.pool == pool) {
            *per_zone
                .entry(h.sim.machine(&m.system_id).unwrap().zone)
                .or_default() += 1;
        }
        let max = per_zone.values().max().unwrap();
        let min = if per_zone.len() < 3 {
            0
        } else {
            *per_zone.values().min().unwrap()
        };
        assert!(max - min <= 1, "pool {pool} is not spread: {per_zone:?}");
    }
    // One machines list per cluster per pass: polls never ask for machines one by one.
    let counters = h.sim.counters();
    let per_machine_reads = counters.get("GET", "machines/{system_id}/", None);
    assert_eq!(per_machine_reads, 0);
    let total = counters.total();
    eprintln!(
        "MAAS requests for 8 machines: {total} ({:.1} per machine)",
        total as f64 / 8.0
    );
    assert!(total as f64 / 8.0 < 10.0, "{total} requests for 8 machines");
    h.assert_no_leak();
}

#[tokio::test]
async fn delete_releases_everything_and_the_cluster_leaves_the_list() {
    let h = Harness::new(10, 3).await;
    let engine = h.engine();
    let id = create(&h, spec("gamma", 1, &[("workers", 2)])).await;
    let c = h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let vip = c.status_as::<ClusterStatus>().unwrap().vip.unwrap();
    let held: Vec<String> = h.tagged(&id).into_iter().map(|m| m.system_id).collect();
    assert_eq!(held.len(), 3);

    let api = h.api();
    // Abort is for clusters still provisioning.
    let err = api.abort_cluster("gamma").await.unwrap_err().to_string();
    assert!(err.contains("delete"), "{err}");
    api.delete_cluster("gamma", true).await.unwrap();
    h.drive(&engine, &id, 30, |c| c.is_deleted()).await;

    assert!(api.clusters().await.unwrap().is_empty());
    assert!(h.store.read(|r| r.machines(&id, false)).unwrap().is_empty());
    for sid in &held {
        let m = h.sim.machine(sid).unwrap();
        assert!(
            m.owner.is_none() && m.agent_name.is_empty(),
            "{sid} still owned"
        );
    }
    assert!(!kubemaas::engine::secrets::secrets_path(h.dir.path(), &id).exists());
    let events = h.store.events_after(Some(&id), EventId(0), 1000).unwrap();
    assert!(events
        .iter()
        .any(|e| e.message.contains("with disk erasure")));
    assert!(events.iter().any(|e| e
        .message
        .contains(&format!("released the control-plane VIP {vip}"))));
    // The name is free again.
    create(&h, spec("gamma", 1, &[("workers", 1)])).await;
    h.assert_no_leak();
}

#[tokio::test]
async fn delete_is_refused_while_provisioning_and_abort_works_at_several_points() {
    for passes in [0usize, 1, 3, 6] {
        let h = Harness::new(10, 10 + passes as u64).await;
        let engine = h.engine();
        let id = create(&h, spec("delta", 3, &[("workers", 2)])).await;
        for _ in 0..passes {
            engine.step().await.unwrap();
            h.sim.advance(60.0);
        }
        let api = h.api();
        let err = api
            .delete_cluster("delta", false)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("abort"), "{err}");
        api.abort_cluster("delta").await.unwrap();
        let c = h.until_phase(&engine, &id, ClusterPhase::Aborted).await;
        assert!(c.reason.unwrap().contains("aborted"));
        assert!(
            h.tagged(&id).is_empty(),
            "after {passes} passes machines stay tagged"
        );
        assert!(h.store.read(|r| r.machines(&id, false)).unwrap().is_empty());
        assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
        // An aborted cluster can then be deleted (it holds nothing).
        api.delete_cluster("delta", false).await.unwrap();
        h.drive(&engine, &id, 5, |c| c.is_deleted()).await;
        h.assert_no_leak();
    }
}

#[tokio::test]
async fn scale_up_then_down_releases_the_newest() {
    let h = Harness::new(12, 4).await;
    let engine = h.engine();
    let id = create(&h, spec("eps", 1, &[("workers", 1)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let api = h.api();
    let err = api
        .scale_pool("eps", "nope", 3)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("workers"), "{err}");

    api.scale_pool("eps", "workers", 3).await.unwrap();
    let c = h
        .drive(&engine, &id, 40, |c| {
            c.phase == ClusterPhase::Running && c.observed_generation == 2
        })
        .await;
    assert_eq!(c.spec_generation, 2);
    let workers: Vec<_> = h
        .store
        .read(|r| r.machines(&id, false))
        .unwrap()
        .into_iter()
        .filter(|m| m.pool == "workers")
        .collect();
    assert_eq!(workers.len(), 3);
    assert!(workers.iter().all(|m| m.state == "deployed"));
    let newest = workers
        .iter()
        .max_by_key(|m| m.id)
        .unwrap()
        .system_id
        .clone();
    let oldest = workers
        .iter()
        .min_by_key(|m| m.id)
        .unwrap()
        .system_id
        .clone();

    api.scale_pool("eps", "workers", 1).await.unwrap();
    h.drive(&engine, &id, 40, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 3
    })
    .await;
    let left: Vec<String> = h.pool_machines(&id, "workers");
    assert_eq!(left, vec![oldest]);
    assert!(h.sim.machine(&newest).unwrap().owner.is_none());
    h.assert_no_leak();
}

#[tokio::test]
async fn dns_endpoint_mode_creates_and_removes_a_maas_record() {
    use kubemaas::model::spec::EndpointMode;
    let h = Harness::new(8, 5).await;
    let engine = h.engine();
    let mut s = spec("dnsy", 1, &[("workers", 1)]);
    s.spec.network.control_plane_endpoint.mode = EndpointMode::Dns;
    s.spec.network.control_plane_endpoint.dns_name = Some("dnsy-api.maas".into());
    let id = create(&h, s).await;
    let c = h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let status: ClusterStatus = c.status_as().unwrap();
    assert_eq!(status.vip, None);
    assert_eq!(status.dns_fqdn.as_deref(), Some("dnsy-api.maas"));
    let record = status.dns_record_id.expect("a DNS record");
    let kubeconfig = h.api().kubeconfig("dnsy").await.unwrap();
    assert!(kubeconfig.contains("https://dnsy-api.maas:6443"));
    h.api().delete_cluster("dnsy", false).await.unwrap();
    h.drive(&engine, &id, 20, |c| c.is_deleted()).await;
    let events = h.store.events_after(Some(&id), EventId(0), 1000).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.message.contains("removed the DNS record dnsy-api.maas")),
        "record {record}"
    );
}

#[tokio::test]
async fn a_running_cluster_repairs_machines_lost_or_broken_behind_its_back() {
    let h = Harness::new(10, 6).await;
    let engine = h.engine();
    let id = create(&h, spec("heal", 1, &[("workers", 2)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let workers: Vec<String> = h.pool_machines(&id, "workers");
    // One worker is deleted from MAAS, the other breaks.
    assert!(h.sim.vanish(&workers[0]));
    assert!(h.sim.force_status(
        &workers[1],
        kubemaas::maas::NodeStatus::Broken,
        "PSU failure"
    ));
    engine.step().await.unwrap();
    assert_eq!(h.cluster("heal").phase, ClusterPhase::Updating);
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let now: Vec<String> = h.pool_machines(&id, "workers");
    assert_eq!(now.len(), 2);
    assert!(
        now.iter().all(|s| !workers.contains(s)),
        "{now:?} vs {workers:?}"
    );
    let events = h.store.events_after(Some(&id), EventId(0), 1000).unwrap();
    assert!(events
        .iter()
        .any(|e| e.message.contains("cluster degraded")));
    h.assert_no_leak();
}
