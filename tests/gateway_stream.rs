//! The engine's routes on an in-process gateway (mutual TLS on 127.0.0.1): the live journal
//! stream delivers every event in order, a console resuming with its last id loses nothing
//! and sees nothing twice, errors come back as the same kinds, no secret leaves, and a console
//! without a paired certificate gets nothing.

mod gateway_support;

use gateway_support::InProcGateway;
use kubemaas::engine::{EngineApi, EngineError};
use kubemaas::gateway::pki::{self, GatewayPki};
use kubemaas::gateway::{tls, Followed, GatewayClient, RemoteError};
use kubemaas::maas::{ApiKey, Endpoint};
use kubemaas::model::ClusterSpec;
use kubemaas::store::{EventId, EventLevel, NewAccount, NewEvent};
use std::time::Duration;

fn append(gw: &InProcGateway, message: &str) -> EventId {
    gw.store
        .append_event(&NewEvent::new(EventLevel::Info, "test", message))
        .unwrap()
}

/// The next event, skipping heartbeats; bounded so a broken stream fails the test.
async fn next_event(f: &mut kubemaas::gateway::EventFollower) -> kubemaas::store::EventRow {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = tokio::time::timeout_at(deadline, f.next())
            .await
            .expect("an event within the deadline")
            .expect("the stream works");
        if let Followed::Event(row) = got {
            return row;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resuming_console_gets_every_event_once_in_order() {
    let gw = InProcGateway::start(Duration::from_millis(200)).await;
    let console = gw.console("a").await;
    let before: Vec<EventId> = (0..3)
        .map(|i| append(&gw, &format!("before {i}")))
        .collect();

    // From the start of the journal: the backlog, then live events as they are appended.
    let mut f = console.follow(None, Some(EventId(0)));
    for id in &before {
        assert_eq!(next_event(&mut f).await.id, *id);
    }
    let live = append(&gw, "live");
    let row = next_event(&mut f).await;
    assert_eq!((row.id, row.message.as_str()), (live, "live"));
    let resume_at = f.last_id().unwrap();
    drop(f);

    // Detached (the console went away): events keep coming.
    let missed: Vec<EventId> = (0..5)
        .map(|i| append(&gw, &format!("missed {i}")))
        .collect();
    let mut f = console.follow(None, Some(resume_at));
    for id in &missed {
        assert_eq!(next_event(&mut f).await.id, *id, "in order, none lost");
    }
    let after = append(&gw, "after");
    assert_eq!(
        next_event(&mut f).await.id,
        after,
        "no duplicate in between"
    );

    // An idle stream says it is alive.
    loop {
        let got = tokio::time::timeout(Duration::from_secs(30), f.next())
            .await
            .expect("a heartbeat within the deadline")
            .unwrap();
        if got == Followed::Heartbeat {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_from_now_and_twenty_consoles_see_the_same_events() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    append(&gw, "old");
    let mut followers = Vec::new();
    for i in 0..20 {
        let console = gw.console(&format!("c{i}")).await;
        let mut f = console.follow(None, None);
        f.attach().await.unwrap();
        followers.push(f);
    }
    let ids: Vec<EventId> = (0..10).map(|i| append(&gw, &format!("e{i}"))).collect();
    for f in &mut followers {
        for id in &ids {
            assert_eq!(next_event(f).await.id, *id, "`old` is not replayed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_come_back_as_the_same_kinds() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let console = gw.console("a").await;
    match console.cluster("nope").await {
        Err(EngineError::Gateway(e)) if matches!(*e, RemoteError::NotFound { .. }) => {
            assert!(e.to_string().contains("nope"), "{e}")
        }
        other => panic!("expected not found, got {other:?}"),
    }
    // A spec naming a profile nobody has: refused by the gateway's local checks.
    let mut spec = ClusterSpec::with_defaults("web", "lab", 1, 1);
    spec.spec.profile.name = "no-such-profile".into();
    match console.create_cluster(spec).await {
        Err(EngineError::NoSuchProfile { name }) => assert_eq!(name, "no-such-profile"),
        other => panic!("expected the same error kind, got {other:?}"),
    }
    assert!(console.clusters().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_leaves_and_strangers_get_nothing() {
    let gw = InProcGateway::start(Duration::from_secs(5)).await;
    let key: ApiKey = "cOnSuMeRkEy:tOkEnKeYxyz:sEcReTsEcReTsEcReT"
        .parse()
        .unwrap();
    gw.store
        .tx(|tx| {
            tx.insert_account(&NewAccount {
                name: "lab".into(),
                gateway: None,
                endpoint: Endpoint::parse("http://127.0.0.1:9/MAAS").unwrap(),
                api_key: key.clone(),
                ca_cert: None,
            })
        })
        .unwrap();
    let console = gw.pair("a").await;
    let raw: serde_json::Value = console.get("/v1/accounts").await.unwrap();
    let text = raw.to_string();
    assert!(text.contains("lab"), "{text}");
    assert!(
        !text.contains("tOkEnKeYxyz") && !text.contains("sEcReT"),
        "{text}"
    );
    let one: serde_json::Value = console.get("/v1/accounts/lab").await.unwrap();
    assert!(!one.to_string().contains("sEcReT"));

    // No certificate: 401 on every engine route, naming nothing.
    let ca = pki::cert_from_pem(gw.pki.ca_pem(), std::path::Path::new("ca")).unwrap();
    let anonymous = reqwest::Client::builder()
        .use_preconfigured_tls(tls::pinned_anonymous_config(&ca).unwrap())
        .build()
        .unwrap();
    for path in [
        "/v1/clusters",
        "/v1/clusters/web",
        "/v1/events?after=0",
        "/v1/events/stream",
        "/v1/accounts",
        "/v1/accounts/lab/machines",
    ] {
        let answer = anonymous
            .get(format!("https://{}{path}", gw.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        let body = answer.text().await.unwrap();
        assert!(!body.contains("lab"), "{body}");
    }
    let post = anonymous
        .post(format!("https://{}/v1/clusters", gw.addr))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 401);

    // A certificate from another CA: the handshake fails.
    let other = tempfile::tempdir().unwrap();
    let foreign = GatewayPki::load_or_create(other.path(), &[]).unwrap();
    let k = rcgen::KeyPair::generate().unwrap();
    let cert = foreign.issue_client("mallory", k.public_key_raw()).unwrap();
    let client = GatewayClient::new(&gw.addr, gw.pki.ca_pem(), &cert, &k.serialize_pem()).unwrap();
    let stranger = kubemaas::gateway::RemoteEngine::new("gw", client);
    match stranger.clusters().await {
        Err(EngineError::Gateway(e)) if matches!(*e, RemoteError::Channel(_)) => {}
        other => panic!("a foreign certificate must get nothing: {other:?}"),
    }
}
