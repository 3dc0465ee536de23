//! Gateways: the engine as a long-running service inside the datacenter, next to MAAS, that
//! consoles pair with and then reach over mutual TLS.
//!
//! * [`config`]: `gateway.yaml` — what a gateway needs (name, MAAS, proxies, cluster network
//!   defaults, placement, listen address), checked with one problem per key.
//! * [`pki`]: the gateway's own CA, its server certificate and the client certificates it
//!   issues to paired consoles.
//! * [`pairing`]: one-time pairing codes and the proofs that bind a code to the gateway's
//!   certificate, with rate limiting.
//! * [`server`]: the HTTPS server (pairing open, everything else behind a client certificate);
//!   the engine's cluster API is merged into its [`server::authenticated_routes`] later.
//! * [`client`]: the console side — pairing, and a [`client::GatewayClient`] that calls any JSON
//!   or streaming endpoint over the paired channel.
//! * [`registry`]: the consoles a gateway paired, checked on every request, revocable.
//! * [`routes`]: the engine's API as the gateway serves it (every `EngineApi` call, the live
//!   journal stream, cloud accounts); [`journal`] feeds the stream, [`driver`] reconciles.
//! * [`remote`]: the console side of those routes — [`RemoteEngine`] implements `EngineApi`.
//! * [`wire_error`]: engine errors on the wire and back.
//! * [`deploy`]: `kubemaas gateway deploy` — the gateway onto MAAS machines, paired back.
//! * [`upgrade_version`]: versions and protocols of both sides, the checks between them and the
//!   changelog; [`upgrade_server`] receives an upgrade and restarts the gateway into it;
//!   [`upgrade`] is the console's side; [`queue`] keeps cluster requests made while a gateway
//!   is away, and [`idempotency`] makes the gateway create each of them once.
//! * [`replicated`]: a node of a 3-node gateway — its store replicated through etcd, the CA
//!   and paired consoles shared by all nodes.
//! * [`resize`]: `kubemaas gateway resize` — a 1-node gateway onto etcd, then two nodes join;
//!   [`resize_server`] is the gateway's side, [`config_etcd`] writes `etcd:` into gateway.yaml.
//! * [`admin`]: the gateway's local admin socket (`kubemaas gateway pairing-code`, `consoles`,
//!   `revoke`).

pub mod admin;
pub mod client;
pub mod clock;
pub mod config;
pub mod config_etcd;
pub mod console;
pub mod deploy;
pub mod driver;
pub mod idempotency;
pub mod journal;
pub mod membership_route;
pub mod nodes;
pub mod pairing;
pub mod pki;
pub mod protocol;
pub mod queue;
pub mod registry;
pub mod remote;
pub mod replicated;
pub mod resize;
pub mod resize_server;
pub mod routes;
pub mod server;
pub mod tls;
pub mod upgrade;
pub mod upgrade_server;
pub mod upgrade_version;
pub mod wire_error;

pub use client::{GatewayClient, GatewayClientError, NdjsonStream};
pub use config::{ConfigError, GatewayConfig};
pub use pairing::{PairingCode, PairingError, Pairings};
pub use pki::{fingerprint, GatewayPki, PkiError};
pub use remote::{EventFollower, FollowPolicy, Followed, RemoteEngine};
pub use routes::{engine_routes, EngineService};
pub use server::{GatewayServer, ServeError};
pub use wire_error::RemoteError;

/// The wire protocol this build speaks; a console refuses a gateway with another major one.
pub const PROTOCOL_VERSION: u32 = 1;

/// Where a gateway keeps its own state (CA, server certificate, admin socket) inside the
/// state dir of the `kubemaas gateway run` process.
pub fn gateway_state_dir(state_dir: &std::path::Path) -> std::path::PathBuf {
    state_dir.join("gateway")
}
