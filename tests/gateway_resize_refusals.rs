//! `kubemaas gateway resize` refusals against a running 1-node gateway: each says what is
//! wrong and how to fix it, and changes nothing — gateway.yaml stays byte for byte, and the
//! gateway keeps serving on its own state: another --nodes than 3, --readonly, a gateway this
//! console did not pair, unreachable etcd, an etcd TLS file the gateway cannot read, and a log
//! under the prefix that holds another gateway's state.

#[path = "cli_support/mod.rs"]
mod cli_support;
#[path = "ha_support/mod.rs"]
mod ha_support;

#[path = "ha_gateway_support/mod.rs"]
mod ha_gateway_support;

use cli_support::Transcript;
use ha_gateway_support::*;
use ha_support::{free_port, EtcdCluster};
use kubemaas::store::replica::StoredCa;
use kubemaas::store::{ReplicaLog, ReplicaOptions, Store};
use std::sync::Arc;

#[test]
fn refused_resizes_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let sim = start_sim();
    let config = root.path().join("gateway.yaml");
    single_node_yaml(&config, &sim);
    let before = std::fs::read(&config).unwrap();
    let (_gw, addr, code) = start_single(&root.path().join("node1"), &config);
    let console = root.path().join("console");
    let mut t = Transcript::default();
    t.ok(
        &console,
        &["gateway", "pair", "--address", &addr, "--code", &code],
    );
    let closed = format!("http://127.0.0.1:{}", free_port());
    let resize = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["gateway", "resize", "dc1", "--nodes", "3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_fail = |t: &mut Transcript, args: &[String]| -> String {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        t.fails(&console, &refs)
    };

    let err = run_fail(
        &mut t,
        &[
            "gateway",
            "resize",
            "dc1",
            "--nodes",
            "2",
            "--etcd-endpoint",
            &closed,
        ]
        .map(String::from),
    );
    assert!(err.contains("pass --nodes 3"), "{err}");

    let err = run_fail(
        &mut t,
        &["--readonly".to_string()]
            .into_iter()
            .chain(resize(&["--etcd-endpoint", &closed]))
            .collect::<Vec<_>>(),
    );
    assert!(err.contains("read-only"), "{err}");

    let err = run_fail(
        &mut t,
        &[
            "gateway",
            "resize",
            "dc9",
            "--nodes",
            "3",
            "--etcd-endpoint",
            &closed,
        ]
        .map(String::from),
    );
    assert!(err.contains("dc9"), "{err}");

    let err = run_fail(&mut t, &resize(&["--etcd-endpoint", &closed]));
    assert!(err.contains("unreachable"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(std::fs::read(&config).unwrap(), before);

    let err = run_fail(
        &mut t,
        &resize(&[
            "--etcd-endpoint",
            &closed,
            "--etcd-ca",
            "/nonexistent/etcd-ca.pem",
        ]),
    );
    assert!(err.contains("/nonexistent/etcd-ca.pem"), "{err}");
    assert_eq!(std::fs::read(&config).unwrap(), before);

    {
        let etcd = EtcdCluster::start(1);
        // Another gateway's state under /kubemaas/other.
        let other = tempfile::tempdir().unwrap();
        let log = kubemaas::ha::EtcdLog::connect(&etcd.config("/kubemaas/other")).unwrap();
        let store = Store::open_replicated(
            other.path(),
            log as Arc<dyn ReplicaLog>,
            ReplicaOptions::default(),
        )
        .unwrap();
        let ca = StoredCa {
            key_pem: "another key".into(),
            cert_pem: "another gateway's CA".into(),
        };
        store.tx(|tx| tx.seed_gateway_ca(&ca)).unwrap();
        drop(store);
        let endpoint = etcd.endpoints()[0].clone();
        let err = run_fail(
            &mut t,
            &resize(&[
                "--etcd-endpoint",
                &endpoint,
                "--etcd-prefix",
                "/kubemaas/other",
            ]),
        );
        assert!(err.contains("another gateway's state"), "{err}");
        assert!(err.contains("--etcd-prefix"), "{err}");
        assert_eq!(std::fs::read(&config).unwrap(), before);
    }

    // Still serving from its own state: a gateway on etcd would answer a resize without
    // endpoints with its nodes; this one asks for them.
    let shown = t.ok(&console, &["gateway", "show", "dc1"]);
    assert!(shown.contains("reachable:      yes"), "{shown}");
    let err = run_fail(&mut t, &resize(&[]));
    assert!(err.contains("--etcd-endpoint"), "{err}");
    t.assert_no_secrets(&sim.key);
}
