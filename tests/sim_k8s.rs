//! The simulator's Kubernetes side: node identities learnt from user-data, the API server and
//! nodes coming up on the virtual clock, nodes leaving with their machines, and the control API.

mod sim_common;

use chrono::{DateTime, Duration, Utc};
use kubemaas::bootstrap::NodeRole;
use kubemaas::maas::{DeployRequest, NodeStatus};
use kubemaas::sim::k8s::{K8sCluster, API_SERVER_SECS, JOIN_SECS, NODE_READY_SECS};
use kubemaas::sim::SimHandle;
use sim_common::k8s::*;
use sim_common::*;

/// Moves the frozen clock to exactly `t` (never backwards).
fn advance_to(sim: &SimHandle, t: DateTime<Utc>) {
    let now = sim.clock().now();
    assert!(t >= now, "the test would move the clock backwards");
    sim.advance((t - now).num_milliseconds() as f64 / 1000.0);
    assert_eq!(sim.clock().now(), t);
}

/// Advances in 10 s steps until `system_id` is Deployed; returns when MAAS said so.
fn until_deployed(sim: &SimHandle, system_id: &str) -> DateTime<Utc> {
    for _ in 0..200 {
        if sim.machine(system_id).unwrap().status == NodeStatus::Deployed {
            return sim.with_region(|r| {
                r.events()
                    .iter()
                    .rev()
                    .find(|e| e.node == system_id && e.kind == "Deployed")
                    .map(|e| e.created)
                    .unwrap()
            });
        }
        sim.advance(10.0);
    }
    panic!("{system_id} never deployed");
}

fn view(sim: &SimHandle, cluster: &str) -> K8sCluster {
    sim.k8s_cluster(cluster).expect("cluster known")
}

fn names_and_readiness(v: &K8sCluster) -> Vec<(String, bool)> {
    v.nodes.iter().map(|n| (n.name.clone(), n.ready)).collect()
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

#[tokio::test]
async fn api_server_then_nodes_come_up_on_the_virtual_clock() {
    let sim = start(ready_fleet(4)).await;
    assert!(sim.k8s_cluster("c1").is_none(), "nothing deployed yet");

    let init = deploy(&sim, 0, "c1", "cp-1", "init_control_plane").await;
    let v = view(&sim, "c1");
    assert!(!v.api_server_ready);
    assert!(v.nodes.is_empty());

    let d_init = until_deployed(&sim, &init);
    assert!(!view(&sim, "c1").api_server_ready);
    // A worker deployed now finishes long after the API server is up (a deployment takes
    // at least eight virtual minutes), so it joins JOIN_SECS after its own deployment.
    let worker = deploy(&sim, 1, "c1", "worker-1", "worker").await;

    advance_to(
        &sim,
        d_init + secs(API_SERVER_SECS) - Duration::milliseconds(1),
    );
    let v = view(&sim, "c1");
    assert!(!v.api_server_ready, "{v:?}");
    assert!(v.nodes.is_empty());

    advance_to(&sim, d_init + secs(API_SERVER_SECS));
    let v = view(&sim, "c1");
    assert!(v.api_server_ready);
    assert_eq!(names_and_readiness(&v), [("cp-1".to_string(), false)]);
    assert_eq!(v.nodes[0].role, NodeRole::InitControlPlane);
    assert_eq!(v.nodes[0].system_id, init);
    assert!(!v.all_ready());

    advance_to(&sim, d_init + secs(API_SERVER_SECS + NODE_READY_SECS));
    let v = view(&sim, "c1");
    assert_eq!(names_and_readiness(&v), [("cp-1".to_string(), true)]);
    assert!(v.all_ready(), "the worker has not registered yet");

    let d_worker = until_deployed(&sim, &worker);
    assert!(d_worker > d_init + secs(API_SERVER_SECS));
    advance_to(&sim, d_worker + secs(JOIN_SECS) - Duration::milliseconds(1));
    assert_eq!(view(&sim, "c1").nodes.len(), 1, "not joined yet");
    advance_to(&sim, d_worker + secs(JOIN_SECS));
    let v = view(&sim, "c1");
    assert_eq!(
        names_and_readiness(&v),
        [("cp-1".to_string(), true), ("worker-1".to_string(), false)]
    );
    assert_eq!(v.nodes[1].role, NodeRole::Worker);
    advance_to(&sim, d_worker + secs(JOIN_SECS + NODE_READY_SECS));
    assert!(view(&sim, "c1").all_ready());
    assert_eq!(view(&sim, "c1").nodes.len(), 2);

    // Released: the node is gone at once.
    release(&sim, &worker).await;
    let v = view(&sim, "c1");
    assert_eq!(names_and_readiness(&v), [("cp-1".to_string(), true)]);
    // Other clusters are unaffected and unknown ones stay unknown.
    assert!(sim.k8s_cluster("c2").is_none());
}

#[tokio::test]
async fn a_node_deployed_early_joins_only_once_the_api_server_is_up() {
    let sim = start(ready_fleet(3)).await;
    let init = deploy(&sim, 0, "c1", "cp-1", "init_control_plane").await;
    let worker = deploy(&sim, 1, "c1", "w-1", "worker").await;
    let d_worker = until_deployed(&sim, &worker);
    let d_init = until_deployed(&sim, &init);
    let api_up = d_init + secs(API_SERVER_SECS);
    let worker_joins = (d_worker + secs(JOIN_SECS)).max(api_up);
    assert!(worker_joins >= api_up);
    advance_to(&sim, api_up);
    let v = view(&sim, "c1");
    assert!(v.api_server_ready);
    let listed: Vec<String> = v.nodes.iter().map(|n| n.name.clone()).collect();
    if worker_joins == api_up {
        assert_eq!(
            listed,
            ["cp-1", "w-1"],
            "joined the moment the API answered"
        );
    } else {
        assert_eq!(listed, ["cp-1"]);
        advance_to(&sim, worker_joins);
        assert_eq!(view(&sim, "c1").nodes.len(), 2);
    }
    advance_to(&sim, worker_joins.max(api_up) + secs(NODE_READY_SECS));
    assert!(view(&sim, "c1").all_ready());
}

#[tokio::test]
async fn the_control_plane_survives_losing_its_init_node_but_not_all_of_them() {
    let sim = start(ready_fleet(3)).await;
    let init = deploy(&sim, 0, "c9", "cp-1", "init_control_plane").await;
    let join = deploy(&sim, 1, "c9", "cp-2", "join_control_plane").await;
    let d_init = until_deployed(&sim, &init);
    let d_join = until_deployed(&sim, &join);
    let all_ready =
        (d_join + secs(JOIN_SECS)).max(d_init + secs(API_SERVER_SECS)) + secs(NODE_READY_SECS);
    advance_to(&sim, all_ready.max(sim.clock().now()));
    let v = view(&sim, "c9");
    assert!(v.all_ready(), "{v:?}");
    assert_eq!(
        v.nodes.iter().map(|n| n.role).collect::<Vec<_>>(),
        [NodeRole::InitControlPlane, NodeRole::JoinControlPlane]
    );

    // A power loss makes the node NotReady (its kubelet stops reporting).
    assert!(sim.power_loss(&join));
    let v = view(&sim, "c9");
    assert!(v.api_server_ready);
    assert_eq!(
        names_and_readiness(&v),
        [("cp-1".to_string(), true), ("cp-2".to_string(), false)]
    );
    sim.set_power_state(&join, kubemaas::maas::PowerState::On);
    assert!(view(&sim, "c9").all_ready());

    // Rolling the control plane: the init node leaves, the joined one keeps serving.
    release(&sim, &init).await;
    let v = view(&sim, "c9");
    assert!(v.api_server_ready);
    assert_eq!(names_and_readiness(&v), [("cp-2".to_string(), true)]);

    // The last control-plane node goes: nothing answers any more.
    release(&sim, &join).await;
    let v = view(&sim, "c9");
    assert!(!v.api_server_ready);
    assert!(v.nodes.is_empty());
    // Still a known cluster: its machines were deployed here.
    assert_eq!(v.cluster_id, "c9");
}

#[tokio::test]
async fn machines_without_an_identity_are_not_nodes() {
    let sim = start(ready_fleet(2)).await;
    let id = sim.machines()[0].system_id.clone();
    let request = DeployRequest {
        distro_series: Some("jammy".into()),
        user_data: Some(b"#cloud-config\npackages: [htop]\n".to_vec()),
        ..Default::default()
    };
    client(&sim).deploy(&id, &request).await.unwrap();
    until_deployed(&sim, &id);
    sim.advance(3600.0);
    assert!(sim.with_region(|r| r.k8s.cluster_ids().is_empty()));
}

#[tokio::test]
async fn the_control_api_serves_the_cluster_and_404s_unknown_ones() {
    let sim = start(ready_fleet(2)).await;
    let http = reqwest::Client::new();
    let url = |id: &str| kubemaas::sim::k8s::cluster_url(&sim.endpoint(), id).to_string();
    assert_eq!(
        url("abc12345"),
        format!("{}k8s/clusters/abc12345", sim.control_url())
    );

    let resp = http.get(url("nope")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(resp.text().await.unwrap().contains("nope"));

    let init = deploy(&sim, 0, "c-7f3a", "cp-1", "init_control_plane").await;
    let d = until_deployed(&sim, &init);
    advance_to(&sim, d + secs(API_SERVER_SECS + NODE_READY_SECS));
    let resp = http.get(url("c-7f3a")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["api_server_ready"], true);
    assert_eq!(body["nodes"][0]["name"], "cp-1");
    assert_eq!(body["nodes"][0]["role"], "init_control_plane");
    assert_eq!(body["nodes"][0]["ready"], true);
    // The engine can read it back with the simulator's own type.
    let typed: K8sCluster = serde_json::from_value(body).unwrap();
    assert!(typed.all_ready());
}

#[tokio::test]
async fn version_says_this_is_the_kubemaas_simulator() {
    let sim = start(ready_fleet(1)).await;
    let version = client(&sim).version().await.unwrap();
    assert!(
        version
            .capabilities
            .iter()
            .any(|c| c == "kubemaas-simulator"),
        "{version:?}"
    );
    assert!(version.capabilities.iter().any(|c| c == "authenticate-api"));
}
