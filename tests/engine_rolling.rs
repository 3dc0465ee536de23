//! Rolling updates: a pool whose machine spec changes is rolled one machine at a time, expand
//! first (never fewer nodes than asked) or contract first (never more).

mod engine_support;

use engine_support::*;
use kubemaas::engine::EngineApi;
use kubemaas::model::spec::RolloutStrategy;
use kubemaas::store::ClusterPhase;

async fn roll(strategy: RolloutStrategy, seed: u64) -> (usize, usize) {
    let h = Harness::with_fleet(fleet(16, seed, true), seed).await;
    let engine = h.engine();
    let mut s = spec("roll", 1, &[("workers", 2)]);
    s.spec.node_pools[1].rolling_update.strategy = strategy;
    let id = create(&h, s.clone()).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let before: Vec<String> = h.pool_machines(&id, "workers");
    assert!(before
        .iter()
        .all(|sid| h.sim.machine(sid).unwrap().pool == "default"));

    // The workers move to the `compute` resource pool: every worker must be replaced.
    s.spec.node_pools[1].resource_pool = "compute".into();
    h.api().update_spec("roll", s).await.unwrap();
    let (mut least, mut most) = (usize::MAX, 0);
    for _ in 0..120 {
        let report = engine.step().await.unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let workers = h
            .store
            .read(|r| r.machines(&id, false))
            .unwrap()
            .into_iter()
            .filter(|m| {
                m.pool == "workers"
                    && matches!(m.state.as_str(), "allocated" | "deploying" | "deployed")
            })
            .count();
        least = least.min(workers);
        most = most.max(workers);
        let c = h.cluster("roll");
        if c.phase == ClusterPhase::Running && c.observed_generation == 2 {
            break;
        }
        h.sim.advance(60.0);
    }
    let c = h.cluster("roll");
    assert_eq!(
        (c.phase, c.observed_generation),
        (ClusterPhase::Running, 2),
        "{:?}",
        c.reason
    );
    let after: Vec<String> = h.pool_machines(&id, "workers");
    assert_eq!(after.len(), 2);
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
    (least, most)
}

#[tokio::test]
async fn expand_first_adds_before_it_removes() {
    let (least, most) = roll(RolloutStrategy::ExpandFirst, 41).await;
    assert_eq!((least, most), (2, 3));
}

#[tokio::test]
async fn contract_first_removes_before_it_adds() {
    let (least, most) = roll(RolloutStrategy::ContractFirst, 42).await;
    assert_eq!((least, most), (1, 2));
}
