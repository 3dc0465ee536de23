//! The replicated store over a real 3-member etcd cluster on 127.0.0.1: writes from every node
//! serialise and the copies converge, late and restarted nodes catch up, and losing one etcd
//! member does not stop the service.

mod ha_support;

use ha_support::{dump, eventually, EtcdCluster};
use kubemaas::ha::{EtcdConfig, EtcdLog};
use kubemaas::store::replica::ReplicaLog;
use kubemaas::store::*;
use std::path::Path;
use std::sync::Arc;

fn event(i: usize) -> NewEvent {
    NewEvent::new(EventLevel::Info, "test", format!("event {i}"))
}

fn node(dir: &Path, config: &EtcdConfig, options: ReplicaOptions) -> Store {
    let log = EtcdLog::connect(config).expect("connect to etcd");
    Store::open_replicated(dir, log as Arc<dyn ReplicaLog>, options).expect("open a copy")
}

/// The config of a node that talks to member `i` only, so all three members serve writes.
fn via_member(cluster: &EtcdCluster, i: usize, prefix: &str) -> EtcdConfig {
    let mut cfg = cluster.config(prefix);
    cfg.endpoints = vec![cluster.endpoints()[i].clone()];
    cfg
}

#[test]
fn three_nodes_write_concurrently_and_converge() {
    let cluster = EtcdCluster::start(3);
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let stores: Vec<Store> = (0..3)
        .map(|i| {
            node(
                dirs[i].path(),
                &via_member(&cluster, i, "/converge"),
                ReplicaOptions::default(),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for (n, store) in stores.iter().enumerate() {
            s.spawn(move || {
                for i in 0..25 {
                    store.append_event(&event(n * 100 + i)).unwrap();
                }
            });
        }
    });
    for store in &stores {
        store.catch_up().unwrap();
        assert_eq!(store.applied_seq(), 75);
    }
    let first = dump(stores[0].path());
    for store in &stores[1..] {
        assert_eq!(dump(store.path()), first);
    }
    let ids: Vec<i64> = stores[1]
        .events_after(None, EventId(0), 1000)
        .unwrap()
        .iter()
        .map(|e| e.id.0)
        .collect();
    assert_eq!(ids, (1..=75).collect::<Vec<_>>());
}

#[test]
fn late_and_restarted_nodes_catch_up_from_the_snapshot_and_the_log() {
    let cluster = EtcdCluster::start(3);
    let cfg = cluster.config("/late");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = node(dirs[0].path(), &cfg, ReplicaOptions::default());
    let b = node(dirs[1].path(), &cfg, ReplicaOptions::default());
    for i in 0..30 {
        a.append_event(&event(i)).unwrap();
    }
    b.catch_up().unwrap();
    // b stops (its process killed): its copy stays on disk at 30.
    drop(b);
    assert_eq!(a.snapshot_to_log().unwrap(), 30);
    for i in 30..40 {
        a.append_event(&event(i)).unwrap();
    }
    assert_eq!(a.snapshot_to_log().unwrap(), 40);
    for i in 40..45 {
        a.append_event(&event(i)).unwrap();
    }
    // A new node loads snapshot 40, then entries 41..=45.
    let c = node(dirs[2].path(), &cfg, ReplicaOptions::default());
    assert_eq!(c.applied_seq(), 45);
    assert_eq!(dump(c.path()), dump(a.path()));
    // b restarts: entries 31..=40 were compacted, so it reloads the snapshot, then goes on.
    let b = node(dirs[1].path(), &cfg, ReplicaOptions::default());
    assert_eq!(b.applied_seq(), 45);
    assert_eq!(dump(b.path()), dump(a.path()));
    b.append_event(&event(45)).unwrap();
    a.catch_up().unwrap();
    c.catch_up().unwrap();
    assert_eq!(dump(a.path()), dump(b.path()));
    assert_eq!(dump(c.path()), dump(b.path()));
}

#[test]
fn followers_apply_other_nodes_writes_and_take_snapshots() {
    let cluster = EtcdCluster::start(3);
    let cfg = cluster.config("/follow");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let options = ReplicaOptions {
        snapshot_every: 10,
        ..ReplicaOptions::default()
    };
    let a = node(dirs[0].path(), &cfg, options);
    let b = node(dirs[1].path(), &cfg, options);
    let _following = b.follow().unwrap();
    for i in 0..25 {
        a.append_event(&event(i)).unwrap();
    }
    eventually("the follower applied every entry", || b.applied_seq() == 25);
    assert_eq!(dump(b.path()), dump(a.path()));
    let log = EtcdLog::connect(&cfg).unwrap();
    // Where exactly depends on how many entries each wake-up applied; at least one snapshot is
    // due once 10 entries were applied.
    eventually("the follower stored a snapshot", || {
        log.snapshot_seq()
            .unwrap()
            .is_some_and(|s| (10..=25).contains(&s))
    });
}

#[test]
fn writes_and_reads_go_on_with_one_etcd_member_killed() {
    let mut cluster = EtcdCluster::start(3);
    let cfg = cluster.config("/degraded");
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    // Each node talks to the two members that stay up plus the one that dies.
    let a = node(dirs[0].path(), &cfg, ReplicaOptions::default());
    let b = node(dirs[1].path(), &cfg, ReplicaOptions::default());
    for i in 0..10 {
        a.append_event(&event(i)).unwrap();
    }
    cluster.kill(0);
    for i in 10..20 {
        a.append_event(&event(i)).unwrap();
        b.append_event(&event(100 + i)).unwrap();
    }
    b.catch_up().unwrap();
    a.catch_up().unwrap();
    assert_eq!(a.applied_seq(), 30);
    assert_eq!(dump(a.path()), dump(b.path()));
    assert_eq!(
        b.events_after(None, EventId(0), 100).unwrap().len(),
        30,
        "reads are served from the local copy"
    );
}

#[test]
fn an_unreachable_etcd_is_reported_with_what_to_check() {
    let port = ha_support::free_port();
    let cfg = EtcdConfig::new(vec![format!("http://127.0.0.1:{port}")]);
    // The client connects lazily; the first request says etcd is unreachable.
    match EtcdLog::connect(&cfg) {
        Err(e) => assert!(e.to_string().contains("etcd"), "{e}"),
        Ok(log) => {
            let dir = tempfile::tempdir().unwrap();
            let err = Store::open_replicated(
                dir.path(),
                log as Arc<dyn ReplicaLog>,
                ReplicaOptions::default(),
            )
            .unwrap_err();
            let text = err.to_string();
            assert!(text.contains("etcd") && text.contains("majority"), "{text}");
        }
    }
}
