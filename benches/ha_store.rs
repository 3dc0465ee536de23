//! State-change throughput (`cargo bench --bench ha_store`): one event appended per
//! transaction, on a standalone SQLite store, on replicated copies over the in-memory log (the
//! cost of capturing changesets alone), and on replicated copies over 3 real etcd members on
//! 127.0.0.1 — one writer, then three writers on three nodes at once (optimistic retries).
//!
//! `--count N` changes the number of transactions per run (default 500).

#[path = "../tests/ha_support/mod.rs"]
mod ha_support;

use ha_support::EtcdCluster;
use kubemaas::ha::EtcdLog;
use kubemaas::store::replica::{MemoryLog, ReplicaLog};
use kubemaas::store::{EventLevel, NewEvent, ReplicaOptions, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn event(i: usize) -> NewEvent {
    NewEvent::new(EventLevel::Info, "bench", format!("state change {i}"))
}

fn report(what: &str, count: usize, took: Duration) {
    let per_s = count as f64 / took.as_secs_f64();
    let ms = took.as_secs_f64() * 1000.0 / count as f64;
    println!("| {what} | {count} | {per_s:.0} | {ms:.2} |");
}

/// `writers` threads, one per store, each appending `count / writers` events.
fn run(stores: &[Store], count: usize) -> Duration {
    let each = count / stores.len();
    let start = Instant::now();
    std::thread::scope(|s| {
        for (n, store) in stores.iter().enumerate() {
            s.spawn(move || {
                for i in 0..each {
                    store.append_event(&event(n * each + i)).expect("append");
                }
            });
        }
    });
    start.elapsed()
}

fn replicated(dirs: &[tempfile::TempDir], log: impl Fn() -> Arc<dyn ReplicaLog>) -> Vec<Store> {
    dirs.iter()
        .map(|d| Store::open_replicated(d.path(), log(), ReplicaOptions::default()).expect("open"))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = args
        .iter()
        .position(|a| a == "--count")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(500usize);
    println!("| store | transactions | per second | ms each |");
    println!("|---|---|---|---|");

    let dir = tempfile::tempdir().expect("tempdir");
    let standalone = Store::open(dir.path()).expect("open");
    report("SQLite standalone", count, run(&[standalone], count));

    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let memory: Arc<dyn ReplicaLog> = Arc::new(MemoryLog::default());
    let stores = replicated(&dirs[..1], || Arc::clone(&memory));
    report(
        "replicated, in-memory log, 1 writer",
        count,
        run(&stores, count),
    );

    let cluster = EtcdCluster::start(3);
    let cfg = cluster.config("/bench-one");
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let stores = replicated(&dirs[..1], || EtcdLog::connect(&cfg).expect("etcd"));
    report("replicated, etcd ×3, 1 writer", count, run(&stores, count));

    let cfg = cluster.config("/bench-three");
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let stores = replicated(&dirs, || EtcdLog::connect(&cfg).expect("etcd"));
    report(
        "replicated, etcd ×3, 3 writers on 3 nodes",
        count,
        run(&stores, count),
    );
}
