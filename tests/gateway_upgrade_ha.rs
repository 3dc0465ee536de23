//! A rolling upgrade of a 3-node gateway, with real processes: 3 etcd members, 3
//! `kubemaas gateway run` nodes (each from an executable of its own, which the upgrade
//! replaces) and `kubemaas sim`, all on 127.0.0.1. A console pairs through the CLI; a cluster is
//! provisioning when the library's `upgrade_nodes` rolls the nodes, one client per node, onto a
//! "newer" build (the test binary behind a wrapper that sets `KUBEMAAS_REPORT_VERSION`).
//!
//! Mid-way — while the second node restarts, so one node already runs the new version and one
//! the old — a `cluster create` goes through the upgraded node with the console's idempotency
//! key. Meanwhile a poller lists clusters through whichever node answers, all along the roll.
//! Checked first: a build that changes the store schema is refused before anything is
//! replaced; a build that never comes back stops the roll at the first node, naming it, the
//! others untouched. Then, on the real roll:
//! followers go first and the leader last, and it resigns (leases here last 600 s, longer than
//! any wait of the test, so a role left to expire would fail it); every node ends on the new
//! version, caught up; both clusters reach Running, the mid-way one exists once (also when the
//! console sends it again through another node); no machine is taken twice; some node answered
//! every poll.
//!
//! Every wait polls a condition under a generous deadline (never a timing assertion). Child
//! processes die with the test.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

#[path = "ha_gateway_support/mod.rs"]
mod ha_gateway_support;

use cli_support::{Transcript, BIN};
use ha_gateway_support::*;
use ha_support::EtcdCluster;
use kubemaas::gateway::client::GatewayClient;
use kubemaas::gateway::upgrade::{self, UpgradeError, UpgradeProgress};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Far longer than any wait of the test: a leader that did not resign keeps the role this
/// long after its process is gone, which the test would notice.
const LEASE_SECS: u64 = 600;

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A wrapper that runs the test binary as a build reporting `env` (e.g. a newer version).
fn wrapper(path: &Path, env: &str) -> PathBuf {
    script(
        path,
        &format!("#!/bin/sh\nexport {env}\nexec '{BIN}' \"$@\"\n"),
    );
    path.to_path_buf()
}

fn sha256_hex(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `cluster list --gateway dc1-nN -o json` succeeded.
fn lists(console: &Path, n: usize) -> bool {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(console)
        .args([
            "cluster",
            "list",
            "--gateway",
            &format!("dc1-n{n}"),
            "-o",
            "json",
        ])
        .env_remove("MAAS_URL")
        .env_remove("MAAS_API_KEY")
        .env_remove("KUBEMAAS_REPORT_VERSION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn show(t: &mut Transcript, console: &Path, gateway: &str, name: &str) -> serde_json::Value {
    let out = t.ok(
        console,
        &["cluster", "show", name, "--gateway", gateway, "-o", "json"],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The MAAS machines cluster `name` holds (released ones aside).
fn machines(t: &mut Transcript, console: &Path, gateway: &str, name: &str) -> Vec<String> {
    let v = show(t, console, gateway, name);
    v["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] != "released")
        .map(|m| m["system_id"].as_str().unwrap().to_string())
        .collect()
}

fn count_named(list_json: &str, name: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(list_json).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .count()
}

/// How many campaign keys etcd's election holds (one per live candidate when none is stale).
fn campaign_keys(etcd: &EtcdCluster) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = etcd.config("/kubemaas/dc1").connect().await.unwrap();
        let got = client
            .get(
                "/kubemaas/dc1/leader/",
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_count_only(),
                ),
            )
            .await
            .unwrap();
        got.count() as usize
    })
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

/// From the simulator itself (`kubemaas maas machines`, straight to MAAS): the machines owned
/// by the user kubemaas allocates as (the owner of those it stamped with a cluster), and the
/// machines stamped with a kubemaas cluster, by system id (sorted). The simulator's other
/// users own machines of their own.
fn maas_owned(root: &Path, sim: &Sim) -> (Vec<String>, Vec<String>) {
    let out = Command::new(BIN)
        .arg("--state-dir")
        .arg(root.join("maas-reader"))
        .args(["maas", "machines", "-o", "json"])
        .env("MAAS_URL", &sim.url)
        .env("MAAS_API_KEY", &sim.key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let stamped =
        |m: &serde_json::Value| m["owner_data"][kubemaas::engine::OWNER_KEY_CLUSTER].is_string();
    let mut owners: Vec<&str> = all
        .iter()
        .filter(|m| stamped(m))
        .filter_map(|m| m["owner"].as_str())
        .collect();
    owners.sort_unstable();
    owners.dedup();
    assert_eq!(
        owners.len(),
        1,
        "kubemaas allocates as one MAAS user: {owners:?}"
    );
    let ids = |keep: &dyn Fn(&serde_json::Value) -> bool| {
        let mut v: Vec<String> = all
            .iter()
            .filter(|m| keep(m))
            .map(|m| m["system_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    (ids(&|m| m["owner"] == owners[0]), ids(&stamped))
}

#[test]
fn a_rolling_upgrade_keeps_serving_and_processes_a_mid_way_request_once() {
    let Some(etcd) = EtcdCluster::start(3) else {
        return;
    };
    // On the build's file system: the nodes' executables are hard links to the test binary.
    let root = tempfile::Builder::new()
        .prefix("rolling-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let sim = start_sim();
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &sim, &etcd);
    let exes: Vec<PathBuf> = (1..=3)
        .map(|n| install_node_binary(root.path(), n))
        .collect();
    // One after the other: the first creates the shared CA, the others load it.
    let mut nodes: Vec<NodeProc> = (1..=3)
        .map(|n| start_node_from(&exes[n - 1], root.path(), &config, n, LEASE_SECS))
        .collect();

    let console = root.path().join("console");
    let mut t = Transcript::default();
    let out = t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &nodes[0].addr,
            "--code",
            &nodes[0].code,
            "--console-name",
            "console-a",
        ],
    );
    assert!(out.contains("paired with gateway dc1"), "{out}");
    for (i, node) in nodes.iter().enumerate() {
        record_node(&console, i + 1, &node.addr);
    }

    // A cluster being provisioned when the roll starts.
    let spec = |t: &mut Transcript, name: &str| {
        let text = t.ok(
            &console,
            &[
                "cluster",
                "new",
                name,
                "--account",
                "dc1",
                "--control-plane",
                "1",
                "--workers",
                "1",
            ],
        );
        let file = root.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text).unwrap();
        file
    };
    let web = spec(&mut t, "web");
    let out = t.ok(
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
    assert!(out.contains("web"), "{out}");
    until("web is being provisioned", || {
        let v = show(&mut t, &console, "dc1-n1", "web");
        v["phase"] == "Provisioning" && !v["machines"].as_array().unwrap().is_empty()
    });
    let first_leader = leader(&etcd);
    eprintln!("{first_leader} leads");

    // One client per node, from the console's pairing material and each node's address.
    let console_store = kubemaas::store::Store::open(&console).unwrap();
    let mut clients: Vec<GatewayClient> = (1..=3)
        .map(|n| {
            kubemaas::gateway::console::client_for(&console_store, &format!("dc1-n{n}")).unwrap()
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let patience = Duration::from_secs(180);

    // A build that changes the store schema cannot roll: refused by the first node, before
    // anything is replaced, and the roll stops there naming what it left untouched.
    let schema = wrapper(
        &root.path().join("kubemaas-schema"),
        "KUBEMAAS_REPORT_SCHEMA=99",
    );
    let before: Vec<String> = exes.iter().map(|e| sha256_hex(e)).collect();
    let refused = rt
        .block_on(upgrade::upgrade_nodes(&clients, &schema, patience, |_| {}))
        .unwrap_err();
    let text = refused.to_string();
    assert!(
        matches!(refused, UpgradeError::Roll { index: 1, ref upgraded, ref untouched, .. } if upgraded.is_empty() && untouched.len() == 2),
        "{text}"
    );
    assert!(
        text.contains("HTTP 409") && text.contains("store schema 99"),
        "{text}"
    );
    assert!(text.contains("nothing was replaced"), "{text}");
    let after: Vec<String> = exes.iter().map(|e| sha256_hex(e)).collect();
    assert_eq!(before, after);

    // A build that installs but never comes back: the roll stops at the first node, names
    // it, and leaves the other two untouched (same process, same version), serving.
    let broken = root.path().join("kubemaas-broken");
    script(
        &broken,
        &format!("#!/bin/sh\nif [ \"$2\" = build-info ]; then exec '{BIN}' \"$@\"; fi\nexit 3\n"),
    );
    let boots: Vec<String> = clients
        .iter()
        .map(|c| rt.block_on(upgrade::status(c)).unwrap().boot_id)
        .collect();
    let mut first_picked = None;
    let stopped = rt
        .block_on(upgrade::upgrade_nodes(
            &clients,
            &broken,
            Duration::from_secs(5),
            |p| {
                if let UpgradeProgress::Node { address, .. } = p {
                    first_picked.get_or_insert(address);
                }
            },
        ))
        .unwrap_err();
    let text = stopped.to_string();
    let dead = nodes
        .iter()
        .position(|n| Some(&n.addr) == first_picked.as_ref())
        .unwrap();
    assert!(
        text.contains(&format!("stopped at node 1/3 gw{}", dead + 1)),
        "{text}"
    );
    assert!(text.contains("did not come back"), "{text}");
    assert!(text.contains("already upgraded: none"), "{text}");
    match &stopped {
        UpgradeError::Roll { untouched, .. } => assert_eq!(untouched.len(), 2, "{text}"),
        other => panic!("{other}"),
    }
    assert_ne!(
        format!("gw{}", dead + 1),
        first_leader,
        "a follower goes first"
    );
    for (i, c) in clients.iter().enumerate().filter(|(i, _)| *i != dead) {
        let s = rt.block_on(upgrade::status(c)).unwrap();
        assert_eq!((s.version.as_str(), &s.boot_id), ("0.1.0", &boots[i]));
    }
    // The operator puts the old executable back and starts the node again: it catches up.
    std::fs::remove_file(&exes[dead]).unwrap();
    assert_eq!(install_node_binary(root.path(), dead + 1), exes[dead]);
    let back = start_node_from(&exes[dead], root.path(), &config, dead + 1, LEASE_SECS);
    move_node(&console, dead + 1, &back.addr);
    nodes[dead] = back;
    clients[dead] =
        kubemaas::gateway::console::client_for(&console_store, &format!("dc1-n{}", dead + 1))
            .unwrap();
    let pids: Vec<u32> = nodes.iter().map(|n| n.proc.child.id()).collect();

    // Poll `cluster list` through whichever node answers, all along the roll.
    let rolling = Arc::new(AtomicBool::new(true));
    let polls = Arc::new(Mutex::new((0usize, Vec::<usize>::new())));
    let poller = {
        let (rolling, polls, console) = (rolling.clone(), polls.clone(), console.clone());
        std::thread::spawn(move || {
            let mut round = 0;
            while rolling.load(Ordering::Acquire) {
                round += 1;
                let answered = (1..=3).any(|n| lists(&console, n));
                let mut p = polls.lock().unwrap();
                p.0 += 1;
                if !answered {
                    p.1.push(round);
                }
                drop(p);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // The same through the library, many times a second: the route `cluster list` calls.
    let fine_polls = Arc::new(Mutex::new((0usize, 0usize)));
    let fine_poller = {
        let (rolling, polls, clients) = (rolling.clone(), fine_polls.clone(), clients.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            while rolling.load(Ordering::Acquire) {
                let answered = rt.block_on(async {
                    for c in &clients {
                        let listed: Result<Vec<serde_json::Value>, _> =
                            c.get(kubemaas::gateway::protocol::CLUSTERS_PATH).await;
                        if listed.is_ok() {
                            return true;
                        }
                    }
                    false
                });
                let mut p = polls.lock().unwrap();
                p.0 += 1;
                if !answered {
                    p.1 += 1;
                }
                drop(p);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // The roll, with the mid-way request sent while the second node restarts.
    let next = wrapper(
        &root.path().join("kubemaas-next"),
        "KUBEMAAS_REPORT_VERSION=0.2.0",
    );
    let db = spec(&mut t, "db");
    let addresses: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    let mut order: Vec<(String, bool)> = Vec::new();
    let mut upgraded_first: Option<usize> = None;
    let mut mid_way: Option<String> = None;
    let mut steps: Vec<String> = Vec::new();
    let roll = rt.block_on(upgrade::upgrade_nodes(&clients, &next, patience, |p| {
        steps.push(format!("{p:?}"));
        match p {
            UpgradeProgress::Node { name, leader, .. } => order.push((name, leader)),
            UpgradeProgress::Back { address, .. } if upgraded_first.is_none() => {
                upgraded_first = addresses.iter().position(|a| *a == address);
            }
            UpgradeProgress::Restarting { .. } if order.len() == 2 => {
                let through = format!("dc1-n{}", upgraded_first.unwrap() + 1);
                // The roll's future runs on this thread (block_on): waiting here only holds
                // the roll, exactly between the second node's restart and its return.
                let out = Transcript::default().ok(
                    &console,
                    &[
                        "cluster",
                        "create",
                        "--gateway",
                        &through,
                        "-f",
                        db.to_str().unwrap(),
                    ],
                );
                mid_way = Some(format!("{through}: {out}"));
            }
            _ => {}
        }
    }));
    rolling.store(false, Ordering::Release);
    poller.join().unwrap();
    fine_poller.join().unwrap();
    let upgraded = roll.unwrap_or_else(|e| panic!("{e}\nsteps: {steps:#?}"));
    eprintln!("steps: {steps:#?}");

    // Followers first, the leader last.
    let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(order.len(), 3, "{order:?}");
    assert_eq!(names[2], first_leader, "{order:?}");
    assert_eq!(
        order.iter().map(|(_, l)| *l).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{order:?}");
    assert!(upgraded
        .iter()
        .all(|u| u.from_version == "0.1.0" && u.to_version == "0.2.0"));

    // The mid-way request went straight to an upgraded node: nothing was queued.
    let mid_way = mid_way.expect("the mid-way request was sent");
    assert!(
        mid_way.contains("db") && !mid_way.contains("queued"),
        "{mid_way}"
    );

    // Some node answered every poll of the roll.
    let (rounds, failures) = polls.lock().unwrap().clone();
    eprintln!("{rounds} polls during the roll");
    assert!(rounds > 0);
    assert!(
        failures.is_empty(),
        "no node answered polls {failures:?} of {rounds}"
    );
    let (rounds, failures) = *fine_polls.lock().unwrap();
    eprintln!("{rounds} library polls during the roll");
    assert!(rounds > 0);
    assert_eq!(
        failures, 0,
        "no node answered {failures} of {rounds} library polls"
    );

    // The leader resigned: another node leads (its lease would otherwise hold the role for
    // 600 s), and no campaign of a process that re-executed is left in the election.
    until(
        "a node that did not restart last leads, with one campaign per node",
        || leader(&etcd) != first_leader && campaign_keys(&etcd) == 3,
    );
    let now_leader = leader(&etcd);
    until("the elected node says it leads", || {
        clients.iter().any(|c| {
            rt.block_on(upgrade::status(c)).is_ok_and(|s| {
                s.node.as_deref() == Some(now_leader.as_str()) && s.leader == Some(true)
            })
        })
    });

    // Every node runs the new version — re-executed in place — and has caught up.
    for (i, c) in clients.iter().enumerate() {
        let s = rt.block_on(upgrade::status(c)).unwrap();
        assert_eq!(s.version, "0.2.0", "node {}", i + 1);
        assert!(s.applied_seq.unwrap() > 0);
        let info = rt.block_on(c.info()).unwrap();
        assert_eq!(info.version, "0.2.0");
        assert_eq!(
            std::fs::read_to_string(&exes[i]).unwrap().lines().next(),
            Some("#!/bin/sh")
        );
    }
    for (node, pid) in nodes.iter().zip(&pids) {
        assert_eq!(node.proc.child.id(), *pid);
    }
    for node in nodes.iter_mut() {
        assert!(
            node.proc.child.try_wait().unwrap().is_none(),
            "a node exited"
        );
    }

    // The console sends the mid-way request again with its key, through another node (as a
    // console that lost the answer and failed over would): the same cluster answers.
    let resend_through = (1..=3)
        .map(|n| format!("dc1-n{n}"))
        .find(|g| !mid_way.starts_with(&format!("{g}:")))
        .unwrap();
    let store = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    let changed = store
        .execute(
            "UPDATE console_request_queue SET state = 'queued', gateway = ?1 WHERE name = 'db'",
            [&resend_through],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(store);
    let out = t.ok(&console, &["cluster", "list", "--gateway", &resend_through]);
    assert!(
        out.contains("queued request submitted: cluster db"),
        "{out}"
    );
    let list = t.ok(
        &console,
        &["cluster", "list", "--gateway", "dc1-n1", "-o", "json"],
    );
    assert_eq!(count_named(&list, "db"), 1, "{list}");
    assert_eq!(count_named(&list, "web"), 1, "{list}");

    // Both clusters reach Running on the upgraded gateway.
    for name in ["web", "db"] {
        let out = t.ok(
            &console,
            &[
                "cluster",
                "wait",
                name,
                "--for",
                "running",
                "--gateway",
                "dc1-n2",
            ],
        );
        assert!(out.contains(&format!("cluster {name} is Running")), "{out}");
    }
    let events = t.ok(
        &console,
        &["cluster", "events", "db", "--gateway", "dc1-n3"],
    );
    assert_eq!(
        events.matches("cluster db submitted").count(),
        1,
        "{events}"
    );

    // No machine taken twice: each cluster's are distinct, and no two clusters share one.
    let mut all = Vec::new();
    for name in ["web", "db"] {
        let ids = machines(&mut t, &console, "dc1-n3", name);
        assert_eq!(ids.len(), 2, "{name}: {ids:?}");
        all.extend(ids);
    }
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "{all:?}");
    // And MAAS agrees: the machines taken from the simulator (owned, stamped with a
    // kubemaas cluster) are exactly those, none leaked by a node that restarted mid-pass.
    let (owned, stamped) = maas_owned(root.path(), &sim);
    assert_eq!(owned, distinct, "owned by someone in MAAS");
    assert_eq!(stamped, distinct, "stamped with a kubemaas cluster in MAAS");
    t.assert_no_secrets(&sim.key);
}
