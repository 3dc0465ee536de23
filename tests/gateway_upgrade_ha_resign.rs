//! What a gateway node does with its election before it re-executes for an upgrade, on a real
//! etcd cluster: a leader resigns through the `Resigner` (the engine owns its `Leadership`)
//! and the next candidate is elected at once; a node stopped while campaigning withdraws its
//! campaign, leaving no key in the election. Leases last 600 s here, longer than any wait: a
//! role or campaign left to expire would fail the test.

mod ha_support;

use ha_support::EtcdCluster;
use kubemaas::ha::{Candidate, EtcdConfig};
use std::time::Duration;

const LONG_LEASE: Duration = Duration::from_secs(600);

/// Bounds a wait that must end; the bound only stops a broken run from hanging.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"))
}

/// The keys of the election under `prefix` (one per campaigning or elected candidate).
async fn election_keys(cfg: &EtcdConfig, prefix: &str) -> i64 {
    let client = cfg.connect().await.unwrap();
    client
        .range(&kubemaas::etcd::Range::prefix(format!("{prefix}/leader/")).count_only())
        .await
        .unwrap()
        .count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resigned_leader_and_a_withdrawn_campaign_leave_nothing_behind() {
    let cluster = tokio::task::block_in_place(|| EtcdCluster::start(3));
    let prefix = "/resign";
    let cfg = cluster.config(prefix);
    let a = Candidate::connect(&cfg, "gw1", LONG_LEASE).await.unwrap();
    let b = std::sync::Arc::new(Candidate::connect(&cfg, "gw2", LONG_LEASE).await.unwrap());
    let mut a_role = a.role();
    assert!(!*a_role.borrow());

    let leadership = within("gw1 is elected", a.campaign()).await.unwrap();
    assert!(*a_role.borrow_and_update());
    let b_campaign = {
        let b = b.clone();
        tokio::spawn(async move { b.campaign().await })
    };
    let cfg2 = cfg.clone();
    within("gw2 campaigns", async {
        while election_keys(&cfg2, prefix).await < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // The engine holds the Leadership; the node resigns through a handle, and waits.
    let resigner = leadership.resigner();
    resigner.resign().await;
    assert!(!*a_role.borrow());
    // The lease is gone at once (not in 600 s): gw2 is elected.
    let b_leads = within("gw2 is elected after the resignation", b_campaign)
        .await
        .unwrap()
        .unwrap();
    assert!(b_leads.is_leader());
    assert_eq!(a.leader().await.unwrap().as_deref(), Some("gw2"));
    // Dropping the resigned Leadership afterwards (the engine going) changes nothing.
    drop(leadership);
    resigner.resign().await;
    assert_eq!(election_keys(&cfg, prefix).await, 1);

    // gw1 campaigns again behind gw2, then is stopped (an upgrade draining a follower):
    // its campaign is withdrawn before campaign_until returns.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let stopped = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    };
    let campaign = async { a.campaign_until(stopped).await };
    let cfg3 = cfg.clone();
    let stopper = async move {
        while election_keys(&cfg3, prefix).await < 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop_tx.send(true).unwrap();
    };
    let (outcome, ()) = within("the campaign is withdrawn", async {
        tokio::join!(campaign, stopper)
    })
    .await;
    assert!(outcome.unwrap().is_none());
    assert_eq!(election_keys(&cfg, prefix).await, 1);
    assert!(!*a.role().borrow());

    // gw2 resigns too: nobody is left in the election, no stale key elected.
    b_leads.resigner().resign().await;
    assert_eq!(election_keys(&cfg, prefix).await, 0);
    assert_eq!(a.leader().await.unwrap(), None);
}
