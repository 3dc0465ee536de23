//! A 3-node gateway as operators run it: 3 real etcd members and 3 `kubemaas gateway run`
//! processes on 127.0.0.1 sharing one gateway.yaml (each with its own `--node`, `--listen` and
//! state dir) in front of one `kubemaas sim`. A console pairs with node 1 through the CLI and is
//! then accepted by every node; the leader is killed (SIGKILL) while a cluster is being
//! provisioned, another node takes over and the cluster reaches Running. The console follows
//! through whichever node answers: it learned them all when it paired and passes over a dead
//! one (tests/gateway_ha_nodes.rs tests that part on its own).
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
use std::path::Path;

/// Whether `gateway show dc1` lists 3 nodes, each answering this console.
fn every_node_accepts(t: &mut Transcript, console: &Path) -> bool {
    let out = t.ok(console, &["gateway", "show", "dc1", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    nodes.len() == 3 && nodes.iter().all(|n| n["reachable"] == true)
}

#[test]
fn killed_leaders_hand_provisioning_scaling_and_deletion_to_another_node() {
    let Some(mut etcd) = EtcdCluster::start(3) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let sim = start_sim();
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
    let (killed, _) = kill_leader(&etcd, &mut nodes);
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
    assert_machines(&mut t, &console, watch_gw, 2);
    // The killed node comes back on its state dir (on a new port) and catches up; the
    // console learns its new address from the gateway.
    let back = start_node(root.path(), &config, killed);
    nodes[killed - 1] = Some(back);
    until("the restarted node accepts the console", || {
        every_node_accepts(&mut t, &console)
    });

    // Scale the workers and kill the leader while it scales.
    t.ok(
        &console,
        &[
            "cluster",
            "scale",
            "web",
            "--pool",
            "workers",
            "--size",
            "2",
            "--gateway",
            watch_gw,
        ],
    );
    until("the cluster is scaling", || {
        let v = view(&mut t, &console, watch_gw);
        v["phase"] == "Updating" || v["machines"].as_array().unwrap().len() > 2
    });
    let (killed, _) = kill_leader(&etcd, &mut nodes);
    until("the scale is done", || {
        let v = view(&mut t, &console, watch_gw);
        eprintln!("{} {}", v["phase"], v["reason"]);
        v["phase"] == "Running" && v["spec_generation"] == v["observed_generation"]
    });
    assert_machines(&mut t, &console, watch_gw, 3);
    let back = start_node(root.path(), &config, killed);
    nodes[killed - 1] = Some(back);
    until("the restarted node accepts the console", || {
        every_node_accepts(&mut t, &console)
    });

    // An etcd member dies: the gateway keeps serving and writing.
    etcd.kill(2);
    let shown = t.ok(&console, &["gateway", "show", watch_gw]);
    assert!(shown.contains("reachable:      yes"), "{shown}");

    // Delete, and kill the leader as soon as the request is in (against the simulator a
    // delete takes about a second, so the kill lands before or during it).
    t.ok(
        &console,
        &["cluster", "delete", "web", "--gateway", watch_gw],
    );
    kill_leader(&etcd, &mut nodes);
    // Either the wait sees it go, or it is gone already (a deleted cluster is not found).
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
    t.assert_no_secrets(&sim.key);
}
