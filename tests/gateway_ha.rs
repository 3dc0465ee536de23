//! A 3-node gateway as operators run it: 3 real etcd members and 3 `kubemaas gateway run`
//! processes on 127.0.0.1 sharing one gateway.yaml (each with its own `--node`, `--listen` and
//! state dir) in front of one `kubemaas sim`. A console pairs with node 1 through the CLI and is
//! then accepted by every node; the leader is killed (SIGKILL) while a cluster is being
//! provisioned, another node takes over and the cluster reaches Running. The console follows
//! through whichever node answers: it learned them all when it paired and passes over a dead
//! one (tests/gateway_ha_nodes.rs tests that part on its own), and a client pinned to a node
//! that never led shows the progress too (every node serves from its own copy).
//!
//! MAAS's side is checked after every phase, with the gateway's own API key: the machines
//! owned by kubemaas's MAAS user and stamped with the cluster's id are exactly the cluster's,
//! and MAAS's event log shows each allocated once (none taken twice across a failover). The
//! delete is made to last — MAAS refuses releases (503) until the leader was killed — so the
//! kill lands while the cluster is `Deleting` with its machines still held; afterwards MAAS
//! holds none of them.
//!
//! Every wait polls a condition under a generous deadline (never a timing assertion). Child
//! processes die with the test.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

#[path = "ha_gateway_support/mod.rs"]
mod ha_gateway_support;

use cli_support::{GatewayProcess, Transcript};
use ha_gateway_support::*;
use ha_support::EtcdCluster;
use kubemaas::gateway::client::{GatewayClient, GatewayClientError};
use std::path::Path;

/// A client of the console's pairing with `dc1` that calls the node at `address` only.
fn pinned_to(console: &Path, address: &str) -> GatewayClient {
    let store = kubemaas::store::Store::open(console).unwrap();
    kubemaas::gateway::console::client_at(&store, "dc1", Some(address)).unwrap()
}

/// `web` as the pinned node shows it (`cluster show` through the library), `None` once the
/// node answers that there is no such cluster.
fn shown_by(rt: &tokio::runtime::Runtime, node: &GatewayClient) -> Option<serde_json::Value> {
    let path = format!("{}/web", kubemaas::gateway::protocol::CLUSTERS_PATH);
    match rt.block_on(node.get::<serde_json::Value>(&path)) {
        Ok(v) => Some(v),
        Err(GatewayClientError::Refused { status: 404, .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

/// The machines a cluster view lists as held (released ones aside).
fn held(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] != "released")
        .map(|m| m["system_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Whether `gateway show dc1` lists 3 nodes, each answering this console.
fn every_node_accepts(t: &mut Transcript, console: &Path) -> bool {
    let out = t.ok(console, &["gateway", "show", "dc1", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    nodes.len() == 3 && nodes.iter().all(|n| n["reachable"] == true)
}

#[test]
fn killed_leaders_hand_provisioning_scaling_and_deletion_to_another_node() {
    let mut etcd = EtcdCluster::start(3);
    let root = tempfile::tempdir().unwrap();
    let sim = start_sim();
    let maas = Maas::connect(&sim);
    assert_eq!(
        maas.holdings().owned,
        Vec::<String>::new(),
        "{} holds nothing yet",
        maas.user
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &sim, &etcd);
    // One after the other: the first creates the shared CA, the others load it.
    let mut nodes: Vec<Option<GatewayProcess>> = (1..=3)
        .map(|n| Some(start_node(root.path(), &config, n)))
        .collect();
    let fingerprints: Vec<String> = nodes
        .iter()
        .map(|n| {
            let printed = &n.as_ref().unwrap().printed;
            printed
                .lines()
                .find_map(|l| l.strip_prefix("CA fingerprint: "))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        fingerprints.iter().all(|f| f == &fingerprints[0]),
        "every node must show the same CA: {fingerprints:?}"
    );

    eprintln!("3 nodes serving");
    let console = root.path().join("console");
    let mut t = Transcript::default();
    let (addr1, code1) = {
        let n1 = nodes[0].as_ref().unwrap();
        (n1.addr.clone(), n1.code.clone())
    };
    let out = t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &addr1,
            "--code",
            &code1,
            "--console-name",
            "console-a",
        ],
    );
    assert!(out.contains("paired with gateway dc1"), "{out}");
    // Paired with node 1, accepted by every node (and every node's certificate accepted):
    // `gateway show` asks each node with the console's certificate.
    until("every node accepts the console", || {
        every_node_accepts(&mut t, &console)
    });
    let shown = t.ok(&console, &["gateway", "show", "dc1"]);
    assert!(shown.contains("reachable:      yes"), "{shown}");

    let spec = t.ok(
        &console,
        &[
            "cluster",
            "new",
            "web",
            "--account",
            "dc1",
            "--control-plane",
            "1",
            "--workers",
            "1",
        ],
    );
    let spec_file = root.path().join("web.yaml");
    std::fs::write(&spec_file, spec).unwrap();
    let out = t.ok(
        &console,
        &[
            "cluster",
            "create",
            "--gateway",
            "dc1",
            "-f",
            spec_file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("web"), "{out}");

    // Kill the leader once it is provisioning: it has taken machines from MAAS by then.
    let first = leader(&etcd);
    eprintln!("{first} leads");
    until("the cluster is being provisioned", || {
        let v = view(&mut t, &console, "dc1");
        v["phase"] == "Provisioning" && !v["machines"].as_array().unwrap().is_empty()
    });
    let (killed, watch) = kill_leader(&etcd, &mut nodes);
    // Watched through a node that never led, as well as through the failing-over console.
    let watcher = pinned_to(&console, &nodes[watch - 1].as_ref().unwrap().addr);
    until(&format!("gw{watch} shows web Running"), || {
        shown_by(&rt, &watcher).expect("web exists")["phase"] == "Running"
    });
    let watch_gw = "dc1";
    let out = t.ok(
        &console,
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "running",
            "--gateway",
            watch_gw,
        ],
    );
    assert!(out.contains("cluster web is Running"), "{out}");
    let first_machines = assert_machines(&mut t, &console, watch_gw, 2);
    let id = view(&mut t, &console, watch_gw)["id"]
        .as_str()
        .unwrap()
        .to_string();
    maas.assert_holds(&[(&id, &first_machines)]);
    maas.assert_allocated_once(&first_machines);
    // The killed node comes back on its state dir (on a new port) and catches up; the
    // console learns its new address from the gateway.
    let back = start_node(root.path(), &config, killed);
    nodes[killed - 1] = Some(back);
    until("the restarted node accepts the console", || {
        every_node_accepts(&mut t, &console)
    });

    // Scale the workers and kill the leader while it scales.
    scale_workers(&mut t, &console, watch_gw, 2);
    let (killed, _) = kill_leader(&etcd, &mut nodes);
    until("the scale is done", || {
        let v = view(&mut t, &console, watch_gw);
        eprintln!("{} {}", v["phase"], v["reason"]);
        v["phase"] == "Running" && v["spec_generation"] == v["observed_generation"]
    });
    let machines = assert_machines(&mut t, &console, watch_gw, 3);
    assert!(
        first_machines.iter().all(|m| machines.contains(m)),
        "the scale kept {first_machines:?}: {machines:?}"
    );
    maas.assert_holds(&[(&id, &machines)]);
    maas.assert_allocated_once(&machines);
    let back = start_node(root.path(), &config, killed);
    nodes[killed - 1] = Some(back);
    until("the restarted node accepts the console", || {
        every_node_accepts(&mut t, &console)
    });

    // An etcd member dies: the gateway keeps serving and writing.
    etcd.kill(2);
    let shown = t.ok(&console, &["gateway", "show", watch_gw]);
    assert!(shown.contains("reachable:      yes"), "{shown}");

    // Delete, and kill the leader while it deletes: MAAS refuses every release until then,
    // so the leader is seen Deleting with the machines still held, having tried to release.
    maas.refuse_releases();
    t.ok(
        &console,
        &["cluster", "delete", "web", "--gateway", watch_gw],
    );
    until("web is Deleting and MAAS refused a release", || {
        let v = view(&mut t, &console, watch_gw);
        v["phase"] == "Deleting" && held(&v) == machines && maas.refused_releases() > 0
    });
    maas.assert_holds(&[(&id, &machines)]);
    // Releases go through again for the next leader, whose first pass then finds no failure
    // to back off from.
    let (_, watch) = kill_leader_then(&etcd, &mut nodes, || maas.release_again());
    let watcher = pinned_to(&console, &nodes[watch - 1].as_ref().unwrap().addr);
    until(&format!("gw{watch} shows web gone"), || {
        shown_by(&rt, &watcher).is_none()
    });
    // The console agrees (a deleted cluster is not found).
    let out = t.run(
        &console,
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "deleted",
            "--gateway",
            watch_gw,
        ],
        None,
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        (out.status.success() && printed.to_lowercase().contains("deleted"))
            || printed.contains("no cluster `web`"),
        "{printed}"
    );
    // MAAS holds none of its machines, and allocated each once in the whole run.
    maas.assert_holds(&[(&id, &[])]);
    let history = maas.allocations();
    assert!(
        history.iter().all(|a| a.released.is_some()),
        "every allocation ended with a release: {history:?}"
    );
    maas.assert_allocated_once(&machines);
    t.assert_no_secrets(&sim.key);
}
