//! The simulator's etcd: every control-plane node becomes a member as it registers (workers
//! never do), answers etcd's JSON gateway shapes on the control API, leaves only when removed,
//! refuses removals that would break quorum, can be made to fail, and records a fault when a
//! control-plane machine is released while still a member.

mod sim_common;

use kubemaas::sim::k8s::{K8sEtcdError, K8sEtcdMember};
use kubemaas::sim::SimHandle;
use serde_json::Value;
use sim_common::k8s::*;
use sim_common::*;

/// A control API call; a JSON body parsed, any other kept as a string.
async fn post(sim: &SimHandle, path: &str) -> (u16, Value) {
    let (status, text) = control_post(sim, path).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn members(sim: &SimHandle, cluster: &str) -> Vec<K8sEtcdMember> {
    sim.k8s_cluster(cluster).unwrap().etcd_members
}

fn member<'a>(ms: &'a [K8sEtcdMember], name: &str) -> &'a K8sEtcdMember {
    ms.iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} is not a member: {ms:?}"))
}

/// `c1`: three control-plane nodes and a worker, all Ready. Returns their system ids.
async fn cluster(sim: &SimHandle) -> Vec<String> {
    let ids = vec![
        deploy(sim, 0, "c1", "cp-1", "init_control_plane").await,
        deploy(sim, 1, "c1", "cp-2", "join_control_plane").await,
        deploy(sim, 2, "c1", "cp-3", "join_control_plane").await,
        deploy(sim, 3, "c1", "w-1", "worker").await,
    ];
    until_ready(sim, "c1", &["cp-1", "cp-2", "cp-3", "w-1"]);
    ids
}

#[tokio::test]
async fn control_plane_nodes_are_members_listed_as_the_etcd_gateway_does() {
    let sim = start(ready_fleet(5)).await;
    // Before anything joined there is no etcd to answer.
    let (status, body) = post(&sim, "k8s/clusters/c1/etcd/member/list").await;
    assert_eq!(status, 404, "{body}");
    let ids = cluster(&sim).await;

    let ms = members(&sim, "c1");
    let names: Vec<&str> = ms.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["cp-1", "cp-2", "cp-3"], "workers are not members");
    for (m, sid) in ms.iter().zip(&ids) {
        assert_eq!(&m.system_id, sid);
        assert!(m.started);
        let ip = sim.machine(sid).unwrap().ip_addresses()[0].clone();
        assert_eq!(m.peer_urls, [format!("https://{ip}:2380")]);
        assert_eq!(m.client_urls, [format!("https://{ip}:2379")]);
    }
    let mut distinct: Vec<u64> = ms.iter().map(|m| m.id).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);

    let (status, body) = post(&sim, "k8s/clusters/c1/etcd/member/list").await;
    assert_eq!(status, 200, "{body}");
    let listed = body["members"].as_array().unwrap();
    assert_eq!(listed.len(), 3);
    // uint64 travels as a decimal string, under the proto field names.
    assert_eq!(listed[0]["ID"], Value::String(ms[0].id.to_string()));
    assert_eq!(listed[0]["name"], "cp-1");
    assert_eq!(
        listed[0]["peerURLs"][0],
        Value::String(ms[0].peer_urls[0].clone())
    );
    assert!(sim.k8s_cluster("c1").unwrap().etcd_faults.is_empty());
}

#[tokio::test]
async fn a_removed_member_is_gone_and_its_release_is_no_fault() {
    let sim = start(ready_fleet(5)).await;
    let ids = cluster(&sim).await;
    let cp3 = member(&members(&sim, "c1"), "cp-3").id;

    let (status, body) = post(&sim, &format!("k8s/clusters/c1/etcd/members/{cp3}/remove")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"].as_array().unwrap().len(), 2);
    assert!(members(&sim, "c1").iter().all(|m| m.name != "cp-3"));
    // Again: etcd's NotFound.
    let (status, body) = post(&sim, &format!("k8s/clusters/c1/etcd/members/{cp3}/remove")).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(5)), "{body}");
    assert_eq!(body["message"], "etcdserver: member not found");
    let (status, _) = post(&sim, "k8s/clusters/c1/etcd/members/not-a-number/remove").await;
    assert_eq!(status, 400);

    release(&sim, &ids[2]).await;
    assert!(sim.k8s_cluster("c1").unwrap().etcd_faults.is_empty());
    // The node is gone from Kubernetes too; the two members stay.
    assert_eq!(members(&sim, "c1").len(), 2);
}

#[tokio::test]
async fn releasing_a_member_records_a_fault_and_leaves_a_dead_member_that_guards_quorum() {
    let sim = start(ready_fleet(5)).await;
    let ids = cluster(&sim).await;
    let before = members(&sim, "c1");

    release(&sim, &ids[1]).await;
    let view = sim.k8s_cluster("c1").unwrap();
    assert_eq!(view.etcd_faults.len(), 1, "{:?}", view.etcd_faults);
    let fault = &view.etcd_faults[0];
    assert_eq!(
        (fault.name.as_str(), fault.system_id.as_str(), fault.members),
        ("cp-2", ids[1].as_str(), 3)
    );
    assert_eq!(fault.member_id, member(&before, "cp-2").id);
    // Releasing a worker, or a member's machine again, adds nothing.
    release(&sim, &ids[3]).await;
    release(&sim, &ids[1]).await;
    assert_eq!(sim.k8s_cluster("c1").unwrap().etcd_faults.len(), 1);

    // cp-2 stays a member, dead: three members, two started.
    let ms = members(&sim, "c1");
    assert_eq!(ms.len(), 3);
    assert!(!member(&ms, "cp-2").started);
    assert!(member(&ms, "cp-2").client_urls.is_empty());
    // Removing a live member would leave one started of two: refused, as etcd's strict
    // reconfiguration check does.
    let cp3 = member(&ms, "cp-3").id;
    let err = sim.k8s_etcd_remove("c1", cp3).unwrap_err();
    assert!(
        matches!(
            err,
            K8sEtcdError::NotEnoughStarted {
                started: 1,
                left: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let (status, body) = post(&sim, &format!("k8s/clusters/c1/etcd/members/{cp3}/remove")).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(9)), "{body}");
    // The dead one can go; then the last two…
    sim.k8s_etcd_remove("c1", member(&ms, "cp-2").id).unwrap();
    sim.k8s_etcd_remove("c1", cp3).unwrap();
    // …but never the last.
    let last = member(&members(&sim, "c1"), "cp-1").id;
    assert!(matches!(
        sim.k8s_etcd_remove("c1", last),
        Err(K8sEtcdError::NotEnoughStarted { left: 0, .. })
    ));
}

#[tokio::test]
async fn injected_failures_refuse_that_many_removals() {
    let sim = start(ready_fleet(5)).await;
    cluster(&sim).await;
    let cp3 = member(&members(&sim, "c1"), "cp-3").id;
    let (status, _) = post(&sim, "k8s/clusters/c1/etcd/fail?count=x").await;
    assert_eq!(status, 400);
    let (status, _) = post(&sim, "k8s/clusters/c1/etcd/fail?count=2").await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let (status, body) =
            post(&sim, &format!("k8s/clusters/c1/etcd/members/{cp3}/remove")).await;
        assert_eq!((status, body["code"].as_u64()), (503, Some(14)), "{body}");
    }
    assert_eq!(
        members(&sim, "c1").len(),
        3,
        "nothing removed while failing"
    );
    let (status, body) = post(&sim, &format!("k8s/clusters/c1/etcd/members/{cp3}/remove")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(members(&sim, "c1").len(), 2);
}

#[tokio::test]
async fn etcd_does_not_answer_before_a_member_is_up() {
    let sim = start(ready_fleet(2)).await;
    deploy(&sim, 0, "c2", "cp-1", "init_control_plane").await;
    // Deployed but kubeadm init not done yet: no member.
    let (status, body) = post(&sim, "k8s/clusters/c2/etcd/member/list").await;
    assert_eq!((status, body["code"].as_u64()), (503, Some(14)), "{body}");
    assert!(matches!(
        sim.k8s_etcd_members("c2"),
        Err(K8sEtcdError::Unavailable(_))
    ));
    until_ready(&sim, "c2", &["cp-1"]);
    assert_eq!(sim.k8s_etcd_members("c2").unwrap().len(), 1);
}
