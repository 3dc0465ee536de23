//! A console knows every node of a 3-node gateway.
//!
//! * In process: a client's address rotation — a node that cannot be reached (a closed
//!   127.0.0.1 port) is passed over, the one that answers kept; an HTTP error answer is not
//!   passed over; clones move together; a move (only a move) is reported, and a console's
//!   next client starts at the node that answered its last one.
//! * Real processes, one etcd member: a node announces the address it bound, or the one it
//!   advertises (`--advertise`); a wildcard advertise is refused naming the flag; a console
//!   that paired through the first node fails over to the second at its advertised address
//!   and records it as the node that answered.
//! * Real processes (3 etcd members, 3 `kubemaas gateway run` nodes, `kubemaas sim`): a code
//!   printed by node 2 pairs the console through node 1; the console records all 3 nodes;
//!   node 1, the one it talks to, is killed (SIGKILL) — listing, showing, creating (once) and
//!   following events go on through the other nodes, and `gateway show` lists the 3 nodes, one
//!   leader, the killed one unreachable.
//!
//! Every wait polls a condition under a generous deadline (never a timing assertion).

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "gateway_support/mod.rs"]
mod gateway_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

#[path = "ha_gateway_support/mod.rs"]
mod ha_gateway_support;

use cli_support::proc::Proc;
use cli_support::{GatewayProcess, Transcript};
use gateway_support::InProcGateway;
use ha_gateway_support::*;
use ha_support::EtcdCluster;
use kubemaas::gateway::client::{self, GatewayClient, GatewayClientError};
use kubemaas::gateway::console;
use kubemaas::gateway::protocol::NodeInfo;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- the client's address rotation, against an in-process gateway ----

/// A 127.0.0.1 port nothing listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    addr
}

/// A client paired with `gw`, made for `first` and knowing `others` too.
async fn client(gw: &InProcGateway, first: &str, others: &[&str]) -> GatewayClient {
    let m = client::pair(&gw.addr, &gw.issue_code(), "rotation")
        .await
        .unwrap();
    GatewayClient::new(first, &m.ca_pem, &m.client_cert_pem, &m.client_key_pem)
        .unwrap()
        .with_nodes(others.iter().copied())
}

#[tokio::test]
async fn an_unreachable_node_is_passed_over_and_the_answering_one_kept() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let dead = closed_port();
    let c = client(&gw, &dead, &[&gw.addr]).await;
    assert_eq!(c.addresses(), vec![dead.clone(), gw.addr.clone()]);
    assert_eq!(c.current_address(), dead);
    let clone = c.clone();

    c.health().await.unwrap();
    assert_eq!(c.current_address(), gw.addr);
    // Clones share the choice: a stream and the calls beside it move together.
    assert_eq!(clone.current_address(), gw.addr);
    // It sticks: the next call goes to the node that answered, not back to the first.
    clone.info().await.unwrap();
    assert_eq!(c.current_address(), gw.addr);
    assert_eq!(
        c.address(),
        dead,
        "the address it was made with stays the first"
    );

    // A write without an idempotency key moves on too when nothing reached the first node
    // (no connection): the live node's answer (an HTTP refusal) comes back.
    let d = client(&gw, &dead, &[&gw.addr]).await;
    let refused = d
        .post::<_, serde_json::Value>("/v1/clusters/no-such-cluster/abort", &serde_json::json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, GatewayClientError::Refused { status: 404, .. }),
        "{refused:?}"
    );
    assert_eq!(d.current_address(), gw.addr);

    // A stream moves on as well.
    let e = client(&gw, &dead, &[&gw.addr]).await;
    let mut stream = e
        .stream::<serde_json::Value>(kubemaas::gateway::protocol::EVENTS_STREAM_PATH)
        .await
        .unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first["type"], "heartbeat", "{first}");
    assert_eq!(e.current_address(), gw.addr);
}

#[tokio::test]
async fn an_http_error_answer_is_not_passed_over() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let dead = closed_port();
    let c = client(&gw, &gw.addr, &[&dead]).await;
    // The live node answers 404: that is its answer, not a reason to ask the next node
    // (which, unreachable, would have turned it into a connection error).
    let err = c
        .get::<serde_json::Value>("/v1/clusters/no-such-cluster")
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayClientError::Refused { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(c.current_address(), gw.addr);
}

/// A node of `gw` (its CA and server certificate) that completes the TLS handshake, reads the
/// start of one request and vanishes without closing TLS: a node killed mid-request. Gives its
/// address.
async fn node_dying_mid_request(gw: &InProcGateway) -> String {
    use tokio::io::AsyncReadExt;
    let config = kubemaas::gateway::tls::server_config(
        gw.pki.ca_der(),
        vec![gw.pki.server_der().clone()],
        gw.pki.server_key(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let mut buf = [0u8; 64];
            let _ = tls.read(&mut buf).await;
            // Drop the socket itself: no close_notify, as when the process is killed.
            let (tcp, _) = tls.into_inner();
            drop(tcp);
        }
    });
    addr
}

#[tokio::test]
async fn a_read_on_a_node_that_dies_mid_request_goes_to_another_node() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let dying = node_dying_mid_request(&gw).await;
    let c = client(&gw, &dying, &[&gw.addr]).await;
    // The request reached the dying node (so this is not a refused connection) and the
    // connection broke without TLS's goodbye: a read is safe to repeat on the next node.
    c.health().await.unwrap();
    assert_eq!(c.current_address(), gw.addr);
}

#[tokio::test]
async fn a_write_refused_by_a_node_restarting_for_an_upgrade_goes_to_another_node() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let draining = gw.draining_node().await;
    let c = client(&gw, &draining, &[&gw.addr]).await;
    let body = serde_json::json!({"not": "a cluster request"});
    // The draining node refuses the write unprocessed; the live node answers it (here: the
    // request is malformed, which is its answer, not a 503 from the draining node).
    let err = c
        .post::<_, serde_json::Value>("/v1/clusters", &body)
        .await
        .unwrap_err();
    assert!(
        !matches!(err, GatewayClientError::Refused { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(c.current_address(), gw.addr);
    // With no other node to take it, the refusal is the answer (a 1-node gateway: the
    // console then queues cluster requests).
    let alone = c.pinned(&draining).unwrap();
    let err = alone
        .post::<_, serde_json::Value>("/v1/clusters", &body)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayClientError::Refused { status: 503, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_node_showing_a_foreign_certificate_is_not_passed_over() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    // Another gateway, another CA: what an impersonator at a node's address would show.
    let stranger = InProcGateway::start(Duration::from_secs(5)).await;
    let c = client(&gw, &stranger.addr, &[&gw.addr]).await;
    let err = c.health().await.unwrap_err();
    assert!(matches!(err, GatewayClientError::Channel { .. }), "{err:?}");
    assert_eq!(c.current_address(), stranger.addr);
}

#[tokio::test]
async fn with_every_node_unreachable_the_error_names_them_all() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let (a, b) = (closed_port(), closed_port());
    let c = client(&gw, &a, &[&b, "not an address", &a]).await;
    assert_eq!(c.addresses(), vec![a.clone(), b.clone()]);
    let err = c.health().await.unwrap_err();
    match &err {
        GatewayClientError::Connect { address, .. } => {
            assert!(address.contains(&a) && address.contains(&b), "{err}")
        }
        other => panic!("{other:?}"),
    }
    // A client pinned to one node never moves.
    let pinned = c.pinned(&gw.addr).unwrap();
    assert_eq!(pinned.addresses(), vec![gw.addr.clone()]);
    pinned.health().await.unwrap();
}

#[tokio::test]
async fn a_client_reports_a_move_once_and_can_start_at_another_known_node() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let dead = closed_port();
    let moves: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = moves.clone();
    let c = client(&gw, &dead, &[&gw.addr])
        .await
        .on_move(Arc::new(move |a| seen.lock().unwrap().push(a.to_string())));
    c.health().await.unwrap();
    c.info().await.unwrap();
    c.clone().health().await.unwrap();
    // One move, reported once: the calls that stayed on the node are not.
    assert_eq!(*moves.lock().unwrap(), vec![gw.addr.clone()]);

    // Started at the live node: no move at all, the first address still in the rotation.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let d = client(&gw, &dead, &[&gw.addr])
        .await
        .starting_at(&gw.addr)
        .on_move(Arc::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        }));
    assert_eq!(d.current_address(), gw.addr);
    assert_eq!(d.addresses(), vec![dead.clone(), gw.addr.clone()]);
    d.health().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // An address it does not know changes nothing.
    let e = client(&gw, &dead, &[&gw.addr])
        .await
        .starting_at("127.0.0.1:1");
    assert_eq!(e.current_address(), dead);
}

#[tokio::test]
async fn a_new_console_process_starts_at_the_node_that_answered_the_last_one() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let dead = closed_port();
    let state = tempfile::tempdir().unwrap();
    let store = kubemaas::store::Store::open(state.path()).unwrap();
    // Paired at a node whose host is now down; the gateway listed a second node.
    let material = client::pair(&gw.addr, &gw.issue_code(), "console-a")
        .await
        .unwrap();
    console::save_pairing(&store, state.path(), "dc1", &dead, &material).unwrap();
    let node = |name: &str, address: &str| NodeInfo {
        name: name.into(),
        address: address.into(),
        leader: false,
    };
    console::remember_nodes(&store, "dc1", &[node("gw1", &dead), node("gw2", &gw.addr)]);
    assert_eq!(console::last_answering_node(&store, "dc1").unwrap(), None);

    // The first process starts at the paired node and fails over to gw2, which is recorded.
    let first = console::client_for(&store, "dc1").unwrap();
    assert_eq!(first.current_address(), dead);
    first.health().await.unwrap();
    assert_eq!(first.current_address(), gw.addr);
    assert_eq!(
        console::last_answering_node(&store, "dc1").unwrap(),
        Some(gw.addr.clone())
    );
    drop(first);

    // The next process (a fresh client from the store) starts at gw2, the paired node still
    // in the rotation behind it.
    let second = console::client_for(&store, "dc1").unwrap();
    assert_eq!(second.current_address(), gw.addr);
    assert!(
        second.addresses().contains(&dead),
        "{:?}",
        second.addresses()
    );
    second.health().await.unwrap();
    assert_eq!(second.current_address(), gw.addr);

    // A node the gateway no longer lists is not started at: the paired address is.
    console::remember_nodes(&store, "dc1", &[node("gw1", &dead)]);
    let third = console::client_for(&store, "dc1").unwrap();
    assert_eq!(third.current_address(), dead);
}

// ---- real processes: what a node announces ----

/// `gateway run` for node `name` of the gateway in `config`, with `extra` flags.
fn start_named_node(root: &Path, config: &Path, name: &str, extra: &[&str]) -> GatewayProcess {
    let mut args = vec![
        "--node",
        name,
        "--reconcile-ms",
        "200",
        "--heartbeat-ms",
        "1000",
        "--lease-secs",
        "2",
    ];
    args.extend_from_slice(extra);
    let gw = cli_support::start_gateway(&root.join(name), config, &args);
    assert!(
        gw.printed.contains(&format!("node {name} of gateway dc1")),
        "{}",
        gw.printed
    );
    gw
}

fn last_node(console: &Path) -> Option<String> {
    let db = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    db.query_row(
        "SELECT address FROM gateway_last_node WHERE gateway = 'dc1'",
        [],
        |r| r.get(0),
    )
    .ok()
}

#[test]
fn a_node_announces_the_address_it_advertises_else_the_one_it_bound() {
    let etcd = EtcdCluster::start(1);
    let root = tempfile::tempdir().unwrap();
    let sim = start_sim();
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &sim, &etcd);
    let mut t = Transcript::default();

    // A wildcard is no address to advertise: refused before anything starts, naming the flag.
    let refused = t.fails(
        &root.path().join("gw0"),
        &[
            "gateway",
            "run",
            "-c",
            config.to_str().unwrap(),
            "--advertise",
            "0.0.0.0:8443",
        ],
    );
    assert!(
        refused.contains("--advertise") && refused.contains("wildcard"),
        "{refused}"
    );

    // gw1 binds a host-naming address and advertises none: it announces what it bound.
    let mut gw1 = start_named_node(root.path(), &config, "gw1", &["--listen", "127.0.0.1:0"]);
    assert!(
        gw1.printed.contains(&format!(
            "consoles are told to call this node at {}",
            gw1.addr
        )),
        "{}",
        gw1.printed
    );
    // gw2 advertises a name for itself (as behind NAT or on a wildcard): announced as given,
    // and shown in its pairing line.
    let port = ha_support::free_port();
    let advertised = format!("localhost:{port}");
    let gw2 = start_named_node(
        root.path(),
        &config,
        "gw2",
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--advertise",
            &advertised,
        ],
    );
    assert_eq!(gw2.addr, advertised, "{}", gw2.printed);

    // A console pairs through gw1 and learns both nodes as they announced themselves.
    let console = root.path().join("console");
    t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &gw1.addr,
            "--code",
            &gw1.code,
        ],
    );
    let expected = vec![
        ("gw1".to_string(), gw1.addr.clone()),
        ("gw2".to_string(), advertised.clone()),
    ];
    until(
        "the console knows both nodes at their announced addresses",
        || {
            t.ok(&console, &["gateway", "show", "dc1", "-o", "json"]);
            known_addresses(&console) == expected
        },
    );
    assert_eq!(last_node(&console), None, "no failover yet");

    // gw1 dies: the console reaches the gateway at gw2's advertised address, and remembers it.
    gw1.child.kill().unwrap();
    gw1.child.wait().unwrap();
    let v = show(&mut t, &console);
    assert_eq!(v["reachable"], true, "{v}");
    assert_eq!(last_node(&console), Some(advertised.clone()));
    // The next process starts there (and stays: nothing rewritten).
    let v = show(&mut t, &console);
    assert_eq!(v["reachable"], true, "{v}");
    assert_eq!(last_node(&console), Some(advertised));
    drop(gw2);
}

// ---- a 3-node gateway, real processes ----

fn known_addresses(console: &Path) -> Vec<(String, String)> {
    let db = rusqlite::Connection::open(console.join(kubemaas::store::DB_FILE)).unwrap();
    let mut stmt = db
        .prepare("SELECT node, address FROM gateway_addresses WHERE gateway = 'dc1' ORDER BY node")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// `gateway show dc1 -o json`.
fn show(t: &mut Transcript, console: &Path) -> serde_json::Value {
    let out = t.ok(console, &["gateway", "show", "dc1", "-o", "json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The event ids in the `-o json` lines of `cluster events`.
fn event_id(line: &str) -> Option<i64> {
    line.trim()
        .strip_prefix("\"id\":")
        .and_then(|rest| rest.trim().trim_end_matches(',').parse().ok())
}

/// The cluster's journal: each event's id and time.
fn journal(t: &mut Transcript, console: &Path) -> Vec<(i64, chrono::DateTime<chrono::Utc>)> {
    let out = t.ok(
        console,
        &["cluster", "events", "web", "--gateway", "dc1", "-o", "json"],
    );
    let rows: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let time = r["time"].as_str().unwrap();
            (
                r["id"].as_i64().unwrap(),
                chrono::DateTime::parse_from_rfc3339(time)
                    .unwrap()
                    .with_timezone(&chrono::Utc),
            )
        })
        .collect()
}

#[test]
fn a_console_pairs_on_any_node_and_works_on_through_the_others() {
    let etcd = EtcdCluster::start(3);
    let root = tempfile::tempdir().unwrap();
    let sim = start_sim();
    let config = root.path().join("gateway.yaml");
    gateway_yaml(&config, &sim, &etcd);
    let mut nodes: Vec<Option<GatewayProcess>> = (1..=3)
        .map(|n| Some(start_node(root.path(), &config, n)))
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| n.as_ref().unwrap().addr.clone())
        .collect();

    // A code printed by node 2, redeemed on node 1.
    let mut t = Transcript::default();
    let printed = t.ok(&root.path().join("node2"), &["gateway", "pairing-code"]);
    let code = printed
        .lines()
        .find_map(|l| l.strip_prefix("pairing code: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    let console = root.path().join("console");
    let out = t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &addrs[0],
            "--code",
            &code,
            "--console-name",
            "console-a",
        ],
    );
    assert!(out.contains("paired with gateway dc1"), "{out}");
    // Used once: node 3 refuses it now.
    let again = t.fails(
        &root.path().join("console-b"),
        &["gateway", "pair", "--address", &addrs[2], "--code", &code],
    );
    assert!(again.contains("already used"), "{again}");

    // The console learned every node from the pairing's first answer.
    let known = known_addresses(&console);
    let expected: Vec<(String, String)> = (1..=3)
        .map(|n| (format!("gw{n}"), addrs[n - 1].clone()))
        .collect();
    assert_eq!(known, expected);
    until(
        "gateway show lists 3 reachable nodes and one leader",
        || {
            let v = show(&mut t, &console);
            let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
            nodes.len() == 3
                && nodes.iter().all(|n| n["reachable"] == true)
                && nodes.iter().filter(|n| n["leader"] == true).count() == 1
        },
    );
    let shown = t.ok(&console, &["gateway", "show", "dc1"]);
    assert!(shown.contains("reachable:      yes"), "{shown}");
    assert!(shown.contains("nodes:          3"), "{shown}");
    let gateways = t.ok(&console, &["gateway", "list"]);
    let dc1 = gateways
        .lines()
        .find(|l| l.starts_with("dc1 "))
        .unwrap_or_else(|| panic!("{gateways}"));
    assert_eq!(dc1.split_whitespace().last(), Some("3"), "{gateways}");

    let spec_file = cluster_spec(&mut t, &console, root.path(), "web", 1);
    t.ok(
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

    // Two followers through node 1: the event stream and a wait.
    let mut events = Proc::spawn(
        Some(&console),
        &[
            "cluster",
            "events",
            "web",
            "--follow",
            "--gateway",
            "dc1",
            "-o",
            "json",
        ],
    );
    let mut wait = Proc::spawn(
        Some(&console),
        &[
            "cluster",
            "wait",
            "web",
            "--for",
            "running",
            "--gateway",
            "dc1",
        ],
    );
    let mut followed: Vec<i64> = Vec::new();
    let line = events.until("a first event", |l| event_id(l).is_some());
    followed.extend(event_id(&line));

    // Node 1, the node the console talks to, dies.
    let mut killed = nodes[0].take().unwrap();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    drop(killed);
    let killed_at = chrono::Utc::now();
    eprintln!("killed gw1 (the console's node)");

    // Reads go through another node.
    assert!(listed(&mut t, &console, "dc1", "web") == 1);
    let v = view(&mut t, &console, "dc1");
    assert_eq!(v["name"], "web", "{v}");

    // The wait started before the kill follows on to the end.
    let (ok, printed) = wait.exit();
    assert!(
        ok && printed.contains("cluster web is Running"),
        "{printed}"
    );

    // The event stream resumed after its last event on another node: every event of the
    // journal, in order, none twice.
    let journal = journal(&mut t, &console);
    let ids: Vec<i64> = journal.iter().map(|(id, _)| *id).collect();
    let last = *ids.last().unwrap();
    while followed.last() != Some(&last) {
        let line = events.until("the journal's last event", |l| event_id(l).is_some());
        followed.extend(event_id(&line));
    }
    assert_eq!(followed, ids);
    // Among them, events appended after node 1 died: delivered by another node.
    let after_kill = journal.iter().filter(|(_, at)| *at > killed_at).count();
    eprintln!(
        "{after_kill} of {} events were appended after the kill",
        ids.len()
    );
    assert!(
        after_kill > 0,
        "the cluster was done before the kill: {journal:?}"
    );
    events.kill();

    // A create through the failover: created once.
    let db_file = cluster_spec(&mut t, &console, root.path(), "db", 1);
    let out = t.ok(
        &console,
        &[
            "cluster",
            "create",
            "--gateway",
            "dc1",
            "-f",
            db_file.to_str().unwrap(),
        ],
    );
    assert!(!out.contains("queued"), "{out}");
    assert_eq!(listed(&mut t, &console, "dc1", "db"), 1);

    // `gateway show` lists the 3 nodes, one leader, the killed one unreachable.
    until(
        "gateway show marks gw1 unreachable, one leader among the others",
        || {
            let v = show(&mut t, &console);
            let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
            let leaders: Vec<_> = nodes.iter().filter(|n| n["leader"] == true).collect();
            nodes.len() == 3
                && leaders.len() == 1
                && leaders[0]["name"] != "gw1"
                && nodes.iter().all(|n| n["reachable"] == (n["name"] != "gw1"))
        },
    );
    let shown = t.ok(&console, &["gateway", "show", "dc1"]);
    assert!(shown.contains("reachable:      yes"), "{shown}");
    let gw1 = shown
        .lines()
        .find(|l| l.trim_start().starts_with("gw1 "))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(gw1.contains("reachable: no"), "{shown}");
    assert_eq!(shown.matches(" leader ").count(), 1, "{shown}");
    t.assert_no_secrets(&sim.key);
}
