//! Control-plane nodes leave etcd before their machine goes back to MAAS, against the
//! in-process simulator's Kubernetes and etcd (frozen clock, one virtual minute between
//! passes): a 3-node control plane scaled to 1 removes both leaving members, each after its
//! drain and before its release; a rolled control plane (its init node included) ends with
//! exactly the new members; a failing etcd delays the releases and then lets them through; a
//! crash right after a removal resumes without releasing early or removing twice; delete
//! removes no member; the harness's fake probe scales and rolls a control plane through the
//! simulated etcd too; and the simulator's fault record (a member's machine released while
//! still a member) stays empty.

mod engine_support;

use engine_support::*;
use kubemaas::engine::{ClusterStatus, CrashPlan, Engine, EngineApi, EngineError};
use kubemaas::store::{ClusterId, ClusterPhase, EventId, EventLevel, EventRow, TaskId};

/// The harness's engine, probing, draining and changing etcd through the simulator.
fn engine_with(h: &Harness, crash: CrashPlan) -> Engine {
    let mut c = h.sim_probe_config();
    c.crash = crash;
    Engine::start(h.store.clone(), c).expect("engine starts")
}

fn engine(h: &Harness) -> Engine {
    engine_with(h, CrashPlan::never())
}

/// The id of the first event about `sid` of `op` with `outcome` (any outcome when `None`).
fn first(evs: &[EventRow], sid: &str, op: &str, outcome: Option<&str>) -> Option<EventId> {
    first_event(evs, sid, |e| {
        op_outcome(e, op).is_some_and(|o| outcome.is_none_or(|w| w == o))
    })
}

fn released(evs: &[EventRow], sid: &str) -> Option<EventId> {
    first_event(evs, sid, is_release)
}

fn member_names(h: &Harness, id: &ClusterId) -> Vec<String> {
    let mut names: Vec<String> = h
        .sim
        .k8s_cluster(id.as_str())
        .unwrap()
        .etcd_members
        .into_iter()
        .map(|m| m.name)
        .collect();
    names.sort();
    names
}

fn faults(h: &Harness, id: &ClusterId) -> Vec<kubemaas::sim::k8s::K8sEtcdFault> {
    h.sim.k8s_cluster(id.as_str()).unwrap().etcd_faults
}

/// Each of `gone` was drained, left etcd with an event naming it, then was released, in
/// that order; and is owned by nobody in MAAS now.
fn assert_left_in_order(h: &Harness, evs: &[EventRow], gone: &[(String, String)]) {
    for (sid, node) in gone {
        let drained = first(evs, sid, "drain", Some("finished")).expect("drain finished");
        let removed = evs
            .iter()
            .find(|e| {
                e.machine.as_deref() == Some(sid.as_str())
                    && op_outcome(e, "etcd_remove") == Some("removed")
            })
            .unwrap_or_else(|| panic!("no etcd removal event for {node}"));
        assert!(
            removed
                .message
                .starts_with(&format!("etcd member {node} removed")),
            "{}",
            removed.message
        );
        let release = released(evs, sid).expect("released");
        assert!(
            drained < removed.id && removed.id < release,
            "{node}: drained {drained:?}, left etcd {:?}, released {release:?}",
            removed.id
        );
        assert!(h.sim.machine(sid).unwrap().owner.is_none());
    }
}

async fn running_cluster(h: &Harness, engine: &Engine, name: &str, cp: u32) -> ClusterId {
    let id = create(h, spec(name, cp, &[("workers", 1)])).await;
    h.until_phase(engine, &id, ClusterPhase::Running).await;
    // Running means every node Ready in the simulator, so every control-plane node joined.
    assert_eq!(member_names(h, &id).len(), cp as usize);
    id
}

fn cp_pool(h: &Harness, id: &ClusterId) -> String {
    let spec: kubemaas::model::ClusterSpec = h.cluster(id.as_str()).spec_as().unwrap();
    spec.spec.node_pools[0].name.clone()
}

#[tokio::test]
async fn scaling_three_control_planes_to_one_removes_both_members_before_their_release() {
    let h = Harness::new(10, 81).await;
    let engine = engine(&h);
    let id = running_cluster(&h, &engine, "shrink", 3).await;
    let cp = cp_pool(&h, &id);
    let before = h.pool_nodes(&id, &cp);
    let mark = h.last_event(&id);

    h.api().scale_pool("shrink", &cp, 1).await.unwrap();
    h.drive(&engine, &id, 30, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = h.pool_nodes(&id, &cp);
    assert_eq!(after.len(), 1);
    let gone: Vec<(String, String)> = before
        .iter()
        .filter(|m| !after.contains(m))
        .cloned()
        .collect();
    assert_eq!(gone.len(), 2);
    let evs = h.events(&id, mark);
    assert_left_in_order(&h, &evs, &gone);
    // etcd has exactly the node that stays; no member's machine was released while a member.
    assert_eq!(member_names(&h, &id), vec![after[0].1.clone()]);
    assert!(faults(&h, &id).is_empty(), "{:?}", faults(&h, &id));
    // The one kept never left, and nothing failed.
    assert!(first(&evs, &after[0].0, "etcd_remove", None).is_none());
    assert!(evs
        .iter()
        .all(|e| op_outcome(e, "etcd_remove") != Some("failed")));
    assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
    let status: ClusterStatus = h.cluster("shrink").status_as().unwrap();
    assert!(status.etcd_removals.is_empty(), "{status:?}");
    h.assert_no_leak();
}

#[tokio::test]
async fn a_rolled_control_plane_ends_with_exactly_the_new_members() {
    let seed = 82;
    let h = Harness::with_fleet(fleet(16, seed, true), seed).await;
    let engine = engine(&h);
    let mut s = spec("cproll", 3, &[("workers", 1)]);
    let id = create(&h, s.clone()).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let cp = s.spec.node_pools[0].name.clone();
    let before = h.pool_nodes(&id, &cp);
    let mark = h.last_event(&id);

    // The control plane moves to the `compute` resource pool: every node is replaced, the
    // init node included, one member at a time.
    s.spec.node_pools[0].resource_pool = "compute".into();
    h.api().update_spec("cproll", s).await.unwrap();
    h.drive(&engine, &id, 200, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = h.pool_nodes(&id, &cp);
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|m| !before.contains(m)));
    let evs = h.events(&id, mark);
    assert_left_in_order(&h, &evs, &before);
    let mut new_names: Vec<String> = after.iter().map(|(_, n)| n.clone()).collect();
    new_names.sort();
    assert_eq!(member_names(&h, &id), new_names);
    assert!(faults(&h, &id).is_empty(), "{:?}", faults(&h, &id));
    h.assert_no_leak();
}

#[tokio::test]
async fn a_failing_etcd_delays_the_releases_then_lets_them_through() {
    let h = Harness::new(10, 83).await;
    let engine = engine(&h);
    let id = running_cluster(&h, &engine, "flaky", 3).await;
    let cp = cp_pool(&h, &id);
    let before = h.pool_nodes(&id, &cp);
    let mark = h.last_event(&id);
    h.sim.k8s_etcd_fail(id.as_str(), 3);

    h.api().scale_pool("flaky", &cp, 1).await.unwrap();
    // Pass until the first failure: the leaving machines are kept, and the task says why.
    let mut saw_failure = false;
    for _ in 0..10 {
        engine.step().await.unwrap();
        let evs = h.events(&id, mark);
        if evs
            .iter()
            .any(|e| op_outcome(e, "etcd_remove") == Some("failed"))
        {
            saw_failure = true;
            break;
        }
        h.sim.advance(60.0);
    }
    assert!(saw_failure, "no etcd removal failed");
    let status: ClusterStatus = h.cluster("flaky").status_as().unwrap();
    let waiting: Vec<_> = status
        .etcd_removals
        .iter()
        .filter(|(_, r)| !r.done)
        .collect();
    assert!(!waiting.is_empty(), "{status:?}");
    for (sid, r) in &waiting {
        assert!(
            h.sim.machine(sid).unwrap().owner.is_some(),
            "{sid} released while a member"
        );
        assert!(r.wait_passes >= 1 && r.last_error.is_some(), "{r:?}");
    }
    let task = h
        .store
        .read(|r| r.task(TaskId(status.task.unwrap())))
        .unwrap();
    assert!(
        task.message.contains("not removed yet") && task.message.contains("request timed out"),
        "{}",
        task.message
    );
    let failed = h
        .events(&id, mark)
        .into_iter()
        .find(|e| op_outcome(e, "etcd_remove") == Some("failed"))
        .unwrap();
    assert_eq!(failed.level, EventLevel::Warn);

    h.drive(&engine, &id, 40, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = h.pool_nodes(&id, &cp);
    let gone: Vec<(String, String)> = before
        .iter()
        .filter(|m| !after.contains(m))
        .cloned()
        .collect();
    let evs = h.events(&id, mark);
    assert_left_in_order(&h, &evs, &gone);
    // Three failures spent, each before any release; then back-off, not a tight loop.
    let failures: Vec<EventId> = evs
        .iter()
        .filter(|e| op_outcome(e, "etcd_remove") == Some("failed"))
        .map(|e| e.id)
        .collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    let first_release = gone
        .iter()
        .filter_map(|(sid, _)| released(&evs, sid))
        .min()
        .unwrap();
    assert!(failures.iter().all(|f| *f < first_release));
    assert_eq!(member_names(&h, &id), vec![after[0].1.clone()]);
    assert!(faults(&h, &id).is_empty(), "{:?}", faults(&h, &id));
    h.assert_no_leak();
}

#[tokio::test]
async fn a_crash_right_after_a_removal_resumes_without_an_early_release() {
    let h = Harness::new(10, 84).await;
    let id = {
        let engine = engine(&h);
        running_cluster(&h, &engine, "crashy", 3).await
    };
    let cp = cp_pool(&h, &id);
    let before = h.pool_nodes(&id, &cp);
    let mark = h.last_event(&id);
    h.api().scale_pool("crashy", &cp, 1).await.unwrap();

    // A scale-down passes no checkpoint until its first etcd removal (drains have none): the
    // second one is that removal answered, before the engine recorded it.
    let plan = CrashPlan::at(2);
    {
        let engine = engine_with(&h, plan.clone());
        let mut crashed = None;
        for _ in 0..10 {
            match engine.step().await {
                Ok(_) => h.sim.advance(60.0),
                Err(EngineError::Crashed { point }) => {
                    crashed = Some(point);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(crashed.as_deref(), Some("etcd_remove: answered"));
    }
    // etcd did remove one member; MAAS released nothing; the intent is open.
    assert_eq!(member_names(&h, &id).len(), 2);
    assert!(before
        .iter()
        .all(|(sid, _)| h.sim.machine(sid).unwrap().owner.is_some()));
    assert_eq!(h.store.open_intents(Some(&id)).unwrap().len(), 1);

    let engine = engine(&h);
    h.drive(&engine, &id, 30, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = h.pool_nodes(&id, &cp);
    assert_eq!(after.len(), 1);
    let evs = h.events(&id, mark);
    let gone: Vec<&(String, String)> = before.iter().filter(|m| !after.contains(m)).collect();
    assert_eq!(gone.len(), 2);
    // The member removed before the crash is found gone after it: no second removal.
    let absent: Vec<&&(String, String)> = gone
        .iter()
        .filter(|(sid, _)| first(&evs, sid, "etcd_remove", Some("absent")).is_some())
        .collect();
    assert_eq!(absent.len(), 1, "{gone:?}");
    for (sid, _) in &gone {
        let left = first(&evs, sid, "etcd_remove", Some("absent"))
            .or_else(|| first(&evs, sid, "etcd_remove", Some("removed")))
            .expect("left etcd");
        assert!(left < released(&evs, sid).expect("released"));
    }
    assert_eq!(member_names(&h, &id), vec![after[0].1.clone()]);
    assert!(faults(&h, &id).is_empty(), "{:?}", faults(&h, &id));
    assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
    h.assert_no_leak();
}

#[tokio::test]
async fn delete_removes_no_member_and_the_harness_probe_scales_down_through_the_simulated_etcd() {
    // Delete: the whole cluster goes, etcd with it; nothing is removed from etcd first.
    let h = Harness::new(10, 85).await;
    let engine = engine(&h);
    let id = running_cluster(&h, &engine, "gone", 3).await;
    let mark = h.last_event(&id);
    h.api().delete_cluster("gone", false).await.unwrap();
    h.drive(&engine, &id, 30, |c| c.is_deleted()).await;
    let evs = h.events(&id, mark);
    assert!(evs.iter().all(|e| op_outcome(e, "etcd_remove").is_none()));
    assert_eq!(member_names(&h, &id).len(), 3);
    // The simulator notes each member's release, as it should: here they are expected.
    assert_eq!(faults(&h, &id).len(), 3);

    // The harness's fake probe (API up from the init node on, etcd in process) gets a control
    // plane scaled down through etcd too.
    let h = Harness::new(10, 86).await;
    let engine = h.engine();
    let id = create(&h, spec("fake", 3, &[("workers", 1)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let cp = cp_pool(&h, &id);
    // Let every member join the simulated etcd (the fake probe calls nodes Ready at once).
    for _ in 0..10 {
        if member_names(&h, &id).len() == 3 {
            break;
        }
        h.sim.advance(60.0);
    }
    assert_eq!(member_names(&h, &id).len(), 3);
    let mark = h.last_event(&id);
    h.api().scale_pool("fake", &cp, 1).await.unwrap();
    h.drive(&engine, &id, 30, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let evs = h.events(&id, mark);
    let removed = evs
        .iter()
        .filter(|e| op_outcome(e, "etcd_remove") == Some("removed"))
        .count();
    assert_eq!(removed, 2);
    assert_eq!(member_names(&h, &id).len(), 1);
    assert!(faults(&h, &id).is_empty(), "{:?}", faults(&h, &id));
    h.assert_no_leak();
}

#[tokio::test]
async fn the_harness_probe_rolls_a_control_plane_to_running() {
    // The fake probe keeps the API up once the init node ran, so a roll that replaces the
    // init node too ends Running, and the simulated etcd lost every old member on the way.
    let seed = 87;
    let h = Harness::with_fleet(fleet(16, seed, true), seed).await;
    let engine = h.engine();
    let mut s = spec("fakeroll", 3, &[("workers", 1)]);
    let id = create(&h, s.clone()).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let cp = s.spec.node_pools[0].name.clone();
    let before = h.pool_nodes(&id, &cp);
    s.spec.node_pools[0].resource_pool = "compute".into();
    h.api().update_spec("fakeroll", s).await.unwrap();
    h.drive(&engine, &id, 200, |c| {
        c.phase == ClusterPhase::Running && c.observed_generation == 2
    })
    .await;
    let after = h.pool_nodes(&id, &cp);
    assert!(after.iter().all(|m| !before.contains(m)));
    // The fake probe calls a node Ready as soon as it is Deployed; give the last one the
    // simulator's join time.
    h.sim.advance(300.0);
    let mut new_names: Vec<String> = after.iter().map(|(_, n)| n.clone()).collect();
    new_names.sort();
    assert_eq!(member_names(&h, &id), new_names);
    assert!(faults(&h, &id).is_empty(), "{:?}", faults(&h, &id));
    h.assert_no_leak();
}
