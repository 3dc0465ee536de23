//! The gateway's upgrade gate and idempotent create, on an in-process gateway over mutual TLS
//! on 127.0.0.1 (no re-execution here: the process tests in gateway_upgrade.rs do that).
//!
//! Once an upload is installed the gateway drains: engine work gets `503 upgrading` with
//! `Retry-After`, reads still answer, and a console's create is queued instead of failing.
//! A create repeated with the same idempotency key answers the cluster the first one made.

use axum::Router;
use kubemaas::engine::{EmbeddedEngine, EngineConfig};
use kubemaas::gateway::client::{self, GatewayClient};
use kubemaas::gateway::clock::SystemClock;
use kubemaas::gateway::journal::{JournalFeed, DEFAULT_POLL};
use kubemaas::gateway::pairing::{Limits, Pairings};
use kubemaas::gateway::pki::GatewayPki;
use kubemaas::gateway::protocol::{GatewayInfo, MaasInfo, SpecBody, CLUSTERS_PATH};
use kubemaas::gateway::queue::{self, CreateOutcome, QueueState};
use kubemaas::gateway::registry::ConsoleRegistry;
use kubemaas::gateway::server::{GatewayServer, ServerOptions};
use kubemaas::gateway::upgrade_server::{UpgradeGate, UpgradeState};
use kubemaas::gateway::upgrade_version::ProtocolRange;
use kubemaas::gateway::{engine_routes, upgrade, upgrade_server, EngineService};
use kubemaas::maas::Endpoint;
use kubemaas::model::ClusterSpec;
use kubemaas::store::{NewAccount, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

const BIN: &str = env!("CARGO_BIN_EXE_kubemaas");

struct Setup {
    addr: String,
    gate: UpgradeGate,
    pairings: Pairings,
    installed: std::path::PathBuf,
    _stop: watch::Sender<bool>,
    dir: tempfile::TempDir,
}

async fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Store::open(&state).unwrap();
    store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "lab".into(),
                gateway: None,
                endpoint: Endpoint::parse("http://127.0.0.1:9/MAAS").unwrap(),
                api_key: "cOnSuMeRkEy:tOkEnKeYxyz:sEcReTsEcReTsEcReT"
                    .parse()
                    .unwrap(),
                ca_cert: None,
            })
        })
        .unwrap();
    let engine = EmbeddedEngine::watcher(store.clone(), EngineConfig::new(&state));
    let pki = Arc::new(GatewayPki::load_or_create(&dir.path().join("pki"), &[]).unwrap());
    let pairings = Pairings::new(Arc::new(SystemClock), Limits::default());
    let (stop, stop_rx) = watch::channel(false);
    let feed = JournalFeed::start(store.clone(), DEFAULT_POLL, stop_rx.clone()).unwrap();
    // The gateway's "installed executable": a file of its own, which an upgrade replaces.
    let installed = dir.path().join("bin").join("kubemaas");
    std::fs::create_dir_all(installed.parent().unwrap()).unwrap();
    std::fs::write(&installed, b"old").unwrap();
    let gate = UpgradeGate::new("gw", installed.clone());
    let api: Router = engine_routes(EngineService {
        engine,
        feed,
        state_dir: state.clone(),
        heartbeat: Duration::from_secs(5),
        wake_driver: Arc::new(Notify::new()),
        shutdown: stop_rx.clone(),
    })
    .layer(axum::middleware::from_fn_with_state(
        gate.clone(),
        upgrade_server::refuse_while_upgrading,
    ))
    .merge(gate.routes());
    let server = GatewayServer::bind(ServerOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        pki,
        pairings: pairings.clone(),
        consoles: ConsoleRegistry::in_memory(),
        info: GatewayInfo {
            name: "gw".into(),
            version: "0.1.0".into(),
            protocol: kubemaas::gateway::PROTOCOL_VERSION,
            maas: MaasInfo {
                endpoint: "http://127.0.0.1:9/MAAS/".into(),
                version: None,
            },
            default_account: "lab".into(),
        },
        api,
        heartbeat: Duration::from_secs(5),
    })
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let mut stopped = stop_rx;
    tokio::spawn(server.serve(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Setup {
        addr,
        gate,
        pairings,
        installed,
        _stop: stop,
        dir,
    }
}

impl Setup {
    async fn client(&self) -> GatewayClient {
        let code = self.pairings.issue();
        let m = client::pair(&self.addr, &code, "console").await.unwrap();
        GatewayClient::new(&self.addr, &m.ca_pem, &m.client_cert_pem, &m.client_key_pem)
            .unwrap()
            .named("gw")
    }
}

fn spec(name: &str) -> ClusterSpec {
    ClusterSpec::with_defaults(name, "lab", 1, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_create_with_the_same_key_makes_one_cluster() {
    let s = start().await;
    let client = s.client().await;
    let key = [("idempotency-key", "0123456789abcdef0123456789abcdef")];
    let body = SpecBody { spec: spec("web") };
    let first: kubemaas::engine::ClusterView =
        client.post_with(CLUSTERS_PATH, &body, &key).await.unwrap();
    let again: kubemaas::engine::ClusterView =
        client.post_with(CLUSTERS_PATH, &body, &key).await.unwrap();
    assert_eq!(first.id, again.id);
    // The same key with another body is refused (422, as the IETF draft has it), not answered
    // with the first cluster while the second request is silently dropped.
    let err = client
        .post_with::<_, serde_json::Value>(
            CLUSTERS_PATH,
            &SpecBody {
                spec: spec("other"),
            },
            &key,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("HTTP 422") && err.contains("different request") && err.contains("web"),
        "{err}"
    );
    // Without the key a second create of the same name is refused, as before.
    let err = client
        .post::<_, serde_json::Value>(CLUSTERS_PATH, &body)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("web"), "{err}");
    let clusters: Vec<serde_json::Value> = client.get(CLUSTERS_PATH).await.unwrap();
    assert_eq!(clusters.len(), 1);
    // A malformed key is refused with what to send.
    let err = client
        .post_with::<_, serde_json::Value>(
            CLUSTERS_PATH,
            &SpecBody { spec: spec("db") },
            &[("idempotency-key", "x")],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("16 to 128"), "{err}");

    // A console claiming a protocol this gateway does not speak is refused (426), both named.
    let other = client.clone().with_protocols(ProtocolRange {
        oldest: 7,
        newest: 7,
    });
    let err = other.info().await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 426") && err.contains("(protocol 7)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_draining_engine_work_gets_503_and_the_console_queues_it() {
    let s = start().await;
    let client = s.client().await;
    let console_dir = s.dir.path().join("console");
    let console_store = Store::open(&console_dir).unwrap();

    // Before: a create goes straight through and leaves nothing queued.
    match queue::create_or_queue(&console_store, "gw", &client, spec("first"))
        .await
        .unwrap()
    {
        CreateOutcome::Created(view) => assert_eq!(view.name, "first"),
        other => panic!("expected a created cluster, got {other:?}"),
    }
    assert!(queue::queued(&console_store, "gw").unwrap().is_empty());

    // Upload a "newer" build: a wrapper that reports 0.2.0 and runs this binary.
    let next = s.dir.path().join("next");
    std::fs::write(
        &next,
        format!("#!/bin/sh\nexport KUBEMAAS_REPORT_VERSION=0.2.0\nexec '{BIN}' \"$@\"\n"),
    )
    .unwrap();
    let (sha, len) = upgrade::sha256_file(&next).await.unwrap();
    let before = upgrade::status(&client).await.unwrap();
    let accepted = upgrade::upload(&client, &next, &sha, len).await.unwrap();
    assert_eq!(accepted.next.version, "0.2.0");
    assert_eq!(accepted.boot_id, before.boot_id);
    assert_eq!(
        std::fs::read(&s.installed).unwrap(),
        std::fs::read(&next).unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&s.installed)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o755);
    let restart = tokio::time::timeout(Duration::from_secs(10), s.gate.restart_requested())
        .await
        .unwrap();
    assert_eq!(restart.next.version, "0.2.0");
    let status = upgrade::status(&client).await.unwrap();
    assert_eq!(status.state, UpgradeState::Draining);
    assert_eq!(status.next_version.as_deref(), Some("0.2.0"));

    // A second upload while draining is refused.
    let err = upgrade::upload(&client, &next, &sha, len)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("already being upgraded"), "{err}");

    // Engine work: 503 with Retry-After; reads still answer.
    let response = client
        .send(
            client
                .request(reqwest::Method::POST, CLUSTERS_PATH)
                .unwrap()
                .json(&SpecBody { spec: spec("x") }),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap(),
        "5"
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("restarting into kubemaas 0.2.0"), "{text}");
    let clusters: Vec<serde_json::Value> = client.get(CLUSTERS_PATH).await.unwrap();
    assert_eq!(clusters.len(), 1);

    // The console keeps the request, Queued, with the gateway's reason.
    match queue::create_or_queue(&console_store, "gw", &client, spec("second"))
        .await
        .unwrap()
    {
        CreateOutcome::Queued(request) => {
            assert_eq!(request.name, "second");
            assert_eq!(request.state, QueueState::Queued);
            assert!(
                request.reason.as_deref().unwrap_or("").contains("503"),
                "{request:?}"
            );
        }
        other => panic!("expected a queued request, got {other:?}"),
    }
    let report = queue::flush(&console_store, "gw", &client).await.unwrap();
    assert!(report.submitted.is_empty());
    assert_eq!(report.still_queued, 1);
    let kept = queue::queued(&console_store, "gw").unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].state, QueueState::Queued);
}
