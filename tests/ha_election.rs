//! Leader election on a real etcd cluster: one leader among three candidates, a new one when
//! the leader goes, and a deposed leader told at once.

mod ha_support;

use ha_support::EtcdCluster;
use kubemaas::ha::{Candidate, EtcdConfig};
use std::time::Duration;

/// Bounds a wait that must end; the bound only stops a broken run from hanging.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"))
}

async fn candidates(cfg: &EtcdConfig) -> Vec<std::sync::Arc<Candidate>> {
    let mut out = Vec::new();
    for i in 0..3 {
        out.push(std::sync::Arc::new(
            Candidate::connect(cfg, format!("node-{i}"), Duration::from_secs(5))
                .await
                .unwrap(),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_then_another_when_it_leaves() {
    let cluster = tokio::task::block_in_place(|| EtcdCluster::start(3));
    let cfg = cluster.config("/elect");
    let nodes = candidates(&cfg).await;
    let (won_tx, mut won) = tokio::sync::mpsc::unbounded_channel();
    let mut campaigns = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let (node, won_tx) = (node.clone(), won_tx.clone());
        campaigns.push(tokio::spawn(async move {
            let leadership = node.campaign().await.unwrap();
            let _ = won_tx.send((i, leadership));
        }));
    }
    let (first, leadership) = within("a leader is elected", won.recv()).await.unwrap();
    assert!(leadership.is_leader());
    assert_eq!(
        nodes[first].leader().await.unwrap().as_deref(),
        Some(format!("node-{first}").as_str())
    );
    // The two others are still campaigning: only one leader at a time.
    assert!(won.try_recv().is_err());
    // The leader leaves (its process stops): another candidate is elected.
    drop(leadership);
    let (second, leadership) = within("a new leader is elected", won.recv()).await.unwrap();
    assert_ne!(second, first);
    assert!(leadership.is_leader());
    assert_eq!(
        nodes[second].leader().await.unwrap().as_deref(),
        Some(format!("node-{second}").as_str())
    );
    assert!(won.try_recv().is_err());
    drop(leadership);
    let (third, _leadership) = within("the last one is elected", won.recv()).await.unwrap();
    assert!(third != first && third != second);
    for c in campaigns {
        c.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_observes_the_loss() {
    let cluster = tokio::task::block_in_place(|| EtcdCluster::start(3));
    let cfg = cluster.config("/depose");
    let node = Candidate::connect(&cfg, "node-0", Duration::from_secs(5))
        .await
        .unwrap();
    let mut leadership = within("elected", node.campaign()).await.unwrap();
    assert!(leadership.is_leader());
    // An operator (or etcd, on expiry) takes the lease away.
    let admin = cfg.connect().await.unwrap();
    admin.lease_revoke(leadership.lease_id()).await.unwrap();
    within("the leader notices", leadership.lost()).await;
    assert!(!leadership.is_leader());
    assert_eq!(node.leader().await.unwrap(), None);
    // Another campaign by the same node wins again.
    let again = within("re-elected", node.campaign()).await.unwrap();
    assert!(again.is_leader());
}
