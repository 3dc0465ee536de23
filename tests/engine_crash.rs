//! Crash safety: the engine is stopped at every checkpoint of a create → scale → delete
//! scenario (after an intent is journaled, after MAAS answered), dropped like a killed process,
//! and a new engine on the same store finishes the job. Nothing may leak or be held twice.

mod engine_support;

use engine_support::*;
use kubemaas::engine::{Engine, EngineApi, EngineError};
use kubemaas::store::{ClusterId, ClusterPhase};

/// Runs the scenario with a crash at checkpoint `crash_at` (0: never). Returns how many
/// checkpoints the first engine passed and whether it crashed.
async fn scenario(seed: u64, crash_at: u64, abort: bool) -> (u64, bool) {
    let h = Harness::new(10, seed).await;
    let (first, plan) = h.crashing_engine(crash_at);
    let mut engine: Option<Engine> = Some(first);
    let api = h.api();
    let id: ClusterId = create(&h, spec("crashy", 1, &[("workers", 2)])).await;
    let mut stage = 0;
    let mut restarts = 0;
    let mut passes = 0;
    for _ in 0..200 {
        passes += 1;
        let step = engine.as_ref().expect("an engine").step().await;
        match step {
            Ok(report) => assert!(report.errors.is_empty(), "{:?}", report.errors),
            Err(EngineError::Crashed { .. }) => {
                // The process "dies": its engine (and lock) go; a new one takes over.
                drop(engine.take());
                engine = Some(h.engine());
                restarts += 1;
                assert_eq!(restarts, 1, "the replacement engine never crashes");
                continue;
            }
            Err(e) => panic!("pass failed: {e}"),
        }
        let c = h.store.read(|r| r.cluster(&id)).unwrap();
        match stage {
            // The abort variant: stop the cluster mid-provisioning, then delete what is left.
            0 if abort && passes >= 3 && c.phase == ClusterPhase::Provisioning => {
                api.abort_cluster("crashy").await.unwrap();
                stage = 10;
            }
            10 if c.phase == ClusterPhase::Aborted => {
                api.delete_cluster("crashy", false).await.unwrap();
                stage = 2;
            }
            0 if c.phase == ClusterPhase::Running => {
                api.scale_pool("crashy", "workers", 3).await.unwrap();
                stage = 1;
            }
            1 if c.phase == ClusterPhase::Running && c.observed_generation == 2 => {
                api.delete_cluster("crashy", false).await.unwrap();
                stage = 2;
            }
            2 if c.is_deleted() => {
                stage = 3;
                break;
            }
            _ => {}
        }
        h.sim.advance(60.0);
    }
    assert_eq!(stage, 3, "crash at {crash_at}: the scenario did not finish");
    h.assert_no_leak();
    assert!(h.tagged(&id).is_empty());
    assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
    let engine = engine.unwrap();
    let leaks = engine.leak_check().await.unwrap();
    assert!(leaks.is_clean(), "crash at {crash_at}: {leaks:?}");
    // No machine was taken twice at once: MAAS allocated each at most once per holding, and
    // the store's history has no overlapping rows for one machine.
    let history = h.store.read(|r| r.machines(&id, true)).unwrap();
    for a in &history {
        for b in &history {
            if a.id < b.id && a.system_id == b.system_id {
                assert!(
                    a.released_at.is_some_and(|t| t <= b.created),
                    "{} held twice",
                    a.system_id
                );
            }
        }
    }
    (plan.passed(), plan.crashed())
}

#[tokio::test]
async fn a_crash_at_any_checkpoint_of_create_scale_delete_loses_nothing() {
    let (total, crashed) = scenario(100, 0, false).await;
    assert!(!crashed);
    assert!(
        total >= 20,
        "only {total} checkpoints in the whole scenario"
    );
    eprintln!("crash points exercised: {total}");
    for n in 1..=total {
        let (_, crashed) = scenario(100 + n, n, false).await;
        assert!(crashed, "checkpoint {n} of {total} never fired");
    }
}

#[tokio::test]
async fn a_crash_at_any_checkpoint_of_create_abort_delete_loses_nothing() {
    let (total, crashed) = scenario(200, 0, true).await;
    assert!(!crashed);
    assert!(
        total >= 10,
        "only {total} checkpoints in the whole scenario"
    );
    for n in 1..=total {
        let (_, crashed) = scenario(200 + n, n, true).await;
        assert!(crashed, "checkpoint {n} of {total} never fired");
    }
}
