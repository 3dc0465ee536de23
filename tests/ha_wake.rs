//! A request submitted through a follower node wakes the leader at once: the leader's copy
//! applies it from the log and signals the engine's wake, instead of the engine finding it on
//! its next pass (an hour away here, so only the wake can explain the request being handled
//! within the test's deadline).

mod ha_support;

use ha_support::EtcdCluster;
use kubemaas::engine::EngineConfig;
use kubemaas::ha::{lead, Candidate, EtcdConfig, EtcdLog};
use kubemaas::store::replica::ReplicaLog;
use kubemaas::store::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

fn node(dir: &Path, cfg: &EtcdConfig) -> Store {
    let log = EtcdLog::connect(cfg).expect("connect to etcd");
    Store::open_replicated(dir, log as Arc<dyn ReplicaLog>, ReplicaOptions::default())
        .expect("open a copy")
}

/// A request the engine handles without MAAS: a command naming no cluster, which the engine
/// takes off the queue and fails ("names no cluster").
fn request(store: &Store) -> CommandId {
    tokio::task::block_in_place(|| {
        store.tx(|tx| tx.submit_command(None, "delete", &serde_json::json!({})))
    })
    .expect("submit a command")
}

/// Waits until `store`'s copy shows command `id` off the queue; the bound is far below the
/// leader's pass interval.
async fn until_handled(store: &Store, id: CommandId, what: &str) {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let state = tokio::task::block_in_place(|| {
                store.catch_up().unwrap();
                store.read(|r| r.command(id)).unwrap().state
            });
            if state != CommandState::Pending {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} was never taken off the queue by the leader"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_through_a_follower_starts_a_pass_on_the_leader_at_once() {
    let cluster = tokio::task::block_in_place(|| EtcdCluster::start(1));
    let cfg = cluster.config("/wake");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b) =
        tokio::task::block_in_place(|| (node(dirs[0].path(), &cfg), node(dirs[1].path(), &cfg)));
    let _following = (a.follow().unwrap(), b.follow().unwrap());
    // Queued through b before a leads: a's first pass (right after its takeover) handles it.
    let first = request(&b);
    let candidate = Arc::new(
        Candidate::connect(&cfg, "a", Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let mut config = EngineConfig::new(dirs[0].path());
    config.poll_interval = Duration::from_secs(3600);
    let (stop_tx, stop) = watch::channel(false);
    // Nobody notifies this wake but a's own copy: no console is attached to a.
    let wake = Arc::new(Notify::new());
    let leading = {
        let (c, s) = (Arc::clone(&candidate), a.clone());
        tokio::spawn(async move { lead(&c, s, config, wake, stop).await })
    };
    until_handled(&b, first, "the request queued before the election").await;
    // a's first pass is over (its queue was empty after the first request): the next pass
    // is an hour away. A request made through b now is handled only if a is woken.
    let second = request(&b);
    until_handled(&b, second, "the request made through the follower").await;
    let row = tokio::task::block_in_place(|| b.read(|r| r.command(second))).unwrap();
    assert_eq!(row.state, CommandState::Failed, "{row:?}");
    assert!(
        row.result
            .as_ref()
            .is_some_and(|r| r.to_string().contains("names no cluster")),
        "{row:?}"
    );
    stop_tx.send(true).unwrap();
    leading.await.unwrap().unwrap();
}

/// Not a check but the figure in docs/benchmarks.md: how long a request made through a
/// follower takes to be handled by the leader, from the submit until the follower's own copy
/// shows it handled. Run with
/// `cargo test --release --test ha_wake -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: prints figures, checks nothing about time"]
async fn measure_a_request_through_a_follower() {
    const RUNS: usize = 30;
    let cluster = tokio::task::block_in_place(|| EtcdCluster::start(3));
    let cfg = cluster.config("/wake-measure");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b) =
        tokio::task::block_in_place(|| (node(dirs[0].path(), &cfg), node(dirs[1].path(), &cfg)));
    let _following = (a.follow().unwrap(), b.follow().unwrap());
    let first = request(&b);
    let candidate = Arc::new(
        Candidate::connect(&cfg, "a", Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let mut config = EngineConfig::new(dirs[0].path());
    config.poll_interval = Duration::from_secs(3600);
    let (stop_tx, stop) = watch::channel(false);
    let leading = {
        let (c, s) = (Arc::clone(&candidate), a.clone());
        tokio::spawn(async move { lead(&c, s, config, Arc::new(Notify::new()), stop).await })
    };
    until_handled(&b, first, "the first request").await;
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = std::time::Instant::now();
        let id = request(&b);
        // Polled every millisecond from b's copy (its follower applies a's answer).
        while tokio::task::block_in_place(|| b.read(|r| r.command(id)).unwrap().state)
            == CommandState::Pending
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "request through a follower handled by the leader: runs {RUNS}, min {:.1} ms, median {:.1} ms, max {:.1} ms",
        ms[0],
        ms[RUNS / 2],
        ms[RUNS - 1]
    );
    stop_tx.send(true).unwrap();
    leading.await.unwrap().unwrap();
}
