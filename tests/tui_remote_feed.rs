//! The console's reading of a gateway's live journal ([`RemoteFeed`]) against an in-process
//! gateway over mutual TLS on 127.0.0.1: what was appended arrives in order, each read resumes
//! after the console's last id (nothing twice, nothing lost), a read of a quiet gateway answers
//! empty after its bound instead of hanging, and a console that starts over gets everything.

#[path = "gateway_support/mod.rs"]
mod gateway_support;

use gateway_support::InProcGateway;
use kubemaas::store::{EventLevel, NewEvent};
use kubemaas::tui::console_engine::RemoteFeed;
use std::time::Duration;

/// Far longer than a read needs; a read returns as soon as lines are there.
const BOUND: Duration = Duration::from_secs(30);

fn append(gw: &InProcGateway, message: &str) -> i64 {
    gw.store
        .append_event(&NewEvent::new(EventLevel::Info, "test", message))
        .unwrap()
        .0
}

/// Reads until `n` events arrived (a read may end at a heartbeat with fewer).
async fn read_n(
    feed: &RemoteFeed,
    gw: &kubemaas::gateway::RemoteEngine,
    after: i64,
    n: usize,
) -> Vec<(i64, String)> {
    let mut got = Vec::new();
    let mut last = after;
    while got.len() < n {
        let rows = feed
            .read(gw, last, 100, BOUND)
            .await
            .expect("the feed reads");
        for r in rows {
            last = r.id.0;
            got.push((r.id.0, r.message));
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_delivers_in_order_and_resumes_after_the_last_id() {
    let gw = InProcGateway::start(Duration::from_millis(200)).await;
    let engine = gw.console("feed").await;
    let feed = RemoteFeed::default();
    let first = append(&gw, "one");
    append(&gw, "two");

    let got = read_n(&feed, &engine, 0, 2).await;
    assert_eq!(
        got.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert_eq!(got[0].0, first);
    let last = got[1].0;

    // Live: appended after the stream is open, delivered on the next read, once.
    let third = append(&gw, "three");
    let got = read_n(&feed, &engine, last, 1).await;
    assert_eq!(got, vec![(third, "three".to_string())]);

    // Quiet: a read with a zero bound answers at once, with nothing new.
    let rows = feed
        .read(&engine, third, 100, Duration::ZERO)
        .await
        .unwrap();
    assert!(rows.is_empty(), "{rows:?}");

    // A console that starts over (a switch back to this gateway) gets everything again.
    let got = read_n(&feed, &engine, 0, 3).await;
    assert_eq!(
        got.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
        ["one", "two", "three"]
    );
    // And a limit is honoured: the rest comes on the next read.
    let four = append(&gw, "four");
    let five = append(&gw, "five");
    let mut ids = Vec::new();
    let mut after = third;
    while ids.len() < 2 {
        let rows = feed.read(&engine, after, 1, BOUND).await.unwrap();
        assert!(rows.len() <= 1, "{rows:?}");
        for r in rows {
            after = r.id.0;
            ids.push(r.id.0);
        }
    }
    assert_eq!(ids, vec![four, five]);
}
