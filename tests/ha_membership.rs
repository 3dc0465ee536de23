//! Repairing a 3-node gateway's etcd membership when a node is replaced
//! (`kubemaas::ha::membership`), against 3 real etcd members on 127.0.0.1: a member is killed,
//! the survivors drop it and admit a newcomer, which starts with state `existing` and the
//! initial cluster the repair returned; the cluster ends with 3 started members and the data
//! written before is read through the newcomer. Reruns change nothing; the member answering is
//! never removed; without a quorum the repair is refused and says so.

#[path = "ha_support/mod.rs"]
mod ha_support;

use ha_support::{free_port, EtcdCluster};
use kubemaas::ha::membership::{list_at, repair_at, MembershipError, Peer, RepairRequest};
use kubemaas::ha::EtcdConfig;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn peer(name: &str, url: &str, new: bool) -> Peer {
    Peer {
        name: name.into(),
        peer_url: url.into(),
        new,
    }
}

#[test]
fn a_dead_member_is_replaced_and_the_newcomer_serves_what_was_written_before() {
    let mut etcd = EtcdCluster::start(3);
    let rt = runtime();
    let all = etcd.config("/t");
    rt.block_on(async {
        let c = all.connect().await.unwrap();
        c.put(b"/t/before", b"kept").await.unwrap();
    });
    etcd.kill(2);

    // A survivor is asked, as a gateway node asks its own member on loopback.
    let survivor = EtcdConfig::new(vec![etcd.endpoint(0)]);
    let port = free_port();
    let newcomer = format!("http://127.0.0.1:{port}");
    let request = RepairRequest {
        members: vec![
            peer(&etcd.name(0), &etcd.peer_url(0), false),
            peer(&etcd.name(1), &etcd.peer_url(1), false),
            peer("m3", &newcomer, true),
        ],
    };
    let done = rt.block_on(repair_at(&survivor, &request)).unwrap();
    assert_eq!(done.removed, vec!["m2".to_string()]);
    assert_eq!(done.added, vec![request.members[2].clone()]);
    let mut listed: Vec<&str> = done.initial_cluster.split(',').collect();
    listed.sort();
    let mut want = vec![
        format!("m0={}", etcd.peer_url(0)),
        format!("m1={}", etcd.peer_url(1)),
        format!("m3={newcomer}"),
    ];
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(done.members.len(), 3);
    assert!(done
        .members
        .iter()
        .any(|m| !m.started && m.peer_urls == vec![newcomer.clone()]));

    // A rerun (the deploy interrupted after the repair) changes nothing and answers the same.
    let again = rt.block_on(repair_at(&survivor, &request)).unwrap();
    assert!(
        again.removed.is_empty() && again.added.is_empty(),
        "{again:?}"
    );
    assert_eq!(again.initial_cluster, done.initial_cluster);

    // The newcomer joins with what the repair returned.
    let i = etcd.join("m3", port, &done.initial_cluster);
    etcd.wait_ready().unwrap();
    let (members, _) = rt
        .block_on(list_at(&EtcdConfig::new(vec![etcd.endpoint(i)])))
        .unwrap();
    let mut names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["m0", "m1", "m3"]);
    assert!(members.iter().all(|m| m.started && !m.learner));
    // Data written before the replacement, read through the newcomer alone.
    let value = rt.block_on(async {
        let c = EtcdConfig::new(vec![etcd.endpoint(i)])
            .connect()
            .await
            .unwrap();
        let r = c
            .range(&kubemaas::etcd::Range::key("/t/before"))
            .await
            .unwrap();
        String::from_utf8(r.kvs[0].value.clone()).unwrap()
    });
    assert_eq!(value, "kept");
    // Every member is healthy: each answers a write on its own (wait_ready did one per
    // member); and the cluster now survives the loss of an original member.
    // (A write waits out the election that follows; polled, the deadline only bounds a
    // broken run.)
    etcd.kill(1);
    let through_newcomer = EtcdConfig::new(vec![etcd.endpoint(i)]);
    ha_support::eventually("a write succeeds with m0 and the newcomer alone", || {
        rt.block_on(async {
            let c = through_newcomer.connect().await.ok()?;
            c.put(b"/t/after", b"ok").await.ok()
        })
        .is_some()
    });
}

#[test]
fn the_member_answering_is_never_removed_and_without_quorum_nothing_changes() {
    let mut etcd = EtcdCluster::start(3);
    let rt = runtime();
    let at0 = EtcdConfig::new(vec![etcd.endpoint(0)]);
    // Asked to drop itself: refused, nothing removed.
    let without_self = RepairRequest {
        members: vec![
            peer(&etcd.name(1), &etcd.peer_url(1), false),
            peer(&etcd.name(2), &etcd.peer_url(2), false),
        ],
    };
    let err = rt.block_on(repair_at(&at0, &without_self)).unwrap_err();
    assert!(
        matches!(err, MembershipError::WouldRemoveSelf { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("m0"), "{err}");
    // Asked to replace itself (a `new` peer under its own name): refused too.
    let replace_self = RepairRequest {
        members: vec![
            peer(&etcd.name(0), &etcd.peer_url(0), true),
            peer(&etcd.name(1), &etcd.peer_url(1), false),
            peer(&etcd.name(2), &etcd.peer_url(2), false),
        ],
    };
    assert!(matches!(
        rt.block_on(repair_at(&at0, &replace_self)),
        Err(MembershipError::WouldRemoveSelf { .. })
    ));
    let (members, _) = rt.block_on(list_at(&at0)).unwrap();
    assert_eq!(members.len(), 3);

    // Two of three members dead: no quorum, the repair is refused and says why.
    etcd.kill(1);
    etcd.kill(2);
    // (Once m0 knows it has no leader: a change proposed before would wait in its log and
    // could still be made when the others return.)
    ha_support::eventually("m0 notices it lost its quorum", || {
        rt.block_on(list_at(&at0)).is_err()
    });
    let keep_one = RepairRequest {
        members: vec![
            peer(&etcd.name(0), &etcd.peer_url(0), false),
            peer("m3", &format!("http://127.0.0.1:{}", free_port()), true),
        ],
    };
    let err = rt.block_on(repair_at(&at0, &keep_one)).unwrap_err();
    assert!(matches!(err, MembershipError::Quorum { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("quorum") && text.contains("bring the failed node back"),
        "{text}"
    );
    // The dead members come back: the membership is as it was.
    etcd.restart(1);
    etcd.restart(2);
    etcd.wait_ready().unwrap();
    let (members, _) = rt.block_on(list_at(&at0)).unwrap();
    let mut names: Vec<String> = members.iter().map(|m| m.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["m0", "m1", "m2"]);
}
