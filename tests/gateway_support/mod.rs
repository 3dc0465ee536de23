//! An in-process gateway serving the engine's routes over mutual TLS on 127.0.0.1, and paired
//! consoles for it. Shared by the stream tests and the `gateway_events` benchmark.
#![allow(dead_code)]

use axum::Router;
use kubemaas::engine::{EmbeddedEngine, EngineConfig};
use kubemaas::gateway::client::{self, GatewayClient};
use kubemaas::gateway::clock::SystemClock;
use kubemaas::gateway::journal::{JournalFeed, DEFAULT_POLL};
use kubemaas::gateway::pairing::{Limit, Limits, Pairings};
use kubemaas::gateway::pki::GatewayPki;
use kubemaas::gateway::protocol::{GatewayInfo, MaasInfo};
use kubemaas::gateway::registry::ConsoleRegistry;
use kubemaas::gateway::server::{GatewayServer, ServerOptions};
use kubemaas::gateway::upgrade_server::{refuse_while_upgrading, UpgradeGate};
use kubemaas::gateway::{engine_routes, EngineService, RemoteEngine};
use kubemaas::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

pub struct InProcGateway {
    pub addr: String,
    pub store: Store,
    pub pki: Arc<GatewayPki>,
    pairings: Pairings,
    consoles: ConsoleRegistry,
    info: GatewayInfo,
    heartbeat: Duration,
    stop: watch::Sender<bool>,
    pub dir: tempfile::TempDir,
}

impl InProcGateway {
    /// A gateway over a fresh state dir (no reconciler runs: tests append to its journal).
    pub async fn start(heartbeat: Duration) -> InProcGateway {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let store = Store::open(&state).unwrap();
        let engine = EmbeddedEngine::watcher(store.clone(), EngineConfig::new(&state));
        let pki = Arc::new(GatewayPki::load_or_create(&dir.path().join("pki"), &[]).unwrap());
        // Many consoles pair from one address here (20 in the benchmark): lift the limit that
        // protects codes from guessing, which has its own tests.
        let roomy = Limit {
            capacity: 100,
            refill: Duration::from_millis(1),
        };
        let pairings = Pairings::new(
            Arc::new(SystemClock),
            Limits {
                per_peer: roomy,
                global: roomy,
            },
        );
        let (stop, stop_rx) = watch::channel(false);
        let feed = JournalFeed::start(store.clone(), DEFAULT_POLL, stop_rx.clone()).unwrap();
        let api: Router = engine_routes(EngineService {
            engine,
            feed,
            state_dir: state.clone(),
            heartbeat,
            wake_driver: Arc::new(Notify::new()),
            shutdown: stop_rx.clone(),
        });
        let consoles = ConsoleRegistry::in_memory();
        let info = GatewayInfo {
            name: "gw".into(),
            version: "test".into(),
            protocol: kubemaas::gateway::PROTOCOL_VERSION,
            maas: MaasInfo {
                endpoint: "http://127.0.0.1:5240/MAAS/".into(),
                version: None,
            },
            default_account: "gw".into(),
        };
        let server = GatewayServer::bind(ServerOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            pki: pki.clone(),
            pairings: pairings.clone(),
            consoles: consoles.clone(),
            info: info.clone(),
            api,
            heartbeat,
        })
        .await
        .unwrap();
        let addr = server.local_addr().to_string();
        let mut stopped = stop_rx;
        tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        InProcGateway {
            addr,
            store,
            pki,
            pairings,
            consoles,
            info,
            heartbeat,
            stop,
            dir,
        }
    }

    /// Another node of this gateway (its CA, its paired consoles) that is restarting for an
    /// upgrade: engine writes get `503 upgrading`, as from a draining node; gives its address.
    pub async fn draining_node(&self) -> String {
        let gate = UpgradeGate::new("gw", std::path::PathBuf::from("/nonexistent/kubemaas"));
        assert!(gate.restart_in_place());
        // Without the refusal its one route would answer: a console reaching it gets `{}`.
        let api = Router::new()
            .route(
                "/v1/clusters",
                axum::routing::post(|| async { axum::Json(serde_json::json!({})) }),
            )
            .layer(axum::middleware::from_fn_with_state(
                gate,
                refuse_while_upgrading,
            ));
        let server = GatewayServer::bind(ServerOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            pki: self.pki.clone(),
            pairings: self.pairings.clone(),
            consoles: self.consoles.clone(),
            info: self.info.clone(),
            api,
            heartbeat: self.heartbeat,
        })
        .await
        .unwrap();
        let addr = server.local_addr().to_string();
        let mut stopped = self.stop.subscribe();
        tokio::spawn(server.serve(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        addr
    }

    /// A fresh one-time pairing code, as `kubemaas gateway pairing-code` would print.
    pub fn issue_code(&self) -> kubemaas::gateway::pairing::PairingCode {
        self.pairings.issue()
    }

    /// Pairs a new console and gives its client.
    pub async fn pair(&self, name: &str) -> GatewayClient {
        let code = self.pairings.issue();
        let m = client::pair(&self.addr, &code, name).await.unwrap();
        GatewayClient::new(&self.addr, &m.ca_pem, &m.client_cert_pem, &m.client_key_pem).unwrap()
    }

    /// A paired console's engine.
    pub async fn console(&self, name: &str) -> RemoteEngine {
        RemoteEngine::new("gw", self.pair(name).await)
    }
}

impl Drop for InProcGateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
