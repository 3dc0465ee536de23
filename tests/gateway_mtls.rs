//! The gateway's pairing and mutual TLS, in process (an injectable clock, no sleeps): pairing
//! and calls over the paired channel, bad / reused / expired codes, impersonators, clients
//! with no or a foreign certificate, and brute force against the rate limit.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use kubemaas::gateway::client::{self, GatewayClient, GatewayClientError};
use kubemaas::gateway::clock::ManualClock;
use kubemaas::gateway::pairing::{Limits, PairingCode, Pairings};
use kubemaas::gateway::pki::{self, GatewayPki};
use kubemaas::gateway::protocol::{
    GatewayInfo, Health, MaasInfo, PairHello, PairResponse, HEALTH_WATCH_PATH,
};
use kubemaas::gateway::registry::ConsoleRegistry;
use kubemaas::gateway::server::{GatewayServer, ServerOptions, TlsListener};
use kubemaas::gateway::tls;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

struct Gateway {
    addr: String,
    pairings: Pairings,
    consoles: ConsoleRegistry,
    clock: ManualClock,
    pki: Arc<GatewayPki>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

fn info(name: &str) -> GatewayInfo {
    GatewayInfo {
        name: name.into(),
        version: "test".into(),
        protocol: kubemaas::gateway::PROTOCOL_VERSION,
        maas: MaasInfo {
            endpoint: "http://127.0.0.1:5240/MAAS/".into(),
            version: Some("3.5.4".into()),
        },
        default_account: name.into(),
    }
}

async fn gateway(name: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(GatewayPki::load_or_create(&dir.path().join("pki"), &[]).unwrap());
    let clock = ManualClock::new();
    let pairings = Pairings::new(Arc::new(clock.clone()), Limits::default());
    let consoles = ConsoleRegistry::in_memory();
    let server = GatewayServer::bind(ServerOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        pki: pki.clone(),
        pairings: pairings.clone(),
        consoles: consoles.clone(),
        info: info(name),
        api: Router::new(),
        heartbeat: Duration::from_millis(10),
    })
    .await
    .unwrap();
    let addr = server.local_addr().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    Gateway {
        addr,
        pairings,
        consoles,
        clock,
        pki,
        _stop: stop,
        _dir: dir,
    }
}

fn refused(result: Result<impl std::fmt::Debug, GatewayClientError>) -> (u16, String, String) {
    match result {
        Err(GatewayClientError::Refused {
            status,
            error,
            message,
            ..
        }) => (status, error, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn paired_client(gw: &Gateway, m: &client::PairedMaterial) -> GatewayClient {
    GatewayClient::new(&gw.addr, &m.ca_pem, &m.client_cert_pem, &m.client_key_pem).unwrap()
}

#[tokio::test]
async fn a_paired_console_calls_json_and_streaming_endpoints_over_mtls() {
    let gw = gateway("dc1").await;
    let code = gw.pairings.issue();
    let material = client::pair(&gw.addr, &code, "laptop").await.unwrap();
    assert_eq!(material.gateway, "dc1");
    assert_eq!(material.ca_fingerprint, gw.pki.ca_fingerprint());
    assert_eq!(material.server_fingerprint, gw.pki.server_fingerprint());
    assert!(!format!("{material:?}").contains("PRIVATE KEY"));

    let client = paired_client(&gw, &material);
    let info = client.info().await.unwrap();
    assert_eq!(info, self::info("dc1"));
    assert_eq!(client.health().await.unwrap().status, "ok");

    // The stream carries one line now and one per heartbeat, over the same channel.
    let mut stream = client.stream::<Health>(HEALTH_WATCH_PATH).await.unwrap();
    for _ in 0..3 {
        assert_eq!(stream.next().await.unwrap().unwrap().status, "ok");
    }

    // An unknown route answers a paired console with 404, not 401.
    let (status, error, _) = refused(client.get::<serde_json::Value>("/v1/nothing").await);
    assert_eq!((status, error.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn wrong_reused_and_expired_codes_are_refused_with_distinct_messages() {
    let gw = gateway("dc1").await;
    let code = gw.pairings.issue();

    let wrong = PairingCode::parse("00000-00000-00000-00000").unwrap();
    let (status, error, message) = refused(client::pair(&gw.addr, &wrong, "laptop").await);
    assert_eq!((status, error.as_str()), (403, "wrong_code"));
    assert!(message.contains("wrong"), "{message}");

    client::pair(&gw.addr, &code, "laptop").await.unwrap();
    let (status, error, message) = refused(client::pair(&gw.addr, &code, "laptop").await);
    assert_eq!((status, error.as_str()), (403, "reused_code"));
    assert!(message.contains("already used"), "{message}");

    let late = gw.pairings.issue();
    gw.clock.advance(Duration::from_secs(10 * 60 + 1));
    let (status, error, message) = refused(client::pair(&gw.addr, &late, "laptop").await);
    assert_eq!((status, error.as_str()), (403, "expired_code"));
    assert!(message.contains("expired"), "{message}");
    assert!(!message.contains(&late.reveal()));
}

/// An impersonator: its own certificate, and either relays the console's request to the real
/// gateway (a man in the middle) or answers with a forged proof.
async fn impersonator(real: Option<String>) -> (String, oneshot::Sender<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fake = GatewayPki::load_or_create(dir.path(), &[]).unwrap();
    let config = tls::server_config(
        fake.ca_der(),
        vec![fake.server_der().clone(), fake.ca_der().clone()],
        fake.server_key(),
    )
    .unwrap();
    let fake_ca = fake.ca_pem().to_string();
    let post = move |State(real): State<Option<String>>, body: Bytes| {
        let fake_ca = fake_ca.clone();
        async move {
            match real {
                Some(real) => {
                    let (config, _) = tls::recording_client_config().unwrap();
                    let http = reqwest::Client::builder()
                        .use_preconfigured_tls(config)
                        .build()
                        .unwrap();
                    let answer = http
                        .post(format!("https://{real}/v1/pair"))
                        .header("content-type", "application/json")
                        .body(body.to_vec())
                        .send()
                        .await
                        .unwrap();
                    let status = answer.status();
                    (status, answer.bytes().await.unwrap()).into_response()
                }
                None => Json(PairResponse {
                    gateway: "dc1".into(),
                    client_cert: fake_ca.clone(),
                    ca_cert: fake_ca,
                    proof: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                })
                .into_response(),
            }
        }
    };
    let app = Router::new()
        .route(
            "/v1/pair",
            get(|| async {
                Json(PairHello {
                    gateway: "dc1".into(),
                    protocol: kubemaas::gateway::PROTOCOL_VERSION,
                })
            })
            .post(post),
        )
        .with_state(real);
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = TlsListener::start(tcp, Arc::new(config)).unwrap();
    let addr = axum::serve::Listener::local_addr(&listener)
        .unwrap()
        .remote
        .to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = axum::serve(listener, app.into_make_service()).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    tokio::spawn(async move { serving.await });
    (addr, stop, dir)
}

#[tokio::test]
async fn a_relaying_impersonator_fails_at_the_real_gateway_and_spends_no_code() {
    let gw = gateway("dc1").await;
    let code = gw.pairings.issue();
    let (fake, _stop, _dir) = impersonator(Some(gw.addr.clone())).await;
    // The console's proof names the impersonator's certificate: the real gateway refuses it.
    let (status, error, _) = refused(client::pair(&fake, &code, "laptop").await);
    assert_eq!((status, error.as_str()), (403, "wrong_code"));
    // The code is still good for the real gateway.
    client::pair(&gw.addr, &code, "laptop").await.unwrap();
}

#[tokio::test]
async fn an_impersonator_with_another_certificate_is_not_believed() {
    let gw = gateway("dc1").await;
    let code = gw.pairings.issue();
    let (fake, _stop, _dir) = impersonator(None).await;
    match client::pair(&fake, &code, "laptop").await {
        Err(e @ GatewayClientError::NotTheGateway { .. }) => {
            assert!(e.to_string().contains("impersonating"), "{e}")
        }
        other => panic!("expected the impersonator to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_without_or_with_a_foreign_certificate_gets_nothing() {
    let gw = gateway("dc1").await;
    // No certificate: a bare 401 that names nothing of the gateway.
    let anonymous = reqwest::Client::builder()
        .use_preconfigured_tls(tls::pinned_anonymous_config(gw.pki.ca_der()).unwrap())
        .build()
        .unwrap();
    for path in ["/v1/info", "/v1/health", "/v1/health/watch", "/v1/anything"] {
        let answer = anonymous
            .get(format!("https://{}{path}", gw.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{path}");
        let body = answer.text().await.unwrap();
        assert!(!body.contains("dc1") && !body.contains("MAAS"), "{body}");
    }

    // A certificate from another CA, for a key the console holds: the handshake fails.
    let other = tempfile::tempdir().unwrap();
    let foreign = GatewayPki::load_or_create(other.path(), &[]).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = foreign
        .issue_client("mallory", key.public_key_raw())
        .unwrap();
    let client =
        GatewayClient::new(&gw.addr, gw.pki.ca_pem(), &cert, &key.serialize_pem()).unwrap();
    match client.info().await {
        Err(GatewayClientError::Channel { .. } | GatewayClientError::Connect { .. }) => {}
        other => panic!("a foreign certificate must not get through: {other:?}"),
    }
    assert_ne!(pki::fingerprint(foreign.ca_der()), gw.pki.ca_fingerprint());
}

#[tokio::test]
async fn brute_force_meets_the_rate_limit_and_time_lifts_it() {
    let gw = gateway("dc1").await;
    let code = gw.pairings.issue();
    let mut limited = None;
    for n in 0..20u32 {
        let guess = PairingCode::parse(&format!("{:0>20}", n)).unwrap();
        match client::pair(&gw.addr, &guess, "mallory").await {
            Err(GatewayClientError::Refused { status: 403, .. }) => {}
            Err(GatewayClientError::Refused {
                status: 429,
                error,
                message,
                ..
            }) => {
                assert_eq!(error, "rate_limited");
                assert!(message.contains("wait"), "{message}");
                limited = Some(n);
                break;
            }
            other => panic!("unexpected answer to a guess: {other:?}"),
        }
    }
    let limited = limited.expect("20 guesses must meet the limit");
    assert!(limited <= 5, "limited only after {limited} guesses");
    // While limited, even the right code is refused: guessing cannot race the limit.
    let (status, _, _) = refused(client::pair(&gw.addr, &code, "laptop").await);
    assert_eq!(status, 429);
    gw.clock.advance(Duration::from_secs(60));
    client::pair(&gw.addr, &code, "laptop").await.unwrap();
}

#[tokio::test]
async fn a_revoked_console_is_shut_out_at_its_next_request() {
    let gw = gateway("dc1").await;
    let laptop = client::pair(&gw.addr, &gw.pairings.issue(), "laptop")
        .await
        .unwrap();
    let desk = client::pair(&gw.addr, &gw.pairings.issue(), "desk")
        .await
        .unwrap();
    let laptop = paired_client(&gw, &laptop);
    let desk = paired_client(&gw, &desk);
    laptop.info().await.unwrap();
    assert_eq!(gw.consoles.list().len(), 2);

    assert_eq!(gw.consoles.revoke("laptop").unwrap(), 1);
    let (status, error, _) = refused(laptop.info().await);
    assert_eq!((status, error.as_str()), (401, "unauthorized"));
    desk.info().await.unwrap();

    // A certificate the gateway CA signed but that pairing never handed out is not admitted.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = gw
        .pki
        .issue_client("unlisted", key.public_key_raw())
        .unwrap();
    let unlisted =
        GatewayClient::new(&gw.addr, gw.pki.ca_pem(), &cert, &key.serialize_pem()).unwrap();
    let (status, _, _) = refused(unlisted.info().await);
    assert_eq!(status, 401);
}
