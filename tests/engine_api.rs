//! The engine interface between processes and the probes: a second engine on a state dir only
//! submits and watches; the lock holder claims its commands; secrets stay in a 0600 file;
//! tasks interrupted by a dead process are resumed; the simulator and HTTPS probes.

mod engine_support;

use engine_support::*;
use kubemaas::engine::{EmbeddedEngine, EngineApi, HttpsProbe, KubeProbe, ProbeTarget, SimProbe};
use kubemaas::store::{ClusterId, ClusterPhase, TaskState};

#[tokio::test]
async fn a_second_process_submits_and_the_lock_holder_acts() {
    let h = Harness::new(8, 71).await;
    let engine = h.engine();
    let id = create(&h, spec("shared", 1, &[("workers", 1)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;

    // Another "process" opens the same state dir: the lock is held, so it only submits.
    let other = EmbeddedEngine::open(h.config()).unwrap();
    assert!(other.engine().is_none());
    other.delete_cluster("shared", false).await.unwrap();
    assert_eq!(
        h.cluster("shared").phase,
        ClusterPhase::Running,
        "the submitter acted itself"
    );
    let c = h.drive(&engine, &id, 20, |c| c.is_deleted()).await;
    assert_eq!(c.phase, ClusterPhase::Deleted);
    let done = h.store.read(|r| r.commands(Some(&id), 10)).unwrap();
    assert_eq!(done[0].state.to_string(), "done");
}

#[tokio::test]
async fn secrets_live_in_a_private_file_and_tasks_resume_after_a_restart() {
    let h = Harness::new(8, 72).await;
    let id = create(&h, spec("secret", 1, &[("workers", 1)])).await;
    {
        let engine = h.engine();
        for _ in 0..2 {
            engine.step().await.unwrap();
            h.sim.advance(60.0);
        }
    }
    let path = kubemaas::engine::secrets::secrets_path(h.dir.path(), &id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let c = h.cluster("secret");
    assert!(!c.status.to_string().contains("PRIVATE KEY"));
    // A new engine: the old create task is interrupted, a new one resumes the work.
    let engine = h.engine();
    let tasks = h.store.read(|r| r.tasks(Some(&id), 10)).unwrap();
    assert!(tasks.iter().any(|t| t.state == TaskState::Interrupted));
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let tasks = h.store.read(|r| r.tasks(Some(&id), 10)).unwrap();
    assert_eq!(tasks[0].state, TaskState::Succeeded, "{tasks:?}");
    h.assert_no_leak();
}

fn target(id: &str) -> ProbeTarget {
    ProbeTarget {
        cluster: ClusterId::parse(id).unwrap(),
        server_url: "https://127.0.0.1:9/".trim_end_matches('/').into(),
        ca_pem: String::new(),
        client_cert_pem: String::new(),
        client_key_pem: String::new(),
    }
}

#[tokio::test]
async fn the_simulator_probe_reads_the_simulators_kubernetes_answer() {
    use axum::{extract::Path, routing::get, Json, Router};
    let app = Router::new().route(
        "/_sim/k8s/clusters/{id}",
        get(|Path(id): Path<String>| async move {
            if id == "0000000a" {
                Ok(Json(serde_json::json!({
                    "api_server_ready": true,
                    "nodes": [{"name": "n1", "role": "control-plane", "ready": true},
                              {"name": "n2", "role": "worker", "ready": false}]
                })))
            } else {
                Err(axum::http::StatusCode::NOT_FOUND)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let probe = SimProbe::new(format!("http://{addr}"));
    let health = probe.probe(&target("0000000a")).await.unwrap();
    assert!(health.api_server_ready);
    assert!(health.node_ready("n1") && !health.node_ready("n2") && !health.node_ready("n3"));
    let unknown = probe.probe(&target("0000000b")).await.unwrap();
    assert!(!unknown.api_server_ready && unknown.nodes.is_empty());
}

#[tokio::test]
async fn the_https_probe_reports_an_unreachable_or_misconfigured_api_server_as_an_error() {
    // An unusable client key is named without quoting it.
    let err = HttpsProbe.probe(&target("0000000a")).await.unwrap_err();
    assert!(err.to_string().contains("unreadable"), "{err}");
    // Usable credentials, but nothing listens (loopback, a closed port).
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut t = target("0000000a");
    t.server_url = format!("https://127.0.0.1:{port}");
    t.ca_pem = cert.pem();
    t.client_cert_pem = cert.pem();
    t.client_key_pem = key.serialize_pem();
    let err = HttpsProbe.probe(&t).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.to_string().contains("PRIVATE KEY"));
}

#[tokio::test]
async fn the_driver_loop_runs_passes_until_told_to_stop() {
    let h = Harness::new(8, 73).await;
    let mut config = h.config();
    config.poll_interval = std::time::Duration::ZERO;
    let engine =
        std::sync::Arc::new(kubemaas::engine::Engine::start(h.store.clone(), config).unwrap());
    let id = create(&h, spec("looped", 1, &[("workers", 1)])).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run(stop_rx).await })
    };
    // Virtual time moves a minute at a time while the driver passes on its own.
    let mut running = false;
    for _ in 0..100_000 {
        if h.store.read(|r| r.cluster(&id)).unwrap().phase == ClusterPhase::Running {
            running = true;
            break;
        }
        h.sim.advance(60.0);
        tokio::task::yield_now().await;
    }
    stop_tx.send(true).unwrap();
    runner.await.unwrap().unwrap();
    assert!(running);
}

#[tokio::test]
async fn abort_is_refused_for_an_update_of_a_running_cluster() {
    let h = Harness::new(8, 74).await;
    let engine = h.engine();
    let id = create(&h, spec("upd", 1, &[("workers", 1)])).await;
    h.until_phase(&engine, &id, ClusterPhase::Running).await;
    let api = h.api();
    api.scale_pool("upd", "workers", 2).await.unwrap();
    engine.step().await.unwrap();
    assert_eq!(h.cluster("upd").phase, ClusterPhase::Updating);
    let err = api.abort_cluster("upd").await.unwrap_err().to_string();
    assert!(err.contains("previous spec"), "{err}");
    let mut moved = kubemaas::model::ClusterSpec::from_yaml(
        &h.cluster("upd")
            .spec_as::<kubemaas::model::ClusterSpec>()
            .unwrap()
            .to_yaml(),
    )
    .unwrap();
    moved.spec.cloud_account = "elsewhere".into();
    let err = api.update_spec("upd", moved).await.unwrap_err().to_string();
    assert!(err.contains("stays on the MAAS"), "{err}");
}

#[tokio::test]
async fn waiting_takes_over_when_the_reconciling_process_exits() {
    let h = Harness::new(8, 75).await;
    let first = h.engine();
    let id = create(&h, spec("handover", 1, &[("workers", 1)])).await;
    first.step().await.unwrap();
    h.sim.advance(60.0);
    let mut config = h.config();
    config.poll_interval = std::time::Duration::ZERO;
    let other = EmbeddedEngine::watcher(h.store.clone(), config);
    assert!(other.take_over().unwrap().is_none(), "the lock is held");
    drop(first);
    let sim = h.sim.clone();
    let view = other
        .wait("handover", kubemaas::engine::WaitFor::Running, move |_| {
            sim.advance(60.0)
        })
        .await
        .unwrap();
    assert_eq!(view.phase, ClusterPhase::Running);
    assert!(other.engine().is_some());
    assert!(h.store.open_intents(Some(&id)).unwrap().is_empty());
    h.assert_no_leak();
}
