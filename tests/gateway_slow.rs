//! Slow and idle connections against a real gateway on 127.0.0.1: clients that finish the TLS
//! handshake without a certificate (as anyone can, for `/v1/pair`) and then trickle headers,
//! trickle a body or idle are closed within the configured bounds, at most `unauthenticated`
//! of them are kept at once, and a paired console is served meanwhile.

use axum::Router;
use kubemaas::gateway::client::{self, GatewayClient};
use kubemaas::gateway::clock::ManualClock;
use kubemaas::gateway::pairing::{Limits, Pairings};
use kubemaas::gateway::pki::GatewayPki;
use kubemaas::gateway::protocol::{GatewayInfo, MaasInfo};
use kubemaas::gateway::registry::ConsoleRegistry;
use kubemaas::gateway::server::{ConnectionLimits, GatewayServer, ServerOptions};
use kubemaas::gateway::tls;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const LIMITS: ConnectionLimits = ConnectionLimits {
    header_read: Duration::from_millis(600),
    body_read: Duration::from_millis(600),
    unauthenticated: 8,
};
/// How long past a bound a closed connection may take to be noticed (a loaded 2-core box).
const SLACK: Duration = Duration::from_secs(5);

struct Gateway {
    addr: String,
    pairings: Pairings,
    pki: Arc<GatewayPki>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let pki = Arc::new(GatewayPki::load_or_create(&dir.path().join("pki"), &[]).unwrap());
    let pairings = Pairings::new(Arc::new(ManualClock::new()), Limits::default());
    let server = GatewayServer::bind(ServerOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        pki: pki.clone(),
        pairings: pairings.clone(),
        consoles: ConsoleRegistry::in_memory(),
        info: GatewayInfo {
            name: "dc1".into(),
            version: "test".into(),
            protocol: kubemaas::gateway::PROTOCOL_VERSION,
            maas: MaasInfo {
                endpoint: "http://127.0.0.1:5240/MAAS/".into(),
                version: None,
            },
            default_account: "dc1".into(),
        },
        api: Router::new(),
        heartbeat: Duration::from_millis(50),
    })
    .await
    .unwrap()
    .with_limits(LIMITS);
    let addr = server.local_addr().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    Gateway {
        addr,
        pairings,
        pki,
        _stop: stop,
        _dir: dir,
    }
}

/// A TLS connection that shows no client certificate.
async fn anonymous(gw: &Gateway) -> TlsStream<TcpStream> {
    let config = tls::pinned_anonymous_config(gw.pki.ca_der()).unwrap();
    let tcp = TcpStream::connect(&gw.addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// Waits (bounded) until the gateway closes `conn`; returns how long that took.
async fn closed_within(conn: &mut TlsStream<TcpStream>, bound: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(bound.saturating_sub(start.elapsed()), conn.read(&mut buf)).await
        {
            Err(_) => panic!("the connection was still open after {bound:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            // An answer (408/400) before the close is fine: keep reading until it closes.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_off_capped_and_a_paired_console_is_served_meanwhile() {
    let gw = gateway().await;
    let material = client::pair(&gw.addr, &gw.pairings.issue(), "laptop")
        .await
        .unwrap();
    let console = GatewayClient::new(
        &gw.addr,
        &material.ca_pem,
        &material.client_cert_pem,
        &material.client_key_pem,
    )
    .unwrap();

    // 40 connections start a pairing request and never finish its headers.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut c = anonymous(&gw).await;
        c.write_all(b"POST /v1/pair HTTP/1.1\r\nHost: gw\r\nX-Slow: a")
            .await
            .unwrap();
        c.flush().await.unwrap();
        slow.push(c);
    }
    // The console is served while they hang.
    for _ in 0..5 {
        assert_eq!(console.health().await.unwrap().status, "ok");
    }
    // Every one of them is closed: those past the cap at once, the rest at the header bound.
    let mut late = 0;
    for c in &mut slow {
        let took = closed_within(c, LIMITS.header_read + SLACK).await;
        if took > LIMITS.header_read / 2 {
            late += 1;
        }
    }
    assert!(
        late <= LIMITS.unauthenticated,
        "{late} connections without a certificate were kept open at once (cap {})",
        LIMITS.unauthenticated
    );
    assert_eq!(console.health().await.unwrap().status, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_and_a_trickled_body_are_cut_off() {
    let gw = gateway().await;
    // A complete request, then nothing: closed after the header/idle bound.
    let mut idle = anonymous(&gw).await;
    idle.write_all(b"GET /v1/pair HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let took = closed_within(&mut idle, LIMITS.header_read + SLACK).await;
    assert!(took >= LIMITS.header_read / 2, "closed too early: {took:?}");

    // A body announced as 100 bytes of which 10 come: cut off at the body bound.
    let mut body = anonymous(&gw).await;
    body.write_all(
        b"POST /v1/pair HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":\"A",
    )
    .await
    .unwrap();
    body.flush().await.unwrap();
    let mut answer = Vec::new();
    let start = Instant::now();
    let read = tokio::time::timeout(LIMITS.body_read + SLACK, body.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "still open after {:?}", start.elapsed());
    let text = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || text.starts_with("HTTP/1.1 4"),
        "a trickled body got: {text}"
    );
}
