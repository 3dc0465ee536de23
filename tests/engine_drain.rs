//! Drains before releases, against the in-process simulator's Kubernetes (frozen clock, one
//! virtual minute between passes): scale down drains each removed node before its machine goes
//! back to MAAS, a rolling update drains the old node only once its replacement is Ready, a
//! node that never drains is released after the bound with a warning, a cluster API that does
//! not answer means no drain (said in an event), and delete drains nothing.

mod engine_support;

use engine_support::*;
use kubemaas::engine::{ClusterStatus, Engine, EngineApi};
use kubemaas::model::spec::RolloutStrategy;
use kubemaas::store::{ClusterId, ClusterPhase, EventId, EventLevel, EventRow};

/// The harness's engine, but probing and draining through the simulator's Kubernetes.
fn engine(h: &Harness) -> Engine {
    Engine::start(h.store.clone(), h.sim_probe_config()).expect("engine starts")
}

fn drain_outcome(e: &EventRow) -> Option<&str> {
    op_outcome(e, "drain")
}

fn is_drain(outcome: &'static str) -> impl Fn(&EventRow) -> bool {
    move |e| drain_outcome(e) == Some(outcome)
}

fn workers(h: &Harness, id: &ClusterId) -> Vec<(String, String)> {
    h.pool_nodes(id, "workers")
}

/// When MAAS started releasing `sid` (the simulator's event log).
fn releasing_at(h: &Harness, sid: &str) -> chrono::DateTime<chrono::Utc> {
    h.sim.with_region(|r| {
        r.events()
            .iter()
            .rev()
            .find(|e| e.node == sid && e.kind == "Releasing")
            .map(|e| e.created)
            .expect("MAAS released the machine")
    })
}

#[tokio::test]
async fn scale_down_drains_each_removed_node_before_its_release() {
    let h = Harness::new(12, 71).await;
    let engine = engine(&h);
    let id = create(&h, spec("shrink", 1, &[("workers", 3)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let before = workers(&h, &id);
    assert_eq!(before.len(), 3);
    let mark = h.last_event(&id);

    h.api().scale_pool("shrink", "workers", 1).await.unwrap();
    // One pass: the two newest workers retire and their drains start; nothing is released.
    engine.step().await.unwrap();
    let c = h.cluster("shrink");
    assert_eq!(c.phase, ClusterPhase::Updating);
    let status: ClusterStatus = c.status_as().unwrap();
    assert_eq!(status.drains.len(), 2, "{status:?}");
    let pool = status.pools.iter().find(|p| p.pool == "workers").unwrap();
    assert_eq!(pool.draining, 2);
    assert!(pool.line().contains("2 draining"), "{}", pool.line());
    for sid in status.drains.keys() {
        assert!(
            h.sim.machine(sid).unwrap().owner.is_some(),
            "{sid} released undrained"
        );
    }
    let k8s = h.sim.k8s_cluster(id.as_str()).unwrap();
    assert_eq!(k8s.drains.len(), 2);
    assert!(k8s.drains.iter().all(|d| d.drained_at.is_none()));
    assert_eq!(
        k8s.nodes.iter().filter(|n| n.unschedulable).count(),
        2,
        "cordoned"
    );

    h.drive(&engine, &id, 20, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = workers(&h, &id);
    assert_eq!(after.len(), 1);
    let evs = h.events(&id, mark);
    let k8s = h.sim.k8s_cluster(id.as_str()).unwrap();
    let removed: Vec<&(String, String)> = before.iter().filter(|w| !after.contains(w)).collect();
    assert_eq!(removed.len(), 2);
    for (sid, node) in removed {
        let started = first_event(&evs, sid, is_drain("started")).expect("drain started");
        let finished = first_event(&evs, sid, is_drain("finished")).expect("drain finished");
        let released = first_event(&evs, sid, is_release).expect("released");
        assert!(
            started < finished && finished < released,
            "{sid}: {started:?} {finished:?} {released:?}"
        );
        assert!(first_event(&evs, sid, is_drain("gave_up")).is_none());
        let d = k8s
            .drains
            .iter()
            .find(|d| &d.node == node)
            .expect("simulator saw the drain");
        let drained_at = d.drained_at.expect("the node is gone");
        assert!(
            drained_at <= releasing_at(&h, sid),
            "{node} released before it was drained"
        );
        assert!(k8s.nodes.iter().all(|n| &n.name != node));
        assert!(h.sim.machine(sid).unwrap().owner.is_none());
    }
    // The one kept was never drained.
    assert!(k8s.drains.iter().all(|d| d.node != after[0].1));
    let status: ClusterStatus = h.cluster("shrink").status_as().unwrap();
    assert!(status.drains.is_empty());
    h.assert_no_leak();
}

#[tokio::test]
async fn a_rolling_update_drains_the_old_node_after_the_new_one_is_ready() {
    let h = Harness::with_fleet(fleet(16, 72, true), 72).await;
    let engine = engine(&h);
    let mut s = spec("rolly", 1, &[("workers", 2)]);
    s.spec.node_pools[1].rolling_update.strategy = RolloutStrategy::ExpandFirst;
    let id = create(&h, s.clone()).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let before = workers(&h, &id);
    let mark = h.last_event(&id);

    s.spec.node_pools[1].resource_pool = "compute".into();
    h.api().update_spec("rolly", s).await.unwrap();
    h.drive(&engine, &id, 120, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = workers(&h, &id);
    assert_eq!(after.len(), 2);
    let evs = h.events(&id, mark);
    let ready_of = |node: &str| {
        evs.iter()
            .find(|e| e.message == format!("Kubernetes node {node} is Ready"))
            .map(|e| e.id)
            .unwrap_or_else(|| panic!("{node} never Ready"))
    };
    let mut new_ready: Vec<EventId> = after.iter().map(|(_, n)| ready_of(n)).collect();
    new_ready.sort();
    let mut rolled: Vec<(EventId, EventId, EventId)> = before
        .iter()
        .map(|(sid, _)| {
            (
                first_event(&evs, sid, is_drain("started")).expect("old node drained"),
                first_event(&evs, sid, is_drain("finished")).expect("drain finished"),
                first_event(&evs, sid, is_release).expect("released"),
            )
        })
        .collect();
    rolled.sort();
    for (i, (started, finished, released)) in rolled.iter().enumerate() {
        assert!(
            new_ready[i] < *started,
            "old node {i} drained before its replacement was Ready"
        );
        assert!(started < finished && finished < released);
    }
    // One at a time: the second old node is drained only once the first is gone.
    assert!(rolled[0].2 < rolled[1].0, "{rolled:?}");
    // New nodes are never drained.
    for (sid, _) in &after {
        assert!(first_event(&evs, sid, |e| drain_outcome(e).is_some()).is_none());
    }
    h.assert_no_leak();
}

#[tokio::test]
async fn a_node_that_never_drains_is_released_after_the_bound_with_a_warning() {
    let h = Harness::new(10, 73).await;
    let engine = engine(&h);
    let id = create(&h, spec("stuck", 1, &[("workers", 2)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let before = workers(&h, &id);
    // The newest worker goes on scale down; a PodDisruptionBudget never lets its pods go.
    let rows = h.store.read(|r| r.machines(&id, false)).unwrap();
    let newest = rows
        .iter()
        .filter(|m| m.pool == "workers")
        .max_by_key(|m| m.id)
        .unwrap();
    let (sid, node) = (newest.system_id.clone(), newest.hostname.clone().unwrap());
    assert!(h.sim.k8s_hold_node(id.as_str(), &node, true));
    let mark = h.last_event(&id);

    h.api().scale_pool("stuck", "workers", 1).await.unwrap();
    let mut passes_held = 0;
    for _ in 0..20 {
        engine.step().await.unwrap();
        if h.sim.machine(&sid).unwrap().owner.is_none() {
            break;
        }
        passes_held += 1;
        h.sim.advance(60.0);
    }
    // Five drain calls (five minutes at one pass a minute): four passes holding it, the fifth
    // gives up and releases.
    assert_eq!(passes_held, 4);
    assert!(
        h.sim.machine(&sid).unwrap().owner.is_none(),
        "released in the end"
    );
    let evs = h.events(&id, mark);
    let gave_up = evs
        .iter()
        .find(|e| e.machine.as_deref() == Some(sid.as_str()) && drain_outcome(e) == Some("gave_up"))
        .expect("a give-up event");
    assert_eq!(gave_up.level, EventLevel::Warn);
    assert!(
        gave_up.message.contains("5 pass(es)"),
        "{}",
        gave_up.message
    );
    assert!(
        gave_up.message.contains("PodDisruptionBudget"),
        "{}",
        gave_up.message
    );
    assert!(first_event(&evs, &sid, is_drain("finished")).is_none());
    assert!(gave_up.id < first_event(&evs, &sid, is_release).unwrap());
    let k8s = h.sim.k8s_cluster(id.as_str()).unwrap();
    let d = k8s.drains.iter().find(|d| d.node == node).unwrap();
    assert!(d.held && d.drained_at.is_none(), "{d:?}");
    h.drive(&engine, &id, 10, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    assert_eq!(workers(&h, &id).len(), 1);
    assert!(before.iter().any(|(s, _)| s == &sid));
    h.assert_no_leak();
}

#[tokio::test]
async fn without_an_answering_api_the_machine_is_released_undrained_and_the_event_says_so() {
    let h = Harness::new(10, 74).await;
    let engine = engine(&h);
    let id = create(&h, spec("dark", 1, &[("workers", 2)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    // The only control-plane machine loses power: its API server stops answering.
    let cp = h
        .store
        .read(|r| r.machines(&id, false))
        .unwrap()
        .into_iter()
        .find(|m| m.pool != "workers")
        .unwrap();
    assert!(h.sim.power_loss(&cp.system_id));
    assert!(!h.sim.k8s_cluster(id.as_str()).unwrap().api_server_ready);
    let mark = h.last_event(&id);
    h.api().scale_pool("dark", "workers", 1).await.unwrap();
    h.drive(&engine, &id, 5, |_| workers(&h, &id).len() == 1)
        .await;
    let evs = h.events(&id, mark);
    let skipped: Vec<&EventRow> = evs
        .iter()
        .filter(|e| drain_outcome(e) == Some("skipped"))
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].level, EventLevel::Warn);
    assert!(
        skipped[0].message.contains("without a drain"),
        "{}",
        skipped[0].message
    );
    assert!(skipped[0].message.contains("503"), "{}", skipped[0].message);
    let sid = skipped[0].machine.clone().unwrap();
    assert!(skipped[0].id < first_event(&evs, &sid, is_release).unwrap());
    assert!(evs
        .iter()
        .all(|e| !matches!(drain_outcome(e), Some("started" | "finished"))));
    h.assert_no_leak();
}

#[tokio::test]
async fn a_node_that_never_joined_is_released_without_a_drain() {
    let h = Harness::new(10, 75).await;
    let engine = engine(&h);
    let id = create(&h, spec("brief", 1, &[("workers", 1)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let api = h.api();
    api.scale_pool("brief", "workers", 2).await.unwrap();
    // One pass allocates and deploys the second worker; it is withdrawn before it joins.
    engine.step().await.unwrap();
    let mark = h.last_event(&id);
    api.scale_pool("brief", "workers", 1).await.unwrap();
    h.drive(&engine, &id, 10, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 3
    })
    .await;
    let evs = h.events(&id, mark);
    let skipped: Vec<&EventRow> = evs
        .iter()
        .filter(|e| drain_outcome(e) == Some("skipped"))
        .collect();
    assert_eq!(
        skipped.len(),
        1,
        "{:?}",
        evs.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
    assert_eq!(skipped[0].level, EventLevel::Info);
    assert!(
        skipped[0].message.contains("never joined"),
        "{}",
        skipped[0].message
    );
    assert!(evs
        .iter()
        .all(|e| !matches!(drain_outcome(e), Some("started" | "finished" | "gave_up"))));
    h.assert_no_leak();
}

#[tokio::test]
async fn delete_does_not_drain() {
    let h = Harness::new(8, 76).await;
    let engine = engine(&h);
    let id = create(&h, spec("gone", 1, &[("workers", 2)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    h.api().delete_cluster("gone", false).await.unwrap();
    h.drive(&engine, &id, 10, |c| c.is_deleted()).await;
    let evs = h.events(&id, EventId(0));
    assert!(evs.iter().all(|e| drain_outcome(e).is_none()));
    assert!(evs.iter().filter(|e| is_release(e)).count() >= 3);
    assert!(h.sim.k8s_cluster(id.as_str()).unwrap().drains.is_empty());
    h.assert_no_leak();
}

#[tokio::test]
async fn a_release_maas_refuses_after_the_drain_is_retried_without_draining_again() {
    use kubemaas::sim::faults::{Injection, TransientKind};
    let h = Harness::new(10, 77).await;
    let engine = engine(&h);
    let id = create(&h, spec("retry", 1, &[("workers", 2)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let mark = h.last_event(&id);
    h.api().scale_pool("retry", "workers", 1).await.unwrap();
    engine.step().await.unwrap();
    let status: ClusterStatus = h.cluster("retry").status_as().unwrap();
    let sid = status
        .drains
        .keys()
        .next()
        .expect("a drain started")
        .clone();

    // The drain finishes on the next pass, but MAAS is busy for every attempt of its release.
    h.sim.inject(Injection {
        endpoint: "machines/{system_id}/".into(),
        method: Some("POST".into()),
        op: Some("release".into()),
        kind: TransientKind::Unavailable,
        remaining: 3,
        retry_after: Some(0),
    });
    h.sim.advance(60.0);
    let report = engine.step().await.unwrap();
    assert_eq!(report.transient_errors, 1, "{report:?}");
    assert!(h.sim.machine(&sid).unwrap().owner.is_some());
    let status: ClusterStatus = h.cluster("retry").status_as().unwrap();
    assert!(status.drains[&sid].finished, "{status:?}");

    h.drive(&engine, &id, 5, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    assert!(h.sim.machine(&sid).unwrap().owner.is_none());
    let evs = h.events(&id, mark);
    let outcomes: Vec<&str> = evs
        .iter()
        .filter(|e| e.machine.as_deref() == Some(sid.as_str()))
        .filter_map(drain_outcome)
        .collect();
    assert_eq!(outcomes, ["started", "finished"]);
    let status: ClusterStatus = h.cluster("retry").status_as().unwrap();
    assert!(status.drains.is_empty(), "{status:?}");
    h.assert_no_leak();
}
