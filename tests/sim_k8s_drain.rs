//! The simulator's Kubernetes drains: a drain cordons a registered node at once and deletes it
//! a fixed virtual time later; a held node (a PodDisruptionBudget) never finishes until let go;
//! the control API serves it all, refusing nodes that are not registered and clusters whose
//! API server is down.

mod sim_common;

use chrono::Duration;
use kubemaas::maas::NodeStatus;
use kubemaas::sim::k8s::{K8sDrain, K8sDrainError, DRAIN_SECS, PODS_PER_NODE};
use kubemaas::sim::SimHandle;
use sim_common::k8s::*;
use sim_common::*;

/// A cluster `c1` with an init control plane and two workers, all Ready.
async fn cluster() -> SimHandle {
    let sim = start(ready_fleet(4)).await;
    deploy(&sim, 0, "c1", "cp-1", "init_control_plane").await;
    deploy(&sim, 1, "c1", "w-1", "worker").await;
    deploy(&sim, 2, "c1", "w-2", "worker").await;
    until_ready(&sim, "c1", &["cp-1", "w-1", "w-2"]);
    sim
}

fn listed(sim: &SimHandle, node: &str) -> Option<kubemaas::sim::k8s::K8sNode> {
    sim.k8s_cluster("c1")
        .unwrap()
        .nodes
        .into_iter()
        .find(|n| n.name == node)
}

#[tokio::test]
async fn a_drain_cordons_at_once_and_deletes_the_node_after_the_drain_time() {
    let sim = cluster().await;
    let start = sim.clock().now();
    let (status, body) = control_post(&sim, "k8s/clusters/c1/nodes/w-1/drain").await;
    assert_eq!(status, 200, "{body}");
    let d: K8sDrain = serde_json::from_str(&body).unwrap();
    assert_eq!(d.node, "w-1");
    assert!(d.unschedulable);
    assert_eq!(d.drain_started_at, start);
    assert_eq!(d.drained_at, None);
    assert!(!d.held);
    assert_eq!(d.pods_remaining, PODS_PER_NODE);
    assert!(listed(&sim, "w-1").unwrap().unschedulable);
    assert!(!listed(&sim, "w-2").unwrap().unschedulable);

    sim.advance((DRAIN_SECS - 1) as f64);
    assert!(listed(&sim, "w-1").is_some(), "still evicting");
    // Asking again does not restart it.
    let again = sim.k8s_drain("c1", "w-1").unwrap();
    assert_eq!(again.drain_started_at, start);
    sim.advance(1.0);
    assert!(listed(&sim, "w-1").is_none(), "the Node is deleted");
    let v = sim.k8s_cluster("c1").unwrap();
    assert_eq!(v.drains.len(), 1);
    assert_eq!(
        v.drains[0].drained_at,
        Some(start + Duration::seconds(DRAIN_SECS))
    );
    assert_eq!(v.drains[0].pods_remaining, 0);
    // A finished drain answers as finished, however often it is asked.
    let (status, body) = control_post(&sim, "k8s/clusters/c1/nodes/w-1/drain").await;
    assert_eq!(status, 200);
    let d: K8sDrain = serde_json::from_str(&body).unwrap();
    assert_eq!(d.drained_at, Some(start + Duration::seconds(DRAIN_SECS)));
    // The machine itself is untouched: releasing it is MAAS's business.
    assert_eq!(
        sim.machine(&d.system_id).unwrap().status,
        NodeStatus::Deployed
    );
}

#[tokio::test]
async fn a_held_node_never_drains_until_let_go() {
    let sim = cluster().await;
    let (status, body) = control_post(&sim, "k8s/clusters/c1/nodes/w-2/hold").await;
    assert_eq!(status, 200, "{body}");
    let d = sim.k8s_drain("c1", "w-2").unwrap();
    assert!(d.held);
    assert_eq!(d.drained_at, None);
    sim.advance(3600.0);
    let d = sim.k8s_drain("c1", "w-2").unwrap();
    assert!(d.held && d.drained_at.is_none(), "{d:?}");
    assert!(listed(&sim, "w-2").is_some());

    let (status, _) = control_post(&sim, "k8s/clusters/c1/nodes/w-2/unhold").await;
    assert_eq!(status, 200);
    let d = sim.k8s_drain("c1", "w-2").unwrap();
    assert_eq!(
        d.drained_at,
        Some(sim.clock().now()),
        "let go long after: done now"
    );
    assert!(listed(&sim, "w-2").is_none());
}

#[tokio::test]
async fn drain_time_is_settable_and_bad_calls_are_refused() {
    let sim = cluster().await;
    let (status, body) = control_post(&sim, "k8s/drain_seconds?seconds=-3").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = control_post(&sim, "k8s/drain_seconds?seconds=5").await;
    assert_eq!(status, 200);
    let d = sim.k8s_drain("c1", "w-1").unwrap();
    sim.advance(5.0);
    assert_eq!(
        sim.k8s_drain("c1", "w-1").unwrap().drained_at,
        Some(d.drain_started_at + Duration::seconds(5))
    );

    let (status, body) = control_post(&sim, "k8s/clusters/c1/nodes/nope/drain").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("nope"), "{body}");
    assert_eq!(
        sim.k8s_drain("c9", "w-1").unwrap_err(),
        K8sDrainError::NoCluster("c9".into())
    );
    let (status, body) = control_post(&sim, "k8s/clusters/c1/nodes/w-1/cook").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = control_post(&sim, "k8s/elsewhere").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn nothing_drains_while_the_api_server_is_down_or_before_the_node_joined() {
    let sim = start(ready_fleet(3)).await;
    deploy(&sim, 0, "c2", "cp-1", "init_control_plane").await;
    let (status, body) = control_post(&sim, "k8s/clusters/c2/nodes/cp-1/drain").await;
    assert_eq!(status, 503, "{body}");
    until_ready(&sim, "c2", &["cp-1"]);
    // Deployed but not joined yet: not in the API, so nothing to cordon.
    deploy(&sim, 1, "c2", "w-1", "worker").await;
    assert_eq!(
        sim.k8s_drain("c2", "w-1").unwrap_err(),
        K8sDrainError::NoNode {
            cluster: "c2".into(),
            node: "w-1".into()
        }
    );
    until_ready(&sim, "c2", &["w-1"]);
    assert!(sim.k8s_drain("c2", "w-1").is_ok());
}
