//! Custom rolling-update counts: a pool rolled with maxSurge 2 / maxUnavailable 1 uses both
//! budgets (several machines in flight) and never goes past either.

mod engine_support;

use engine_support::*;
use kubemaas::engine::EngineApi;
use kubemaas::model::spec::RolloutStrategy;
use kubemaas::store::ClusterPhase;

/// (held, ready) of pool `workers`: held counts every machine the cluster still has in MAAS
/// for the pool (retiring ones too), ready the deployed ones not on their way out.
fn counts(h: &Harness, id: &kubemaas::store::ClusterId) -> (usize, usize) {
    let rows = h.store.read(|r| r.machines(id, false)).unwrap();
    let workers = rows.iter().filter(|m| m.pool == "workers");
    let held = workers
        .clone()
        .filter(|m| {
            matches!(
                m.state.as_str(),
                "allocated" | "deploying" | "deployed" | "retiring"
            )
        })
        .count();
    let ready = workers.filter(|m| m.state == "deployed").count();
    (held, ready)
}

#[tokio::test]
async fn custom_surge_and_unavailable_bound_the_roll() {
    let seed = 77;
    let h = Harness::with_fleet(fleet(32, seed, true), seed).await;
    let engine = h.engine();
    let mut s = spec("surge", 1, &[("workers", 6)]);
    let ru = &mut s.spec.node_pools[1].rolling_update;
    ru.strategy = RolloutStrategy::Custom;
    ru.max_surge = Some(2);
    ru.max_unavailable = Some(1);
    let id = create(&h, s.clone()).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let before: Vec<String> = h.pool_machines(&id, "workers");
    assert_eq!(before.len(), 6);

    s.spec.node_pools[1].resource_pool = "compute".into();
    h.api().update_spec("surge", s).await.unwrap();
    let (mut most_held, mut least_ready) = (0, usize::MAX);
    for _ in 0..200 {
        let report = engine.step().await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let (held, ready) = counts(&h, &id);
        assert!(
            held <= 8,
            "{held} machines held for a pool of 6 with maxSurge 2"
        );
        assert!(
            ready >= 5,
            "{ready} Ready for a pool of 6 with maxUnavailable 1"
        );
        most_held = most_held.max(held);
        least_ready = least_ready.min(ready);
        let c = h.cluster("surge");
        if c.phase == ClusterPhase::Running && c.observed_generation == 2 {
            break;
        }
        h.sim.advance(60.0);
    }
    let c = h.cluster("surge");
    assert_eq!(
        (c.phase, c.observed_generation),
        (ClusterPhase::Running, 2),
        "{:?}",
        c.reason
    );
    // Both budgets were used: two extra machines at once, and a node down while they deployed.
    assert_eq!(most_held, 8);
    assert_eq!(least_ready, 5);
    let after: Vec<String> = h.pool_machines(&id, "workers");
    assert_eq!(after.len(), 6);
    for sid in &after {
        assert_eq!(h.sim.machine(sid).unwrap().pool, "compute");
        assert!(!before.contains(sid));
    }
    for sid in &before {
        assert!(
            h.sim.machine(sid).unwrap().owner.is_none(),
            "{sid} was not released"
        );
    }
    h.assert_no_leak();
}

#[tokio::test]
async fn control_plane_roll_changes_one_member_at_a_time() {
    let seed = 78;
    let h = Harness::with_fleet(fleet(24, seed, true), seed).await;
    let engine = h.engine();
    let mut s = spec("cproll", 5, &[("workers", 1)]);
    let ru = &mut s.spec.node_pools[0].rolling_update;
    ru.strategy = RolloutStrategy::Custom;
    // Two of five may be unavailable (etcd keeps quorum with three), yet members still
    // change one at a time.
    ru.max_surge = Some(1);
    ru.max_unavailable = Some(2);
    let id = create(&h, s.clone()).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let cp = s.spec.node_pools[0].name.clone();

    s.spec.node_pools[0].resource_pool = "compute".into();
    h.api().update_spec("cproll", s).await.unwrap();
    let mut done = false;
    for _ in 0..200 {
        let report = engine.step().await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let rows = h.store.read(|r| r.machines(&id, false)).unwrap();
        let mine = rows.iter().filter(|m| m.pool == cp);
        // A control-plane machine whose drain is done is released in the same pass, so one
        // change at a time shows as at most one of the five missing from the deployed ones.
        let deployed = mine.clone().filter(|m| m.state == "deployed").count();
        let held = mine
            .filter(|m| {
                matches!(
                    m.state.as_str(),
                    "allocated" | "deploying" | "deployed" | "retiring"
                )
            })
            .count();
        assert!(
            deployed >= 4,
            "only {deployed} control-plane nodes deployed: two left at once"
        );
        assert!(
            held <= 6,
            "{held} control-plane machines held with maxSurge 1"
        );
        // The roll is done once the pool holds exactly five deployed machines, all from the
        // new resource pool; the cluster must then report Running again (checked below).
        let cp_rows: Vec<_> = rows.iter().filter(|m| m.pool == cp).collect();
        if held == 5
            && cp_rows.iter().all(|m| {
                m.state != "deployed" || h.sim.machine(&m.system_id).unwrap().pool == "compute"
            })
            && cp_rows.iter().filter(|m| m.state == "deployed").count() == 5
        {
            done = true;
            break;
        }
        h.sim.advance(60.0);
    }
    assert!(
        done,
        "{:?} {:?}",
        h.cluster("cproll"),
        h.store
            .read(|r| r.machines(&id, false))
            .unwrap()
            .iter()
            .map(|m| (m.pool.clone(), m.state.clone(), m.hostname.clone()))
            .collect::<Vec<_>>()
    );
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let rows = h.store.read(|r| r.machines(&id, false)).unwrap();
    let now: Vec<_> = rows.iter().filter(|m| m.pool == cp).collect();
    assert_eq!(now.len(), 5);
    for m in now {
        assert_eq!(h.sim.machine(&m.system_id).unwrap().pool, "compute");
    }
    h.assert_no_leak();
}
