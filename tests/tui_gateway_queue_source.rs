//! The console's source against an in-process gateway over mutual TLS on 127.0.0.1: paired
//! through `gateway::console::{begin_pairing, finish_pairing}` (what the wizard and
//! `gateway pair` use), switched to it, then the gateway stops — a cluster created then is
//! kept Queued in the console's store (listed, its detail saying why it waits) and stays
//! queued while the reachability check finds the gateway away.

#[path = "gateway_support/mod.rs"]
mod gateway_support;

use gateway_support::InProcGateway;
use kubemaas::engine::{EmbeddedEngine, EngineConfig};
use kubemaas::model::ClusterSpec;
use kubemaas::store::Store;
use kubemaas::tui::clusters::Phase;
use kubemaas::tui::engine_source::EngineSource;
use kubemaas::tui::source::{ConsoleSource, CreateAnswer, Reachability};
use std::time::Duration;

/// Checks asked before the stopped gateway must read as away (each is a real connection
/// attempt that fails at once; the bound only turns a hang into a failure).
const CHECKS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_created_while_the_gateway_is_away_is_queued_and_listed() {
    let gw = InProcGateway::start(Duration::from_millis(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Store::open(&state).unwrap();

    // Paired through the functions moved into gateway::console: the name the gateway
    // announces, then stored with its material.
    let code = gw.issue_code();
    let (name, material) =
        kubemaas::gateway::console::begin_pairing(&store, &gw.addr, &code, None, "console-1")
            .await
            .expect("pairing with a fresh code");
    assert_eq!(name, "gw");
    let info =
        kubemaas::gateway::console::finish_pairing(&store, &state, &name, &gw.addr, &material)
            .await
            .expect("the first mutually authenticated call");
    assert_eq!(info.name, "gw");
    // The code is spent: pairing again with it is refused, and says so.
    let again =
        kubemaas::gateway::console::begin_pairing(&store, &gw.addr, &code, Some("gw2"), "c")
            .await
            .expect_err("a reused code");
    assert!(
        matches!(
            &again,
            kubemaas::gateway::console::ConsoleError::Client(
                kubemaas::gateway::client::GatewayClientError::Refused { error, .. }
            ) if error == "reused_code" || error == "wrong_code"
        ),
        "{again:?}"
    );

    let engine = EmbeddedEngine::watcher(store.clone(), EngineConfig::new(&state));
    let local = EngineSource::new(engine, state.clone(), None).unwrap();
    let source = local
        .use_gateway("gw".into())
        .await
        .expect("switched to gw");
    assert!(matches!(
        source.check_gateway("gw".into()).await,
        Reachability::Reachable { .. }
    ));
    assert!(source.queued_requests().await.unwrap().is_empty());

    // The gateway stops.
    drop(gw);
    let mut away = None;
    for _ in 0..CHECKS {
        if let Reachability::Unreachable(why) = source.check_gateway("gw".into()).await {
            away = Some(why);
            break;
        }
    }
    let why = away.expect("the stopped gateway reads as unreachable");
    assert!(!why.is_empty());

    let answer = source
        .create_cluster(ClusterSpec::with_defaults("web", "gw", 1, 2))
        .await
        .expect("kept, not refused");
    let CreateAnswer::Queued { name, reason } = answer else {
        panic!("the gateway is away: {answer:?}");
    };
    assert_eq!(name, "web");
    assert!(!reason.is_empty());

    let rows = source.queued_requests().await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!((row.name.as_str(), row.phase), ("web", Phase::Queued));
    assert!(row.is_request());
    let why = row.reason.as_deref().unwrap();
    assert!(why.starts_with("waiting for gateway gw"), "{why}");

    // Its detail is the request's, read from this console's store while the gateway is away.
    let detail = source
        .cluster("web".into())
        .await
        .expect("the queued request");
    assert_eq!(detail.phase, Phase::Queued);

    // A check that finds the gateway still away leaves it queued.
    assert!(matches!(
        source.check_gateway("gw".into()).await,
        Reachability::Unreachable(_)
    ));
    assert_eq!(source.queued_requests().await.unwrap().len(), 1);

    // The embedded engine's source has nothing queued: requests belong to their gateway.
    assert!(local.queued_requests().await.unwrap().is_empty());
}
