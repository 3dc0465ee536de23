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

use cli_support::{start_gateway, GatewayProcess, Transcript, BIN};
use ha_support::EtcdCluster;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(240);

/// The simulator, killed when the test ends.
struct Sim {
    child: Child,
    url: String,
    key: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim() -> Sim {
    let mut child = Command::new(BIN)
        .args(["sim", "--print-env", "--machines", "24", "--seed", "5"])
        .args(["--speed", "120"])
        .env_remove("MAAS_URL")
        .env_remove("MAAS_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the simulator starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut url, mut key) = (None, None);
    while url.is_none() || key.is_none() {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the simulator stopped"
        );
        let line = line.trim();
        if let Some(v) = line.strip_prefix("MAAS_URL=") {
            url = Some(v.to_string());
        }
        if let Some(v) = line.strip_prefix("MAAS_API_KEY=") {
            key = Some(v.to_string());
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Sim {
        child,
        url: url.unwrap(),
        key: key.unwrap(),
    }
}

fn gateway_yaml(path: &Path, sim: &Sim, etcd: &EtcdCluster) {
    let endpoints = etcd.endpoints().join(", ");
    std::fs::write(
        path,
        format!(
            "apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 127.0.0.1:0
maas:
  endpoint: {}
  apiKey: {}
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
placement:
  nodes: 3
etcd:
  endpoints: [{endpoints}]
  prefix: /kubemaas/dc1
",
            sim.url, sim.key
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn start_node(root: &Path, config: &Path, n: usize) -> GatewayProcess {
    let state = root.join(format!("node{n}"));
    let node = format!("gw{n}");
    let gw = start_gateway(
        &state,
        config,
        &[
            "--node",
            &node,
            "--listen",
            "127.0.0.1:0",
            "--reconcile-ms",
            "200",
            "--heartbeat-ms",
            "1000",
            "--lease-secs",
            "2",
        ],
    );
    assert!(
        gw.printed.contains(&format!("node {node} of gateway dc1")),
        "{}",
        gw.printed
    );
    gw
}

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

/// Kills the elected node (SIGKILL) and waits until another is elected; returns the killed
/// node's number and a node that neither led nor was killed, to watch through.
fn kill_leader(etcd: &EtcdCluster, nodes: &mut [Option<GatewayProcess>]) -> (usize, usize) {
    let first = leader(etcd);
    let n: usize = first.trim_start_matches("gw").parse().unwrap();
    let mut killed = nodes[n - 1].take().expect("the leader is running");
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    drop(killed);
    until("another node is elected", || leader(etcd) != first);
    let now: usize = leader(etcd).trim_start_matches("gw").parse().unwrap();
    let watch = (1..=3).find(|i| *i != n && *i != now).unwrap();
    eprintln!("killed gw{n}; gw{now} leads; watching through gw{watch}");
    (n, watch)
}

/// The node etcd elected, by name.
fn leader(etcd: &EtcdCluster) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = {
        let mut c = etcd.config("/kubemaas/dc1");
        c.endpoints = etcd.live_endpoints();
        c
    };
    let deadline = Instant::now() + DEADLINE;
    loop {
        let found = rt.block_on(async {
            let candidate = kubemaas::ha::Candidate::connect(&cfg, "probe", Duration::from_secs(2))
                .await
                .ok()?;
            candidate.leader().await.ok().flatten()
        });
        if let Some(name) = found {
            return name;
        }
        assert!(Instant::now() < deadline, "no node was elected");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn view(t: &mut Transcript, console: &Path, gateway: &str) -> serde_json::Value {
    let out = t.ok(
        console,
        &["cluster", "show", "web", "--gateway", gateway, "-o", "json"],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn until(what: &str, mut cond: impl FnMut() -> bool) {
    eprintln!("waiting until {what}");
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// The cluster holds `n` machines, each a different MAAS machine: none taken twice.
fn assert_machines(t: &mut Transcript, console: &Path, gateway: &str, n: usize) {
    let v = view(t, console, gateway);
    let ids: Vec<String> = v["machines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] != "released")
        .map(|m| m["system_id"].as_str().unwrap().to_string())
        .collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "{v}");
    assert_eq!(ids.len(), n, "{v}");
}
