//! The console's engine source against the real embedded engine and the simulated MAAS: what
//! the cluster screens receive (plain rows, the journal after an id, MAAS status messages), and
//! that delete / resize / kubeconfig go through `EngineApi`. The engine is driven pass by pass
//! between simulator clock advances, so nothing depends on timing.

mod engine_support;

use engine_support::{spec, Harness};
use kubemaas::engine::{EmbeddedEngine, Engine};
use kubemaas::maas::{MaasClient, MaasConfig};
use kubemaas::tui::clusters::Phase;
use kubemaas::tui::engine_source::EngineSource;
use kubemaas::tui::source::ConsoleSource;
use std::sync::Arc;

async fn drive_until(
    h: &Harness,
    engine: &Engine,
    id: &kubemaas::store::ClusterId,
    phase: kubemaas::store::ClusterPhase,
) {
    h.until_phase(engine, id, phase).await;
}

#[tokio::test]
async fn the_console_follows_a_cluster_through_the_engine() {
    let h = Harness::new(12, 7).await;
    let embedded = EmbeddedEngine::with_store(h.store.clone(), h.config()).expect("engine opens");
    let reconciler: Arc<Engine> = embedded
        .engine()
        .expect("this test holds the reconciler lock");
    let client = MaasClient::new(MaasConfig::new(h.sim.endpoint(), h.sim.api_key())).unwrap();
    let source = EngineSource::new(embedded, h.dir.path().to_path_buf(), Some(client)).unwrap();

    // No clusters yet; the journal starts empty.
    assert!(source.clusters().await.unwrap().is_empty());
    let first = source.events_after(0, 100).await.unwrap();
    assert!(first.reconciling);

    let name = source
        .create_cluster(spec("web", 1, &[("workers", 1)]))
        .await
        .expect("the engine accepts the spec");
    // The embedded engine never queues: the cluster is created at once.
    assert_eq!(
        name,
        kubemaas::tui::source::CreateAnswer::Created("web".into())
    );
    assert!(source.queued_requests().await.unwrap().is_empty());
    let listed = source.clusters().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].phase, Phase::Pending);
    let id = h.cluster("web").id;
    drive_until(&h, &reconciler, &id, kubemaas::store::ClusterPhase::Running).await;

    let info = source.cluster("web".into()).await.unwrap();
    assert_eq!(info.phase, Phase::Running);
    assert_eq!(info.machines.len(), 2);
    assert!(info.endpoint.as_deref().unwrap().starts_with("https://"));
    // MAAS's status messages come with the machines.
    assert!(
        info.machines.iter().all(|m| !m.message.is_empty()),
        "{:?}",
        info.machines
    );
    assert!(info.pools.iter().all(|p| p.ready == p.desired));
    // The machines screen names the cluster that holds each of its machines.
    let rows = source.list_machines().await.unwrap();
    let held: Vec<_> = rows
        .iter()
        .filter(|r| r.cluster.as_deref() == Some("web"))
        .collect();
    assert_eq!(held.len(), 2, "{rows:?}");

    // The journal, oldest first; asking after the last id gives nothing new.
    let poll = source.events_after(0, 10_000).await.unwrap();
    assert!(poll.events.windows(2).all(|w| w[0].id < w[1].id));
    assert!(poll
        .events
        .iter()
        .any(|e| e.message.contains("cluster is running")));
    let last = poll.events.last().unwrap().id;
    assert!(source
        .events_after(last, 100)
        .await
        .unwrap()
        .events
        .is_empty());

    // The kubeconfig is written 0600.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.kubeconfig");
    source
        .write_kubeconfig("web".into(), path.clone())
        .await
        .expect("kubeconfig written");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("apiVersion"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    // Resize, settle; refusals come back worded for the flash line.
    source
        .scale_pool("web".into(), "workers".into(), 2)
        .await
        .unwrap();
    let err = source
        .scale_pool("web".into(), "nope".into(), 2)
        .await
        .unwrap_err();
    assert!(err.message.contains("nope"), "{}", err.message);
    h.drive(&reconciler, &id, 60, |c| {
        c.phase == kubemaas::store::ClusterPhase::Running
            && c.observed_generation == c.spec_generation
    })
    .await;
    let info = source.cluster("web".into()).await.unwrap();
    assert_eq!(info.machines.len(), 3);
    let err = source.abort_cluster("web".into()).await.unwrap_err();
    assert!(err.message.contains("Running"), "{}", err.message);

    // Delete: gone from the list, still readable by id (the detail keeps showing it).
    source.delete_cluster("web".into()).await.unwrap();
    drive_until(&h, &reconciler, &id, kubemaas::store::ClusterPhase::Deleted).await;
    assert!(source.clusters().await.unwrap().is_empty());
    let gone = source.cluster(id.to_string()).await.unwrap();
    assert_eq!(gone.phase, Phase::Deleted);
    h.assert_no_leak();
}
