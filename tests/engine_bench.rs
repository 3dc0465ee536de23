//! Benchmarks, not timed tests: MAAS requests per provisioned machine (asserted against a
//! bound, so a regression to per-machine polling fails), and an ignored large run.

mod engine_support;

use engine_support::*;
use kubemaas::store::ClusterPhase;

async fn requests_per_machine(cp: u32, workers: u32, seed: u64) -> (u64, f64) {
    let h = Harness::new((cp + workers) as usize + 4, seed).await;
    let engine = h.engine();
    let id = create(&h, spec("bench", cp, &[("workers", workers)])).await;
    h.sim.counters().reset();
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let total = h.sim.counters().total();
    for row in h.sim.counters().snapshot() {
        eprintln!(
            "  {:>4} {} {}{}",
            row.count,
            row.method,
            row.endpoint,
            row.op.map(|o| format!("?op={o}")).unwrap_or_default()
        );
    }
    let machines = (cp + workers) as f64;
    (total, total as f64 / machines)
}

#[tokio::test]
async fn maas_requests_per_provisioned_machine() {
    for (cp, workers) in [(1, 2), (3, 20)] {
        let (total, per) = requests_per_machine(cp, workers, 81).await;
        eprintln!("{cp} + {workers} nodes: {total} MAAS requests, {per:.2} per machine (poll every 60 virtual s)");
        // allocate + owner data + deploy = 3 per machine; the rest (validation, VIP, polls) is
        // per cluster and shrinks per machine as clusters grow.
        assert!(
            per < 3.0 + 25.0 / (cp + workers) as f64,
            "{per:.2} requests per machine"
        );
    }
}

/// 3 + 100 nodes; run with `cargo test --test engine_bench -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn three_plus_one_hundred_nodes() {
    let started = std::time::Instant::now();
    let (total, per) = requests_per_machine(3, 100, 82).await;
    eprintln!(
        "3 + 100 nodes: {total} MAAS requests ({per:.2} per machine), wall time {:?}",
        started.elapsed()
    );
}
