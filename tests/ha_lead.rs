//! The reconcilers follow the elected leader: a node that leads runs the engine over its
//! replicated copy; when it is deposed, another node is elected and takes over exactly as an
//! engine taking the lock does (the old leader's unfinished tasks are marked interrupted, so
//! they resume), on state every node shares through etcd.

mod ha_support;

use ha_support::{dump, EtcdCluster};
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

/// Polls the election until `id` leads; the bound only stops a broken run from hanging.
async fn until_leader(c: &Candidate, id: &str) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while c.leader().await.unwrap().as_deref() != Some(id) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} was never elected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_the_deposed_leaders_work() {
    let cluster = tokio::task::block_in_place(|| EtcdCluster::start(3));
    let cfg = cluster.config("/lead");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b) =
        tokio::task::block_in_place(|| (node(dirs[0].path(), &cfg), node(dirs[1].path(), &cfg)));
    // Each node follows the log, as a gateway node does.
    let _following = (a.follow().unwrap(), b.follow().unwrap());
    let ca = Arc::new(
        Candidate::connect(&cfg, "a", Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let cb = Arc::new(
        Candidate::connect(&cfg, "b", Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let (stop_tx, stop) = watch::channel(false);
    let run = |c: Arc<Candidate>, store: Store, dir: &Path| {
        let mut config = EngineConfig::new(dir);
        config.poll_interval = Duration::from_millis(50);
        let stop = stop.clone();
        tokio::spawn(async move { lead(&c, store, config, Arc::new(Notify::new()), stop).await })
    };
    let runs_a = run(Arc::clone(&ca), a.clone(), dirs[0].path());
    until_leader(&ca, "a").await;
    // a's engine is mid-operation: a task it started is still running.
    let task = tokio::task::block_in_place(|| {
        a.tx(|tx| tx.start_task(None, "create", "allocating machines"))
    })
    .unwrap();
    let runs_b = run(Arc::clone(&cb), b.clone(), dirs[1].path());
    // b only waits while a leads.
    assert_eq!(ca.leader().await.unwrap().as_deref(), Some("a"));
    // a is deposed: its lease is revoked (as when it is cut from the etcd majority).
    let admin = cfg.connect().await.unwrap();
    let leader = admin
        .leader(format!("{}/leader", cfg.prefix).as_bytes())
        .await
        .unwrap();
    let lease = leader.expect("a leader key").lease;
    admin.lease_revoke(lease).await.unwrap();
    until_leader(&cb, "b").await;
    // b's takeover marked a's task interrupted and said so, through the shared log (two
    // transactions: wait for both).
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (state, events) = tokio::task::block_in_place(|| {
                b.catch_up().unwrap();
                (
                    b.read(|r| r.task(task)).unwrap().state,
                    b.events_after(None, EventId(0), 100).unwrap(),
                )
            });
            let said = events.iter().any(|e| {
                e.message
                    .contains("took over the reconcilers: 1 interrupted task")
            });
            if state == TaskState::Interrupted && said {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the new leader interrupted the old leader's task and said so");
    stop_tx.send(true).unwrap();
    runs_a.await.unwrap().unwrap();
    runs_b.await.unwrap().unwrap();
    tokio::task::block_in_place(|| {
        a.catch_up().unwrap();
        b.catch_up().unwrap();
    });
    assert_eq!(dump(a.path()), dump(b.path()));
}
