//! A multi-node gateway as operators run it, for the tests that need one: `kubemaas sim`, a
//! gateway.yaml with an `etcd:` section, `kubemaas gateway run --node gwN` processes, and the
//! elected leader read from etcd. Tests include it beside `cli_support` and `ha_support`:
//!
//! ```ignore
//! #[path = "cli_support/mod.rs"] mod cli_support;
//! #[path = "ha_support/mod.rs"] mod ha_support;
//! #[path = "ha_gateway_support/mod.rs"] mod ha_gateway_support;
//! ```

#![allow(dead_code)]

use crate::cli_support::{start_gateway, GatewayProcess, Transcript, BIN};
use crate::ha_support::EtcdCluster;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(240);

/// The simulator, killed when the test ends.
pub struct Sim {
    pub child: Child,
    pub url: String,
    pub key: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_sim() -> Sim {
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

pub fn gateway_yaml(path: &Path, sim: &Sim, etcd: &EtcdCluster) {
    let endpoints = etcd.endpoints().join(", ");
    write_gateway_yaml(
        path,
        "",
        sim,
        &format!(
            "placement:\n  nodes: 3\netcd:\n  endpoints: [{endpoints}]\n  prefix: /kubemaas/dc1\n"
        ),
    );
}

/// gateway.yaml for `dc1` in front of `sim` (0600): `head` before the common keys, `tail` after.
fn write_gateway_yaml(path: &Path, head: &str, sim: &Sim, tail: &str) {
    std::fs::write(
        path,
        format!(
            "{head}apiVersion: kubemaas.io/v1
kind: Gateway
name: dc1
listen: 127.0.0.1:0
maas:
  endpoint: {}
  apiKey: {}
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
{tail}",
            sim.url, sim.key
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn start_node(root: &Path, config: &Path, n: usize) -> GatewayProcess {
    start_node_with(root, config, n, 2)
}

/// [`start_node`] with a leader lease of `lease_secs` (the gateway's default is 10).
pub fn start_node_with(root: &Path, config: &Path, n: usize, lease_secs: u64) -> GatewayProcess {
    let state = root.join(format!("node{n}"));
    let node = format!("gw{n}");
    let lease = lease_secs.to_string();
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
            &lease,
        ],
    );
    assert!(
        gw.printed.contains(&format!("node {node} of gateway dc1")),
        "{}",
        gw.printed
    );
    gw
}

/// Kills the elected node (SIGKILL) and waits until another is elected; returns the killed
/// node's number and a node that neither led nor was killed, to watch through.
pub fn kill_leader(etcd: &EtcdCluster, nodes: &mut [Option<GatewayProcess>]) -> (usize, usize) {
    kill_leader_then(etcd, nodes, || {})
}

/// [`kill_leader`], running `between` once the leader is dead and before waiting for the
/// next election (e.g. to lift a fault the dead leader was meant to meet).
pub fn kill_leader_then(
    etcd: &EtcdCluster,
    nodes: &mut [Option<GatewayProcess>],
    between: impl FnOnce(),
) -> (usize, usize) {
    let first = leader(etcd);
    let n: usize = first.trim_start_matches("gw").parse().unwrap();
    let mut killed = nodes[n - 1].take().expect("the leader is running");
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    drop(killed);
    between();
    until("another node is elected", || leader(etcd) != first);
    let now: usize = leader(etcd).trim_start_matches("gw").parse().unwrap();
    let watch = (1..=3)
        .find(|i| *i != n && *i != now && nodes[*i - 1].is_some())
        .unwrap();
    eprintln!("killed gw{n}; gw{now} leads; watching through gw{watch}");
    (n, watch)
}

/// The node etcd elected, by name.
pub fn leader(etcd: &EtcdCluster) -> String {
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

pub fn view(t: &mut Transcript, console: &Path, gateway: &str) -> serde_json::Value {
    let out = t.ok(
        console,
        &["cluster", "show", "web", "--gateway", gateway, "-o", "json"],
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

pub fn until(what: &str, mut cond: impl FnMut() -> bool) {
    eprintln!("waiting until {what}");
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `gateway show dc1` lists 3 nodes, each answering this console (asked with its
/// certificate). The console records the nodes' addresses from the answer.
pub fn every_node_accepts(t: &mut Transcript, console: &Path) -> bool {
    let out = t.ok(console, &["gateway", "show", "dc1", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    nodes.len() == 3 && nodes.iter().all(|n| n["reachable"] == true)
}

/// The cluster holds `n` machines, each a different MAAS machine: none taken twice. Gives
/// their system ids, sorted.
pub fn assert_machines(t: &mut Transcript, console: &Path, gateway: &str, n: usize) -> Vec<String> {
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
    distinct
}

/// A 1-node gateway.yaml (no `etcd:`) for `dc1` in front of `sim`, 0600, with a comment line
/// that a rewrite must keep.
pub fn single_node_yaml(path: &Path, sim: &Sim) {
    write_gateway_yaml(
        path,
        "# dc1: a 1-node gateway, resized later\n",
        sim,
        "placement:\n  nodes: 1\n",
    );
}

/// A 1-node gateway (no `--node`) with the same tuning flags as [`start_node`], its output
/// read line by line (it keeps printing after a resize re-executes it): the process, the
/// address consoles reach it at and its pairing code.
pub fn start_single(
    state: &Path,
    config: &Path,
) -> (crate::cli_support::proc::Proc, String, String) {
    use crate::cli_support::proc::{after, Proc};
    let mut proc = Proc::spawn(
        Some(state),
        &[
            "gateway",
            "run",
            "-c",
            config.to_str().unwrap(),
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
    let line = proc.until("how to pair", |l| l.starts_with("pair a console with:"));
    let rest = after(&line, "--address ");
    let mut words = rest.split_whitespace();
    let addr = words.next().unwrap().to_string();
    let code = words.nth(1).unwrap().to_string();
    (proc, addr, code)
}

/// Records node `n` in the console as gateway `dc1-nN`, with the material the console got
/// when it paired with one node of `dc1`: one gateway identity, so the same pin and
/// certificate serve every node.
pub fn record_node(console: &Path, n: usize, address: &str) {
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

/// An executable of node `n`'s own: a hard link to the test binary (a copy where linking is
/// not possible) in `root/binN`. An upgrade replaces the file a gateway runs from, so each
/// node needs one, and never the build's binary. `root` must be on the build's file system
/// (under CARGO_TARGET_TMPDIR) for the link.
pub fn install_node_binary(root: &Path, n: usize) -> std::path::PathBuf {
    let dir = root.join(format!("bin{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("kubemaas");
    if std::fs::hard_link(BIN, &exe).is_err() {
        std::fs::copy(BIN, &exe).unwrap();
    }
    exe
}

/// A node run from its own executable, its output read on a thread (it re-executes in place
/// when upgraded, and prints again).
pub struct NodeProc {
    pub proc: crate::cli_support::proc::Proc,
    pub addr: String,
    pub code: String,
}

/// `exe --state-dir root/nodeN gateway run -c config --node gwN` on 127.0.0.1:0 with a lease
/// of `lease_secs`, read until it is ready to pair.
pub fn start_node_from(
    exe: &Path,
    root: &Path,
    config: &Path,
    n: usize,
    lease_secs: u64,
) -> NodeProc {
    use crate::cli_support::proc::{after, Proc};
    let state = root.join(format!("node{n}"));
    let node = format!("gw{n}");
    let lease = lease_secs.to_string();
    let mut proc = Proc::spawn_with(
        exe,
        Some(&state),
        &[
            "gateway",
            "run",
            "-c",
            config.to_str().unwrap(),
            "--node",
            &node,
            "--listen",
            "127.0.0.1:0",
            "--reconcile-ms",
            "200",
            "--heartbeat-ms",
            "1000",
            "--lease-secs",
            &lease,
        ],
        &[],
    );
    proc.until("the node line", |l| {
        l.contains(&format!("node {node} of gateway dc1"))
    });
    let line = proc.until("the pairing line", |l| {
        l.starts_with("pair a console with: ")
    });
    let rest = after(&line, "--address ");
    let mut words = rest.split_whitespace();
    let addr = words.next().unwrap().to_string();
    let code = words.nth(1).unwrap().to_string();
    NodeProc { proc, addr, code }
}

/// Writes the spec of a cluster `name` (1 control plane, `workers` workers) on account dc1 and
/// gives its path.
pub fn cluster_spec(
    t: &mut crate::cli_support::Transcript,
    console: &Path,
    dir: &Path,
    name: &str,
    workers: usize,
) -> std::path::PathBuf {
    let spec = t.ok(
        console,
        &[
            "cluster",
            "new",
            name,
            "--account",
            "dc1",
            "--control-plane",
            "1",
            "--workers",
            &workers.to_string(),
        ],
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, spec).unwrap();
    file
}

/// What MAAS itself says kubemaas holds, read from the simulator with the gateway's own API
/// key (the MAAS user kubemaas allocates as) — never from kubemaas's store — plus the
/// simulator's `/_sim/` control API to slow MAAS down on purpose.
pub struct Maas {
    rt: tokio::runtime::Runtime,
    client: kubemaas::maas::MaasClient,
    /// `http://127.0.0.1:PORT`, where `/_sim/` lives.
    origin: String,
    /// The MAAS user the gateway's key acts as.
    pub user: String,
    /// The newest MAAS event when this reader was made: the history starts after it.
    since: i64,
}

/// One allocation of one machine, from MAAS's event log: the event ids (an order, not a
/// time) of its "Allocated" event and of the release that ended it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    pub system_id: String,
    pub user: String,
    pub allocated: i64,
    pub released: Option<i64>,
}

/// The machines MAAS shows held: owned by kubemaas's user, and stamped with each kubemaas
/// cluster's id (owner data), by system id, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Holdings {
    pub owned: Vec<String>,
    pub stamped: std::collections::BTreeMap<String, Vec<String>>,
}

/// MAAS event types that end an allocation (the machine goes back to the pool).
const RELEASE_EVENTS: &[&str] = &["Releasing", "Disk erasing", "Released"];

impl Maas {
    pub fn connect(sim: &Sim) -> Maas {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let endpoint = kubemaas::maas::Endpoint::parse(&sim.url).unwrap();
        let key: kubemaas::maas::ApiKey = sim.key.parse().unwrap();
        let client =
            kubemaas::maas::MaasClient::new(kubemaas::maas::MaasConfig::new(endpoint, key))
                .unwrap();
        let url = url::Url::parse(&sim.url).unwrap();
        let origin = format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap()
        );
        let user = rt.block_on(client.whoami()).unwrap().username;
        let mut maas = Maas {
            rt,
            client,
            origin,
            user,
            since: 0,
        };
        maas.since = maas.events_after(0).last().map_or(0, |e| e.id);
        maas
    }

    /// Every MAAS event (INFO and up) after event `after`, oldest first.
    fn events_after(&self, after: i64) -> Vec<kubemaas::maas::Event> {
        let mut all = Vec::new();
        let mut last = after;
        loop {
            let query = kubemaas::maas::EventQuery {
                limit: Some(1000),
                after: Some(last),
                ..Default::default()
            };
            let mut page = self.rt.block_on(self.client.events(&query)).unwrap().events;
            if page.is_empty() {
                return all;
            }
            page.sort_by_key(|e| e.id);
            last = page.last().unwrap().id;
            all.extend(page);
        }
    }

    pub fn holdings(&self) -> Holdings {
        let machines = self
            .rt
            .block_on(self.client.machines(&Default::default()))
            .unwrap();
        let mut owned = Vec::new();
        let mut stamped: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for m in machines {
            if m.owner.as_deref() == Some(self.user.as_str()) {
                owned.push(m.system_id.clone());
            }
            if let Some(cluster) = m.owner_data.get(kubemaas::engine::OWNER_KEY_CLUSTER) {
                stamped
                    .entry(cluster.clone())
                    .or_default()
                    .push(m.system_id.clone());
            }
        }
        owned.sort();
        stamped.values_mut().for_each(|v| v.sort());
        Holdings { owned, stamped }
    }

    /// Every allocation since this reader was made, in MAAS's order. Panics when MAAS shows a
    /// machine allocated again while still held (no release in between).
    pub fn allocations(&self) -> Vec<Allocation> {
        let mut out: Vec<Allocation> = Vec::new();
        for e in self.events_after(self.since) {
            let open = out
                .iter()
                .position(|a| a.system_id == e.node && a.released.is_none());
            if e.kind == "Allocated" {
                assert!(
                    open.is_none(),
                    "MAAS allocated {} again (event {}) while it was still held: {:?}",
                    e.node,
                    e.id,
                    out[open.unwrap()]
                );
                out.push(Allocation {
                    system_id: e.node.clone(),
                    user: e.username.clone(),
                    allocated: e.id,
                    released: None,
                });
            } else if RELEASE_EVENTS.contains(&e.kind.as_str()) {
                if let Some(i) = open {
                    out[i].released = Some(e.id);
                }
            }
        }
        out
    }

    /// A request to the simulator's control API; its answer body.
    fn control(&self, method: reqwest::Method, path_and_query: &str) -> String {
        let url = format!("{}/_sim/{path_and_query}", self.origin);
        self.rt.block_on(async {
            let resp = reqwest::Client::new()
                .request(method, &url)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(status.is_success(), "{url}: {status} {body}");
            body
        })
    }

    /// From now on MAAS answers every machine release 503 (no Retry-After, so nothing was
    /// released and the engine retries on a later pass), until [`Maas::release_again`].
    pub fn refuse_releases(&self) {
        self.control(
            reqwest::Method::POST,
            "faults/inject?endpoint=machines/{system_id}/&method=POST&op=release&status=503&count=1000000",
        );
    }

    /// How many releases MAAS refused since [`Maas::refuse_releases`].
    pub fn refused_releases(&self) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&self.control(reqwest::Method::GET, "faults")).unwrap();
        v["injections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["op"] == "release")
            .map(|i| 1_000_000 - i["remaining"].as_u64().unwrap())
            .sum()
    }

    /// Drops every injected failure: releases go through again.
    pub fn release_again(&self) {
        self.control(reqwest::Method::DELETE, "faults");
    }

    /// MAAS holds exactly the given clusters' machines for kubemaas: owned by its user, and
    /// stamped with each cluster's id, its own and none for another (no leak, none twice).
    pub fn assert_holds(&self, clusters: &[(&str, &[String])]) {
        let held = self.holdings();
        let mut all: Vec<String> = clusters.iter().flat_map(|(_, m)| m.to_vec()).collect();
        all.sort();
        assert_eq!(held.owned, all, "owned by {} in MAAS: {held:?}", self.user);
        let mut stamped = held.stamped.clone();
        for (cluster, machines) in clusters {
            let mut want = machines.to_vec();
            want.sort();
            let mine = stamped.remove(*cluster).unwrap_or_default();
            assert_eq!(
                mine, want,
                "stamped with cluster {cluster} in MAAS: {held:?}"
            );
        }
        assert!(stamped.is_empty(), "stamped for another cluster: {held:?}");
    }

    /// MAAS's history agrees: since this reader was made, kubemaas's user allocated exactly
    /// `machines` (the machines the clusters held at some point), each once — no allocation
    /// that a failover repeated or left behind.
    pub fn assert_allocated_once(&self, machines: &[String]) {
        let history = self.allocations();
        let mut want = machines.to_vec();
        want.sort();
        let mut got: Vec<String> = history.iter().map(|a| a.system_id.clone()).collect();
        got.sort();
        assert!(
            history.iter().all(|a| a.user == self.user),
            "allocated by another MAAS user: {history:?}"
        );
        assert_eq!(got, want, "allocations in MAAS's history: {history:?}");
    }
}

/// How many clusters called `name` the gateway (or the console's queue) lists.
pub fn listed(t: &mut Transcript, console: &Path, gw: &str, name: &str) -> usize {
    let out = t.ok(console, &["cluster", "list", "--gateway", gw, "-o", "json"]);
    let all: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    all.as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .count()
}

/// `cluster scale web --pool workers --size N` through `gateway`, then waits until the
/// cluster is seen scaling (Updating, or more than `size` machines, control plane included):
/// the moment to kill a leader mid-scale.
pub fn scale_workers(t: &mut Transcript, console: &Path, gateway: &str, size: usize) {
    t.ok(
        console,
        &[
            "cluster",
            "scale",
            "web",
            "--pool",
            "workers",
            "--size",
            &size.to_string(),
            "--gateway",
            gateway,
        ],
    );
    until("the cluster is scaling", || {
        let v = view(t, console, gateway);
        v["phase"] == "Updating" || v["machines"].as_array().unwrap().len() > size
    });
}
