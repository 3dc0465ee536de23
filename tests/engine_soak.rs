//! A seeded soak: random scaling, failed deployments, MAAS errors and crashes interleaved with
//! engine passes and clock advances; afterwards the cluster settles on its spec, nothing is
//! leaked or held twice, and delete returns everything.

mod engine_support;

use engine_support::*;
use kubemaas::engine::{Engine, EngineApi, EngineError};
use kubemaas::maas::NodeStatus;
use kubemaas::sim::{Injection, TransientKind};
use kubemaas::store::ClusterPhase;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

async fn soak(seed: u64) {
    let h = Harness::new(14, seed).await;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let config = || {
        let mut c = h.config();
        c.replace_budget = 50;
        c
    };
    let mut engine: Option<Engine> = Some(Engine::start(h.store.clone(), config()).unwrap());
    let api = h.api();
    let id = create(&h, spec("soak", 1, &[("workers", 2)])).await;
    let (mut crashes, mut failed, mut scaled, mut errors) = (0, 0, 0, 0);
    for _ in 0..50 {
        match engine.as_ref().unwrap().step().await {
            Ok(r) => errors += r.transient_errors,
            Err(EngineError::Crashed { .. }) => {
                crashes += 1;
                drop(engine.take());
                engine = Some(Engine::start(h.store.clone(), config()).unwrap());
            }
            Err(e) => panic!("seed {seed}: {e}"),
        }
        let roll: f64 = rng.random();
        if roll < 0.12 {
            let size = rng.random_range(1..=3);
            if api.scale_pool("soak", "workers", size).await.is_ok() {
                scaled += 1;
            }
        } else if roll < 0.20 {
            let deploying: Vec<_> = h
                .tagged(&id)
                .into_iter()
                .filter(|m| m.status == NodeStatus::Deploying)
                .collect();
            if !deploying.is_empty() {
                let m = &deploying[rng.random_range(0..deploying.len())];
                h.sim
                    .force_status(&m.system_id, NodeStatus::FailedDeployment, "soak");
                failed += 1;
            }
        } else if roll < 0.28 {
            let (endpoint, op) = [
                ("machines/", Some("allocate")),
                ("machines/{system_id}/", Some("deploy")),
                ("machines/{system_id}/", Some("release")),
                ("machines/", None),
            ][rng.random_range(0..4)];
            let kind = if rng.random_bool(0.5) {
                TransientKind::Unavailable
            } else {
                TransientKind::GatewayTimeout
            };
            h.sim.inject(Injection {
                endpoint: endpoint.into(),
                method: None,
                op: op.map(str::to_string),
                kind,
                remaining: rng.random_range(1..=4),
                retry_after: None,
            });
        } else if roll < 0.34 {
            // The process will die within the next few checkpoints.
            drop(engine.take());
            let mut c = config();
            c.crash = kubemaas::engine::CrashPlan::at(rng.random_range(1..=6));
            engine = Some(Engine::start(h.store.clone(), c).unwrap());
        }
        h.sim.advance(rng.random_range(10.0..120.0));
    }
    eprintln!("seed {seed}: {crashes} crashes, {failed} failed deployments, {scaled} resizes, {errors} transient errors");
    // Calm weather: no more faults, a healthy engine.
    h.sim.with_region(|r| r.faults.clear_injections());
    drop(engine.take());
    let engine = Engine::start(h.store.clone(), config()).unwrap();
    let c = h
        .drive(&engine, &id, 80, |c| {
            c.observed_generation == c.spec_generation
                && matches!(c.phase, ClusterPhase::Running | ClusterPhase::Failed)
        })
        .await;
    assert_eq!(
        c.phase,
        ClusterPhase::Running,
        "seed {seed}: {:?}",
        c.reason
    );
    let spec: kubemaas::model::ClusterSpec = c.spec_as().unwrap();
    let rows = h.store.read(|r| r.machines(&id, false)).unwrap();
    for pool in &spec.spec.node_pools {
        let n = rows.iter().filter(|r| r.pool == pool.name).count();
        assert_eq!(n, pool.size as usize, "seed {seed}: pool {}", pool.name);
    }
    h.assert_no_leak();
    api.delete_cluster("soak", false).await.unwrap();
    h.drive(&engine, &id, 40, |c| c.is_deleted()).await;
    assert!(h.tagged(&id).is_empty(), "seed {seed}");
    h.assert_no_leak();
    assert!(engine.leak_check().await.unwrap().is_clean());
}

#[tokio::test]
async fn random_faults_scaling_and_crashes_settle_without_leaks() {
    for seed in 500..516 {
        soak(seed).await;
    }
}
