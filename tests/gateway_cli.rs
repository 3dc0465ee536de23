//! `kubemaas gateway …` as operators run it: real processes on 127.0.0.1, the simulator as
//! MAAS. Setup (init from a file, flags and answered questions), a gateway process pairing
//! consoles, list / show / unpair / delete, and no secret in any output.

mod cli_support;

use cli_support::{start_gateway, Transcript};
use kubemaas::sim::{self, SimConfig, SimHandle};
use kubemaas::store::{NewAccount, Store};
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn config_text(sim: &SimHandle, name: &str) -> String {
    format!(
        "apiVersion: kubemaas.io/v1
kind: Gateway
name: {name}
listen: 127.0.0.1:0
maas:
  endpoint: {}
  apiKey: {}
network:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
placement:
  zone: default
  nodes: 1
",
        sim.url(),
        sim.api_key().expose()
    )
}

async fn simulator() -> SimHandle {
    sim::start(SimConfig::generated(5, 7).speed(0.0))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_validates_maas_live_and_writes_a_private_file() {
    let sim = simulator().await;
    let key = sim.api_key().expose();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let mut t = Transcript::default();

    // --from FILE.
    let input = dir.path().join("in.yaml");
    std::fs::write(&input, config_text(&sim, "dc1")).unwrap();
    let out_path = dir.path().join("gateway.yaml");
    let out = t.ok(
        &state,
        &[
            "gateway",
            "init",
            "--from",
            input.to_str().unwrap(),
            "-c",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(out.contains("MAAS checked: MAAS"), "{out}");
    assert!(out.contains(out_path.to_str().unwrap()), "{out}");
    assert_eq!(mode(&out_path), 0o600);
    let written = kubemaas::gateway::GatewayConfig::load(&out_path).unwrap();
    assert_eq!(written.maas.api_key, sim.api_key());

    // An existing file is kept unless --force.
    let err = t.fails(
        &state,
        &[
            "gateway",
            "init",
            "--from",
            input.to_str().unwrap(),
            "-c",
            out_path.to_str().unwrap(),
        ],
    );
    assert!(err.contains("--force"), "{err}");

    // Flags, with a key MAAS refuses: a precise error and no file.
    let flags_path = dir.path().join("flags.yaml");
    let url = sim.url();
    let err = t.fails(
        &state,
        &[
            "gateway",
            "init",
            "--name",
            "dc2",
            "--maas-url",
            &url,
            "--api-key",
            "aaaaaaa:bbbbbbb:ccccccc",
            "-c",
            flags_path.to_str().unwrap(),
        ],
    );
    assert!(err.contains("refused the API key"), "{err}");
    assert!(!flags_path.exists());

    // A MAAS that is not there (a closed port on loopback).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = format!("http://{closed}/MAAS");
    let err = t.fails(
        &state,
        &[
            "gateway",
            "init",
            "--name",
            "dc2",
            "--maas-url",
            &dead,
            "--api-key",
            &key,
            "-c",
            flags_path.to_str().unwrap(),
        ],
    );
    assert!(err.contains("cannot reach MAAS"), "{err}");

    // Flags that work.
    let out = t.ok(
        &state,
        &[
            "gateway",
            "init",
            "--name",
            "dc2",
            "--maas-url",
            &url,
            "--api-key",
            &key,
            "--nodes",
            "3",
            "--pool",
            "infra",
            "--min-cpu",
            "4",
            "--min-memory-mib",
            "8192",
            "--no-proxy",
            "10.0.0.0/8,.example",
            "-c",
            flags_path.to_str().unwrap(),
        ],
    );
    assert!(out.contains("wrote"), "{out}");
    let cfg = kubemaas::gateway::GatewayConfig::load(&flags_path).unwrap();
    assert_eq!((cfg.name.as_str(), cfg.placement.nodes), ("dc2", 3));
    assert_eq!(cfg.placement.machine.unwrap().min_memory_mib, 8192);
    assert_eq!(mode(&flags_path), 0o600);

    // Questions answered from a pipe (not a terminal): one answer per line, Enter for defaults.
    let asked_path = dir.path().join("asked.yaml");
    let answers =
        format!("{url}\n{key}\ndc3\n127.0.0.1:0\nhttp://proxy.example:3128\n\n\n\n\n\n\n\n\n\n");
    let out = t.run(
        &state,
        &["gateway", "init", "-c", asked_path.to_str().unwrap()],
        Some(&answers),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = kubemaas::gateway::GatewayConfig::load(&asked_path).unwrap();
    assert_eq!(cfg.name, "dc3");
    assert_eq!(
        cfg.proxy.https.as_deref(),
        Some("http://proxy.example:3128")
    );
    assert_eq!(cfg.network.service_cidr.to_string(), "10.96.0.0/12");

    // A bad answer from a pipe is refused, naming the question, without asking forever.
    let out = t.run(
        &state,
        &[
            "gateway",
            "init",
            "--force",
            "-c",
            asked_path.to_str().unwrap(),
        ],
        Some(&format!("{url}\n{key}\nNot A Label\n")),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Gateway name"));

    t.assert_no_secrets(&key);
}

#[test]
fn a_wrong_gateway_yaml_gets_one_error_per_key_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let key = "abcdefghijklmnopqr:ABCDEFGHIJKLMNOPQR:0123456789abcdef0123456789abcdef";
    std::fs::write(
        &path,
        format!(
            "apiVersion: kubemaas.io/v1
kind: Gateway
name: DC_1
listen: nowhere
maas:
  endpoint: ftp://maas/MAAS
  apiKey: {key}
  apiKye: x
network:
  podCIDR: 10.0.0.0/8
  serviceCIDR: 10.96.0.0/12
placement:
  nodes: 2
"
        ),
    )
    .unwrap();
    let mut t = Transcript::default();
    let err = t.fails(
        &dir.path().join("state"),
        &["gateway", "run", "-c", path.to_str().unwrap()],
    );
    for expected in [
        "line 3: name:",
        "line 4: listen:",
        "line 6: maas.endpoint:",
        "line 8: maas.apiKye: is not a gateway.yaml key: did you mean `apiKey`?",
        "line 11: network.serviceCIDR:",
        "overlaps the pod network",
        "line 13: placement.nodes: 2 gateway nodes: use 1, or 3",
        "6 problems",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    t.assert_no_secrets(key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_process_pairs_consoles_and_is_not_deleted_under_running_clusters() {
    let sim = simulator().await;
    let key = sim.api_key().expose();
    let dir = tempfile::tempdir().unwrap();
    let gw_state = dir.path().join("gateway-host");
    let console = dir.path().join("console");
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, config_text(&sim, "dc1")).unwrap();
    let mut t = Transcript::default();

    let gw = start_gateway(&gw_state, &config, &["--listen", "127.0.0.1:0"]);
    t.0.push_str(&gw.printed);
    assert!(
        gw.printed.contains("CA fingerprint: SHA256:"),
        "{}",
        gw.printed
    );
    // The test wrote gateway.yaml with the default mode: the gateway says to tighten it.
    assert!(gw.printed.contains("chmod 600"), "{}", gw.printed);

    // A second code on demand, through the running gateway's admin socket.
    let out = t.ok(&gw_state, &["gateway", "pairing-code"]);
    let second = out.split_whitespace().nth(2).unwrap().to_string();
    assert_ne!(second, gw.code);

    let out = t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &gw.addr,
            "--code",
            &gw.code,
            "--console-name",
            "console-a",
        ],
    );
    assert!(out.contains("paired with gateway dc1"), "{out}");
    assert!(out.contains("default cloud account: dc1"), "{out}");
    let err = t.fails(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &gw.addr,
            "--code",
            &gw.code,
            "--name",
            "again",
        ],
    );
    assert!(err.contains("already used"), "{err}");
    let err = t.fails(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &gw.addr,
            "--code",
            "00000-00000-00000-00000",
            "--name",
            "again",
        ],
    );
    assert!(err.contains("wrong"), "{err}");
    // The gateway's own name is taken here now: refused before the code is spent...
    let err = t.fails(
        &console,
        &["gateway", "pair", "--address", &gw.addr, "--code", &second],
    );
    assert!(err.contains("already paired"), "{err}");
    // ...so the same code still pairs under another name.
    t.ok(
        &console,
        &[
            "gateway",
            "pair",
            "--address",
            &gw.addr,
            "--code",
            &second,
            "--name",
            "dc1-b",
            "--console-name",
            "console-b",
        ],
    );

    // Keys are the owner's only, on both sides.
    for file in [
        console.join("gateways/dc1/client.key"),
        console.join("gateways/dc1-b/client.key"),
        gw_state.join("gateway/pki/ca.key"),
        gw_state.join("gateway/admin.sock"),
    ] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&gw_state.join("gateway")), 0o700);

    let list: serde_json::Value =
        serde_json::from_str(&t.ok(&console, &["gateway", "list", "-o", "json"])).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["dc1", "dc1-b", "local"]);

    let show: serde_json::Value =
        serde_json::from_str(&t.ok(&console, &["gateway", "show", "dc1", "-o", "json"])).unwrap();
    assert_eq!(show["reachable"], true, "{show}");
    assert_eq!(show["info"]["maas"]["endpoint"], sim.url());
    assert_eq!(show["info"]["default_account"], "dc1");

    // `maas` commands through the gateway: the same machines MAAS lists directly, asked by the
    // gateway with its own key (the console holds none for dc1).
    let direct: serde_json::Value = serde_json::from_str(&t.ok(
        &console,
        &[
            "maas",
            "machines",
            "-o",
            "json",
            "--endpoint",
            &sim.url(),
            "--api-key",
            &key,
        ],
    ))
    .unwrap();
    let via: serde_json::Value = serde_json::from_str(&t.ok(
        &console,
        &["maas", "machines", "-o", "json", "--gateway", "dc1"],
    ))
    .unwrap();
    let hostnames = |v: &serde_json::Value| {
        let mut h: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["hostname"].as_str().unwrap().to_string())
            .collect();
        h.sort();
        h
    };
    assert!(!hostnames(&direct).is_empty());
    assert_eq!(hostnames(&direct), hostnames(&via));
    let table = t.ok(&console, &["maas", "machines", "--gateway", "dc1"]);
    assert!(table.starts_with("HOSTNAME"), "{table}");
    assert_eq!(
        table.lines().count(),
        hostnames(&direct).len() + 1,
        "{table}"
    );
    let version = t.ok(&console, &["maas", "version", "--gateway", "dc1"]);
    assert!(version.contains(&sim.url()), "{version}");
    let zones = t.ok(
        &console,
        &["maas", "zones", "--gateway", "dc1", "-o", "json"],
    );
    assert!(zones.contains("\"name\""), "{zones}");
    let err = t.fails(
        &console,
        &["maas", "machines", "--gateway", "dc1", "--account", "nope"],
    );
    assert!(err.contains("nope"), "{err}");
    let err = t.fails(&console, &["maas", "machines", "--gateway", "nowhere"]);
    assert!(err.contains("nowhere"), "{err}");

    // A cluster on dc1 keeps it from being deleted, and is named.
    let store = Store::open(&console).unwrap();
    store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "dc1-maas".into(),
                gateway: Some("dc1".into()),
                endpoint: sim.endpoint(),
                api_key: "aaaaaaa:bbbbbbb:ccccccc".parse().unwrap(),
                ca_cert: None,
            })?;
            tx.create_cluster("prod-1", "dc1-maas", &serde_json::json!({}))
        })
        .unwrap();
    drop(store);
    let err = t.fails(&console, &["gateway", "delete", "dc1"]);
    assert!(err.contains("prod-1"), "{err}");
    let err = t.fails(&console, &["gateway", "delete", "local"]);
    assert!(err.contains("embedded engine"), "{err}");

    // Unpair forgets the keys but keeps the record; delete removes it.
    t.ok(&console, &["gateway", "unpair", "dc1-b"]);
    assert!(!console.join("gateways/dc1-b").exists());
    let show: serde_json::Value =
        serde_json::from_str(&t.ok(&console, &["gateway", "show", "dc1-b", "-o", "json"])).unwrap();
    assert_eq!(show["paired"], false);
    t.ok(&console, &["gateway", "delete", "dc1-b"]);
    let list = t.ok(&console, &["gateway", "list"]);
    assert!(!list.contains("dc1-b") && list.contains("local"), "{list}");

    // On the gateway host: the paired consoles, and revoking one shuts it out.
    let consoles: serde_json::Value =
        serde_json::from_str(&t.ok(&gw_state, &["gateway", "consoles", "-o", "json"])).unwrap();
    assert_eq!(consoles.as_array().unwrap().len(), 2, "{consoles}");
    let out = t.ok(&gw_state, &["gateway", "revoke", "console-a"]);
    assert!(out.contains("revoked 1"), "{out}");
    let show: serde_json::Value =
        serde_json::from_str(&t.ok(&console, &["gateway", "show", "dc1", "-o", "json"])).unwrap();
    assert_eq!(show["reachable"], false, "{show}");
    assert!(show["problem"].as_str().unwrap().contains("401"), "{show}");

    // SIGTERM stops the gateway cleanly; its log has every refusal and never a code.
    let mut gw = gw;
    let status = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(gw.child.wait().unwrap().success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut gw.stdout, &mut rest).unwrap();
    assert!(rest.contains("gateway dc1 stopped"), "{rest}");
    let log = std::fs::read_to_string(gw_state.join("logs/kubemaas.log")).unwrap();
    assert!(
        log.contains("reason=\"reused_code\"") || log.contains("reason=reused_code"),
        "{log}"
    );
    assert!(log.contains("wrong_code"), "{log}");
    for code in [&gw.code, &second] {
        assert!(!log.contains(code.as_str()), "a pairing code was logged");
    }
    t.0.push_str(&rest);
    t.0.push_str(&log);
    t.assert_no_secrets(&key);
}
