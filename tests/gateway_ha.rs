//! A 3-node gateway as operators run it: 3 real etcd members and 3 `kubemaas gateway run`
//! processes on 127.0.0.1 sharing one gateway.yaml (each with its own `--node`, `--listen` and
//! state dir) in front of one `kubemaas sim`. A console pairs with node 1 through the CLI and is
//! then accepted by every node; the leader is killed (SIGKILL) while a cluster is being
//! provisioned, another node takes over and the cluster reaches Running, seen through a node
//! that was never the leader.
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

/// Records node `n` in the console as gateway `dc1-nN`, with the material the console got
/// when it paired with node 1: one gateway identity, so the same pin and certificate.
fn record_node(console: &Path, n: usize, address: &str) {
    let db = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    let added = db
        .execute(
            "INSERT INTO gateways (name, address, fingerprint, client_cert_path, client_key_path, kind, created)
             SELECT ?1, ?2, fingerprint, client_cert_path, client_key_path, kind, created
             FROM gateways WHERE name = 'dc1'",
            rusqlite::params![format!("dc1-n{n}"), address],
        )
        .unwrap();
    assert_eq!(added, 1);
}

/// Points the console's record of node `n` at its new address (a restarted node listens on a
/// new port).
fn move_node(console: &Path, n: usize, address: &str) {
    let db = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    let changed = db
        .execute(
            "UPDATE gateways SET address = ?2 WHERE name = ?1",
            rusqlite::params![format!("dc1-n{n}"), address],
        )
        .unwrap();
    assert_eq!(changed, 1);
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
    for n in 1..=3 {
        let addr = nodes[n - 1].as_ref().unwrap().addr.clone();
        record_node(&console, n, &addr);
        // Paired with node 1, accepted by every node (and every node's certificate accepted).
        let shown = t.ok(&console, &["gateway", "show", &format!("dc1-n{n}")]);
        assert!(shown.contains("reachable:      yes"), "node {n}: {shown}");
    }

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
    let first_n: usize = first.trim_start_matches("gw").parse().unwrap();
    let early_watch = if first_n == 3 { 2 } else { 3 };
    until("the cluster is being provisioned", || {
        let v = view(&mut t, &console, &format!("dc1-n{early_watch}"));
        v["phase"] == "Provisioning" && !v["machines"].as_array().unwrap().is_empty()
    });
    let (killed, watch) = kill_leader(&etcd, &mut nodes);
    let watch_gw = format!("dc1-n{watch}");
    let out = t.ok(
        &console,
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "running",
            "--gateway",
            &watch_gw,
        ],
    );
    assert!(out.contains("cluster web is Running"), "{out}");
    assert_machines(&mut t, &console, &watch_gw, 2);
    // The killed node comes back on its state dir and catches up.
    let back = start_node(root.path(), &config, killed);
    move_node(&console, killed, &back.addr);
    nodes[killed - 1] = Some(back);

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
            &watch_gw,
        ],
    );
    until("the cluster is scaling", || {
        let v = view(&mut t, &console, &watch_gw);
        v["phase"] == "Updating" || v["machines"].as_array().unwrap().len() > 2
    });
    let (killed, watch) = kill_leader(&etcd, &mut nodes);
    let watch_gw = format!("dc1-n{watch}");
    until("the scale is done", || {
        let v = view(&mut t, &console, &watch_gw);
        eprintln!("{} {}", v["phase"], v["reason"]);
        v["phase"] == "Running" && v["spec_generation"] == v["observed_generation"]
    });
    assert_machines(&mut t, &console, &watch_gw, 3);
    let back = start_node(root.path(), &config, killed);
    move_node(&console, killed, &back.addr);
    nodes[killed - 1] = Some(back);

    // An etcd member dies: the gateway keeps serving and writing.
    etcd.kill(2);
    let shown = t.ok(&console, &["gateway", "show", &watch_gw]);
    assert!(shown.contains("reachable:      yes"), "{shown}");

    // Delete, and kill the leader as soon as the request is in (against the simulator a
    // delete takes about a second, so the kill lands before or during it).
    t.ok(
        &console,
        &["cluster", "delete", "web", "--gateway", &watch_gw],
    );
    let (_, watch) = kill_leader(&etcd, &mut nodes);
    let watch_gw = format!("dc1-n{watch}");
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
            &watch_gw,
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
