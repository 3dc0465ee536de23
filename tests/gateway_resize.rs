//! `kubemaas gateway resize dc1 --nodes 3` as operators run it: a 1-node gateway (no etcd)
//! in front of `kubemaas sim`, a console paired through the CLI, a cluster being provisioned;
//! the resize moves the gateway onto 3 real etcd members mid-provisioning, a cluster request
//! made during the switch is created once, the two printed `gateway run` commands start the
//! other nodes, the cluster reaches Running seen through node 2 with distinct machines, and
//! after the leader is killed a scale still completes on the nodes that joined.
//!
//! Every wait polls a condition under a generous deadline (never a timing assertion). Child
//! processes die with the test.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

#[path = "ha_gateway_support/mod.rs"]
mod ha_gateway_support;

use cli_support::proc::Proc;
use cli_support::{GatewayProcess, Transcript};
use ha_gateway_support::*;
use ha_support::EtcdCluster;

#[test]
fn a_one_node_gateway_moves_onto_etcd_mid_provisioning_and_two_nodes_join() {
    let etcd = EtcdCluster::start(3);
    let root = tempfile::tempdir().unwrap();
    let sim = start_sim();
    let config = root.path().join("gateway.yaml");
    single_node_yaml(&config, &sim);
    let (gw1, addr, code) = start_single(&root.path().join("node1"), &config);
    let mut gw1 = Some(gw1);

    let console = root.path().join("console");
    let mut t = Transcript::default();
    let out = t.ok(
        &console,
        &["gateway", "pair", "--address", &addr, "--code", &code],
    );
    assert!(out.contains("paired with gateway dc1"), "{out}");

    let web = cluster_spec(&mut t, &console, root.path(), "web", 1);
    t.ok(
        &console,
        &[
            "cluster",
            "create",
            "--gateway",
            "dc1",
            "-f",
            web.to_str().unwrap(),
        ],
    );
    until("the cluster is being provisioned", || {
        let v = view(&mut t, &console, "dc1");
        v["phase"] == "Provisioning" && !v["machines"].as_array().unwrap().is_empty()
    });

    // The resize, while web is provisioning.
    let endpoints = etcd.endpoints();
    let mut args = vec!["gateway", "resize", "dc1", "--nodes", "3"];
    for e in &endpoints {
        args.extend(["--etcd-endpoint", e.as_str()]);
    }
    args.extend([
        "--etcd-prefix",
        "/kubemaas/dc1",
        "--node-listen",
        "127.0.0.1:0",
        "--node-listen",
        "127.0.0.1:0",
    ]);
    let mut resize = Proc::spawn(Some(&console), &args);
    resize.until("the gateway switching", |l| {
        l.contains("draining, then restarting")
    });

    // A cluster request made during the switch: queued or taken, created once either way.
    let api = cluster_spec(&mut t, &console, root.path(), "api", 1);
    let out = t.ok(
        &console,
        &[
            "cluster",
            "create",
            "--gateway",
            "dc1",
            "-f",
            api.to_str().unwrap(),
        ],
    );
    eprintln!("during the switch: {out}");

    let (ok, printed) = resize.exit();
    assert!(ok, "{printed}");
    assert!(
        printed.contains("is back, keeping its state in etcd"),
        "{printed}"
    );
    // The re-executed gateway is node gw1 of a gateway on etcd.
    gw1.as_mut()
        .unwrap()
        .until("gw1 on etcd", |l| l == "node gw1 of gateway dc1");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("# dc1: a 1-node gateway, resized later\n"),
        "{text}"
    );
    assert!(text.contains("/kubemaas/dc1"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // The printed commands start the other nodes.
    let commands: Vec<&str> = printed
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("kubemaas gateway run -c "))
        .collect();
    assert_eq!(commands.len(), 2, "{printed}");
    let config_abs = std::fs::canonicalize(&config).unwrap();
    let mut nodes: Vec<Option<GatewayProcess>> = vec![None];
    for (i, command) in commands.iter().enumerate() {
        let n = i + 2;
        assert_eq!(
            *command,
            format!(
                "kubemaas gateway run -c {} --node gw{n} --listen 127.0.0.1:0",
                config_abs.display()
            )
        );
        nodes.push(Some(start_node(root.path(), &config_abs, n)));
    }

    // The gateway now reports 3 nodes (a resize of a gateway on etcd is a no-op).
    let out = t.ok(
        &console,
        &[
            "gateway", "resize", "dc1", "--nodes", "3", "--wait", "120", "--json",
        ],
    );
    let outcome: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(outcome["switched"], false, "{out}");
    assert_eq!(outcome["nodes"]["replicated"], true, "{out}");
    let names: Vec<&str> = outcome["nodes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gw1", "gw2", "gw3"], "{out}");

    record_node(&console, 1, &addr);
    for n in 2..=3 {
        let a = nodes[n - 1].as_ref().unwrap().addr.clone();
        record_node(&console, n, &a);
        let shown = t.ok(&console, &["gateway", "show", &format!("dc1-n{n}")]);
        assert!(shown.contains("reachable:      yes"), "node {n}: {shown}");
    }

    // web carries on and ends Running, seen through node 2, with distinct machines.
    let out = t.ok(
        &console,
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "running",
            "--gateway",
            "dc1-n2",
        ],
    );
    assert!(out.contains("cluster web is Running"), "{out}");
    assert_machines(&mut t, &console, "dc1-n2", 2);
    // The request made during the switch was created once (listing also sends what is still
    // queued).
    until("the request made during the switch is created", || {
        listed(&mut t, &console, "dc1", "api") == 1
            && listed(&mut t, &console, "dc1-n2", "api") == 1
    });

    // The simulator has few machines of the size the specs ask: api gives its back.
    t.ok(
        &console,
        &[
            "cluster",
            "wait",
            "api",
            "--for",
            "running",
            "--gateway",
            "dc1-n2",
        ],
    );
    t.ok(
        &console,
        &["cluster", "delete", "api", "--gateway", "dc1-n2"],
    );
    until("api is deleted", || {
        listed(&mut t, &console, "dc1-n2", "api") == 0
    });

    // Kill the leader mid-scale: the nodes that joined take over and finish it.
    let watch_gw = "dc1-n2";
    scale_workers(&mut t, &console, watch_gw, 2);
    let first = leader(&etcd);
    let killed: usize = first.trim_start_matches("gw").parse().unwrap();
    eprintln!("{first} leads: killing it");
    if killed == 1 {
        gw1.take().unwrap().kill();
    } else {
        let mut p = nodes[killed - 1].take().unwrap();
        p.child.kill().unwrap();
        p.child.wait().unwrap();
    }
    until("another node is elected", || leader(&etcd) != first);
    let now: usize = leader(&etcd).trim_start_matches("gw").parse().unwrap();
    let watch = (1..=3).find(|i| *i != killed && *i != now).unwrap();
    let watch_gw = format!("dc1-n{watch}");
    until("the scale is done", || {
        let v = view(&mut t, &console, &watch_gw);
        eprintln!("{} {}", v["phase"], v["reason"]);
        v["phase"] == "Running" && v["spec_generation"] == v["observed_generation"]
    });
    assert_machines(&mut t, &console, &watch_gw, 3);
    t.assert_no_secrets(&sim.key);
    drop(etcd);
}
