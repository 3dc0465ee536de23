//! The replicated store over an in-memory log: the store side of replication (changeset
//! capture and apply, optimistic retries, snapshots and their chunking, divergence) without
//! an etcd cluster.

mod ha_support;

use ha_support::dump;
use kubemaas::store::replica::{LogError, MemoryLog, ReplicaLog};
use kubemaas::store::*;
use std::sync::Arc;

fn event(i: usize) -> NewEvent {
    NewEvent::new(EventLevel::Info, "test", format!("event {i}"))
}

fn gateway(name: &str) -> NewGateway {
    NewGateway {
        name: name.into(),
        address: "127.0.0.1:1".into(),
        fingerprint: None,
        client_cert_path: None,
        client_key_path: None,
        kind: GatewayKind::Remote,
    }
}

fn open(dir: &std::path::Path, log: &Arc<MemoryLog>) -> Store {
    Store::open_replicated(
        dir,
        Arc::clone(log) as Arc<dyn ReplicaLog>,
        ReplicaOptions::default(),
    )
    .unwrap()
}

#[test]
fn writes_from_every_copy_serialise_and_the_copies_converge() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let stores: Vec<Store> = dirs.iter().map(|d| open(d.path(), &log)).collect();
    // Concurrent writers on all three copies: every append after the first on a copy that
    // missed the others' entries conflicts, catches up and reruns.
    std::thread::scope(|s| {
        for (n, store) in stores.iter().enumerate() {
            s.spawn(move || {
                for i in 0..40 {
                    store.append_event(&event(n * 1000 + i)).unwrap();
                }
            });
        }
    });
    assert_eq!(log.head(), 120);
    for store in &stores {
        store.catch_up().unwrap();
        assert_eq!(store.applied_seq(), 120);
    }
    let first = dump(stores[0].path());
    for store in &stores[1..] {
        assert_eq!(dump(store.path()), first);
    }
    let events = stores[2].events_after(None, EventId(0), 1000).unwrap();
    assert_eq!(events.len(), 120);
    // Ids are dense and unique: the retries never reused one.
    let ids: Vec<i64> = events.iter().map(|e| e.id.0).collect();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());
}

#[test]
fn a_refusal_on_stale_state_is_retried_on_fresh_state() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = Arc::new(MemoryLog::default());
    let (sa, sb) = (open(a.path(), &log), open(b.path(), &log));
    sa.tx(|tx| tx.insert_gateway(&gateway("g1")).map(|_| ()))
        .unwrap();
    // b has not applied g1 yet; a duplicate insert there must still be refused, because the
    // store reruns the closure after catching up instead of trusting its stale copy.
    let err = sb
        .tx(|tx| tx.insert_gateway(&gateway("g1")).map(|_| ()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { .. }), "{err:?}");
    // And a change that needs a row only the log has succeeds.
    assert_eq!(sb.read(|r| r.gateways()).unwrap().len(), 1);
    assert_eq!(log.head(), 1);
}

#[test]
fn a_transaction_that_changes_nothing_on_a_stale_copy_decides_again() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = Arc::new(MemoryLog::default());
    let (sa, sb) = (open(a.path(), &log), open(b.path(), &log));
    sa.tx(|tx| tx.start_task(None, "create", "allocating"))
        .unwrap();
    // b has not seen the task: on its copy alone there would be nothing to interrupt.
    let interrupted = sb
        .tx(|tx| tx.interrupt_unfinished_tasks("the process running it stopped"))
        .unwrap();
    assert_eq!(interrupted, 1);
    assert_eq!(log.head(), 2);
    // On a current copy, a no-op stays a no-op and appends nothing.
    let again = sb
        .tx(|tx| tx.interrupt_unfinished_tasks("the process running it stopped"))
        .unwrap();
    assert_eq!(again, 0);
    assert_eq!(log.head(), 2);
}

#[test]
fn a_late_copy_loads_a_chunked_snapshot_then_the_entries_after_it() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    // Tiny chunks: the snapshot is stored as many pieces, as etcd's request limit demands.
    let log = Arc::new(MemoryLog::new(4096));
    let first = open(dirs[0].path(), &log);
    for i in 0..50 {
        first.append_event(&event(i)).unwrap();
    }
    assert_eq!(first.snapshot_to_log().unwrap(), 50);
    for i in 50..60 {
        first.append_event(&event(i)).unwrap();
    }
    assert_eq!(first.snapshot_to_log().unwrap(), 60);
    // The second snapshot dropped the entries the first covered.
    assert_eq!(log.stored_entries(), 10);
    assert!(
        log.snapshot_chunks().unwrap() > 1,
        "the snapshot was cut in chunks"
    );
    for i in 60..65 {
        first.append_event(&event(i)).unwrap();
    }
    let late = open(dirs[1].path(), &log);
    assert_eq!(late.applied_seq(), 65);
    assert_eq!(dump(late.path()), dump(first.path()));
    // The late copy writes like the others.
    late.append_event(&event(65)).unwrap();
    first.catch_up().unwrap();
    assert_eq!(dump(late.path()), dump(first.path()));
}

#[test]
fn a_copy_behind_the_compaction_reloads_the_snapshot() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let (a, b) = (open(dirs[0].path(), &log), open(dirs[1].path(), &log));
    a.append_event(&event(0)).unwrap();
    b.catch_up().unwrap();
    for i in 1..30 {
        a.append_event(&event(i)).unwrap();
    }
    a.snapshot_to_log().unwrap();
    a.append_event(&event(30)).unwrap();
    a.snapshot_to_log().unwrap();
    // b is at 1; entries 2..=30 are gone.
    assert_eq!(b.applied_seq(), 1);
    assert_eq!(b.catch_up().unwrap(), 30);
    assert_eq!(dump(b.path()), dump(a.path()));
}

#[test]
fn a_restarted_copy_resumes_where_it_stopped() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let a = open(dirs[0].path(), &log);
    let b = open(dirs[1].path(), &log);
    a.append_event(&event(0)).unwrap();
    b.catch_up().unwrap();
    drop(b);
    for i in 1..10 {
        a.append_event(&event(i)).unwrap();
    }
    let b = open(dirs[1].path(), &log);
    assert_eq!(b.applied_seq(), 10);
    assert_eq!(dump(b.path()), dump(a.path()));
}

#[test]
fn a_follower_applies_what_others_write() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let (a, b) = (open(dirs[0].path(), &log), open(dirs[1].path(), &log));
    let _follower = b.follow().unwrap().expect("a replicated store follows");
    for i in 0..20 {
        a.append_event(&event(i)).unwrap();
    }
    ha_support::eventually("the follower applied all entries", || b.applied_seq() == 20);
    assert_eq!(dump(b.path()), dump(a.path()));
}

#[test]
fn a_standalone_store_is_not_replicated_and_refuses_to_mix_into_a_log() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let plain = Store::open(dirs[0].path()).unwrap();
    assert!(!plain.is_replicated());
    assert!(plain.follow().unwrap().is_none());
    plain.append_event(&event(0)).unwrap();
    drop(plain);
    let log = Arc::new(MemoryLog::default());
    let other = open(dirs[1].path(), &log);
    other.append_event(&event(1)).unwrap();
    let err = Store::open_replicated(
        dirs[0].path(),
        Arc::clone(&log) as Arc<dyn ReplicaLog>,
        ReplicaOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::Replica(ReplicaError::Unreplicated { .. })),
        "{err:?}"
    );
}

#[test]
fn the_first_copy_of_a_gateway_seeds_the_log_with_its_state() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let plain = Store::open(dirs[0].path()).unwrap();
    plain.append_event(&event(0)).unwrap();
    drop(plain);
    let log = Arc::new(MemoryLog::default());
    let seeded = open(dirs[0].path(), &log);
    let joined = open(dirs[1].path(), &log);
    assert_eq!(dump(joined.path()), dump(seeded.path()));
    joined.append_event(&event(1)).unwrap();
    seeded.catch_up().unwrap();
    assert_eq!(dump(joined.path()), dump(seeded.path()));
}

#[test]
fn a_diverged_copy_fails_loudly_instead_of_skipping() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let (a, b) = (open(dirs[0].path(), &log), open(dirs[1].path(), &log));
    // Someone edits b's file behind the store's back.
    let conn = rusqlite::Connection::open(b.path()).unwrap();
    conn.execute(
        "INSERT INTO gateways (name, address, kind, created) VALUES ('g1', 'x', 'remote', 'now')",
        [],
    )
    .unwrap();
    drop(conn);
    a.tx(|tx| tx.insert_gateway(&gateway("g1")).map(|_| ()))
        .unwrap();
    let err = b.catch_up().unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Replica(ReplicaError::Diverged { seq: 1, .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("table gateways"), "{err}");
    assert_eq!(b.applied_seq(), 0, "nothing of the entry was kept");
}

#[test]
fn a_log_error_says_what_to_check() {
    let e = LogError::Unavailable {
        what: "appending a state change".into(),
        detail: "connection refused".into(),
    };
    assert!(e.to_string().contains("etcd"), "{e}");
}

#[test]
fn an_unchanged_cluster_status_adds_no_log_entry() {
    // The engine reports status every pass: only a change may cost a replicated write.
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(MemoryLog::default());
    let store = open(dir.path(), &log);
    store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "lab".into(),
                gateway: None,
                endpoint: "http://127.0.0.1:1/MAAS/".parse().unwrap(),
                api_key: "aaaaaaa:bbbbbbb:ccccccc".parse().unwrap(),
                ca_cert: None,
            })
        })
        .unwrap();
    let id = store
        .tx(|tx| tx.create_cluster("web", "lab", &serde_json::json!({})))
        .unwrap()
        .id;
    let status = serde_json::json!({"pools": [{"name": "workers", "ready": 1}]});
    store
        .tx(|tx| tx.set_cluster_status(&id, &status, 0))
        .unwrap();
    let head = log.head();
    let updated = store.read(|r| r.cluster(&id)).unwrap().updated;
    for _ in 0..5 {
        store
            .tx(|tx| tx.set_cluster_status(&id, &status, 0))
            .unwrap();
    }
    assert_eq!(log.head(), head, "an unchanged status was written");
    assert_eq!(store.read(|r| r.cluster(&id)).unwrap().updated, updated);
    let changed = serde_json::json!({"pools": [{"name": "workers", "ready": 2}]});
    store
        .tx(|tx| tx.set_cluster_status(&id, &changed, 0))
        .unwrap();
    assert_eq!(log.head(), head + 1);
    assert_eq!(store.read(|r| r.cluster(&id)).unwrap().status, changed);
}

/// A counter for `Store::on_applied` signals.
fn counter() -> (
    Arc<std::sync::atomic::AtomicUsize>,
    impl Fn() + Send + Sync + 'static,
) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    (hits, move || {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    })
}

fn hits(c: &std::sync::atomic::AtomicUsize) -> usize {
    c.load(std::sync::atomic::Ordering::SeqCst)
}

fn request(store: &Store) {
    store
        .tx(|tx| tx.submit_command(None, "delete", &serde_json::json!({})))
        .unwrap();
}

#[test]
fn another_copys_requests_signal_once_per_catch_up_and_own_writes_never() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let (a, b) = (open(dirs[0].path(), &log), open(dirs[1].path(), &log));
    let (count, signal) = counter();
    let watch = a.on_applied(&["commands", "clusters"], signal);
    // a's own request is committed here, never applied back: the engine is not woken by
    // its own work.
    request(&a);
    assert_eq!(a.catch_up().unwrap(), 0);
    b.catch_up().unwrap();
    assert_eq!(hits(&count), 0);
    // Another copy's journal lines give the engine no work.
    b.append_event(&event(0)).unwrap();
    assert_eq!(a.catch_up().unwrap(), 1);
    assert_eq!(hits(&count), 0);
    // A burst of requests (and a journal line) applied in one catch-up: one signal.
    for _ in 0..3 {
        request(&b);
    }
    b.append_event(&event(1)).unwrap();
    assert_eq!(a.catch_up().unwrap(), 4);
    assert_eq!(hits(&count), 1);
    // A write of a's that finds b ahead applies b's request before running again: that
    // request is signalled too.
    request(&b);
    a.append_event(&event(2)).unwrap();
    assert_eq!(hits(&count), 2);
    assert_eq!(a.catch_up().unwrap(), 0);
    assert_eq!(hits(&count), 2);
    // Dropped: no more signals.
    drop(watch);
    request(&b);
    assert_eq!(a.catch_up().unwrap(), 1);
    assert_eq!(hits(&count), 2);
    assert_eq!(dump(a.path()), dump(b.path()));
}

#[test]
fn a_loaded_snapshot_signals_and_a_standalone_store_never_does() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let (a, b) = (open(dirs[0].path(), &log), open(dirs[1].path(), &log));
    let (count, signal) = counter();
    let _watch = b.on_applied(&["commands"], signal);
    a.append_event(&event(0)).unwrap();
    b.catch_up().unwrap();
    for i in 1..5 {
        a.append_event(&event(i)).unwrap();
    }
    a.snapshot_to_log().unwrap();
    a.append_event(&event(5)).unwrap();
    a.snapshot_to_log().unwrap();
    // b's next entries were compacted: it reloads the whole copy, which may hold anything.
    assert_eq!(b.catch_up().unwrap(), 5);
    assert_eq!(hits(&count), 1);

    let alone = Store::open(dirs[2].path()).unwrap();
    let (count, signal) = counter();
    let _watch = alone.on_applied(&["commands"], signal);
    request(&alone);
    assert_eq!(alone.catch_up().unwrap(), 0);
    assert_eq!(hits(&count), 0);
}

#[test]
fn a_follower_signals_another_copys_request_without_being_asked() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let log = Arc::new(MemoryLog::default());
    let (a, b) = (open(dirs[0].path(), &log), open(dirs[1].path(), &log));
    let (count, signal) = counter();
    let _watch = a.on_applied(&["commands"], signal);
    let _follower = a.follow().unwrap().expect("a replicated store follows");
    request(&b);
    ha_support::eventually("the follower signalled the request", || hits(&count) == 1);
    assert_eq!(a.applied_seq(), 1);
}
