//! Failover time of a 3-node gateway (`cargo bench --bench ha_failover`): 3 real etcd members,
//! `kubemaas sim` and 3 `kubemaas gateway run` processes on 127.0.0.1, as an operator runs
//! them. Each run kills the elected node (SIGKILL: its lease is not revoked, so it holds the
//! role until the lease expires) and measures, from the kill:
//!
//! * **write**: a change submitted through the replicated store (what a console's request to
//!   a surviving node does) is accepted by etcd;
//! * **console**: a paired console's request through a surviving node is answered;
//! * **elected**: etcd names another node leader;
//! * **resumed**: the new leader's first reconcile pass has processed the change submitted
//!   after the kill (the engine takes queued commands first in every pass), as seen from an
//!   observer's own copy of the replicated store.
//!
//! The killed node is restarted before the next run. Both the lease TTL the tests use (2 s)
//! and the gateway's default (10 s) are measured. Options: `--runs N` (default 5).
//! A missing /usr/bin/etcd is installed by .ci/install-test-tools where it can be, else the
//! bench stops saying how to install it.

#[path = "../tests/cli_support/mod.rs"]
mod cli_support;
#[path = "../tests/ha_gateway_support/mod.rs"]
mod ha_gateway_support;
#[path = "../tests/ha_support/mod.rs"]
mod ha_support;

use cli_support::{GatewayProcess, Transcript};
use ha_gateway_support::{gateway_yaml, start_node_with, start_sim};
use ha_support::EtcdCluster;
use kubemaas::ha::{Candidate, EtcdConfig, EtcdLog};
use kubemaas::store::replica::ReplicaLog;
use kubemaas::store::{CommandState, ReplicaOptions, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the bench looks: the resolution of the figures.
const POLL: Duration = Duration::from_millis(5);
/// Bounds a broken run (a failover normally takes the lease TTL plus a second or two).
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Samples {
    write: Vec<Duration>,
    console: Vec<Duration>,
    elected: Vec<Duration>,
    resumed: Vec<Duration>,
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn row(ttl: u64, what: &str, xs: &[Duration]) {
    let mut v = xs.to_vec();
    v.sort();
    let (min, med, max) = (v[0], v[v.len() / 2], v[v.len() - 1]);
    println!(
        "| {ttl} s | {what} | {} | {} | {} | {} |",
        v.len(),
        ms(min),
        ms(med),
        ms(max)
    );
}

fn leader(rt: &tokio::runtime::Runtime, probe: &Candidate) -> Option<String> {
    rt.block_on(probe.leader()).ok().flatten()
}

fn node_number(name: &str) -> usize {
    name.trim_start_matches("gw")
        .parse()
        .unwrap_or_else(|_| panic!("`{name}` is not a node this bench started"))
}

/// One TTL setting: a fresh etcd cluster, simulator and 3 nodes; `runs` failovers.
fn measure(ttl: u64, runs: usize) -> Samples {
    let etcd = EtcdCluster::start(3);
    let sim = start_sim();
    let root = tempfile::tempdir().expect("tempdir");
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &sim, &etcd);
    let mut nodes: Vec<Option<GatewayProcess>> = (1..=3)
        .map(|n| Some(start_node_with(root.path(), &config, n, ttl)))
        .collect();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cfg: EtcdConfig = etcd.config("/kubemaas/dc1");
    let probe = rt
        .block_on(Candidate::connect(&cfg, "probe", Duration::from_secs(2)))
        .expect("connect the probe");
    // An observer's copy of the gateway's state, following the log like a node's.
    let observer_dir = root.path().join("observer");
    let log = EtcdLog::connect(&cfg).expect("connect the observer") as Arc<dyn ReplicaLog>;
    let observer =
        Store::open_replicated(&observer_dir, log, ReplicaOptions::default()).expect("open");
    let _following = observer.follow().expect("follow");
    // A console paired with node 1, as operators pair one.
    let console = root.path().join("console");
    let mut t = Transcript::default();
    let first = nodes[0].as_ref().expect("node 1 runs");
    t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &first.addr,
            "--code",
            &first.code,
            "--name",
            "dc1",
        ],
    );
    let console_store = Store::open(&console).expect("the console's state");

    let start = Instant::now();
    while leader(&rt, &probe).is_none() {
        assert!(start.elapsed() < DEADLINE, "no node was ever elected");
        std::thread::sleep(POLL);
    }
    let mut samples = Samples::default();
    for run in 0..runs {
        let old = leader(&rt, &probe).expect("a leader");
        let n = node_number(&old);
        let survivor = (1..=3).find(|i| *i != n).expect("a survivor");
        let address = nodes[survivor - 1].as_ref().expect("runs").addr.clone();
        let client = kubemaas::gateway::console::client_at(&console_store, "dc1", Some(&address))
            .expect("a client for the surviving node");
        let mut killed = nodes[n - 1].take().expect("the leader runs");
        killed.child.kill().expect("kill the leader");
        let t0 = Instant::now();
        killed.child.wait().expect("reap the leader");
        drop(killed);

        let marker = observer
            .submit_command(None, "bench-failover", &serde_json::json!({ "run": run }))
            .expect("a change through the replicated store");
        samples.write.push(t0.elapsed());
        rt.block_on(client.get::<serde_json::Value>("/v1/clusters"))
            .expect("the surviving node answers the console");
        samples.console.push(t0.elapsed());

        let (mut elected, mut resumed) = (None, None);
        while elected.is_none() || resumed.is_none() {
            assert!(
                t0.elapsed() < DEADLINE,
                "run {run}: no failover within {DEADLINE:?} (elected {elected:?}, resumed {resumed:?})"
            );
            if elected.is_none() && leader(&rt, &probe).is_some_and(|l| l != old) {
                elected = Some(t0.elapsed());
            }
            if resumed.is_none() {
                let state = observer
                    .read(|r| r.command(marker))
                    .expect("read the marker")
                    .state;
                if !matches!(state, CommandState::Pending | CommandState::Claimed) {
                    resumed = Some(t0.elapsed());
                }
            }
            std::thread::sleep(POLL);
        }
        samples.elected.push(elected.expect("measured"));
        samples.resumed.push(resumed.expect("measured"));
        eprintln!(
            "ttl {ttl} s, run {run}: killed {old}; elected after {} ms, resumed after {} ms",
            ms(samples.elected[run]),
            ms(samples.resumed[run])
        );
        nodes[n - 1] = Some(start_node_with(root.path(), &config, n, ttl));
    }
    drop(nodes);
    drop(sim);
    samples
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize)
        .max(1);
    let mut all = Vec::new();
    for ttl in [2, 10] {
        all.push((ttl, measure(ttl, runs)));
    }
    println!("| lease TTL | from the leader's kill until | runs | min ms | median ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (ttl, s) in &all {
        row(
            *ttl,
            "a change is accepted through the replicated store",
            &s.write,
        );
        row(
            *ttl,
            "a console request through a surviving node is answered",
            &s.console,
        );
        row(*ttl, "another node is elected", &s.elected);
        row(*ttl, "the new leader's first pass has run", &s.resumed);
    }
}
