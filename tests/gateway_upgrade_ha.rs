//! A rolling upgrade of a 3-node gateway, with real processes: 3 etcd members, 3
//! `kubemaas gateway run` nodes (each from an executable of its own, which the upgrade
//! replaces) and `kubemaas sim`, all on 127.0.0.1. A console pairs through the CLI and learns
//! the nodes from the gateway; a cluster is provisioning when the operator runs
//! `kubemaas gateway upgrade dc1 --binary NEWER`, which rolls the nodes onto a "newer" build
//! (the test binary behind a wrapper that sets `KUBEMAAS_REPORT_VERSION`).
//!
//! Mid-way — once the command says the second node is restarting, so one node already runs
//! the new version and one the old — a cluster request goes through the upgraded node with the
//! console's idempotency key (what `cluster create` sends, pinned to that node), from another
//! thread while the roll goes on. Meanwhile `cluster list` through the console (which fails
//! over) and the clusters route of every node through the library poll all along the roll.
//! Checked first: a build that changes the store schema is refused before anything is
//! replaced; a build that never comes back stops the roll at the first node, naming it, the
//! others untouched. Then, on the real roll:
//! followers go first and the leader last, and it resigns (leases here last 600 s, longer than
//! any wait of the test, so a role left to expire would fail it); every node ends on the new
//! version, caught up; both clusters reach Running, the mid-way one exists once (also when the
//! console sends it again through another node); no machine is taken twice, and MAAS agrees
//! (the machines its log shows allocated, each once, and those it shows owned and stamped are
//! exactly the clusters'); some node answered every poll.
//!
//! Every wait polls a condition under a generous deadline (never a timing assertion). Child
//! processes die with the test.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

#[path = "ha_gateway_support/mod.rs"]
mod ha_gateway_support;

use cli_support::proc::{after, Proc};
use cli_support::{Transcript, BIN};
use ha_gateway_support::*;
use ha_support::EtcdCluster;
use kubemaas::gateway::client::GatewayClient;
use kubemaas::gateway::queue::{self, CreateOutcome};
use kubemaas::gateway::upgrade;
use kubemaas::store::Store;
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

/// `cluster list --gateway dc1 -o json` succeeded: the console found a node that answered.
fn lists(console: &Path) -> bool {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(console)
        .args(["cluster", "list", "--gateway", "dc1", "-o", "json"])
        .env_remove("MAAS_URL")
        .env_remove("MAAS_API_KEY")
        .env_remove("KUBEMAAS_REPORT_VERSION")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A client of the console's pairing with `dc1` that calls the node at `address` only.
fn pinned_to(store: &Store, address: &str) -> GatewayClient {
    kubemaas::gateway::console::client_at(store, "dc1", Some(address)).unwrap()
}

/// `kubemaas gateway upgrade dc1 --binary BINARY ARGS`, which must fail: what it printed on
/// stdout (its progress) and stderr (why it stopped).
fn failed_upgrade(
    t: &mut Transcript,
    console: &Path,
    binary: &Path,
    args: &[&str],
) -> (String, String) {
    let mut all = vec![
        "gateway",
        "upgrade",
        "dc1",
        "--binary",
        binary.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let out = t.run(console, &all, None);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The nodes a stopped roll names as not touched.
fn untouched(stderr: &str) -> Vec<String> {
    after(stderr, "not touched: ")
        .split(" (")
        .next()
        .unwrap()
        .split(", ")
        .map(str::to_string)
        .collect()
}

/// A progress line `node I/3 gwN of gateway dc1 at ADDR[ (the leader…)]`: its name, address
/// and whether it leads.
fn node_line(line: &str) -> Option<(String, String, bool)> {
    let rest = line.strip_prefix("node ")?;
    let mut words = rest.split_whitespace();
    let _index = words.next()?;
    let name = words.next()?.to_string();
    let address = after(line, " of gateway dc1 at ")
        .split_whitespace()
        .next()?
        .to_string();
    Some((name, address, line.contains("(the leader")))
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

/// How many campaign keys etcd's election holds (one per live candidate when none is stale).
fn campaign_keys(etcd: &EtcdCluster) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = etcd.config("/kubemaas/dc1").connect().await.unwrap();
        let got = client
            .range(&kubemaas::etcd::Range::prefix("/kubemaas/dc1/leader/").count_only())
            .await
            .unwrap();
        got.count as usize
    })
}

#[test]
fn a_rolling_upgrade_keeps_serving_and_processes_a_mid_way_request_once() {
    let etcd = EtcdCluster::start(3);
    // On the build's file system: the nodes' executables are hard links to the test binary.
    let root = tempfile::Builder::new()
        .prefix("rolling-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let sim = start_sim();
    let maas = Maas::connect(&sim);
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
    // The console learns the nodes from the gateway (`gateway show` asks each).
    until("the console knows every node", || {
        every_node_accepts(&mut t, &console)
    });

    // A cluster being provisioned when the roll starts.
    let web = cluster_spec(&mut t, &console, root.path(), "web", 1);
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
        let v = show(&mut t, &console, "dc1", "web");
        v["phase"] == "Provisioning" && !v["machines"].as_array().unwrap().is_empty()
    });
    let first_leader = leader(&etcd);
    eprintln!("{first_leader} leads");

    // The library's view of each node, to check what the CLI left untouched.
    let console_store = Store::open(&console).unwrap();
    let mut clients: Vec<GatewayClient> = nodes
        .iter()
        .map(|n| pinned_to(&console_store, &n.addr))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // A build that changes the store schema cannot roll: refused by the first node, before
    // anything is replaced, and the roll stops there naming what it left untouched.
    let schema = wrapper(
        &root.path().join("kubemaas-schema"),
        "KUBEMAAS_REPORT_SCHEMA=99",
    );
    let before: Vec<String> = exes.iter().map(|e| sha256_hex(e)).collect();
    let (_, text) = failed_upgrade(&mut t, &console, &schema, &[]);
    assert!(text.contains("stopped at node 1/3 gw"), "{text}");
    assert!(text.contains("already upgraded: none"), "{text}");
    assert_eq!(untouched(&text).len(), 2, "{text}");
    assert!(
        text.contains("HTTP 409") && text.contains("store schema 99"),
        "{text}"
    );
    assert!(text.contains("nothing was replaced"), "{text}");
    let after_refusal: Vec<String> = exes.iter().map(|e| sha256_hex(e)).collect();
    assert_eq!(before, after_refusal);

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
    let (progress, text) = failed_upgrade(&mut t, &console, &broken, &["--timeout", "5"]);
    let (first_picked, _, _) = progress
        .lines()
        .find_map(node_line)
        .unwrap_or_else(|| panic!("no node line: {progress}"));
    let dead: usize = first_picked
        .trim_start_matches("gw")
        .parse::<usize>()
        .unwrap()
        - 1;
    assert!(
        text.contains(&format!("stopped at node 1/3 {first_picked}")),
        "{text}"
    );
    assert!(text.contains("did not come back"), "{text}");
    assert!(text.contains("already upgraded: none"), "{text}");
    assert_eq!(untouched(&text).len(), 2, "{text}");
    assert_ne!(first_picked, first_leader, "a follower goes first");
    for (i, c) in clients.iter().enumerate().filter(|(i, _)| *i != dead) {
        let s = rt.block_on(upgrade::status(c)).unwrap();
        assert_eq!((s.version.as_str(), &s.boot_id), ("0.1.0", &boots[i]));
    }
    // The operator puts the old executable back and starts the node again: it catches up,
    // and the console learns its new address from the gateway.
    std::fs::remove_file(&exes[dead]).unwrap();
    assert_eq!(install_node_binary(root.path(), dead + 1), exes[dead]);
    let back = start_node_from(&exes[dead], root.path(), &config, dead + 1, LEASE_SECS);
    clients[dead] = pinned_to(&console_store, &back.addr);
    nodes[dead] = back;
    until("the console knows the restarted node", || {
        every_node_accepts(&mut t, &console)
    });
    let pids: Vec<u32> = nodes.iter().map(|n| n.proc.child.id()).collect();

    // Poll `cluster list` through the console, which fails over, all along the roll.
    let rolling = Arc::new(AtomicBool::new(true));
    let polls = Arc::new(Mutex::new((0usize, Vec::<usize>::new())));
    let poller = {
        let (rolling, polls, console) = (rolling.clone(), polls.clone(), console.clone());
        std::thread::spawn(move || {
            let mut round = 0;
            while rolling.load(Ordering::Acquire) {
                round += 1;
                let answered = lists(&console);
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

    // The same through the library, many times a second, each node asked in turn.
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

    // The roll, as operators run it, with the mid-way request sent once the command says
    // the second node is restarting.
    let next = wrapper(
        &root.path().join("kubemaas-next"),
        "KUBEMAAS_REPORT_VERSION=0.2.0",
    );
    let db = cluster_spec(&mut t, &console, root.path(), "db", 1);
    let mut roll = Proc::spawn(
        Some(&console),
        &[
            "gateway",
            "upgrade",
            "dc1",
            "--binary",
            next.to_str().unwrap(),
            "--timeout",
            "180",
        ],
    );
    let mut order: Vec<(String, String, bool)> = Vec::new();
    let mut upgraded_first: Option<String> = None;
    while order.len() < 2 {
        let line = roll.until("the next node", |l| {
            l.starts_with("node ") || l.contains(" is back, running kubemaas ")
        });
        match node_line(&line) {
            Some(node) => order.push(node),
            None => {
                upgraded_first.get_or_insert(
                    after(&line, "gateway dc1 at ")
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    }
    let upgraded_first = upgraded_first.expect("the first node came back before the second");
    assert_eq!(upgraded_first, order[0].1, "{order:?}");
    roll.until("the second node restarting", |l| {
        l.contains(&format!(
            "at {} installed it: draining, then restarting",
            order[1].1
        ))
    });
    let mid_way = {
        let (console, db, through) = (console.clone(), db.clone(), upgraded_first.clone());
        std::thread::spawn(move || {
            let store = Store::open(&console).unwrap();
            let client = pinned_to(&store, &through);
            let spec =
                kubemaas::model::ClusterSpec::from_yaml(&std::fs::read_to_string(&db).unwrap())
                    .unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(queue::create_or_queue(&store, "dc1", &client, spec))
                .unwrap()
        })
    };
    let (ok, printed) = roll.exit();
    rolling.store(false, Ordering::Release);
    poller.join().unwrap();
    fine_poller.join().unwrap();
    let mid_way = mid_way.join().unwrap();
    assert!(ok, "{printed}");
    eprintln!("{printed}");
    for line in printed.lines() {
        if let Some(node) = node_line(line) {
            if !order.contains(&node) {
                order.push(node);
            }
        }
    }

    // Followers first, the leader last.
    assert_eq!(order.len(), 3, "{order:?}");
    let names: Vec<&str> = order.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names[2], first_leader, "{order:?}");
    assert_eq!(
        order.iter().map(|(_, _, l)| *l).collect::<Vec<_>>(),
        vec![false, false, true]
    );
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{order:?}");
    assert_eq!(
        printed
            .matches("draining, then restarting from kubemaas 0.1.0 into 0.2.0")
            .count(),
        3,
        "{printed}"
    );
    assert_eq!(
        printed.matches("is back, running kubemaas 0.2.0").count(),
        3,
        "{printed}"
    );
    assert!(
        printed.contains("gateway dc1 upgraded: it now runs kubemaas 0.2.0"),
        "{printed}"
    );
    assert!(
        printed.contains("rolled 3 nodes one at a time"),
        "{printed}"
    );

    // The mid-way request went straight to an upgraded node: nothing was queued.
    let db_id = match mid_way {
        CreateOutcome::Created(view) => {
            assert_eq!(view.name, "db");
            view.id.to_string()
        }
        CreateOutcome::Queued(request) => panic!("the mid-way request was queued: {request:?}"),
    };

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
    let resend_through = nodes
        .iter()
        .map(|n| n.addr.clone())
        .find(|a| *a != upgraded_first)
        .unwrap();
    let db_queue = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    let changed = db_queue
        .execute(
            "UPDATE console_request_queue SET state = 'queued' WHERE name = 'db'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db_queue);
    let flushed = rt
        .block_on(queue::flush(
            &console_store,
            "dc1",
            &pinned_to(&console_store, &resend_through),
        ))
        .unwrap();
    assert_eq!(flushed.submitted.len(), 1, "{flushed:?}");
    assert_eq!(flushed.submitted[0].1.id.to_string(), db_id, "{flushed:?}");
    assert_eq!(listed(&mut t, &console, "dc1", "db"), 1);
    assert_eq!(listed(&mut t, &console, "dc1", "web"), 1);

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
                "dc1",
            ],
        );
        assert!(out.contains(&format!("cluster {name} is Running")), "{out}");
    }
    let events = t.ok(&console, &["cluster", "events", "db", "--gateway", "dc1"]);
    assert_eq!(
        events.matches("cluster db submitted").count(),
        1,
        "{events}"
    );

    // No machine taken twice: each cluster's are distinct, and no two clusters share one.
    let mut all = Vec::new();
    let mut held = Vec::new();
    for name in ["web", "db"] {
        let ids = machines(&mut t, &console, "dc1", name);
        assert_eq!(ids.len(), 2, "{name}: {ids:?}");
        let id = show(&mut t, &console, "dc1", name)["id"]
            .as_str()
            .unwrap()
            .to_string();
        all.extend(ids.clone());
        held.push((id, ids));
    }
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "{all:?}");
    // And MAAS agrees: the machines owned by kubemaas's MAAS user and stamped with each
    // cluster are exactly its machines, none leaked by a node that restarted mid-pass, and
    // MAAS's log shows each allocated once.
    let held: Vec<(&str, &[String])> = held
        .iter()
        .map(|(id, m)| (id.as_str(), m.as_slice()))
        .collect();
    maas.assert_holds(&held);
    maas.assert_allocated_once(&distinct);
    t.assert_no_secrets(&sim.key);
}
