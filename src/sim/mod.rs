//! A faithful MAAS 2.0 simulator: HTTP on loopback, a virtual clock, seeded fault injection.
//! A product feature (`kubemaas sim`, `kubemaas --demo`) as much as a test fixture.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kubemaas::sim::SimError> {
//! use kubemaas::sim::{self, SimConfig};
//! let sim = sim::start(SimConfig::generated(20, 7).speed(0.0)).await?;
//! println!("MAAS at {} with key {:?}", sim.url(), sim.api_key());
//! sim.advance(600.0); // ten virtual minutes: deployments started before now finish
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # The MAAS side
//! Everything under `/MAAS/api/2.0/` as MAAS serves it (see `api` for the resource table):
//! OAuth 1.0 PLAINTEXT and HMAC-SHA1, `op` in the query, the form body or a `/op-NAME` suffix,
//! urlencoded and (base64-part) multipart bodies, MAAS's status codes and error texts.
//! Two users exist: `admin` (superuser; [`SimHandle::api_key`]) and `user`
//! ([`SimHandle::user_api_key`]), with keys derived from the seed.
//!
//! # The control API (`/_sim/`, no OAuth, loopback callers only)
//! | request | effect |
//! |---|---|
//! | `GET /_sim/clock` | `{"now": RFC 3339, "speed": x}` |
//! | `POST /_sim/clock/advance?seconds=N` | moves virtual time N seconds and applies due transitions |
//! | `POST /_sim/clock/speed?speed=X` | virtual seconds per real second (0 freezes) |
//! | `GET /_sim/counters` / `DELETE /_sim/counters` | request counts by method, endpoint template, op / reset |
//! | `GET /_sim/faults` / `DELETE /_sim/faults` | fault settings and pending injections / clear injections |
//! | `POST /_sim/faults/inject?endpoint=machines/&method=POST&op=allocate&status=503&count=2&retry_after=1` | the next `count` matching requests answer `status` (503, 409 with Retry-After, 504) |
//! | `POST /_sim/faults/rates?fail_deploy_rate=P&http_error_rate=P` | change the random fault rates |
//! | `GET /_sim/machines/{system_id}` | the machine's JSON, whoever owns it |
//! | `POST /_sim/machines/{system_id}/vanish\|power_off\|broken\|missing[?reason=…]` | machine faults |
//! | `POST /_sim/machines/{system_id}/status?status=failed_releasing[&reason=…]` | any status at once (Failed releasing, Failed disk erasing, …) |
//! | `POST /_sim/machines/{system_id}/power?state=on\|off\|error\|unknown` | what the BMC reports |
//! | `GET /_sim/k8s/clusters/{cluster_id}` | the simulated Kubernetes cluster: `{"api_server_ready": bool, "nodes": [{"name", "role", "ready", "system_id"}], "drains", "etcd_members", "etcd_faults"}` (see [`k8s`]); 404 for a cluster no machine was deployed into |
//! | `POST /_sim/k8s/clusters/{cluster_id}/etcd/member/list` and `…/etcd/members/{member id}/remove` | the cluster's etcd, answering as etcd's v3 JSON gateway (see [`k8s::etcd`]) |
//! | `POST /_sim/k8s/clusters/{cluster_id}/etcd/fail?count=N` | the next N member removals answer 503 |

mod allocate;
pub mod api;
pub mod auth;
pub mod clock;
mod control;
pub mod counters;
pub mod describe;
pub mod devices;
pub mod faults;
pub mod files;
pub mod inventory;
pub mod k8s;
mod machine_ops;
pub mod model;
pub mod network;
pub mod params;
pub mod render;
pub mod reply;
mod server;
pub mod state;

pub use clock::VirtualClock;
pub use counters::{CounterRow, Counters};
pub use faults::{Injection, TransientKind};
pub use state::{Actor, Region};

use crate::maas::{ApiKey, NodeStatus};
use auth::{AuthPolicy, SimUser};
use chrono::{DateTime, Utc};
use model::{SimInventory, SimMachine};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use server::Shared;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Where the simulated machines come from.
#[derive(Debug, Clone)]
pub enum Fleet {
    /// `inventory::generate(machines, seed)`.
    Generated { machines: usize },
    /// A given inventory (hand-built, or loaded from a real MAAS dump).
    Inventory(Box<SimInventory>),
}

/// How to run a simulator. Start from [`SimConfig::generated`] or [`SimConfig::with_inventory`]
/// and chain the setters.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Default 127.0.0.1:0 (any free port).
    pub listen: SocketAddr,
    pub fleet: Fleet,
    /// Seeds the fleet, the API keys and the fault stream.
    pub seed: u64,
    /// Virtual seconds per real second; 0 freezes the clock (tests advance it explicitly).
    pub speed: f64,
    /// Fraction of deployments ending in Failed deployment.
    pub fail_deploy_rate: f64,
    /// Fraction of API requests (never describe/ or version/) answered 503 + Retry-After.
    pub http_error_rate: f64,
    /// Real delay added to every API request.
    pub latency_ms: u64,
    /// Refuse OAuth timestamps older than 300 s (against the real wall clock).
    pub check_timestamps: bool,
    /// Refuse a nonce a token already used.
    pub check_nonces: bool,
    /// `Retry-After` of random 503s (MAAS uses 10).
    pub retry_after_secs: u64,
    /// Virtual time at start; default: the real time now.
    pub start_time: Option<DateTime<Utc>>,
}

impl SimConfig {
    /// A generated fleet of `machines` machines.
    pub fn generated(machines: usize, seed: u64) -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            fleet: Fleet::Generated { machines },
            seed,
            speed: 60.0,
            fail_deploy_rate: 0.0,
            http_error_rate: 0.0,
            latency_ms: 0,
            check_timestamps: true,
            check_nonces: true,
            retry_after_secs: 10,
            start_time: None,
        }
    }

    /// A given inventory.
    pub fn with_inventory(inventory: SimInventory) -> Self {
        SimConfig {
            fleet: Fleet::Inventory(Box::new(inventory)),
            ..SimConfig::generated(0, 1)
        }
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }
    pub fn fail_deploy_rate(mut self, rate: f64) -> Self {
        self.fail_deploy_rate = rate;
        self
    }
    pub fn http_error_rate(mut self, rate: f64) -> Self {
        self.http_error_rate = rate;
        self
    }
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = ms;
        self
    }
    pub fn check_timestamps(mut self, on: bool) -> Self {
        self.check_timestamps = on;
        self
    }
    pub fn check_nonces(mut self, on: bool) -> Self {
        self.check_nonces = on;
        self
    }
    pub fn start_time(mut self, t: DateTime<Utc>) -> Self {
        self.start_time = Some(t);
        self
    }

    /// Checks the numbers make sense before anything is bound.
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, value) in [
            ("fail_deploy_rate", self.fail_deploy_rate),
            ("http_error_rate", self.http_error_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SimError::InvalidRate { name, value });
            }
        }
        if !self.speed.is_finite() || self.speed < 0.0 {
            return Err(SimError::InvalidSpeed(self.speed));
        }
        Ok(())
    }
}

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "cannot listen on {addr}: {source} (choose another address, or port 0 for any free port)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{name} must be a fraction between 0 and 1 (e.g. 0.1 for 10%), not {value}")]
    InvalidRate { name: &'static str, value: f64 },
    #[error("speed must be a finite number ≥ 0 (0 freezes the virtual clock, 60 runs a minute per second), not {0}")]
    InvalidSpeed(f64),
}

/// The two simulated users and their keys, the same for the same seed.
fn make_users(seed: u64) -> (Vec<SimUser>, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6b65_7973_0000_0000);
    let admin = ApiKey::generate(&mut rng);
    let user = ApiKey::generate(&mut rng);
    let users = vec![
        SimUser {
            username: "admin".into(),
            email: "admin@example.com".into(),
            is_superuser: true,
            keys: vec![("MAAS consumer".into(), admin)],
        },
        SimUser {
            username: "user".into(),
            email: "user@example.com".into(),
            is_superuser: false,
            keys: vec![("MAAS consumer".into(), user)],
        },
    ];
    (users, rng)
}

/// Starts a simulator on `config.listen` and returns once it accepts connections.
pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
    config.validate()?;
    let inventory = match config.fleet.clone() {
        Fleet::Generated { machines } => inventory::generate(machines, config.seed),
        Fleet::Inventory(inv) => *inv,
    };
    let (users, key_rng) = make_users(config.seed);
    let admin_key = users[0].keys[0].1.clone();
    let user_key = users[1].keys[0].1.clone();
    let start_time = config.start_time.unwrap_or_else(Utc::now);
    let faults = faults::Faults::new(
        config.seed,
        config.fail_deploy_rate,
        config.http_error_rate,
        config.retry_after_secs,
    );
    let region = Region::new(inventory, users, faults, key_rng, start_time);
    let shared = Arc::new(Shared {
        region: Mutex::new(region),
        clock: VirtualClock::new(start_time, config.speed),
        counters: Counters::default(),
        policy: AuthPolicy {
            check_timestamp: config.check_timestamps,
            check_nonce: config.check_nonces,
        },
        latency: Mutex::new(Duration::from_millis(config.latency_ms)),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    let app = axum::Router::new()
        .fallback(server::handle)
        .with_state(shared.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulated MAAS server stopped with an error");
        }
    });
    tracing::info!(%addr, "simulated MAAS listening");
    Ok(SimHandle {
        shared,
        addr,
        admin_key,
        user_key,
        stop: Some(tx),
        task: Some(task),
    })
}

/// A running simulator. Dropping it stops the server (without waiting); prefer
/// [`SimHandle::shutdown`] to wait for in-flight requests.
pub struct SimHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    admin_key: ApiKey,
    user_key: ApiKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT/MAAS/`, what an operator would paste.
    pub fn url(&self) -> String {
        format!("http://{}/MAAS/", self.addr)
    }

    /// The simulator as kubemaas's MAAS client addresses a region.
    pub fn endpoint(&self) -> crate::maas::Endpoint {
        crate::maas::Endpoint::parse(&self.url())
            .unwrap_or_else(|e| unreachable!("the simulator's own URL always parses: {e}"))
    }

    /// `http://127.0.0.1:PORT/MAAS/api/2.0/`.
    pub fn api_url(&self) -> String {
        format!("http://{}/MAAS/api/2.0/", self.addr)
    }

    /// `http://127.0.0.1:PORT/_sim/`, the control API.
    pub fn control_url(&self) -> String {
        format!("http://{}/_sim/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin's (superuser's) API key.
    pub fn api_key(&self) -> ApiKey {
        self.admin_key.clone()
    }

    /// A non-admin user's API key (for permission tests).
    pub fn user_api_key(&self) -> ApiKey {
        self.user_key.clone()
    }

    pub fn clock(&self) -> VirtualClock {
        self.shared.clock.clone()
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters.clone()
    }

    /// Moves virtual time forward and applies every transition that became due.
    pub fn advance(&self, seconds: f64) {
        let now = self.shared.clock.advance(seconds);
        self.shared.region().advance_to(now);
    }

    /// Runs `f` on the region (brought up to the current virtual time) under its lock.
    pub fn with_region<R>(&self, f: impl FnOnce(&mut Region) -> R) -> R {
        f(&mut self.shared.region())
    }

    /// A copy of one machine, whoever owns it.
    pub fn machine(&self, system_id: &str) -> Option<SimMachine> {
        self.with_region(|r| r.machine(system_id).cloned())
    }

    /// Copies of all machines.
    pub fn machines(&self) -> Vec<SimMachine> {
        self.with_region(|r| r.machines.clone())
    }

    /// Makes the next matching requests fail (see [`Injection`]).
    pub fn inject(&self, injection: Injection) {
        self.with_region(|r| r.faults.inject(injection));
    }

    /// Shorthand: the next `count` requests to `endpoint` (any method, any op) fail with `kind`.
    pub fn fail_next(&self, endpoint: &str, kind: TransientKind, count: u32) {
        self.inject(Injection {
            endpoint: endpoint.to_string(),
            method: None,
            op: None,
            kind,
            remaining: count,
            retry_after: None,
        });
    }

    /// The machine disappears from the API.
    pub fn vanish(&self, system_id: &str) -> bool {
        self.with_region(|r| r.vanish(system_id))
    }

    /// The machine loses power (status unchanged).
    pub fn power_loss(&self, system_id: &str) -> bool {
        self.with_region(|r| r.power_loss(system_id))
    }

    /// The machine goes Broken (`NodeStatus::Broken`) or Missing at once.
    pub fn force_status(&self, system_id: &str, status: NodeStatus, reason: &str) -> bool {
        self.with_region(|r| r.force_status(system_id, status, reason))
    }

    /// What the machine's BMC reports from now on (`Error` and `Unknown` included).
    pub fn set_power_state(&self, system_id: &str, state: crate::maas::PowerState) -> bool {
        self.with_region(|r| r.set_power_state(system_id, state))
    }

    pub fn set_latency(&self, latency: Duration) {
        *self
            .shared
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = latency;
    }

    /// Stops accepting connections, lets in-flight requests finish, and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
